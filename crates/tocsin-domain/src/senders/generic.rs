//! The generic JSON sender: Tocsin's own event format, and any other tool's webhook through a per-integration
//! [`FieldMapping`].
//!
//! The documented format is one object, or an array of them:
//!
//! ```json
//! {"summary": "Disk full on db-1", "severity": "critical", "dedup_key": "db-1/disk", "action": "trigger",
//!  "source": "db-1", "details": {"free": "0.1%"}, "links": [{"href": "https://grafana/d/1", "text": "Graph"}],
//!  "labels": {"team": "storage"}}
//! ```
//!
//! Only `summary` is required, and only on triggers. A mapping says where each field sits in another tool's body and
//! how that tool's words translate, so a Datadog or Squadcast webhook points at Tocsin directly instead of through a
//! translating proxy. The default mapping is the documented format.
//!
//! Errors name the field the way the sender wrote it: the event's place in the batch (`[2]`, `alerts[2]`) followed by
//! the mapped path (`/state`, `.title`), so a user sees at once which event and which mapping entry to fix.

use crate::alert::{AlertDetails, AlertEvent, EventAction, Link};
use crate::error::{FieldError, ValidationErrors};
use crate::pagerduty::{MAX_DEDUP_KEY_CHARS, MAX_SUMMARY_CHARS};
use crate::senders::{Batch, fingerprint, severity_from_word};
use crate::severity::AlertSeverity;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The source of events whose body names none.
pub const DEFAULT_SOURCE: &str = "generic";

/// Where a generic sender's body keeps each event field, and how its words translate into Tocsin's.
///
/// Every path is a JSON Pointer (RFC 6901, e.g. `/alert/title`) or a dotted path (`alert.title`); numeric segments
/// index arrays. Fields left out take the documented format's names, so `{}` is the documented format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FieldMapping {
    /// Path of the one-line summary, required on triggers (at most 1024 characters).
    pub summary: String,
    /// Path of the severity word (`critical`, `P2`, `warn`…); see `value_maps` and `default_severity`.
    pub severity: String,
    /// Path of the key that ties a trigger to its acknowledge and resolve (at most 255 characters). When an event has
    /// none, the key is a fingerprint of its summary and source.
    pub dedup_key: String,
    /// Path of the action: `trigger`, `acknowledge` or `resolve` (also `triggered`, `firing`, `ack`, `acknowledged`,
    /// `resolved`, in any case). An event without one is a trigger.
    pub action: String,
    /// Path of the source (host, check, tool); `generic` when absent.
    pub source: String,
    /// Path of the details kept with the alert; when absent, the whole event is kept.
    pub details: String,
    /// Path of an object of labels (string, number or boolean values) that routing rules and silences match.
    pub labels: String,
    /// Path of the array of events inside the body (e.g. `alerts`). Without it, the body is one event, or an array of
    /// events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// Translations of the sender's words, per Tocsin field (`action` or `severity`), e.g.
    /// `{"action": {"ok": "resolve", "alerting": "trigger"}}`. Matched exactly, then ignoring case.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub value_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Severity of a trigger whose body has none, or one that neither `value_maps` nor the usual vocabularies
    /// (`P1`, `high`, `warn`…) know.
    pub default_severity: AlertSeverity,
}

impl Default for FieldMapping {
    fn default() -> Self {
        Self {
            summary: "summary".into(),
            severity: "severity".into(),
            dedup_key: "dedup_key".into(),
            action: "action".into(),
            source: "source".into(),
            details: "details".into(),
            labels: "labels".into(),
            items: None,
            value_maps: BTreeMap::new(),
            default_severity: AlertSeverity::Error,
        }
    }
}

