//! Creating and editing schedules and escalation policies. Their forms repeat (a layer, a level), so they are read
//! as the list of fields the browser sent, built into the JSON body the API takes, and parsed by the same code;
//! a refusal naming `layers[1].rotation` is shown beside the second layer's rotation.

use super::forms::{self, Fields, Problems, given};
use super::oncall::{policy_url, schedule_url};
use super::pages::{by_name, people};
use super::{Chrome, PageError, Viewer, render};
use crate::http::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveTime, Timelike, Weekday};
use serde_json::{Value, json};
use std::collections::HashMap;
use tocsin_domain::auth::Need;
use tocsin_domain::escalation::EscalationTarget;
use tocsin_domain::oncall::Restriction;
use tocsin_domain::refs::{PolicyRef, ScheduleRef};

type PageResult = Result<Response, PageError>;

/// What is wrong with `field`, as text for the template (empty when nothing is).
fn problem_of(problems: &Problems, field: &str) -> String {
    problems.of(field).unwrap_or_default().to_owned()
}

// ---- schedules --------------------------------------------------------------------------------------------------

const DAYS: [(Weekday, &str); 7] = [
    (Weekday::Mon, "Mon"),
    (Weekday::Tue, "Tue"),
    (Weekday::Wed, "Wed"),
    (Weekday::Thu, "Thu"),
    (Weekday::Fri, "Fri"),
    (Weekday::Sat, "Sat"),
    (Weekday::Sun, "Sun"),
];

/// A restriction as people write it: `Mon-Fri 09:00-17:00`, `Sat Sun 10:00-18:00`, or `22:00-06:00` for every day.
fn restriction_text(r: &Restriction) -> String {
    let days = r
        .days
        .iter()
        .map(|d| DAYS.iter().find(|(w, _)| w == d).map_or("?", |(_, n)| *n))
        .collect::<Vec<_>>()
        .join(" ");
    let times = format!("{}-{}", r.start.format("%H:%M"), r.end.format("%H:%M"));
    if days.is_empty() {
        times
    } else {
        format!("{days} {times}")
    }
}

/// A day by its name or the start of it: `Mon`, `tues`, `Thursday`.
fn weekday(name: &str) -> Option<usize> {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let name = name.to_ascii_lowercase();
    (name.len() >= 3)
        .then(|| FULL.iter().position(|f| f.starts_with(&name)))
        .flatten()
}

/// Reads restrictions written one per line; the error names the line.
fn parse_restrictions(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |why: &str| format!("line {}: {why}, e.g. \"Mon-Fri 09:00-17:00\"", n + 1);
        let mut words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let times = words.pop().ok_or_else(|| bad("no times"))?;
        let (start, end) = times
            .split_once('-')
            .ok_or_else(|| bad("the times are a start and an end joined by -"))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t, "%H:%M")
                .map(|t| t.format("%H:%M:%S").to_string())
                .map_err(|_| bad(&format!("{t:?} is not a time like 09:00")))
        };
        let (start, end) = (time(start)?, time(end)?);
        let mut days = Vec::new();
        for word in words {
            let indices: Vec<usize> = match word.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (
                        weekday(a).ok_or_else(|| bad(&format!("{a:?} is not a day")))?,
                        weekday(b).ok_or_else(|| bad(&format!("{b:?} is not a day")))?,
                    );
                    // Mon-Fri, or Fri-Mon across the weekend.
                    (0..7)
                        .map(|k| (a + k) % 7)
                        .take((b + 7 - a) % 7 + 1)
                        .collect()
                }
                None => vec![weekday(word).ok_or_else(|| bad(&format!("{word:?} is not a day")))?],
            };
            for i in indices {
                if !days.contains(&DAYS[i].1) {
                    days.push(DAYS[i].1);
                }
            }
        }
        out.push(json!({ "days": days, "start": start, "end": end }));
    }
    Ok(out)
}

/// One layer of the schedule form, as typed, with what is wrong with each of its fields.
#[derive(Default, Clone)]
pub struct LayerForm {
    pub index: usize,
    pub name: String,
    pub participants: String,
    pub every: String,
    pub count: String,
    pub start: String,
    pub restrictions: String,
    pub name_problem: String,
    pub participants_problem: String,
    pub rotation_problem: String,
    pub start_problem: String,
    pub restrictions_problem: String,
}

