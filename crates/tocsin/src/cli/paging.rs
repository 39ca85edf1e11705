//! Paging commands: escalation policies and who they page, a service's policy, escalating and reassigning
//! incidents, contact methods, notification rules, the notification log and the engine.

use super::client::Client;
use super::incidents::label;
use super::oncall::{person, user_names};
use super::output::{Cell, Col, Output, array, items, name_or_id, print_table, text, time};
use super::{IncidentRef, parse_time, query, rfc3339};
use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tocsin_domain::contact::ContactTarget;
use tocsin_domain::ids::{ContactMethodId, ScheduleId, TeamId, UserId};

/// `tocsin policies`.
#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// List escalation policies.
    List,
    /// Show a policy: whom each level pages, how long it waits for the next, and how often it repeats.
    #[command(alias = "get")]
    Show {
        /// Policy ID or name.
        policy: String,
    },
    /// Create a policy from a file (YAML, or JSON if it ends in `.json`); targets by email, schedule name or ID.
    Create(PolicyFile),
    /// Replace a policy's levels and settings from a file; incidents escalating under it continue with the new
    /// levels.
    Update {
        /// Policy ID or name.
        policy: String,
        #[command(flatten)]
        file: PolicyFile,
    },
    /// Delete a policy.
    Delete {
        /// Policy ID or name.
        policy: String,
    },
    /// Whom each level of the policy pages now, or at --at.
    Oncall {
        /// Policy ID or name.
        policy: String,
        /// The instant to ask about (now, +2h, a local time with its zone, or RFC 3339) [default: now].
        #[arg(long, value_parser = parse_time)]
        at: Option<DateTime<Utc>>,
    },
    /// Show the fallback policy, which takes incidents nobody else pages (no policy on their service, no
    /// service, or a whole pass of their policy reached nobody); --set or --clear changes it (admin token).
    Fallback {
        /// Hand such incidents to this policy (ID or name).
        #[arg(long, value_name = "POLICY", conflicts_with = "clear")]
        set: Option<String>,
        /// Leave such incidents unassigned.
        #[arg(long)]
        clear: bool,
    },
}

/// The file a policy is read from.
#[derive(Args, Debug)]
pub struct PolicyFile {
    /// The policy file: YAML, or JSON if it ends in `.json`; `-` reads standard input.
    #[arg(long, short = 'f')]
    pub file: PathBuf,
}

/// The paging side of a service, flattened into `tocsin services`.
#[derive(Subcommand, Debug)]
pub enum ServicePagingCmd {
    /// Show the escalation policy that pages for a service's new incidents; --set or --clear changes it.
    Policy {
        /// Service ID or name.
        service: String,
        /// Page with this policy (ID or name) from now on.
        #[arg(long, value_name = "POLICY", conflicts_with = "clear")]
        set: Option<String>,
        /// Page nobody for the service's new incidents.
        #[arg(long)]
        clear: bool,
    },
    /// Whom the service's policy pages now, or at --at, level by level.
    Oncall {
        /// Service ID or name.
        service: String,
        /// The instant to ask about (now, +2h, a local time with its zone, or RFC 3339) [default: now].
        #[arg(long, value_parser = parse_time)]
        at: Option<DateTime<Utc>>,
    },
}

/// The paging side of an incident, flattened into `tocsin incidents`.
#[derive(Subcommand, Debug)]
pub enum IncidentPagingCmd {
    /// Page a level of the incident's policy now (the next one by default); escalation continues from there.
    Escalate {
        #[command(flatten)]
        target: IncidentRef,
        /// The level to page, counted from 1.
        #[arg(long)]
        level: Option<u32>,
    },
    /// Hand the incident to people (paged now; the policy stops) or to another policy (from its first level).
    #[command(group(ArgGroup::new("to").required(true)))]
    Reassign {
        #[command(flatten)]
        target: IncidentRef,
        /// A user (ID or email) to page now; repeat for several.
        #[arg(long = "user", value_name = "USER", group = "to")]
        users: Vec<String>,
        /// An escalation policy (ID or name) to start from its first level.
        #[arg(long, group = "to")]
        policy: Option<String>,
    },
    /// Ask more people to join now, without stopping the escalation: users, whoever is on call in a schedule,
    /// a team's members, or a team's on-call.
    #[command(group(ArgGroup::new("who").required(true).multiple(true)))]
    AddResponder {
        #[command(flatten)]
        target: IncidentRef,
        /// A user (ID or email); repeat for several.
        #[arg(long = "user", value_name = "USER", group = "who")]
        users: Vec<String>,
        /// Whoever is on call in this schedule (ID or name); repeat for several.
        #[arg(long = "schedule", value_name = "SCHEDULE", group = "who")]
        schedules: Vec<String>,
        /// Every member of this team (ID or name); repeat for several.
        #[arg(long = "team", value_name = "TEAM", group = "who")]
        teams: Vec<String>,
        /// Whoever is on call in this team's schedules (ID or name); repeat for several.
        #[arg(long = "team-on-call", value_name = "TEAM", group = "who")]
        teams_on_call: Vec<String>,
    },
    /// Where the incident's escalation stands: its policy, level, next page and who was paged.
    Escalation(IncidentRef),
    /// Every notification sent or planned for the incident, with its outcome.
    Notifications(IncidentRef),
}

