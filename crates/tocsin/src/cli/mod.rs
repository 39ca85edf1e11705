//! The command-line client. It talks to a server over the same HTTP API users have.

mod access;
mod catalog;
mod client;
mod incidents;
mod noise;
mod oncall;
mod output;
pub use output::terminal_safe;
mod automation;
mod paging;
mod roles;
mod runbooks;
mod tasks;
mod updates;

use chrono::{DateTime, TimeDelta, Utc};
use clap::{ArgGroup, Args, Subcommand};
use client::Client;
use output::Output;
use serde_json::Value;
use std::path::PathBuf;

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Server URL [default: http://127.0.0.1:8080, or `server` in the CLI config file].
    #[arg(long, global = true, env = "TOCSIN_SERVER")]
    pub server: Option<String>,
    /// API token [or `token` in the CLI config file: $TOCSIN_CLI_CONFIG, else ~/.config/tocsin/cli.toml].
    #[arg(long, global = true, env = "TOCSIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Commands {
    /// Create or update users, teams and services from a catalog file (YAML or JSON).
    Apply(ApplyArgs),
    /// Write the whole catalog as YAML, in the format `apply` takes.
    Export(ExportArgs),
    /// People: who gets paged and who is credited on timelines, and the role each holds.
    Users(Group<UserCmd>),
    /// Teams and their members.
    Teams(Group<CatalogCmd<NewTeam>>),
    /// Services: what alerts and incidents are about.
    Services(Group<ServiceCmd>),
    /// Integration keys senders use to post events for a service.
    Integrations(Group<IntegrationCmd>),
    /// Incidents: list, declare, acknowledge, resolve, annotate.
    Incidents(Group<IncidentCmd>),
    /// What SEV-0 to SEV-3 mean here and what each asks of responders.
    Severities(Group<SeverityCmd>),
    /// The roles people take in a response (incident commander, communications lead, scribe, subject-matter
    /// expert, your own), and who takes them by default.
    Roles(Group<roles::RoleCmd>),
    /// Checklists applied to incidents of some severities or services when they open or their severity changes.
    TaskTemplates(Group<tasks::TemplateCmd>),
    /// Runbooks: how to handle a kind of trouble, in Markdown, shown on the incidents they are for.
    Runbooks(Group<runbooks::RunbookCmd>),
    /// Runs of runbook steps: show one, approve or decline it, run it again.
    Runs(Group<automation::RunCmd>),
    /// Secrets runbook steps' requests use, such as an automation system's API token (admins).
    Secrets(Group<automation::SecretCmd>),
    /// Subscriptions to a service's or an incident's stakeholder updates.
    Subscriptions(Group<updates::SubscriptionCmd>),
    /// Alerts received from senders.
    Alerts(Group<AlertCmd>),
    /// Silences: mute matching alerts for a while, e.g. during a planned failover.
    Silences(Group<SilenceCmd>),
    /// Rules that suppress, reroute or reprioritise matching alerts, in order of position.
    Rules(Group<RuleCmd>),
    /// Maintenance windows: a service's alerts are recorded but page no one while one is open.
    Maintenance(Group<MaintenanceCmd>),
    /// API tokens (needs the admin role, except for a token acting as yourself).
    Tokens(Group<TokenCmd>),
    /// Who changed what, when and from where, newest first (needs the admin role).
    Audit(AuditArgs),
    /// On-call schedules: rotations, who is on call, overrides and calendar feeds.
    Schedules(Group<oncall::ScheduleCmd>),
    /// Escalation policies: whom an incident pages, and whom next if nobody acknowledges.
    Policies(Group<paging::PolicyCmd>),
    /// Contact methods: how a user is reached (email, chat, webhook, SMS, voice).
    Contacts(Group<paging::ContactCmd>),
    /// Notification rules: which of a user's contact methods a page uses, and after how long.
    NotificationRules(Group<paging::NotificationRuleCmd>),
    /// Recent notifications sent to a user, newest first.
    Notifications(paging::NotificationsArgs),
    /// The engine that escalates, checks heartbeats and sends notifications.
    Engine(Group<paging::EngineCmd>),
    /// Check the paging setup for what would leave an incident with nobody: services without a policy,
    /// schedules with nobody on call in the next 14 days, people a policy pages who cannot be reached, contact
    /// methods of a kind this server cannot send. Exits with status 1 when it finds something.
    Doctor(DoctorArgs),
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Entries by this actor: an ID, or a name as recorded.
    #[arg(long)]
    pub actor: Option<String>,
    /// An action (incident.acknowledge), or all of an object's (incident).
    #[arg(long)]
    pub action: Option<String>,
    /// Entries about this target, as recorded (an ID, a name, an email, an incident number).
    #[arg(long)]
    pub target: Option<String>,
    #[command(flatten)]
    pub range: TimeRange,
    #[command(flatten)]
    pub paging: Paging,
    #[command(flatten)]
    pub out: Output,
}

