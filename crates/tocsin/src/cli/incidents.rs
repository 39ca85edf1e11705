//! Incident and alert commands.

use super::client::{Client, Query};
use super::output::{
    Cell, Col, Output, items, name_or_id, number, print_record, print_table, text,
};
use super::{
    AlertCmd, IncidentCmd, Paging, SeverityCmd, TimeRange, body, noise, query, read_input,
};
use serde_json::{Value, json};
use std::collections::HashMap;

const INCIDENTS: &[Col] = &[
    Col("#", Cell::Number),
    Col("SEVERITY", Cell::Text("severity")),
    Col("STATUS", Cell::With(status)),
    Col("OPENED", Cell::Time("created_at")),
    Col("TITLE", Cell::Text("title")),
];

const CHANGES: &[Col] = &[
    Col("RECEIVED", Cell::Time("received_at")),
    Col("SERVICE", Cell::Text("service")),
    Col("SOURCE", Cell::Text("source")),
    Col("SUMMARY", Cell::Text("summary")),
];

const TIMELINE: &[Col] = &[
    Col("TIME", Cell::Time("at")),
    Col("ACTOR", Cell::Text("actor")),
    Col("KIND", Cell::Text("kind")),
    Col("MESSAGE", Cell::Text("message")),
];

/// Rows carry `incident` (`#number`) and `service` (its name) the command added; the API names both by ID. The
/// alert's own ID comes last, for `alerts show`.
const ALERTS: &[Col] = &[
    Col("INCIDENT", Cell::Text("incident")),
    Col("SERVICE", Cell::Text("service")),
    Col("STATUS", Cell::Text("status")),
    Col("SEVERITY", Cell::Text("severity")),
    Col("EVENTS", Cell::Text("event_count")),
    Col("LAST EVENT", Cell::Time("last_event_at")),
    Col("DEDUP KEY", Cell::Text("dedup_key")),
    Col("SUMMARY", Cell::Text("summary")),
    Col("WHY", Cell::With(noise::why)),
    Col("ID", Cell::Text("id")),
];

/// Rows carry `integration` (its name) the command added.
const EVENTS: &[Col] = &[
    Col("RECEIVED", Cell::Time("received_at")),
    Col("ACTION", Cell::Text("action")),
    Col("RESULT", Cell::Text("result")),
    Col("INTEGRATION", Cell::Text("integration")),
];

/// A link as `--link` takes it: `URL`, or `LABEL=URL` (the label comes first and holds no `://`, so a URL with
/// `=` in its query is read whole).
pub fn parse_link(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    let (label, url) = match raw.split_once('=') {
        Some((label, url)) if !label.contains("://") => (label.trim(), url.trim()),
        _ => ("", raw),
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!(
            "{url:?} is not an http(s) URL; give URL or LABEL=URL"
        ));
    }
    Ok(json!({ "url": url, "label": label }))
}

const SEVERITIES: &[Col] = &[
    Col("SEVERITY", Cell::Text("severity")),
    Col("NAME", Cell::Text("name")),
    Col("URGENCY", Cell::Text("urgency")),
    Col("UPDATES", Cell::With(cadence)),
    Col("POSTMORTEM", Cell::With(postmortem)),
    Col("DEFINITION", Cell::Text("definition")),
];

fn cadence(level: &Value) -> String {
    match level["update_every_minutes"].as_u64() {
        Some(m) if m % 60 == 0 => format!("every {} h", m / 60),
        Some(m) => format!("every {m} min"),
        None => "none".into(),
    }
}

fn postmortem(level: &Value) -> String {
    if level["postmortem_required"] == true {
        "required".into()
    } else {
        "optional".into()
    }
}

