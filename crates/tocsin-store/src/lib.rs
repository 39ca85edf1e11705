//! Tocsin's storage interface.
//!
//! [`Store`] hands out one repository per concept. Every write method is one atomic use case (ingest an event,
//! acknowledge an incident, apply a catalog): the backend loads state, lets `tocsin_domain` decide what changes and
//! persists the result in a single transaction, so callers never compose transactions and domain rules live in one
//! place. Entries are addressed by typed references (`tocsin_domain::refs`). One implementation, [`SqlStore`], over
//! two drivers: SQLite (embedded, the default) and PostgreSQL. Every backend must pass [`conformance`]. Interfaces
//! call the use cases of `tocsin-app`, which call this.

pub mod conformance;
mod db;
mod error;
mod model;
pub mod postgres;
mod repo;
pub mod secrets;
pub mod sql;
pub mod sqlite;

pub use db::{Driver, SqlStore};
pub use error::{Conflict, Dependents, StoreError};
pub use model::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::alert::{Alert, AlertEvent};
use tocsin_domain::audit::{AuditEntry, AuditRecord};
use tocsin_domain::auth::Role;
use tocsin_domain::catalog::{
    CatalogDocument, PlanEntry, Service, ServiceSpec, Team, TeamSpec, User, UserSpec,
};
use tocsin_domain::contact::{
    Channels, ContactMethod, ContactMethodSpec, NotificationRule, NotificationRuleSpec,
    StatusUpdates,
};
use tocsin_domain::escalation::{EscalationPolicy, EscalationPolicySpec};
use tocsin_domain::ids::{AlertId, IntegrationId, SessionId, TokenId, UserId};
use tocsin_domain::ids::{ContactMethodId, DeliveryId, NotificationRuleId, ServiceId};
use tocsin_domain::ids::{FeedId, OverrideId};
use tocsin_domain::ids::{MaintenanceId, RuleId, SilenceId};
use tocsin_domain::incident::{Actor, Incident};
use tocsin_domain::noise::{
    MaintenanceSpec, MaintenanceWindow, Rule, RuleSpec, Silence, SilenceSpec,
};
use tocsin_domain::oncall::ScheduleSpec;
use tocsin_domain::pagerduty::ChangeEvent;
use tocsin_domain::refs::{IncidentRef, PolicyRef, ScheduleRef, ServiceRef, TeamRef, UserRef};
use tocsin_domain::senders::Batch;
use tocsin_domain::severity::{Severity, SeverityLevel, SeverityLevelChange};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub trait Store: Send + Sync + 'static {
    fn users(&self) -> &dyn UserRepo;
    fn teams(&self) -> &dyn TeamRepo;
    fn services(&self) -> &dyn ServiceRepo;
    fn catalog(&self) -> &dyn CatalogRepo;
    fn integrations(&self) -> &dyn IntegrationRepo;
    fn tokens(&self) -> &dyn TokenRepo;
    fn ingest(&self) -> &dyn IngestRepo;
    fn alerts(&self) -> &dyn AlertRepo;
    fn incidents(&self) -> &dyn IncidentRepo;
    fn noise(&self) -> &dyn NoiseRepo;
    fn health(&self) -> &dyn HealthRepo;
    fn oncall(&self) -> &dyn OnCallRepo;
    fn escalation(&self) -> &dyn EscalationRepo;
    fn contacts(&self) -> &dyn ContactRepo;
    fn engine(&self) -> &dyn EngineRepo;
    fn audit(&self) -> &dyn AuditRepo;
    fn accounts(&self) -> &dyn AccountRepo;
    fn roles(&self) -> &dyn RoleRepo;
    fn tasks(&self) -> &dyn TaskRepo;
    fn runbooks(&self) -> &dyn RunbookRepo;
    fn automation(&self) -> &dyn AutomationRepo;
    fn updates(&self) -> &dyn UpdateRepo;
    fn slack(&self) -> &dyn SlackRepo;
    fn status_pages(&self) -> &dyn StatusPageRepo;
    /// The same store, except that each write transaction also records `entry` in the audit log, so the log
    /// holds a change exactly when the database does.
    fn audited(&self, entry: AuditEntry) -> std::sync::Arc<dyn Store>;
}