/// `tocsin contacts`.
#[derive(Subcommand, Debug)]
pub enum ContactCmd {
    /// List a user's contact methods.
    List {
        /// User ID or email.
        user: String,
    },
    /// Add a contact method; a webhook's signing secret is printed this once.
    #[command(group(ArgGroup::new("target").required(true)))]
    Add {
        /// User ID or email.
        user: String,
        /// What the method is called, e.g. "work phone"; notification rules show it.
        #[arg(long)]
        name: String,
        /// Email to this address.
        #[arg(long, group = "target", value_name = "ADDRESS")]
        email: Option<String>,
        /// Post to this Slack incoming-webhook URL.
        #[arg(long, group = "target", value_name = "URL")]
        slack: Option<String>,
        /// Post to this Microsoft Teams incoming-webhook URL.
        #[arg(long, group = "target", value_name = "URL")]
        teams: Option<String>,
        /// Post to this Mattermost incoming-webhook URL.
        #[arg(long, group = "target", value_name = "URL")]
        mattermost: Option<String>,
        /// Post signed JSON (Standard Webhooks) to this URL.
        #[arg(long, group = "target", value_name = "URL")]
        webhook: Option<String>,
        /// Text this number (international form, e.g. +4915112345678) through the SMS gateway.
        #[arg(long, group = "target", value_name = "NUMBER")]
        sms: Option<String>,
        /// Call this number (international form) through the voice gateway.
        #[arg(long, group = "target", value_name = "NUMBER")]
        voice: Option<String>,
    },
    /// Remove a contact method and the notification rules that use it.
    Remove {
        /// Contact method ID.
        id: String,
    },
    /// Send a test notification to a contact method now.
    Test {
        /// Contact method ID.
        id: String,
    },
    /// Stop sending to a contact method; rules that name it are skipped.
    Disable {
        /// Contact method ID.
        id: String,
    },
    /// Send to a contact method again.
    Enable {
        /// Contact method ID.
        id: String,
    },
    /// Whether the user is told when someone else acknowledges or resolves an incident they were paged for (by
    /// the methods shift reminders use); --acknowledged and --resolved change it.
    StatusUpdates {
        /// User ID or email.
        user: String,
        /// Be told of acknowledgements: true or false.
        #[arg(long, value_name = "BOOL")]
        acknowledged: Option<bool>,
        /// Be told of resolutions: true or false.
        #[arg(long, value_name = "BOOL")]
        resolved: Option<bool>,
    },
}

/// `tocsin notification-rules`.
#[derive(Subcommand, Debug)]
pub enum NotificationRuleCmd {
    /// List a user's notification rules.
    List {
        /// User ID or email.
        user: String,
    },
    /// Add a rule: pages of this urgency reach the user at this contact method, after a delay.
    Add {
        /// User ID or email.
        user: String,
        /// The contact method (ID, or its name among the user's methods).
        #[arg(long)]
        method: String,
        /// high: SEV-0 and SEV-1; low: SEV-2 and SEV-3.
        #[arg(long, value_parser = ["high", "low"])]
        urgency: String,
        /// Minutes after being paged [default: 0, at once].
        #[arg(long, value_name = "MINUTES")]
        after: Option<u32>,
    },
    /// Remove a notification rule.
    Remove {
        /// Notification rule ID.
        id: String,
    },
}

/// `tocsin engine`.
#[derive(Subcommand, Debug)]
pub enum EngineCmd {
    /// Run one engine cycle now (escalations, heartbeats, reminders, deliveries) and print what it did; needs an
    /// admin token.
    Cycle,
}

/// `tocsin notifications <user>`.
#[derive(Args, Debug)]
pub struct NotificationsArgs {
    /// User ID or email.
    pub user: String,
    #[command(flatten)]
    pub out: Output,
}

const POLICIES: &[Col] = &[
    Col("NAME", Cell::Text("name")),
    Col("ID", Cell::Text("id")),
    Col("LEVELS", Cell::With(level_count)),
    Col("REPEAT", Cell::Text("repeat")),
    Col("DESCRIPTION", Cell::Text("description")),
];