/// What can be done with people: what every catalog entry allows, and roles.
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    #[command(flatten)]
    Catalog(CatalogCmd<NewUser>),
    /// Give a person a role (owners only): observer (reads), responder (works incidents), admin (configures),
    /// owner (everything, including roles).
    SetRole {
        /// User ID or email.
        user: String,
        /// The role to give.
        #[arg(long, value_parser = ["observer", "responder", "admin", "owner"])]
        role: String,
    },
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub out: Output,
}

/// A command group and the output choice its commands share.
#[derive(Args, Debug)]
pub struct Group<C: Subcommand> {
    #[command(subcommand)]
    pub cmd: C,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The catalog file: YAML, or JSON if it ends in `.json`; `-` reads standard input.
    #[arg(long, short = 'f')]
    pub file: PathBuf,
    /// Report what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long = "output", short = 'o')]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub out: Output,
}

/// An incident: its number (`42` or `#42`) or ID.
#[derive(Args, Debug)]
pub struct IncidentRef {
    /// Incident number (42 or #42) or ID.
    #[arg(value_parser = incidents::incident_ref)]
    pub incident: String,
}

/// What users, teams and services have in common; `C` is what creating one takes.
#[derive(Subcommand, Debug)]
pub enum CatalogCmd<C: Args> {
    /// List them all.
    List,
    /// Show one.
    #[command(alias = "get")]
    Show {
        /// ID or name (email for users).
        reference: String,
    },
    /// Create one.
    Create(C),
    /// Delete one.
    Delete {
        /// ID or name (email for users).
        reference: String,
    },
}

#[derive(Args, Debug)]
pub struct NewUser {
    /// Full name, as shown on timelines.
    #[arg(long)]
    pub name: String,
    /// Email address; the catalog refers to users by it.
    #[arg(long)]
    pub email: String,
    /// IANA time zone, e.g. Europe/Paris [server default: UTC].
    #[arg(long)]
    pub time_zone: Option<String>,
}

