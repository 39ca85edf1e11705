//! Checklists: the templates (a `settings` row), each incident's tasks (`incident_tasks`) and which templates it
//! had (`incident_task_templates`), applied in the transaction that opens an incident or changes its severity.

use super::incidents::load as load_incident;
use super::rows::{self, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{Result, StoreError, TaskRepo};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::FieldError;
use tocsin_domain::ValidationErrors;
use tocsin_domain::ids::IncidentId;
use tocsin_domain::incident::{Actor, Incident, TimelineEntry, TimelineEvent};
use tocsin_domain::refs::IncidentRef;
use tocsin_domain::refs::Key;
use tocsin_domain::tasks::{
    self, Assignee, MAX_TASKS, MAX_TEMPLATES, NewTask, Task, TaskTemplate, TaskTemplateSpec,
};
use tocsin_domain::timeline::TaskLine;

/// The `settings` row holding the task templates, in order.
const TEMPLATES: &str = "task_templates";

/// The templates, and the stored entries this version could not read.
fn load_stored(c: &dyn Conn) -> Result<(Vec<TaskTemplate>, Vec<serde_json::Value>)> {
    let stored = super::settings::read_list(c, TEMPLATES, |raw| {
        serde_json::from_value::<TaskTemplate>(raw).map_err(|e| e.to_string())
    })?;
    Ok((stored.items, stored.unreadable))
}

fn write_templates(
    c: &dyn Conn,
    templates: &[TaskTemplate],
    unreadable: Vec<serde_json::Value>,
) -> Result<()> {
    let items = templates
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .collect();
    super::settings::write_list(c, TEMPLATES, items, unreadable)
}

/// What a template names must exist: its services, the people and roles its tasks are for.
fn check_template(c: &dyn Conn, spec: &TaskTemplateSpec) -> Result<()> {
    let mut errors = match spec.validate() {
        Ok(()) => ValidationErrors::default(),
        Err(e) => e,
    };
    for (j, s) in spec.services.iter().enumerate() {
        if !super::escalation::exists(c, "services", s.as_str())? {
            errors.push(format!("services[{j}]"), "no service has this ID");
        }
    }
    for (i, t) in spec.tasks.iter().enumerate() {
        if let Some(a) = &t.assignee
            && let Err(message) = check_assignee(c, a)?
        {
            errors.push(format!("tasks[{i}].assignee"), message);
        }
    }
    errors.into_result(()).map_err(StoreError::from)
}

/// Whether the person or role a task is for exists; the message if not.
fn check_assignee(c: &dyn Conn, a: &Assignee) -> Result<std::result::Result<(), String>> {
    Ok(match a {
        Assignee::User(id) if !super::escalation::exists(c, "users", id.as_str())? => {
            Err("no user has this ID".into())
        }
        Assignee::Role(key) if !super::roles::load_roles(c)?.iter().any(|r| &r.key == key) => {
            Err(format!("there is no role {key}"))
        }
        _ => Ok(()),
    })
}

const TASK_COLUMNS: &str =
    "number, title, assignee, due_at, done_at, done_by, created_at, created_by, template";

fn task(r: &Row<'_>) -> Result<Task> {
    Ok(Task {
        number: u32::try_from(r.get::<i64>(0)?).unwrap_or_default(),
        title: r.get(1)?,
        assignee: match r.get::<Option<String>>(2)? {
            Some(_) => Some(r.json(2)?),
            None => None,
        },
        due_at: r.get::<Option<i64>>(3)?.map(rows::time),
        done_at: r.get::<Option<i64>>(4)?.map(rows::time),
        done_by: match r.get::<Option<String>>(5)? {
            Some(_) => Some(r.json(5)?),
            None => None,
        },
        created_at: rows::time(r.get(6)?),
        created_by: r.json(7)?,
        template: r.get(8)?,
    })
}

fn tasks_of(c: &dyn Conn, incident: &IncidentId) -> Result<Vec<Task>> {
    c.query_all(
        &format!(
            "SELECT {TASK_COLUMNS} FROM incident_tasks WHERE incident_id = ?1 ORDER BY number"
        ),
        params![incident.as_str()],
        task,
    )
}

/// Adds tasks to the incident, numbered after its last, and says so on its timeline. A template's tasks are
/// added as far as the incident has room (`template` some), so that a checklist never keeps an incident from
/// opening or worsening; the entry counts those left out. A task added by hand past the limit is refused.
fn add(
    c: &dyn Conn,
    incident: &IncidentId,
    new: &[NewTask],
    template: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<TaskLine>> {
    let last: i64 = c.query_one(
        "SELECT coalesce(max(number), 0) FROM incident_tasks WHERE incident_id = ?1",
        params![incident.as_str()],
        |r| r.get(0),
    )?;
    let room = MAX_TASKS.saturating_sub(usize::try_from(last).unwrap_or(MAX_TASKS));
    if template.is_none() && new.len() > room {
        return Err(StoreError::Invalid(
            FieldError::new(
                "title",
                format!("an incident has at most {MAX_TASKS} tasks"),
            )
            .into(),
        ));
    }
    let (new, left_out) = new.split_at(new.len().min(room));
    let mut lines = Vec::new();
    for (n, t) in (last + 1..).zip(new) {
        c.execute_later(
            "INSERT INTO incident_tasks (incident_id, number, title, assignee, due_at, created_at, created_by, template) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                incident.as_str(),
                n,
                t.title.clone(),
                t.assignee.as_ref().map(to_json),
                t.due_at.map(ts),
                ts(now),
                to_json(actor),
                t.template.clone()
            ],
        )?;
        lines.push(TaskLine {
            number: u32::try_from(n).unwrap_or_default(),
            title: t.title.clone(),
        });
    }
    let entry = TimelineEntry::new(
        now,
        actor,
        TimelineEvent::TasksAdded {
            template: template.map(str::to_owned),
            tasks: lines.clone(),
            left_out: u32::try_from(left_out.len()).unwrap_or(u32::MAX),
        },
    );
    rows::record_timeline(c, incident, &entry)?;
    Ok(lines)
}

/// Adds the tasks of every template that applies to the incident and that it has not had, in Tocsin's name: when
/// it opens, and when its severity changes.
pub(super) fn apply_templates(c: &dyn Conn, incident: &Incident, now: DateTime<Utc>) -> Result<()> {
    let (templates, _) = load_stored(c)?;
    if !templates.iter().any(|t| t.applies_to(incident)) {
        return Ok(());
    }
    let applied: Vec<String> = c.query_all(
        "SELECT template FROM incident_task_templates WHERE incident_id = ?1",
        params![incident.id.as_str()],
        |r| r.get(0),
    )?;
    let tocsin = Actor::system();
    for (key, new) in tasks::from_templates(&templates, incident, &applied, now) {
        c.execute_later(
            "INSERT INTO incident_task_templates (incident_id, template, applied_at) VALUES (?1, ?2, ?3)",
            params![incident.id.as_str(), key.clone(), ts(now)],
        )?;
        let name = new.first().and_then(|t| t.template.clone());
        add(c, &incident.id, &new, name.as_deref(), &tocsin, now)?;
    }
    Ok(())
}

fn find_task(c: &dyn Conn, incident: &Incident, number: u32) -> Result<Task> {
    c.find(
        &format!(
            "SELECT {TASK_COLUMNS} FROM incident_tasks WHERE incident_id = ?1 AND number = ?2"
        ),
        params![incident.id.as_str(), i64::from(number)],
        task,
        "task",
        &format!("#{}/{number}", incident.number),
    )
}

#[async_trait]
impl TaskRepo for SqlStore {
    async fn templates(&self) -> Result<Vec<TaskTemplate>> {
        self.read(|c| Ok(load_stored(c)?.0)).await
    }

    async fn put_template(&self, key: Key, spec: TaskTemplateSpec) -> Result<TaskTemplate> {
        self.write(move |c| {
            let spec = spec.clone().tidy();
            check_template(c, &spec)?;
            let (mut templates, unreadable) = load_stored(c)?;
            let template = TaskTemplate::new(key.clone(), spec);
            let full = templates.len() >= MAX_TEMPLATES;
            match templates.iter_mut().find(|t| t.key == key) {
                Some(t) => *t = template.clone(),
                None if full => {
                    return Err(StoreError::Invalid(
                        FieldError::new(
                            "key",
                            format!(
                                "there are already {MAX_TEMPLATES} templates; remove one first"
                            ),
                        )
                        .into(),
                    ));
                }
                None => templates.push(template.clone()),
            }
            write_templates(c, &templates, unreadable)?;
            Ok(template)
        })
        .await
    }

    async fn delete_template(&self, key: &Key) -> Result<()> {
        let key = key.clone();
        self.write(move |c| {
            let (mut templates, unreadable) = load_stored(c)?;
            if !templates.iter().any(|t| t.key == key) {
                return Err(StoreError::not_found("task template", key.as_str()));
            }
            templates.retain(|t| t.key != key);
            write_templates(c, &templates, unreadable)
        })
        .await
    }

    async fn tasks(&self, incident: &IncidentRef) -> Result<Vec<Task>> {
        let incident = incident.clone();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            tasks_of(c, &i.id)
        })
        .await
    }

    async fn add_task(
        &self,
        incident: &IncidentRef,
        title: String,
        assignee: Option<crate::TaskAssignee>,
        due_at: Option<DateTime<Utc>>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Task> {
        let incident = incident.clone();
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            let title =
                tasks::parse_title("title", &title).map_err(|e| StoreError::Invalid(e.into()))?;
            let assignee = match &assignee {
                None => None,
                Some(crate::TaskAssignee::User(u)) => {
                    let user = super::roles::named_person(c, "assignee", u)?;
                    Some(Assignee::User(user.id))
                }
                Some(crate::TaskAssignee::Role(key)) => {
                    let a = Assignee::Role(key.clone());
                    if let Err(message) = check_assignee(c, &a)? {
                        return Err(StoreError::Invalid(
                            FieldError::new("assignee", message).into(),
                        ));
                    }
                    Some(a)
                }
            };
            let new = NewTask {
                title,
                assignee,
                due_at,
                template: None,
            };
            let added = add(c, &i.id, std::slice::from_ref(&new), None, &actor, now)?;
            find_task(c, &i, added[0].number)
        })
        .await
    }

    async fn mark_task(
        &self,
        incident: &IncidentRef,
        number: u32,
        done: bool,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Task> {
        let incident = incident.clone();
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            let t = find_task(c, &i, number)?;
            // Marking it as it is already changes nothing, so a double click records one entry.
            if t.is_done() == done {
                return Ok(t);
            }
            let (done_at, done_by) = if done {
                (Some(ts(now)), Some(to_json(&actor)))
            } else {
                (None, None)
            };
            c.execute_later(
                "UPDATE incident_tasks SET done_at = ?3, done_by = ?4 WHERE incident_id = ?1 AND number = ?2",
                params![i.id.as_str(), i64::from(number), done_at, done_by],
            )?;
            let line = TaskLine {
                number,
                title: t.title.clone(),
            };
            let event = if done {
                TimelineEvent::TaskDone { task: line }
            } else {
                TimelineEvent::TaskReopened { task: line }
            };
            rows::record_timeline(c, &i.id, &TimelineEntry::new(now, &actor, event))?;
            find_task(c, &i, number)
        })
        .await
    }
}
