//! Checklists: the tasks of a response, from templates per severity and per service (e.g. every SEV-0 gets "open
//! a bridge" and "first customer update within 15 minutes") and added by hand; each with an assignee (a person
//! or a role), a due time, and who did it when.

use crate::ids::{ServiceId, UserId};
use crate::incident::{Actor, Incident};
use crate::refs::Key;
use crate::severity::Severity;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Who a task is for: a person, or whoever holds a role in the incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Assignee {
    #[schema(value_type = String)]
    User(UserId),
    #[schema(value_type = String)]
    Role(Key),
}

/// One task of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateTask {
    pub title: String,
    #[serde(default)]
    pub assignee: Option<Assignee>,
    /// Due this many minutes after the template is applied; none for no due time.
    #[serde(default)]
    pub due_minutes: Option<u32>,
}

/// A checklist applied to incidents of some severities or services when one opens or its severity changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplateSpec {
    /// What it is for, e.g. "SEV-0 response".
    pub name: String,
    /// The severities it applies to; empty for every severity.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// The services it applies to (an incident on any of them); empty for every incident.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    pub tasks: Vec<TemplateTask>,
}

/// A template, with the key paths name it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskTemplate {
    #[schema(value_type = String, example = "sev0")]
    pub key: Key,
    pub name: String,
    pub severities: Vec<Severity>,
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    pub tasks: Vec<TemplateTask>,
}

impl TaskTemplate {
    pub fn new(key: Key, spec: TaskTemplateSpec) -> Self {
        Self {
            key,
            name: spec.name,
            severities: spec.severities,
            services: spec.services,
            tasks: spec.tasks,
        }
    }

    pub fn applies_to(&self, incident: &Incident) -> bool {
        applies(&self.severities, &self.services, incident)
    }

    pub fn spec(&self) -> TaskTemplateSpec {
        TaskTemplateSpec {
            name: self.name.clone(),
            severities: self.severities.clone(),
            services: self.services.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

/// Most templates; most tasks in one template; most tasks in one incident; longest title, in characters.
pub const MAX_TEMPLATES: usize = 50;
pub const MAX_TEMPLATE_TASKS: usize = 50;
pub const MAX_TASKS: usize = 200;
pub const MAX_TITLE: usize = 200;
/// Latest due time a task takes, in minutes after it is added (a week).
pub const MAX_DUE_MINUTES: u32 = 10_080;

/// A validated task title: 1 to 200 characters on one line.
pub fn parse_title(field: &str, s: &str) -> Result<String, crate::error::FieldError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(crate::error::FieldError::new(field, "must not be empty"));
    }
    if t.contains(['\n', '\r', '\0']) {
        return Err(crate::error::FieldError::new(field, "must be one line"));
    }
    if t.chars().count() > MAX_TITLE {
        return Err(crate::error::FieldError::new(
            field,
            format!("must be at most {MAX_TITLE} characters"),
        ));
    }
    Ok(t.to_owned())
}

impl TaskTemplateSpec {
    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        errors.check_label("name", &self.name);
        if self.tasks.is_empty() {
            errors.push("tasks", "list at least one task");
        }
        if self.tasks.len() > MAX_TEMPLATE_TASKS {
            errors.push("tasks", format!("at most {MAX_TEMPLATE_TASKS} tasks"));
        }
        if self.services.len() > crate::roles::MAX_DEFAULT_SERVICES {
            errors.push(
                "services",
                format!("at most {} services", crate::roles::MAX_DEFAULT_SERVICES),
            );
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if let Err(e) = parse_title(&format!("tasks[{i}].title"), &t.title) {
                errors.push(e.field, e.message);
            }
            if t.due_minutes.is_some_and(|m| m == 0 || m > MAX_DUE_MINUTES) {
                errors.push(
                    format!("tasks[{i}].due_minutes"),
                    format!("must be 1 to {MAX_DUE_MINUTES} minutes, or left out"),
                );
            }
        }
        errors.into_result(())
    }