#[derive(Args, Debug)]
pub struct NewTeam {
    /// Team name; services refer to their team by it.
    #[arg(long)]
    pub name: String,
    /// What the team does.
    #[arg(long)]
    pub description: Option<String>,
    /// A member's email; repeat for several.
    #[arg(long = "member")]
    pub members: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NewService {
    /// Service name; alerts, incidents and dependencies refer to it.
    #[arg(long)]
    pub name: String,
    /// What the service is.
    #[arg(long)]
    pub description: Option<String>,
    /// The owning team's name.
    #[arg(long)]
    pub team: Option<String>,
    /// Criticality, 1 (most critical) and up.
    #[arg(long)]
    pub tier: Option<u8>,
    /// Where responders find what to do when it breaks; linked from its pages.
    #[arg(long)]
    pub runbook_url: Option<String>,
    /// A service this one depends on; repeat for several.
    #[arg(long)]
    pub depends_on: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    #[command(flatten)]
    Common(CatalogCmd<NewService>),
    #[command(flatten)]
    Paging(paging::ServicePagingCmd),
    /// Change events (deploys and the like) recorded on a service, newest first.
    Changes {
        /// Service ID or name.
        service: String,
        /// At most this many [server default: 50].
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum IntegrationCmd {
    /// Create an integration and print its routing key (shown only once).
    Create {
        /// Service ID or name.
        #[arg(long)]
        service: String,
        /// A label, e.g. the sender's name [default: the kind].
        #[arg(long)]
        name: Option<String>,
        /// The protocol senders speak.
        #[arg(long, default_value = "pagerduty", value_parser = ["pagerduty", "alertmanager", "prometheus", "grafana", "opsgenie", "generic", "heartbeat"])]
        kind: String,
        /// Settings as a YAML or JSON file: `rate_limit`; for generic, `mapping`; for heartbeat, `heartbeat`.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// Requests per second the sender may send (burst: ten seconds' worth); 0 turns limiting off.
        #[arg(long)]
        rate_limit: Option<u32>,
        /// For --kind heartbeat: seconds between the job's calls; a call missing for longer opens an alert.
        #[arg(long, value_name = "SECONDS")]
        interval: Option<u32>,
        /// For --kind heartbeat: seconds a call may be late before it counts as missed [server default: 60].
        #[arg(long, value_name = "SECONDS", requires = "interval")]
        grace: Option<u32>,
    },
    /// List a service's integrations.
    List {
        /// Service ID or name.
        #[arg(long)]
        service: String,
    },
    /// Replace an integration's settings.
    Update {
        /// Integration ID.
        id: String,
        /// Settings as a YAML or JSON file: `rate_limit`; for generic, `mapping`; for heartbeat, `heartbeat`.
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// Show the request bodies the integration accepted most recently, exactly as sent.
    Payloads {
        /// Integration ID.
        id: String,
        /// How many [default: 10].
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Revoke an integration's key: its events are refused from then on.
    Revoke {
        /// Integration ID.
        id: String,
    },
}

/// How much of a paged list to fetch.
#[derive(Args, Debug)]
pub struct Paging {
    /// Page size [server default: 50, max 500].
    #[arg(long)]
    pub limit: Option<u32>,
    /// Start at this `next_cursor` of an earlier page.
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Follow every page to the end.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct TimeRange {
    /// Created at or after this time (now, -2h, 2026-11-23 10:00 Europe/Berlin, or RFC 3339).
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
    pub since: Option<DateTime<Utc>>,
    /// Created before this time (now, -30m, a local time with its zone, or RFC 3339).
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Subcommand, Debug)]
pub enum SeverityCmd {
    /// Every severity with its definition, urgency, update cadence and whether it needs a postmortem.
    List,
    /// Reword a severity (admins); what is not given stays as it is.
    Set {
        /// SEV-0 (worst) to SEV-3.
        severity: String,
        /// A word for it, e.g. critical.
        #[arg(long)]
        name: Option<String>,
        /// The harm that makes an incident this severe.
        #[arg(long)]
        definition: Option<String>,
        /// An incident that was this severe; repeat for several (replaces the examples).
        #[arg(long = "example", value_name = "EXAMPLE")]
        examples: Vec<String>,
        /// Who responds and how.
        #[arg(long)]
        expectations: Option<String>,
        /// How often stakeholders are owed an update while one is open, e.g. 30m or 4h.
        #[arg(long, value_parser = parse_duration, conflicts_with = "no_update_cadence")]
        update_every: Option<TimeDelta>,
        /// No update cadence.
        #[arg(long)]
        no_update_cadence: bool,
        /// Whether incidents this severe get a postmortem.
        #[arg(long)]
        postmortem_required: Option<bool>,
    },
}

#[derive(Subcommand, Debug)]
pub enum IncidentCmd {
    /// List incidents, newest first.
    List {
        /// Statuses: triggered, acknowledged, resolved (comma-separated).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Severities, e.g. SEV-0,SEV-1.
        #[arg(long, value_delimiter = ',')]
        severity: Vec<String>,
        /// Service ID or name.
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show an incident and its timeline.
    #[command(alias = "get")]
    Show(IncidentRef),
    /// Declare an incident by hand (e.g. from a customer report).
    Declare {
        /// What is wrong, in one line.
        #[arg(long)]
        title: String,
        /// SEV-0 (worst) to SEV-3.
        #[arg(long)]
        severity: String,
        /// An affected service's ID or name; repeat for several.
        #[arg(long = "service")]
        services: Vec<String>,
        /// More about it (Markdown).
        #[arg(long)]
        description: Option<String>,
    },
    /// Acknowledge an incident: someone is on it.
    #[command(visible_alias = "acknowledge")]
    Ack(IncidentRef),
    /// Resolve an incident.
    Resolve(IncidentRef),
    /// Merge an incident into another, which carries on with its alerts, services, responders and history; the
    /// merged one is resolved and points at it.
    Merge {
        #[command(flatten)]
        target: IncidentRef,
        /// The incident that carries on: its number (42 or #42) or ID.
        #[arg(long, value_parser = incidents::incident_ref)]
        into: String,
    },
    /// Change an incident's severity.
    Severity {
        #[command(flatten)]
        target: IncidentRef,
        /// SEV-0 (worst) to SEV-3.
        severity: String,
    },
    /// Change how an incident describes itself; every change is on its timeline.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)))]
    Edit {
        #[command(flatten)]
        target: IncidentRef,
        /// A new title.
        #[arg(long, group = "change")]
        title: Option<String>,
        /// Markdown.
        #[arg(long, group = "change")]
        description: Option<String>,
        /// What customers notice (Markdown); "" clears it.
        #[arg(long = "impact", group = "change")]
        customer_impact: Option<String>,
        /// A service (ID or name) the incident also affects; repeat for several.
        #[arg(long = "add-service", value_name = "SERVICE", group = "change")]
        add_services: Vec<String>,
        /// A service it turned out not to affect; repeat for several.
        #[arg(long = "remove-service", value_name = "SERVICE", group = "change")]
        remove_services: Vec<String>,
        /// A link to keep with it: URL, or LABEL=URL (e.g. Dashboard=https://…); repeat for several.
        #[arg(long = "link", value_name = "LINK", group = "change", value_parser = incidents::parse_link)]
        add_links: Vec<serde_json::Value>,
        /// The URL of a link to drop; repeat for several.
        #[arg(long = "remove-link", value_name = "URL", group = "change")]
        remove_links: Vec<String>,
        /// An incident (number) related to this one, linked on both; repeat for several.
        #[arg(long = "relate", value_name = "INCIDENT", group = "change")]
        add_related: Vec<String>,
        /// A related incident to unlink; repeat for several.
        #[arg(long = "unrelate", value_name = "INCIDENT", group = "change")]
        remove_related: Vec<String>,
        /// Where the response stands: investigating, identified or monitoring.
        #[arg(long, group = "change", value_parser = ["investigating", "identified", "monitoring"])]
        stage: Option<String>,
        /// Record or correct a time of its course: NAME=TIME (impact_started, detected, acknowledged, mitigated,
        /// resolved; TIME in RFC 3339), or NAME=none to remove impact_started or mitigated; repeat for several.
        #[arg(long = "milestone", value_name = "NAME=TIME", group = "change", value_parser = incidents::parse_milestone)]
        milestones: Vec<(String, Value)>,
    },
    /// Add a note (Markdown) to an incident's timeline.
    Note {
        #[command(flatten)]
        target: IncidentRef,
        /// The note; or use --file.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// Read the note from this file; `-` reads standard input.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Print an incident's timeline.
    Timeline(IncidentRef),
    #[command(flatten)]
    Paging(paging::IncidentPagingCmd),
    #[command(flatten)]
    Response(roles::IncidentRoleCmd),
    #[command(flatten)]
    Tasks(tasks::IncidentTaskCmd),
    #[command(flatten)]
    Runbooks(runbooks::IncidentRunbookCmd),
    #[command(flatten)]
    Runs(automation::IncidentRunCmd),
    #[command(flatten)]
    Updates(updates::IncidentUpdateCmd),
}

#[derive(Subcommand, Debug)]
pub enum AlertCmd {
    /// List alerts, newest first.
    List {
        /// Statuses: triggered, acknowledged, resolved (comma-separated).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Service ID or name.
        #[arg(long)]
        service: Option<String>,
        /// Only alerts with this dedup key.
        #[arg(long)]
        dedup_key: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show an alert and every event received for it.
    #[command(alias = "get")]
    Show {
        /// Alert ID.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token and print it (shown only once).
    Create {
        /// What the token is for, e.g. the script using it.
        #[arg(long)]
        name: String,
        /// observer: reads; responder: works incidents; admin: configures; owner: everything. At most your own
        /// role [default with --user: whatever role the user holds].
        #[arg(long, value_parser = ["observer", "responder", "admin", "owner"], required_unless_present_any = ["user", "scope"])]
        role: Option<String>,
        /// The older form of --role: read (observer), write (admin) or admin (owner).
        #[arg(long, value_parser = ["read", "write", "admin"], conflicts_with = "role", hide = true)]
        scope: Option<String>,
        /// Lifetime such as 90m, 12h, 30d or 2w [default: never expires].
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<TimeDelta>,
        /// The user (ID or email) the token acts as, so actions are credited to them.
        #[arg(long)]
        user: Option<String>,
    },
    /// List tokens.
    List,
    /// Revoke a token.
    Revoke {
        /// Token ID.
        id: String,
    },
}

/// Shared by silences and rules, which select alerts the same way.
const MATCHER_HELP: &str = "A condition alerts must meet, e.g. alertname=DiskFull, env!=prod or team=~\"db|cache\"; \
                            repeat for several (all must hold)";

#[derive(Subcommand, Debug)]
pub enum SilenceCmd {
    /// List silences with whether each is pending, active or expired.
    List,
    /// Silence matching alerts from now (or --starts-at) until --ends-at or for --duration.
    Create {
        #[arg(long = "matcher", required = true, value_name = "MATCHER",
              value_parser = noise::matcher, help = MATCHER_HELP)]
        matchers: Vec<String>,
        /// Why the alerts are silenced, for whoever wonders why they were not paged.
        #[arg(long)]
        comment: String,
        /// When the silence starts (now, +2h, a local time with its zone, or RFC 3339) [default: now].
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
        starts_at: Option<DateTime<Utc>>,
        /// When it ends (now, +2h, a local time with its zone, or RFC 3339); or use --duration.
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true, required_unless_present = "duration", conflicts_with = "duration")]
        ends_at: Option<DateTime<Utc>>,
        /// How long it lasts from its start, such as 90m, 2h or 1d.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<TimeDelta>,
    },
    /// End a silence now.
    Expire {
        /// Silence ID.
        id: String,
    },
    /// Move a silence's end.
    Extend {
        /// Silence ID.
        id: String,
        /// The new end (now, +2h, a local time with its zone, or RFC 3339); or use --by.
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true, required_unless_present = "by", conflicts_with = "by")]
        ends_at: Option<DateTime<Utc>>,
        /// Push the current end back by this much, such as 30m or 2h.
        #[arg(long, value_parser = parse_duration)]
        by: Option<TimeDelta>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RuleCmd {
    /// List rules in the order they run.
    List,
    /// Add a rule with one action: --suppress, --route or --set-severity.
    #[command(group(ArgGroup::new("action").required(true)))]
    Create {
        /// What the rule is for; alerts it suppresses name it.
        #[arg(long)]
        name: String,
        #[arg(long = "matcher", required = true, value_name = "MATCHER",
              value_parser = noise::matcher, help = MATCHER_HELP)]
        matchers: Vec<String>,
        /// Record matching alerts but page no one; later rules do not run.
        #[arg(long, group = "action")]
        suppress: bool,
        /// Move matching alerts to this service (name), whose escalation then applies.
        #[arg(long, group = "action", value_name = "SERVICE")]
        route: Option<String>,
        /// Give matching alerts this severity.
        #[arg(long, group = "action", value_name = "SEVERITY",
              value_parser = ["critical", "error", "warning", "info"])]
        set_severity: Option<String>,
        /// Rules run in ascending position [server default: 0].
        #[arg(long, allow_negative_numbers = true)]
        position: Option<i64>,
        /// Only alerts of this service (name) [default: every service].
        #[arg(long)]
        service: Option<String>,
    },
    /// Delete a rule.
    Delete {
        /// Rule ID.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum MaintenanceCmd {
    /// List maintenance windows with whether each is open now and when it next opens.
    List {
        /// Only this service's windows (ID or name).
        #[arg(long)]
        service: Option<String>,
    },
    /// Plan maintenance: once (--from, --until), or recurring (--cron or --rrule, with --duration).
    #[command(group(ArgGroup::new("schedule").required(true)))]
    Create {
        /// The service under maintenance (name).
        #[arg(long)]
        service: String,
        /// What the work is, shown on the alerts it mutes.
        #[arg(long)]
        description: Option<String>,
        /// Start of a one-off window (now, +2h, a local time with its zone, or RFC 3339).
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true, group = "schedule", requires = "until")]
        from: Option<DateTime<Utc>>,
        /// End of a one-off window (now, +2h, a local time with its zone, or RFC 3339).
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true, requires = "from")]
        until: Option<DateTime<Utc>>,
        /// A window starts at each time this 5-field cron expression names, e.g. "0 2 * * SUN".
        #[arg(long, group = "schedule", requires_all = ["time_zone", "duration"])]
        cron: Option<String>,
        /// The IANA time zone the cron expression is read in, e.g. Europe/Berlin.
        #[arg(long, requires = "cron")]
        time_zone: Option<String>,
        /// A window starts at each occurrence of this RFC 5545 recurrence, e.g.
        /// 'DTSTART;TZID=Europe/Berlin:20261201T020000\nRRULE:FREQ=WEEKLY;BYDAY=SU'.
        #[arg(long, group = "schedule", requires = "duration")]
        rrule: Option<String>,
        /// How long each recurring window lasts, such as 90m or 2h.
        #[arg(long, value_parser = parse_duration, conflicts_with = "from")]
        duration: Option<TimeDelta>,
    },
    /// Delete a maintenance window.
    Delete {
        /// Maintenance window ID.
        id: String,
    },
}

