//! Schedule commands: rotations from a file, who is on call, the final schedule, overrides and calendar feeds.

use super::client::Client;
use super::output::{Cell, Col, Output, array, name_or_id, print_table, text, time};
use super::{parse_time, query, rfc3339};
use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ScheduleCmd {
    /// List schedules.
    List,
    /// Show a schedule: its layers, their participants and its overrides.
    #[command(alias = "get")]
    Show {
        /// Schedule ID or name.
        schedule: String,
    },
    /// Create a schedule from a file (YAML, or JSON if it ends in `.json`); participants by email or ID.
    Create(ScheduleFile),
    /// Replace a schedule's layers and settings from a file; its overrides stay.
    Update {
        /// Schedule ID or name.
        schedule: String,
        #[command(flatten)]
        file: ScheduleFile,
    },
    /// Delete a schedule with its overrides and feeds.
    Delete {
        /// Schedule ID or name.
        schedule: String,
    },
    /// Who is on call now, or at --at.
    Oncall {
        /// Schedule ID or name.
        schedule: String,
        /// The instant to ask about (now, +2h, a local time with its zone, or RFC 3339) [default: now].
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
        at: Option<DateTime<Utc>>,
    },
    /// The final schedule over a range: who is on call when, and where nobody is.
    Shifts {
        /// Schedule ID or name.
        schedule: String,
        /// Start of the range (now, +2h, a local time with its zone, or RFC 3339) [default: now].
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
        from: Option<DateTime<Utc>>,
        /// End of the range (RFC 3339), at most 366 days after the start [default: 14 days after it].
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
        to: Option<DateTime<Utc>>,
    },
    /// Put someone on call for a while, whoever the rotation names.
    #[command(subcommand)]
    Override(OverrideCmd),
    /// Secret calendar URLs of shifts, for Google Calendar, Outlook and the like.
    #[command(subcommand)]
    Feed(FeedCmd),
}

