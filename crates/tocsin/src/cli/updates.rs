//! `tocsin incidents updates|update` (stakeholder updates on an incident) and `tocsin subscriptions` (hearing of
//! a service's or an incident's updates).

use super::IncidentRef;
use super::client::{Client, Query};
use super::output::{Cell, Col, Output, text};
use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// The incident commands about stakeholder updates.
#[derive(Subcommand, Debug)]
pub enum IncidentUpdateCmd {
    /// An incident's stakeholder updates, newest first, and when the next one is due.
    Updates(IncidentRef),
    /// Post a stakeholder update: to the incident's responders and to those subscribed to it or its services.
    Update {
        #[command(flatten)]
        target: IncidentRef,
        /// Where things stand, in plain words.
        message: String,
        /// A tactical report: the conditions now.
        #[arg(long)]
        conditions: Option<String>,
        /// A tactical report: what is being done.
        #[arg(long)]
        actions: Option<String>,
        /// A tactical report: what is needed.
        #[arg(long)]
        needs: Option<String>,
        /// Who hears of it: responders, subscribers (comma-separated; both unless given).
        #[arg(long, value_delimiter = ',')]
        to: Vec<String>,
    },
}

/// What a subscription is to.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Scope {
    /// A service (ID or name).
    #[arg(long)]
    service: Option<String>,
    /// An incident (ID or number).
    #[arg(long)]
    incident: Option<String>,
}

/// `tocsin subscriptions`.
#[derive(Subcommand, Debug)]
pub enum SubscriptionCmd {
    /// Subscriptions to a service or an incident; without either, your own.
    List {
        /// A service (ID or name).
        #[arg(long, conflicts_with = "incident")]
        service: Option<String>,
        /// An incident (ID or number).
        #[arg(long)]
        incident: Option<String>,
    },
    /// Hear of a service's or an incident's updates: yourself, another person or a channel (admins).
    Add {
        #[command(flatten)]
        scope: Scope,
        /// Subscribe this person (ID or email) instead of yourself.
        #[arg(long, conflicts_with = "channel")]
        user: Option<String>,
        /// Subscribe a channel of this name, e.g. "#payments-status", reached by --email, --slack, --teams,
        /// --mattermost or --webhook.
        #[arg(long)]
        channel: Option<String>,
        /// The channel's email address (a list).
        #[arg(long, requires = "channel")]
        email: Option<String>,
        /// The channel's Slack incoming-webhook URL.
        #[arg(long, requires = "channel")]
        slack: Option<String>,
        /// The channel's Teams incoming-webhook URL.
        #[arg(long, requires = "channel")]
        teams: Option<String>,
        /// The channel's Mattermost incoming-webhook URL.
        #[arg(long, requires = "channel")]
        mattermost: Option<String>,
        /// A URL that receives signed JSON.
        #[arg(long, requires = "channel")]
        webhook: Option<String>,
    },
    /// End a subscription.
    #[command(alias = "delete")]
    Remove {
        /// The subscription's ID.
        subscription: String,
    },
}

const UPDATES: &[Col] = &[
    Col("#", Cell::Text("number")),
    Col("POSTED", Cell::Time("posted_at")),
    Col("BY", Cell::With(posted_by)),
    Col("STATUS", Cell::Text("status")),
    Col("MESSAGE", Cell::Text("message")),
];

fn posted_by(u: &Value) -> String {
    text(&u["posted_by"]["name"])
}

const SUBSCRIPTIONS: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("TO", Cell::With(scope_of)),
    Col("WHO", Cell::With(subscriber_of)),
    Col("SINCE", Cell::Time("created_at")),
];

fn scope_of(s: &Value) -> String {
    let scope = &s["scope"];
    match scope["type"].as_str() {
        Some("service") => format!("service {}", text(&scope["service_id"])),
        _ => format!("incident {}", text(&scope["incident_id"])),
    }
}

