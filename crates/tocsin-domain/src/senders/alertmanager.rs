//! Prometheus Alertmanager: its `webhook_configs` payload (version 4) and the `POST /api/v2/alerts` body that
//! Prometheus, vmalert and amtool send to Alertmanager itself.
//!
//! Both identify an alert by its label set, so the dedup key is Alertmanager's fingerprint (or our own
//! [`fingerprint`] of the labels when the sender gives none). A webhook body is a group's whole current state, re-sent
//! every `repeat_interval`, so every alert in it becomes an event, resolved ones included.

use super::{
    Batch, bounded_group_key, check_key_len, fingerprint, optional_str, severity_from_word,
    string_map,
};
use crate::alert::{AlertDetails, AlertEvent, EventAction, Link};
use crate::error::ValidationErrors;
use crate::incident::truncate_chars;
use crate::pagerduty::MAX_SUMMARY_CHARS;
use crate::severity::AlertSeverity;
use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Labels, in order of preference, that tell one instance of an alert from another when a summary has to be made up
/// from the labels.
const IDENTIFYING_LABELS: [&str; 10] = [
    "instance",
    "service",
    "job",
    "namespace",
    "pod",
    "container",
    "cluster",
    "host",
    "node",
    "device",
];

/// How many `name=value` pairs a made-up summary shows: enough to tell alerts of one rule apart, few enough to stay
/// readable when an alert carries dozens of Kubernetes labels.
const SUMMARY_LABELS: usize = 4;

/// Labels already said by other fields of the alert, so a made-up summary leaves them out.
const NON_IDENTIFYING_LABELS: [&str; 3] = ["alertname", "severity", "priority"];

/// Parses an Alertmanager webhook (`webhook_configs`) body into one event per alert.
///
/// Any `version` is accepted and unknown fields are ignored, since newer Alertmanagers add fields without changing
/// the meaning of the old ones.
pub fn parse_webhook(body: &Value) -> Result<Batch, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(obj) = body.as_object() else {
        errs.push("", "must be a JSON object");
        return Err(errs);
    };
    let group_key = owned_str(obj, "groupKey", "groupKey", &mut errs).map(bounded_group_key);
    let receiver = owned_str(obj, "receiver", "receiver", &mut errs);
    let external_url = owned_str(obj, "externalURL", "externalURL", &mut errs);
    let items = match obj.get("alerts") {
        None | Some(Value::Null) => {
            errs.push("alerts", "is required");
            return Err(errs);
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            errs.push("alerts", "must be an array");
            return Err(errs);
        }
    };
    let sender = Sender {
        group_key: group_key.as_deref(),
        receiver: receiver.as_deref(),
        external_url: external_url.as_deref(),
        client: Some("Alertmanager"),
    };

    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("alerts[{i}]");
        let Some(alert) = item.as_object() else {
            errs.push(path, "must be an object");
            continue;
        };
        let action = match alert.get("status") {
            None | Some(Value::Null) => {
                errs.push(format!("{path}.status"), "is required");
                None
            }
            Some(Value::String(s)) if s == "firing" => Some(EventAction::Trigger),
            Some(Value::String(s)) if s == "resolved" => Some(EventAction::Resolve),
            Some(_) => {
                errs.push(
                    format!("{path}.status"),
                    "must be one of \"firing\", \"resolved\"",
                );
                None
            }
        };
        let given_fingerprint = owned_str(
            alert,
            "fingerprint",
            &format!("{path}.fingerprint"),
            &mut errs,
        );
        check_key_len(
            given_fingerprint.as_deref(),
            &format!("{path}.fingerprint"),
            &mut errs,
        );
        let fields = AlertFields::parse(alert, &path, &mut errs);
        if let (Some(action), Some(fields)) = (action, fields) {
            // Alertmanagers before 0.20 leave the fingerprint out; the label set is what it would be computed from.
            let dedup_key = given_fingerprint.unwrap_or_else(|| fingerprint(&fields.labels));
            events.push(fields.into_event(action, dedup_key, &sender));
        }
    }
    errs.into_result(Batch {
        events,
        group_key,
        group_state: None,
    })
}