#[derive(Args, Debug)]
pub struct ScheduleFile {
    /// The schedule file: YAML, or JSON if it ends in `.json`; `-` reads standard input.
    #[arg(long, short = 'f')]
    pub file: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum OverrideCmd {
    /// Put a user on call from --start until --end.
    Add {
        /// Schedule ID or name.
        schedule: String,
        /// The user on call instead (ID or email).
        #[arg(long)]
        user: String,
        /// When the override starts (now, +2h, a local time with its zone, or RFC 3339).
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
        start: DateTime<Utc>,
        /// When it ends (now, +2h, a local time with its zone, or RFC 3339).
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
        end: DateTime<Utc>,
    },
    /// Remove an override.
    Remove {
        /// Schedule ID or name.
        schedule: String,
        /// Override ID.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum FeedCmd {
    /// Create a feed of every shift in a schedule and print its URL (shown only once).
    Create {
        /// Schedule ID or name.
        schedule: String,
    },
    /// Create a feed of one user's shifts in every schedule and print its URL (shown only once).
    User {
        /// User ID or email.
        user: String,
    },
    /// List feeds.
    List,
    /// Revoke a feed: its URL stops answering at once.
    Revoke {
        /// Feed ID.
        id: String,
    },
}

const SCHEDULES: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("NAME", Cell::Text("name")),
    Col("TIME ZONE", Cell::Text("time_zone")),
    Col("LAYERS", Cell::Text("layers")),
    Col("OVERRIDES", Cell::With(override_count)),
    Col("DESCRIPTION", Cell::Text("description")),
];

const FEEDS: &[Col] = &[
    Col("ID", Cell::Text("id")),
    Col("FOR", Cell::With(feed_subject)),
    Col("TOKEN", Cell::With(token_prefix)),
    Col("CREATED", Cell::Time("created_at")),
    Col("REVOKED", Cell::Time("revoked_at")),
];

const SHIFTS: &[Col] = &[
    Col("START", Cell::Time("start")),
    Col("END", Cell::Time("end")),
    Col("LENGTH", Cell::With(length)),
    Col("ON CALL", Cell::With(on_call)),
];

pub async fn schedules(client: &Client, cmd: ScheduleCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        ScheduleCmd::List => out.table(&client.get(&["schedules"]).await?, SCHEDULES),
        ScheduleCmd::Show { schedule } => {
            let v = client.get(&["schedules", &schedule]).await?;
            if out.json {
                out.record(&v);
            } else {
                let users = user_names(client).await?;
                print_schedule(&v, &users);
            }
        }
        ScheduleCmd::Create(f) => {
            let spec = read_schedule(&f.file)?;
            let v = client.post(&["schedules"], &spec).await?;
            let line = format!("created schedule {} ({})", text(&v["name"]), text(&v["id"]));
            out.done(&v, line);
        }
        ScheduleCmd::Update { schedule, file } => {
            let spec = read_schedule(&file.file)?;
            let v = client.put(&["schedules", &schedule], &spec).await?;
            let line = format!("updated schedule {} ({})", text(&v["name"]), text(&v["id"]));
            out.done(&v, line);
        }
        ScheduleCmd::Delete { schedule } => {
            let v = client.delete(&["schedules", &schedule]).await?;
            out.done(&v, format!("deleted schedule {schedule}"));
        }
        ScheduleCmd::Oncall { schedule, at } => {
            let q = query([("at", at.map(rfc3339))]);
            let v = client
                .get_with(&["schedules", &schedule, "on-call"], &q)
                .await?;
            let who = if v["user"].is_null() {
                "nobody is on call".to_owned()
            } else {
                format!("{} is on call", person(&v["user"]))
            };
            out.done(&v, format!("{who} in {schedule} at {}", time(&v["at"])));
        }
        ScheduleCmd::Shifts { schedule, from, to } => {
            let q = query([("from", from.map(rfc3339)), ("to", to.map(rfc3339))]);
            let v = client
                .get_with(&["schedules", &schedule, "shifts"], &q)
                .await?;
            out.either(&v, || print_table(&timeline(&v), SHIFTS));
        }
        ScheduleCmd::Override(OverrideCmd::Add {
            schedule,
            user,
            start,
            end,
        }) => {
            if end <= start {
                bail!("--end must be after --start");
            }
            let new = json!({ "user": user, "start": rfc3339(start), "end": rfc3339(end) });
            let v = client
                .post(&["schedules", &schedule, "overrides"], &new)
                .await?;
            let line = format!(
                "added override {}: {user} is on call in {schedule} from {} to {}",
                text(&v["id"]),
                time(&v["start"]),
                time(&v["end"])
            );
            out.done(&v, line);
        }
        ScheduleCmd::Override(OverrideCmd::Remove { schedule, id }) => {
            let v = client
                .delete(&["schedules", &schedule, "overrides", &id])
                .await?;
            out.done(&v, format!("removed override {id} from {schedule}"));
        }
        ScheduleCmd::Feed(cmd) => feeds(client, cmd, out).await?,
    }
    Ok(())
}

async fn feeds(client: &Client, cmd: FeedCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        FeedCmd::Create { schedule } => {
            let v = client
                .post_empty(&["schedules", &schedule, "feeds"])
                .await?;
            out.done(&v, created_feed(&v, &format!("schedule {schedule}")));
        }
        FeedCmd::User { user } => {
            let v = client.post_empty(&["users", &user, "feeds"]).await?;
            out.done(&v, created_feed(&v, &format!("{user}'s shifts")));
        }
        FeedCmd::List => out.table(&client.get(&["feeds"]).await?, FEEDS),
        FeedCmd::Revoke { id } => {
            let v = client.delete(&["feeds", &id]).await?;
            out.done(&v, format!("revoked feed {id}"));
        }
    }
    Ok(())
}

fn created_feed(feed: &Value, of: &str) -> String {
    format!(
        "created feed {} of {of}. Subscribe to this URL in a calendar app; it is shown only now and \
         works without a token, so keep it private:\n\n    {}\n",
        text(&feed["id"]),
        text(&feed["url"])
    )
}

/// Reads the file here rather than leaving it to the server, so a YAML mistake is reported with its line number.
fn read_schedule(path: &Path) -> anyhow::Result<Value> {
    super::catalog::read_document(path, "a schedule has a name, a time_zone and layers")
}

/// Users' names and emails by ID, since schedules name participants by ID.
pub(super) async fn user_names(client: &Client) -> anyhow::Result<HashMap<String, String>> {
    super::paging::names(client, "users", person).await
}

