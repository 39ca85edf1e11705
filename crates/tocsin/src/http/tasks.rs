//! Checklists: task templates per severity and service, and each incident's tasks.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::{Caller, Created, Json, incident_ref, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tocsin_domain::refs::Key;
use tocsin_domain::tasks::{Task, TaskTemplate, TaskTemplateSpec};
use tocsin_store::TaskAssignee;

/// The checklists applied to incidents of some severities or services when one opens or its severity changes.
#[utoipa::path(get, path = "/api/v1/task-templates", tag = "tasks", security(("bearer" = [])),
    responses((status = 200, body = Items<TaskTemplate>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_templates(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<TaskTemplate>>> {
    Ok(axum::Json(Items {
        items: s.app.tasks().templates(&caller).await?,
    }))
}

/// Creates or replaces a checklist template: its severities and services (empty for all), and its tasks, each
/// with an assignee (a user ID or a role's key) and minutes until it is due. Admins only.
#[utoipa::path(put, path = "/api/v1/task-templates/{template}", tag = "tasks", security(("bearer" = [])),
    request_body = TaskTemplateSpec,
    params(("template" = String, Path, description = "The template's key: lowercase letters, digits and dashes")),
    responses((status = 200, body = TaskTemplate), (status = "4XX", body = ErrorResponse)))]
pub async fn put_template(
    caller: Caller,
    State(s): State<AppState>,
    Path(template): Path<String>,
    Json(spec): Json<TaskTemplateSpec>,
) -> ApiResult<axum::Json<TaskTemplate>> {
    let key = template
        .parse::<Key>()
        .map_err(|m| ApiError::field("template", format!("the template's key {m}")))?;
    Ok(axum::Json(
        s.app.tasks().put_template(&caller, key, spec).await?,
    ))
}

/// Removes a template; tasks it added to incidents stay. Admins only.
#[utoipa::path(delete, path = "/api/v1/task-templates/{template}", tag = "tasks", security(("bearer" = [])),
    params(("template" = String, Path, description = "The template's key")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_template(
    caller: Caller,
    State(s): State<AppState>,
    Path(template): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .tasks()
        .delete_template(
            &caller,
            &path_id(&template, |r| r.parse().ok(), "task template")?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The incident's tasks, in order.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<Task>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_tasks(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<Task>>> {
    let items = s
        .app
        .tasks()
        .list(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(Items { items }))
}

/// A task added by hand.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskRequest {
    /// One line, at most 200 characters.
    pub title: String,
    /// A person (`{"type": "user", "id": "ana@example.com"}`) or a role (`{"type": "role", "id": "commander"}`).
    #[serde(default)]
    pub assignee: Option<TaskAssignee>,
    /// Due this many minutes from now.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10080)]
    pub due_in_minutes: Option<u32>,
}

/// Adds a task to the incident; it is on the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/tasks", tag = "tasks", security(("bearer" = [])),
    request_body = NewTaskRequest,
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 201, body = Task), (status = "4XX", body = ErrorResponse)))]
pub async fn add_task(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(body): Json<NewTaskRequest>,
) -> ApiResult<Created<Task>> {
    let task = s
        .app
        .tasks()
        .add(
            &caller,
            &incident_ref(&incident)?,
            body.title,
            body.assignee,
            body.due_in_minutes,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(task)))
}

/// Marks a task done.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/tasks/{task}/done", tag = "tasks", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number"),
           ("task" = u32, Path, description = "The task's number in the incident")),
    responses((status = 200, body = Task), (status = "4XX", body = ErrorResponse)))]
pub async fn task_done(
    caller: Caller,
    State(s): State<AppState>,
    Path((incident, task)): Path<(String, String)>,
) -> ApiResult<axum::Json<Task>> {
    let (incident, number) = (
        incident_ref(&incident)?,
        path_id(&task, |r| r.parse().ok(), "task")?,
    );
    Ok(axum::Json(
        s.app.tasks().mark(&caller, &incident, number, true).await?,
    ))
}

/// Marks a task done by mistake as not done.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/tasks/{task}/undone", tag = "tasks", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number"),
           ("task" = u32, Path, description = "The task's number in the incident")),
    responses((status = 200, body = Task), (status = "4XX", body = ErrorResponse)))]
pub async fn task_undone(
    caller: Caller,
    State(s): State<AppState>,
    Path((incident, task)): Path<(String, String)>,
) -> ApiResult<axum::Json<Task>> {
    let (incident, number) = (
        incident_ref(&incident)?,
        path_id(&task, |r| r.parse().ok(), "task")?,
    );
    Ok(axum::Json(
        s.app
            .tasks()
            .mark(&caller, &incident, number, false)
            .await?,
    ))
}