fn subscriber_of(s: &Value) -> String {
    let who = &s["subscriber"];
    match who["type"].as_str() {
        Some("person") => text(&who["user_id"]),
        _ => format!("{} ({})", text(&who["name"]), text(&who["target"]["type"])),
    }
}

pub async fn incidents(client: &Client, cmd: IncidentUpdateCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        IncidentUpdateCmd::Updates(r) => {
            let list = client.get(&["incidents", &r.incident, "updates"]).await?;
            out.either(&list, || {
                match list["due"]["due_at"].as_str() {
                    Some(at) => println!(
                        "Next update due {at} ({})",
                        text(&list["due"]["because"]).replace('_', " ")
                    ),
                    None => println!("No update is due."),
                }
                super::output::print_table(
                    list["items"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                    UPDATES,
                );
            });
        }
        IncidentUpdateCmd::Update {
            target,
            message,
            conditions,
            actions,
            needs,
            to,
        } => {
            let mut body = json!({ "message": message });
            if conditions.is_some() || actions.is_some() || needs.is_some() {
                body["report"] = json!({
                    "conditions": conditions.unwrap_or_default(),
                    "actions": actions.unwrap_or_default(),
                    "needs": needs.unwrap_or_default(),
                });
            }
            if !to.is_empty() {
                body["audiences"] = json!(to);
            }
            let u = client
                .post(&["incidents", &target.incident, "updates"], &body)
                .await?;
            let count = |field: &str, one: &str, many: &str| {
                let n = u[field].as_array().map_or(0, Vec::len);
                format!("{n} {}", if n == 1 { one } else { many })
            };
            out.done(
                &u,
                format!(
                    "posted update {} on incident {} to {} and {}",
                    text(&u["number"]),
                    target.incident,
                    count("people", "person", "people"),
                    count("channels", "channel", "channels"),
                ),
            );
        }
    }
    Ok(())
}

pub async fn subscriptions(
    client: &Client,
    cmd: SubscriptionCmd,
    out: Output,
) -> anyhow::Result<()> {
    match cmd {
        SubscriptionCmd::List { service, incident } => {
            let mut query = Query::new();
            if let Some(s) = service {
                query.push(("service", s));
            }
            if let Some(i) = incident {
                query.push(("incident", i));
            }
            let list = client.get_with(&["subscriptions"], &query).await?;
            out.table(&list, SUBSCRIPTIONS);
        }
        SubscriptionCmd::Add {
            scope,
            user,
            channel,
            email,
            slack,
            teams,
            mattermost,
            webhook,
        } => {
            let mut body = json!({ "service": scope.service, "incident": scope.incident });
            if let Some(user) = user {
                body["user"] = json!(user);
            }
            if let Some(name) = channel {
                let target = match (email, slack, teams, mattermost, webhook) {
                    (Some(address), None, None, None, None) => {
                        json!({ "type": "email", "address": address })
                    }
                    (None, Some(url), None, None, None) => json!({ "type": "slack", "url": url }),
                    (None, None, Some(url), None, None) => json!({ "type": "teams", "url": url }),
                    (None, None, None, Some(url), None) => {
                        json!({ "type": "mattermost", "url": url })
                    }
                    (None, None, None, None, Some(url)) => json!({ "type": "webhook", "url": url }),
                    _ => bail!(
                        "a channel needs exactly one of --email, --slack, --teams, --mattermost or --webhook"
                    ),
                };
                body["channel"] = json!({ "name": name, "target": target });
            }
            let s = client.post(&["subscriptions"], &body).await?;
            out.done(
                &s,
                format!(
                    "subscribed {} to {} ({})",
                    subscriber_of(&s),
                    scope_of(&s),
                    text(&s["id"])
                ),
            );
        }
        SubscriptionCmd::Remove { subscription } => {
            let v = client.delete(&["subscriptions", &subscription]).await?;
            out.done(&v, format!("subscription {subscription} ended"));
        }
    }
    Ok(())
}
