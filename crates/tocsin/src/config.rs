//! Configuration in layers: built-in defaults, then a TOML file, then `TOCSIN_*` environment variables, then
//! command-line flags. Validated at start-up; errors name the key and where its value came from.

use crate::notify::NotifyConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Loopback only unless configured otherwise.
    pub listen: SocketAddr,
    /// Where the embedded database lives; created on first start.
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://user:password@host:port/db`) instead of the embedded one, for several
    /// instances on one database.
    pub database_url: Option<String>,
    /// The URL senders reach this server at, used in integration URLs. Defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// `full` (fsync every commit, the default) or `process` (survive a killed process, not a power cut).
    pub durability: Durability,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// The first admin token, instead of a generated one (for automated setups). Used only on first start.
    pub bootstrap_token: Option<String>,
    /// The file holding the key that seals the secrets Tocsin keeps (contact methods' URLs and signing secrets,
    /// the action-link key): base64 of 32 bytes, created on first start if missing. Defaults to
    /// `<data_dir>/secret.key`; `TOCSIN_SECRET_KEY` (the key itself) overrides it. Every instance on one database
    /// needs the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_file: Option<PathBuf>,
    /// How notifications leave: SMTP relay, SMS and voice gateways (`[notify]`).
    #[serde(default)]
    pub notify: NotifyConfig,
    /// What runbook steps may do: commands allowed by name, private networks their requests may reach
    /// (`[automation]`).
    #[serde(default)]
    pub automation: crate::automation::AutomationConfig,
    /// How stakeholder updates are worded for each audience (`[updates.templates.responders]` and
    /// `[updates.templates.subscribers]`, each a `subject` and a `body` with `{{placeholders}}`).
    #[serde(default)]
    pub updates: UpdatesConfig,
    /// The engine that escalates, sends notifications and watches heartbeats (`[engine]`).
    #[serde(default)]
    pub engine: EngineConfig,
    /// Serve HTTPS from certificate and key files (`[tls]`) instead of plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Limits on connections, so that slow or idle clients cannot exhaust the server (`[http]`).
    #[serde(default)]
    pub http: HttpLimits,
    /// Ingest's in-process caches (`[ingest]`).
    #[serde(default)]
    pub ingest: IngestConfig,
    /// How long the audit log keeps its entries (`[audit]`).
    #[serde(default)]
    pub audit: AuditConfig,
    /// How long a browser stays signed in (`[sessions]`).
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// Single sign-on with an OpenID Connect provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
    /// Buttons in Slack messages, and the endpoints that receive their clicks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<crate::slack::SlackConfig>,
}

/// `[sessions]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Hours without a request after which a session ends.
    pub idle_hours: u32,
    /// Days after signing in after which a session ends, however much it is used.
    pub max_days: u32,
}

/// `[oidc]`: people sign in at an OpenID Connect provider (authorization code with PKCE and a nonce), matched to
/// Tocsin's people by the email the provider has verified.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL; its `/.well-known/openid-configuration` says the rest.
    pub issuer: String,
    pub client_id: String,
    /// `TOCSIN_OIDC_CLIENT_SECRET` keeps it out of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The provider's name on the sign-in button ("Sign in with …").
    #[serde(default = "default_oidc_label")]
    pub label: String,
    /// Someone the provider vouches for with no account yet gets one, holding `new_user_role`, when their email is
    /// in one of `allowed_domains` (which must then name at least one).
    #[serde(default)]
    pub create_users: bool,
    /// `observer` or `responder`: more is given by an owner, never by a provider.
    #[serde(default = "default_oidc_role")]
    pub new_user_role: tocsin_domain::auth::Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_domains: Vec<String>,
}

fn default_oidc_label() -> String {
    "single sign-on".into()
}

fn default_oidc_role() -> tocsin_domain::auth::Role {
    tocsin_domain::auth::Role::Observer
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("label", &self.label)
            .field("create_users", &self.create_users)
            .field("new_user_role", &self.new_user_role)
            .field("allowed_domains", &self.allowed_domains)
            .finish()
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        let policy = tocsin_domain::account::SessionPolicy::default();
        Self {
            idle_hours: policy.idle.num_hours() as u32,
            max_days: policy.absolute.num_days() as u32,
        }
    }
}

