//! The web UI: pages rendered on the server from compile-time-checked templates that escape everything they
//! insert, working as plain links and forms, with a small script that keeps times relative and live regions fresh.
//!
//! Pages call the same use cases as the JSON API, as the signed-in person. A page that changes something is a
//! form POST, refused unless the browser says it came from Tocsin's own pages; the session cookie is `HttpOnly`,
//! `SameSite=Lax`, and `Secure` whenever the public URL is https.

mod admin;
mod assets;
mod catalog;
mod editors;
mod forms;
mod incident;
pub mod links;
pub mod markdown;
mod noise;
mod oncall;
mod pages;
mod profile;
mod response;
mod runbooks;
mod services;
mod severities;
pub(crate) mod status;
mod status_setup;

use crate::http::AppState;
use crate::http::extract::{cookie, from_own_origin, peer_address, session_cookie_name};
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tocsin_app::Principal;
use tocsin_domain::catalog::User;
use tocsin_store::SessionRecord;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/login/sso", get(pages::sso_begin))
        .route("/login/sso/callback", get(pages::sso_finish))
        .route("/forgot", get(pages::forgot_form).post(pages::forgot))
        .route(
            "/account/{token}",
            get(pages::account_form).post(pages::account),
        )
        .route("/incidents", get(pages::incidents).post(pages::declare))
        .route("/incidents/{number}", get(incident::incident))
        .route("/incidents/{number}/timeline", get(incident::timeline))
        .route(
            "/incidents/{number}/{action}",
            post(incident::incident_action),
        )
        .route("/status/{page}", get(status::page))
        .route(
            "/status-pages",
            get(status_setup::pages).post(status_setup::create),
        )
        .route("/status-pages/{page}", get(status_setup::setup))
        .route(
            "/status-pages/{page}/components",
            post(status_setup::add_component),
        )
        .route(
            "/status-pages/{page}/components/{id}/status",
            post(status_setup::set_status),
        )
        .route(
            "/status-pages/{page}/components/{id}/delete",
            post(status_setup::delete_component),
        )
        .route("/profile", get(profile::profile))
        .route("/profile/time-zone", post(profile::set_time_zone))
        .route("/profile/methods", post(profile::add_method))
        .route("/profile/methods/{id}", post(profile::edit_method))
        .route("/profile/status-updates", post(profile::set_status_updates))
        .route("/profile/methods/{id}/test", post(profile::test_method))
        .route("/profile/methods/{id}/delete", post(profile::delete_method))
        .route("/profile/rules", post(profile::add_rule))
        .route("/profile/rules/{id}/delete", post(profile::delete_rule))
        .route("/profile/sessions/{id}/end", post(profile::end_session))
        .route("/profile/password", post(profile::change_password))
        .route("/profile/feed", post(profile::create_feed))
        .route("/profile/slack/code", post(profile::create_slack_code))
        .route(
            "/profile/slack/{team_id}/{user_id}/unlink",
            post(profile::unlink_slack),
        )
        .route("/severities", get(severities::severities))
        .route("/severities/{severity}", post(severities::update))
        .route("/response", get(response::response))
        .route("/response/roles", post(response::create_role))
        .route(
            "/response/roles/{key}/{action}",
            post(response::role_action),
        )
        .route("/response/checklists", post(response::save_template))
        .route(
            "/response/checklists/{key}/delete",
            post(response::delete_template),
        )
        .route("/runbooks", get(runbooks::runbooks).post(runbooks::create))
        .route(
            "/runbooks/{key}",
            get(runbooks::runbook).post(runbooks::update),
        )
        .route("/runbooks/{key}/delete", post(runbooks::delete))
        .route(
            "/secrets",
            get(runbooks::secrets).post(runbooks::set_secret),
        )
        .route("/secrets/{name}/delete", post(runbooks::delete_secret))
        .route("/alerts", get(noise::alerts))
        .route("/catalog", get(catalog::catalog).post(catalog::apply))
        .route("/catalog.yaml", get(catalog::export))
        .route("/services", get(services::services).post(services::create))
        .route(
            "/services/{name}",
            get(services::service).post(services::update),
        )
        .route("/services/{name}/delete", post(services::delete))
        .route("/services/{name}/policy", post(services::set_policy))
        .route("/services/{name}/{action}", post(services::subscription))
        .route(
            "/services/{name}/integrations",
            post(services::add_integration),
        )
        .route(
            "/services/{name}/integrations/{id}",
            post(services::configure_integration),
        )
        .route(
            "/services/{name}/integrations/{id}/revoke",
            post(services::revoke_integration),
        )
        .route(
            "/schedules",
            get(oncall::schedules).post(editors::create_schedule),
        )
        .route("/schedules/new", get(editors::new_schedule))
        .route(
            "/schedules/{name}",
            get(oncall::schedule).post(editors::update_schedule),
        )
        .route("/schedules/{name}/edit", get(editors::edit_schedule))
        .route("/schedules/{name}/delete", post(editors::delete_schedule))
        .route("/schedules/{name}/overrides", post(oncall::add_override))
        .route("/schedules/{name}/feed", post(oncall::schedule_feed))
        .route("/feeds/{id}/revoke", post(oncall::revoke_feed))
        .route(
            "/schedules/{name}/overrides/{id}/delete",
            post(oncall::delete_override),
        )
        .route(
            "/policies",
            get(oncall::policies).post(editors::create_policy),
        )
        .route("/policies/new", get(editors::new_policy))
        .route(
            "/policies/{name}",
            get(oncall::policy).post(editors::update_policy),
        )
        .route("/policies/{name}/edit", get(editors::edit_policy))
        .route("/policies/{name}/delete", post(editors::delete_policy))
        .route("/noise", get(noise::noise))
        .route("/noise/rules", post(noise::create_rule))
        .route("/noise/rules/{id}", post(noise::update_rule))
        .route("/noise/rules/{id}/delete", post(noise::delete_rule))
        .route("/noise/silences/{id}/extend", post(noise::extend_silence))
        .route("/noise/silences", post(noise::create_silence))
        .route("/noise/silences/{id}/expire", post(noise::expire_silence))
        .route("/noise/maintenance", post(noise::create_maintenance))
        .route(
            "/noise/maintenance/{id}/delete",
            post(noise::delete_maintenance),
        )
        .route("/admin", get(admin::admin))
        .route("/admin/people", post(admin::add_person))
        .route("/admin/people/{user}", post(admin::update_person))
        .route("/admin/people/{user}/delete", post(admin::delete_person))
        .route("/admin/people/{user}/role", post(admin::set_role))
        .route("/admin/teams", post(admin::create_team))
        .route("/admin/teams/{team}", post(admin::update_team))
        .route("/admin/teams/{team}/delete", post(admin::delete_team))
        .route("/admin/paging", post(admin::set_fallback))
        .route("/admin/people/{user}/invite", post(admin::invite))
        .route("/admin/people/{user}/sessions", get(admin::person_sessions))
        .route(
            "/admin/people/{user}/sessions/{id}/end",
            post(admin::end_person_session),
        )
        .route("/admin/tokens", post(admin::create_token))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/admin/audit", get(admin::audit))
        .route("/assets/{file}", get(assets::serve))
        // Pages and assets travel compressed to browsers that ask: a phone on a weak signal at 3 a.m. waits for
        // every byte.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// A page's path for a named thing: `/services/Payments%20API`. Names may hold spaces and slashes, which must