impl LayerForm {
    fn is_blank(&self) -> bool {
        self.name.trim().is_empty() && self.participants.trim().is_empty()
    }
}

#[derive(Default, Clone)]
pub struct ScheduleForm {
    pub name: String,
    pub description: String,
    pub time_zone: String,
    pub team: String,
    pub reminder_minutes: String,
    pub layers: Vec<LayerForm>,
}

#[derive(Template)]
#[template(path = "schedule_edit.html")]
struct ScheduleEditPage {
    chrome: Chrome,
    /// Where the form posts, and the schedule's page when it exists.
    action: String,
    existing: Option<String>,
    form: ScheduleForm,
    teams: Vec<String>,
    general: Vec<String>,
    name_problem: String,
    time_zone_problem: String,
    reminder_problem: String,
    team_problem: String,
}

async fn team_names(s: &AppState, viewer: &Viewer) -> Result<Vec<String>, PageError> {
    Ok(super::pages::usable_teams(s, viewer)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

/// Someone who may change only their teams' schedules and policies, refused one of no team or another team's, is
/// told so beside the team, with everything they typed kept; someone with no team to choose is simply refused.
fn team_problem(who: &tocsin_app::Principal, e: tocsin_app::Error) -> tocsin_app::Error {
    let has_teams = who.grant.allows(&Need::Respond) && !who.grant.teams.is_empty();
    match e {
        tocsin_app::Error::Forbidden { role, .. } if has_teams => {
            tocsin_store::StoreError::Invalid(
                tocsin_domain::FieldError::new(
                    "team",
                    format!(
                        "you hold the {role} role: choose one of your teams (one without a team, or another team's, \
                         is an admin's to make)"
                    ),
                )
                .into(),
            )
            .into()
        }
        e => e,
    }
}

async fn schedule_editor(
    s: &AppState,
    viewer: &Viewer,
    existing: Option<&str>,
    status: StatusCode,
    mut form: ScheduleForm,
    problems: &Problems,
    order: &[usize],
) -> PageResult {
    // A blank layer to add one.
    let next = form.layers.len();
    form.layers.push(LayerForm {
        index: next,
        every: "weeks".into(),
        count: "1".into(),
        ..Default::default()
    });
    // Problems are named by the layer's place among the layers sent, which skips blank ones.
    for (sent, &typed) in order.iter().enumerate() {
        let layer = &mut form.layers[typed];
        let at = |f: &str| format!("layers[{sent}].{f}");
        layer.name_problem = problem_of(problems, &at("name"));
        layer.participants_problem = problem_of(problems, &at("participants"));
        layer.rotation_problem = problem_of(problems, &at("rotation"));
        layer.start_problem = problem_of(problems, &at("start"));
        layer.restrictions_problem = problem_of(problems, &at("restrictions"));
    }
    let mut shown: Vec<&str> = vec![
        "name",
        "description",
        "time_zone",
        "team",
        "reminder_minutes",
    ];
    let layer_fields: Vec<String> = (0..order.len()).map(|i| format!("layers[{i}]")).collect();
    shown.extend(layer_fields.iter().map(String::as_str));
    Ok(render(
        status,
        &ScheduleEditPage {
            chrome: viewer.chrome("schedules"),
            action: existing.map_or_else(|| "/schedules".to_owned(), schedule_url),
            existing: existing.map(schedule_url),
            general: problems.general(&shown),
            name_problem: problem_of(problems, "name"),
            time_zone_problem: problem_of(problems, "time_zone"),
            reminder_problem: problem_of(problems, "reminder_minutes"),
            team_problem: problem_of(problems, "team"),
            teams: team_names(s, viewer).await?,
            form,
        },
    ))
}

/// The team a new schedule or policy starts with: none for admins, else the viewer's first.
async fn default_team(s: &AppState, viewer: &Viewer) -> Result<String, PageError> {
    if viewer.who.grant.allows(&Need::Configure) {
        return Ok(String::new());
    }
    Ok(team_names(s, viewer)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default())
}

pub async fn new_schedule(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let form = ScheduleForm {
        time_zone: viewer.tz.name().to_owned(),
        reminder_minutes: "30".into(),
        team: default_team(&s, &viewer).await?,
        ..Default::default()
    };
    schedule_editor(
        &s,
        &viewer,
        None,
        StatusCode::OK,
        form,
        &Problems::default(),
        &[],
    )
    .await
}

pub async fn edit_schedule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let record = s
        .app
        .oncall()
        .get_schedule(&viewer.who, &ScheduleRef::parse(&name))
        .await?;
    let emails: HashMap<String, String> = s
        .app
        .users()
        .list(&viewer.who)
        .await?
        .into_iter()
        .map(|u| (u.id.to_string(), u.email.to_string()))
        .collect();
    let team = match &record.team_id {
        Some(id) => s
            .app
            .teams()
            .get(&viewer.who, &id.clone().into())
            .await
            .map(|t| t.name.to_string())
            .unwrap_or_default(),
        None => String::new(),
    };
    let layers = record
        .layers
        .iter()
        .enumerate()
        .map(|(index, l)| {
            let rotation = serde_json::to_value(l.rotation).unwrap_or_default();
            LayerForm {
                index,
                name: l.name.clone(),
                participants: l
                    .participants
                    .iter()
                    .map(|p| {
                        emails
                            .get(p.as_str())
                            .cloned()
                            .unwrap_or_else(|| p.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                every: rotation["every"].as_str().unwrap_or("weeks").to_owned(),
                count: rotation["count"].to_string(),
                // A datetime-local field shows seconds only when there are some to keep.
                start: if l.start.second() == 0 {
                    l.start.format("%Y-%m-%dT%H:%M").to_string()
                } else {
                    l.start.format("%Y-%m-%dT%H:%M:%S").to_string()
                },
                restrictions: l
                    .restrictions
                    .iter()
                    .map(restriction_text)
                    .collect::<Vec<_>>()
                    .join("\n"),
                ..Default::default()
            }
        })
        .collect::<Vec<_>>();
    let order: Vec<usize> = (0..layers.len()).collect();
    let form = ScheduleForm {
        name: record.name.clone(),
        description: record.description.clone(),
        time_zone: record.time_zone.clone(),
        team,
        reminder_minutes: record.reminder_minutes.to_string(),
        layers,
    };
    schedule_editor(
        &s,
        &viewer,
        Some(&record.name),
        StatusCode::OK,
        form,
        &Problems::default(),
        &order,
    )
    .await
}

/// The form as typed, the JSON body it makes, and which typed layer each sent one is.
fn read_schedule(f: &Fields) -> (ScheduleForm, Result<Value, Problems>, Vec<usize>) {
    let layers: Vec<LayerForm> = f
        .groups("layer")
        .into_iter()
        .enumerate()
        .map(|(index, i)| {
            let field = |n: &str| f.one(&format!("layer{i}_{n}"));
            LayerForm {
                index,
                name: field("name"),
                participants: field("participants"),
                every: field("every"),
                count: field("count"),
                start: field("start"),
                restrictions: field("restrictions"),
                ..Default::default()
            }
        })
        .collect();
    let form = ScheduleForm {
        name: f.one("name"),
        description: f.one("description"),
        time_zone: f.one("time_zone"),
        team: f.one("team"),
        reminder_minutes: f.one("reminder_minutes"),
        layers,
    };
    let order: Vec<usize> = form
        .layers
        .iter()
        .filter(|l| !l.is_blank())
        .map(|l| l.index)
        .collect();
    let mut sent = Vec::new();
    for (at, &i) in order.iter().enumerate() {
        let l = &form.layers[i];
        let restrictions = match parse_restrictions(&l.restrictions) {
            Ok(r) => r,
            Err(why) => {
                return (
                    form.clone(),
                    Err(forms::problem(&format!("layers[{at}].restrictions"), &why)),
                    order,
                );
            }
        };
        let count: Value = l
            .count
            .trim()
            .parse::<u32>()
            .map_or_else(|_| json!(l.count.trim()), |n| json!(n));
        // A datetime-local field has no seconds.
        let start = if l.start.trim().len() == 16 {
            format!("{}:00", l.start.trim())
        } else {
            l.start.trim().to_owned()
        };
        sent.push(json!({
            "name": l.name.trim(),
            "participants": forms::list(&l.participants),
            "rotation": { "every": l.every, "count": count },
            "start": start,
            "restrictions": restrictions,
        }));
    }
    let mut body = json!({
        "name": form.name.trim(),
        "description": form.description.trim(),
        "time_zone": form.time_zone.trim(),
        "layers": sent,
    });
    if let Some(team) = given(&form.team) {
        body["team"] = json!(team);
    }
    if let Some(r) = given(&form.reminder_minutes) {
        body["reminder_minutes"] = r.parse::<u32>().map_or_else(|_| json!(r), |n| json!(n));
    }
    (form, Ok(body), order)
}

async fn save_schedule(
    s: &AppState,
    viewer: &Viewer,
    existing: Option<&str>,
    pairs: Vec<(String, String)>,
) -> PageResult {
    let (form, body, order) = read_schedule(&Fields::new(pairs));
    let spec = match body {
        Ok(body) => match crate::http::oncall::schedule_spec(s, &viewer.who, body).await {
            Ok(spec) => Ok(spec),
            Err(e) => Err(forms::problems(e)?),
        },
        Err(p) => Err(p),
    };
    let oncall = s.app.oncall();
    let saved = forms::submit(spec, |spec| async {
        match existing {
            Some(name) => {
                oncall
                    .replace_schedule(&viewer.who, &ScheduleRef::parse(name), spec)
                    .await
            }
            None => oncall.create_schedule(&viewer.who, spec).await,
        }
        .map_err(|e| team_problem(&viewer.who, e))
    })
    .await?;
    match saved {
        Ok(record) => Ok(Redirect::to(&schedule_url(&record.value.name)).into_response()),
        Err(problems) => {
            schedule_editor(
                s,
                viewer,
                existing,
                StatusCode::BAD_REQUEST,
                form,
                &problems,
                &order,
            )
            .await
        }
    }
}

pub async fn create_schedule(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    save_schedule(&s, &viewer, None, pairs).await
}

pub async fn update_schedule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    save_schedule(&s, &viewer, Some(&name), pairs).await
}

pub async fn delete_schedule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    s.app
        .oncall()
        .delete_schedule(&viewer.who, &ScheduleRef::parse(&name))
        .await?;
    Ok(Redirect::to("/schedules").into_response())
}

// ---- escalation policies ----------------------------------------------------------------------------------------

/// A choice of whom a level pages: its form value (`schedule:<id>`) and what people read.
pub struct TargetChoice {
    pub value: String,
    pub label: String,
}

#[derive(Default, Clone)]
pub struct LevelForm {
    pub index: usize,
    pub delay: String,
    pub targets: Vec<String>,
    pub delay_problem: String,
    pub targets_problem: String,
}

impl LevelForm {
    pub fn has(&self, value: &str) -> bool {
        self.targets.iter().any(|t| t == value)
    }
}

#[derive(Default, Clone)]
pub struct PolicyForm {
    pub name: String,
    pub description: String,
    pub repeat: String,
    pub team: String,
    pub levels: Vec<LevelForm>,
}

#[derive(Template)]
#[template(path = "policy_edit.html")]
struct PolicyEditPage {
    chrome: Chrome,
    action: String,
    existing: Option<String>,
    form: PolicyForm,
    teams: Vec<String>,
    choices: Vec<TargetChoice>,
    general: Vec<String>,
    name_problem: String,
    repeat_problem: String,
    team_problem: String,
}

/// Everyone and everything a level can page, as form values.
async fn target_choices(s: &AppState, viewer: &Viewer) -> Result<Vec<TargetChoice>, PageError> {
    let who = &viewer.who;
    let people = by_name(people(s, viewer).await?);
    let schedules = by_name(
        s.app
            .oncall()
            .list_schedules(who)
            .await?
            .into_iter()
            .map(|r| (r.id, r.name)),
    );
    let teams = by_name(
        s.app
            .teams()
            .list(who)
            .await?
            .into_iter()
            .map(|t| (t.id, t.name.to_string())),
    );
    let mut out: Vec<TargetChoice> = schedules
        .into_iter()
        .map(|(id, n)| TargetChoice {
            value: format!("schedule:{id}"),
            label: format!("On call in {n}"),
        })
        .collect();
    out.extend(people.into_iter().map(|(id, n)| TargetChoice {
        value: format!("user:{id}"),
        label: n,
    }));
    for (id, n) in teams {
        out.push(TargetChoice {
            value: format!("team_on_call:{id}"),
            label: format!("On call for team {n}"),
        });
        out.push(TargetChoice {
            value: format!("team:{id}"),
            label: format!("Everyone in team {n}"),
        });
    }
    Ok(out)
}

fn target_value(t: &EscalationTarget) -> String {
    match t {
        EscalationTarget::User(id) => format!("user:{id}"),
        EscalationTarget::Schedule(id) => format!("schedule:{id}"),
        EscalationTarget::Team(id) => format!("team:{id}"),
        EscalationTarget::TeamOnCall(id) => format!("team_on_call:{id}"),
    }
}

async fn policy_editor(
    s: &AppState,
    viewer: &Viewer,
    existing: Option<&str>,
    status: StatusCode,
    mut form: PolicyForm,
    problems: &Problems,
    order: &[usize],
) -> PageResult {
    let next = form.levels.len();
    form.levels.push(LevelForm {
        index: next,
        delay: "15".into(),
        ..Default::default()
    });
    for (sent, &typed) in order.iter().enumerate() {
        let level = &mut form.levels[typed];
        level.delay_problem = problem_of(problems, &format!("levels[{sent}].delay_minutes"));
        level.targets_problem = problem_of(problems, &format!("levels[{sent}].targets"));
    }
    let mut shown: Vec<&str> = vec!["name", "description", "repeat", "team"];
    let level_fields: Vec<String> = (0..order.len()).map(|i| format!("levels[{i}]")).collect();
    shown.extend(level_fields.iter().map(String::as_str));
    Ok(render(
        status,
        &PolicyEditPage {
            chrome: viewer.chrome("policies"),
            action: existing.map_or_else(|| "/policies".to_owned(), policy_url),
            existing: existing.map(policy_url),
            general: problems.general(&shown),
            name_problem: problem_of(problems, "name"),
            repeat_problem: problem_of(problems, "repeat"),
            team_problem: problem_of(problems, "team"),
            teams: team_names(s, viewer).await?,
            choices: target_choices(s, viewer).await?,
            form,
        },
    ))
}

pub async fn new_policy(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let form = PolicyForm {
        repeat: "0".into(),
        team: default_team(&s, &viewer).await?,
        ..Default::default()
    };
    policy_editor(
        &s,
        &viewer,
        None,
        StatusCode::OK,
        form,
        &Problems::default(),
        &[],
    )
    .await
}

pub async fn edit_policy(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let policy = s
        .app
        .escalation()
        .get_policy(&viewer.who, &PolicyRef::parse(&name))
        .await?;
    let team = match &policy.team_id {
        Some(id) => s
            .app
            .teams()
            .get(&viewer.who, &id.clone().into())
            .await
            .map(|t| t.name.to_string())
            .unwrap_or_default(),
        None => String::new(),
    };
    let levels: Vec<LevelForm> = policy
        .levels
        .iter()
        .enumerate()
        .map(|(index, l)| LevelForm {
            index,
            delay: l.delay_minutes.to_string(),
            targets: l.targets.iter().map(target_value).collect(),
            ..Default::default()
        })
        .collect();
    let order: Vec<usize> = (0..levels.len()).collect();
    let form = PolicyForm {
        name: policy.name.clone(),
        description: policy.description.clone(),
        repeat: policy.repeat.to_string(),
        team,
        levels,
    };
    policy_editor(
        &s,
        &viewer,
        Some(&policy.name),
        StatusCode::OK,
        form,
        &Problems::default(),
        &order,
    )
    .await
}

fn read_policy(f: &Fields) -> (PolicyForm, Result<Value, Problems>, Vec<usize>) {
    let levels: Vec<LevelForm> = f
        .groups("level")
        .into_iter()
        .enumerate()
        .map(|(index, i)| LevelForm {
            index,
            delay: f.one(&format!("level{i}_delay")),
            targets: f.all(&format!("level{i}_targets")),
            ..Default::default()
        })
        .collect();
    let form = PolicyForm {
        name: f.one("name"),
        description: f.one("description"),
        repeat: f.one("repeat"),
        team: f.one("team"),
        levels,
    };
    // A level with nobody chosen is the blank one offered to add a level.
    let order: Vec<usize> = form
        .levels
        .iter()
        .filter(|l| !l.targets.is_empty())
        .map(|l| l.index)
        .collect();
    let number = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_or_else(|_| json!(v.trim()), |n| json!(n))
    };
    let levels: Vec<Value> = order
        .iter()
        .map(|&i| {
            let l = &form.levels[i];
            let targets: Vec<Value> = l
                .targets
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((kind, id)) => json!({ "type": kind, "id": id }),
                    None => json!(t),
                })
                .collect();
            json!({ "delay_minutes": number(&l.delay), "targets": targets })
        })
        .collect();
    let mut body = json!({
        "name": form.name.trim(),
        "description": form.description.trim(),
        "repeat": number(if form.repeat.trim().is_empty() { "0" } else { &form.repeat }),
        "levels": levels,
    });
    if let Some(team) = given(&form.team) {
        body["team"] = json!(team);
    }
    (form, Ok(body), order)
}

