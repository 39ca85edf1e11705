//! The one table of API error codes. Every refusal is `{"error": {"code", "message", "field"?, "details"?}}` with a
//! stable `code`; 4xx messages say what to fix, 5xx messages say nothing internal (the detail goes to the log).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tocsin_domain::{FieldError, ValidationErrors};
use tocsin_store::{Conflict, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MissingToken,
    InvalidToken,
    /// A sign-in whose email and password do not match an account.
    InvalidCredentials,
    /// A request that must be signed (Slack's) whose signature is missing, wrong, or from more than 5 minutes ago.
    InvalidSignature,
    /// A signed request received before, sent again.
    ReplayedRequest,
    /// The principal's role does not allow the call; the message says what it needs.
    Forbidden,
    InvalidRequest,
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    /// Another entry already has the name (or email).
    NameTaken,
    /// Other entries refer to this one; the message names them.
    InUse,
    /// An escalation policy still escalates open incidents.
    StillEscalating,
    /// The incident has no escalation policy to escalate through.
    NoEscalationPolicy,
    InvalidTransition,
    /// The entry changed since the version the change was made to.
    ChangedSince,
    /// The runbook step has a run for the incident already, awaiting approval, queued or running.
    AlreadyRunning,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidCredentials
            | Self::InvalidSignature
            | Self::ReplayedRequest => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::InvalidRequest | Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NameTaken
            | Self::InUse
            | Self::StillEscalating
            | Self::NoEscalationPolicy
            | Self::InvalidTransition
            | Self::ChangedSince
            | Self::AlreadyRunning => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// The offending field, when one field is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<FieldError>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Clone)]
pub struct ApiError(pub ErrorBody);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody {
            code,
            message: message.into(),
            field: None,
            details: vec![],
        })
    }
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self(ErrorBody {
            code: ErrorCode::InvalidRequest,
            message: format!("{field}: {message}"),
            field: Some(field),
            details: vec![],
        })
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "Request failed.");
        Self::new(
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        let field = (e.0.len() == 1).then(|| e.0[0].field.clone());
        Self(ErrorBody {
            code: ErrorCode::InvalidRequest,
            message: e.to_string(),
            field,
            details: e.0,
        })
    }
}

impl From<tocsin_app::Error> for ApiError {
    fn from(e: tocsin_app::Error) -> Self {
        match e {
            tocsin_app::Error::Forbidden { role, needs } => Self::new(
                ErrorCode::Forbidden,
                format!("you hold the {role} role; this needs {needs}"),
            ),
            tocsin_app::Error::BadCredentials => Self::new(
                ErrorCode::InvalidCredentials,
                "the email or the password is wrong",
            ),
            tocsin_app::Error::TooManyAttempts { retry_after } => Self::new(
                ErrorCode::RateLimited,
                format!(
                    "too many failed sign-ins for this account or from this address; try again in {} minutes",
                    retry_after.num_minutes()
                ),
            ),
            tocsin_app::Error::UnknownPerson { email } => Self::new(
                ErrorCode::Forbidden,
                format!("no one in Tocsin has the email {email}; an admin can add you"),
            ),
            tocsin_app::Error::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, key } => {
                Self::new(ErrorCode::NotFound, format!("no {kind} {key:?}"))
            }
            StoreError::Conflict(c) => {
                let code = match c {
                    Conflict::NameTaken { .. } => ErrorCode::NameTaken,
                    Conflict::InUse { .. }
                    | Conflict::LastAdmin
                    | Conflict::LastOwner { .. }
                    | Conflict::AlreadySetUp
                    | Conflict::AlreadySignedUp { .. } => ErrorCode::InUse,
                    Conflict::StillEscalating { .. } => ErrorCode::StillEscalating,
                    Conflict::NoPolicy { .. } | Conflict::HandedToPeople { .. } => {
                        ErrorCode::NoEscalationPolicy
                    }
                    Conflict::Changed { .. } => ErrorCode::ChangedSince,
                    Conflict::RunActive { .. } => ErrorCode::AlreadyRunning,
                };
                let mut error = Self::new(code, c.to_string());
                // People are told apart by email; everything else by name.
                if let Conflict::NameTaken { kind, .. } = c {
                    error.0.field = Some(
                        match kind {
                            "user" => "email",
                            "runbook" => "key",
                            _ => "name",
                        }
                        .into(),
                    );
                }
                error
            }
            StoreError::Invalid(v) => v.into(),
            StoreError::Transition(t) => Self::new(ErrorCode::InvalidTransition, t.to_string()),
            StoreError::UnknownRoutingKey | StoreError::WrongIntegrationKind { .. } => {
                Self::new(ErrorCode::InvalidToken, e.to_string())
            }
            StoreError::Contention(detail) => {
                tracing::warn!(error = %detail, "Storage kept losing races with concurrent writes.");
                Self::new(
                    ErrorCode::Unavailable,
                    "the database is busy with conflicting changes; retry",
                )
            }
            StoreError::Backend(detail) => {
                tracing::error!(error = %detail, "Storage failed.");
                Self::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; retry later",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.code.status();
        let mut resp = (status, axum::Json(ErrorResponse { error: self.0 })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are a public contract: clients branch on them. This table changes only on purpose.
    #[test]
    fn the_error_code_table_is_stable() {
        let all = [
            ErrorCode::MissingToken,
            ErrorCode::InvalidToken,
            ErrorCode::InvalidCredentials,
            ErrorCode::InvalidSignature,
            ErrorCode::ReplayedRequest,
            ErrorCode::Forbidden,
            ErrorCode::InvalidRequest,
            ErrorCode::MalformedJson,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::NameTaken,
            ErrorCode::InUse,
            ErrorCode::StillEscalating,
            ErrorCode::NoEscalationPolicy,
            ErrorCode::InvalidTransition,
            ErrorCode::ChangedSince,
            ErrorCode::AlreadyRunning,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
            ErrorCode::Unavailable,
        ];
        let table: Vec<String> = all
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c.status().as_u16(),
                    serde_json::to_value(c).unwrap().as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            table.join("\n"),
            "401 missing_token\n401 invalid_token\n401 invalid_credentials\n401 invalid_signature\n401 replayed_request\n403 forbidden\n400 invalid_request\n400 malformed_json\n\
             413 payload_too_large\n415 unsupported_media_type\n404 not_found\n405 method_not_allowed\n409 name_taken\n409 in_use\n\
             409 still_escalating\n409 no_escalation_policy\n409 invalid_transition\n409 changed_since\n409 already_running\n429 rate_limited\n500 internal\n503 unavailable"
        );
    }

    #[test]
    fn error_bodies_have_a_fixed_shape() {
        let single = ApiError::from(ValidationErrors(vec![FieldError::new(
            "tier",
            "must be 1 (most critical) to 4 (got 9)",
        )]));
        assert_eq!(
            serde_json::to_value(ErrorResponse { error: single.0 }).unwrap(),
            serde_json::json!({"error": {"code": "invalid_request", "message": "tier: must be 1 (most critical) to 4 (got 9)",
                "field": "tier", "details": [{"field": "tier", "message": "must be 1 (most critical) to 4 (got 9)"}]}})
        );
        let internal = ApiError::internal("disk on fire at /var/lib/x");
        assert!(
            !internal.0.message.contains("disk"),
            "5xx bodies say nothing internal"
        );
    }
}
