//! The HTTP edge: the REST API under `/api/v1`, PagerDuty-compatible ingest under `/v2`, and operations endpoints.
//!
//! Handlers authenticate, parse their input into typed values, call one `tocsin_app` use case and shape the
//! answer; they hold no domain rules and no side effects of their own. The OpenAPI document is generated from the handlers' annotations as the router is built, so every routed
//! endpoint is in it.

pub(crate) mod access;
pub mod accounts;
mod actions;
mod alertmanager_api;
mod audit;
pub(crate) mod automation;
mod catalog;
mod connection;
pub mod error;
pub(crate) mod extract;
mod incidents;
mod ingest;
mod noise;
pub(crate) mod oncall;
mod ops;
mod paging;
mod roles;
pub(crate) mod runbooks;
mod senders;
mod slack;
pub(crate) mod status_pages;
pub(crate) mod tasks;
pub(crate) mod updates;
mod warnings;

use crate::engine::Engine;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::{Arc, OnceLock};
use tocsin_app::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// PagerDuty's limit, applied to every endpoint.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

#[derive(Clone)]
pub struct AppState {
    /// The use cases; handlers call nothing else. Shared: every request's handler holds the state.
    pub app: Arc<App>,
    /// Base URL senders use, for integration URLs.
    pub public_url: Arc<str>,
    openapi: Arc<OnceLock<String>>,
    /// Runs cycles on demand.
    pub engine: Option<Arc<Engine>>,
    /// Signs and checks the action links in notifications.
    pub link_key: Arc<[u8]>,
    /// When this process started serving, for Alertmanager's status.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// How long a client has to send a request's whole body.
    pub body_read_timeout: std::time::Duration,
    /// Sends the emails that carry account links (invitations, resets), when `[notify.smtp]` is set.
    pub mailer: Option<Arc<dyn crate::notify::Transport>>,
    /// Single sign-on, when `[oidc]` is set.
    pub sso: Option<Arc<crate::sso::Sso>>,
    /// Slack's interactivity, when `[slack]` is set.
    pub slack: Option<Arc<crate::slack::Slack>>,
    /// The public documents rendered from each status page's snapshot.
    pub status_documents: Arc<status_pages::RenderedDocuments>,
}

impl AppState {
    pub fn new(app: App, public_url: String) -> Self {
        let started_at = app.now();
        Self {
            app: Arc::new(app),
            public_url: public_url.into(),
            openapi: Arc::default(),
            engine: None,
            status_documents: Arc::default(),
            link_key: Arc::from(Vec::new()),
            started_at,
            body_read_timeout: std::time::Duration::from_secs(30),
            mailer: None,
            sso: None,
            slack: None,
        }
    }

