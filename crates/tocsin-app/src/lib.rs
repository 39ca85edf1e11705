//! Tocsin's application layer: the use cases every interface calls.
//!
//! The JSON API, the HTML pages, the engine and the CLI's offline commands reach the store only through [`App`].
//! A use case checks that its [`Principal`] may run it, reads the one clock, runs its transaction, and then does
//! what must follow it everywhere: dropping in-process caches the change made stale, waking the engine when
//! something may have become due, counting it in the metrics. Interfaces parse their input into typed values,
//! call one use case and render its answer; none of them repeats a rule or a side effect.

mod access;
pub mod accounts;
mod audit;
mod automation;
mod catalog;
mod incidents;
pub mod intake;
pub mod metrics;
mod noise;
mod oncall;
mod paging;
mod roles;
mod runbooks;
pub mod sender_api;
mod slack;
mod status_pages;
mod status_snapshots;
mod tasks;
mod updates;

pub use access::{IntegrationRequest, Integrations, Issued, TokenRequest, Tokens};
pub use accounts::{AccountSettings, Accounts, Claim, Client, Join, SignedIn, Vouched};
pub use audit::Audit;
pub use automation::Automation;
pub use catalog::{Catalog, Services, Teams, Users};
pub use incidents::{Alerts, Incidents};
pub use intake::{Accepted, Ingest, IntakeSettings, Over, Refusal};
pub use metrics::Metrics;
pub use noise::Noise;
pub use oncall::OnCall;
pub use paging::{Contacts, Escalation, PolicyOnCall};
pub use roles::Roles;
pub use runbooks::Runbooks;
pub use sender_api::SenderApi;
pub use slack::{Pressed, Slack};
pub use status_pages::{PublicPage, ShownComponent, ShownDay, StatusPages};
pub use status_snapshots::{Shown, StatusSnapshots};
pub use tasks::Tasks;
pub use updates::{ScopeRef, SubscriberRef, Updates};

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tocsin_domain::audit::AuditEntry;
use tocsin_domain::auth::{Grant, Need, Role};
use tocsin_domain::clock::Clock;
use tocsin_domain::contact::Channels;
use tocsin_domain::doctor::Finding;
use tocsin_domain::ids::TeamId;
use tocsin_domain::incident::{Actor, ActorKind};
use tocsin_domain::refs::{ServiceRef, TeamRef};
use tocsin_store::{ApiToken, Store, StoreError, UserAccess};
use tokio::sync::Notify;

/// Why a use case did not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The principal's role does not allow the use case.
    #[error("this principal holds the {role} role; this needs {needs}")]
    Forbidden { role: Role, needs: String },
    /// A sign-in with an email and password that do not match an account; which of them is wrong is not said.
    #[error("the email or the password is wrong")]
    BadCredentials,
    /// Too many failed sign-ins for the account or from the address lately.
    #[error("too many failed sign-ins; try again later")]
    TooManyAttempts { retry_after: chrono::Duration },
    /// An identity provider vouched for someone Tocsin has no account for, and may not make one.
    #[error("no one in Tocsin has the email {email}")]
    UnknownPerson { email: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a use case did, with what its caller should be told: a change that succeeded but leaves something that
/// cannot page (an email method on a server without SMTP, a service without a policy, a schedule with gaps).
#[derive(Debug, Clone, PartialEq)]
pub struct Warned<T> {
    pub value: T,
    pub warnings: Vec<Warning>,
}

impl<T> Warned<T> {
    fn new(value: T, warnings: Vec<Warning>) -> Self {
        Self { value, warnings }
    }
}

/// Something a caller should know about what they just did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A finding of the paging setup's check about what was changed.
    Setup(Finding),
    /// The override just added overlaps this earlier one, which it overrides where they overlap.
    OverlappingOverride {
        schedule: String,
        user: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// No policy of the incident just opened pages it; the fallback policy, if set, took it.
    Unassigned {
        number: i64,
        fallback: Option<String>,
    },
}

/// Who asks for a use case: whom the timeline and the audit log credit, what they may do, and where they asked
/// from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    pub grant: Grant,
    /// The network address the request came from; `None` for what did not come over the network.
    pub address: Option<String>,
}

