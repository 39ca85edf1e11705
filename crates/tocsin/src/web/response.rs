//! How a response is organised: the roles people take (what each asks, who takes it by default) and the
//! checklists incidents get by severity and service. Everyone reads it; admins change it.

use super::forms::{self, Fields, Problems};
use super::pages::{Choice, by_name, key_in_path, people};
use super::{Chrome, PageError, Viewer, markdown, render};
use crate::http::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use tocsin_domain::auth::Need;
use tocsin_domain::escalation::EscalationTarget;
use tocsin_domain::refs::Key;
use tocsin_domain::roles::{Role, RoleDefault, RoleSpec};
use tocsin_domain::severity::Severity;
use tocsin_domain::tasks::{Assignee, TaskTemplate, TaskTemplateSpec};

type PageResult = Result<Response, PageError>;

/// A role as the page shows it.
pub struct RoleView {
    pub key: String,
    pub name: String,
    pub instructions: String,
    pub instructions_html: String,
    pub single: bool,
    pub built_in: bool,
    /// Each default in words.
    pub defaults: Vec<String>,
}

/// A checklist as the page shows it, and as its edit form holds it.
pub struct TemplateView {
    pub key: String,
    pub name: String,
    pub applies: String,
    /// Each task in words.
    pub tasks: Vec<String>,
    /// The tasks as the form writes them: one per line, "title | for | minutes".
    pub lines: String,
    pub severities: Vec<String>,
    pub services: Vec<String>,
}

impl TemplateView {
    fn has_severity(&self, severity: &str) -> bool {
        self.severities.iter().any(|s| s == severity)
    }

    fn has_service(&self, id: &str) -> bool {
        self.services.iter().any(|s| s == id)
    }
}

#[derive(Template)]
#[template(path = "response.html")]
struct ResponsePage {
    chrome: Chrome,
    may_edit: bool,
    roles: Vec<RoleView>,
    templates: Vec<TemplateView>,
    severities: Vec<Choice>,
    /// (ID, name) of services, people, and who a default can name ("schedule:ID" and the like).
    services: Vec<(String, String)>,
    targets: Vec<(String, String)>,
    problems: Problems,
    /// Which form the problems belong to.
    problem_form: String,
    /// A refused form as typed, by field.
    typed: HashMap<String, Vec<String>>,
}

impl ResponsePage {
    fn typed(&self, field: &str) -> &str {
        self.typed
            .get(field)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }

    /// Whether a refused form had this choice made, so that it is made again.
    fn was_chosen(&self, field: &str, value: &str) -> bool {
        self.typed
            .get(field)
            .is_some_and(|v| v.iter().any(|x| x == value))
    }
}

/// The names the page uses for what defaults and tasks refer to by ID.
struct Names {
    services: HashMap<String, String>,
    people: HashMap<String, String>,
    schedules: HashMap<String, String>,
    teams: HashMap<String, String>,
}

impl Names {
    async fn load(s: &AppState, viewer: &Viewer) -> Result<Self, PageError> {
        let who = &viewer.who;
        Ok(Self {
            services: s
                .app
                .services()
                .list(who)
                .await?
                .into_iter()
                .map(|x| (x.id.to_string(), x.name.to_string()))
                .collect(),
            people: people(s, viewer)
                .await?
                .into_iter()
                .map(|(id, n)| (id.to_string(), n))
                .collect(),
            schedules: s
                .app
                .oncall()
                .list_schedules(who)
                .await?
                .into_iter()
                .map(|x| (x.id.to_string(), x.name))
                .collect(),
            teams: s
                .app
                .teams()
                .list(who)
                .await?
                .into_iter()
                .map(|x| (x.id.to_string(), x.name.to_string()))
                .collect(),
        })
    }

    fn of<'a>(map: &'a HashMap<String, String>, id: &'a str) -> &'a str {
        map.get(id).map_or(id, String::as_str)
    }

