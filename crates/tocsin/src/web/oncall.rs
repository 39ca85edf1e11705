//! Schedules and escalation policies: who is on call now and next, a timeline of the layers, overrides and the
//! final schedule (an agenda on phones), overrides taken in two taps, and who each policy level reaches now.

use super::forms::{self, Problems};
use super::pages::{by_name, people};
use super::{Chrome, PageError, Viewer, When, render};
use crate::http::AppState;
use crate::http::extract::path_id;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::HashMap;
use tocsin_domain::escalation::EscalationTarget;
use tocsin_domain::ids::{FeedId, OverrideId, UserId};
use tocsin_domain::oncall::{Schedule, Shift, final_schedule, gaps};
use tocsin_domain::refs::{PolicyRef, ScheduleRef, UserRef};
use tocsin_store::{FeedSubject, NewOverride, ScheduleRecord};

type PageResult = Result<Response, PageError>;

/// How far ahead schedule pages look.
const AHEAD_DAYS: i64 = 14;

pub fn schedule_url(name: &str) -> String {
    super::named_path("schedules", name)
}

pub fn policy_url(name: &str) -> String {
    super::named_path("policies", name)
}

/// A time in the schedule's zone, with the viewer's own beside it when that differs.
pub struct Both {
    pub iso: String,
    pub there: String,
    pub mine: Option<String>,
}

fn both(t: DateTime<Utc>, zone: Tz, viewer: &Viewer) -> Both {
    let there = t
        .with_timezone(&zone)
        .format("%a %d %b %H:%M %Z")
        .to_string();
    let mine = (viewer.tz != zone).then(|| {
        t.with_timezone(&viewer.tz)
            .format("%a %d %b %H:%M %Z")
            .to_string()
    });
    Both {
        iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        there,
        mine,
    }
}

// ---- schedules --------------------------------------------------------------------------------------------------

pub struct ScheduleRow {
    pub name: String,
    pub url: String,
    pub zone: String,
    pub now: Option<String>,
    pub until: Option<When>,
    pub gap_soon: bool,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    chrome: Chrome,
    rows: Vec<ScheduleRow>,
    /// Responders may try: their team's schedules are theirs to make.
    may_create: bool,
}