    pub fn tidy(mut self) -> Self {
        self.name = self.name.trim().to_owned();
        for t in &mut self.tasks {
            t.title = t.title.trim().to_owned();
        }
        self
    }

    pub fn applies_to(&self, incident: &Incident) -> bool {
        applies(&self.severities, &self.services, incident)
    }
}

fn applies(severities: &[Severity], services: &[ServiceId], incident: &Incident) -> bool {
    (severities.is_empty() || severities.contains(&incident.severity))
        && (services.is_empty() || services.iter().any(|s| incident.services.contains(s)))
}

/// A task of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    /// Its number within the incident, from 1.
    pub number: u32,
    pub title: String,
    pub assignee: Option<Assignee>,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<Actor>,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    /// The template it came from (its name then); none for a task added by hand.
    pub template: Option<String>,
}

impl Task {
    pub fn is_done(&self) -> bool {
        self.done_at.is_some()
    }

    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.is_done() && self.due_at.is_some_and(|d| d < now)
    }
}

/// A task to add: its title, assignee and due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub title: String,
    pub assignee: Option<Assignee>,
    pub due_at: Option<DateTime<Utc>>,
    pub template: Option<String>,
}

/// The tasks the templates that apply to the incident add now: those of each template it has not had yet (a
/// template is applied once; a severity change applies those of the new severity), due from `now`.
pub fn from_templates(
    templates: &[TaskTemplate],
    incident: &Incident,
    applied: &[String],
    now: DateTime<Utc>,
) -> Vec<(String, Vec<NewTask>)> {
    templates
        .iter()
        .filter(|t| t.applies_to(incident) && !applied.iter().any(|a| a == t.key.as_str()))
        .map(|t| {
            let tasks = t
                .tasks
                .iter()
                .map(|item| NewTask {
                    title: item.title.clone(),
                    assignee: item.assignee.clone(),
                    due_at: item
                        .due_minutes
                        .map(|m| now + Duration::minutes(i64::from(m))),
                    template: Some(t.name.clone()),
                })
                .collect();
            (t.key.to_string(), tasks)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IncidentId;
    use chrono::TimeZone;

    fn template(key: &str, severities: Vec<Severity>) -> TaskTemplate {
        TaskTemplate::new(
            key.parse().unwrap(),
            TaskTemplateSpec {
                name: format!("{key} checklist"),
                severities,
                services: vec![],
                tasks: vec![
                    TemplateTask {
                        title: "Open a bridge".into(),
                        assignee: Some(Assignee::Role(crate::roles::COMMANDER.parse().unwrap())),
                        due_minutes: None,
                    },
                    TemplateTask {
                        title: "First customer update".into(),
                        assignee: None,
                        due_minutes: Some(15),
                    },
                ],
            },
        )
    }

    #[test]
    fn templates_apply_once_by_severity_with_due_times_from_now() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let (mut incident, _) = Incident::open(
            IncidentId::generate(),
            1,
            "x".into(),
            String::new(),
            Severity::Sev1,
            vec![],
            &Actor::system(),
            now,
        );
        let templates = vec![
            template("sev0", vec![Severity::Sev0]),
            template("all", vec![]),
        ];
        let added = from_templates(&templates, &incident, &[], now);
        assert_eq!(
            added.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["all"]
        );
        assert_eq!(
            added[0].1[1].due_at,
            Some(now + Duration::minutes(15)),
            "due from when it is applied"
        );
        incident.severity = Severity::Sev0;
        let later = from_templates(&templates, &incident, &["all".into()], now);
        assert_eq!(
            later.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["sev0"]
        );
    }

    #[test]
    fn template_specs_are_bounded_and_tasks_are_one_line() {
        let mut t = template("x", vec![]).spec();
        assert!(t.validate().is_ok());
        t.tasks[0].title = "two\nlines".into();
        t.tasks[1].due_minutes = Some(0);
        let errors = t.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["tasks[0].title", "tasks[1].due_minutes"]);
    }
}
