//! Grafana unified alerting's webhook contact point.
//!
//! The body is Alertmanager's webhook (version 4) with Grafana's additions: a top-level `title`, `state`, `message`
//! and `orgId`, and per alert the URLs of its dashboard, panel and silence form, the query `values` that fired it
//! and, when image rendering is on, a panel snapshot. Like Alertmanager, Grafana re-sends a group's whole state each
//! time, so every alert becomes an event keyed by its fingerprint, and re-sends of a firing alert update it in place.

use super::{
    Batch, bounded_group_key, check_key_len, fingerprint, optional_str, severity_from_word,
    string_map,
};
use crate::alert::{AlertDetails, AlertEvent, EventAction, Image, Link};
use crate::error::ValidationErrors;
use crate::incident::truncate_chars;
use crate::pagerduty::MAX_SUMMARY_CHARS;
use crate::severity::AlertSeverity;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Grafana's own PagerDuty contact point pages at `critical` unless told otherwise; an alert moved from there to
/// Tocsin should page the same way.
const DEFAULT_SEVERITY: AlertSeverity = AlertSeverity::Critical;

/// What the whole notification says, shared by its alerts.
struct Notification<'a> {
    group_key: Option<&'a str>,
    external_url: Option<&'a str>,
    title: Option<&'a str>,
    all_resolved: bool,
    org_id: Option<&'a Value>,
    message: Option<&'a Value>,
}

