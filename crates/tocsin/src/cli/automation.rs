//! `tocsin incidents runs|run` (runbook steps run for an incident), `tocsin runs` (a run: approve, decline,
//! retry) and `tocsin secrets` (what steps' requests use).

use super::client::Client;
use super::output::{Cell, Col, Output, text};
use super::{IncidentRef, read_input};
use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The incident commands about runbook steps.
#[derive(Subcommand, Debug)]
pub enum IncidentRunCmd {
    /// The runs of runbook steps for an incident, newest first.
    Runs(IncidentRef),
    /// Run a runbook's step for an incident: at once, or once another responder approves it if the step needs
    /// approval.
    Run {
        #[command(flatten)]
        target: IncidentRef,
        /// The runbook's key.
        runbook: String,
        /// The step's key.
        step: String,
    },
}

/// `tocsin runs`.
#[derive(Subcommand, Debug)]
pub enum RunCmd {
    /// A run: its step, who asked and approved, how it ended, its output.
    #[command(alias = "get")]
    Show {
        /// The run's ID.
        run: String,
    },
    /// Approve a run awaiting approval (one somebody else asked for).
    Approve {
        /// The run's ID.
        run: String,
    },
    /// Decline a run awaiting approval (your own, to withdraw it).
    Decline {
        /// The run's ID.
        run: String,
    },
    /// Run a failed, timed-out or interrupted run's step again, with the same idempotency key.
    Retry {
        /// The run's ID.
        run: String,
    },
}

/// `tocsin secrets`.
#[derive(Subcommand, Debug)]
pub enum SecretCmd {
    /// The secrets runbook steps may use, by name (admins); never their values.
    List,
    /// Set a secret (admins), read from standard input or a file, never from the command line: steps use it as
    /// {{secret.NAME}}.
    Set {
        /// Lowercase letters, digits and dashes, e.g. rundeck-token.
        name: String,
        /// Read the value from this file instead of standard input.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Remove a secret (admins); refused while a runbook's steps use it.
    Delete {
        /// The secret's name.
        name: String,
    },
}

const RUNS: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("STEP", Cell::With(step)),
    Col("STATUS", Cell::Text("status")),
    Col("ASKED", Cell::Time("requested_at")),
    Col("BY", Cell::With(requested_by)),
    Col("OUTCOME", Cell::Text("outcome")),
];

fn step(r: &Value) -> String {
    format!("{}/{}", text(&r["runbook"]), text(&r["step"]["key"]))
}

fn requested_by(r: &Value) -> String {
    text(&r["requested_by"]["name"])
}

const SECRETS: &[Col] = &[
    Col("NAME", Cell::Text("name")),
    Col("UPDATED", Cell::Time("updated_at")),
    Col("BY", Cell::With(updated_by)),
];

fn updated_by(s: &Value) -> String {
    text(&s["updated_by"]["name"])
}

fn said(r: &Value) -> String {
    let mut line = format!(
        "run {} of {}: {}",
        text(&r["id"]),
        step(r),
        text(&r["status"])
    );
    if let Some(outcome) = r["outcome"].as_str() {
        line.push_str(&format!(" ({outcome})"));
    }
    line
}

pub async fn incidents(client: &Client, cmd: IncidentRunCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        IncidentRunCmd::Runs(r) => {
            let list = client.get(&["incidents", &r.incident, "runs"]).await?;
            out.table(&list, RUNS);
        }
        IncidentRunCmd::Run {
            target,
            runbook,
            step,
        } => {
            let r = client
                .post(
                    &["incidents", &target.incident, "runs"],
                    &json!({ "runbook": runbook, "step": step }),
                )
                .await?;
            out.done(&r, said(&r));
        }
    }
    Ok(())
}

pub async fn runs(client: &Client, cmd: RunCmd, out: Output) -> anyhow::Result<()> {
    let (run, action) = match &cmd {
        RunCmd::Show { run } => (run, None),
        RunCmd::Approve { run } => (run, Some("approve")),
        RunCmd::Decline { run } => (run, Some("decline")),
        RunCmd::Retry { run } => (run, Some("retry")),
    };
    let r = match action {
        None => client.get(&["runs", run]).await?,
        Some(action) => client.post_empty(&["runs", run, action]).await?,
    };
    out.either(&r, || {
        println!("{}", said(&r));
        println!(
            "Step: {} ({})",
            text(&r["step"]["title"]),
            action_line(&r["step"])
        );
        println!("Idempotency key: {}", text(&r["idempotency_key"]));
        if let Some(output) = r["output"].as_str() {
            println!();
            println!("{output}");
        }
    });
    Ok(())
}

fn action_line(step: &Value) -> String {
    match (step["http"].as_object(), step["command"].as_str()) {
        (Some(http), _) => format!(
            "{} {}",
            http.get("method").map(text).unwrap_or_default(),
            http.get("url").map(text).unwrap_or_default()
        ),
        (None, Some(command)) => format!("command {command}"),
        (None, None) => String::new(),
    }
}

pub async fn secrets(client: &Client, cmd: SecretCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        SecretCmd::List => {
            let list = client.get(&["automation", "secrets"]).await?;
            out.table(&list, SECRETS);
        }
        SecretCmd::Set { name, file } => {
            let raw = read_input(file.as_deref().unwrap_or(std::path::Path::new("-")))?;
            // A file or a pipe ends with a line break that is not part of the secret.
            let value = raw.strip_suffix('\n').unwrap_or(&raw);
            let value = value.strip_suffix('\r').unwrap_or(value);
            if value.is_empty() {
                bail!("the secret is empty: give its value on standard input or in --file");
            }
            let s = client
                .put(
                    &["automation", "secrets", &name],
                    &json!({ "value": value }),
                )
                .await?;
            out.done(&s, format!("secret {name} set"));
        }
        SecretCmd::Delete { name } => {
            let v = client.delete(&["automation", "secrets", &name]).await?;
            out.done(&v, format!("secret {name} removed"));
        }
    }
    Ok(())
}