impl Principal {
    /// A caller holding an API token: credited as the token's user if it has one, else as the token itself. A
    /// token acting as a user never holds more than the user's role, and has the user's teams.
    pub fn from_token(token: &ApiToken, user: Option<&UserAccess>) -> Self {
        let actor = match (&token.user_id, &token.user_name) {
            (Some(id), Some(name)) => Actor {
                kind: ActorKind::User,
                id: Some(id.to_string()),
                name: name.clone(),
            },
            _ => Actor {
                kind: ActorKind::Token,
                id: Some(token.id.to_string()),
                name: token.name.clone(),
            },
        };
        let role = match (token.role, user) {
            (Some(own), Some(user)) => own.min(user.role),
            (Some(own), None) => own,
            (None, Some(user)) => user.role,
            // The store answers no such token; holding nothing is the safe reading of one.
            (None, None) => Role::Observer,
        };
        Self {
            actor,
            grant: Grant {
                role,
                user: token.user_id.clone(),
                teams: user.map(|u| u.teams.clone()).unwrap_or_default(),
            },
            address: None,
        }
    }

    /// A person acting with their own role and teams (signed in, or identified by a linked chat account).
    pub fn person(user: &tocsin_domain::catalog::User, access: &UserAccess) -> Self {
        Self {
            actor: Actor {
                kind: ActorKind::User,
                id: Some(user.id.to_string()),
                name: user.name.to_string(),
            },
            grant: Grant {
                role: access.role,
                user: Some(user.id.clone()),
                teams: access.teams.clone(),
            },
            address: None,
        }
    }

    /// Tocsin itself, for what runs on its own (start-up, the engine's housekeeping).
    pub fn system() -> Self {
        Self {
            actor: Actor::system(),
            grant: Grant::role(Role::Owner),
            address: None,
        }
    }

    /// The same principal, seen asking from `address`.
    pub fn from_address(mut self, address: Option<std::net::IpAddr>) -> Self {
        self.address = address.map(|a| a.to_string());
        self
    }

    pub fn require(&self, needs: Need<'_>) -> Result<()> {
        if self.grant.allows(&needs) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                role: self.grant.role,
                needs: needs.describe(),
            })
        }
    }

    pub fn role(&self) -> Role {
        self.grant.role
    }

    pub fn actor(&self) -> Actor {
        self.actor.clone()
    }
}

/// The use cases, over one store and one clock. Cheap to clone; clones share caches and the engine's wake-up.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    intake: Arc<intake::Intake>,
    engine_wake: Arc<Notify>,
    /// An announcement to other processes is waiting to start.
    announcing: Arc<AtomicBool>,
    /// The kinds of contact method this server can send; a page plans notifications only on those.
    channels: Channels,
    /// How long the audit log keeps entries.
    audit_retention: chrono::Duration,
    /// How long sessions last; how many failed sign-ins are tolerated.
    accounts: AccountSettings,
    /// The commands runbook steps may run (`[automation.commands]`); none unless an admin configured some.
    automation_commands: Vec<tocsin_domain::refs::Key>,
    /// What the public sees of each status page, kept coherent with the database by `refresh_status_pages`.
    status_snapshots: Arc<StatusSnapshots>,
}