const CONTACTS: &[Col] = &[
    Col("NAME", Cell::Text("name")),
    Col("TYPE", Cell::With(target_kind)),
    Col("TARGET", Cell::With(target)),
    Col("ENABLED", Cell::With(enabled)),
    Col("CREATED", Cell::Time("created_at")),
    Col("ID", Cell::Text("id")),
];

/// Rows carry a `method` the command added: the contact method by name, which the API names by ID.
const RULES: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("URGENCY", Cell::Text("urgency")),
    Col("AFTER", Cell::With(after)),
    Col("METHOD", Cell::Text("method")),
];

/// Rows carry a `user` the command added: the person by name, which the API names by ID.
const INCIDENT_NOTIFICATIONS: &[Col] = &[
    Col("TIME", Cell::Time("due_at")),
    Col("USER", Cell::Text("user")),
    Col("FOR", Cell::With(purpose)),
    Col("CHANNEL", Cell::Text("channel")),
    Col("STATUS", Cell::Text("status")),
    Col("ATTEMPTS", Cell::With(attempt_count)),
    Col("DETAIL", Cell::With(last_detail)),
];

/// Rows carry `incident` (`#number`) the command added; the API names it by ID.
const USER_NOTIFICATIONS: &[Col] = &[
    Col("TIME", Cell::Time("due_at")),
    Col("FOR", Cell::With(purpose)),
    Col("INCIDENT", Cell::Text("incident")),
    Col("CHANNEL", Cell::Text("channel")),
    Col("STATUS", Cell::Text("status")),
    Col("ATTEMPTS", Cell::With(attempt_count)),
    Col("DETAIL", Cell::With(last_detail)),
];

/// Runs a `tocsin policies` command.
pub async fn policies(client: &Client, cmd: PolicyCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        PolicyCmd::List => out.table(&client.get(&["escalation-policies"]).await?, POLICIES),
        PolicyCmd::Show { policy } => {
            let v = client.get(&["escalation-policies", &policy]).await?;
            if out.json {
                out.record(&v);
            } else {
                let (users, schedules, teams) = tokio::try_join!(
                    user_names(client),
                    names(client, "schedules", |s| text(&s["name"])),
                    names(client, "teams", |t| text(&t["name"]))
                )?;
                print_policy(&v, &users, &schedules, &teams);
            }
        }
        PolicyCmd::Create(f) => {
            let spec = read_policy(client, &f.file).await?;
            let v = client.post(&["escalation-policies"], &spec).await?;
            let line = format!(
                "created escalation policy {} ({})",
                text(&v["name"]),
                text(&v["id"])
            );
            out.done(&v, line);
        }
        PolicyCmd::Update { policy, file } => {
            let spec = read_policy(client, &file.file).await?;
            let v = client.put(&["escalation-policies", &policy], &spec).await?;
            let line = format!(
                "updated escalation policy {} ({})",
                text(&v["name"]),
                text(&v["id"])
            );
            out.done(&v, line);
        }
        PolicyCmd::Delete { policy } => {
            let v = client.delete(&["escalation-policies", &policy]).await?;
            out.done(&v, format!("deleted escalation policy {policy}"));
        }
        PolicyCmd::Oncall { policy, at } => {
            let q = query([("at", at.map(rfc3339))]);
            let v = client
                .get_with(&["escalation-policies", &policy, "on-call"], &q)
                .await?;
            out.either(&v, || print_on_call(&v));
        }
        PolicyCmd::Fallback { set, clear } => {
            let path = ["settings", "paging"];
            let v = if set.is_some() || clear {
                client
                    .put(&path, &json!({ "fallback_policy": set }))
                    .await?
            } else {
                client.get(&path).await?
            };
            let line = match v["fallback_policy"].as_object() {
                Some(p) => format!(
                    "incidents nobody else pages go to escalation policy {} ({})",
                    text(&p["name"]),
                    text(&p["id"])
                ),
                None => {
                    "no fallback policy: incidents nobody else pages stay unassigned".to_owned()
                }
            };
            out.done(&v, line);
        }
    }
    Ok(())
}

/// Runs `tocsin services policy` and `tocsin services oncall`.
pub async fn services(client: &Client, cmd: ServicePagingCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        ServicePagingCmd::Policy {
            service,
            set,
            clear,
        } => {
            let path = ["services", service.as_str(), "escalation-policy"];
            let v = match (set, clear) {
                // `--clear` sends `"policy": null`.
                (set, clear) if set.is_some() || clear => {
                    client.put(&path, &json!({ "policy": set })).await?
                }
                _ => client.get(&path).await?,
            };
            let line = match v["policy"].as_object() {
                Some(p) => format!(
                    "{service} pages with escalation policy {} ({})",
                    text(&p["name"]),
                    text(&p["id"])
                ),
                None => {
                    format!(
                        "{service} has no escalation policy; its new incidents go to the fallback policy, if one is set (tocsin policies fallback)"
                    )
                }
            };
            out.done(&v, line);
        }
        ServicePagingCmd::Oncall { service, at } => {
            let q = query([("at", at.map(rfc3339))]);
            let v = client
                .get_with(&["services", &service, "on-call"], &q)
                .await?;
            out.either(&v, || print_on_call(&v));
        }
    }
    Ok(())
}