    pub fn with_engine(mut self, engine: Arc<Engine>, link_key: Vec<u8>) -> Self {
        self.engine = Some(engine);
        self.link_key = link_key.into();
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tocsin API", description = "Incident response: catalog, ingest, incidents."),
    modifiers(&BearerAuth),
    tags(
        (name = "catalog", description = "Teams, users, services and declarative catalog files"),
        (name = "integrations", description = "Sender keys per service"),
        (name = "ingest", description = "PagerDuty Events API v2 compatible endpoints"),
        (name = "incidents", description = "Incidents, their timeline and alerts"),
        (name = "noise", description = "Routing and suppression rules, silences and maintenance windows"),
        (name = "oncall", description = "On-call schedules, overrides, shifts and calendar feeds"),
        (name = "escalation", description = "Escalation policies, who is paged, escalating and reassigning incidents"),
        (name = "roles", description = "The roles of a response, who holds them in an incident, and who works it"),
        (name = "tasks", description = "Checklists: task templates per severity and service, and each incident's tasks"),
        (name = "runbooks", description = "Runbooks: Markdown documents with their versions, shown on the incidents they are for"),
        (name = "automation", description = "Runbook steps run for incidents (HTTP requests, allowed commands), their approvals, and the secrets they use"),
        (name = "updates", description = "Stakeholder updates on incidents, their cadence, and subscriptions to them"),
        (name = "status pages", description = "Status pages: their components, and Statuspage's public API for each"),
        (name = "slack", description = "Slack's buttons and slash command, and linking Slack users to people"),
        (name = "notifications", description = "Contact methods, notification rules, the notification log and action links"),
        (name = "tokens", description = "API tokens"),
        (name = "audit", description = "Who changed what, when and from where"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Work the HTTP layer does off the request path, until the returned task is aborted: flushing recent request
/// bodies to their integrations' rings once a second.
pub fn spawn_background(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    // One task, both loops polled in turn: aborting it stops both.
    tokio::spawn(async move {
        let payloads = async {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = state.app.ingest().flush_payloads().await {
                    tracing::warn!(error = %e, "Could not keep recent payloads; these samples are dropped.");
                }
            }
        };
        let status_pages = async {
            // Status pages change through other instances too: within half a second, every instance shows it.
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.app.refresh_status_pages().await;
            }
        };
        tokio::join!(payloads, status_pages);
    })
}

/// Writes what is still buffered, for a graceful stop.
pub async fn flush(state: &AppState) {
    if let Err(e) = state.app.ingest().flush_payloads().await {
        tracing::warn!(error = %e, "Could not keep recent payloads at shutdown.");
    }
}

/// The request path with the credentials some paths carry (integration keys, heartbeat keys, feed tokens,
/// action-link and account-link tokens) replaced, so that logs never hold a working secret. Query strings are left out entirely.
fn loggable_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    // The index of the secret segment for each path family: /ingest/<kind>/<key>/…, /heartbeat/<key>,
    // /calendar/<token>.ics, /act/<token>.
    let secret_at = match segments.get(1).copied() {
        Some("ingest") => Some(3),
        Some("heartbeat" | "calendar" | "act" | "account") => Some(2),
        _ => None,
    };
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if Some(i) == secret_at && !s.is_empty() {
                "{secret}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub use accounts::mail_account_link;

/// Builds the application: every route, its OpenAPI document and the shared middleware.
pub fn router(state: AppState) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(ingest::enqueue))
        .routes(routes!(ingest::change_enqueue))
        .routes(routes!(senders::alertmanager_webhook))
        .routes(routes!(senders::alertmanager_webhook_bearer))
        .routes(routes!(
            senders::prometheus_alerts,
            alertmanager_api::am_list_alerts
        ))
        .routes(routes!(
            senders::prometheus_alerts_bearer,
            alertmanager_api::am_list_alerts_bearer
        ))
        .routes(routes!(alertmanager_api::am_get_status))
        .routes(routes!(alertmanager_api::am_get_status_bearer))
        .routes(routes!(
            alertmanager_api::am_list_silences,
            alertmanager_api::am_create_silence
        ))
        .routes(routes!(
            alertmanager_api::am_list_silences_bearer,
            alertmanager_api::am_create_silence_bearer
        ))
        .routes(routes!(
            alertmanager_api::am_get_silence,
            alertmanager_api::am_expire_silence
        ))
        .routes(routes!(
            alertmanager_api::am_get_silence_bearer,
            alertmanager_api::am_expire_silence_bearer
        ))
        .routes(routes!(
            senders::grafana_webhook,
            senders::grafana_webhook_put
        ))
        .routes(routes!(
            senders::grafana_webhook_auth,
            senders::grafana_webhook_auth_put
        ))
        .routes(routes!(senders::generic_event))
        .routes(routes!(senders::generic_event_bearer))
        .routes(routes!(senders::opsgenie_create))
        .routes(routes!(senders::opsgenie_close))
        .routes(routes!(senders::opsgenie_acknowledge))
        .routes(routes!(senders::opsgenie_request_status))
        .routes(routes!(senders::opsgenie_update_message))
        .routes(routes!(senders::opsgenie_update_description))
        .routes(routes!(senders::opsgenie_update_priority))
        .routes(routes!(senders::opsgenie_get_alert))
        .routes(routes!(catalog::list_users, catalog::create_user))
        .routes(routes!(
            catalog::get_user,
            catalog::replace_user,
            catalog::delete_user
        ))
        .routes(routes!(catalog::list_teams, catalog::create_team))
        .routes(routes!(
            catalog::get_team,
            catalog::replace_team,
            catalog::delete_team
        ))
        .routes(routes!(catalog::list_services, catalog::create_service))
        .routes(routes!(
            catalog::get_service,
            catalog::replace_service,
            catalog::delete_service
        ))
        .routes(routes!(catalog::service_changes))
        .routes(routes!(catalog::export_catalog))
        .routes(routes!(catalog::apply_catalog))
        .routes(routes!(
            access::list_integrations,
            access::create_integration
        ))
        .routes(routes!(
            access::get_integration,
            access::update_integration,
            access::revoke_integration
        ))
        .routes(routes!(access::integration_payloads))
        .routes(routes!(catalog::set_user_role))
        .routes(routes!(accounts::invite))
        .routes(routes!(accounts::list_sessions))
        .routes(routes!(accounts::end_session))
        .routes(routes!(audit::list_audit))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(
            incidents::list_incidents,
            incidents::declare_incident
        ))
        .routes(routes!(incidents::get_incident, incidents::update_incident))
        .routes(routes!(incidents::list_severities))
        .routes(routes!(incidents::set_severity_level))
        .routes(routes!(incidents::acknowledge_incident))
        .routes(routes!(incidents::resolve_incident))
        .routes(routes!(incidents::merge_incident))
        .routes(routes!(incidents::timeline))
        .routes(routes!(incidents::recent_changes))
        .routes(routes!(incidents::add_note))
        .routes(routes!(incidents::incident_alerts))
        .routes(routes!(incidents::list_alerts))
        .routes(routes!(incidents::get_alert))
        .routes(routes!(incidents::alert_events))
        .routes(routes!(noise::list_rules, noise::create_rule))
        .routes(routes!(
            noise::get_rule,
            noise::replace_rule,
            noise::delete_rule
        ))
        .routes(routes!(noise::list_silences, noise::create_silence))
        .routes(routes!(noise::get_silence, noise::expire_silence))
        .routes(routes!(noise::extend_silence))
        .routes(routes!(noise::list_maintenance, noise::create_maintenance))
        .routes(routes!(noise::get_maintenance, noise::delete_maintenance))
        .routes(routes!(paging::list_policies, paging::create_policy))
        .routes(routes!(
            paging::get_policy,
            paging::replace_policy,
            paging::delete_policy
        ))
        .routes(routes!(paging::get_policy_on_call))
        .routes(routes!(
            paging::get_service_policy,
            paging::set_service_policy
        ))
        .routes(routes!(paging::get_service_on_call))
        .routes(routes!(
            paging::get_paging_settings,
            paging::set_paging_settings
        ))
        .routes(routes!(paging::doctor))
        .routes(routes!(paging::get_incident_escalation))
        .routes(routes!(paging::escalate_incident))
        .routes(routes!(paging::reassign_incident))
        .routes(routes!(paging::add_responders, roles::list_responders))
        .routes(routes!(roles::join_response))
        .routes(routes!(roles::leave_response))
        .routes(routes!(roles::list_roles))
        .routes(routes!(roles::put_role, roles::delete_role))
        .routes(routes!(roles::incident_roles))
        .routes(routes!(roles::assign_role))
        .routes(routes!(roles::release_role))
        .routes(routes!(tasks::list_templates))
        .routes(routes!(tasks::put_template, tasks::delete_template))
        .routes(routes!(tasks::list_tasks, tasks::add_task))
        .routes(routes!(tasks::task_done))
        .routes(routes!(tasks::task_undone))
        .routes(routes!(runbooks::list_runbooks))
        .routes(routes!(
            runbooks::get_runbook,
            runbooks::put_runbook,
            runbooks::delete_runbook
        ))
        .routes(routes!(runbooks::runbook_versions))
        .routes(routes!(runbooks::incident_runbooks))
        .routes(routes!(automation::list_runs, automation::start_run))
        .routes(routes!(automation::get_run))
        .routes(routes!(automation::approve_run))
        .routes(routes!(automation::decline_run))
        .routes(routes!(automation::retry_run))
        .routes(routes!(automation::list_secrets))
        .routes(routes!(automation::put_secret, automation::delete_secret))
        .routes(routes!(updates::list_updates, updates::post_update))
        .routes(routes!(updates::list_subscriptions, updates::subscribe))
        .routes(routes!(updates::unsubscribe))
        .routes(routes!(
            paging::get_status_updates,
            paging::set_status_updates
        ))
        .routes(routes!(paging::incident_notifications))
        .routes(routes!(paging::user_notifications))
        .routes(routes!(paging::get_notification))
        .routes(routes!(
            paging::list_contact_methods,
            paging::create_contact_method
        ))
        .routes(routes!(
            paging::get_contact_method,
            paging::replace_contact_method,
            paging::delete_contact_method
        ))
        .routes(routes!(paging::test_contact_method))
        .routes(routes!(
            paging::list_notification_rules,
            paging::create_notification_rule
        ))
        .routes(routes!(paging::delete_notification_rule))
        .routes(routes!(paging::run_engine_cycle))
        .routes(routes!(paging::heartbeat_get, paging::heartbeat_post))
        .routes(routes!(actions::confirm, actions::act))
        .routes(routes!(slack::interactivity))
        .routes(routes!(slack::command))
        .routes(routes!(slack::create_link_code))
        .routes(routes!(slack::list_slack_accounts))
        .routes(routes!(slack::unlink_slack_account))
        .routes(routes!(status_pages::list_status_pages))
        .routes(routes!(
            status_pages::get_status_page,
            status_pages::put_status_page,
            status_pages::delete_status_page
        ))
        .routes(routes!(status_pages::create_component))
        .routes(routes!(
            status_pages::replace_component,
            status_pages::delete_component
        ))
        .routes(routes!(status_pages::summary))
        .routes(routes!(status_pages::status))
        .routes(routes!(status_pages::components))
        .routes(routes!(status_pages::incidents))
        .routes(routes!(status_pages::unresolved))
        .routes(routes!(status_pages::maintenances))
        .routes(routes!(status_pages::upcoming_maintenances))
        .routes(routes!(status_pages::active_maintenances))
        .routes(routes!(status_pages::history_atom))
        .routes(routes!(status_pages::history_rss))
        .routes(routes!(status_pages::page_badge))
        .routes(routes!(status_pages::component_badge))
        .routes(routes!(
            status_pages::list_public_incidents,
            status_pages::publish_incident
        ))
        .routes(routes!(status_pages::update_public_incident))
        .routes(routes!(oncall::list_schedules, oncall::create_schedule))
        .routes(routes!(
            oncall::get_schedule,
            oncall::replace_schedule,
            oncall::delete_schedule
        ))
        .routes(routes!(oncall::add_override))
        .routes(routes!(oncall::delete_override))
        .routes(routes!(oncall::who_is_on_call))
        .routes(routes!(oncall::shifts))
        .routes(routes!(oncall::create_schedule_feed))
        .routes(routes!(oncall::create_user_feed))
        .routes(routes!(oncall::list_feeds))
        .routes(routes!(oncall::revoke_feed))
        .routes(routes!(oncall::calendar_feed))
        .split_for_parts();
    let _ = state.openapi.set(
        doc.to_pretty_json()
            .expect("the OpenAPI document serializes"),
    );
    router
        .merge(crate::web::routes())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.body_read_timeout,
        ))
        .layer(axum::middleware::from_fn(
            connection::close_when_body_unread,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            ops::panic_response,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %req.method(),
                        path = %loggable_path(req.uri().path()),
                    )
                },
            ),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn paths_that_carry_credentials_are_logged_without_them() {
        assert_eq!(
            loggable_path("/ingest/alertmanager/0123abcd"),
            "/ingest/alertmanager/{secret}"
        );
        assert_eq!(
            loggable_path("/ingest/prometheus/0123abcd/api/v2/alerts"),
            "/ingest/prometheus/{secret}/api/v2/alerts"
        );
        assert_eq!(loggable_path("/heartbeat/k"), "/heartbeat/{secret}");
        assert_eq!(loggable_path("/calendar/t.ics"), "/calendar/{secret}");
        assert_eq!(loggable_path("/act/token"), "/act/{secret}");
        assert_eq!(loggable_path("/account/token"), "/account/{secret}");
        assert_eq!(
            loggable_path("/api/v1/incidents/42"),
            "/api/v1/incidents/42"
        );
        assert_eq!(loggable_path("/ingest/generic"), "/ingest/generic");
    }
}