impl FieldMapping {
    /// Checks every path and value map, reporting all problems at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.compile().map(drop)
    }

    fn compile(&self) -> Result<Compiled<'_>, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let mut field = |name: &str, text: &'_ str| -> Path {
            errs.check(Path::parse(text).map_err(|m| FieldError::new(name, m)))
                .unwrap_or_default()
        };
        let summary = field("summary", &self.summary);
        let severity = field("severity", &self.severity);
        let dedup_key = field("dedup_key", &self.dedup_key);
        let action = field("action", &self.action);
        let source = field("source", &self.source);
        let details = field("details", &self.details);
        let labels = field("labels", &self.labels);
        let items = self.items.as_deref().map(|t| (t, field("items", t)));

        let mut actions = BTreeMap::new();
        let mut severities = BTreeMap::new();
        for (target, words) in &self.value_maps {
            let at = |from: &str| format!("value_maps.{target}.{from}");
            match target.as_str() {
                "action" => {
                    for (from, to) in words {
                        match exact_action(to) {
                            Some(a) => {
                                actions.insert(from.as_str(), a);
                            }
                            None => errs.push(
                                at(from),
                                format!("{to:?} is not trigger, acknowledge or resolve"),
                            ),
                        }
                    }
                }
                "severity" => {
                    for (from, to) in words {
                        match to.parse::<AlertSeverity>() {
                            Ok(s) => {
                                severities.insert(from.as_str(), s);
                            }
                            Err(_) => errs.push(
                                at(from),
                                format!("{to:?} is not critical, error, warning or info"),
                            ),
                        }
                    }
                }
                _ => errs.push(
                    format!("value_maps.{target}"),
                    format!("{target:?} takes no value map; only action and severity do"),
                ),
            }
        }

        errs.into_result(())?;
        let f = |text, path| Field { text, path };
        Ok(Compiled {
            summary: f(&self.summary, summary),
            severity: f(&self.severity, severity),
            dedup_key: f(&self.dedup_key, dedup_key),
            action: f(&self.action, action),
            source: f(&self.source, source),
            details: f(&self.details, details),
            labels: f(&self.labels, labels),
            items: items.map(|(t, p)| f(t, p)),
            actions,
            severities,
            default_severity: self.default_severity,
        })
    }
}

/// Parses a generic sender's body with its integration's mapping. Every problem in every event is reported at once;
/// a batch is accepted whole or not at all.
pub fn parse(body: &Value, mapping: &FieldMapping) -> Result<Batch, ValidationErrors> {
    // Integrations validate their mapping when saved, but a stored one may predate a rule, and the sender must
    // then learn that the fault is in the mapping, not in its body.
    let m = mapping
        .compile()
        .map_err(|e| ValidationErrors(e.0.into_iter().map(|f| f.under("mapping")).collect()))?;

    let items: Vec<(String, &Value)> = match &m.items {
        Some(items) => match items.path.lookup(body) {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", items.text), v))
                .collect(),
            None | Some(Value::Null) => {
                return Err(FieldError::new(
                    items.text,
                    "missing; the mapping's items path should lead to the array of events",
                )
                .into());
            }
            Some(_) => {
                return Err(FieldError::new(items.text, "must be an array of events").into());
            }
        },
        None => match body {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("[{i}]"), v))
                .collect(),
            Value::Object(_) => vec![(String::new(), body)],
            _ => {
                return Err(FieldError::new(
                    "body",
                    "must be a JSON object or an array of objects",
                )
                .into());
            }
        },
    };

    let mut errs = ValidationErrors::default();
    let events: Vec<AlertEvent> = items
        .iter()
        .filter_map(|(at, item)| m.event(item, at, &mut errs))
        .collect();
    errs.into_result(Batch::new(events))
}

/// A path split into the keys (or array indexes) to follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Path(Vec<String>);

impl Path {
    fn parse(s: &str) -> Result<Self, String> {
        const FORMS: &str =
            "write a JSON Pointer such as /alert/title or a dotted path such as alert.title";
        if s.is_empty() {
            return Err(format!("must not be empty; {FORMS}"));
        }
        if let Some(rest) = s.strip_prefix('/') {
            return rest
                .split('/')
                .map(|token| unescape(token).map_err(|e| format!("{s:?}: {e}")))
                .collect::<Result<_, _>>()
                .map(Self);
        }
        let segments: Vec<String> = s.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            // Keys that contain dots, or are empty, are still reachable through a pointer.
            return Err(format!(
                "{s:?} has an empty segment; {FORMS} (a pointer also reaches keys that contain dots)"
            ));
        }
        Ok(Self(segments))
    }

    fn lookup<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(root, |v, key| match v {
            Value::Object(m) => m.get(key),
            Value::Array(a) => array_index(key).and_then(|i| a.get(i)),
            _ => None,
        })
    }
}