impl App {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, metrics: Metrics) -> Self {
        store.health().observe_commits(metrics.commit_observer());
        let intake = Arc::new(intake::Intake::new(
            intake::IntakeSettings::default(),
            clock.clone(),
            &metrics,
        ));
        Self {
            status_snapshots: Arc::new(StatusSnapshots::new(store.clone(), clock.clone())),
            store,
            clock,
            metrics,
            intake,
            engine_wake: Arc::default(),
            announcing: Arc::default(),
            channels: Channels::ALL,
            audit_retention: chrono::Duration::days(i64::from(
                tocsin_domain::audit::DEFAULT_RETENTION_DAYS,
            )),
            accounts: AccountSettings::default(),
            automation_commands: Vec::new(),
        }
    }

    /// The commands runbook steps may name (`[automation.commands]`).
    pub fn with_automation_commands(mut self, names: Vec<tocsin_domain::refs::Key>) -> Self {
        self.automation_commands = names;
        self
    }

    pub fn automation_commands(&self) -> &[tocsin_domain::refs::Key] {
        &self.automation_commands
    }

    /// How long sessions last; how many failed sign-ins are tolerated.
    pub fn account_settings(&self) -> AccountSettings {
        self.accounts
    }

    /// How long sessions last (`[sessions]`).
    pub fn with_accounts(mut self, settings: AccountSettings) -> Self {
        self.accounts = settings;
        self
    }

    /// How long the audit log keeps entries.
    pub fn audit_retention(&self) -> chrono::Duration {
        self.audit_retention
    }

    /// How long the audit log keeps entries (`[audit] retention_days`).
    pub fn with_audit_retention(mut self, days: u32) -> Self {
        self.audit_retention = chrono::Duration::days(i64::from(days));
        self
    }

    /// The kinds of contact method this server's configuration can send (email needs SMTP, SMS and voice their
    /// gateways); pages plan notifications only on those, so a method that cannot send reaches nobody visibly.
    pub fn with_channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }

    /// What the server takes in: its caches' memory, events per request, its ingest budget (`[ingest]`).
    pub fn with_intake(mut self, settings: intake::IntakeSettings) -> Self {
        self.intake = Arc::new(intake::Intake::new(
            settings,
            self.clock.clone(),
            &self.metrics,
        ));
        self
    }

    pub fn channels(&self) -> Channels {
        self.channels
    }

    /// The paging setup's findings now, with this server's channels, those `keep` selects, as warnings.
    async fn setup_warnings(&self, keep: impl Fn(&Finding) -> bool) -> Result<Vec<Warning>> {
        let setup = self.store.escalation().paging_setup().await?;
        Ok(
            tocsin_domain::doctor::check(&setup, &self.channels, self.now())
                .into_iter()
                .filter(keep)
                .map(Warning::Setup)
                .collect(),
        )
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics in Prometheus' text format, with the database's state read now. When the database does not
    /// answer, the rest is still shown (and the database gauges keep their last values).
    pub async fn metrics_text(&self) -> String {
        let gauges = match self.store.health().gauges(self.now()).await {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::warn!(error = %e, "Could not read the database's gauges for the metrics.");
                None
            }
        };
        self.metrics.set_cache_bytes(&self.intake.weights());
        self.metrics
            .render(gauges.as_ref(), self.store.health().queued_writes())
    }

    /// The store, for the engine (which runs the timers' use cases itself) and for operations commands.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Brings this instance's status page snapshots up to date with the database (every instance, every half
    /// second): a change through another instance shows here within one refresh.
    pub async fn refresh_status_pages(&self) {
        self.status_snapshots.refresh().await;
    }

    /// This instance's status page snapshots, which the engine renews when it records statuses that moved.
    pub fn status_snapshots(&self) -> Arc<StatusSnapshots> {
        self.status_snapshots.clone()
    }

    /// What the engine waits on between cycles; notified when something may have become due (an incident opened,
    /// a level escalated by hand, a test queued, a heartbeat back).
    pub fn engine_wake(&self) -> Arc<Notify> {
        self.engine_wake.clone()
    }

    /// Wakes this process's engine now, and (in the background, at most one announcement waiting to start) every other
    /// process's through the database, so that whichever engine holds the lease acts without waiting for its tick.
    fn wake_engine(&self) {
        self.engine_wake.notify_one();
        if self.announcing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (store, announcing) = (self.store.clone(), self.announcing.clone());
        // Use cases run on the runtime; the announcement must not hold up their answer.
        tokio::spawn(async move {
            // Cleared before announcing, not after: a wake from now on must announce again, or what it made due
            // after this announcement committed would wait for the engines' tick.
            announcing.store(false, Ordering::Release);
            if let Err(e) = store.engine().announce_due().await {
                tracing::debug!(error = %e, "Could not announce due work to other processes; their engines poll.");
            }
        });
    }

    /// The principal holding the API token `token`, if it is live.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>> {
        let hash = tocsin_domain::auth::hash_secret(token);
        Ok(self
            .store
            .tokens()
            .authenticate(&hash, self.now())
            .await?
            .map(|(t, user)| Principal::from_token(&t, user.as_ref())))
    }

    /// The store, recording `action` on `target` by `who` in the audit log with each write it commits.
    fn audited(
        &self,
        who: &Principal,
        action: &str,
        target: impl std::fmt::Display,
        summary: serde_json::Value,
    ) -> Arc<dyn Store> {
        self.store
            .audited(self.audit_entry(who, action, target, summary))
    }

    fn audit_entry(
        &self,
        who: &Principal,
        action: &str,
        target: impl std::fmt::Display,
        summary: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            at: self.now(),
            actor: who.actor(),
            action: action.to_owned(),
            target: target.to_string(),
            summary,
            address: who.address.clone(),
        }
    }

    /// Refuses `who` unless they may change what `team` owns; `team` is looked up only for those who are not
    /// admins, who may change anything.
    async fn require_team<F>(&self, who: &Principal, team: F) -> Result<()>
    where
        F: std::future::Future<Output = Result<Option<TeamId>>>,
    {
        if who.grant.allows(&Need::Configure) {
            return Ok(());
        }
        let team = team.await?;
        who.require(Need::Team(team.as_ref()))
    }

    /// The ID of the team named `name`, if any.
    async fn team_id(&self, name: Option<&tocsin_domain::catalog::Name>) -> Result<Option<TeamId>> {
        let team = name.map(|n| TeamRef::parse(n.as_str()));
        self.team_ref_id(team.as_ref()).await
    }

    /// The ID of the team `team` names, if it names one.
    async fn team_ref_id(&self, team: Option<&TeamRef>) -> Result<Option<TeamId>> {
        let Some(team) = team else { return Ok(None) };
        match self.store.teams().get(team).await {
            Ok(team) => Ok(Some(team.id)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The team owning the service, for team members' rights.
    async fn service_team(&self, service: &ServiceRef) -> Result<Option<TeamId>> {
        let service = self.store.services().get(service).await?;
        self.team_id(service.team.as_ref()).await
    }

    /// The person a verified action link was sent to, who may act on incidents through it; `NotFound` once that
    /// person was deleted, since a link acts for someone who no longer may.
    pub async fn link_holder(&self, user: &tocsin_domain::ids::UserId) -> Result<Principal> {
        let name = self
            .store
            .users()
            .get(&user.clone().into())
            .await?
            .name
            .to_string();
        // A link acts on the incident it was sent about, whatever the person's role: being paged is the right.
        Ok(Principal {
            actor: Actor {
                kind: ActorKind::User,
                id: Some(user.to_string()),
                name,
            },
            grant: Grant {
                role: Role::Responder,
                user: Some(user.clone()),
                teams: Vec::new(),
            },
            address: None,
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.health().ping().await?)
    }

    pub fn users(&self) -> Users<'_> {
        Users { app: self }
    }
    pub fn teams(&self) -> Teams<'_> {
        Teams { app: self }
    }
    pub fn services(&self) -> Services<'_> {
        Services { app: self }
    }
    pub fn catalog(&self) -> Catalog<'_> {
        Catalog { app: self }
    }
    pub fn integrations(&self) -> Integrations<'_> {
        Integrations { app: self }
    }
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { app: self }
    }
    pub fn incidents(&self) -> Incidents<'_> {
        Incidents { app: self }
    }
    pub fn alerts(&self) -> Alerts<'_> {
        Alerts { app: self }
    }
    pub fn noise(&self) -> Noise<'_> {
        Noise { app: self }
    }
    pub fn oncall(&self) -> OnCall<'_> {
        OnCall { app: self }
    }
    pub fn escalation(&self) -> Escalation<'_> {
        Escalation { app: self }
    }
    pub fn contacts(&self) -> Contacts<'_> {
        Contacts { app: self }
    }
    pub fn audit(&self) -> Audit<'_> {
        Audit { app: self }
    }
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts { app: self }
    }
    pub fn roles(&self) -> Roles<'_> {
        Roles { app: self }
    }
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks { app: self }
    }
    pub fn runbooks(&self) -> Runbooks<'_> {
        Runbooks { app: self }
    }
    pub fn automation(&self) -> Automation<'_> {
        Automation { app: self }
    }
    pub fn status_pages(&self) -> StatusPages<'_> {
        StatusPages { app: self }
    }

    pub fn slack(&self) -> Slack<'_> {
        Slack { app: self }
    }

    pub fn updates(&self) -> Updates<'_> {
        Updates { app: self }
    }
    /// What an admitted integration's key may do beyond posting events.
    pub fn sender_api<'a>(&'a self, integration: &'a tocsin_store::Integration) -> SenderApi<'a> {
        SenderApi {
            app: self,
            integration,
        }
    }
    pub fn ingest(&self) -> Ingest<'_> {
        Ingest { app: self }
    }
}

