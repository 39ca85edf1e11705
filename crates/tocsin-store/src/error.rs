use tocsin_domain::ValidationErrors;
use tocsin_domain::incident::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {key:?} not found")]
    NotFound { kind: &'static str, key: String },
    /// The request clashes with existing state (a taken name, dependents that block a delete).
    #[error("{0}")]
    Conflict(String),
    /// References that do not resolve, cycles and other problems only the stored state reveals.
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The routing key is unknown or revoked.
    #[error("the routing key is not an active integration key")]
    UnknownRoutingKey,
    /// The key belongs to an integration of another kind than the endpoint it was sent to.
    #[error(
        "this key belongs to a {actual} integration; send its events to that integration's URL"
    )]
    WrongIntegrationKind { actual: &'static str },
    /// The database refused the transaction because a concurrent one touched the same rows (a serialization
    /// failure, a deadlock, a unique index filled first). The backend already ran it again a bounded number of
    /// times; the caller may try later.
    #[error("storage contention: {0}")]
    Contention(String),
    /// The backend failed; the detail is for logs, not for users.
    #[error("storage failure: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether running the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Contention(_))
    }

    pub fn not_found(kind: &'static str, key: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            key: key.into(),
        }
    }
}

impl From<ValidationErrors> for StoreError {
    fn from(e: ValidationErrors) -> Self {
        Self::Invalid(e)
    }
}