/// Runs the escalation and notification commands of `tocsin incidents`.
pub async fn incidents(client: &Client, cmd: IncidentPagingCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        IncidentPagingCmd::Escalate { target, level } => {
            let path = ["incidents", target.incident.as_str(), "escalate"];
            let v = match level {
                Some(level) => client.post(&path, &json!({ "level": level })).await?,
                None => client.post_empty(&path).await?,
            };
            let line = format!(
                "escalated {}: level {} of {} pages now",
                label(&target.incident),
                text(&v["level"]),
                text(&v["policy_name"])
            );
            out.done(&v, line);
        }
        IncidentPagingCmd::Reassign {
            target,
            users,
            policy,
        } => {
            let to = match policy {
                Some(p) => json!({ "policy": p }),
                None => json!({ "users": users }),
            };
            let path = ["incidents", target.incident.as_str(), "reassign"];
            let v = client.post(&path, &to).await?;
            if out.json {
                out.record(&v);
            } else {
                let line = if to.get("policy").is_some() {
                    format!(
                        "reassigned {} to escalation policy {}; level 1 pages now",
                        label(&target.incident),
                        text(&v["policy_name"])
                    )
                } else {
                    let people = user_names(client).await?;
                    format!(
                        "reassigned {} to {}; paged now",
                        label(&target.incident),
                        assignees(&v, &people)
                    )
                };
                println!("{line}");
            }
        }
        IncidentPagingCmd::AddResponder {
            target,
            users,
            schedules,
            teams,
            teams_on_call,
        } => {
            let path = ["incidents", target.incident.as_str(), "responders"];
            let body = json!({
                "users": users,
                "schedules": schedules,
                "teams": teams,
                "teams_on_call": teams_on_call,
            });
            let v = client.post(&path, &body).await?;
            let paged: Vec<String> = array(&v["paged"])
                .iter()
                .map(|p| match array(&p["methods"]).len() {
                    0 => format!("{} (no usable contact method)", text(&p["name"])),
                    _ => text(&p["name"]),
                })
                .collect();
            let mut line = match paged.len() {
                0 => format!("nobody was paged for {}", label(&target.incident)),
                _ => format!(
                    "paged {} to join {}",
                    paged.join(", "),
                    label(&target.incident)
                ),
            };
            let gaps = array(&v["gaps"]).len();
            if gaps > 0 {
                line.push_str(&format!("; {gaps} of the targets had nobody to page"));
            }
            out.done(&v, line);
        }
        IncidentPagingCmd::Escalation(r) => {
            let v = client
                .get(&["incidents", &r.incident, "escalation"])
                .await?;
            if out.json {
                out.record(&v);
            } else if v["escalation"].is_null() {
                println!(
                    "{} has no escalation: its service has no policy and nobody was assigned",
                    label(&r.incident)
                );
            } else {
                let people = user_names(client).await?;
                print_escalation(&v["escalation"], &people);
            }
        }
        IncidentPagingCmd::Notifications(r) => {
            let list = client
                .get(&["incidents", &r.incident, "notifications"])
                .await?;
            if out.json {
                out.table(&list, INCIDENT_NOTIFICATIONS);
            } else {
                let people = user_names(client).await?;
                let rows = with_field(items(&list), "user", |d| name_or_id(&people, &d["user_id"]));
                print_table(&rows, INCIDENT_NOTIFICATIONS);
            }
        }
    }
    Ok(())
}