pub async fn run(conn: Connection, cmd: Commands) -> anyhow::Result<()> {
    let client = Client::connect(&conn)?;
    let c = &client;
    match cmd {
        Commands::Apply(a) => catalog::apply(c, a).await,
        Commands::Export(a) => catalog::export(c, a).await,
        Commands::Users(g) => catalog::users(c, g.cmd, g.out).await,
        Commands::Teams(g) => catalog::crud(c, &catalog::TEAMS, g.cmd, g.out).await,
        Commands::Services(g) => catalog::services(c, g.cmd, g.out).await,
        Commands::Integrations(g) => access::integrations(c, g.cmd, g.out).await,
        Commands::Tokens(g) => access::tokens(c, g.cmd, g.out).await,
        Commands::Audit(a) => access::audit(c, a).await,
        Commands::Incidents(g) => incidents::incidents(c, g.cmd, g.out).await,
        Commands::Severities(g) => incidents::severities(c, g.cmd, g.out).await,
        Commands::Roles(g) => roles::roles(c, g.cmd, g.out).await,
        Commands::TaskTemplates(g) => tasks::templates(c, g.cmd, g.out).await,
        Commands::Runbooks(g) => runbooks::runbooks(c, g.cmd, g.out).await,
        Commands::Runs(g) => automation::runs(c, g.cmd, g.out).await,
        Commands::Secrets(g) => automation::secrets(c, g.cmd, g.out).await,
        Commands::Subscriptions(g) => updates::subscriptions(c, g.cmd, g.out).await,
        Commands::Alerts(g) => incidents::alerts(c, g.cmd, g.out).await,
        Commands::Silences(g) => noise::silences(c, g.cmd, g.out).await,
        Commands::Rules(g) => noise::rules(c, g.cmd, g.out).await,
        Commands::Maintenance(g) => noise::maintenance(c, g.cmd, g.out).await,
        Commands::Schedules(g) => oncall::schedules(c, g.cmd, g.out).await,
        Commands::Policies(g) => paging::policies(c, g.cmd, g.out).await,
        Commands::Contacts(g) => paging::contacts(c, g.cmd, g.out).await,
        Commands::NotificationRules(g) => paging::notification_rules(c, g.cmd, g.out).await,
        Commands::Notifications(a) => paging::notifications(c, a).await,
        Commands::Engine(g) => paging::engine(c, g.cmd, g.out).await,
        Commands::Doctor(a) => paging::doctor(c, a.out).await,
    }
}