fn unescape(token: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return Err("'~' must be followed by 0 (for ~) or 1 (for /)"),
        }
    }
    Ok(out)
}

/// RFC 6901's array index: decimal digits without leading zeros, so `01` is a key, never an index.
fn array_index(key: &str) -> Option<usize> {
    let digits = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    if !digits || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    key.parse().ok()
}

struct Field<'a> {
    /// The path as the mapping wrote it, for error messages.
    text: &'a str,
    path: Path,
}

/// A mapping whose paths and value maps are known to be valid.
struct Compiled<'a> {
    summary: Field<'a>,
    severity: Field<'a>,
    dedup_key: Field<'a>,
    action: Field<'a>,
    source: Field<'a>,
    details: Field<'a>,
    labels: Field<'a>,
    items: Option<Field<'a>>,
    actions: BTreeMap<&'a str, EventAction>,
    severities: BTreeMap<&'a str, AlertSeverity>,
    default_severity: AlertSeverity,
}

impl Compiled<'_> {
    /// One event, or `None` after recording in `errs` everything wrong with it. `at` is its place in the batch.
    fn event(&self, item: &Value, at: &str, errs: &mut ValidationErrors) -> Option<AlertEvent> {
        if !item.is_object() {
            errs.push(
                if at.is_empty() { "body" } else { at },
                "must be a JSON object",
            );
            return None;
        }
        let before = errs.0.len();

        let action = match text(&self.action, item, at, errs) {
            None => EventAction::Trigger,
            Some(word) => match lookup_word(&self.actions, &word).or_else(|| action_word(&word)) {
                Some(a) => a,
                None => {
                    errs.push(
                        name(at, self.action.text),
                        format!(
                            "{word:?} is not trigger, acknowledge or resolve; add it to value_maps.action"
                        ),
                    );
                    EventAction::Trigger
                }
            },
        };
        let summary = text(&self.summary, item, at, errs);
        let source = text(&self.source, item, at, errs).unwrap_or_else(|| DEFAULT_SOURCE.into());
        let dedup_key = text(&self.dedup_key, item, at, errs);
        if let Some(k) = &dedup_key
            && k.chars().count() > MAX_DEDUP_KEY_CHARS
        {
            errs.push(
                name(at, self.dedup_key.text),
                format!(
                    "must be at most {MAX_DEDUP_KEY_CHARS} characters (got {})",
                    k.chars().count()
                ),
            );
        }

        let details = if action == EventAction::Trigger {
            self.details(item, at, summary.as_deref(), &source, errs)
        } else {
            None
        };

        // Senders without their own IDs (a chat bot, a cron job's curl) still get repeats merged and can resolve
        // what they triggered, as long as they send the same summary and source each time.
        let dedup_key = dedup_key.or_else(|| {
            summary.as_ref().map(|s| {
                fingerprint(&BTreeMap::from([
                    ("source".to_owned(), source.clone()),
                    ("summary".to_owned(), s.clone()),
                ]))
            })
        });
        if dedup_key.is_none() && action != EventAction::Trigger {
            errs.push(
                name(at, self.dedup_key.text),
                format!(
                    "missing; to {} an alert, send its dedup key here, or the summary it was triggered with at {}",
                    action.as_str(),
                    name(at, self.summary.text)
                ),
            );
        }

        if errs.0.len() > before {
            return None;
        }
        Some(AlertEvent {
            patch: None,
            action,
            dedup_key: dedup_key.unwrap_or_default(),
            details,
        })
    }

    fn details(
        &self,
        item: &Value,
        at: &str,
        summary: Option<&str>,
        source: &str,
        errs: &mut ValidationErrors,
    ) -> Option<AlertDetails> {
        let summary = match summary {
            None => {
                errs.push(
                    name(at, self.summary.text),
                    "missing or blank; a trigger needs a summary",
                );
                None
            }
            Some(s) if s.chars().count() > MAX_SUMMARY_CHARS => {
                errs.push(
                    name(at, self.summary.text),
                    format!(
                        "must be at most {MAX_SUMMARY_CHARS} characters (got {})",
                        s.chars().count()
                    ),
                );
                None
            }
            Some(s) => Some(s),
        };
        let severity = text(&self.severity, item, at, errs)
            .and_then(|w| lookup_word(&self.severities, &w).or_else(|| severity_from_word(&w)))
            .unwrap_or(self.default_severity);
        let labels = self.labels(item, at, errs);
        let links = links(item, at, errs);
        // Without a details field, the event itself is the best record of what the sender said.
        let custom_details = match self.details.path.lookup(item) {
            None | Some(Value::Null) => item.clone(),
            Some(v) => v.clone(),
        };
        Some(AlertDetails {
            custom_details,
            labels,
            links,
            ..AlertDetails::new(summary?, source, severity)
        })
    }

    fn labels(
        &self,
        item: &Value,
        at: &str,
        errs: &mut ValidationErrors,
    ) -> BTreeMap<String, String> {
        let here = name(at, self.labels.text);
        match self.labels.path.lookup(item) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| match scalar(v) {
                    Ok(s) => s.map(|s| (k.clone(), s)),
                    Err(()) => {
                        let child = if self.labels.text.starts_with('/') {
                            format!("{here}/{}", k.replace('~', "~0").replace('/', "~1"))
                        } else {
                            format!("{here}.{k}")
                        };
                        errs.push(child, "must be a string, number or boolean");
                        None
                    }
                })
                .collect(),
            Some(_) => {
                errs.push(here, "must be an object of strings");
                BTreeMap::new()
            }
        }
    }
}

