//! `tocsin task-templates` (checklists per severity and service) and the incident commands about tasks.

use super::client::Client;
use super::output::{Cell, Col, Output, text};
use super::{IncidentRef, catalog::read_document, parse_duration};
use anyhow::Context;
use chrono::TimeDelta;
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `tocsin task-templates`.
#[derive(Subcommand, Debug)]
pub enum TemplateCmd {
    /// List the checklists applied to incidents when they open or their severity changes.
    List,
    /// Create or replace a checklist (admins) from a file (YAML or JSON): name, severities and services (by
    /// name; empty for all), and tasks, each with a title, an assignee ({role: commander} or {user: email}) and
    /// due_minutes; `-` reads standard input.
    Set {
        /// The template's key: lowercase letters, digits and dashes, e.g. sev0.
        key: String,
        /// The checklist file; `-` reads standard input.
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Remove a checklist (admins); tasks it added to incidents stay.
    Delete {
        /// The template's key.
        key: String,
    },
}

/// The incident commands about tasks.
#[derive(Subcommand, Debug)]
pub enum IncidentTaskCmd {
    /// An incident's tasks: done or not, for whom, due when.
    Tasks(IncidentRef),
    /// Add a task to an incident.
    Task {
        #[command(flatten)]
        target: IncidentRef,
        /// What to do, in one line.
        title: String,
        /// Whom it is for: a role's key (role:commander) or a person (ID or email).
        #[arg(long = "for", value_name = "WHOM")]
        assignee: Option<String>,
        /// Due in, e.g. 15m or 2h.
        #[arg(long, value_parser = parse_duration)]
        due: Option<TimeDelta>,
    },
    /// Mark an incident's task done.
    Done {
        #[command(flatten)]
        target: IncidentRef,
        /// The task's number.
        task: u32,
    },
    /// Mark a task done by mistake as not done.
    Undone {
        #[command(flatten)]
        target: IncidentRef,
        /// The task's number.
        task: u32,
    },
}

const TEMPLATES: &[Col] = &[
    Col("KEY", Cell::Text("key")),
    Col("NAME", Cell::Text("name")),
    Col("SEVERITIES", Cell::With(severities)),
    Col("TASKS", Cell::With(task_count)),
];

fn severities(t: &Value) -> String {
    match t["severities"].as_array() {
        Some(a) if !a.is_empty() => text(&t["severities"]),
        _ => "all".into(),
    }
}

fn task_count(t: &Value) -> String {
    t["tasks"].as_array().map_or(0, Vec::len).to_string()
}

const TASKS: &[Col] = &[
    Col("#", Cell::With(number)),
    Col("DONE", Cell::With(done)),
    Col("TASK", Cell::Text("title")),
    Col("FOR", Cell::With(assignee)),
    Col("DUE", Cell::Time("due_at")),
    Col("DONE BY", Cell::Text("done_by")),
];

fn number(t: &Value) -> String {
    text(&t["number"])
}

fn done(t: &Value) -> String {
    if t["done_at"].is_null() {
        "no".into()
    } else {
        "yes".into()
    }
}

fn assignee(t: &Value) -> String {
    match (t["assignee"]["type"].as_str(), &t["assignee"]["id"]) {
        (Some("role"), id) => format!("role {}", text(id)),
        (Some(_), id) => text(id),
        _ => "-".into(),
    }
}

pub async fn templates(client: &Client, cmd: TemplateCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        TemplateCmd::List => {
            let list = client.get(&["task-templates"]).await?;
            out.table(&list, TEMPLATES);
        }
        TemplateCmd::Set { key, file } => {
            let spec = read_template(client, &file).await?;
            let v = client.put(&["task-templates", &key], &spec).await?;
            out.done(
                &v,
                format!(
                    "checklist {} ({}) has {} tasks",
                    text(&v["key"]),
                    text(&v["name"]),
                    task_count(&v)
                ),
            );
        }
        TemplateCmd::Delete { key } => {
            let v = client.delete(&["task-templates", &key]).await?;
            out.done(&v, format!("checklist {key} removed"));
        }
    }
    Ok(())
}

pub async fn incidents(client: &Client, cmd: IncidentTaskCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        IncidentTaskCmd::Tasks(r) => {
            let v = client.get(&["incidents", &r.incident, "tasks"]).await?;
            out.table(&v, TASKS);
        }
        IncidentTaskCmd::Task {
            target,
            title,
            assignee,
            due,
        } => {
            let mut body = json!({ "title": title });
            if let Some(a) = assignee {
                body["assignee"] = match a.strip_prefix("role:") {
                    Some(role) => json!({ "type": "role", "id": role }),
                    None => json!({ "type": "user", "id": a }),
                };
            }
            if let Some(d) = due {
                // A part of a minute counts as a whole one, so `--due 30s` is not "due now".
                body["due_in_minutes"] = json!((d.num_seconds() + 59) / 60);
            }
            let v = client
                .post(&["incidents", &target.incident, "tasks"], &body)
                .await?;
            out.done(
                &v,
                format!("added task {}: {}", text(&v["number"]), text(&v["title"])),
            );
        }
        IncidentTaskCmd::Done { target, task } => {
            mark(client, &target, task, "done", out).await?;
        }
        IncidentTaskCmd::Undone { target, task } => {
            mark(client, &target, task, "undone", out).await?;
        }
    }
    Ok(())
}

async fn mark(
    client: &Client,
    target: &IncidentRef,
    task: u32,
    how: &str,
    out: Output,
) -> anyhow::Result<()> {
    let number = task.to_string();
    let v = client
        .post_empty(&["incidents", &target.incident, "tasks", &number, how])
        .await?;
    let state = if v["done_at"].is_null() {
        "not done"
    } else {
        "done"
    };
    out.done(
        &v,
        format!("task {number} ({}) is {state}", text(&v["title"])),
    );
    Ok(())
}

/// Reads a checklist file, putting IDs where it names services by name and people by email, since the API takes
/// IDs only.
async fn read_template(client: &Client, path: &Path) -> anyhow::Result<Value> {
    let mut spec: Value =
        read_document(path, "a checklist has a name and tasks, each with a title")?;
    let at = |what: String| format!("{}: {what}", path.display());
    if let Some(services) = spec.get_mut("services").and_then(Value::as_array_mut) {
        for (j, s) in services.iter_mut().enumerate() {
            if let Some(name) = s.as_str() {
                let found = client
                    .get(&["services", name])
                    .await
                    .with_context(|| at(format!("services[{j}]")))?;
                *s = found["id"].clone();
            }
        }
    }
    let tasks = spec
        .get_mut("tasks")
        .and_then(Value::as_array_mut)
        .map(|t| t.iter_mut())
        .into_iter()
        .flatten();
    for (i, task) in tasks.enumerate() {
        let Some(a) = task.get_mut("assignee") else {
            continue;
        };
        // As people write it ({role: commander}, {user: ana@example.com}) or as the API does.
        let written = a.as_object().filter(|o| o.len() == 1).and_then(|o| {
            let (k, v) = o.iter().next()?;
            Some((k.clone(), v.as_str()?.to_owned()))
        });
        match written.as_ref().map(|(k, v)| (k.as_str(), v.as_str())) {
            Some(("role", role)) => *a = json!({ "type": "role", "id": role }),
            Some(("user", user)) => {
                let id = super::paging::resolve(client, "user", user)
                    .await
                    .with_context(|| at(format!("tasks[{i}].assignee")))?;
                *a = json!({ "type": "user", "id": id });
            }
            _ => {}
        }
    }
    Ok(spec)
}
