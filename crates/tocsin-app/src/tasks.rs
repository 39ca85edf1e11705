use crate::prelude::*;
use tocsin_domain::refs::Key;
use tocsin_domain::tasks::{MAX_DUE_MINUTES, Task, TaskTemplate, TaskTemplateSpec};

/// Use cases of checklists: task templates, and each incident's tasks.
pub struct Tasks<'a> {
    pub(crate) app: &'a App,
}

impl Tasks<'_> {
    pub async fn templates(&self, who: &Principal) -> Result<Vec<TaskTemplate>> {
        who.require(Need::Read)?;
        Ok(self.app.store.tasks().templates().await?)
    }

    /// Creates or replaces a template; configuration, so admins only.
    pub async fn put_template(
        &self,
        who: &Principal,
        key: Key,
        spec: TaskTemplateSpec,
    ) -> Result<TaskTemplate> {
        who.require(Need::Configure)?;
        let summary = json!({ "after": spec });
        Ok(self
            .app
            .audited(who, "task_template.put", &key, summary)
            .tasks()
            .put_template(key, spec)
            .await?)
    }

    pub async fn delete_template(&self, who: &Principal, key: &Key) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "task_template.delete", key, json!({}))
            .tasks()
            .delete_template(key)
            .await?)
    }

    pub async fn list(&self, who: &Principal, incident: &IncidentRef) -> Result<Vec<Task>> {
        who.require(Need::Read)?;
        Ok(self.app.store.tasks().tasks(incident).await?)
    }

    /// Adds a task by hand, due `due_in_minutes` from now if given.
    pub async fn add(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        title: String,
        assignee: Option<TaskAssignee>,
        due_in_minutes: Option<u32>,
    ) -> Result<Task> {
        who.require(Need::Respond)?;
        if let Some(m) = due_in_minutes
            && (m == 0 || m > MAX_DUE_MINUTES)
        {
            return Err(StoreError::Invalid(
                tocsin_domain::FieldError::new(
                    "due_in_minutes",
                    format!("must be 1 to {MAX_DUE_MINUTES} minutes, or left out"),
                )
                .into(),
            )
            .into());
        }
        let now = self.app.now();
        let due_at = due_in_minutes.map(|m| now + chrono::Duration::minutes(i64::from(m)));
        let summary =
            json!({ "after": { "title": title, "assignee": assignee, "due_at": due_at } });
        Ok(self
            .app
            .audited(who, "incident.add_task", incident, summary)
            .tasks()
            .add_task(incident, title, assignee, due_at, who.actor(), now)
            .await?)
    }

    /// Marks a task done, or not done again.
    pub async fn mark(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        number: u32,
        done: bool,
    ) -> Result<Task> {
        who.require(Need::Respond)?;
        let action = if done {
            "incident.task_done"
        } else {
            "incident.task_reopened"
        };
        Ok(self
            .app
            .audited(
                who,
                action,
                incident,
                json!({ "after": { "task": number } }),
            )
            .tasks()
            .mark_task(incident, number, done, who.actor(), self.app.now())
            .await?)
    }
}