/// What every use-case module names.
mod prelude {
    pub use crate::{App, Principal, Result, Warned, Warning};
    pub use chrono::{DateTime, Utc};
    pub use serde_json::json;
    pub use tocsin_domain::alert::Alert;
    pub use tocsin_domain::auth::{Need, Role};
    pub use tocsin_domain::catalog::{
        CatalogDocument, PlanEntry, Service, ServiceSpec, Team, TeamSpec, User, UserSpec,
    };
    pub use tocsin_domain::contact::{
        ContactMethod, ContactMethodSpec, ContactTarget, NotificationRule, NotificationRuleSpec,
        StatusUpdates,
    };
    pub use tocsin_domain::escalation::{EscalationPolicy, EscalationPolicySpec};
    pub use tocsin_domain::ids::{
        AlertId, ContactMethodId, DeliveryId, FeedId, IntegrationId, MaintenanceId,
        NotificationRuleId, OverrideId, RuleId, ServiceId, SilenceId, TokenId, UserId,
    };
    pub use tocsin_domain::incident::Incident;
    pub use tocsin_domain::noise::{
        MaintenanceSpec, MaintenanceWindow, Rule, RuleSpec, Silence, SilenceSpec,
    };
    pub use tocsin_domain::oncall::ScheduleSpec;
    pub use tocsin_domain::refs::{
        IncidentRef, PolicyRef, ScheduleRef, ServiceRef, TeamRef, UserRef,
    };
    pub use tocsin_domain::severity::Severity;
    pub use tocsin_store::*;
}