/// Runs a `tocsin contacts` command.
pub async fn contacts(client: &Client, cmd: ContactCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        ContactCmd::List { user } => {
            let list = client.get(&["users", &user, "contact-methods"]).await?;
            out.table(&list, CONTACTS);
        }
        ContactCmd::Add {
            user,
            name,
            email,
            slack,
            teams,
            mattermost,
            webhook,
            sms,
            voice,
        } => {
            let target = match (email, slack, teams, mattermost, webhook, sms, voice) {
                (Some(a), ..) => json!({ "type": "email", "address": a }),
                (_, Some(u), ..) => json!({ "type": "slack", "url": u }),
                (_, _, Some(u), ..) => json!({ "type": "teams", "url": u }),
                (_, _, _, Some(u), ..) => json!({ "type": "mattermost", "url": u }),
                (_, _, _, _, Some(u), ..) => json!({ "type": "webhook", "url": u }),
                (.., Some(n), _) => json!({ "type": "sms", "number": n }),
                (.., Some(n)) => json!({ "type": "voice", "number": n }),
                _ => bail!(
                    "give one of --email, --slack, --teams, --mattermost, --webhook, --sms, --voice"
                ),
            };
            let new = json!({ "name": name, "target": target });
            let v = client
                .post(&["users", &user, "contact-methods"], &new)
                .await?;
            out.either(&v, || {
                println!(
                    "added contact method {:?} ({}) for {user}: {} {}",
                    text(&v["name"]),
                    text(&v["id"]),
                    target_kind(&v),
                    self::target(&v)
                );
                if v["target"]["secret"].is_string() {
                    println!("\nReceivers check the webhook-signature header of each notification with this secret.");
                    super::access::shown_once("signing secret", &v["target"]["secret"]);
                }
            });
        }
        ContactCmd::Remove { id } => {
            let v = client.delete(&["contact-methods", &id]).await?;
            out.done(&v, format!("removed contact method {id}"));
        }
        ContactCmd::Test { id } => {
            let v = client.post_empty(&["contact-methods", &id, "test"]).await?;
            let line = format!(
                "queued test notification {} to {id} ({}); `tocsin notifications {}` shows how it went",
                text(&v["id"]),
                text(&v["channel"]),
                text(&v["user_id"])
            );
            out.done(&v, line);
        }
        ContactCmd::StatusUpdates {
            user,
            acknowledged,
            resolved,
        } => {
            let path = ["users", user.as_str(), "status-updates"];
            let mut v = client.get(&path).await?;
            if acknowledged.is_some() || resolved.is_some() {
                for (field, set) in [("acknowledged", acknowledged), ("resolved", resolved)] {
                    if let Some(set) = set {
                        v[field] = json!(set);
                    }
                }
                v = client.put(&path, &v).await?;
            }
            let told: Vec<&str> = ["acknowledged", "resolved"]
                .into_iter()
                .filter(|f| v[*f].as_bool() == Some(true))
                .collect();
            let line = match told.as_slice() {
                [] => format!(
                    "{user} is not told when someone else acknowledges or resolves their incidents"
                ),
                fields => format!(
                    "{user} is told when someone else has {} an incident they were paged for",
                    fields.join(" or ")
                ),
            };
            out.done(&v, line);
        }
        ContactCmd::Disable { id } => toggle(client, &id, false, out).await?,
        ContactCmd::Enable { id } => toggle(client, &id, true, out).await?,
    }
    Ok(())
}

/// The API replaces a contact method whole, so the current one is read and sent back with only `enabled` changed;
/// a webhook's secret is never read back, and the server keeps it.
async fn toggle(client: &Client, id: &str, on: bool, out: Output) -> anyhow::Result<()> {
    let current = client.get(&["contact-methods", id]).await?;
    let spec = json!({ "name": current["name"], "target": current["target"], "enabled": on });
    let v = client.put(&["contact-methods", id], &spec).await?;
    let verb = if on { "enabled" } else { "disabled" };
    out.done(
        &v,
        format!("{verb} contact method {:?} ({id})", text(&v["name"])),
    );
    Ok(())
}

/// Runs a `tocsin notification-rules` command.
pub async fn notification_rules(
    client: &Client,
    cmd: NotificationRuleCmd,
    out: Output,
) -> anyhow::Result<()> {
    match cmd {
        NotificationRuleCmd::List { user } => {
            let list = client.get(&["users", &user, "notification-rules"]).await?;
            if out.json {
                out.table(&list, RULES);
            } else {
                let methods = method_names(client, &user).await?;
                let rows = with_field(items(&list), "method", |r| {
                    name_or_id(&methods, &r["contact_method_id"])
                });
                print_table(&rows, RULES);
            }
        }
        NotificationRuleCmd::Add {
            user,
            method,
            urgency,
            after,
        } => {
            let method_id = contact_method_id(client, &user, &method).await?;
            let new = super::body(json!({
                "contact_method_id": method_id,
                "urgency": urgency,
                "delay_minutes": after,
            }));
            let v = client
                .post(&["users", &user, "notification-rules"], &new)
                .await?;
            let line = format!(
                "added notification rule {}: {} urgency pages reach {user} at {method} {}",
                text(&v["id"]),
                text(&v["urgency"]),
                self::after(&v)
            );
            out.done(&v, line);
        }
        NotificationRuleCmd::Remove { id } => {
            let v = client.delete(&["notification-rules", &id]).await?;
            out.done(&v, format!("removed notification rule {id}"));
        }
    }
    Ok(())
}

