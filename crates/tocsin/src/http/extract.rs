//! Request extractors: authentication and JSON bodies that fail with the API's own error codes.

use super::AppState;
use super::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tocsin_app::Principal;
use tocsin_domain::auth::Need;
use tocsin_domain::refs::IncidentRef;

/// An authenticated caller. Extract it first in a handler so that unauthenticated requests are refused before
/// anything else happens; use cases check its scope.
pub struct Caller(pub Principal);

impl std::ops::Deref for Caller {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl Caller {
    /// For what a handler does without a use case (running the engine on demand).
    pub fn require(&self, need: Need<'_>) -> Result<(), ApiError> {
        Ok(self.0.require(need)?)
    }
}

/// The address a request came from, for what records it without a `Caller`.
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer_address(parts)))
    }
}

/// The address a request came from: the connection's peer.
pub fn peer_address(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticated(parts, state, Need::Respond).await
    }
}

/// A caller whose changes need no more than reading: what anyone may change of their own, such as hearing of a
/// service's updates as a stakeholder. The use case still checks exactly.
pub struct Stakeholder(pub Caller);

impl std::ops::Deref for Stakeholder {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0.0
    }
}

impl FromRequestParts<AppState> for Stakeholder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Stakeholder(authenticated(parts, state, Need::Read).await?))
    }
}

/// Whoever asks, if they show a token or a signed-in browser; nobody otherwise, or when what they show does not
/// hold. Never refuses: a public status page answers everyone, and more to people of the organisation.
pub struct MaybeCaller(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        let shows_something = parts.headers.contains_key(header::AUTHORIZATION)
            || cookie(parts, session_cookie_name(&state.public_url)).is_some();
        if !shows_something {
            return Ok(Self(None));
        }
        Ok(Self(
            authenticated(parts, state, Need::Read)
                .await
                .ok()
                .map(|c| c.0),
        ))
    }
}

/// The principal of a token or a browser's session; a change needs at least `least_for_changes`.
async fn authenticated(
    parts: &Parts,
    state: &AppState,
    least_for_changes: Need<'static>,
) -> Result<Caller, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        if let Some(token) = cookie(parts, session_cookie_name(&state.public_url)) {
            return signed_in(parts, state, token, least_for_changes).await;
        }
        return Err(ApiError::new(
            ErrorCode::MissingToken,
            "send an API token as `Authorization: Bearer <token>`",
        ));
    };
    let token = value
        .to_str()
        .ok()
        // The scheme is case-insensitive (RFC 7235): `BEARER x` is as good as `Bearer x`.
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingToken,
                "the Authorization header must be `Bearer <token>`",
            )
        })?;
    let Some(principal) = state.app.authenticate(token).await? else {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the token is unknown, revoked or expired",
        ));
    };
    let principal = principal.from_address(peer_address(parts));
    // Every change needs at least the responder role (but a stakeholder's own); refusing an observer here,
    // before its body is parsed, answers 403 rather than a 400 about a body it was never allowed to send. Use
    // cases still check exactly.
    if !parts.method.is_safe() {
        principal.require(least_for_changes)?;
    }
    Ok(Caller(principal))
}

/// The cookie that carries a browser's session.
pub const SESSION_COOKIE: &str = "tocsin_session";

/// The session cookie's name: behind https, with the `__Host-` prefix, which browsers accept only from this host
/// over https and for the whole site, so a sibling subdomain cannot plant a session of its choosing.
pub fn session_cookie_name(public_url: &str) -> &'static str {
    if public_url.starts_with("https://") {
        "__Host-tocsin_session"
    } else {
        SESSION_COOKIE
    }
}

/// The value of the request's cookie `name`.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether a request that changes something came from Tocsin's own pages. A browser says where a request comes
/// from (`Sec-Fetch-Site`, or `Origin` in older ones), and a page on another site cannot make it say otherwise;
/// a client that says nothing is no browser, and cannot be carrying a victim's cookie.
pub fn from_own_origin(parts: &Parts, public_url: &str) -> bool {
    if let Some(site) = parts.headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return true;
    };
    let public = url::Url::parse(public_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| [format!("http://{h}"), format!("https://{h}")]);
    public.as_deref() == Some(origin) || host.is_some_and(|h| h.iter().any(|h| h == origin))
}

