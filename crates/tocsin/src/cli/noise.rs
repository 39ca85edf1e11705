//! Silence, rule and maintenance commands: what keeps alerts from paging, and why an alert did not.

use super::client::Client;
use super::later;
use super::output::{Cell, Col, Output, text, time};
use super::{MaintenanceCmd, RuleCmd, SilenceCmd, body, parse_time, query, rfc3339};
use anyhow::{Context, anyhow};
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use tocsin_domain::noise::{Matcher, NoPageReason};

const SILENCES: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("STATE", Cell::Text("state")),
    Col("MATCHERS", Cell::Text("matchers")),
    Col("STARTS", Cell::Time("starts_at")),
    Col("ENDS", Cell::Time("ends_at")),
    Col("CREATED BY", Cell::Text("created_by")),
    Col("COMMENT", Cell::Text("comment")),
];

const RULES: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("POSITION", Cell::Text("position")),
    Col("NAME", Cell::Text("name")),
    Col("SERVICE", Cell::Text("service")),
    Col("MATCHERS", Cell::Text("matchers")),
    Col("ACTION", Cell::With(action)),
];

const WINDOWS: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("SERVICE", Cell::Text("service")),
    Col("ACTIVE", Cell::With(active)),
    Col("NEXT START", Cell::Time("next_starts_at")),
    Col("SCHEDULE", Cell::With(schedule)),
    Col("DESCRIPTION", Cell::Text("description")),
];

/// Checks a matcher as the server will, so a typo is reported before anything is sent.
pub fn matcher(raw: &str) -> Result<String, String> {
    Matcher::parse(raw).map(|_| raw.trim().to_owned())
}

pub async fn silences(client: &Client, cmd: SilenceCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        SilenceCmd::List => out.table(&client.get(&["silences"]).await?, SILENCES),
        SilenceCmd::Create {
            matchers,
            comment,
            starts_at,
            ends_at,
            duration,
        } => {
            let starts_at = starts_at.unwrap_or_else(Utc::now);
            let ends_at = match (ends_at, duration) {
                (Some(t), _) => t,
                (None, Some(d)) => later(starts_at, d)?,
                (None, None) => anyhow::bail!("give --ends-at or --duration"),
            };
            let new = json!({
                "matchers": matchers,
                "starts_at": rfc3339(starts_at),
                "ends_at": rfc3339(ends_at),
                "comment": comment,
            });
            let v = client.post(&["silences"], &new).await?;
            let line = format!(
                "created silence {} ({}) until {}",
                text(&v["id"]),
                text(&v["state"]),
                time(&v["ends_at"])
            );
            out.done(&v, line);
        }
        SilenceCmd::Expire { id } => {
            let v = client.delete(&["silences", &id]).await?;
            out.done(&v, format!("expired silence {id}"));
        }
        SilenceCmd::Extend { id, ends_at, by } => {
            let ends_at = match (ends_at, by) {
                (Some(t), _) => t,
                (None, Some(by)) => {
                    let current = client.get(&["silences", &id]).await?;
                    let end = current["ends_at"]
                        .as_str()
                        .and_then(|t| parse_time(t).ok())
                        .with_context(|| format!("the server sent silence {id} without an end"))?;
                    later(end, by)?
                }
                (None, None) => anyhow::bail!("give --ends-at or --by"),
            };
            let change = json!({ "ends_at": rfc3339(ends_at) });
            let v = client.post(&["silences", &id, "extend"], &change).await?;
            let line = format!(
                "silence {id} now ends {} ({})",
                time(&v["ends_at"]),
                text(&v["state"])
            );
            out.done(&v, line);
        }
    }
    Ok(())
}

pub async fn rules(client: &Client, cmd: RuleCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        RuleCmd::List => out.table(&client.get(&["rules"]).await?, RULES),
        RuleCmd::Create {
            name,
            matchers,
            suppress,
            route,
            set_severity,
            position,
            service,
        } => {
            let action = match (suppress, route, set_severity) {
                (true, _, _) => json!({ "type": "suppress" }),
                (_, Some(service), _) => json!({ "type": "route", "service": service }),
                (_, _, Some(severity)) => json!({ "type": "set_severity", "severity": severity }),
                _ => anyhow::bail!("give --suppress, --route or --set-severity"),
            };
            let new = body(json!({
                "name": name,
                "matchers": matchers,
                "action": action,
                "position": position,
                "service": service,
            }));
            let v = client.post(&["rules"], &new).await?;
            let line = format!(
                "created rule {:?} ({}) at position {}: {}",
                text(&v["name"]),
                text(&v["id"]),
                text(&v["position"]),
                action_of(&v["action"])
            );
            out.done(&v, line);
        }
        RuleCmd::Delete { id } => {
            let v = client.delete(&["rules", &id]).await?;
            out.done(&v, format!("deleted rule {id}"));
        }
    }
    Ok(())
}