/// Lists the notifications sent to a user.
/// Prints what the server's check of the paging setup found, and fails when it found anything.
pub async fn doctor(client: &Client, out: Output) -> anyhow::Result<()> {
    let report = client.get(&["doctor"]).await?;
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    out.either(&report, || {
        if findings.is_empty() {
            println!("Every service is paged, and everyone a policy pages can be reached.");
        }
        for f in &findings {
            println!("- {}", text(&f["message"]));
        }
    });
    if !findings.is_empty() {
        anyhow::bail!(
            "{} thing(s) in the paging setup would leave an incident with nobody",
            findings.len()
        );
    }
    Ok(())
}

pub async fn notifications(client: &Client, args: NotificationsArgs) -> anyhow::Result<()> {
    let list = client.get(&["users", &args.user, "notifications"]).await?;
    if args.out.json {
        args.out.table(&list, USER_NOTIFICATIONS);
    } else {
        let numbers =
            super::incidents::incident_numbers(client, items(&list), "incident_id").await?;
        let rows = with_field(items(&list), "incident", |d| {
            name_or_id(&numbers, &d["incident_id"])
        });
        print_table(&rows, USER_NOTIFICATIONS);
    }
    Ok(())
}

/// Runs a `tocsin engine` command.
pub async fn engine(client: &Client, cmd: EngineCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        EngineCmd::Cycle => {
            let v = client.post_empty(&["engine", "cycle"]).await?;
            out.either(&v, || print_cycle(&v));
        }
    }
    Ok(())
}

fn print_cycle(report: &Value) {
    if report["leader"] == false {
        println!("another server holds the engine lease; this cycle did nothing");
        return;
    }
    for (key, what) in [
        ("escalations_fired", "escalation levels fired"),
        ("deliveries_planned", "notifications planned"),
        ("heartbeats_missed", "heartbeats missed"),
        ("reminders_queued", "shift reminders queued"),
        ("roles_filled", "roles filled from their defaults"),
        ("deliveries_sent", "notifications sent"),
    ] {
        println!("{:>5}  {what}", text(&report[key]));
    }
}

/// Reads the file here rather than leaving it to the server, so a YAML mistake is reported with its line number,
/// and puts IDs where it names people by email and schedules by name, since the API takes IDs only.
async fn read_policy(client: &Client, path: &Path) -> anyhow::Result<Value> {
    let mut spec = read_file(path)?;
    let mut known: HashMap<(&'static str, String), String> = HashMap::new();
    let levels = spec
        .get_mut("levels")
        .and_then(Value::as_array_mut)
        .map(|l| l.iter_mut())
        .into_iter()
        .flatten();
    for (i, level) in levels.enumerate() {
        let targets = level
            .get_mut("targets")
            .and_then(Value::as_array_mut)
            .map(|t| t.iter_mut())
            .into_iter()
            .flatten();
        for (j, t) in targets.enumerate() {
            // A shape this client does not know is sent as written, for the server to name what is wrong.
            let Some((kind, reference)) = target_reference(t) else {
                continue;
            };
            let key = (kind, reference.clone());
            let id = match known.get(&key) {
                Some(id) => id.clone(),
                None => {
                    let id = resolve(client, kind, &reference)
                        .await
                        .with_context(|| format!("{}: levels[{i}].targets[{j}]", path.display()))?;
                    known.insert(key, id.clone());
                    id
                }
            };
            *t = json!({ "type": kind, "id": id });
        }
    }
    Ok(spec)
}

fn read_file(path: &Path) -> anyhow::Result<Value> {
    super::catalog::read_document(
        path,
        "a policy has a name and levels, each with a delay_minutes and targets",
    )
}

/// A target as the API writes it (`{type: user, id: …}`) or as people do (`{user: alice@example.com}`,
/// `{schedule: Primary}`, `{team: payments}`, `{team_on_call: payments}`): its kind and whatever it was named by.
pub(super) fn target_reference(t: &Value) -> Option<(&'static str, String)> {
    let fields = t.as_object()?;
    let kind = |k: &str| match k {
        "user" => Some("user"),
        "schedule" => Some("schedule"),
        "team" => Some("team"),
        "team_on_call" => Some("team_on_call"),
        _ => None,
    };
    match (fields.get("type"), fields.get("id")) {
        (Some(Value::String(k)), Some(Value::String(r))) if fields.len() == 2 => {
            Some((kind(k)?, r.trim().to_owned()))
        }
        _ if fields.len() == 1 => {
            let (k, r) = fields.iter().next()?;
            Some((kind(k)?, r.as_str()?.trim().to_owned()))
        }
        _ => None,
    }
}

/// An ID as it is; an email, schedule or team name looked up.
pub(super) async fn resolve(
    client: &Client,
    kind: &str,
    reference: &str,
) -> anyhow::Result<String> {
    let (is_id, collection) = match kind {
        "user" => (UserId::parse(reference).is_some(), "users"),
        "schedule" => (ScheduleId::parse(reference).is_some(), "schedules"),
        _ => (TeamId::parse(reference).is_some(), "teams"),
    };
    if is_id {
        return Ok(reference.to_owned());
    }
    let found = client.get(&[collection, reference]).await?;
    found["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the server sent {kind} {reference:?} without an ID"))
}