/// The links of the documented format; they have no mapping because other tools' link shapes vary too much to map
/// field by field, and their details keep the links anyway.
fn links(item: &Value, at: &str, errs: &mut ValidationErrors) -> Vec<Link> {
    let here = name(at, "links");
    let Some(v) = item.get("links").filter(|v| !v.is_null()) else {
        return vec![];
    };
    let Some(list) = v.as_array() else {
        errs.push(here, "must be an array of {href, text} objects");
        return vec![];
    };
    let mut out = Vec::new();
    for (i, link) in list.iter().enumerate() {
        let Some(obj) = link.as_object() else {
            errs.push(
                format!("{here}[{i}]"),
                "must be an object with href and text",
            );
            continue;
        };
        let href = match obj.get("href") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_) | Value::Null) | None => {
                errs.push(format!("{here}[{i}].href"), "missing or blank");
                None
            }
            Some(_) => {
                errs.push(format!("{here}[{i}].href"), "must be a string");
                None
            }
        };
        let text = match obj.get("text") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
            Some(_) => {
                errs.push(format!("{here}[{i}].text"), "must be a string");
                None
            }
        };
        if let Some(href) = href {
            out.push(Link { href, text });
        }
    }
    out
}

/// The name of a field in errors: the event's place in the batch, then the path as the mapping wrote it.
fn name(at: &str, path: &str) -> String {
    if at.is_empty() || path.starts_with('/') {
        format!("{at}{path}")
    } else {
        format!("{at}.{path}")
    }
}

/// The value at a field's path as text, `None` when absent, null or blank. Objects and arrays are an error: they
/// mean the path stops one level too early.
fn text(field: &Field<'_>, item: &Value, at: &str, errs: &mut ValidationErrors) -> Option<String> {
    match scalar(field.path.lookup(item)?) {
        Ok(s) => s,
        Err(()) => {
            errs.push(
                name(at, field.text),
                "must be a string or number, not an object or array",
            );
            None
        }
    }
}

