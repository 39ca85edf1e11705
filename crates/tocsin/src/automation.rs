//! Running runbook steps: an HTTP request to an automation system, or a command the configuration allows.
//!
//! ```toml
//! [automation]
//! allowed_networks = ["10.20.0.0/16"]   # where steps' requests may go besides the public internet
//!
//! [automation.commands.restart-workers]
//! program = "/usr/local/bin/restart-workers"
//! args = ["--graceful"]
//! ```
//!
//! A command runs without a shell, with fixed arguments, an empty environment but for `PATH` and the incident's
//! `TOCSIN_*` values (never a secret), in a process group of its own that a timeout kills whole. A request carries
//! the run's `Idempotency-Key`. Each attempt ends as a [`Finished`]: the runner never retries by itself.

use crate::notify::outbound::GuardedClient;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tocsin_domain::ValidationErrors;
use tocsin_domain::automation::{
    Finished, HttpRequest, MAX_OUTPUT_BYTES, RunContext, RunStatus, kept_output,
};
use tocsin_domain::net::AllowedNetworks;
use tocsin_domain::refs::Key;
use tocsin_domain::template::{Escape, render};
use tocsin_store::ClaimedRun;
use tokio::io::AsyncReadExt;

/// `[automation]`: what runbook steps may do on this server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationConfig {
    /// Commands steps may run, by name (`[automation.commands.<name>]`). None unless an admin lists some.
    #[serde(default)]
    pub commands: BTreeMap<String, CommandConfig>,
    /// Private networks (CIDR) steps' HTTP requests may reach, for automation systems on premises. Everything
    /// else private, loopback or link-local is refused.
    #[serde(default)]
    pub allowed_networks: AllowedNetworks,
}

/// One allowed command: a program and its fixed arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// An absolute path: no search through `PATH`, so nothing earlier on it can stand in.
    pub program: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
}

impl AutomationConfig {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        for (name, command) in &self.commands {
            let key = format!("automation.commands.{name}");
            if let Err(e) = name.parse::<Key>() {
                errors.push(&key, format!("the name {e}"));
            }
            if !command.program.is_absolute() {
                errors.push(
                    format!("{key}.program"),
                    "must be an absolute path, such as /usr/local/bin/restart-workers",
                );
            }
        }
        errors.into_result(())
    }

    /// The names steps may give as `command`.
    pub fn command_names(&self) -> Vec<Key> {
        self.commands
            .keys()
            .filter_map(|n| n.parse().ok())
            .collect()
    }
}

/// The search path commands run with.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Runs claimed runs, one attempt each.
pub struct Runner {
    http: GuardedClient,
    commands: BTreeMap<Key, CommandConfig>,
    public_url: String,
}