fn print_schedule(s: &Value, users: &HashMap<String, String>) {
    let who = |id: &Value| name_or_id(users, id);
    println!("name:        {}", text(&s["name"]));
    println!("id:          {}", text(&s["id"]));
    println!("description: {}", text(&s["description"]));
    println!("time zone:   {}", text(&s["time_zone"]));
    let reminder = match s["reminder_minutes"].as_u64() {
        Some(0) => "none".to_owned(),
        Some(m) => format!("{m} minutes before a shift"),
        None => text(&s["reminder_minutes"]),
    };
    println!("reminders:   {reminder}");
    for (i, layer) in array(&s["layers"]).iter().enumerate() {
        println!(
            "layer {i}: {} ({}, first handoff {})",
            text(&layer["name"]),
            rotation(&layer["rotation"]),
            text(&layer["start"])
        );
        for (turn, p) in array(&layer["participants"]).iter().enumerate() {
            println!("  {}. {}", turn + 1, who(p));
        }
        for r in array(&layer["restrictions"]) {
            let days = if array(&r["days"]).is_empty() {
                "every day".to_owned()
            } else {
                text(&r["days"])
            };
            println!("  only {days} {}-{}", text(&r["start"]), text(&r["end"]));
        }
    }
    let overrides = array(&s["overrides"]);
    if !overrides.is_empty() {
        println!("overrides:");
        for o in overrides {
            println!(
                "  {}  {} to {}  {}",
                text(&o["id"]),
                time(&o["start"]),
                time(&o["end"]),
                who(&o["user_id"])
            );
        }
    }
}

/// `{"every": "days", "count": 1}` as "every day".
fn rotation(r: &Value) -> String {
    let unit = text(&r["every"]);
    match r["count"].as_u64() {
        Some(1) => format!("every {}", unit.trim_end_matches('s')),
        Some(n) => format!("every {n} {unit}"),
        None => text(r),
    }
}

/// A person as `Name <email>`.
pub(super) fn person(p: &Value) -> String {
    match p["email"].as_str().filter(|e| !e.is_empty()) {
        Some(email) => format!("{} <{email}>", text(&p["name"])),
        None => text(&p["name"]),
    }
}

/// Shifts and gaps as one list in time order; a gap has no user.
fn timeline(v: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = array(&v["shifts"])
        .iter()
        .cloned()
        .chain(
            array(&v["gaps"])
                .iter()
                .map(|g| json!({"start": g["start"], "end": g["end"], "user": null})),
        )
        .collect();
    rows.sort_by_key(|r| instant(&r["start"]));
    rows
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| parse_time(s).ok())
}

fn on_call(row: &Value) -> String {
    if row["user"].is_null() {
        "(nobody)".into()
    } else {
        person(&row["user"])
    }
}

fn length(row: &Value) -> String {
    match (instant(&row["start"]), instant(&row["end"])) {
        (Some(a), Some(b)) => super::noise::span(b - a),
        _ => "-".into(),
    }
}

fn override_count(s: &Value) -> String {
    array(&s["overrides"]).len().to_string()
}

fn feed_subject(feed: &Value) -> String {
    let s = &feed["subject"];
    format!("{} {}", text(&s["type"]), text(&s["id"]))
}

fn token_prefix(feed: &Value) -> String {
    format!("{}…", text(&feed["token_prefix"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_and_gaps_read_as_one_timeline() {
        let v = json!({
            "shifts": [
                {"user": {"id": "usr_1", "name": "Alice", "email": "alice@example.com"},
                 "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T17:00:00Z"},
                {"user": {"id": "usr_2", "name": "Bob", "email": "bob@example.com"},
                 "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T17:00:00Z"},
            ],
            "gaps": [{"start": "2026-03-02T17:00:00Z", "end": "2026-03-03T09:00:00Z"}],
        });
        let rows = timeline(&v);
        let cells: Vec<(String, String)> = rows.iter().map(|r| (length(r), on_call(r))).collect();
        assert_eq!(
            cells,
            [
                ("8h".to_owned(), "Alice <alice@example.com>".to_owned()),
                ("16h".to_owned(), "(nobody)".to_owned()),
                ("8h".to_owned(), "Bob <bob@example.com>".to_owned()),
            ]
        );
        assert_eq!(
            length(&json!({"start": "2026-03-02T09:00:00Z", "end": "2026-03-03T09:00:00Z"})),
            "1d"
        );
    }

    #[test]
    fn rotations_read_as_a_phrase() {
        assert_eq!(rotation(&json!({"every": "days", "count": 1})), "every day");
        assert_eq!(
            rotation(&json!({"every": "weeks", "count": 2})),
            "every 2 weeks"
        );
        assert_eq!(
            rotation(&json!({"every": "hours", "count": 12})),
            "every 12 hours"
        );
    }
}