/// One field of every entry in a list, by ID, for naming what the API refers to by ID.
pub(super) async fn names(
    client: &Client,
    collection: &str,
    name: fn(&Value) -> String,
) -> anyhow::Result<HashMap<String, String>> {
    let list = client.get(&[collection]).await?;
    Ok(items(&list)
        .iter()
        .map(|v| (text(&v["id"]), name(v)))
        .collect())
}

/// A user's contact methods as `name (type)`, by ID.
async fn method_names(client: &Client, user: &str) -> anyhow::Result<HashMap<String, String>> {
    let list = client.get(&["users", user, "contact-methods"]).await?;
    Ok(items(&list)
        .iter()
        .map(|m| (text(&m["id"]), method_label(m)))
        .collect())
}

fn method_label(m: &Value) -> String {
    format!("{} ({})", text(&m["name"]), target_kind(m))
}

/// People remember what they called a contact method rather than its ID, so a name among the user's methods is
/// accepted too.
async fn contact_method_id(client: &Client, user: &str, method: &str) -> anyhow::Result<String> {
    if ContactMethodId::parse(method).is_some() {
        return Ok(method.to_owned());
    }
    let list = client.get(&["users", user, "contact-methods"]).await?;
    let matching: Vec<&Value> = items(&list)
        .iter()
        .filter(|m| m["name"].as_str() == Some(method))
        .collect();
    match matching.as_slice() {
        [m] => Ok(text(&m["id"])),
        [] => bail!(
            "{user} has no contact method named {method:?}; see `tocsin contacts list {user}`"
        ),
        _ => bail!("{user} has several contact methods named {method:?}; give its ID"),
    }
}

/// Copies of `rows`, each with `key` set to what `f` says of it.
fn with_field(rows: &[Value], key: &str, f: impl Fn(&Value) -> String) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let value = Value::String(f(r));
            let mut r = r.clone();
            if let Some(fields) = r.as_object_mut() {
                fields.insert(key.to_owned(), value);
            }
            r
        })
        .collect()
}

/// Levels are numbered from 1 here, as everywhere people read them.
fn print_policy(
    p: &Value,
    users: &HashMap<String, String>,
    schedules: &HashMap<String, String>,
    teams: &HashMap<String, String>,
) {
    println!("name:        {}", text(&p["name"]));
    println!("id:          {}", text(&p["id"]));
    println!("description: {}", text(&p["description"]));
    let repeat = match p["repeat"].as_u64() {
        Some(0) => "none, once through the levels".to_owned(),
        Some(1) => "once more after the last level".to_owned(),
        Some(n) => format!("{n} more times after the last level"),
        None => text(&p["repeat"]),
    };
    println!("repeat:      {repeat}");
    let levels = array(&p["levels"]);
    for (i, level) in levels.iter().enumerate() {
        let wait = wait(&level["delay_minutes"]);
        let then = if i + 1 < levels.len() {
            format!("after {wait}, level {}", i + 2)
        } else if p["repeat"].as_u64().unwrap_or(0) > 0 {
            format!("after {wait}, level 1 again")
        } else {
            "the last level".to_owned()
        };
        println!("level {} ({then}):", i + 1);
        for t in array(&level["targets"]) {
            let id = text(&t["id"]);
            let (kind, known) = match t["type"].as_str() {
                Some("user") => ("user", users.get(&id)),
                Some("schedule") => ("schedule", schedules.get(&id)),
                Some("team") => ("every member of team", teams.get(&id)),
                Some("team_on_call") => ("whoever is on call for team", teams.get(&id)),
                _ => ("", None),
            };
            match known {
                Some(name) => println!("  {kind} {name}"),
                None => println!("  {kind} {id}"),
            }
        }
    }
}

fn print_on_call(v: &Value) {
    println!(
        "escalation policy {} at {}:",
        text(&v["policy"]["name"]),
        time(&v["at"])
    );
    for level in array(&v["levels"]) {
        let mut who: Vec<String> = array(&level["users"])
            .iter()
            .map(|u| match u["via_schedule"].as_str() {
                Some(s) => format!("{} (on call in {s})", person(u)),
                None => person(u),
            })
            .collect();
        who.extend(
            array(&level["gaps"])
                .iter()
                .map(|g| format!("nobody on call in {}", text(g))),
        );
        if who.is_empty() {
            who.push("nobody".into());
        }
        println!("  level {}: {}", text(&level["level"]), who.join(", "));
    }
}