/// How long an alert posted to the Alertmanager API without an `endsAt` stays open unless posted again:
/// Alertmanager's default `resolve_timeout`.
pub const RESOLVE_TIMEOUT: chrono::Duration = chrono::Duration::minutes(5);

/// Parses the body of Alertmanager's own `POST /api/v2/alerts`: a JSON array of alerts, each identified only by its
/// labels. An alert whose `endsAt` is at or before `now` has been resolved by its sender; any other ends at its
/// `endsAt`, or [`RESOLVE_TIMEOUT`] from now without one, unless posted again, as Alertmanager does.
pub fn parse_api_alerts(body: &Value, now: DateTime<Utc>) -> Result<Batch, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(items) = body.as_array() else {
        errs.push("", "must be a JSON array of alerts");
        return Err(errs);
    };
    let sender = Sender {
        group_key: None,
        receiver: None,
        external_url: None,
        // Prometheus, vmalert or amtool: the body does not say which, so naming a client would be a guess.
        client: None,
    };

    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("[{i}]");
        let Some(alert) = item.as_object() else {
            errs.push(path, "must be an object");
            continue;
        };
        let Some(fields) = AlertFields::parse(alert, &path, &mut errs) else {
            continue;
        };
        if fields.labels.is_empty() {
            // Without labels there is nothing to identify the alert by, and Alertmanager rejects it too.
            errs.push(format!("{path}.labels"), "must not be empty");
            continue;
        }
        let (action, ends_at) = match fields.ends_at {
            Some(end) if end <= now => (EventAction::Resolve, None),
            Some(end) => (EventAction::Trigger, Some(end)),
            None => (EventAction::Trigger, Some(now + RESOLVE_TIMEOUT)),
        };
        let dedup_key = fingerprint(&fields.labels);
        let mut event = fields.into_event(action, dedup_key, &sender);
        if let Some(d) = event.details.as_mut() {
            d.ends_at = ends_at;
        }
        events.push(event);
    }
    errs.into_result(Batch::new(events))
}

/// What the request says about where its alerts come from, shared by all of them.
struct Sender<'a> {
    group_key: Option<&'a str>,
    receiver: Option<&'a str>,
    external_url: Option<&'a str>,
    client: Option<&'static str>,
}

/// The per-alert fields both formats share.
struct AlertFields {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    /// The times as sent, kept for the alert's details so nothing is lost to parsing.
    starts_at_raw: Option<String>,
    ends_at_raw: Option<String>,
    generator_url: Option<String>,
}

impl AlertFields {
    /// Reads the shared fields, recording every problem; `None` when any of them is unusable.
    fn parse(alert: &Map<String, Value>, path: &str, errs: &mut ValidationErrors) -> Option<Self> {
        let before = errs.0.len();
        let labels = string_map(alert, "labels", &format!("{path}.labels"), true, errs);
        let annotations = string_map(
            alert,
            "annotations",
            &format!("{path}.annotations"),
            false,
            errs,
        );
        let starts_at_raw = owned_str(alert, "startsAt", &format!("{path}.startsAt"), errs);
        let ends_at_raw = owned_str(alert, "endsAt", &format!("{path}.endsAt"), errs);
        let starts_at = time(starts_at_raw.as_deref(), &format!("{path}.startsAt"), errs);
        let ends_at = time(ends_at_raw.as_deref(), &format!("{path}.endsAt"), errs);
        let generator_url = owned_str(alert, "generatorURL", &format!("{path}.generatorURL"), errs);
        if errs.0.len() > before {
            return None;
        }
        Some(Self {
            labels: labels?,
            annotations: annotations?,
            starts_at,
            ends_at,
            starts_at_raw,
            ends_at_raw,
            generator_url,
        })
    }