impl Runner {
    pub fn new(config: &AutomationConfig, public_url: &str) -> anyhow::Result<Self> {
        config.validate()?;
        // The longest a step may take; each request sets its own step's timeout.
        let longest =
            Duration::from_secs(u64::from(tocsin_domain::automation::MAX_TIMEOUT_SECONDS));
        Ok(Self {
            http: GuardedClient::new(longest, config.allowed_networks.clone())?,
            commands: config
                .commands
                .iter()
                .filter_map(|(name, c)| Some((name.parse().ok()?, c.clone())))
                .collect(),
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    pub async fn run(&self, claimed: &ClaimedRun) -> Finished {
        let step = &claimed.run.step;
        if !claimed.missing_secrets.is_empty() {
            let names: Vec<&str> = claimed.missing_secrets.iter().map(Key::as_str).collect();
            return failed(format!(
                "not run: the secrets {} it uses are not set (tocsin secrets set NAME)",
                names.join(", ")
            ));
        }
        let incident_url = format!("{}/incidents/{}", self.public_url, claimed.incident.number);
        let context = RunContext {
            run: &claimed.run,
            incident: &claimed.incident,
            services: &claimed.services,
            alert: claimed.alert.as_ref(),
            incident_url: &incident_url,
            secrets: &claimed.secrets,
        };
        let limit = Duration::from_secs(u64::from(step.timeout_seconds));
        match (&step.http, &step.command) {
            (Some(http), _) => self.request(http, &context, limit).await,
            (None, Some(name)) => match self.commands.get(name) {
                Some(command) => run_command(command, &context, limit).await,
                None => failed(format!(
                    "not run: this server does not allow the command {name} (no [automation.commands.{name}] \
                     in its configuration)"
                )),
            },
            (None, None) => failed("not run: the step has neither a request nor a command".into()),
        }
    }

    async fn request(
        &self,
        http: &HttpRequest,
        context: &RunContext<'_>,
        limit: Duration,
    ) -> Finished {
        let Ok(method) = Method::from_bytes(http.method_upper().as_bytes()) else {
            return failed(format!("not run: {} is not an HTTP method", http.method));
        };
        let url = render(&http.url, context, Escape::Url);
        let mut request = match self.http.request(method, &url) {
            Ok(r) => r,
            Err(refused) => return failed(format!("not sent: {}", refused.0)),
        };
        request = request
            .timeout(limit)
            .header("Idempotency-Key", &context.run.idempotency_key)
            .header("X-Tocsin-Run", context.run.id.as_str());
        for (name, value) in &http.headers {
            request = request.header(name, render(value, context, Escape::Header));
        }
        if !http.body.is_empty() {
            let escape = Escape::for_content_type(&http.content_type);
            request = request
                .header(CONTENT_TYPE, &http.content_type)
                .body(render(&http.body, context, escape));
        }
        let deadline = tokio::time::Instant::now() + limit;
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return timed_out(limit, None),
            Err(e) => return failed(crate::notify::outbound::describe_error(e)),
        };
        let status = response.status();
        let mut body = Vec::new();
        // The body is read within the step's time and up to what is kept: an endless one ends neither.
        let read = tokio::time::timeout_at(deadline, async {
            while body.len() <= MAX_OUTPUT_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
        })
        .await;
        let line = match status.canonical_reason() {
            Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
            None => format!("HTTP {}", status.as_u16()),
        };
        let output = kept_output(&body);
        if read.is_err() {
            return timed_out(limit, output);
        }
        Finished {
            status: if status.is_success() {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            outcome: if status.is_redirection() {
                format!(
                    "{line} (redirects are not followed; give the step the URL it redirects to)"
                )
            } else {
                line
            },
            output,
        }
    }
}

fn failed(outcome: String) -> Finished {
    Finished {
        status: RunStatus::Failed,
        outcome,
        output: None,
    }
}

fn timed_out(limit: Duration, output: Option<String>) -> Finished {
    Finished {
        status: RunStatus::TimedOut,
        outcome: format!("timed out after {} s", limit.as_secs()),
        output,
    }
}

/// What a command wrote to stdout and stderr, in the order it arrived, up to the cap; and how much in all.
#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    total: usize,
}

async fn capture(mut from: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Captured>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        let mut c = into.lock().expect("capture lock");
        let room = (MAX_OUTPUT_BYTES + 1).saturating_sub(c.kept.len());
        c.kept.extend_from_slice(&buf[..n.min(room)]);
        c.total += n;
    }
}

async fn run_command(
    command: &CommandConfig,
    context: &RunContext<'_>,
    limit: Duration,
) -> Finished {
    let mut cmd = tokio::process::Command::new(&command.program);
    cmd.args(&command.args)
        .env_clear()
        .env("PATH", PATH)
        .envs(context.environment())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so that a timeout stops whatever it started too.
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return failed(format!(
                "could not start {}: {e}",
                command.program.display()
            ));
        }
    };
    let captured = Arc::new(Mutex::new(Captured::default()));
    let readers = [
        child
            .stdout
            .take()
            .map(|o| tokio::spawn(capture(o, captured.clone()))),
        child
            .stderr
            .take()
            .map(|e| tokio::spawn(capture(e, captured.clone()))),
    ];
    let waited = tokio::time::timeout(limit, child.wait()).await;
    if waited.is_err()
        && let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok())
    {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads; no memory is shared.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill().await;
    // What the group wrote before it ended (or was killed) is read to its end.
    for reader in readers.into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
    let output = {
        let c = captured.lock().expect("capture lock");
        let mut kept = kept_output(&c.kept[..c.kept.len().min(MAX_OUTPUT_BYTES)]);
        if c.total > MAX_OUTPUT_BYTES
            && let Some(k) = kept.as_mut()
        {
            k.push_str(&format!("\n[cut: {} bytes in all]", c.total));
        }
        kept
    };
    match waited {
        Err(_) => timed_out(limit, output),
        Ok(Err(e)) => Finished {
            status: RunStatus::Failed,
            outcome: format!("could not wait for {}: {e}", command.program.display()),
            output,
        },
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            let outcome = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                (None, None) => "ended".into(),
            };
            Finished {
                status: if status.success() {
                    RunStatus::Succeeded
                } else {
                    RunStatus::Failed
                },
                outcome,
                output,
            }
        }
    }
}