fn scalar(v: &Value) -> Result<Option<String>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        // Some tools say `"resolved": true`; a value map on `true`/`false` then gives the action.
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(()),
    }
}

/// A value-map entry for `word`: an exact match first, so a map may tell `OK` from `ok`, then one ignoring case.
fn lookup_word<T: Copy>(map: &BTreeMap<&str, T>, word: &str) -> Option<T> {
    map.get(word).copied().or_else(|| {
        let word = word.trim();
        map.iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(word))
            .map(|(_, v)| *v)
    })
}

fn exact_action(word: &str) -> Option<EventAction> {
    [
        EventAction::Trigger,
        EventAction::Acknowledge,
        EventAction::Resolve,
    ]
    .into_iter()
    .find(|a| a.as_str() == word)
}

/// The action words senders use without being told: Tocsin's own, and the common past-tense and Prometheus forms.
fn action_word(word: &str) -> Option<EventAction> {
    match word.trim().to_ascii_lowercase().as_str() {
        "trigger" | "triggered" | "firing" => Some(EventAction::Trigger),
        "acknowledge" | "acknowledged" | "ack" => Some(EventAction::Acknowledge),
        "resolve" | "resolved" => Some(EventAction::Resolve),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(v: Value) -> FieldMapping {
        serde_json::from_value(v).expect("mapping deserializes")
    }

    fn errors(body: Value, m: &FieldMapping) -> Vec<String> {
        parse(&body, m)
            .expect_err("body should be refused")
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn datadog() -> FieldMapping {
        mapping(json!({
            "summary": "/title",
            "action": "/alert_transition",
            "dedup_key": "/id",
            "severity": "/priority",
            "value_maps": {"action": {"Triggered": "trigger", "Recovered": "resolve"}}
        }))
    }

    #[test]
    fn documented_object_parses_with_all_its_fields() {
        let body = json!({
            "summary": "Disk full on db-1",
            "severity": "critical",
            "dedup_key": "db-1/disk",
            "action": "trigger",
            "source": "db-1",
            "details": {"free": "0.1%"},
            "links": [{"href": "https://grafana.example/d/1", "text": "Graph"}, {"href": "https://runbook"}],
            "labels": {"team": "storage", "shard": 3, "primary": true}
        });
        let batch = parse(&body, &FieldMapping::default()).unwrap();
        assert_eq!(batch.group_key, None);
        let [e] = batch.events.as_slice() else {
            panic!("{batch:?}")
        };
        assert_eq!(
            (e.action, e.dedup_key.as_str()),
            (EventAction::Trigger, "db-1/disk")
        );
        let d = e.details.as_ref().unwrap();
        assert_eq!(
            (d.summary.as_str(), d.source.as_str(), d.severity),
            ("Disk full on db-1", "db-1", AlertSeverity::Critical)
        );
        assert_eq!(d.custom_details, json!({"free": "0.1%"}));
        assert_eq!(
            d.links,
            [
                Link {
                    href: "https://grafana.example/d/1".into(),
                    text: Some("Graph".into())
                },
                Link {
                    href: "https://runbook".into(),
                    text: None
                }
            ]
        );
        let labels: Vec<_> = d
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [("primary", "true"), ("shard", "3"), ("team", "storage")]
        );
    }

    #[test]
    fn documented_array_mixes_actions_and_fills_in_defaults() {
        let body = json!([
            {"summary": "CPU high"},
            {"action": "resolve", "dedup_key": "k1"},
            {"action": "acknowledge", "dedup_key": "k2"}
        ]);
        let batch = parse(&body, &FieldMapping::default()).unwrap();
        let actions: Vec<_> = batch.events.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                EventAction::Trigger,
                EventAction::Resolve,
                EventAction::Acknowledge
            ]
        );
        let d = batch.events[0].details.as_ref().unwrap();
        assert_eq!(
            (d.source.as_str(), d.severity),
            (DEFAULT_SOURCE, AlertSeverity::Error)
        );
        // With no details field, the event itself is kept.
        assert_eq!(d.custom_details, json!({"summary": "CPU high"}));
        assert_eq!(batch.events[0].dedup_key.len(), 16);
        assert!(batch.events[1].details.is_none() && batch.events[2].details.is_none());
        assert_eq!(batch.events[1].dedup_key, "k1");
        assert!(
            parse(&json!([]), &FieldMapping::default())
                .unwrap()
                .events
                .is_empty()
        );
    }

    #[test]
    fn datadog_bodies_map_through_value_maps() {
        let m = datadog();
        let trigger = json!({"title": "[P1] Error rate high on checkout", "alert_transition": "Triggered",
            "priority": "P1", "id": 123, "tags": "env:prod"});
        let e = &parse(&trigger, &m).unwrap().events[0];
        assert_eq!(
            (e.action, e.dedup_key.as_str()),
            (EventAction::Trigger, "123")
        );
        let d = e.details.as_ref().unwrap();
        assert_eq!(d.summary, "[P1] Error rate high on checkout");
        assert_eq!(d.severity, AlertSeverity::Critical);
        assert_eq!(d.custom_details["tags"], "env:prod");

        let resolve = json!({"title": "[P1] Error rate high on checkout", "alert_transition": "Recovered",
            "priority": "P1", "id": "123"});
        let e = &parse(&resolve, &m).unwrap().events[0];
        assert_eq!(
            (e.action, e.dedup_key.as_str(), &e.details),
            (EventAction::Resolve, "123", &None)
        );
        // Value maps match ignoring case when nothing matches exactly.
        let e = &parse(&json!({"alert_transition": "recovered", "id": "123"}), &m)
            .unwrap()
            .events[0];
        assert_eq!(e.action, EventAction::Resolve);
    }

    #[test]
    fn squadcast_bodies_map_without_value_maps() {
        let m = mapping(json!({
            "summary": "message", "details": "description", "action": "status", "dedup_key": "event_id"
        }));
        let trigger = json!({"message": "Queue backlog", "description": "12k messages waiting",
            "status": "trigger", "event_id": "ev-9"});
        let e = &parse(&trigger, &m).unwrap().events[0];
        let d = e.details.as_ref().unwrap();
        assert_eq!(
            (e.action, e.dedup_key.as_str(), &d.custom_details),
            (EventAction::Trigger, "ev-9", &json!("12k messages waiting"))
        );
        let resolve = json!({"message": "Queue backlog", "description": "drained", "status": "resolve",
            "event_id": "ev-9"});
        let e = &parse(&resolve, &m).unwrap().events[0];
        assert_eq!(
            (e.action, e.dedup_key.as_str()),
            (EventAction::Resolve, "ev-9")
        );
    }

    #[test]
    fn items_path_reads_events_nested_in_the_body() {
        let body = json!({"receiver": "x", "data": {"alerts": [
            {"name": "A", "state": "alerting", "fp": "a1"},
            {"name": "B", "state": "ok", "fp": "b1"}
        ]}});
        for items in ["data.alerts", "/data/alerts"] {
            let m = mapping(json!({
                "items": items, "summary": "name", "action": "state", "dedup_key": "fp",
                "value_maps": {"action": {"ok": "resolve", "alerting": "trigger"}}
            }));
            let batch = parse(&body, &m).unwrap();
            let got: Vec<_> = batch
                .events
                .iter()
                .map(|e| (e.action, e.dedup_key.as_str()))
                .collect();
            assert_eq!(
                got,
                [(EventAction::Trigger, "a1"), (EventAction::Resolve, "b1")],
                "{items}"
            );
        }
    }

    #[test]
    fn dotted_and_pointer_paths_are_equivalent() {
        let body = json!({"alert": {"title": "Latency", "ids": ["x-1"], "a/b": "db", "tags": {"env": "prod"}}});
        let dotted = mapping(json!({
            "summary": "alert.title", "dedup_key": "alert.ids.0", "labels": "alert.tags"
        }));
        let pointer = mapping(json!({
            "summary": "/alert/title", "dedup_key": "/alert/ids/0", "labels": "/alert/tags",
            "source": "/alert/a~1b"
        }));
        let a = parse(&body, &dotted).unwrap();
        let b = parse(&body, &pointer).unwrap();
        assert_eq!(a.events[0].dedup_key, "x-1");
        assert_eq!(b.events[0].details.as_ref().unwrap().source, "db");
        let strip_source = |mut batch: Batch| {
            batch.events[0].details.as_mut().unwrap().source.clear();
            batch
        };
        assert_eq!(strip_source(a), strip_source(b));
        // RFC 6901: a leading zero makes a key, not an index.
        assert_eq!(
            Path::parse("/ids/01")
                .unwrap()
                .lookup(&json!({"ids": [1, 2]})),
            None
        );
    }

    #[test]
    fn severity_goes_through_value_maps_then_known_words_then_the_default() {
        let m = mapping(json!({
            "severity": "/level",
            "value_maps": {"severity": {"1": "critical", "Degraded": "warning"}},
            "default_severity": "info"
        }));
        let severity = |level: Value| {
            let b = json!({"summary": "s", "level": level});
            parse(&b, &m).unwrap().events[0]
                .details
                .as_ref()
                .unwrap()
                .severity
        };
        assert_eq!(severity(json!(1)), AlertSeverity::Critical);
        assert_eq!(severity(json!("degraded")), AlertSeverity::Warning);
        assert_eq!(severity(json!("high")), AlertSeverity::Error);
        assert_eq!(severity(json!("whatever")), AlertSeverity::Info);
        assert_eq!(severity(Value::Null), AlertSeverity::Info);
    }

    #[test]
    fn action_synonyms_and_the_fingerprint_fallback() {
        let m = FieldMapping::default();
        for (word, action) in [
            ("firing", EventAction::Trigger),
            ("Triggered", EventAction::Trigger),
            ("ack", EventAction::Acknowledge),
            ("acknowledged", EventAction::Acknowledge),
            ("RESOLVED", EventAction::Resolve),
        ] {
            let b = json!({"summary": "s", "action": word});
            assert_eq!(parse(&b, &m).unwrap().events[0].action, action, "{word}");
        }
        let key = |b: Value| parse(&b, &m).unwrap().events[0].dedup_key.clone();
        let fired = key(json!({"summary": "Backup failed", "source": "cron"}));
        assert_eq!(
            fired,
            key(json!({"summary": "Backup failed", "source": "cron", "action": "resolve"}))
        );
        assert_ne!(
            fired,
            key(json!({"summary": "Backup failed", "source": "cron-2"}))
        );
        assert_ne!(fired, key(json!({"summary": "Backup failed"})));
    }

    #[test]
    fn every_error_names_its_field() {
        let d = FieldMapping::default();
        let dd = datadog();
        let cases: Vec<(Value, &FieldMapping, &str)> = vec![
            (
                json!({"severity": "critical"}),
                &d,
                "summary: missing or blank",
            ),
            (
                json!([{"title": "t"}, {"alert_transition": "Triggered"}]),
                &dd,
                "[1]/title: missing or blank",
            ),
            (
                json!({"summary": "x".repeat(1025)}),
                &d,
                "summary: must be at most 1024 characters",
            ),
            (
                json!({"summary": "s", "dedup_key": "k".repeat(256)}),
                &d,
                "dedup_key: must be at most 255",
            ),
            (
                json!({"summary": {"text": "s"}}),
                &d,
                "summary: must be a string or number",
            ),
            (
                json!({"action": "resolve"}),
                &d,
                "dedup_key: missing; to resolve an alert",
            ),
            (
                json!([{"title": "t", "alert_transition": "Recovered", "id": 1}, {"alert_transition": "Recovered"}]),
                &dd,
                "[1]/id: missing",
            ),
            (
                json!({"summary": "s", "labels": ["a"]}),
                &d,
                "labels: must be an object",
            ),
            (
                json!({"summary": "s", "labels": {"team": {"name": "x"}}}),
                &d,
                "labels.team: must be a string",
            ),
            (
                json!([{"summary": "s", "links": [{"text": "no href"}]}]),
                &d,
                "[0].links[0].href: missing or blank",
            ),
            (
                json!({"summary": "s", "links": "https://x"}),
                &d,
                "links: must be an array",
            ),
            (
                json!([{"summary": "s"}, 7]),
                &d,
                "[1]: must be a JSON object",
            ),
            (json!("text"), &d, "body: must be a JSON object or an array"),
        ];
        for (body, m, expected) in cases {
            let errs = errors(body, m);
            assert!(
                errs.iter().any(|e| e.starts_with(expected)),
                "expected {expected:?} in {errs:?}"
            );
        }
    }

    #[test]
    fn an_unknown_action_names_the_path_and_the_fix() {
        let m = mapping(json!({"summary": "/title", "action": "/state"}));
        let errs = errors(json!([{"title": "t", "state": "paused"}]), &m);
        assert_eq!(
            errs,
            [
                r#"[0]/state: "paused" is not trigger, acknowledge or resolve; add it to value_maps.action"#
            ]
        );
    }

    #[test]
    fn items_errors_name_the_items_path() {
        let m = mapping(json!({"items": "alerts", "summary": "name"}));
        assert_eq!(
            errors(json!({"other": []}), &m),
            ["alerts: missing; the mapping's items path should lead to the array of events"]
        );
        assert_eq!(
            errors(json!({"alerts": {"name": "x"}}), &m),
            ["alerts: must be an array of events"]
        );
        assert_eq!(
            errors(json!({"alerts": [{"name": "ok"}, {"name": ""}]}), &m),
            ["alerts[1].name: missing or blank; a trigger needs a summary"]
        );
    }

    #[test]
    fn every_bad_event_is_reported_at_once() {
        let errs = errors(
            json!([{"summary": ""}, {"summary": "ok"}, {"action": "explode", "summary": "s"}]),
            &FieldMapping::default(),
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("[0].summary:") && errs[1].starts_with("[2].action:"));
    }

    #[test]
    fn validate_refuses_bad_value_maps_and_paths() {
        let m = mapping(json!({
            "summary": "",
            "action": "a..b",
            "dedup_key": "/a~2",
            "items": "items.",
            "value_maps": {
                "action": {"ok": "done", "alerting": "trigger"},
                "severity": {"P1": "urgent"},
                "status": {"x": "resolve"}
            }
        }));
        let refused = m.validate().unwrap_err();
        let fields = refused.fields();
        assert_eq!(
            fields,
            [
                "summary",
                "dedup_key",
                "action",
                "items",
                "value_maps.action.ok",
                "value_maps.severity.P1",
                "value_maps.status"
            ]
        );
        // A body parsed with a bad mapping is refused for the mapping's sake.
        let errs = errors(json!({"summary": "s"}), &m);
        assert!(
            errs[0].starts_with("mapping.summary: must not be empty"),
            "{errs:?}"
        );
        assert_eq!(FieldMapping::default().validate(), Ok(()));
        assert_eq!(datadog().validate(), Ok(()));
    }

    #[test]
    fn mapping_round_trips_and_defaults_from_an_empty_object() {
        assert_eq!(mapping(json!({})), FieldMapping::default());
        let m = mapping(json!({
            "summary": "/title",
            "action": "/state",
            "items": "alerts",
            "default_severity": "warning",
            "value_maps": {"action": {"ok": "resolve", "alerting": "trigger"}}
        }));
        assert_eq!(
            (m.severity.as_str(), m.default_severity),
            ("severity", AlertSeverity::Warning)
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(serde_json::from_value::<FieldMapping>(json).unwrap(), m);
        let default = serde_json::to_value(FieldMapping::default()).unwrap();
        assert!(default.get("items").is_none() && default.get("value_maps").is_none());
        assert!(serde_json::from_value::<FieldMapping>(json!({"titel": "/title"})).is_err());
    }
}
