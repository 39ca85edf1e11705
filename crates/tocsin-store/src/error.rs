use tocsin_domain::ValidationErrors;
use tocsin_domain::incident::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {key:?} not found")]
    NotFound { kind: &'static str, key: String },
    /// The request clashes with existing state.
    #[error(transparent)]
    Conflict(#[from] Conflict),
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

    /// A refusal of what was asked, naming the field at fault.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(tocsin_domain::FieldError::new(field, message).into())
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

/// How a request clashes with what is stored; each kind has its own error code at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Another entry of the kind already has this name (or email).
    #[error("a {kind} named {name:?} already exists")]
    NameTaken { kind: &'static str, name: String },
    /// Other entries refer to this one; they must let go of it first.
    #[error("{}", in_use(kind, name, by))]
    InUse {
        kind: &'static str,
        name: String,
        by: Dependents,
    },
    /// The policy is escalating open incidents, which would be left without one.
    #[error(
        "escalation policy {policy:?} is escalating {incidents} open incident(s); acknowledge, resolve or reassign them first"
    )]
    StillEscalating { policy: String, incidents: i64 },
    /// The incident has no escalation policy to escalate through.
    #[error(
        "incident #{number} has no escalation policy (its service has none); reassign it to a policy or to people"
    )]
    NoPolicy { number: i64 },
    /// The incident was handed to people, so there is no next level.
    #[error(
        "incident #{number} was handed to people, not to a policy; reassign it to a policy to escalate it"
    )]
    HandedToPeople { number: i64 },
    /// Revoking the token would leave no owner token, and nobody able to create one through the API.
    #[error(
        "this is the last owner token; create another owner token first (or use `tocsin admin-token` on the server)"
    )]
    LastAdmin,
    /// Tocsin already has an owner who can sign in; a setup link no longer does anything.
    #[error("Tocsin is set up already: its owner signs in and invites others")]
    AlreadySetUp,
    /// The person can sign in already; an invitation would replace their password.
    #[error("{user} can sign in already; they can reset their password from the sign-in page")]
    AlreadySignedUp { user: String },
    /// The entry changed since the version the change was made to (someone else saved it meanwhile).
    #[error(
        "{kind} {name:?} is at version {now} now: someone saved it since; reload it and make your change again"
    )]
    Changed {
        kind: &'static str,
        name: String,
        now: u32,
    },
    /// The step has a run for the incident that is awaiting approval, queued or running: one at a time.
    #[error(
        "step {step} of runbook {runbook} has run {run} {status} for incident #{number} already; one runs at a time"
    )]
    RunActive {
        runbook: String,
        step: String,
        number: i64,
        run: String,
        status: &'static str,
    },
    /// The change would leave no person holding the owner role.
    #[error("{user} is the last owner; make someone else an owner first")]
    LastOwner { user: String },
}

/// What refers to an entry that cannot go away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependents {
    /// Schedules the entry (a user) takes part in.
    Schedules(Vec<String>),
    /// Escalation policies that page the entry.
    Policies(Vec<String>),
    /// Services that depend on the entry (a service).
    DependentServices(Vec<String>),
    /// Services the entry (an escalation policy) pages for.
    Services(Vec<String>),
    /// The entry (an escalation policy) is the fallback for incidents nobody else pages.
    Fallback,
    /// Open incidents, by number, where someone holds the entry (a role).
    OpenIncidents(Vec<i64>),
    /// Runbooks whose steps use the entry (a secret).
    Runbooks(Vec<String>),
}

fn in_use(kind: &str, name: &str, by: &Dependents) -> String {
    match by {
        Dependents::Schedules(s) => format!(
            "{kind} {name:?} takes part in schedules {}; remove them from those rotations first",
            s.join(", ")
        ),
        Dependents::Policies(p) => format!(
            "escalation policies {} page {kind} {name:?}; remove it from those policies first",
            p.join(", ")
        ),
        Dependents::DependentServices(s) => format!(
            "services {} depend on {kind} {name:?}; remove those dependencies first",
            s.join(", ")
        ),
        Dependents::Services(s) => format!(
            "{kind} {name:?} is used by services {}; give them another policy first",
            s.join(", ")
        ),
        Dependents::Fallback => format!(
            "{kind} {name:?} is the fallback for incidents nobody else pages; choose another fallback first"
        ),
        Dependents::OpenIncidents(numbers) => format!(
            "someone holds {kind} {name:?} in open incidents {}; release it there first",
            numbers
                .iter()
                .map(|n| format!("#{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Dependents::Runbooks(r) => format!(
            "the steps of runbooks {} use {kind} {name:?}; change those runbooks first",
            r.join(", ")
        ),
    }
}