/// A query string from optional filters, leaving out the absent ones.
fn query<const N: usize>(pairs: [(&'static str, Option<String>); N]) -> client::Query {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.filter(|v| !v.is_empty())?)))
        .collect()
}

/// A JSON body without its null fields, so optional flags left out take the server's defaults.
fn body(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(fields) = value.as_object_mut() {
        fields.retain(|_, v| !v.is_null());
    }
    value
}

/// Reads a file, or standard input for `-`.
fn read_input(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    if path.as_os_str() == "-" {
        return std::io::read_to_string(std::io::stdin()).context("could not read standard input");
    }
    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// A length of time such as `90m`, `12h`, `30d` or `2w`.
pub fn parse_duration(raw: &str) -> Result<TimeDelta, String> {
    let bad = || format!("{raw:?} is not a duration such as 90m, 12h, 30d or 2w");
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (amount, unit) = s.split_at(split);
    let amount: i64 = amount.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    amount
        .checked_mul(unit_secs)
        .filter(|secs| *secs > 0)
        .and_then(TimeDelta::try_seconds)
        .ok_or_else(bad)
}

/// Lets a client command end as other command-line tools do when what reads its output stops reading
/// (`tocsin incidents list | head`): by SIGPIPE, silently, rather than by a panic on the failed write. Only the
/// client does this; the server keeps SIGPIPE ignored, so a peer closing a socket cannot kill it.
pub fn die_quietly_on_closed_pipe() {
    // SAFETY: called once at start-up, before any thread that writes exists; SIG_DFL is a valid disposition.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A time as people type it, checked here so that a typo is named before anything is sent: `now`, a time relative
/// to now (`+2h`, `-30m`, `+1d12h`; units s, m, h, d, w), a local time in a zone (`2026-03-02 09:00
/// Europe/Berlin`, seconds optional, `T` or a space between date and time), or RFC 3339.
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    parse_time_at(raw, Utc::now())
}

fn parse_time_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = raw.trim();
    let unknown = || {
        format!(
            "{raw:?} is not a time: give now, +2h or -30m, 2026-03-02 09:00 Europe/Berlin, or 2026-03-02T09:00:00Z"
        )
    };
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(sign) = s.chars().next().filter(|c| *c == '+' || *c == '-') {
        let by = relative(&s[1..]).ok_or_else(unknown)?;
        let t = if sign == '+' {
            now.checked_add_signed(by)
        } else {
            now.checked_sub_signed(by)
        };
        return t.ok_or_else(|| format!("{raw:?} is out of range"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (local, zone) = s.rsplit_once(char::is_whitespace).ok_or_else(unknown)?;
    let zone: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| format!("{zone:?} is not a time zone such as Europe/Berlin or UTC"))?;
    let local = local.trim().replacen(' ', "T", 1);
    let naive = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(&local, f).ok())
        .ok_or_else(unknown)?;
    use chrono::TimeZone;
    match zone.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        // The hour repeated when clocks go back: its first occurrence, as schedules read it too.
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!(
            "{raw:?} does not exist: the clocks in {zone} skip it"
        )),
    }
}

/// `2h`, `30m`, `1d12h`: a sum of whole numbers of seconds, minutes, hours, days or weeks.
fn relative(s: &str) -> Option<chrono::TimeDelta> {
    let mut total = chrono::TimeDelta::zero();
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = std::mem::take(&mut digits).parse().ok()?;
        let part = match c {
            's' => chrono::TimeDelta::try_seconds(n)?,
            'm' => chrono::TimeDelta::try_minutes(n)?,
            'h' => chrono::TimeDelta::try_hours(n)?,
            'd' => chrono::TimeDelta::try_days(n)?,
            'w' => chrono::TimeDelta::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&part)?;
    }
    (digits.is_empty() && !s.is_empty()).then_some(total)
}