async fn save_policy(
    s: &AppState,
    viewer: &Viewer,
    existing: Option<&str>,
    pairs: Vec<(String, String)>,
) -> PageResult {
    let (form, body, order) = read_policy(&Fields::new(pairs));
    let spec =
        body.and_then(|b| forms::parse(b).map_err(|e| forms::problems(e).unwrap_or_default()));
    let escalation = s.app.escalation();
    let saved = forms::submit(spec, |spec| async {
        match existing {
            Some(name) => {
                escalation
                    .replace_policy(&viewer.who, &PolicyRef::parse(name), spec)
                    .await
            }
            None => escalation.create_policy(&viewer.who, spec).await,
        }
        .map_err(|e| team_problem(&viewer.who, e))
    })
    .await?;
    match saved {
        Ok(policy) => Ok(Redirect::to(&policy_url(&policy.name)).into_response()),
        Err(problems) => {
            policy_editor(
                s,
                viewer,
                existing,
                StatusCode::BAD_REQUEST,
                form,
                &problems,
                &order,
            )
            .await
        }
    }
}

pub async fn create_policy(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    save_policy(&s, &viewer, None, pairs).await
}

pub async fn update_policy(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    save_policy(&s, &viewer, Some(&name), pairs).await
}

pub async fn delete_policy(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    s.app
        .escalation()
        .delete_policy(&viewer.who, &PolicyRef::parse(&name))
        .await?;
    Ok(Redirect::to("/policies").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_read_as_people_write_them() {
        assert_eq!(
            parse_restrictions("Mon-Fri 09:00-17:00\n\nSat, Sunday 10:00-18:00\n22:00-06:00")
                .unwrap(),
            vec![
                json!({"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00:00", "end": "17:00:00"}),
                json!({"days": ["Sat", "Sun"], "start": "10:00:00", "end": "18:00:00"}),
                json!({"days": [], "start": "22:00:00", "end": "06:00:00"}),
            ]
        );
        assert_eq!(
            parse_restrictions("Fri-Mon 18:00-08:00").unwrap()[0]["days"],
            json!(["Fri", "Sat", "Sun", "Mon"])
        );
        let e = parse_restrictions("Mon-Fri 09:00-17:00\nFunday 10:00-12:00").unwrap_err();
        assert!(e.starts_with("line 2: \"Funday\" is not a day"), "{e}");
        assert!(parse_restrictions("Mon 9-17").is_err());
        let written = Restriction {
            days: vec![Weekday::Mon, Weekday::Tue],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        };
        assert_eq!(restriction_text(&written), "Mon Tue 09:00-17:00");
        assert_eq!(
            parse_restrictions(&restriction_text(&written)).unwrap()[0]["days"],
            json!(["Mon", "Tue"]),
            "what the editor shows reads back the same"
        );
    }

    #[test]
    fn numbered_groups_are_counted_from_the_fields_sent() {
        let f = Fields::new(vec![
            ("layer0_name".into(), "a".into()),
            ("layer2_name".into(), "c".into()),
            ("level0_delay".into(), "5".into()),
        ]);
        assert_eq!(f.groups("layer"), vec![0, 2]);
        assert_eq!(f.groups("level"), vec![0]);
        assert!(f.groups("nothing").is_empty());
        let hostile = Fields::new(vec![
            ("layer9999999999_name".into(), "x".into()),
            (format!("layer{}_name", usize::MAX), "x".into()),
            ("layer3_name".into(), "x".into()),
        ]);
        assert_eq!(
            hostile.groups("layer"),
            vec![3],
            "numbers past the limit are not groups"
        );
    }
}