    fn into_event(self, action: EventAction, dedup_key: String, sender: &Sender) -> AlertEvent {
        let status = match action {
            EventAction::Resolve => "resolved",
            _ => "firing",
        };
        let custom_details = json!({
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": self.starts_at_raw,
            "endsAt": self.ends_at_raw,
            "generatorURL": self.generator_url,
            "status": status,
            "receiver": sender.receiver,
            "externalURL": sender.external_url,
        });
        let mut links = Vec::new();
        if let Some(href) = self.generator_url.filter(|u| !u.is_empty()) {
            links.push(Link {
                href,
                text: Some("Source".into()),
            });
        }
        if let Some(href) = sender.external_url.filter(|u| !u.is_empty()) {
            links.push(Link {
                href: href.to_owned(),
                text: Some("Alertmanager".into()),
            });
        }
        let label = |k: &str| {
            self.labels
                .get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let source = label("instance")
            .or_else(|| label("job"))
            .unwrap_or("alertmanager");
        // An unknown `severity` word still lets `priority` decide; failing both, Alertmanager's own PagerDuty
        // integration sends `error`, so alerts land the same whichever way they reach us.
        let severity = label("severity")
            .and_then(severity_from_word)
            .or_else(|| label("priority").and_then(severity_from_word))
            .unwrap_or(AlertSeverity::Error);
        let mut details =
            AlertDetails::new(summary(&self.labels, &self.annotations), source, severity);
        details.timestamp = self.starts_at;
        details.component = label("service").or_else(|| label("job")).map(Into::into);
        details.group = sender.group_key.map(Into::into);
        details.class = label("alertname").map(Into::into);
        details.custom_details = custom_details;
        details.links = links;
        details.client = sender.client.map(Into::into);
        details.client_url = sender
            .external_url
            .filter(|u| !u.is_empty())
            .map(Into::into);
        details.labels = self.labels;
        AlertEvent {
            patch: None,
            action,
            dedup_key,
            details: Some(details),
        }
    }
}

/// The alert's own summary annotation, else its description, else one made from its name and identifying labels.
fn summary(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> String {
    let from_annotations = ["summary", "description"].into_iter().find_map(|k| {
        annotations
            .get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    });
    let text = match from_annotations {
        Some(text) => text.to_owned(),
        None => summary_from_labels(labels),
    };
    truncate_chars(&text, MAX_SUMMARY_CHARS)
}

fn summary_from_labels(labels: &BTreeMap<String, String>) -> String {
    let name = labels
        .get("alertname")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .unwrap_or("Alert");
    let preferred = IDENTIFYING_LABELS
        .into_iter()
        .filter_map(|k| labels.get_key_value(k));
    let others = labels.iter().filter(|(k, _)| {
        !IDENTIFYING_LABELS.contains(&k.as_str()) && !NON_IDENTIFYING_LABELS.contains(&k.as_str())
    });
    let pairs: Vec<String> = preferred
        .chain(others)
        .filter(|(_, v)| !v.is_empty())
        .take(SUMMARY_LABELS)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if pairs.is_empty() {
        name.to_owned()
    } else {
        format!("{name} ({})", pairs.join(", "))
    }
}

/// [`optional_str`], owned: the parser keeps these fields past the body's lifetime.
fn owned_str(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    errs: &mut ValidationErrors,
) -> Option<String> {
    optional_str(obj, key, path, errs).map(str::to_owned)
}

/// An RFC 3339 time. Alertmanager writes Go's zero time (`0001-01-01T00:00:00Z`) for "not set", which is no time.
fn time(raw: Option<&str>, path: &str, errs: &mut ValidationErrors) -> Option<DateTime<Utc>> {
    let raw = raw?;
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) if t.year() <= 1 => None,
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errs.push(
                path,
                "must be an RFC 3339 date and time such as 2026-11-23T10:15:00Z",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const FIXTURE: &str =
        include_str!("../../../../tests/fixtures/alertmanager-0.25-webhook-v4-firing.json");

    fn fixture() -> Value {
        serde_json::from_str(FIXTURE).unwrap()
    }

    fn fields(errs: &ValidationErrors) -> Vec<&str> {
        errs.0.iter().map(|e| e.field.as_str()).collect()
    }

    fn details(e: &AlertEvent) -> &AlertDetails {
        e.details.as_ref().unwrap()
    }

    #[test]
    fn the_captured_webhook_parses_into_two_triggers() {
        let batch = parse_webhook(&fixture()).unwrap();
        assert_eq!(
            batch.group_key.as_deref(),
            Some(r#"{}:{alertname="RedisConnectionErrors"}"#)
        );
        let keys: Vec<_> = batch.events.iter().map(|e| e.dedup_key.as_str()).collect();
        assert_eq!(keys, ["f68647e830815b57", "6e4aa44b32a827f2"]);
        for e in &batch.events {
            let d = details(e);
            assert_eq!(e.action, EventAction::Trigger);
            assert_eq!(d.severity, AlertSeverity::Critical);
            assert_eq!(d.summary, "Redis connection pool exhausted");
            assert_eq!(d.group, batch.group_key);
            assert_eq!(d.class.as_deref(), Some("RedisConnectionErrors"));
            assert_eq!(d.component.as_deref(), Some("checkout"));
            assert_eq!(d.client.as_deref(), Some("Alertmanager"));
            assert_eq!(
                d.client_url.as_deref(),
                Some("http://alertmanager.example.com")
            );
            assert_eq!(
                d.timestamp,
                Some(Utc.with_ymd_and_hms(2026, 11, 23, 23, 31, 47).unwrap())
            );
            assert_eq!(d.labels["severity"], "critical");
            assert_eq!(d.custom_details["receiver"], "all");
            assert_eq!(d.custom_details["endsAt"], "0001-01-01T00:00:00Z");
        }
        let first = details(&batch.events[0]);
        assert_eq!(first.source, "app-1");
        assert_eq!(
            first.custom_details["annotations"]["runbook_url"],
            "https://runbooks.example.com/redis"
        );
        assert_eq!(
            first.links,
            [
                Link {
                    href: "http://prometheus.example.com/graph?g0.expr=redis_errors".into(),
                    text: Some("Source".into()),
                },
                Link {
                    href: "http://alertmanager.example.com".into(),
                    text: Some("Alertmanager".into()),
                },
            ]
        );
        // An empty generatorURL is no link.
        let second = details(&batch.events[1]);
        assert_eq!(second.source, "app-2");
        assert_eq!(second.links.len(), 1);
        assert_eq!(second.links[0].text.as_deref(), Some("Alertmanager"));
    }

    #[test]
    fn a_resolved_alert_resolves_and_keeps_its_details() {
        let mut body = fixture();
        body["alerts"][1]["status"] = json!("resolved");
        body["alerts"][1]["endsAt"] = json!("2026-11-23T23:41:47Z");
        let batch = parse_webhook(&body).unwrap();
        assert_eq!(batch.events[0].action, EventAction::Trigger);
        assert_eq!(batch.events[1].action, EventAction::Resolve);
        assert_eq!(batch.events[1].dedup_key, "6e4aa44b32a827f2");
        assert_eq!(
            details(&batch.events[1]).custom_details["status"],
            "resolved"
        );
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let mut body = fixture();
        let good = body["alerts"][0].clone();
        let mut no_status = good.clone();
        no_status.as_object_mut().unwrap().remove("status");
        let mut bad_status = good.clone();
        bad_status["status"] = json!("pending");
        let mut bad_label = good.clone();
        bad_label["labels"]["severity"] = json!(2);
        let mut no_labels = good.clone();
        no_labels.as_object_mut().unwrap().remove("labels");
        let mut bad_time = good.clone();
        bad_time["startsAt"] = json!("yesterday");
        body["alerts"] = json!([
            no_labels, bad_label, no_status, bad_status, "text", good, bad_time
        ]);
        let errs = parse_webhook(&body).unwrap_err();
        assert_eq!(
            fields(&errs),
            [
                "alerts[0].labels",
                "alerts[1].labels.severity",
                "alerts[2].status",
                "alerts[3].status",
                "alerts[4]",
                "alerts[6].startsAt",
            ]
        );
    }

    #[test]
    fn the_body_itself_must_be_an_object_with_alerts() {
        assert_eq!(fields(&parse_webhook(&json!([])).unwrap_err()), [""]);
        assert_eq!(
            fields(&parse_webhook(&json!({"version": "4"})).unwrap_err()),
            ["alerts"]
        );
        assert_eq!(
            fields(&parse_webhook(&json!({"alerts": {}})).unwrap_err()),
            ["alerts"]
        );
        let empty = parse_webhook(&json!({"alerts": [], "groupKey": "g"})).unwrap();
        assert!(empty.events.is_empty());
        assert_eq!(empty.group_key.as_deref(), Some("g"));
    }

    #[test]
    fn older_and_newer_senders_are_accepted() {
        let body = json!({
            "version": "3",
            "someFutureField": {"x": 1},
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "HighLatency", "service": "checkout", "instance": "app-1",
                           "severity": "page-me", "priority": "P3"},
                "annotations": {"runbook_url": "https://r"},
                "extra": true,
            }],
        });
        let batch = parse_webhook(&body).unwrap();
        let e = &batch.events[0];
        let labels = &details(e).labels;
        assert_eq!(e.dedup_key, fingerprint(labels));
        let d = details(e);
        assert_eq!(d.summary, "HighLatency (instance=app-1, service=checkout)");
        assert_eq!(d.severity, AlertSeverity::Warning);
        assert_eq!(d.timestamp, None);
        assert!(d.links.is_empty());
        assert_eq!((d.client_url.as_deref(), d.group.as_deref()), (None, None));
        assert_eq!(batch.group_key, None);
    }