/// How a time is sent to the server.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `t + by`, refused with a message instead of overflowing.
pub(crate) fn later(
    t: chrono::DateTime<chrono::Utc>,
    by: chrono::TimeDelta,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    use anyhow::Context;
    t.checked_add_signed(by).with_context(|| {
        format!(
            "{} plus {} is past the end of time",
            rfc3339(t),
            noise::span(by)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and every argument says what it is for, and `show` (alias `get`) is the one verb for one
    /// entry everywhere.
    #[test]
    fn every_command_and_argument_has_help_and_show_is_the_verb() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Client {
            #[command(flatten)]
            connection: Connection,
            #[command(subcommand)]
            command: Commands,
        }
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(format!("{path} (the command)"));
                }
                if sub.get_name() == "get" {
                    missing.push(format!("{path}: use show, with get as its alias"));
                }
                if sub.get_name() == "show" && !sub.get_all_aliases().any(|a| a == "get") {
                    missing.push(format!("{path}: missing the get alias"));
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Client::command(), "tocsin", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn times_are_read_as_people_type_them() {
        let now: DateTime<Utc> = "2026-03-28T12:00:00Z".parse().unwrap();
        let at = |s| parse_time_at(s, now);
        assert_eq!(at("now"), Ok(now));
        assert_eq!(at("+2h"), Ok(now + TimeDelta::hours(2)));
        assert_eq!(at("-30m"), Ok(now - TimeDelta::minutes(30)));
        assert_eq!(at("+1d12h"), Ok(now + TimeDelta::hours(36)));
        assert_eq!(
            at("2026-03-02T09:00:00+01:00"),
            Ok("2026-03-02T08:00:00Z".parse().unwrap())
        );
        assert_eq!(
            at("2026-03-02 09:00 Europe/Berlin"),
            Ok("2026-03-02T08:00:00Z".parse().unwrap())
        );
        assert_eq!(
            at("2026-07-02T09:00:30 Europe/Berlin"),
            Ok("2026-07-02T07:00:30Z".parse().unwrap()),
            "summer time"
        );
        // Clocks go back at 03:00 on 2026-10-25: 02:30 happens twice, and the first is meant.
        assert_eq!(
            at("2026-10-25 02:30 Europe/Berlin"),
            Ok("2026-10-25T00:30:00Z".parse().unwrap())
        );
        assert!(
            at("2026-03-29 02:30 Europe/Berlin")
                .unwrap_err()
                .contains("skip it")
        );
        assert!(
            at("2026-03-02 09:00 Mars/Olympus")
                .unwrap_err()
                .contains("time zone")
        );
        for bad in [
            "",
            "soon",
            "+",
            "+2",
            "+2y",
            "-h",
            "2026-03-02 Europe/Berlin",
            "tomorrow 9am",
        ] {
            assert!(at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("30d"), Ok(TimeDelta::days(30)));
        assert_eq!(parse_duration("12h"), Ok(TimeDelta::hours(12)));
        assert_eq!(parse_duration("90m"), Ok(TimeDelta::minutes(90)));
        assert_eq!(parse_duration("2w"), Ok(TimeDelta::weeks(2)));
        for bad in ["", "d", "30", "0d", "3y", "-1d", "99999999999999999w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_read_in_any_offset_and_kept_in_utc() {
        let t = parse_time("2026-11-23T12:00:00+02:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-23T10:00:00Z");
        assert!(parse_time("tomorrow").is_err());
    }
}