/// The principal of a browser's session, refusing a change that another site's page sent.
async fn signed_in(
    parts: &Parts,
    state: &AppState,
    token: &str,
    least_for_changes: Need<'static>,
) -> Result<Caller, ApiError> {
    let Some((principal, ..)) = state
        .app
        .accounts()
        .session(token, peer_address(parts))
        .await?
    else {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the session ended; sign in again",
        ));
    };
    if !parts.method.is_safe() {
        if !from_own_origin(parts, &state.public_url) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "a change made with a browser's session must come from Tocsin's own pages",
            ));
        }
        principal.require(least_for_changes)?;
    }
    Ok(Caller(principal))
}

/// A JSON body: refused with 413 over the size limit, 415 if it is declared as something else, 400 naming the
/// field when it does not fit.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE)
            && !ct
                .to_str()
                .unwrap_or("")
                .to_ascii_lowercase()
                .contains("json")
        {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A sender's body. Every sender Tocsin speaks for (PagerDuty, Alertmanager, Prometheus, Grafana, Opsgenie and
/// their clients) declares its JSON as such, so a body declared as anything else, or not declared at all, is
/// refused with 415 before it is read.
pub async fn sender_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|ct| ct.to_str().unwrap_or("").to_ascii_lowercase());
    let headers = req.headers();
    let has_body = match headers.get(header::CONTENT_LENGTH) {
        Some(length) => length.as_bytes() != b"0",
        // HTTP/1.1 without a length or chunked encoding has no body; HTTP/2 says so at the stream's end.
        None => {
            headers.contains_key(header::TRANSFER_ENCODING)
                || (req.version() >= axum::http::Version::HTTP_2
                    && !http_body::Body::is_end_stream(req.body()))
        }
    };
    let json = declared.as_deref().is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim();
        essence == "application/json" || essence.ends_with("+json")
    });
    if has_body && !json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "send the body as JSON with Content-Type: application/json (it came as {})",
                declared.as_deref().unwrap_or("no Content-Type")
            ),
        ));
    }
    body_bytes(req, state).await
}

pub async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("could not read the request body: {e}"),
            )
        }
    })
}

pub fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "the body is larger than {} KB",
            super::MAX_BODY_BYTES / 1024
        ),
    )
}

/// An ID from the path, parsed as its type; anything of another shape cannot name an existing entry, so it is
/// answered like an unknown ID.
pub fn path_id<T>(raw: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, ApiError> {
    parse(raw).ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no {what} {raw:?}")))
}

/// An incident named in a path, by ID or number; anything else names no incident.
pub fn incident_ref(raw: &str) -> Result<IncidentRef, ApiError> {
    IncidentRef::parse(raw)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no incident {raw:?}")))
}

pub use tocsin_domain::refs::{PolicyRef, ScheduleRef, ServiceRef, TeamRef, UserRef};

/// What create endpoints answer: 201 and the created entry.
pub type Created<T> = (axum::http::StatusCode, axum::Json<T>);

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_escaped_nul(bytes) {
        // No database column takes NUL (PostgreSQL refuses it), and no person means one in what they type.
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "strings must not contain the NUL character (\\u0000)",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::new(
                ErrorCode::InvalidRequest,
                strip_position(&inner.to_string()),
            )
        } else {
            ApiError::field(path, strip_position(&inner.to_string()))
        }
    })
}

/// Whether JSON text holds a NUL: the only way to write one is the escape `\u0000` (a raw NUL byte is not
/// valid JSON), whose backslash is itself unescaped when an odd number of backslashes precede the `u`.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    bytes
        .windows(5)
        .enumerate()
        .filter(|(_, w)| *w == b"u0000")
        .any(|(at, _)| {
            bytes[..at]
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count()
                % 2
                == 1
        })
}

/// serde's messages end in "at line 1 column 42", which means nothing once the field is named.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// A query string, refused with the API's error body when it does not fit.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("query string: {}", e.body_text()),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escaped_nul_is_refused_and_an_escaped_backslash_before_u0000_is_not() {
        assert!(has_escaped_nul(br#"{"name": "a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"name": "a\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"name": "a\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"name": "u0000"}"#));
        assert!(parse_json::<serde_json::Value>(br#"{"name": "a\u0000b"}"#).is_err());
        assert!(parse_json::<serde_json::Value>(br#"{"name": "a\\u0000b"}"#).is_ok());
    }
}