fn print_escalation(e: &Value, users: &HashMap<String, String>) {
    let policy = if text(&e["policy_name"]) == "-" {
        "none".to_owned()
    } else {
        format!("{} ({})", text(&e["policy_name"]), text(&e["policy_id"]))
    };
    println!("policy:    {policy}");
    let pass = e["round"].as_u64().map_or(0, |r| r + 1);
    println!(
        "level:     {} (pass {pass} through the policy)",
        text(&e["level"])
    );
    let next = if e["next_at"].is_null() {
        "none; escalation has stopped".to_owned()
    } else {
        format!("level {} at {}", text(&e["level"]), time(&e["next_at"]))
    };
    println!("next page: {next}");
    println!("assignees: {}", assignees(e, users));
}

fn assignees(e: &Value, users: &HashMap<String, String>) -> String {
    let who: Vec<String> = array(&e["assignees"])
        .iter()
        .map(|id| name_or_id(users, id))
        .collect();
    if who.is_empty() {
        "(nobody paged yet)".into()
    } else {
        who.join(", ")
    }
}

fn wait(minutes: &Value) -> String {
    minutes.as_i64().map_or_else(
        || text(minutes),
        |m| super::noise::span(TimeDelta::minutes(m)),
    )
}

fn level_count(p: &Value) -> String {
    array(&p["levels"]).len().to_string()
}

fn target_kind(m: &Value) -> String {
    text(&m["target"]["type"])
}

/// A chat or webhook URL can itself be a credential, so only its host is shown, as notifications do.
fn target(m: &Value) -> String {
    match serde_json::from_value::<ContactTarget>(m["target"].clone()) {
        Ok(t) => t.describe(),
        Err(_) => text(&m["target"]["type"]),
    }
}

fn enabled(m: &Value) -> String {
    if m["enabled"] == true { "yes" } else { "no" }.into()
}

fn after(rule: &Value) -> String {
    match rule["delay_minutes"].as_i64() {
        Some(0) => "at once".into(),
        Some(_) => format!("after {}", wait(&rule["delay_minutes"])),
        None => text(&rule["delay_minutes"]),
    }
}

fn purpose(d: &Value) -> String {
    let p = &d["purpose"];
    match p["type"].as_str() {
        Some("page") => match p["level_index"].as_u64() {
            Some(l) => format!("page, level {}", l + 1),
            None => "page by hand".into(),
        },
        Some("test") => "test".into(),
        Some("shift_reminder") => format!("shift reminder, {}", text(&p["schedule_name"])),
        _ => text(&p["type"]).replace('_', " "),
    }
}

fn attempt_count(d: &Value) -> String {
    array(&d["attempts"]).len().to_string()
}

fn last_detail(d: &Value) -> String {
    array(&d["attempts"])
        .last()
        .map_or_else(|| "-".into(), |a| text(&a["detail"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_in_both_shapes() {
        assert_eq!(
            target_reference(&json!({"user": " alice@example.com "})),
            Some(("user", "alice@example.com".to_owned()))
        );
        assert_eq!(
            target_reference(&json!({"type": "schedule", "id": "Primary"})),
            Some(("schedule", "Primary".to_owned()))
        );
        assert_eq!(
            target_reference(&json!({"team_on_call": "payments"})),
            Some(("team_on_call", "payments".to_owned()))
        );
        assert_eq!(target_reference(&json!({"group": "payments"})), None);
        assert_eq!(target_reference(&json!("alice@example.com")), None);
        assert_eq!(
            target_reference(&json!({"type": "user", "id": "x", "extra": 1})),
            None
        );
    }

    #[test]
    fn notifications_say_what_they_were_for() {
        let page = json!({"purpose": {"type": "page", "incident_id": "inc_1", "level_index": 1}});
        assert_eq!(
            purpose(&page),
            "page, level 2",
            "people count levels from 1"
        );
        let by_hand = json!({"purpose": {"type": "page", "incident_id": "inc_1"}});
        assert_eq!(purpose(&by_hand), "page by hand");
        let reminder = json!({"purpose": {"type": "shift_reminder", "schedule_name": "Primary"}});
        assert_eq!(purpose(&reminder), "shift reminder, Primary");
        let tried = json!({"attempts": [{"detail": "timeout"}, {"detail": "HTTP 200"}]});
        assert_eq!(
            (attempt_count(&tried), last_detail(&tried)),
            ("2".into(), "HTTP 200".into())
        );
        assert_eq!(last_detail(&json!({"attempts": []})), "-");
    }

    #[test]
    fn chat_urls_show_only_their_host() {
        let m = json!({"target": {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/secret"}});
        assert_eq!(target(&m), "hooks.slack.com");
        assert_eq!(after(&json!({"delay_minutes": 0})), "at once");
        assert_eq!(after(&json!({"delay_minutes": 90})), "after 1h30m");
    }
}
