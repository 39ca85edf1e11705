//! PagerDuty Events API v2: parsing and validating `/v2/enqueue` and `/v2/change/enqueue` bodies.
//!
//! Errors are worded the way PagerDuty words them (`'payload.summary' is missing or blank`) and all of them are
//! reported at once, so a sender sees every problem with an event in one response.

use crate::alert::{AlertDetails, AlertEvent, EventAction, Image, Link};
use crate::auth::new_dedup_key;
use crate::severity::AlertSeverity;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub const MAX_SUMMARY_CHARS: usize = 1024;
pub const MAX_DEDUP_KEY_CHARS: usize = 255;

/// A validated event with the routing key it names.
#[derive(Debug, Clone, PartialEq)]
pub struct EnqueueEvent {
    pub routing_key: String,
    pub event: AlertEvent,
    /// True when Tocsin made up the dedup key, which the answer must then return.
    pub generated_dedup_key: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub routing_key: String,
    pub summary: String,
    pub source: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    pub custom_details: Value,
    pub links: Vec<Link>,
}

struct Errors(Vec<String>);

impl Errors {
    fn missing(&mut self, field: &str) {
        self.0.push(format!("'{field}' is missing or blank"));
    }
    fn invalid(&mut self, field: &str, why: &str) {
        self.0.push(format!("'{field}' is invalid ({why})"));
    }
}

/// A required non-blank string field.
fn required_str(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    errs: &mut Errors,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => {
            errs.missing(path);
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errs.missing(path);
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errs.invalid(path, "must be a string");
            None
        }
    }
}

fn optional_str(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    errs: &mut Errors,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errs.invalid(path, "must be a string");
            None
        }
    }
}

fn timestamp(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    errs: &mut Errors,
) -> Option<DateTime<Utc>> {
    let s = optional_str(obj, key, path, errs)?;
    match DateTime::parse_from_rfc3339(&s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errs.invalid(
                path,
                "must be an ISO 8601 date and time such as 2026-11-23T10:15:00Z",
            );
            None
        }
    }
}

fn routing_key(
    body: &Map<String, Value>,
    header: Option<&str>,
    errs: &mut Errors,
) -> Option<String> {
    match (
        optional_str(body, "routing_key", "routing_key", errs),
        header.map(str::trim).filter(|h| !h.is_empty()),
    ) {
        (Some(k), _) => Some(k),
        (None, Some(h)) => Some(h.to_owned()),
        (None, None) => {
            if !matches!(body.get("routing_key"), Some(v) if !v.is_string() && !v.is_null()) {
                errs.missing("routing_key");
            }
            None
        }
    }
}

fn links(body: &Map<String, Value>, errs: &mut Errors) -> Vec<Link> {
    let Some(v) = body.get("links").filter(|v| !v.is_null()) else {
        return vec![];
    };
    let Some(items) = v.as_array() else {
        errs.invalid("links", "must be an array");
        return vec![];
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            errs.invalid(&format!("links[{i}]"), "must be an object");
            continue;
        };
        let href = required_str(obj, "href", &format!("links[{i}].href"), errs);
        let text = optional_str(obj, "text", &format!("links[{i}].text"), errs);
        if let Some(href) = href {
            out.push(Link { href, text });
        }
    }
    out
}

fn images(body: &Map<String, Value>, errs: &mut Errors) -> Vec<Image> {
    let Some(v) = body.get("images").filter(|v| !v.is_null()) else {
        return vec![];
    };
    let Some(items) = v.as_array() else {
        errs.invalid("images", "must be an array");
        return vec![];
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            errs.invalid(&format!("images[{i}]"), "must be an object");
            continue;
        };
        let src = required_str(obj, "src", &format!("images[{i}].src"), errs);
        let href = optional_str(obj, "href", &format!("images[{i}].href"), errs);
        let alt = optional_str(obj, "alt", &format!("images[{i}].alt"), errs);
        if let Some(src) = src {
            out.push(Image { src, href, alt });
        }
    }
    out
}

fn summary(obj: &Map<String, Value>, errs: &mut Errors) -> Option<String> {
    let s = required_str(obj, "summary", "payload.summary", errs)?;
    if s.chars().count() > MAX_SUMMARY_CHARS {
        errs.invalid("payload.summary", "must be at most 1024 characters");
        return None;
    }
    Some(s)
}

fn as_object<'a>(body: &'a Value, errs: &mut Errors) -> Option<&'a Map<String, Value>> {
    let obj = body.as_object();
    if obj.is_none() {
        errs.0.push("Event must be a JSON object".into());
    }
    obj
}