pub async fn severities(client: &Client, cmd: SeverityCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        SeverityCmd::List => {
            let levels = client.get(&["severities"]).await?;
            out.table(&levels, SEVERITIES);
        }
        SeverityCmd::Set {
            severity,
            name,
            definition,
            examples,
            expectations,
            update_every,
            no_update_cadence,
            postmortem_required,
        } => {
            let wanted: tocsin_domain::severity::Severity =
                severity.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            // Only what was given is sent, and the server changes only that, on what it holds at the time.
            let mut change = serde_json::Map::new();
            for (field, value) in [
                ("name", name),
                ("definition", definition),
                ("expectations", expectations),
            ] {
                if let Some(v) = value {
                    change.insert(field.into(), v.into());
                }
            }
            if !examples.is_empty() {
                change.insert("examples".into(), json!(examples));
            }
            if let Some(every) = update_every {
                change.insert("update_every_minutes".into(), json!(every.num_minutes()));
            }
            if no_update_cadence {
                change.insert("update_every_minutes".into(), Value::Null);
            }
            if let Some(required) = postmortem_required {
                change.insert("postmortem_required".into(), required.into());
            }
            if change.is_empty() {
                anyhow::bail!(
                    "give something to change: --name, --definition, --example, --expectations, --update-every, \
                     --no-update-cadence or --postmortem-required"
                );
            }
            let sev = wanted.as_str();
            let v = client
                .patch(&["severities", sev], &Value::Object(change))
                .await?;
            out.done(
                &v,
                format!(
                    "{sev} is now {}: {}",
                    text(&v["name"]),
                    text(&v["definition"])
                ),
            );
        }
    }
    Ok(())
}

/// A milestone as `--milestone` takes it: `NAME=TIME` in RFC 3339, or `NAME=none`.
pub fn parse_milestone(raw: &str) -> Result<(String, Value), String> {
    let (name, time) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?}: give NAME=TIME, e.g. mitigated=2026-12-01T10:30:00Z"))?;
    let name: tocsin_domain::incident::Milestone = name.parse()?;
    let time = time.trim();
    if time.eq_ignore_ascii_case("none") {
        return Ok((name.as_str().to_owned(), Value::Null));
    }
    let at = chrono::DateTime::parse_from_rfc3339(time)
        .map_err(|_| format!("{time:?} is not an RFC 3339 time such as 2026-12-01T10:30:00Z"))?;
    Ok((
        name.as_str().to_owned(),
        json!(at.with_timezone(&chrono::Utc)),
    ))
}

/// An incident's status, marked when nobody has it: its escalation reached no one.
fn status(incident: &Value) -> String {
    let status = text(&incident["status"]);
    if incident["unassigned_since"].is_null() {
        status
    } else {
        format!("{status}, unassigned")
    }
}

/// Incidents are referred to as `#42` in conversation, so that form is accepted as well as `42` and the ID.
pub fn incident_ref(raw: &str) -> Result<String, String> {
    let r = raw.trim();
    let r = r.strip_prefix('#').unwrap_or(r);
    if r.is_empty() {
        return Err("give an incident number such as 42 or an incident ID".into());
    }
    Ok(r.to_owned())
}