impl SessionsConfig {
    pub fn settings(&self) -> tocsin_app::AccountSettings {
        tocsin_app::AccountSettings {
            sessions: tocsin_domain::account::SessionPolicy {
                idle: chrono::Duration::hours(i64::from(self.idle_hours.max(1))),
                absolute: chrono::Duration::days(i64::from(self.max_days.max(1))),
            },
            ..Default::default()
        }
    }
}

/// `[audit]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days an entry is kept; the engine forgets older ones.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: tocsin_domain::audit::DEFAULT_RETENTION_DAYS,
        }
    }
}

/// `[ingest]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Memory the caches in front of the database may take together (keys, sender group states, recent request
    /// bodies, body samples waiting to be written); past it they evict, which only costs lookups and writes.
    pub cache_megabytes: u64,
    /// The most events (alerts) one request may carry; more are refused with 413.
    pub max_events_per_request: usize,
    /// The server's ingest budget: events per second from all integrations together (0: unlimited). Each
    /// integration's own `events_per_second` keeps one sender to a share of it.
    pub events_per_second: u32,
    /// Events the server takes at once above `events_per_second`; at least `max_events_per_request`.
    pub event_burst: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let defaults = tocsin_app::IntakeSettings::default();
        let budget = defaults.budget.expect("a default budget");
        Self {
            cache_megabytes: defaults.cache_bytes / (1024 * 1024),
            max_events_per_request: defaults.max_events_per_request,
            events_per_second: budget.per_second.get(),
            event_burst: budget.burst.get(),
        }
    }
}

impl IngestConfig {
    pub fn settings(&self) -> tocsin_app::IntakeSettings {
        let max_events_per_request = self.max_events_per_request.max(1);
        // A budget whose burst is smaller than a request allowed in would refuse that request forever.
        let burst = self
            .event_burst
            .max(u32::try_from(max_events_per_request).unwrap_or(u32::MAX));
        tocsin_app::IntakeSettings {
            cache_bytes: self.cache_megabytes.max(1) * 1024 * 1024,
            max_events_per_request,
            budget: tocsin_domain::integration::Rate::new(self.events_per_second, burst),
        }
    }
}

/// `[http]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Connections open at once; past it, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Milliseconds a client has to finish a TLS handshake or a request's headers; a keep-alive connection idle
    /// this long is closed.
    pub header_read_timeout_ms: u64,
    /// Milliseconds a client has to send a request's whole body.
    pub body_read_timeout_ms: u64,
    /// Reverse proxies in front of Tocsin (`["10.0.0.0/8"]`): from them, the client's address is the one they add
    /// to `X-Forwarded-For`, for the audit log and sign-in limits. Empty: the connection's peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[tls]` settings: PEM files, re-read while serving whenever either changes, so a renewed certificate (certbot,
/// cert-manager) is picked up without a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first (PEM).
    pub cert_file: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Seconds between checks of the files for a change.
    #[serde(default = "default_reload_check_seconds")]
    pub reload_check_seconds: u64,
}

fn default_reload_check_seconds() -> u64 {
    10
}

/// `[engine]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Run the engine in this process. With several processes on one database, all may run it: a lease lets
    /// one at a time act.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Milliseconds between cycles when nothing wakes the engine sooner.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// This instance's name to the engine lease; a restart under the same name takes the lease over at once.
    /// Defaults to `<host>:<port>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

fn enabled() -> bool {
    true
}

fn default_tick_ms() -> u64 {
    1_000
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_ms: default_tick_ms(),
            instance: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Full,
    Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatesConfig {
    #[serde(default)]
    pub templates: crate::engine::UpdateTemplates,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("tocsin-data"),
            database_url: None,
            public_url: None,
            durability: Durability::Full,
            log_format: LogFormat::Text,
            bootstrap_token: None,
            secret_key_file: None,
            notify: NotifyConfig::default(),
            automation: Default::default(),
            updates: UpdatesConfig::default(),
            engine: EngineConfig::default(),
            tls: None,
            http: HttpLimits::default(),
            ingest: IngestConfig::default(),
            audit: AuditConfig::default(),
            sessions: SessionsConfig::default(),
            oidc: None,
            slack: None,
        }
    }
}