/// neither split the path nor turn into `+` (a path is not a query string).
pub fn named_path(kind: &str, name: &str) -> String {
    /// Everything but the characters RFC 3986 leaves unreserved.
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "/{kind}/{}",
        percent_encoding::utf8_percent_encode(name, SEGMENT)
    )
}

/// What every page's frame shows: who is signed in, and where they are.
pub struct Chrome {
    pub me: Option<String>,
    /// Whether to show the administration link.
    pub admin: bool,
    pub nav: &'static str,
    pub css: &'static str,
    pub js: &'static str,
}

impl Default for Chrome {
    fn default() -> Self {
        Self::new(None, "")
    }
}

impl Chrome {
    fn new(me: Option<&User>, nav: &'static str) -> Self {
        Self {
            me: me.map(|u| u.name.to_string()),
            admin: false,
            nav,
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }
}

/// A time as people read it: relative, with the absolute time in their own zone on hover.
pub struct When {
    pub iso: String,
    pub local: String,
    pub relative: String,
}

impl When {
    fn new(t: DateTime<Utc>, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Self {
        Self {
            iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            local: t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
            relative: relative(t, now),
        }
    }
}

fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - t).num_seconds();
    let s = seconds.abs();
    // Whole units passed, as people count them: 59 minutes is not yet an hour.
    let text = match s {
        0..45 => return "just now".into(),
        45..3600 => format!("{} min", (s / 60).max(1)),
        3600..86400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    };
    if seconds < 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// The signed-in person a page is for. Without a session, a page redirects to the sign-in form and back.
pub struct Viewer {
    pub who: Principal,
    pub user: User,
    pub session: SessionRecord,
    pub tz: chrono_tz::Tz,
}

impl Viewer {
    fn chrome(&self, nav: &'static str) -> Chrome {
        Chrome {
            admin: self.who.grant.allows(&tocsin_domain::auth::Need::Configure),
            ..Chrome::new(Some(&self.user), nav)
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || {
            // After signing in the browser GETs `next`; for a form that was posted, that is the page it was on.
            let next = if parts.method.is_safe() {
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
            } else {
                parts
                    .uri
                    .path()
                    .rsplit_once('/')
                    .map(|(parent, _)| parent)
                    .filter(|p| !p.is_empty())
                    .unwrap_or("/")
            };
            let target = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            Redirect::to(&target).into_response()
        };
        let Some(token) = cookie(parts, session_cookie_name(&state.public_url)) else {
            return Err(to_login());
        };
        let found = state
            .app
            .accounts()
            .session(token, peer_address(parts))
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        let Some((who, session, user)) = found else {
            return Err(to_login());
        };
        if !parts.method.is_safe() && !from_own_origin(parts, &state.public_url) {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This request came from another site",
                "Tocsin only accepts changes made from its own pages. Open Tocsin and try again there.",
            )
            .into_response());
        }
        let tz = user.time_zone.as_str().parse().unwrap_or(chrono_tz::UTC);
        Ok(Self {
            who,
            user,
            session,
            tz,
        })
    }
}