pub async fn incidents(client: &Client, cmd: IncidentCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        IncidentCmd::List {
            status,
            severity,
            service,
            range,
            paging,
        } => {
            let filters = query([
                ("status", Some(status.join(","))),
                ("severity", Some(severity.join(","))),
                ("service", service),
            ]);
            list(client, "incidents", filters, range, paging, INCIDENTS, out).await?;
        }
        IncidentCmd::Show(r) => {
            let id = r.incident.as_str();
            let paths = (
                ["incidents", id],
                ["incidents", id, "timeline"],
                ["incidents", id, "changes"],
            );
            let (incident, timeline, changes) = tokio::try_join!(
                client.get(&paths.0),
                client.get(&paths.1),
                client.get(&paths.2)
            )?;
            let all = json!({
                "incident": incident,
                "timeline": timeline["items"],
                "recent_changes": changes["items"],
            });
            out.either(&all, || {
                print_record(&incident);
                println!("\nTimeline:");
                print_table(items(&timeline), TIMELINE);
                if !items(&changes).is_empty() {
                    println!("\nChanges on its services (from a day before it opened):");
                    print_table(items(&changes), CHANGES);
                }
            });
        }
        IncidentCmd::Declare {
            title,
            severity,
            services,
            description,
        } => {
            let new = body(json!({
                "title": title,
                "severity": severity,
                "services": services,
                "description": description,
            }));
            let v = client.post(&["incidents"], &new).await?;
            let line = format!(
                "declared {} [{}] {}",
                number(&v),
                text(&v["severity"]),
                text(&v["title"])
            );
            out.done(&v, line);
        }
        IncidentCmd::Ack(r) => transition(client, &r.incident, "acknowledge", out).await?,
        IncidentCmd::Resolve(r) => transition(client, &r.incident, "resolve", out).await?,
        IncidentCmd::Merge { target, into } => {
            let v = client
                .post(
                    &["incidents", &target.incident, "merge"],
                    &json!({ "into": into }),
                )
                .await?;
            out.done(
                &v,
                format!(
                    "merged {} into {} ({}), now {}",
                    if target.incident.bytes().all(|b| b.is_ascii_digit()) {
                        format!("#{}", target.incident)
                    } else {
                        target.incident.clone()
                    },
                    number(&v),
                    text(&v["title"]),
                    text(&v["severity"])
                ),
            );
        }
        IncidentCmd::Severity { target, severity } => {
            let change = json!({ "severity": severity });
            let v = client
                .patch(&["incidents", &target.incident], &change)
                .await?;
            out.done(
                &v,
                format!("{} is now {}", number(&v), text(&v["severity"])),
            );
        }
        IncidentCmd::Edit {
            target,
            title,
            description,
            customer_impact,
            add_services,
            remove_services,
            add_links,
            remove_links,
            stage,
            milestones,
            add_related,
            remove_related,
        } => {
            let mut changes = serde_json::Map::new();
            for (field, value) in [
                ("title", title),
                ("description", description),
                ("customer_impact", customer_impact),
            ] {
                if let Some(v) = value {
                    changes.insert(field.into(), v.into());
                }
            }
            changes.insert("add_services".into(), json!(add_services));
            changes.insert("remove_services".into(), json!(remove_services));
            changes.insert("add_links".into(), json!(add_links));
            changes.insert("remove_links".into(), json!(remove_links));
            for (field, refs) in [
                ("add_related", add_related),
                ("remove_related", remove_related),
            ] {
                if !refs.is_empty() {
                    let refs: Vec<String> = refs
                        .iter()
                        .map(|r| r.trim().trim_start_matches('#').to_owned())
                        .collect();
                    changes.insert(field.into(), json!(refs));
                }
            }
            if let Some(stage) = stage {
                changes.insert("stage".into(), stage.into());
            }
            if !milestones.is_empty() {
                changes.insert(
                    "milestones".into(),
                    Value::Object(milestones.into_iter().collect()),
                );
            }
            let v = client
                .patch(&["incidents", &target.incident], &Value::Object(changes))
                .await?;
            out.done(&v, format!("edited {}", number(&v)));
        }
        IncidentCmd::Note {
            target,
            text: inline,
            file,
        } => {
            let note = match (inline, file) {
                (Some(t), _) => t,
                (None, Some(path)) => read_input(&path)?,
                (None, None) => anyhow::bail!("give the note as an argument or with --file"),
            };
            let path = ["incidents", target.incident.as_str(), "notes"];
            let v = client.post(&path, &json!({ "body": note })).await?;
            out.done(&v, format!("added a note to {}", label(&target.incident)));
        }
        IncidentCmd::Timeline(r) => {
            let timeline = client.get(&["incidents", &r.incident, "timeline"]).await?;
            out.table(&timeline, TIMELINE);
        }
        IncidentCmd::Paging(cmd) => super::paging::incidents(client, cmd, out).await?,
        IncidentCmd::Response(cmd) => super::roles::incidents(client, cmd, out).await?,
        IncidentCmd::Tasks(cmd) => super::tasks::incidents(client, cmd, out).await?,
        IncidentCmd::Runbooks(cmd) => super::runbooks::incidents(client, cmd, out).await?,
        IncidentCmd::Runs(cmd) => super::automation::incidents(client, cmd, out).await?,
        IncidentCmd::Updates(cmd) => super::updates::incidents(client, cmd, out).await?,
    }
    Ok(())
}