/// The roles of a response: the organisation's definitions, who holds them in each incident, and who works it.
#[async_trait]
pub trait RoleRepo: Send + Sync {
    /// The built-in roles (as reworded) then the organisation's own, in the order they were added.
    async fn roles(&self) -> Result<Vec<tocsin_domain::roles::Role>>;
    /// Creates or replaces a role (a built-in one is reworded); what its defaults name must exist.
    async fn put_role(
        &self,
        key: tocsin_domain::refs::Key,
        spec: tocsin_domain::roles::RoleSpec,
    ) -> Result<tocsin_domain::roles::Role>;
    /// Removes one of the organisation's own roles; refused for a built-in one and while someone holds it in an
    /// open incident. Its history in incidents stays.
    async fn delete_role(&self, key: &tocsin_domain::refs::Key) -> Result<()>;
    /// Who holds and held each role in the incident, oldest first.
    async fn assignments(
        &self,
        incident: &IncidentRef,
    ) -> Result<Vec<tocsin_domain::roles::RoleAssignment>>;
    /// Gives a role to someone and pages them with its name, unless they took it themselves; a role one person
    /// holds is handed over. None when they held it already.
    async fn assign_role(
        &self,
        incident: &IncidentRef,
        role: &tocsin_domain::refs::Key,
        user: &UserRef,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<Option<tocsin_domain::roles::RoleAssignment>>;
    /// Someone (none: everyone) stops holding a role; returns the holdings ended.
    async fn release_role(
        &self,
        incident: &IncidentRef,
        role: &tocsin_domain::refs::Key,
        user: Option<UserRef>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<tocsin_domain::roles::RoleAssignment>>;
    /// Who works the incident: the paged, those who joined or were added, and role holders, with their roles.
    async fn responders(
        &self,
        incident: &IncidentRef,
    ) -> Result<Vec<tocsin_domain::roles::Responder>>;
    /// `user` joins the response (by themselves when the actor is them, else added) without being paged.
    async fn join(
        &self,
        incident: &IncidentRef,
        user: &UserRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<tocsin_domain::roles::Responder>>;
    /// `user` leaves the response, giving up the roles they hold.
    async fn leave(
        &self,
        incident: &IncidentRef,
        user: &UserRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<tocsin_domain::roles::Responder>>;
}

/// Runbook automation: the secrets steps use, and each run of a step for an incident, from its request to its
/// end.
#[async_trait]
pub trait AutomationRepo: Send + Sync {
    /// The secrets by name; never their values.
    async fn secrets(&self) -> Result<Vec<tocsin_domain::automation::SecretInfo>>;
    /// Creates or replaces a secret, sealed at rest.
    async fn put_secret(
        &self,
        name: tocsin_domain::refs::Key,
        value: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::automation::SecretInfo>;
    /// Removes a secret; refused while a runbook's steps use it.
    async fn delete_secret(&self, name: &tocsin_domain::refs::Key) -> Result<()>;
    /// The incident's runs, newest first.
    async fn runs(&self, incident: &IncidentRef) -> Result<Vec<tocsin_domain::automation::Run>>;
    async fn run(&self, id: &tocsin_domain::ids::RunId) -> Result<tocsin_domain::automation::Run>;
    /// Asks for a run of a runbook's step (at its current version) for an open incident, on its timeline;
    /// refused while the step has an active run for it.
    async fn start_run(
        &self,
        incident: &IncidentRef,
        runbook: &tocsin_domain::refs::Key,
        step: &tocsin_domain::refs::Key,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::automation::Run>;
    /// Approves or declines a run awaiting approval (see `Run::decide`).
    async fn decide_run(
        &self,
        id: &tocsin_domain::ids::RunId,
        approve: bool,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::automation::Run>;
    /// Asks for a failed, timed-out or interrupted run again, with its idempotency key.
    async fn retry_run(
        &self,
        id: &tocsin_domain::ids::RunId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::automation::Run>;
    /// For each incident that opened or gained an alert (at most `limit`): asks for a run of every automatic
    /// step of the runbooks it shows that has not run for it yet. Returns how many runs were asked for.
    async fn start_automatic(&self, now: DateTime<Utc>, limit: u32) -> Result<u32>;
    /// Reports as interrupted the runs whose runner died (their claim lapsed; or `predecessor_died`: claimed
    /// under `holder` by a process before this one), then claims queued runs due at `now` for `holder`, with
    /// what their requests are filled from.
    async fn claim_runs(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit: u32,
        predecessor_died: bool,
    ) -> Result<Vec<ClaimedRun>>;
    /// Records how a run that `holder` claimed ended, on the incident's timeline. False when the run was no
    /// longer `holder`'s (reported interrupted meanwhile).
    async fn finish_run(
        &self,
        id: &tocsin_domain::ids::RunId,
        holder: &str,
        finished: tocsin_domain::automation::Finished,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// Status pages and their components.
#[async_trait]
pub trait StatusPageRepo: Send + Sync {
    /// Every page, by name.
    async fn status_pages(&self) -> Result<Vec<tocsin_domain::status_page::StatusPage>>;
    async fn status_page(
        &self,
        slug: &tocsin_domain::refs::Key,
    ) -> Result<tocsin_domain::status_page::StatusPage>;
    /// Creates the page at `slug`, or replaces it (its slug may change to the spec's); true when created.
    async fn put_status_page(
        &self,
        slug: &tocsin_domain::refs::Key,
        spec: tocsin_domain::status_page::StatusPageSpec,
        now: DateTime<Utc>,
    ) -> Result<(tocsin_domain::status_page::StatusPage, bool)>;
    /// Creates a page; NameTaken when its slug is taken.
    async fn create_status_page(
        &self,
        spec: tocsin_domain::status_page::StatusPageSpec,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::status_page::StatusPage>;
    /// Sets how a component's status is set, the rest of it as it is.
    async fn set_component_status(
        &self,
        page: &tocsin_domain::refs::Key,
        id: &tocsin_domain::ids::ComponentId,
        setting: tocsin_domain::status_page::StatusSetting,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::status_page::Component>;
    /// Removes a page and its components.
    async fn delete_status_page(&self, slug: &tocsin_domain::refs::Key) -> Result<()>;
    /// Adds a component; its group must be a group of the page, its services must exist.
    async fn create_component(
        &self,
        page: &tocsin_domain::refs::Key,
        spec: tocsin_domain::status_page::ComponentSpec,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::status_page::Component>;
    async fn replace_component(
        &self,
        page: &tocsin_domain::refs::Key,
        id: &tocsin_domain::ids::ComponentId,
        spec: tocsin_domain::status_page::ComponentSpec,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::status_page::Component>;
    /// Removes a component; a group's members stay, shown on their own, and the public incidents that named it
    /// no longer do.
    async fn delete_component(
        &self,
        page: &tocsin_domain::refs::Key,
        id: &tocsin_domain::ids::ComponentId,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// What the page shows now, read at once: the page, its components in order with their recorded statuses,
    /// its public incidents, and, with `history_since`, the components' statuses and the public incidents since
    /// then.
    async fn page_view(
        &self,
        slug: &tocsin_domain::refs::Key,
        history_since: Option<DateTime<Utc>>,
    ) -> Result<PageView>;
    /// Every page's slug and version, which counts every change to what the public sees of it.
    async fn page_versions(&self) -> Result<Vec<(tocsin_domain::refs::Key, i64)>>;
    /// Records the status each component of every page has now, where it differs from the one recorded (the
    /// open incidents on its services moved it): the old status ends now and the new one starts. Answers the
    /// pages that changed.
    async fn record_statuses(&self, now: DateTime<Utc>) -> Result<Vec<tocsin_domain::refs::Key>>;
    /// Publishes an incident on the page, with its first update; `incident` is the internal one it tells of, on
    /// whose timeline it is recorded (as is every update).
    async fn publish(
        &self,
        page: &tocsin_domain::refs::Key,
        incident: Option<&tocsin_domain::ids::IncidentId>,
        spec: tocsin_domain::public_incidents::PublicIncidentSpec,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::public_incidents::PublicIncident>;
    /// Posts an update on a public incident of the page, changing its status and its affected components.
    async fn update_public(
        &self,
        page: &tocsin_domain::refs::Key,
        id: &tocsin_domain::ids::PublicIncidentId,
        spec: tocsin_domain::public_incidents::PublicUpdateSpec,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::public_incidents::PublicIncident>;
    /// The page's public incidents that matter now (every unresolved one and the 50 most recent), newest first,
    /// with their updates.
    async fn public_incidents(
        &self,
        page: &tocsin_domain::refs::Key,
    ) -> Result<Vec<tocsin_domain::public_incidents::PublicIncident>>;
}

/// Slack users linked to people, the one-time codes that link them, and the requests already acted on.
#[async_trait]
pub trait SlackRepo: Send + Sync {
    /// Offers a link code (stored as its hash) for the person until `expires_at`; their earlier codes stop working.
    async fn offer_link_code(
        &self,
        code_hash: &str,
        user: &tocsin_domain::ids::UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Uses up a live code and links the Slack user to the person it was offered to (a Slack user already linked
    /// is linked anew). NotFound when no live code has this hash.
    async fn redeem_link_code(
        &self,
        code_hash: &str,
        slack: &tocsin_domain::slack::SlackUser,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::catalog::User>;
    /// Links the Slack user to the person with this email, if there is one and nothing is known of the Slack user
    /// yet: a Slack user linked already answers their person, one unlinked by its person answers nobody.
    async fn link_by_email(
        &self,
        slack: &tocsin_domain::slack::SlackUser,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(tocsin_domain::catalog::User, UserAccess)>>;
    /// The person a Slack user is linked to, with what they may do.
    async fn linked_person(
        &self,
        slack: &tocsin_domain::slack::SlackUser,
    ) -> Result<Option<(tocsin_domain::catalog::User, UserAccess)>>;
    /// The Slack users linked to a person.
    async fn slack_accounts(
        &self,
        user: &tocsin_domain::ids::UserId,
    ) -> Result<Vec<tocsin_domain::slack::SlackAccount>>;
    /// Unlinks one of a person's Slack users; NotFound when it is not theirs. It stays unlinked until it is
    /// linked by a code again: its email no longer links it.
    async fn unlink_slack_account(
        &self,
        user: &tocsin_domain::ids::UserId,
        slack: &tocsin_domain::slack::SlackUser,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Records a request's signature; false when it was recorded before (a replay). Signatures older than
    /// `forget_before` are forgotten: their timestamps no longer pass the clock check anyway.
    async fn first_request(
        &self,
        signature: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<bool>;
}

/// Stakeholder updates: posting them, who subscribed to hear of them, the sends to channels, and the reminders
/// when one is due.
#[async_trait]
pub trait UpdateRepo: Send + Sync {
    /// Posts an update on an incident, on its timeline: its responders and subscribed people are told through
    /// their reminder methods, its subscribed channels through the outbox; the next update is then due a cadence
    /// later, if its severity has one.
    async fn post_update(
        &self,
        incident: &IncidentRef,
        spec: tocsin_domain::updates::UpdateSpec,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::updates::PostedUpdate>;
    /// The incident's updates, newest first.
    async fn updates(
        &self,
        incident: &IncidentRef,
    ) -> Result<Vec<tocsin_domain::updates::PostedUpdate>>;
    /// The next update the incident owes, if any.
    async fn update_due(
        &self,
        incident: &IncidentRef,
    ) -> Result<Option<tocsin_domain::updates::UpdateDue>>;
    /// Subscriptions to a service or an incident; channels' targets opened.
    async fn subscriptions(
        &self,
        scope: &tocsin_domain::updates::Scope,
    ) -> Result<Vec<tocsin_domain::updates::Subscription>>;
    /// A person's own subscriptions.
    async fn subscriptions_of(
        &self,
        user: &tocsin_domain::refs::UserRef,
    ) -> Result<Vec<tocsin_domain::updates::Subscription>>;
    async fn subscription(
        &self,
        id: &tocsin_domain::ids::SubscriptionId,
    ) -> Result<tocsin_domain::updates::Subscription>;
    /// Subscribes a person (once: subscribing again answers the existing subscription) or a channel.
    async fn subscribe(
        &self,
        scope: tocsin_domain::updates::Scope,
        subscriber: tocsin_domain::updates::Subscriber,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::updates::Subscription>;
    async fn unsubscribe(&self, id: &tocsin_domain::ids::SubscriptionId) -> Result<()>;
    /// Reminds the leads of incidents whose update is due (at most `limit`), on their timelines, and plans the
    /// next reminder. Returns how many incidents were reminded of.
    async fn remind_due_updates(&self, now: DateTime<Utc>, limit: u32) -> Result<u32>;
    /// Claims sends to channels that are due, or whose claim lapsed, for `holder`, for `claim_for`.
    async fn claim_update_sends(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        claim_for: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedSend>>;
    /// Records how a claimed send went; ignored when the claim is no longer `holder`'s.
    async fn finish_update_send(
        &self,
        id: &str,
        holder: &str,
        outcome: AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

/// An update to send to a subscribed channel now.
#[derive(Debug, Clone)]
pub struct ClaimedSend {
    /// The same on every attempt.
    pub id: String,
    /// 1 for the first try.
    pub attempt: u32,
    pub channel: String,
    pub target: tocsin_domain::contact::ContactTarget,
    pub incident: tocsin_domain::incident::Incident,
    pub update: tocsin_domain::updates::StatusUpdate,
}

/// A run claimed to be run now, with what its request is filled from.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub run: tocsin_domain::automation::Run,
    pub incident: tocsin_domain::incident::Incident,
    pub services: Vec<String>,
    /// The incident's latest alert.
    pub alert: Option<tocsin_domain::alert::Alert>,
    /// The secrets the step names, opened.
    pub secrets: std::collections::BTreeMap<tocsin_domain::refs::Key, String>,
    /// Secrets the step names that are not set (the run fails, saying so).
    pub missing_secrets: Vec<tocsin_domain::refs::Key>,
}

/// Runbooks: Markdown documents with their versions, and which incidents show them.
#[async_trait]
pub trait RunbookRepo: Send + Sync {
    /// Every runbook at its current version, by title.
    async fn runbooks(&self) -> Result<Vec<tocsin_domain::runbooks::RunbookSummary>>;
    /// A runbook at its current version, or at `version` if it is still kept.
    async fn runbook(
        &self,
        key: &tocsin_domain::refs::Key,
        version: Option<u32>,
    ) -> Result<tocsin_domain::runbooks::Runbook>;
    /// The versions kept, newest first.
    async fn runbook_versions(
        &self,
        key: &tocsin_domain::refs::Key,
    ) -> Result<Vec<tocsin_domain::runbooks::RunbookVersion>>;
    /// Creates a runbook or writes its next version; what it names must exist. Writing what is there already
    /// changes nothing and answers the current version. With `expected_version`, the runbook must be at that
    /// version (0: must not exist yet), so that a change made to what someone read does not undo another's.
    async fn put_runbook(
        &self,
        key: tocsin_domain::refs::Key,
        spec: tocsin_domain::runbooks::RunbookSpec,
        expected_version: Option<u32>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::runbooks::Runbook>;
    /// Removes a runbook with all its versions.
    async fn delete_runbook(&self, key: &tocsin_domain::refs::Key) -> Result<()>;
    /// The runbooks the incident shows: its services' and those whose matchers accept one of its alerts.
    async fn incident_runbooks(
        &self,
        incident: &IncidentRef,
    ) -> Result<Vec<tocsin_domain::runbooks::Runbook>>;
}

/// Checklists: task templates and each incident's tasks.
#[async_trait]
pub trait TaskRepo: Send + Sync {
    /// The templates, in the order they were added.
    async fn templates(&self) -> Result<Vec<tocsin_domain::tasks::TaskTemplate>>;
    /// Creates or replaces a template; what it names must exist. It applies to incidents that open or change
    /// severity from now on.
    async fn put_template(
        &self,
        key: tocsin_domain::refs::Key,
        spec: tocsin_domain::tasks::TaskTemplateSpec,
    ) -> Result<tocsin_domain::tasks::TaskTemplate>;
    async fn delete_template(&self, key: &tocsin_domain::refs::Key) -> Result<()>;
    /// The incident's tasks, in order.
    async fn tasks(&self, incident: &IncidentRef) -> Result<Vec<tocsin_domain::tasks::Task>>;
    /// Adds a task by hand, numbered after the incident's last.
    async fn add_task(
        &self,
        incident: &IncidentRef,
        title: String,
        assignee: Option<TaskAssignee>,
        due_at: Option<DateTime<Utc>>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::tasks::Task>;
    /// Marks a task done (or, with `done` false, not done); marking it as it is changes nothing.
    async fn mark_task(
        &self,
        incident: &IncidentRef,
        number: u32,
        done: bool,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<tocsin_domain::tasks::Task>;
}

/// Passwords, sessions and the single-use links that set a password.
#[async_trait]
pub trait AccountRepo: Send + Sync {
    /// The person with this email (lowercased) and their password hash, if they have one.
    async fn credentials(&self, email: &str) -> Result<Option<(User, Option<String>)>>;
    /// Sets the person's password hash; `end_sessions` signs them out everywhere.
    async fn set_password(
        &self,
        user: &UserId,
        hash: &str,
        end_sessions: bool,
        now: DateTime<Utc>,
    ) -> Result<()>;
    async fn start_session(&self, new: NewSession, now: DateTime<Utc>) -> Result<SessionRecord>;
    /// The session whose token hashes to `token_hash`, if it was not ended and `policy` says it still holds, with
    /// its person and what they may do.
    async fn session(
        &self,
        token_hash: &str,
        policy: tocsin_domain::account::SessionPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRecord, User, UserAccess)>>;
    /// Records a request at `now` as the session's last use.
    async fn touch_session(&self, id: &SessionId, now: DateTime<Utc>) -> Result<()>;
    /// The person's sessions that were not ended, newest first.
    async fn sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>>;
    async fn get_session(&self, id: &SessionId) -> Result<SessionRecord>;
    /// Ends the session; ending it twice is harmless.
    async fn end_session(&self, id: &SessionId, now: DateTime<Utc>) -> Result<SessionRecord>;
    /// Stores a link whose token hashes to `token_hash`; answers when it stops working.
    async fn create_link(
        &self,
        token_hash: &str,
        purpose: tocsin_domain::account::LinkPurpose,
        user: Option<&UserId>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>>;
    /// The unused, unexpired link whose token hashes to `token_hash`.
    async fn link(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<AccountLink>>;
    /// Does what the link is for and uses it up (with every other link for the same person), in one
    /// transaction; `NotFound` when it is unknown, used or expired.
    async fn redeem_link(
        &self,
        token_hash: &str,
        redeem: Redeem,
        now: DateTime<Utc>,
    ) -> Result<User>;
    /// Whether any owner can sign in with a password.
    async fn has_owner_account(&self) -> Result<bool>;
    async fn has_password(&self, user: &UserId) -> Result<bool>;
    /// A link that creates the first owner, replacing any earlier one; answers when it stops working.
    async fn create_setup_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>>;
    /// Forgets sessions and links a day after they stopped working; answers how many.
    async fn prune(
        &self,
        now: DateTime<Utc>,
        policy: tocsin_domain::account::SessionPolicy,
    ) -> Result<u64>;
}

/// The audit log.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Records `entry` on its own: for what changes nothing else (a failed sign-in).
    async fn record(&self, entry: AuditEntry) -> Result<()>;
    async fn list(&self, filter: AuditFilter) -> Result<Page<AuditRecord>>;
    /// Forgets entries from before `before`; answers how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Entries with `action` since `since` about this target (a lowercased email), and from this address: how
    /// many failed sign-ins or reset requests an account and an address made lately.
    async fn recent(
        &self,
        action: &str,
        target: &str,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<(i64, i64)>;
}

/// Escalation policies, which service uses which, and each incident's escalation. Policies are addressed by ID or
/// name.
#[async_trait]
pub trait EscalationRepo: Send + Sync {
    /// Refuses targets that are not users or schedules (naming `levels[i].targets[j]`).
    async fn create_policy(
        &self,
        spec: EscalationPolicySpec,
        now: DateTime<Utc>,
    ) -> Result<EscalationPolicy>;
    async fn get_policy(&self, policy: &PolicyRef) -> Result<EscalationPolicy>;
    async fn list_policies(&self) -> Result<Vec<EscalationPolicy>>;
    /// Running escalations continue with the new levels.
    async fn replace_policy(
        &self,
        policy: &PolicyRef,
        spec: EscalationPolicySpec,
        now: DateTime<Utc>,
    ) -> Result<EscalationPolicy>;
    /// Refused while a service uses the policy.
    async fn delete_policy(&self, policy: &PolicyRef) -> Result<()>;
    /// Sets (or with `None` removes) the policy that pages for a service's new incidents.
    async fn set_service_policy(
        &self,
        service: &ServiceRef,
        policy: Option<PolicyRef>,
    ) -> Result<Option<EscalationPolicy>>;
    async fn service_policy(&self, service: &ServiceRef) -> Result<Option<EscalationPolicy>>;
    /// Services using a policy.
    async fn policy_services(&self, policy: &PolicyRef) -> Result<Vec<ServiceId>>;
    async fn incident_escalation(&self, incident: &IncidentRef)
    -> Result<Option<EscalationRecord>>;
    /// Pages `level` (default: the next one) of the incident's policy now, and continues from there.
    async fn escalate(
        &self,
        incident: &IncidentRef,
        level: Option<u32>,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<EscalationRecord>;
    /// Pages the named users now (by the contact methods `channels` can send), or starts another policy.
    async fn reassign(
        &self,
        incident: &IncidentRef,
        to: Reassignment,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<EscalationRecord>;
    /// Who each list of targets pages at `at`, by the rule the engine pages by, with the names of the schedules
    /// they page through.
    async fn resolve_levels(
        &self,
        levels: Vec<Vec<tocsin_domain::escalation::EscalationTarget>>,
        at: DateTime<Utc>,
    ) -> Result<(
        Vec<tocsin_domain::escalation::LevelTargets>,
        std::collections::HashMap<tocsin_domain::ids::ScheduleId, String>,
    )>;
    /// Everything `tocsin_domain::doctor` checks, read at one instant.
    async fn paging_setup(&self) -> Result<tocsin_domain::doctor::PagingSetup>;
    /// Pages the named people, schedules and teams now (by the contact methods `channels` can send), without
    /// changing the incident's escalation; an acknowledgement does not cancel these pages.
    async fn add_responders(
        &self,
        incident: &IncidentRef,
        responders: Responders,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<RespondersPaged>;
    /// Organisation-wide paging settings, with the fallback policy's name.
    async fn paging_settings(&self) -> Result<PagingSettingsRecord>;
    /// Sets (or with `None`, clears) the policy that takes incidents nobody else pages.
    async fn set_fallback_policy(&self, policy: Option<PolicyRef>) -> Result<PagingSettingsRecord>;
}

/// Users' contact methods, notification rules, and the notifications sent to them.
#[async_trait]
pub trait ContactRepo: Send + Sync {
    async fn create_method(
        &self,
        user: &UserRef,
        spec: ContactMethodSpec,
        now: DateTime<Utc>,
    ) -> Result<ContactMethod>;
    async fn list_methods(&self, user: &UserRef) -> Result<Vec<ContactMethod>>;
    async fn get_method(&self, id: &ContactMethodId) -> Result<ContactMethod>;
    /// A webhook's signing secret is kept when the new spec leaves it out.
    async fn replace_method(
        &self,
        id: &ContactMethodId,
        spec: ContactMethodSpec,
    ) -> Result<ContactMethod>;
    /// Also removes the rules that use it.
    async fn delete_method(&self, id: &ContactMethodId) -> Result<()>;
    /// The rule's contact method must belong to the user.
    async fn create_rule(
        &self,
        user: &UserRef,
        spec: NotificationRuleSpec,
    ) -> Result<NotificationRule>;
    async fn list_rules(&self, user: &UserRef) -> Result<Vec<NotificationRule>>;
    async fn delete_rule(&self, id: &NotificationRuleId) -> Result<()>;
    /// Which changes of incidents they were paged for the user asked to be told of, when someone else makes them.
    async fn status_updates(&self, user: &UserRef) -> Result<StatusUpdates>;
    async fn set_status_updates(
        &self,
        user: &UserRef,
        wanted: StatusUpdates,
    ) -> Result<StatusUpdates>;
    /// Queues a test notification to the method, due now.
    async fn send_test(&self, id: &ContactMethodId, now: DateTime<Utc>) -> Result<DeliveryRecord>;
    /// Newest first.
    async fn deliveries(&self, filter: DeliveryFilter) -> Result<Vec<DeliveryRecord>>;
    async fn delivery(&self, id: &DeliveryId) -> Result<DeliveryRecord>;
}

/// What the engine's modules do, each step one transaction. Every timer is a row with a due time, so a step
/// finds its work by asking what is due at `now`.
#[async_trait]
pub trait EngineRepo: Send + Sync {
    /// Takes or renews the named lease for `holder` for `ttl`, unless another holder's lease runs. Terms are
    /// measured by the database's clock, the one clock every process on it shares, never by a process's own.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: chrono::Duration)
    -> Result<Lease>;
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Pages every escalation level due at `now` (at most `limit`), planning its deliveries by the contact
    /// methods `channels` can send; a level that reaches nobody hands over to the next at once.
    async fn fire_escalations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        channels: Channels,
    ) -> Result<Fired>;
    /// Marks due deliveries as being sent by `holder` until `now + claim_for` (after which another cycle may
    /// retry them) and returns them. `release_others` first returns deliveries claimed by other holders.
    async fn claim_deliveries(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        claim_for: chrono::Duration,
        limit: u32,
        release_others: bool,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Records attempts; each lands in the delivery log and on its incident's timeline.
    async fn finish_deliveries(&self, results: Vec<DeliveryResult>) -> Result<()>;
    /// Opens an alert for every heartbeat whose beat is overdue at `now`.
    async fn fire_heartbeats(&self, now: DateTime<Utc>) -> Result<u32>;
    /// Queues reminders for shifts starting within each schedule's reminder lead time.
    /// Resolves (at most `limit`) alerts whose `endsAt` passed without their sender posting them again, as
    /// their sender would have, through the ingest path; returns how many.
    async fn resolve_ended_alerts(&self, now: DateTime<Utc>, limit: u32) -> Result<u32>;
    async fn send_shift_reminders(&self, now: DateTime<Utc>, limit: u32) -> Result<u32>;
    /// Gives the roles nobody holds in incidents that opened or changed severity (at most `limit` incidents) to
    /// whom their defaults name, paging them by the contact methods `channels` can send; returns how many.
    async fn fill_roles(&self, now: DateTime<Utc>, limit: u32, channels: Channels) -> Result<u32>;
    /// Deletes bookkeeping nobody needs any more (old reminder markers, expired leases).
    async fn cleanup(&self, now: DateTime<Utc>) -> Result<u32>;
    /// The key that signs action links, generated on first use.
    async fn link_key(&self) -> Result<Vec<u8>>;
    /// The earliest due time of any pending timer, for the engine to sleep until.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Tells the engines of every process on the database that something may have become due. A hint only:
    /// engines also poll, and a backend that cannot reach other processes does nothing.
    async fn announce_due(&self) -> Result<()>;
    /// Notifies `wake` whenever any process announces that something may have become due, for as long as
    /// `wake` lives.
    fn listen_due(&self, wake: std::sync::Weak<tokio::sync::Notify>);
}

/// On-call schedules, their overrides and calendar feeds. Schedules are addressed by ID or name.
#[async_trait]
pub trait OnCallRepo: Send + Sync {
    /// Refuses participants that are not users (naming `layers[i].participants[j]`).
    async fn create_schedule(
        &self,
        spec: ScheduleSpec,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRecord>;
    async fn get_schedule(&self, schedule: &ScheduleRef) -> Result<ScheduleRecord>;
    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>>;
    async fn replace_schedule(
        &self,
        schedule: &ScheduleRef,
        spec: ScheduleSpec,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRecord>;
    /// Refused (conflict) while an escalation policy pages the schedule.
    async fn delete_schedule(&self, schedule: &ScheduleRef) -> Result<()>;
    async fn add_override(
        &self,
        schedule: &ScheduleRef,
        new: NewOverride,
        now: DateTime<Utc>,
    ) -> Result<OverrideRecord>;
    async fn delete_override(
        &self,
        schedule: &ScheduleRef,
        id: &OverrideId,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Every schedule the user takes part in, through a layer or an override.
    async fn schedules_of_user(&self, user: &UserRef) -> Result<Vec<ScheduleRecord>>;

    async fn create_feed(&self, new: NewFeed, now: DateTime<Utc>) -> Result<CalendarFeed>;
    async fn list_feeds(&self, subject: Option<FeedSubject>) -> Result<Vec<CalendarFeed>>;
    /// Revoked feed URLs stop answering at once; revoking twice is harmless.
    async fn revoke_feed(&self, id: &FeedId, now: DateTime<Utc>) -> Result<CalendarFeed>;
    /// The live feed whose token hashes to `token_hash`.
    async fn feed_by_token(&self, token_hash: &str) -> Result<Option<CalendarFeed>>;
}

/// Routing and suppression rules, silences and maintenance windows: what decides that an alert does not page.
#[async_trait]
pub trait NoiseRepo: Send + Sync {
    /// Every rule, in the order they run.
    async fn rules(&self) -> Result<Vec<Rule>>;
    async fn create_rule(&self, spec: RuleSpec, now: DateTime<Utc>) -> Result<Rule>;
    async fn get_rule(&self, id: &RuleId) -> Result<Rule>;
    async fn replace_rule(&self, id: &RuleId, spec: RuleSpec, now: DateTime<Utc>) -> Result<Rule>;
    async fn delete_rule(&self, id: &RuleId) -> Result<()>;

    /// Every silence, latest ending first.
    async fn silences(&self) -> Result<Vec<Silence>>;
    async fn create_silence(
        &self,
        spec: SilenceSpec,
        created_by: String,
        now: DateTime<Utc>,
    ) -> Result<Silence>;
    async fn get_silence(&self, id: &SilenceId) -> Result<Silence>;
    /// Ends the silence at `now` if it runs later; expiring twice is harmless.
    async fn expire_silence(&self, id: &SilenceId, now: DateTime<Utc>) -> Result<Silence>;
    /// Moves the end of a silence; it must stay after its start.
    async fn extend_silence(&self, id: &SilenceId, ends_at: DateTime<Utc>) -> Result<Silence>;

    /// Maintenance windows, of one service (ID or name) or all.
    async fn maintenance(&self, service: Option<ServiceRef>) -> Result<Vec<MaintenanceWindow>>;
    async fn create_maintenance(
        &self,
        spec: MaintenanceSpec,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow>;
    async fn get_maintenance(&self, id: &MaintenanceId) -> Result<MaintenanceWindow>;
    async fn delete_maintenance(&self, id: &MaintenanceId) -> Result<()>;
}

#[async_trait]
pub trait HealthRepo: Send + Sync {
    /// Succeeds when the database answers a query.
    async fn ping(&self) -> Result<()>;
    /// What the metrics endpoint shows of the database's state at `now`: the same for every instance on it.
    async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges>;
    /// Write jobs of this process waiting for a writer now.
    fn queued_writes(&self) -> usize;
    /// Has `observe` called with the seconds each write transaction of this process took, from its first
    /// statement to COMMIT returning. Only the first observer set is kept.
    fn observe_commits(&self, observe: Box<dyn Fn(f64) + Send + Sync>);
}

/// Users are addressed by ID or email.
#[async_trait]
pub trait UserRepo: Send + Sync {
    async fn create(&self, spec: UserSpec, now: DateTime<Utc>) -> Result<User>;
    /// Creates a person holding `role` from the start, in one transaction.
    async fn create_with_role(
        &self,
        spec: UserSpec,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<User>;
    async fn get(&self, user: &UserRef) -> Result<User>;
    async fn list(&self) -> Result<Vec<User>>;
    async fn replace(&self, user: &UserRef, spec: UserSpec, now: DateTime<Utc>) -> Result<User>;
    /// Revokes the person's API tokens; refuses to leave nobody holding the owner role (a person, or an owner token
    /// acting for nobody).
    async fn delete(&self, user: &UserRef, now: DateTime<Utc>) -> Result<()>;
    /// Gives the user `role`; refuses to leave nobody holding the owner role.
    async fn set_role(&self, user: &UserRef, role: Role, now: DateTime<Utc>) -> Result<User>;
    /// The user's role and teams.
    async fn access(&self, user: &UserId) -> Result<UserAccess>;
}

/// Teams are addressed by ID or name.
#[async_trait]
pub trait TeamRepo: Send + Sync {
    async fn create(&self, spec: TeamSpec, now: DateTime<Utc>) -> Result<Team>;
    async fn get(&self, team: &TeamRef) -> Result<Team>;
    async fn list(&self) -> Result<Vec<Team>>;
    async fn replace(&self, team: &TeamRef, spec: TeamSpec, now: DateTime<Utc>) -> Result<Team>;
    /// Services the team owned keep existing without an owner.
    async fn delete(&self, team: &TeamRef) -> Result<()>;
}

/// Services are addressed by ID or name.
#[async_trait]
pub trait ServiceRepo: Send + Sync {
    async fn create(&self, spec: ServiceSpec, now: DateTime<Utc>) -> Result<Service>;
    async fn get(&self, service: &ServiceRef) -> Result<Service>;
    async fn list(&self) -> Result<Vec<Service>>;
    async fn replace(
        &self,
        service: &ServiceRef,
        spec: ServiceSpec,
        now: DateTime<Utc>,
    ) -> Result<Service>;
    /// Refused while other services depend on it; revokes its integrations; its incidents keep referring to it.
    async fn delete(&self, service: &ServiceRef, now: DateTime<Utc>) -> Result<()>;
    /// Change events (deploys and the like), newest first.
    async fn changes(&self, service: &ServiceRef, limit: u32) -> Result<Vec<ChangeRecord>>;
}

#[async_trait]
pub trait CatalogRepo: Send + Sync {
    /// Creates and updates what `doc` describes in one transaction, or nothing if any part is invalid.
    async fn apply(
        &self,
        doc: CatalogDocument,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<PlanEntry>>;
    async fn export(&self) -> Result<CatalogDocument>;
}

#[async_trait]
pub trait IntegrationRepo: Send + Sync {
    /// Creates an integration on `service` whose key hashes to `key_hash`; the caller keeps the key itself.
    async fn create(&self, new: NewIntegration, now: DateTime<Utc>) -> Result<Integration>;
    async fn get(&self, id: &IntegrationId) -> Result<Integration>;
    async fn list(&self, service: &ServiceRef) -> Result<Vec<Integration>>;
    /// Revoked keys stop ingesting at once; revoking twice is harmless.
    async fn revoke(&self, id: &IntegrationId, now: DateTime<Utc>) -> Result<Integration>;
    /// The active integration whose key hashes to `key_hash`.
    async fn by_key(&self, key_hash: &str) -> Result<Option<Integration>>;
    async fn update_config(
        &self,
        id: &IntegrationId,
        config: IntegrationConfig,
    ) -> Result<Integration>;
    /// The most recent request bodies the integration accepted, newest first.
    async fn payloads(&self, id: &IntegrationId, limit: u32) -> Result<Vec<RawPayload>>;
    /// Adds accepted request bodies to their integrations' rings of recent payloads (oldest first).
    async fn keep_payloads(&self, payloads: Vec<(IntegrationId, RawPayload)>) -> Result<()>;
}

#[async_trait]
pub trait TokenRepo: Send + Sync {
    async fn create(&self, new: NewToken, now: DateTime<Utc>) -> Result<ApiToken>;
    /// Creates `new` only if no token exists at all (first start), recording `audit` then. Returns whether it did.
    async fn bootstrap(&self, new: NewToken, audit: AuditEntry, now: DateTime<Utc>)
    -> Result<bool>;
    /// The live token with this hash: not revoked, not expired at `now`.
    /// With what the token's user may do, for a token that acts as a user. A token that acted with its user's
    /// role is no longer live once the user is deleted.
    async fn authenticate(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiToken, Option<UserAccess>)>>;
    async fn list(&self) -> Result<Vec<ApiToken>>;
    async fn revoke(&self, id: &TokenId, now: DateTime<Utc>) -> Result<ApiToken>;
}

#[async_trait]
pub trait IngestRepo: Send + Sync {
    /// Applies a sender's request, sent with the key hashing to `key_hash` to the endpoint of `kind`: every event
    /// in order, in one transaction. Durable when it returns Ok; nothing of it is stored when it returns Err.
    ///
    /// New alerts of a batch with a `group_key` join the open incident that holds an open alert of the same sender
    /// group on the service, instead of opening one each.
    async fn batch(
        &self,
        key_hash: &str,
        kind: IntegrationKind,
        batch: Batch,
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>>;

    /// One PagerDuty event.
    async fn event(
        &self,
        key_hash: &str,
        event: AlertEvent,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome> {
        let batch = Batch::new(vec![event]);
        let mut outcomes = self
            .batch(key_hash, IntegrationKind::Pagerduty, batch, now)
            .await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Backend("an event produced no outcome".into()))
    }
    /// The latest state stored for a sender group (the digest [`Batch::group_state`] carried), unless something
    /// since (a person resolving an incident, a triage change) calls for the group to be evaluated again.
    async fn group_state(&self, integration: &IntegrationId, group: &str)
    -> Result<Option<String>>;
    /// Records a beat of the heartbeat integration whose key hashes to `key_hash`.
    async fn beat(&self, key_hash: &str, now: DateTime<Utc>) -> Result<HeartbeatStatus>;
    /// Records a change event on the key's service. Never pages.
    async fn change(
        &self,
        key_hash: &str,
        event: ChangeEvent,
        now: DateTime<Utc>,
    ) -> Result<ChangeRecord>;
}

#[async_trait]
pub trait AlertRepo: Send + Sync {
    async fn get(&self, id: &AlertId) -> Result<Alert>;
    /// The alert and its number: short, unique, never reused (Opsgenie's tiny ID).
    async fn numbered(&self, id: &AlertId) -> Result<(Alert, i64)>;
    /// The alert with this number.
    async fn by_number(&self, number: i64) -> Result<Alert>;
    async fn list(&self, filter: AlertFilter) -> Result<Page<Alert>>;
    /// Every event received for the alert, oldest first.
    async fn events(&self, id: &AlertId) -> Result<Vec<AlertEventRecord>>;
}

/// Incidents are addressed by ID or number (`42` or `#42`).
#[async_trait]
pub trait IncidentRepo: Send + Sync {
    /// Opens an incident by hand, with no alert (e.g. a customer report).
    async fn declare(&self, new: NewIncident, actor: Actor, now: DateTime<Utc>)
    -> Result<Incident>;
    async fn get(&self, incident: &IncidentRef) -> Result<Incident>;
    /// Every severity's definition, SEV-0 first: as admins wrote it, or as Tocsin starts.
    async fn severity_levels(&self) -> Result<Vec<SeverityLevel>>;
    /// Changes what is given of one severity's definition, on what is stored at the time; refused unless the
    /// result validates.
    async fn change_severity_level(
        &self,
        severity: Severity,
        change: SeverityLevelChange,
    ) -> Result<SeverityLevel>;
    /// Changes the title, description, severity, customer impact, services and links given; each change is on
    /// the timeline (severity on its own entry, since a rise to high urgency pages again).
    async fn edit(
        &self,
        incident: &IncidentRef,
        changes: IncidentChanges,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident>;
    async fn list(&self, filter: IncidentFilter) -> Result<Page<Incident>>;
    /// Acknowledges the incident and its triggered alerts.
    async fn acknowledge(
        &self,
        incident: &IncidentRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident>;
    /// Resolves the incident and all its open alerts.
    async fn resolve(
        &self,
        incident: &IncidentRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident>;
    async fn set_severity(
        &self,
        incident: &IncidentRef,
        severity: Severity,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident>;
    async fn add_note(
        &self,
        incident: &IncidentRef,
        body: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<TimelineRecord>;
    /// The incident's timeline, with the entries of the incidents merged into it, in order.
    async fn timeline(&self, incident: &IncidentRef) -> Result<Vec<TimelineRecord>>;
    async fn alerts(&self, incident: &IncidentRef) -> Result<Vec<Alert>>;
    /// Merges `incident` into `into`, which carries on: its alerts, services and responders move to `into`, its
    /// timeline shows in `into`'s, and it is resolved, pointing at `into`. Returns `into` as it is now.
    async fn merge(
        &self,
        incident: &IncidentRef,
        into: &IncidentRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident>;
}