/// Parses an Events API v2 event. `header_routing_key` is the `X-Routing-Key` header, used when the body has none.
pub fn parse_enqueue(
    body: &Value,
    header_routing_key: Option<&str>,
) -> Result<EnqueueEvent, Vec<String>> {
    let mut errs = Errors(Vec::new());
    let Some(obj) = as_object(body, &mut errs) else {
        return Err(errs.0);
    };
    let routing_key = routing_key(obj, header_routing_key, &mut errs);

    let action = match obj.get("event_action") {
        None | Some(Value::Null) => {
            errs.missing("event_action");
            None
        }
        Some(Value::String(s)) => match s.as_str() {
            "trigger" => Some(EventAction::Trigger),
            "acknowledge" => Some(EventAction::Acknowledge),
            "resolve" => Some(EventAction::Resolve),
            "" => {
                errs.missing("event_action");
                None
            }
            _ => {
                errs.invalid(
                    "event_action",
                    "must be one of 'trigger', 'acknowledge' or 'resolve'",
                );
                None
            }
        },
        Some(_) => {
            errs.invalid(
                "event_action",
                "must be one of 'trigger', 'acknowledge' or 'resolve'",
            );
            None
        }
    };

    let dedup_key = optional_str(obj, "dedup_key", "dedup_key", &mut errs);
    if let Some(k) = &dedup_key
        && k.chars().count() > MAX_DEDUP_KEY_CHARS
    {
        errs.invalid("dedup_key", "must be at most 255 characters");
    }
    if matches!(
        action,
        Some(EventAction::Acknowledge | EventAction::Resolve)
    ) && dedup_key.is_none()
        && obj
            .get("dedup_key")
            .is_none_or(|v| !v.is_string() || v.as_str() == Some(""))
    {
        errs.missing("dedup_key");
    }

    let client = optional_str(obj, "client", "client", &mut errs);
    let client_url = optional_str(obj, "client_url", "client_url", &mut errs);
    let links = links(obj, &mut errs);
    let images = images(obj, &mut errs);

    let details = if action == Some(EventAction::Trigger) {
        match obj.get("payload") {
            None | Some(Value::Null) => {
                errs.missing("payload");
                None
            }
            Some(Value::Object(p)) => {
                let summary = summary(p, &mut errs);
                let source = required_str(p, "source", "payload.source", &mut errs);
                let severity = match p.get("severity") {
                    None | Some(Value::Null) => {
                        errs.missing("payload.severity");
                        None
                    }
                    Some(Value::String(s)) if s.is_empty() => {
                        errs.missing("payload.severity");
                        None
                    }
                    Some(v) => match v.as_str().map(str::parse::<AlertSeverity>) {
                        Some(Ok(s)) => Some(s),
                        _ => {
                            errs.invalid(
                                "payload.severity",
                                "must be one of 'critical', 'error', 'warning' or 'info'",
                            );
                            None
                        }
                    },
                };
                let timestamp = timestamp(p, "timestamp", "payload.timestamp", &mut errs);
                let component = optional_str(p, "component", "payload.component", &mut errs);
                let group = optional_str(p, "group", "payload.group", &mut errs);
                let class = optional_str(p, "class", "payload.class", &mut errs);
                let custom_details = p.get("custom_details").cloned().unwrap_or(Value::Null);
                match (summary, source, severity) {
                    (Some(summary), Some(source), Some(severity)) => Some(AlertDetails {
                        summary,
                        source,
                        severity,
                        timestamp,
                        component,
                        group,
                        class,
                        custom_details,
                        links,
                        images,
                        client,
                        client_url,
                        labels: Default::default(),
                        ends_at: None,
                    }),
                    _ => None,
                }
            }
            Some(_) => {
                errs.invalid("payload", "must be an object");
                None
            }
        }
    } else {
        None
    };

    if !errs.0.is_empty() {
        return Err(errs.0);
    }
    let (Some(routing_key), Some(action)) = (routing_key, action) else {
        unreachable!("errors recorded above")
    };
    let generated = dedup_key.is_none();
    Ok(EnqueueEvent {
        routing_key,
        event: AlertEvent {
            patch: None,
            action,
            dedup_key: dedup_key.unwrap_or_else(new_dedup_key),
            details,
        },
        generated_dedup_key: generated,
    })
}