pub async fn alerts(client: &Client, cmd: AlertCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        AlertCmd::List {
            status,
            service,
            dedup_key,
            range,
            paging,
        } => {
            let filters = query([
                ("status", Some(status.join(","))),
                ("service", service),
                ("dedup_key", dedup_key),
            ]);
            let page = list_page(client, "alerts", filters, range, paging).await?;
            if out.json {
                out.table(&page, ALERTS);
            } else {
                let services =
                    super::paging::names(client, "services", |s| text(&s["name"])).await?;
                let numbers = incident_numbers(client, items(&page), "incident_id").await?;
                let rows: Vec<Value> = items(&page)
                    .iter()
                    .map(|a| {
                        let mut a = a.clone();
                        a["service"] = name_or_id(&services, &a["service_id"]).into();
                        a["incident"] = name_or_id(&numbers, &a["incident_id"]).into();
                        a
                    })
                    .collect();
                print_table(&rows, ALERTS);
                more(&page);
            }
            Ok(())
        }
        AlertCmd::Show { id } => {
            let (alert_path, events_path) = (["alerts", id.as_str()], ["alerts", &id, "events"]);
            let (alert, events) =
                tokio::try_join!(client.get(&alert_path), client.get(&events_path))?;
            let both = json!({ "alert": alert, "events": events["items"] });
            if out.json {
                out.record(&both);
                return Ok(());
            }
            let mut integrations = HashMap::new();
            for event in items(&events) {
                let id = text(&event["integration_id"]);
                if let std::collections::hash_map::Entry::Vacant(slot) = integrations.entry(id) {
                    let found = client.get(&["integrations", slot.key()]).await;
                    let name = found.map_or_else(|_| slot.key().clone(), |i| text(&i["name"]));
                    slot.insert(name);
                }
            }
            let rows: Vec<Value> = items(&events)
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e["integration"] = name_or_id(&integrations, &e["integration_id"]).into();
                    e
                })
                .collect();
            print_alert(&alert);
            println!("\n{}:", heading("events"));
            print_table(&rows, EVENTS);
            Ok(())
        }
    }
}

/// `#number` of each incident the rows name in `field`, by ID: one lookup per distinct incident.
pub(super) async fn incident_numbers(
    client: &Client,
    rows: &[Value],
    field: &str,
) -> anyhow::Result<HashMap<String, String>> {
    let mut numbers = HashMap::new();
    for row in rows {
        let Some(id) = row[field].as_str() else {
            continue;
        };
        if !numbers.contains_key(id) {
            let incident = client.get(&["incidents", id]).await?;
            numbers.insert(id.to_owned(), number(&incident));
        }
    }
    Ok(numbers)
}

pub(super) async fn list(
    client: &Client,
    path: &str,
    filters: Query,
    range: TimeRange,
    paging: Paging,
    cols: &[Col],
    out: Output,
) -> anyhow::Result<()> {
    let page = list_page(client, path, filters, range, paging).await?;
    out.table(&page, cols);
    if !out.json {
        more(&page);
    }
    Ok(())
}

async fn list_page(
    client: &Client,
    path: &str,
    mut filters: Query,
    range: TimeRange,
    paging: Paging,
) -> anyhow::Result<Value> {
    filters.extend(query([
        ("since", range.since.map(super::rfc3339)),
        ("until", range.until.map(super::rfc3339)),
        ("limit", paging.limit.map(|l| l.to_string())),
        ("cursor", paging.cursor),
    ]));
    client.pages(&[path], filters, paging.all).await
}

/// Says how to get the next page, when there is one.
fn more(page: &Value) {
    if let Some(cursor) = page["next_cursor"].as_str() {
        eprintln!("(more: pass --all, or --cursor {cursor} for the next page)");
    }
}

/// The reason an alert did not page is a tagged object, which only reads well described in a sentence.
fn print_alert(alert: &Value) {
    let mut fields = alert.clone();
    if let Some(f) = fields.as_object_mut() {
        f.remove("no_page_reason");
    }
    print_record(&fields);
    let why = noise::why(alert);
    if !why.is_empty() {
        println!("did not page: {why}");
    }
}

fn heading(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

async fn transition(
    client: &Client,
    incident: &str,
    action: &str,
    out: Output,
) -> anyhow::Result<()> {
    let v: Value = client.post_empty(&["incidents", incident, action]).await?;
    out.done(&v, format!("{} {}", number(&v), text(&v["status"])));
    Ok(())
}

/// How to name an incident before the server has said which one it is.
pub(super) fn label(reference: &str) -> String {
    if reference.bytes().all(|b| b.is_ascii_digit()) {
        format!("#{reference}")
    } else {
        reference.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_are_named_as_people_say_them() {
        assert_eq!(incident_ref("#42").unwrap(), "42");
        assert_eq!(incident_ref(" 7 ").unwrap(), "7");
        assert!(incident_ref("#").is_err());
        assert_eq!(label("42"), "#42");
        assert_eq!(label("inc_01H"), "inc_01H");
    }
}