pub async fn schedules(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let now = s.app.now();
    let people = people(&s, &viewer).await?;
    let mut records = s.app.oncall().list_schedules(&viewer.who).await?;
    records.sort_by(|a, b| a.name.cmp(&b.name));
    let horizon = now + Duration::days(AHEAD_DAYS);
    let rows = records
        .iter()
        .map(|r| {
            let schedule = r.schedule();
            let shifts = final_schedule(&schedule, now, horizon);
            let current = shifts.iter().find(|sh| sh.start <= now && now < sh.end);
            ScheduleRow {
                name: r.name.clone(),
                url: schedule_url(&r.name),
                zone: r.time_zone.clone(),
                now: current.map(|sh| name_of(&people, &sh.user)),
                until: current
                    .filter(|sh| sh.end < horizon)
                    .map(|sh| When::new(sh.end, viewer.tz, now)),
                gap_soon: !gaps(&schedule, now, horizon).is_empty(),
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &SchedulesPage {
            chrome: viewer.chrome("schedules"),
            rows,
            may_create: viewer.who.grant.allows(&tocsin_domain::auth::Need::Respond),
        },
    ))
}

fn name_of(people: &HashMap<UserId, String>, id: &UserId) -> String {
    people.get(id).cloned().unwrap_or_else(|| id.to_string())
}

/// One bar of the timeline, in thousandths of its width.
pub struct Bar {
    pub x: u32,
    pub width: u32,
    /// The label cut to fit a narrow bar.
    pub short: String,
    pub title: String,
    /// Which of the palette's colours: the same person has the same colour in every row.
    pub colour: usize,
    pub gap: bool,
}

pub struct Lane {
    pub y: u32,
    pub label: String,
    pub bars: Vec<Bar>,
}

pub struct Tick {
    pub x: u32,
    pub label: String,
}

pub struct AgendaRow {
    pub person: Option<String>,
    pub start: Both,
    pub end: Both,
    pub now: bool,
    pub mine: bool,
    /// The shift as UTC instants, to take it over.
    pub start_utc: String,
    pub end_utc: String,
}

pub struct OverrideView {
    pub id: String,
    pub person: String,
    pub start: Both,
    pub end: Both,
}

/// What the override form held.
#[derive(Deserialize, Default, Clone)]
pub struct OverrideForm {
    #[serde(default)]
    pub user: String,
    /// A `datetime-local` value in the viewer's zone.
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    /// Exact instants, from a "take this shift" button.
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    name: String,
    url: String,
    description: String,
    zone: String,
    my_zone: Option<String>,
    now_on_call: Option<String>,
    next: Option<AgendaRow>,
    lanes: Vec<Lane>,
    ticks: Vec<Tick>,
    agenda: Vec<AgendaRow>,
    overrides: Vec<OverrideView>,
    people: Vec<(String, String)>,
    me: String,
    /// Whether the viewer may take overrides at all (observers may not).
    may_override: bool,
    /// Whether the viewer may change the schedule's layers: admins, and its team's members.
    may_edit: bool,
    form: OverrideForm,
    problems: Problems,
    warnings: Vec<String>,
    /// A new calendar feed's URL, shown once.
    feed_url: Option<String>,
    /// The schedule's calendar feeds still answering, to revoke.
    feeds: Vec<FeedView>,
}

fn x_of(t: DateTime<Utc>, from: DateTime<Utc>, span: Duration) -> u32 {
    let offset = (t - from).num_seconds().clamp(0, span.num_seconds());
    (offset * 1000 / span.num_seconds().max(1)) as u32
}

fn bars(
    shifts: &[Shift],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    people: &HashMap<UserId, String>,
    colours: &HashMap<UserId, usize>,
    zone: Tz,
) -> Vec<Bar> {
    let span = to - from;
    shifts
        .iter()
        .map(|sh| {
            let x = x_of(sh.start, from, span);
            let name = name_of(people, &sh.user);
            Bar {
                x,
                width: x_of(sh.end, from, span).saturating_sub(x).max(1),
                title: format!(
                    "{name}: {} to {}",
                    sh.start.with_timezone(&zone).format("%a %d %b %H:%M"),
                    sh.end.with_timezone(&zone).format("%a %d %b %H:%M %Z")
                ),
                short: name.chars().take(10).collect(),
                colour: colours.get(&sh.user).copied().unwrap_or(0),
                gap: false,
            }
        })
        .collect()
}

/// What the schedule page shows besides the schedule: a refused override as typed, what an action reported, a new
/// feed's URL.
#[derive(Default)]
struct Shown {
    form: Option<OverrideForm>,
    problems: Problems,
    warnings: Vec<String>,
    feed_url: Option<String>,
}

async fn schedule_page(
    s: &AppState,
    viewer: &Viewer,
    name: &str,
    status: StatusCode,
    shown: Shown,
) -> PageResult {
    let Shown {
        form,
        problems,
        warnings,
        feed_url,
    } = shown;
    let now = s.app.now();
    let record: ScheduleRecord = s
        .app
        .oncall()
        .get_schedule(&viewer.who, &ScheduleRef::parse(name))
        .await?;
    let people = people(s, viewer).await?;
    let schedule = record.schedule();
    let zone = schedule.time_zone;
    let from = now;
    let to = now + Duration::days(AHEAD_DAYS);
    let span = to - from;
    let shifts = final_schedule(&schedule, from, to);
    let mut colours: HashMap<UserId, usize> = HashMap::new();
    for user in record
        .layers
        .iter()
        .flat_map(|l| l.participants.iter())
        .chain(record.overrides.iter().map(|o| &o.user_id))
    {
        let next = colours.len() % 8;
        colours.entry(user.clone()).or_insert(next);
    }
    let mut lanes: Vec<Lane> = record
        .layers
        .iter()
        .map(|layer| {
            let alone = Schedule {
                time_zone: zone,
                layers: vec![layer.clone()],
                overrides: Vec::new(),
            };
            Lane {
                y: 0,
                label: layer.name.clone(),
                bars: bars(
                    &final_schedule(&alone, from, to),
                    from,
                    to,
                    &people,
                    &colours,
                    zone,
                ),
            }
        })
        .collect();
    let override_shifts: Vec<Shift> = record
        .overrides
        .iter()
        .filter(|o| o.end > from && o.start < to)
        .map(|o| Shift {
            user: o.user_id.clone(),
            start: o.start.max(from),
            end: o.end.min(to),
        })
        .collect();
    lanes.push(Lane {
        y: 0,
        label: "Overrides".into(),
        bars: bars(&override_shifts, from, to, &people, &colours, zone),
    });
    let mut final_bars = bars(&shifts, from, to, &people, &colours, zone);
    for (start, end) in gaps(&schedule, from, to) {
        let x = x_of(start, from, span);
        final_bars.push(Bar {
            x,
            width: x_of(end, from, span).saturating_sub(x).max(1),
            short: "nobody".into(),
            title: format!(
                "Nobody on call: {} to {}",
                start.with_timezone(&zone).format("%a %d %b %H:%M"),
                end.with_timezone(&zone).format("%a %d %b %H:%M %Z")
            ),
            colour: 0,
            gap: true,
        });
    }
    lanes.push(Lane {
        y: 0,
        label: "Final".into(),
        bars: final_bars,
    });
    for (i, lane) in lanes.iter_mut().enumerate() {
        lane.y = i as u32 * 36 + 4;
    }
    // A tick at each local midnight, labelled with the day.
    let mut ticks = Vec::new();
    let mut day = from.with_timezone(&zone).date_naive();
    while let Some(next) = day.succ_opt() {
        day = next;
        let Some(midnight) = day.and_hms_opt(0, 0, 0) else {
            break;
        };
        let at = tocsin_domain::oncall::resolve_local(zone, midnight);
        if at >= to {
            break;
        }
        ticks.push(Tick {
            x: x_of(at, from, span),
            label: day.format("%a %d").to_string(),
        });
    }
    // The agenda: the final schedule and its gaps in time order.
    let mut agenda: Vec<AgendaRow> = shifts
        .iter()
        .map(|sh| (sh.start, sh.end, Some(&sh.user)))
        .chain(
            gaps(&schedule, from, to)
                .into_iter()
                .map(|(a, b)| (a, b, None)),
        )
        .map(|(start, end, user)| AgendaRow {
            person: user.map(|u| name_of(&people, u)),
            start: both(start, zone, viewer),
            end: both(end, zone, viewer),
            now: start <= now && now < end,
            mine: user == Some(&viewer.user.id),
            start_utc: start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            end_utc: end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect();
    agenda.sort_by(|a, b| a.start.iso.cmp(&b.start.iso));
    let now_on_call = shifts
        .iter()
        .find(|sh| sh.start <= now && now < sh.end)
        .map(|sh| name_of(&people, &sh.user));
    let next = shifts.iter().find(|sh| sh.start > now).map(|sh| AgendaRow {
        person: Some(name_of(&people, &sh.user)),
        start: both(sh.start, zone, viewer),
        end: both(sh.end, zone, viewer),
        now: false,
        mine: sh.user == viewer.user.id,
        start_utc: sh.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        end_utc: sh.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    let mut overrides: Vec<OverrideView> = record
        .overrides
        .iter()
        .filter(|o| o.end > now)
        .map(|o| OverrideView {
            id: o.id.to_string(),
            person: name_of(&people, &o.user_id),
            start: both(o.start, zone, viewer),
            end: both(o.end, zone, viewer),
        })
        .collect();
    overrides.sort_by(|a, b| a.start.iso.cmp(&b.start.iso));
    let everyone = by_name(people.iter().map(|(id, n)| (id, n.clone())));
    let local = |t: DateTime<Utc>| forms::local_input(t, viewer.tz);
    let form = form.unwrap_or_else(|| OverrideForm {
        user: viewer.user.id.to_string(),
        starts_at: local(now),
        ends_at: local(now + Duration::hours(8)),
        ..Default::default()
    });
    Ok(render(
        status,
        &SchedulePage {
            chrome: viewer.chrome("schedules"),
            url: schedule_url(&record.name),
            name: record.name.clone(),
            description: record.description.clone(),
            zone: zone.name().to_owned(),
            my_zone: (viewer.tz != zone).then(|| viewer.tz.name().to_owned()),
            now_on_call,
            next,
            lanes,
            ticks,
            agenda,
            overrides,
            people: everyone,
            me: viewer.user.id.to_string(),
            may_override: viewer.who.grant.allows(&tocsin_domain::auth::Need::Respond),
            may_edit: viewer
                .who
                .grant
                .allows(&tocsin_domain::auth::Need::Team(record.team_id.as_ref())),
            form,
            problems,
            warnings,
            feed_url,
            feeds: live_feeds(s, viewer, FeedSubject::Schedule(record.id.clone())).await?,
        },
    ))
}

pub async fn schedule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    schedule_page(&s, &viewer, &name, StatusCode::OK, Shown::default()).await
}

impl OverrideForm {
    /// The form as the add-override form shows it: a shift taken from the agenda in the viewer's own time.
    fn into_typed(mut self, tz: Tz) -> Self {
        let local = |exact: &str| {
            DateTime::parse_from_rfc3339(exact.trim())
                .ok()
                .map(|t| forms::local_input(t.with_timezone(&Utc), tz))
        };
        if let Some(t) = local(&self.start) {
            self.starts_at = t;
        }
        if let Some(t) = local(&self.end) {
            self.ends_at = t;
        }
        self
    }

    fn new_override(&self, viewer: &Viewer) -> Result<NewOverride, Problems> {
        let instant = |exact: &str, typed: &str, field: &str| match DateTime::parse_from_rfc3339(
            exact.trim(),
        ) {
            Ok(t) => Ok(t.with_timezone(&Utc)),
            Err(_) => forms::local_time(typed, viewer.tz).map_err(|m| forms::problem(field, &m)),
        };
        let start = instant(&self.start, &self.starts_at, "start")?;
        let end = instant(&self.end, &self.ends_at, "end")?;
        Ok(NewOverride {
            user: UserRef::parse(if self.user.trim().is_empty() {
                viewer.user.id.as_str()
            } else {
                self.user.trim()
            }),
            start,
            end,
        })
    }
}

pub async fn add_override(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(f): Form<OverrideForm>,
) -> PageResult {
    let oncall = s.app.oncall();
    let this = ScheduleRef::parse(&name);
    let (status, form, problems, warnings) = match forms::submit(f.new_override(&viewer), |new| {
        oncall.add_override(&viewer.who, &this, new)
    })
    .await?
    {
        Ok(added) if added.warnings.is_empty() => {
            return Ok(Redirect::to(&format!("{}#overrides", schedule_url(&name))).into_response());
        }
        Ok(added) => (
            StatusCode::OK,
            None,
            Problems::default(),
            added.warnings.iter().map(crate::wording::warning).collect(),
        ),
        Err(p) => (
            StatusCode::BAD_REQUEST,
            Some(f.into_typed(viewer.tz)),
            p,
            Vec::new(),
        ),
    };
    let shown = Shown {
        form,
        problems,
        warnings,
        feed_url: None,
    };
    schedule_page(&s, &viewer, &name, status, shown).await
}

/// A calendar feed of every shift in the schedule, its URL shown once.
pub async fn schedule_feed(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let oncall = s.app.oncall();
    let record = oncall
        .get_schedule(&viewer.who, &ScheduleRef::parse(&name))
        .await?;
    let issued = oncall
        .issue_feed(&viewer.who, FeedSubject::Schedule(record.id))
        .await?;
    let url = format!("{}/calendar/{}.ics", s.public_url, issued.secret.expose());
    schedule_page(
        &s,
        &viewer,
        &name,
        StatusCode::CREATED,
        Shown {
            feed_url: Some(url),
            ..Default::default()
        },
    )
    .await
}

pub async fn delete_override(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((name, id)): Path<(String, String)>,
) -> PageResult {
    let id = path_id(&id, OverrideId::parse, "override")?;
    s.app
        .oncall()
        .delete_override(&viewer.who, &ScheduleRef::parse(&name), &id)
        .await?;
    Ok(Redirect::to(&format!("{}#overrides", schedule_url(&name))).into_response())
}

/// A calendar feed that still answers, named by the start of its secret (all a person can match it by).
pub struct FeedView {
    pub id: String,
    pub prefix: String,
    pub created: When,
}

/// The feeds of a person or a schedule that still answer, oldest first.
pub(super) async fn live_feeds(
    s: &AppState,
    viewer: &Viewer,
    subject: FeedSubject,
) -> Result<Vec<FeedView>, PageError> {
    let now = s.app.now();
    Ok(s.app
        .oncall()
        .list_feeds(&viewer.who, Some(subject))
        .await?
        .into_iter()
        .filter(|f| f.revoked_at.is_none())
        .map(|f| FeedView {
            id: f.id.to_string(),
            prefix: f.token_prefix,
            created: When::new(f.created_at, viewer.tz, now),
        })
        .collect())
}

/// Stops a calendar feed's URL answering, and returns to the page that lists it.
pub async fn revoke_feed(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = path_id(&id, FeedId::parse, "calendar feed")?;
    let oncall = s.app.oncall();
    let revoked = oncall.revoke_feed(&viewer.who, &id).await?;
    let back = match revoked.subject {
        FeedSubject::User(_) => "/profile#feeds".to_owned(),
        FeedSubject::Schedule(schedule) => {
            let record = oncall
                .get_schedule(&viewer.who, &ScheduleRef::Id(schedule))
                .await?;
            format!("{}#feeds", schedule_url(&record.name))
        }
    };
    Ok(Redirect::to(&back).into_response())
}

// ---- escalation policies ----------------------------------------------------------------------------------------

pub struct PolicyRow {
    pub name: String,
    pub url: String,
    pub levels: usize,
    pub description: String,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    rows: Vec<PolicyRow>,
    may_create: bool,
}

pub async fn policies(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let mut list = s.app.escalation().list_policies(&viewer.who).await?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(render(
        StatusCode::OK,
        &PoliciesPage {
            chrome: viewer.chrome("policies"),
            may_create: viewer.who.grant.allows(&tocsin_domain::auth::Need::Respond),
            rows: list
                .into_iter()
                .map(|p| PolicyRow {
                    url: policy_url(&p.name),
                    levels: p.levels.len(),
                    description: p.description,
                    name: p.name,
                })
                .collect(),
        },
    ))
}

pub struct LevelView {
    pub number: usize,
    pub delay: u32,
    pub targets: Vec<super::services::Link>,
    pub now: Vec<String>,
    pub gaps: String,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    chrome: Chrome,
    name: String,
    url: String,
    may_edit: bool,
    description: String,
    repeat: u32,
    levels: Vec<LevelView>,
    services: Vec<super::services::Link>,
}

pub async fn policy(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let who = &viewer.who;
    let escalation = s.app.escalation();
    let policy_ref = PolicyRef::parse(&name);
    let policy = escalation.get_policy(who, &policy_ref).await?;
    let on_call = escalation.on_call(who, policy.clone(), None).await?;
    let people = people(&s, &viewer).await?;
    let teams: HashMap<String, String> = s
        .app
        .teams()
        .list(who)
        .await?
        .into_iter()
        .map(|t| (t.id.to_string(), t.name.to_string()))
        .collect();
    let schedules: HashMap<String, String> = s
        .app
        .oncall()
        .list_schedules(who)
        .await?
        .into_iter()
        .map(|r| (r.id.to_string(), r.name))
        .collect();
    let target = |t: &EscalationTarget| match t {
        EscalationTarget::User(u) => super::services::Link {
            label: name_of(&people, u),
            url: String::new(),
        },
        EscalationTarget::Schedule(id) => {
            let n = schedules
                .get(id.as_str())
                .cloned()
                .unwrap_or_else(|| id.to_string());
            super::services::Link {
                url: schedule_url(&n),
                label: format!("schedule {n}"),
            }
        }
        EscalationTarget::Team(id) => super::services::Link {
            label: format!(
                "everyone in {}",
                teams
                    .get(id.as_str())
                    .cloned()
                    .unwrap_or_else(|| id.to_string())
            ),
            url: String::new(),
        },
        EscalationTarget::TeamOnCall(id) => super::services::Link {
            label: format!(
                "whoever is on call for {}",
                teams
                    .get(id.as_str())
                    .cloned()
                    .unwrap_or_else(|| id.to_string())
            ),
            url: String::new(),
        },
    };
    let levels = policy
        .levels
        .iter()
        .enumerate()
        .map(|(i, level)| {
            let resolved = on_call.levels.get(i);
            LevelView {
                number: i + 1,
                delay: level.delay_minutes,
                targets: level.targets.iter().map(&target).collect(),
                now: resolved
                    .map(|r| r.users.iter().map(|(u, _)| name_of(&people, u)).collect())
                    .unwrap_or_default(),
                gaps: resolved
                    .map(|r| {
                        crate::wording::gap_list(&r.gaps)
                            .trim_start_matches("; ")
                            .to_owned()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let names = super::pages::service_names(&s, &viewer).await?;
    let mut services: Vec<super::services::Link> = escalation
        .policy_services(who, &policy_ref)
        .await?
        .iter()
        .filter_map(|id| names.get(id))
        .map(|n| super::services::Link {
            label: n.clone(),
            url: super::services::service_url(n),
        })
        .collect();
    services.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(render(
        StatusCode::OK,
        &PolicyPage {
            chrome: viewer.chrome("policies"),
            url: policy_url(&policy.name),
            may_edit: viewer
                .who
                .grant
                .allows(&tocsin_domain::auth::Need::Team(policy.team_id.as_ref())),
            name: policy.name.clone(),
            description: policy.description.clone(),
            repeat: policy.repeat,
            levels,
            services,
        },
    ))
}
