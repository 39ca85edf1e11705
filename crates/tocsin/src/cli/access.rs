//! Credential commands: integration keys and API tokens. The server returns a secret only when creating it, so these
//! commands print it prominently and say so.

use super::client::Client;
use super::output::{Cell, Col, Output, text, time};
use super::{IntegrationCmd, TokenCmd, body};
use anyhow::bail;
use chrono::{SecondsFormat, Utc};
use serde_json::json;

/// Names first; the ID, which `payloads`, `update` and `revoke` take, last.
const INTEGRATIONS: &[Col] = &[
    Col("NAME", Cell::Text("name")),
    Col("KIND", Cell::Text("kind")),
    Col("KEY PREFIX", Cell::Text("key_prefix")),
    Col("CREATED", Cell::Time("created_at")),
    Col("REVOKED", Cell::Time("revoked_at")),
    Col("ID", Cell::Text("id")),
];

/// Names first; the ID, which `revoke` takes, last.
const TOKENS: &[Col] = &[
    Col("NAME", Cell::Text("name")),
    Col("ROLE", Cell::With(token_role)),
    Col("PREFIX", Cell::Text("token_prefix")),
    Col("USER", Cell::Text("user_name")),
    Col("CREATED", Cell::Time("created_at")),
    Col("EXPIRES", Cell::Time("expires_at")),
    Col("REVOKED", Cell::Time("revoked_at")),
    Col("ID", Cell::Text("id")),
];

pub async fn integrations(client: &Client, cmd: IntegrationCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        IntegrationCmd::Create {
            service,
            name,
            kind,
            config,
            rate_limit,
            interval,
            grace,
        } => {
            let mut settings = match &config {
                Some(path) => read_settings(path)?,
                None => json!({}),
            };
            if let Some(per_second) = rate_limit {
                settings["rate_limit"] =
                    json!({ "per_second": per_second, "burst": per_second.saturating_mul(10) });
            }
            let heartbeat = kind == "heartbeat";
            match interval {
                Some(_) if !heartbeat => bail!(
                    "--interval and --grace are for heartbeat integrations (--kind heartbeat), not {kind}"
                ),
                Some(seconds) => {
                    settings["heartbeat"] =
                        body(json!({ "interval_seconds": seconds, "grace_seconds": grace }));
                }
                None if heartbeat && settings.get("heartbeat").is_none() => bail!(
                    "a heartbeat integration needs --interval SECONDS: how often the job calls its URL"
                ),
                None => {}
            }
            let new = body(json!({ "kind": kind, "name": name, "config": settings }));
            let v = client
                .post(&["services", &service, "integrations"], &new)
                .await?;
            out.either(&v, || {
                println!(
                    "created integration {} ({}) for service {service}",
                    text(&v["name"]),
                    text(&v["id"])
                );
                if heartbeat {
                    // The server's `how` speaks of config fields; this says the same with the numbers just set.
                    let h = &v["config"]["heartbeat"];
                    println!("heartbeat URL: {}", text(&v["url"]));
                    println!(
                        "The job calls it (GET or POST) every {}s; a call missing for {}s more opens an alert, \
                         and the next call resolves it.",
                        text(&h["interval_seconds"]),
                        text(&h["grace_seconds"])
                    );
                } else {
                    println!("events URL:  {}", text(&v["url"]));
                    println!("{}", text(&v["how"]));
                }
                shown_once("routing key", &v["key"]);
            });
        }
        IntegrationCmd::List { service } => {
            let list = client.get(&["services", &service, "integrations"]).await?;
            out.table(&list, INTEGRATIONS);
        }
        IntegrationCmd::Update { id, config } => {
            let v = client
                .patch(
                    &["integrations", &id],
                    &json!({ "config": read_settings(&config)? }),
                )
                .await?;
            out.done(&v, format!("updated integration {id}"));
        }
        IntegrationCmd::Payloads { id, limit } => {
            let v = client
                .get_with(
                    &["integrations", &id, "payloads"],
                    &vec![("limit", limit.to_string())],
                )
                .await?;
            out.either(&v, || {
                for p in v["items"].as_array().into_iter().flatten() {
                    let cut = if p["truncated"] == true {
                        " (cut at 64 KB)"
                    } else {
                        ""
                    };
                    println!(
                        "--- {}  {}{cut}",
                        text(&p["received_at"]),
                        text(&p["outcome"])
                    );
                    println!("{}", text(&p["body"]));
                }
            });
        }
        IntegrationCmd::Revoke { id } => {
            let v = client.delete(&["integrations", &id]).await?;
            out.done(
                &v,
                format!("revoked integration {id}; its key no longer works"),
            );
        }
    }
    Ok(())
}

/// Integration settings from a YAML (or JSON, which is YAML too) file.
fn read_settings(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    serde_yaml_ng::from_str(&source).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub async fn tokens(client: &Client, cmd: TokenCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create {
            name,
            role,
            scope,
            expires_in,
            user,
        } => {
            let expires_at = expires_in
                .map(|d| {
                    super::later(Utc::now(), d)
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                })
                .transpose()?;
            let new = body(json!({
                "name": name,
                "role": role,
                "scope": scope,
                "expires_at": expires_at,
                "user": user,
            }));
            let v = client.post(&["tokens"], &new).await?;
            out.either(&v, || {
                let until = if v["expires_at"].is_null() {
                    "never expires".to_owned()
                } else {
                    format!("expires {}", time(&v["expires_at"]))
                };
                let holds = match v["role"].as_str() {
                    Some(role) => format!("the {role} role"),
                    None => format!("the role of {}", text(&v["user_name"])),
                };
                println!(
                    "created token {} ({}) with {holds}; it {until}",
                    text(&v["name"]),
                    text(&v["id"]),
                );
                shown_once("token", &v["token"]);
            });
        }
        TokenCmd::List => out.table(&client.get(&["tokens"]).await?, TOKENS),
        TokenCmd::Revoke { id } => {
            let v = client.delete(&["tokens", &id]).await?;
            out.done(&v, format!("revoked token {id}"));
        }
    }
    Ok(())
}

pub(super) fn shown_once(what: &str, secret: &serde_json::Value) {
    println!("\nThe {what} is shown only this once; store it somewhere safe now:\n");
    println!("    {}\n", text(secret));
}

/// A token acting as a person holds whatever role they hold.
fn token_role(token: &serde_json::Value) -> String {
    match token["role"].as_str() {
        Some(role) => role.to_owned(),
        None => "(the user's)".to_owned(),
    }
}

const AUDIT: &[Col] = &[
    Col("AT", Cell::Time("at")),
    Col("ACTOR", Cell::With(audit_actor)),
    Col("ACTION", Cell::Text("action")),
    Col("TARGET", Cell::Text("target")),
    Col("ADDRESS", Cell::Text("address")),
];

fn audit_actor(entry: &serde_json::Value) -> String {
    format!(
        "{} ({})",
        text(&entry["actor"]["name"]),
        text(&entry["actor"]["kind"])
    )
}

/// Runs `tocsin audit`.
pub async fn audit(client: &Client, args: super::AuditArgs) -> anyhow::Result<()> {
    let filters = super::query([
        ("actor", args.actor),
        ("action", args.action),
        ("target", args.target),
    ]);
    super::incidents::list(
        client,
        "audit",
        filters,
        args.range,
        args.paging,
        AUDIT,
        args.out,
    )
    .await
}