pub async fn maintenance(client: &Client, cmd: MaintenanceCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        MaintenanceCmd::List { service } => {
            let list = client
                .get_with(&["maintenance"], &query([("service", service)]))
                .await?;
            out.table(&list, WINDOWS);
        }
        MaintenanceCmd::Create {
            service,
            description,
            from,
            until,
            cron,
            time_zone,
            rrule,
            duration,
        } => {
            let duration_minutes = duration.map(minutes).transpose()?;
            let schedule = match (from, until, cron, rrule) {
                (Some(starts_at), Some(ends_at), _, _) => json!({
                    "type": "once",
                    "starts_at": rfc3339(starts_at),
                    "ends_at": rfc3339(ends_at),
                }),
                (_, _, Some(expression), _) => json!({
                    "type": "cron",
                    "expression": expression,
                    "time_zone": time_zone,
                    "duration_minutes": duration_minutes,
                }),
                (_, _, _, Some(rule)) => json!({
                    "type": "rrule",
                    "rule": recurrence(&rule),
                    "duration_minutes": duration_minutes,
                }),
                _ => anyhow::bail!("give --from and --until, --cron, or --rrule"),
            };
            let new = body(json!({
                "service": service,
                "description": description,
                "schedule": schedule,
            }));
            let v = client.post(&["maintenance"], &new).await?;
            let when = if v["active"] == true {
                "open now".to_owned()
            } else if v["next_starts_at"].is_null() {
                "never opens again".to_owned()
            } else {
                format!("next opens {}", time(&v["next_starts_at"]))
            };
            let line = format!(
                "created maintenance window {} for {}; {when}",
                text(&v["id"]),
                text(&v["service"])
            );
            out.done(&v, line);
        }
        MaintenanceCmd::Delete { id } => {
            let v = client.delete(&["maintenance", &id]).await?;
            out.done(&v, format!("deleted maintenance window {id}"));
        }
    }
    Ok(())
}

fn minutes(d: TimeDelta) -> anyhow::Result<u32> {
    u32::try_from(d.num_minutes()).map_err(|_| anyhow!("--duration {} is too long", span(d)))
}

/// Shells rarely pass a real line break, so `\n` written out, or plain spaces, also separate the recurrence's
/// lines; none of its lines contains a space itself.
fn recurrence(raw: &str) -> String {
    raw.replace("\\n", "\n")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why an alert paged no one, in the server's own words; a reason newer than this client shows its kind.
pub fn why(alert: &Value) -> String {
    let reason = &alert["no_page_reason"];
    if reason.is_null() {
        return String::new();
    }
    match serde_json::from_value::<NoPageReason>(reason.clone()) {
        Ok(r) => super::output::terminal_safe(&r.describe()).into_owned(),
        Err(_) => text(&reason["type"]).replace('_', " "),
    }
}

fn action(rule: &Value) -> String {
    action_of(&rule["action"])
}

fn action_of(action: &Value) -> String {
    match action["type"].as_str() {
        Some("suppress") => "suppress".into(),
        Some("route") => format!("route to {}", text(&action["service"])),
        Some("set_severity") => format!("set severity {}", text(&action["severity"])),
        _ => text(action),
    }
}

fn active(window: &Value) -> String {
    if window["active"] == true {
        "yes"
    } else {
        "no"
    }
    .into()
}

fn schedule(window: &Value) -> String {
    let s = &window["schedule"];
    let every = || {
        s["duration_minutes"]
            .as_i64()
            .map_or_else(|| "-".into(), |m| span(TimeDelta::minutes(m)))
    };
    match s["type"].as_str() {
        Some("once") => format!("once {} to {}", time(&s["starts_at"]), time(&s["ends_at"])),
        Some("cron") => format!(
            "cron {} {} for {}",
            text(&s["expression"]),
            text(&s["time_zone"]),
            every()
        ),
        Some("rrule") => format!("{} for {}", text(&s["rule"]), every()),
        _ => text(s),
    }
}

/// A length of time as people write it, such as `2h`, `1h30m` or `1d12h`.
pub(super) fn span(d: TimeDelta) -> String {
    let total = d.num_minutes();
    if total <= 0 {
        return format!("{total}m");
    }
    let parts = [
        (total / 1440, "d"),
        (total / 60 % 24, "h"),
        (total % 60, "m"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_are_checked_before_sending() {
        assert_eq!(
            matcher(" team=~\"db|cache\" ").unwrap(),
            "team=~\"db|cache\""
        );
        assert!(matcher("env!=prod").is_ok());
        assert!(matcher("no operator").is_err());
    }

    #[test]
    fn recurrences_accept_written_out_line_breaks() {
        let rule = "DTSTART;TZID=Europe/Berlin:20261201T020000\\nRRULE:FREQ=WEEKLY;BYDAY=SU";
        let want = "DTSTART;TZID=Europe/Berlin:20261201T020000\nRRULE:FREQ=WEEKLY;BYDAY=SU";
        assert_eq!(recurrence(rule), want);
        assert_eq!(recurrence(&want.replace('\n', " ")), want);
        assert_eq!(recurrence(want), want);
    }

    #[test]
    fn actions_and_schedules_read_as_a_phrase() {
        assert_eq!(action_of(&json!({"type": "suppress"})), "suppress");
        assert_eq!(
            action_of(&json!({"type": "route", "service": "db"})),
            "route to db"
        );
        let sev = json!({"type": "set_severity", "severity": "warning"});
        assert_eq!(action_of(&sev), "set severity warning");
        let cron = json!({"schedule": {"type": "cron", "expression": "0 2 * * SUN",
            "time_zone": "Europe/Berlin", "duration_minutes": 90}});
        assert_eq!(schedule(&cron), "cron 0 2 * * SUN Europe/Berlin for 1h30m");
        assert_eq!(span(TimeDelta::minutes(36 * 60)), "1d12h");
    }

    #[test]
    fn reasons_are_described_and_unknown_ones_named() {
        assert_eq!(why(&json!({"no_page_reason": null})), "");
        let flapping = json!({"no_page_reason": {"type": "flapping"}});
        assert_eq!(why(&flapping), NoPageReason::Flapping.describe());
        let future = json!({"no_page_reason": {"type": "quiet_hours", "until": "07:00"}});
        assert_eq!(why(&future), "quiet hours");
    }
}