/// The headers every page carries: no inline script may run, nothing may frame it, and nothing personal is
/// cached.
fn secure(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => secure((status, Html(html)).into_response()),
        Err(e) => PageError::internal(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
}

/// A page that could not be shown, as a page saying why.
#[derive(Debug)]
pub struct PageError {
    pub(super) status: StatusCode,
    title: String,
    pub(super) message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &str, message: &str) -> Self {
        Self {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    pub(super) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "A page failed.");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server log has the details. Try again in a moment.",
        )
    }
}

impl From<tocsin_app::Error> for PageError {
    fn from(e: tocsin_app::Error) -> Self {
        Self::from_api(crate::http::error::ApiError::from(e).0)
    }
}

impl From<crate::http::error::ApiError> for PageError {
    fn from(e: crate::http::error::ApiError) -> Self {
        Self::from_api(e.0)
    }
}

impl PageError {
    fn from_api(e: crate::http::error::ErrorBody) -> Self {
        let status = e.code.status();
        if status.is_server_error() {
            return Self::new(status, "Something went wrong", &e.message);
        }
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::CONFLICT => "That cannot be done now",
            _ => "That did not work",
        };
        Self::new(status, title, &e.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        render(
            self.status,
            &MessagePage {
                chrome: Chrome::new(None, ""),
                title: &self.title,
                message: &self.message,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn times_read_as_people_say_them() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        assert_eq!(relative(now - Duration::seconds(10), now), "just now");
        assert_eq!(relative(now - Duration::minutes(12), now), "12 min ago");
        assert_eq!(relative(now - Duration::hours(3), now), "3 h ago");
        assert_eq!(relative(now + Duration::minutes(5), now), "in 5 min");
        assert_eq!(relative(now - Duration::days(2), now), "2 d ago");
        assert_eq!(relative(now - Duration::seconds(3599), now), "59 min ago");
        assert_eq!(relative(now - Duration::seconds(86399), now), "23 h ago");
        let w = When::new(now, chrono_tz::Europe::Berlin, now);
        assert_eq!(
            (w.iso.as_str(), w.local.as_str()),
            ("2026-11-30T12:00:00Z", "2026-11-30 13:00 CET")
        );
    }
}