    #[test]
    fn summaries_fall_back_and_stay_bounded() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let none = BTreeMap::new();
        assert_eq!(
            summary(
                &labels(&[("alertname", "X")]),
                &labels(&[("description", "from description")])
            ),
            "from description"
        );
        assert_eq!(summary(&labels(&[("alertname", "X")]), &none), "X");
        assert_eq!(summary(&none, &none), "Alert");
        assert_eq!(
            summary(
                &labels(&[
                    ("alertname", "DiskFull"),
                    ("zone", "b"),
                    ("team", "db"),
                    ("env", "prod"),
                    ("device", "sda"),
                    ("job", "node"),
                    ("severity", "warning"),
                ]),
                &none
            ),
            "DiskFull (job=node, device=sda, env=prod, team=db)"
        );
        let long = "x".repeat(MAX_SUMMARY_CHARS + 10);
        let s = summary(&labels(&[("alertname", &long)]), &none);
        assert_eq!(s.chars().count(), MAX_SUMMARY_CHARS);
        let s = summary(&none, &labels(&[("summary", &long)]));
        assert_eq!(s.chars().count(), MAX_SUMMARY_CHARS);
    }

    #[test]
    fn severity_and_source_defaults() {
        let body = json!({"alerts": [
            {"status": "firing", "labels": {"alertname": "A", "job": "node"}},
            {"status": "firing", "labels": {"alertname": "B", "priority": "P1"}},
        ]});
        let batch = parse_webhook(&body).unwrap();
        let (a, b) = (details(&batch.events[0]), details(&batch.events[1]));
        assert_eq!(
            (a.severity, a.source.as_str()),
            (AlertSeverity::Error, "node")
        );
        assert_eq!(a.component.as_deref(), Some("node"));
        assert_eq!(
            (b.severity, b.source.as_str()),
            (AlertSeverity::Critical, "alertmanager")
        );
        assert_eq!(b.component, None);
    }

    #[test]
    fn the_digest_ignores_order_and_sees_a_status_change() {
        let body = fixture();
        let mut reordered = body.clone();
        reordered["alerts"].as_array_mut().unwrap().reverse();
        let mut changed = body.clone();
        changed["alerts"][0]["status"] = json!("resolved");
        let digest = |v: &Value| parse_webhook(v).unwrap().digest();
        assert_eq!(digest(&body), digest(&reordered));
        assert_ne!(digest(&body), digest(&changed));
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
    }

    #[test]
    fn api_alerts_resolve_only_when_they_have_ended() {
        let body = json!([
            {"labels": {"alertname": "A"}, "endsAt": "2026-11-23T23:00:00Z",
             "startsAt": "2026-11-23T22:00:00Z", "generatorURL": "http://prom/graph"},
            {"labels": {"alertname": "B"}, "endsAt": "2026-11-24T00:04:00+00:00"},
            {"labels": {"alertname": "C"}},
            {"labels": {"alertname": "D"}, "endsAt": "0001-01-01T00:00:00Z"},
            {"labels": {"alertname": "E"}, "endsAt": "2026-11-24T00:00:00Z"},
        ]);
        let batch = parse_api_alerts(&body, now()).unwrap();
        let actions: Vec<_> = batch.events.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                EventAction::Resolve,
                EventAction::Trigger,
                EventAction::Trigger,
                EventAction::Trigger,
                EventAction::Resolve,
            ]
        );
        assert_eq!(batch.group_key, None);
        let ends: Vec<_> = batch
            .events
            .iter()
            .map(|e| e.details.as_ref().unwrap().ends_at)
            .collect();
        assert_eq!(
            ends,
            [
                None,
                Some(Utc.with_ymd_and_hms(2026, 11, 24, 0, 4, 0).unwrap()),
                Some(now() + RESOLVE_TIMEOUT),
                Some(now() + RESOLVE_TIMEOUT),
                None,
            ],
            "an alert without an end (or Go's zero time) ends after the resolve timeout unless posted again"
        );
        let a = details(&batch.events[0]);
        assert_eq!(a.summary, "A");
        assert_eq!(a.severity, AlertSeverity::Error);
        assert_eq!(a.links.len(), 1);
        assert_eq!(a.links[0].href, "http://prom/graph");
        assert_eq!(a.group, None);
        assert_eq!(a.custom_details["status"], "resolved");
        assert_eq!(
            a.timestamp,
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap())
        );
    }

    #[test]
    fn api_alerts_are_keyed_by_their_labels_whatever_the_order() {
        let a: Value = serde_json::from_str(
            r#"[{"labels": {"alertname": "A", "instance": "i1", "severity": "warning"}}]"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"[{"labels": {"severity": "warning", "instance": "i1", "alertname": "A"}}]"#,
        )
        .unwrap();
        let c = json!([{"labels": {"alertname": "A", "instance": "i2", "severity": "warning"}}]);
        let key = |v: &Value| {
            parse_api_alerts(v, now()).unwrap().events[0]
                .dedup_key
                .clone()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        assert_eq!(key(&a).len(), 16);
    }

    #[test]
    fn api_alerts_name_every_bad_field() {
        let body = json!([
            {"labels": {"alertname": "ok"}},
            {"labels": {}},
            {"annotations": {"summary": "s"}},
            {"labels": {"alertname": "A", "severity": 3}},
            7,
            {"labels": {"alertname": "B"}, "endsAt": "soon", "annotations": {"summary": null}},
        ]);
        let errs = parse_api_alerts(&body, now()).unwrap_err();
        assert_eq!(
            fields(&errs),
            [
                "[1].labels",
                "[2].labels",
                "[3].labels.severity",
                "[4]",
                "[5].annotations.summary",
                "[5].endsAt",
            ]
        );
        assert_eq!(
            fields(&parse_api_alerts(&json!({"labels": {}}), now()).unwrap_err()),
            [""]
        );
        assert!(
            parse_api_alerts(&json!([]), now())
                .unwrap()
                .events
                .is_empty()
        );
    }
}
