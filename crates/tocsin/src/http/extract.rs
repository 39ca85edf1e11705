//! Request extractors: authentication and JSON bodies that fail with the API's own error codes.

use super::AppState;
use super::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tocsin_domain::auth::{Scope, hash_secret};
use tocsin_domain::incident::{Actor, ActorKind};
use tocsin_store::ApiToken;

/// An authenticated caller. Extract it first in a handler so that unauthenticated requests are refused before
/// anything else happens.
pub struct Caller(pub ApiToken);

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.scope.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::InsufficientScope,
                format!(
                    "this token has scope {}; this call needs {scope} (create a token with --scope {scope})",
                    self.0.scope
                ),
            ))
        }
    }

    /// Who the timeline credits: the token's user if it has one, else the token itself.
    pub fn actor(&self) -> Actor {
        match (&self.0.user_id, &self.0.user_name) {
            (Some(id), Some(name)) => Actor {
                kind: ActorKind::User,
                id: Some(id.to_string()),
                name: name.clone(),
            },
            _ => Actor {
                kind: ActorKind::Token,
                id: Some(self.0.id.to_string()),
                name: self.0.name.clone(),
            },
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(
                ErrorCode::MissingToken,
                "send an API token as `Authorization: Bearer <token>`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::MissingToken,
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        match state
            .store
            .tokens()
            .authenticate(&hash_secret(token), state.clock.now())
            .await?
        {
            Some(t) => Ok(Caller(t)),
            None => Err(ApiError::new(
                ErrorCode::InvalidToken,
                "the token is unknown, revoked or expired",
            )),
        }
    }
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

/// What create endpoints answer: 201 and the created entry.
pub type Created<T> = (axum::http::StatusCode, axum::Json<T>);

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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