    fn target(&self, t: &EscalationTarget) -> String {
        match t {
            EscalationTarget::User(id) => Self::of(&self.people, id.as_str()).to_owned(),
            EscalationTarget::Schedule(id) => {
                format!(
                    "whoever is on call in {}",
                    Self::of(&self.schedules, id.as_str())
                )
            }
            EscalationTarget::Team(id) => {
                format!("the members of {}", Self::of(&self.teams, id.as_str()))
            }
            EscalationTarget::TeamOnCall(id) => {
                format!(
                    "whoever is on call in {}",
                    Self::of(&self.teams, id.as_str())
                )
            }
        }
    }

    fn applies(&self, severities: &[Severity], services: &[String]) -> String {
        let sev = if severities.is_empty() {
            "every severity".to_owned()
        } else {
            severities
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if services.is_empty() {
            sev
        } else {
            let names: Vec<&str> = services
                .iter()
                .map(|s| Self::of(&self.services, s))
                .collect();
            format!("{sev} on {}", names.join(", "))
        }
    }

    fn role_view(&self, r: &Role) -> RoleView {
        RoleView {
            key: r.key.to_string(),
            name: r.name.clone(),
            instructions: r.instructions.clone(),
            instructions_html: markdown::render(&r.instructions),
            single: r.single,
            built_in: r.built_in,
            defaults: r
                .defaults
                .iter()
                .map(|d| {
                    let services: Vec<String> = d.services.iter().map(|s| s.to_string()).collect();
                    format!(
                        "{}: {}",
                        self.applies(&d.severities, &services),
                        self.target(&d.target)
                    )
                })
                .collect(),
        }
    }

    fn template_view(&self, t: &TaskTemplate, roles: &[Role]) -> TemplateView {
        let whom = |a: &Option<Assignee>| match a {
            None => String::new(),
            Some(Assignee::Role(k)) => roles
                .iter()
                .find(|r| &r.key == k)
                .map_or_else(|| k.to_string(), |r| r.name.clone()),
            Some(Assignee::User(u)) => Self::of(&self.people, u.as_str()).to_owned(),
        };
        let services: Vec<String> = t.services.iter().map(|s| s.to_string()).collect();
        TemplateView {
            key: t.key.to_string(),
            name: t.name.clone(),
            applies: self.applies(&t.severities, &services),
            tasks: t
                .tasks
                .iter()
                .map(|task| {
                    let mut line = task.title.clone();
                    let who = whom(&task.assignee);
                    if !who.is_empty() {
                        line += &format!(", for {who}");
                    }
                    if let Some(m) = task.due_minutes {
                        line += &format!(", due after {m} min");
                    }
                    line
                })
                .collect(),
            lines: t
                .tasks
                .iter()
                .map(|task| {
                    let who = match &task.assignee {
                        None => String::new(),
                        Some(Assignee::Role(k)) => format!("role:{k}"),
                        Some(Assignee::User(u)) => format!("user:{u}"),
                    };
                    let due = task.due_minutes.map(|m| m.to_string()).unwrap_or_default();
                    format!("{} | {who} | {due}", task.title)
                })
                .collect::<Vec<_>>()
                .join("\n"),
            severities: t.severities.iter().map(|s| s.as_str().to_owned()).collect(),
            services,
        }
    }
}

async fn page(
    s: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    refused: Option<(String, Problems, HashMap<String, Vec<String>>)>,
) -> PageResult {
    let who = &viewer.who;
    let names = Names::load(s, viewer).await?;
    let roles = s.app.roles().list(who).await?;
    let templates = s.app.tasks().templates(who).await?;
    let sorted = |m: &HashMap<String, String>, prefix: &str| {
        by_name(m.iter().map(|(id, n)| (format!("{prefix}{id}"), n.clone())))
    };
    let mut targets = Vec::new();
    for (id, n) in sorted(&names.schedules, "schedule:") {
        targets.push((id, format!("Whoever is on call in {n}")));
    }
    for (id, n) in sorted(&names.teams, "team_on_call:") {
        targets.push((id, format!("Whoever is on call in team {n}")));
    }
    for (id, n) in sorted(&names.people, "user:") {
        targets.push((id, n));
    }
    let (problem_form, problems, typed) = refused.unwrap_or_default();
    Ok(render(
        status,
        &ResponsePage {
            chrome: viewer.chrome("incidents"),
            may_edit: who.grant.allows(&Need::Configure),
            roles: roles.iter().map(|r| names.role_view(r)).collect(),
            templates: templates
                .iter()
                .map(|t| names.template_view(t, &roles))
                .collect(),
            severities: Severity::ALL
                .iter()
                .map(|s| Choice {
                    value: s.as_str().to_owned(),
                    label: s.as_str().to_owned(),
                    selected: false,
                })
                .collect(),
            services: sorted(&names.services, ""),
            targets,
            problems,
            problem_form,
            typed,
        },
    ))
}

pub async fn response(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    page(&s, &viewer, StatusCode::OK, None).await
}

fn back() -> Response {
    Redirect::to("/response").into_response()
}

/// Shows the page again with a form's problems beside it, as typed.
async fn refused(
    s: &AppState,
    viewer: &Viewer,
    form: &str,
    problems: Problems,
    f: &Fields,
    fields: &[&str],
) -> PageResult {
    let typed = fields.iter().map(|k| ((*k).to_owned(), f.all(k))).collect();
    page(
        s,
        viewer,
        StatusCode::BAD_REQUEST,
        Some((form.to_owned(), problems, typed)),
    )
    .await
}

/// Saves a role: a new one of the organisation's own, or one reworded; `change` edits what the role holds now.
async fn save_role(
    s: &AppState,
    viewer: &Viewer,
    key: Result<Key, String>,
    form: &str,
    f: &Fields,
    change: impl FnOnce(Option<&Role>) -> Result<Value, Problems>,
) -> PageResult {
    let fields = ["key", "name", "instructions", "single", "target"];
    let key = match key {
        Ok(k) => k,
        Err(m) => return refused(s, viewer, form, forms::problem("key", &m), f, &fields).await,
    };
    let roles = s.app.roles().list(&viewer.who).await?;
    let current = roles.iter().find(|r| r.key == key);
    let body = change(current).and_then(|b| {
        forms::parse::<RoleSpec>(b).map_err(|e| forms::problems(e).unwrap_or_default())
    });
    let r = s.app.roles();
    match forms::submit(body, |spec| r.put(&viewer.who, key.clone(), spec)).await? {
        Ok(_) => Ok(back()),
        Err(p) => refused(s, viewer, form, p, f, &fields).await,
    }
}

fn spec_json(role: &Role) -> Value {
    serde_json::to_value(role.spec()).unwrap_or_default()
}

/// A new role of the organisation's own.
pub async fn create_role(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = Fields::new(pairs);
    let key = f.one("key").trim().to_owned();
    let parsed = key.parse::<Key>();
    let (name, instructions, single) = (
        f.one("name"),
        f.one("instructions"),
        !f.one("single").is_empty(),
    );
    save_role(&s, &viewer, parsed, "new-role", &f, |current| match current {
        Some(r) => Err(forms::problem(
            "key",
            &format!("the role {} has this key already", r.name),
        )),
        None => Ok(json!({"name": name, "instructions": instructions.replace("\r\n", "\n"), "single": single})),
    })
    .await
}

/// Rewords a role, adds a default to it, removes one, or removes the role.
pub async fn role_action(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((key, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = Fields::new(pairs);
    let parsed = key_in_path(&key, "role")?;
    let form = format!("role-{key}");
    match action.as_str() {
        "edit" => {
            let (name, instructions, single) = (
                f.one("name"),
                f.one("instructions"),
                !f.one("single").is_empty(),
            );
            save_role(&s, &viewer, Ok(parsed), &form, &f, |current| {
                let mut spec = current.map(spec_json).unwrap_or_default();
                spec["name"] = json!(name);
                spec["instructions"] = json!(instructions.replace("\r\n", "\n"));
                // A built-in role keeps how many hold it; the form does not offer the choice.
                if !current.is_some_and(|r| r.built_in) {
                    spec["single"] = json!(single);
                }
                Ok(spec)
            })
            .await
        }
        "defaults" => {
            let target = match f.one("target").split_once(':') {
                Some((kind, id)) if !id.is_empty() => json!({"type": kind, "id": id}),
                _ => Value::Null,
            };
            let severities = f.all("severities");
            let services = f.all("services");
            save_role(&s, &viewer, Ok(parsed), &form, &f, |current| {
                if target.is_null() {
                    return Err(forms::problem("target", "choose who takes the role"));
                }
                let mut spec = current.map(spec_json).unwrap_or_default();
                let mut defaults = spec["defaults"].as_array().cloned().unwrap_or_default();
                defaults.push(
                    json!({"severities": severities, "services": services, "target": target}),
                );
                spec["defaults"] = Value::Array(defaults);
                Ok(spec)
            })
            .await
        }
        "remove-default" => {
            let index: usize = f.one("default").trim().parse().map_err(|_| {
                PageError::new(
                    StatusCode::NOT_FOUND,
                    "Not found",
                    "There is no such default.",
                )
            })?;
            save_role(&s, &viewer, Ok(parsed), &form, &f, |current| {
                let mut spec = current.map(spec_json).unwrap_or_default();
                let mut defaults: Vec<RoleDefault> =
                    serde_json::from_value(spec["defaults"].clone()).unwrap_or_default();
                if index < defaults.len() {
                    defaults.remove(index);
                }
                spec["defaults"] = json!(defaults);
                Ok(spec)
            })
            .await
        }
        "delete" => match s.app.roles().delete(&viewer.who, &parsed).await {
            Ok(()) => Ok(back()),
            Err(e) => {
                let p = forms::problems(crate::http::error::ApiError::from(e))?;
                refused(&s, &viewer, &form, p, &f, &[]).await
            }
        },
        _ => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such action on a role.",
        )),
    }
}

/// A checklist's tasks as the form writes them, one per line: "title | for | minutes", where "for" is
/// `role:KEY` or `user:ID` and both may be left out.
fn tasks_of_lines(text: &str) -> Result<Vec<Value>, Problems> {
    let mut tasks = Vec::new();
    for (i, line) in text.replace("\r\n", "\n").lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split('|').map(str::trim);
        let title = parts.next().unwrap_or_default();
        let whom = parts.next().unwrap_or_default();
        let due = parts.next().unwrap_or_default();
        let mut task = json!({ "title": title });
        match whom.split_once(':') {
            Some(("role", k)) => task["assignee"] = json!({"type": "role", "id": k.trim()}),
            Some(("user", u)) => task["assignee"] = json!({"type": "user", "id": u.trim()}),
            None if whom.is_empty() => {}
            _ => {
                return Err(forms::problem(
                    "tasks",
                    &format!(
                        "line {}: write whom a task is for as role:KEY or user:ID",
                        i + 1
                    ),
                ));
            }
        }
        if !due.is_empty() {
            match due.parse::<u32>() {
                Ok(m) => task["due_minutes"] = json!(m),
                Err(_) => {
                    return Err(forms::problem(
                        "tasks",
                        &format!("line {}: the due time is a number of minutes", i + 1),
                    ));
                }
            }
        }
        tasks.push(task);
    }
    Ok(tasks)
}

/// Creates or replaces a checklist.
pub async fn save_template(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = Fields::new(pairs);
    let fields = ["key", "name", "lines", "severities", "services"];
    let form = "template";
    let key = match f.one("key").trim().parse::<Key>() {
        Ok(k) => k,
        Err(m) => return refused(&s, &viewer, form, forms::problem("key", &m), &f, &fields).await,
    };
    let body = tasks_of_lines(&f.one("lines")).and_then(|tasks| {
        forms::parse::<TaskTemplateSpec>(json!({
            "name": f.one("name"),
            "severities": f.all("severities"),
            "services": f.all("services"),
            "tasks": tasks,
        }))
        .map_err(|e| forms::problems(e).unwrap_or_default())
    });
    let t = s.app.tasks();
    match forms::submit(body, |spec| t.put_template(&viewer.who, key.clone(), spec)).await? {
        Ok(_) => Ok(back()),
        Err(p) => refused(&s, &viewer, form, p, &f, &fields).await,
    }
}

pub async fn delete_template(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> PageResult {
    let key = key_in_path(&key, "checklist")?;
    s.app.tasks().delete_template(&viewer.who, &key).await?;
    Ok(back())
}