/// Parses a change event (`/v2/change/enqueue`).
pub fn parse_change(
    body: &Value,
    header_routing_key: Option<&str>,
) -> Result<ChangeEvent, Vec<String>> {
    let mut errs = Errors(Vec::new());
    let Some(obj) = as_object(body, &mut errs) else {
        return Err(errs.0);
    };
    let routing_key = routing_key(obj, header_routing_key, &mut errs);
    let links = links(obj, &mut errs);
    let fields = match obj.get("payload") {
        None | Some(Value::Null) => {
            errs.missing("payload");
            None
        }
        Some(Value::Object(p)) => {
            let summary = summary(p, &mut errs);
            let source = optional_str(p, "source", "payload.source", &mut errs);
            let timestamp = timestamp(p, "timestamp", "payload.timestamp", &mut errs);
            summary.map(|s| {
                (
                    s,
                    source,
                    timestamp,
                    p.get("custom_details").cloned().unwrap_or(Value::Null),
                )
            })
        }
        Some(_) => {
            errs.invalid("payload", "must be an object");
            None
        }
    };
    if !errs.0.is_empty() {
        return Err(errs.0);
    }
    let (Some(routing_key), Some((summary, source, timestamp, custom_details))) =
        (routing_key, fields)
    else {
        unreachable!("errors recorded above")
    };
    Ok(ChangeEvent {
        routing_key,
        summary,
        source,
        timestamp,
        custom_details,
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "routing_key": "0123456789abcdef0123456789abcdef",
            "event_action": "trigger",
            "payload": {"summary": "CPU high", "source": "web-1", "severity": "critical"}
        })
    }

    fn errors_for(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut v = valid();
        edit(&mut v);
        parse_enqueue(&v, None).unwrap_err()
    }

    #[test]
    fn a_valid_trigger_gets_a_generated_dedup_key() {
        let e = parse_enqueue(&valid(), None).unwrap();
        assert!(e.generated_dedup_key);
        assert_eq!(e.event.dedup_key.len(), 32);
        assert_eq!(e.event.details.unwrap().severity, AlertSeverity::Critical);
    }

    #[test]
    fn each_required_field_is_named_when_missing_or_wrong() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| drop(v.as_object_mut().unwrap().remove("routing_key"))),
                "'routing_key' is missing or blank",
            ),
            (
                Box::new(|v| v["routing_key"] = json!(12)),
                "'routing_key' is invalid",
            ),
            (
                Box::new(|v| drop(v.as_object_mut().unwrap().remove("event_action"))),
                "'event_action' is missing or blank",
            ),
            (
                Box::new(|v| v["event_action"] = json!("explode")),
                "'event_action' is invalid",
            ),
            (
                Box::new(|v| drop(v.as_object_mut().unwrap().remove("payload"))),
                "'payload' is missing or blank",
            ),
            (
                Box::new(|v| v["payload"] = json!("text")),
                "'payload' is invalid",
            ),
            (
                Box::new(|v| v["payload"]["summary"] = json!("")),
                "'payload.summary' is missing or blank",
            ),
            (
                Box::new(|v| v["payload"]["summary"] = json!("x".repeat(1025))),
                "'payload.summary' is invalid",
            ),
            (
                Box::new(|v| drop(v["payload"].as_object_mut().unwrap().remove("source"))),
                "'payload.source' is missing or blank",
            ),
            (
                Box::new(|v| drop(v["payload"].as_object_mut().unwrap().remove("severity"))),
                "'payload.severity' is missing or blank",
            ),
            (
                Box::new(|v| v["payload"]["severity"] = json!("urgent")),
                "'payload.severity' is invalid",
            ),
            (
                Box::new(|v| v["payload"]["timestamp"] = json!("yesterday")),
                "'payload.timestamp' is invalid",
            ),
            (
                Box::new(|v| v["dedup_key"] = json!("k".repeat(256))),
                "'dedup_key' is invalid",
            ),
            (
                Box::new(|v| v["links"] = json!([{"text": "x"}])),
                "'links[0].href' is missing or blank",
            ),
            (
                Box::new(|v| v["images"] = json!([{"href": "x"}])),
                "'images[0].src' is missing or blank",
            ),
            (
                Box::new(|v| *v = json!({"routing_key": "k", "event_action": "resolve"})),
                "'dedup_key' is missing or blank",
            ),
            (
                Box::new(|v| *v = json!([1, 2])),
                "Event must be a JSON object",
            ),
        ];
        for (edit, expected) in cases {
            let errs = errors_for(edit);
            assert!(
                errs.iter().any(|e| e.starts_with(expected)),
                "expected {expected:?} in {errs:?}"
            );
        }
    }

    #[test]
    fn header_routing_key_is_used_when_the_body_has_none() {
        let mut v = valid();
        v.as_object_mut().unwrap().remove("routing_key");
        assert_eq!(parse_enqueue(&v, Some("abc")).unwrap().routing_key, "abc");
    }

    #[test]
    fn resolve_needs_no_payload_and_alertmanager_fixture_parses() {
        let v = json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "d"});
        assert_eq!(
            parse_enqueue(&v, None).unwrap().event.action,
            EventAction::Resolve
        );
        let fixture: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/alertmanager-0.25-pagerduty-v2-trigger.json"
        ))
        .unwrap();
        let e = parse_enqueue(&fixture, None).unwrap();
        assert_eq!(e.event.dedup_key.len(), 64);
        assert!(!e.generated_dedup_key);
        assert_eq!(e.event.details.unwrap().severity, AlertSeverity::Error);
    }

    #[test]
    fn change_events_need_a_summary() {
        let ok = parse_change(
            &json!({"routing_key": "k", "payload": {"summary": "Deployed v2", "source": "ci"}}),
            None,
        )
        .unwrap();
        assert_eq!(ok.summary, "Deployed v2");
        let errs = parse_change(&json!({"routing_key": "k", "payload": {}}), None).unwrap_err();
        assert_eq!(errs, ["'payload.summary' is missing or blank"]);
    }
}
