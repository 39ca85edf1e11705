//! The command-line client. It talks to a server over the same HTTP API users have.

mod access;
mod catalog;
mod client;
mod incidents;
mod output;

use clap::{Args, Subcommand};
use client::Client;
use output::Output;
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
    /// People: who gets paged and who is credited on timelines.
    Users(Group<CatalogCmd<NewUser>>),
    /// Teams and their members.
    Teams(Group<CatalogCmd<NewTeam>>),
    /// Services: what alerts and incidents are about.
    Services(Group<ServiceCmd>),
    /// Integration keys senders use to post events for a service.
    Integrations(Group<IntegrationCmd>),
    /// Incidents: list, declare, acknowledge, resolve, annotate.
    Incidents(Group<IncidentCmd>),
    /// Alerts received from senders.
    Alerts(Group<AlertCmd>),
    /// API tokens (needs an admin token).
    Tokens(Group<TokenCmd>),
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
    /// Show one, by ID or name (email for users).
    Get { reference: String },
    /// Create one.
    Create(C),
    /// Delete one, by ID or name (email for users).
    Delete { reference: String },
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
    #[arg(long)]
    pub description: Option<String>,
    /// The owning team's name.
    #[arg(long)]
    pub team: Option<String>,
    /// Criticality, 1 (most critical) and up.
    #[arg(long)]
    pub tier: Option<u8>,
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
        #[arg(long, default_value = "pagerduty", value_parser = ["pagerduty", "alertmanager", "prometheus", "grafana", "opsgenie", "generic"])]
        kind: String,
        /// Settings as a YAML or JSON file: `rate_limit` and, for generic, `mapping`.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// Requests per second the sender may send (burst: ten seconds' worth); 0 turns limiting off.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// List a service's integrations.
    List {
        /// Service ID or name.
        #[arg(long)]
        service: String,
    },
    /// Replace an integration's settings.
    Update {
        id: String,
        /// Settings as a YAML or JSON file: `rate_limit` and, for generic, `mapping`.
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// Show the request bodies the integration accepted most recently, exactly as sent.
    Payloads {
        id: String,
        /// How many [default: 10].
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Revoke an integration's key: its events are refused from then on.
    Revoke { id: String },
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
    /// Created at or after this time (RFC 3339, e.g. 2026-11-23T10:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Created before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
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
    Show(IncidentRef),
    /// Declare an incident by hand (e.g. from a customer report).
    Declare {
        #[arg(long)]
        title: String,
        /// SEV-0 (worst) to SEV-3.
        #[arg(long)]
        severity: String,
        /// An affected service's ID or name; repeat for several.
        #[arg(long = "service")]
        services: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Acknowledge an incident: someone is on it.
    #[command(visible_alias = "acknowledge")]
    Ack(IncidentRef),
    /// Resolve an incident.
    Resolve(IncidentRef),
    /// Change an incident's severity.
    Severity {
        #[command(flatten)]
        target: IncidentRef,
        /// SEV-0 (worst) to SEV-3.
        severity: String,
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
        #[arg(long)]
        dedup_key: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show an alert and every event received for it.
    Show { id: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token and print it (shown only once).
    Create {
        /// What the token is for, e.g. the script using it.
        #[arg(long)]
        name: String,
        /// read: read anything but tokens; write: also change things; admin: also manage tokens.
        #[arg(long, value_parser = ["read", "write", "admin"])]
        scope: String,
        /// Lifetime such as 90m, 12h, 30d or 2w [default: never expires].
        #[arg(long, value_parser = access::parse_lifetime)]
        expires_in: Option<chrono::TimeDelta>,
        /// The user (ID or email) the token acts as, so actions are credited to them.
        #[arg(long)]
        user: Option<String>,
    },
    /// List tokens.
    List,
    /// Revoke a token.
    Revoke { id: String },
}

pub async fn run(conn: Connection, cmd: Commands) -> anyhow::Result<()> {
    let client = Client::connect(&conn)?;
    let c = &client;
    match cmd {
        Commands::Apply(a) => catalog::apply(c, a).await,
        Commands::Export(a) => catalog::export(c, a).await,
        Commands::Users(g) => catalog::crud(c, &catalog::USERS, g.cmd, g.out).await,
        Commands::Teams(g) => catalog::crud(c, &catalog::TEAMS, g.cmd, g.out).await,
        Commands::Services(g) => catalog::services(c, g.cmd, g.out).await,
        Commands::Integrations(g) => access::integrations(c, g.cmd, g.out).await,
        Commands::Tokens(g) => access::tokens(c, g.cmd, g.out).await,
        Commands::Incidents(g) => incidents::incidents(c, g.cmd, g.out).await,
        Commands::Alerts(g) => incidents::alerts(c, g.cmd, g.out).await,
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