/// Settings given on the command line; they win over every other layer.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

const ENV_KEYS: [&str; 8] = [
    "listen",
    "data_dir",
    "database_url",
    "public_url",
    "durability",
    "log_format",
    "bootstrap_token",
    "secret_key_file",
];

impl Config {
    /// The error is boxed: figment's is large, and it is only ever reported once at start-up.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                let missing = format!("config file {} does not exist", f.display());
                return Err(Box::new(figment::Error::from(missing)));
            }
            fig = fig.merge(Toml::file_exact(f));
        }
        fig.merge(Env::prefixed("TOCSIN_").only(&ENV_KEYS))
            .merge(
                Env::prefixed("TOCSIN_TLS_")
                    .only(&["cert_file", "key_file", "reload_check_seconds"])
                    .map(|k| format!("tls.{k}").into()),
            )
            .merge(
                Env::prefixed("TOCSIN_OIDC_")
                    .only(&["issuer", "client_id", "client_secret"])
                    .map(|k| format!("oidc.{k}").into()),
            )
            .merge(
                Env::prefixed("TOCSIN_SLACK_")
                    .only(&["signing_secret", "bot_token", "api_url"])
                    .map(|k| format!("slack.{k}").into()),
            )
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail dictates the closure's error type
    fn slack_secrets_come_from_the_environment_and_never_show_in_debug_output() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TOCSIN_SLACK_SIGNING_SECRET", "s3cret-signing");
            jail.set_env("TOCSIN_SLACK_BOT_TOKEN", "xoxb-secret");
            let config = Config::load(None, Overrides::default()).map_err(|e| *e)?;
            let slack = config.slack.expect("the environment sets up Slack");
            assert_eq!(
                (slack.signing_secret.as_str(), slack.bot_token.as_deref()),
                ("s3cret-signing", Some("xoxb-secret"))
            );
            assert_eq!(slack.api_url, "https://slack.com/api");
            let shown = format!("{slack:?}");
            assert!(
                !shown.contains("s3cret") && !shown.contains("xoxb"),
                "{shown}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail dictates the closure's error type
    fn layers_apply_in_order_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "t.toml",
                "listen = \"127.0.0.1:9000\"\ndata_dir = \"from-file\"",
            )?;
            jail.set_env("TOCSIN_DATA_DIR", "from-env");
            let c =
                Config::load(Some(Path::new("t.toml")), Overrides::default()).map_err(|e| *e)?;
            assert_eq!(
                (c.listen.port(), c.data_dir.to_str()),
                (9000, Some("from-env"))
            );
            let c = Config::load(
                Some(Path::new("t.toml")),
                Overrides {
                    data_dir: Some("flag".into()),
                    ..Default::default()
                },
            )
            .map_err(|e| *e)?;
            assert_eq!(c.data_dir.to_str(), Some("flag"));
            jail.set_env("TOCSIN_DURABILITY", "sometimes");
            let err = Config::load(None, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.to_lowercase().contains("durability"), "{err}");
            jail.create_file("bad.toml", "lisen = \"x\"")?;
            jail.set_env("TOCSIN_DURABILITY", "full");
            let err = Config::load(Some(Path::new("bad.toml")), Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("lisen"), "{err}");
            jail.set_env("TOCSIN_TLS_CERT_FILE", "/etc/tocsin/cert.pem");
            jail.set_env("TOCSIN_TLS_KEY_FILE", "/etc/tocsin/key.pem");
            let c = Config::load(None, Overrides::default()).map_err(|e| *e)?;
            assert_eq!(
                c.tls,
                Some(TlsConfig {
                    cert_file: "/etc/tocsin/cert.pem".into(),
                    key_file: "/etc/tocsin/key.pem".into(),
                    reload_check_seconds: 10,
                })
            );
            Ok(())
        });
    }
}