fn parse_alert(
    alert: &Value,
    path: &str,
    n: &Notification<'_>,
    errs: &mut ValidationErrors,
) -> Option<AlertEvent> {
    let Some(a) = alert.as_object() else {
        errs.push(path, "must be an object");
        return None;
    };
    let status = match a.get("status") {
        Some(Value::String(s)) if s == "firing" => Some(EventAction::Trigger),
        Some(Value::String(s)) if s == "resolved" => Some(EventAction::Resolve),
        _ => {
            errs.push(
                format!("{path}.status"),
                "must be \"firing\" or \"resolved\"",
            );
            None
        }
    };
    let labels = string_map(a, "labels", &format!("{path}.labels"), true, errs);
    let annotations = string_map(
        a,
        "annotations",
        &format!("{path}.annotations"),
        false,
        errs,
    );
    let own_fingerprint = optional_str(a, "fingerprint", &format!("{path}.fingerprint"), errs);
    check_key_len(own_fingerprint, &format!("{path}.fingerprint"), errs);
    let url = |key: &str, errs: &mut ValidationErrors| {
        optional_str(a, key, &format!("{path}.{key}"), errs).map(str::to_owned)
    };
    let dashboard = url("dashboardURL", errs);
    let panel = url("panelURL", errs);
    let silence = url("silenceURL", errs);
    let generator = url("generatorURL", errs);
    let image = url("imageURL", errs);
    // A start time Grafana formats in some way we do not read costs the alert only its start time, not delivery.
    let starts_at = optional_str(a, "startsAt", &format!("{path}.startsAt"), errs)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));

    let (status, labels, annotations) = (status?, labels?, annotations?);
    // Grafana says `ok` only when nothing in the group fires; trusting it also covers senders that leave a
    // per-alert status stale.
    let action = if n.all_resolved {
        EventAction::Resolve
    } else {
        status
    };
    let dedup_key = own_fingerprint
        .map(str::to_owned)
        .unwrap_or_else(|| fingerprint(&labels));

    let summary = annotations
        .get("summary")
        .filter(|s| !s.trim().is_empty())
        .or_else(|| labels.get("alertname").filter(|s| !s.trim().is_empty()))
        .map(String::as_str)
        .or(n.title.filter(|s| !s.trim().is_empty()))
        .unwrap_or("Grafana alert");
    // Annotations are templates with no length limit; summaries stay within what every other sender may send.
    let summary = truncate_chars(summary.trim(), MAX_SUMMARY_CHARS);
    let source = labels
        .get("instance")
        .filter(|s| !s.trim().is_empty())
        .map(String::as_str)
        .unwrap_or("grafana");
    let severity = labels
        .get("severity")
        .and_then(|w| severity_from_word(w))
        .unwrap_or(DEFAULT_SEVERITY);

    let mut custom = Map::new();
    custom.insert("labels".into(), serde_json::to_value(&labels).expect("map"));
    custom.insert(
        "annotations".into(),
        serde_json::to_value(&annotations).expect("map"),
    );
    for key in ["values", "valueString", "ruleUID"] {
        if let Some(v) = a.get(key).filter(|v| !v.is_null()) {
            custom.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = n.org_id {
        custom.insert("orgId".into(), v.clone());
    }
    if let Some(v) = n.message {
        custom.insert("message".into(), v.clone());
    }

    let links = [
        (dashboard, "Dashboard"),
        (panel, "Panel"),
        (silence, "Silence"),
        (generator, "Source"),
    ]
    .into_iter()
    .filter_map(|(href, text)| {
        href.map(|href| Link {
            href,
            text: Some(text.into()),
        })
    })
    .collect();
    let images = image
        .map(|src| Image {
            src,
            href: None,
            alt: None,
        })
        .into_iter()
        .collect();

    let mut details = AlertDetails::new(summary, source, severity);
    details.timestamp = starts_at;
    details.class = labels.get("alertname").cloned();
    details.group = n.group_key.map(str::to_owned);
    details.custom_details = Value::Object(custom);
    details.links = links;
    details.images = images;
    details.client = Some("Grafana".into());
    details.client_url = n.external_url.map(str::to_owned);
    details.labels = labels;

    Some(AlertEvent {
        patch: None,
        action,
        dedup_key,
        // Resolves carry details too: the last word on an alert should say what it was.
        details: Some(details),
    })
}

/// Parses a Grafana webhook notification into one event per alert.
pub fn parse(body: &Value) -> Result<Batch, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(obj) = body.as_object() else {
        errs.push("", "must be a JSON object");
        return Err(errs);
    };
    let group_key = optional_str(obj, "groupKey", "groupKey", &mut errs);
    let external_url = optional_str(obj, "externalURL", "externalURL", &mut errs);
    let title = optional_str(obj, "title", "title", &mut errs);
    let state = optional_str(obj, "state", "state", &mut errs);
    let n = Notification {
        group_key,
        external_url,
        title,
        all_resolved: state == Some("ok"),
        org_id: obj.get("orgId").filter(|v| !v.is_null()),
        message: obj.get("message").filter(|v| !v.is_null()),
    };

    let alerts = match obj.get("alerts") {
        Some(Value::Array(items)) => items.as_slice(),
        None | Some(Value::Null) => {
            errs.push("alerts", "is required (an array of alerts)");
            &[]
        }
        Some(_) => {
            errs.push("alerts", "must be an array");
            &[]
        }
    };
    let events: Vec<AlertEvent> = alerts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| parse_alert(a, &format!("alerts[{i}]"), &n, &mut errs))
        .collect();

    errs.into_result(Batch {
        events,
        group_key: group_key.map(|g| bounded_group_key(g.to_owned())),
        group_state: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// The shape of Grafana's documented webhook example: two firing alerts in one group, the second with a panel
    /// snapshot and a severity label.
    fn example() -> Value {
        json!({
            "receiver": "tocsin",
            "status": "firing",
            "orgId": 1,
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
                    "annotations": {
                        "description": "Memory use above 90% for 5 minutes",
                        "runbook_url": "https://runbooks.example.com/memory",
                        "summary": "Memory pressure in zone us-1"
                    },
                    "startsAt": "2026-03-01T09:51:03.157076+02:00",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "https://grafana.example.com/alerting/1afz29v7z/edit",
                    "fingerprint": "c6eadffa33fcdf37",
                    "silenceURL": "https://grafana.example.com/alerting/silence/new?matchers=alertname%3DHigh",
                    "dashboardURL": "",
                    "panelURL": "",
                    "values": {"B": 92.5, "C": 1}
                },
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "High CPU usage", "team": "blue", "zone": "eu-1",
                        "severity": "warning", "instance": "web-7:9100"
                    },
                    "annotations": {"description": "CPU above 80%"},
                    "startsAt": "2026-03-01T09:56:03Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "https://grafana.example.com/alerting/d1rdpdv7k/edit",
                    "fingerprint": "bc97ff14869b13e3",
                    "silenceURL": "https://grafana.example.com/alerting/silence/new?matchers=alertname%3DCPU",
                    "dashboardURL": "https://grafana.example.com/d/abc",
                    "panelURL": "https://grafana.example.com/d/abc?viewPanel=4",
                    "values": {"B": 85.1, "C": 1},
                    "valueString": "[ var='B' labels={} value=85.1 ]",
                    "imageURL": "https://grafana.example.com/render/abc.png",
                    "ruleUID": "d1rdpdv7k"
                }
            ],
            "groupLabels": {},
            "commonLabels": {"team": "blue"},
            "commonAnnotations": {},
            "externalURL": "https://grafana.example.com/",
            "version": "1",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "title": "[FIRING:2]  (blue)",
            "state": "alerting",
            "message": "**Firing**\n\nLabels:\n - alertname = High memory usage\n"
        })
    }

    fn field_errors(body: &Value) -> Vec<String> {
        parse(body)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn documented_example_parses_into_one_event_per_alert() {
        let batch = parse(&example()).unwrap();
        assert_eq!(batch.group_key.as_deref(), Some("{}:{}"));
        assert_eq!(batch.events.len(), 2);

        let first = &batch.events[0];
        assert_eq!(first.action, EventAction::Trigger);
        assert_eq!(first.dedup_key, "c6eadffa33fcdf37");
        let d = first.details.as_ref().unwrap();
        assert_eq!(d.summary, "Memory pressure in zone us-1");
        assert_eq!(d.source, "grafana");
        assert_eq!(d.severity, AlertSeverity::Critical);
        assert_eq!(d.class.as_deref(), Some("High memory usage"));
        assert_eq!(d.group.as_deref(), Some("{}:{}"));
        assert_eq!(d.client.as_deref(), Some("Grafana"));
        assert_eq!(
            d.client_url.as_deref(),
            Some("https://grafana.example.com/")
        );
        assert_eq!(d.labels["zone"], "us-1");
        assert_eq!(
            d.timestamp,
            Some("2026-03-01T07:51:03.157076Z".parse().unwrap())
        );
        // Empty URLs are Grafana's way of saying there is none.
        let texts: Vec<_> = d.links.iter().map(|l| l.text.as_deref().unwrap()).collect();
        assert_eq!(texts, ["Silence", "Source"]);
        assert!(d.images.is_empty());
        assert_eq!(d.custom_details["values"]["B"], json!(92.5));
        assert_eq!(d.custom_details["orgId"], json!(1));
        assert_eq!(
            d.custom_details["annotations"]["runbook_url"],
            "https://runbooks.example.com/memory"
        );
        assert!(
            d.custom_details["message"]
                .as_str()
                .unwrap()
                .starts_with("**Firing**")
        );

        let d = batch.events[1].details.as_ref().unwrap();
        assert_eq!(d.summary, "High CPU usage", "no summary annotation");
        assert_eq!(d.source, "web-7:9100");
        assert_eq!(d.severity, AlertSeverity::Warning);
        let texts: Vec<_> = d.links.iter().map(|l| l.text.as_deref().unwrap()).collect();
        assert_eq!(texts, ["Dashboard", "Panel", "Silence", "Source"]);
        assert_eq!(
            d.links[1].href,
            "https://grafana.example.com/d/abc?viewPanel=4"
        );
        assert_eq!(
            d.images[0].src,
            "https://grafana.example.com/render/abc.png"
        );
        assert_eq!(d.custom_details["ruleUID"], "d1rdpdv7k");
        assert_eq!(
            d.custom_details["valueString"],
            "[ var='B' labels={} value=85.1 ]"
        );
    }

    #[test]
    fn resolved_alerts_resolve_and_state_ok_resolves_all() {
        let mut body = example();
        body["alerts"][1]["status"] = json!("resolved");
        let batch = parse(&body).unwrap();
        let actions: Vec<_> = batch.events.iter().map(|e| e.action).collect();
        assert_eq!(actions, [EventAction::Trigger, EventAction::Resolve]);
        assert!(batch.events[1].details.is_some());

        body["state"] = json!("ok");
        let batch = parse(&body).unwrap();
        assert!(
            batch
                .events
                .iter()
                .all(|e| e.action == EventAction::Resolve)
        );

        body["state"] = json!("pending");
        assert_eq!(parse(&body).unwrap().events[0].action, EventAction::Trigger);
    }

    #[test]
    fn alerts_without_a_fingerprint_are_keyed_by_their_labels() {
        let mut body = example();
        body["alerts"][0]
            .as_object_mut()
            .unwrap()
            .remove("fingerprint");
        let key = parse(&body).unwrap().events[0].dedup_key.clone();
        let labels: BTreeMap<String, String> =
            serde_json::from_value(body["alerts"][0]["labels"].clone()).unwrap();
        assert_eq!(key, fingerprint(&labels));
        assert_eq!(parse(&body).unwrap().events[0].dedup_key, key, "stable");
    }

    #[test]
    fn summary_falls_back_to_the_title_and_unknown_severity_pages() {
        let body = json!({
            "title": "[FIRING:1] disk",
            "alerts": [{"status": "firing", "labels": {"severity": "bogus"}}]
        });
        let batch = parse(&body).unwrap();
        let d = batch.events[0].details.as_ref().unwrap();
        assert_eq!(d.summary, "[FIRING:1] disk");
        assert_eq!(d.severity, AlertSeverity::Critical);
        assert_eq!(batch.group_key, None);
        assert_eq!(d.class, None);

        let long = json!({"alerts": [{
            "status": "firing", "labels": {}, "annotations": {"summary": "x".repeat(5000)}
        }]});
        let d = parse(&long).unwrap().events.remove(0).details.unwrap();
        assert_eq!(d.summary.chars().count(), MAX_SUMMARY_CHARS);
    }

    #[test]
    fn every_malformed_field_is_named() {
        assert_eq!(field_errors(&json!([1])), [""]);
        assert_eq!(field_errors(&json!({})), ["alerts"]);
        assert_eq!(field_errors(&json!({"alerts": {}})), ["alerts"]);
        let body = json!({
            "alerts": [
                {"status": "firing", "labels": {"alertname": "ok"}},
                {"status": "firing"},
                "text",
                {"status": "exploded", "labels": {"a": "b"}},
                {"status": "firing", "labels": {"a": 1}, "annotations": []},
                {"status": "resolved", "labels": [], "fingerprint": 7}
            ]
        });
        assert_eq!(
            field_errors(&body),
            [
                "alerts[1].labels",
                "alerts[2]",
                "alerts[3].status",
                "alerts[4].labels.a",
                "alerts[4].annotations",
                "alerts[5].labels",
                "alerts[5].fingerprint",
            ]
        );
    }
}
