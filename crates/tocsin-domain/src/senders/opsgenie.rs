//! Opsgenie's Alert API (v2): create, close and acknowledge, so a team leaving Opsgenie can point its senders'
//! Opsgenie URL at Tocsin and change nothing else.
//!
//! Limits are Opsgenie's documented ones, enforced rather than truncated: cutting an alias short would merge alerts
//! meant to stay apart, and a cut message hides from the sender that anything was lost.

use super::{Batch, fingerprint, optional_str};
use crate::alert::{AlertDetails, AlertEvent, AlertPatch, EventAction};
use crate::error::ValidationErrors;
use crate::ids::AlertId;
use crate::severity::AlertSeverity;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const MAX_MESSAGE_CHARS: usize = 130;
pub const MAX_ALIAS_CHARS: usize = 512;
pub const MAX_DESCRIPTION_CHARS: usize = 15_000;

/// Opsgenie's default when a create request names no priority.
const DEFAULT_PRIORITY: &str = "P3";

fn check_len(value: Option<&str>, key: &str, max: usize, errs: &mut ValidationErrors) {
    if value.is_some_and(|v| v.chars().count() > max) {
        errs.push(key, format!("must be at most {max} characters"));
    }
}

/// An optional array; `each` checks an item and returns its problem, if any.
fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    errs: &mut ValidationErrors,
    each: impl Fn(&Value) -> Option<&'static str>,
) -> &'a [Value] {
    match obj.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(why) = each(item) {
                    errs.push(format!("{key}[{i}]"), why);
                }
            }
            items
        }
        Some(_) => {
            errs.push(key, "must be an array");
            &[]
        }
    }
}

fn must_be_string(v: &Value) -> Option<&'static str> {
    (!v.is_string()).then_some("must be a string")
}

/// Responders and visibleTo are objects (`{"type": "team", "name": "NOC"}`) that Tocsin keeps for reference only.
fn must_be_object(v: &Value) -> Option<&'static str> {
    (!v.is_object()).then_some("must be an object")
}

/// `details`, as strings. A number or boolean is kept as its text, so a sender whose templating emits `5` rather
/// than `"5"` still gets through; nested values have no faithful text form and are rejected.
fn details(obj: &Map<String, Value>, errs: &mut ValidationErrors) -> BTreeMap<String, String> {
    let items = match obj.get("details") {
        None | Some(Value::Null) => return BTreeMap::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            errs.push("details", "must be an object of strings");
            return BTreeMap::new();
        }
    };
    let mut out = BTreeMap::new();
    for (k, v) in items {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) => {
                errs.push(format!("details.{k}"), "must be a string");
                continue;
            }
        };
        out.insert(k.clone(), text);
    }
    out
}

fn priority(obj: &Map<String, Value>, errs: &mut ValidationErrors) -> (String, AlertSeverity) {
    let word = optional_str(obj, "priority", "priority", errs).unwrap_or(DEFAULT_PRIORITY);
    let normalized = word.trim().to_ascii_uppercase();
    let severity = match normalized.as_str() {
        "P1" => AlertSeverity::Critical,
        "P2" => AlertSeverity::Error,
        "P3" => AlertSeverity::Warning,
        "P4" | "P5" => AlertSeverity::Info,
        _ => {
            errs.push("priority", "must be one of P1, P2, P3, P4, P5");
            AlertSeverity::Warning
        }
    };
    (normalized, severity)
}

/// Parses a create-alert request (`POST /v2/alerts`) into one trigger.
pub fn parse_create(body: &Value) -> Result<Batch, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(obj) = body.as_object() else {
        errs.push("", "must be a JSON object");
        return Err(errs);
    };

    let message = match obj.get("message") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        None | Some(Value::Null | Value::String(_)) => {
            errs.push("message", "is required and must not be blank");
            None
        }
        Some(_) => {
            errs.push("message", "must be a string");
            None
        }
    };
    check_len(message, "message", MAX_MESSAGE_CHARS, &mut errs);
    let alias = optional_str(obj, "alias", "alias", &mut errs);
    check_len(alias, "alias", MAX_ALIAS_CHARS, &mut errs);
    let description = optional_str(obj, "description", "description", &mut errs);
    check_len(description, "description", MAX_DESCRIPTION_CHARS, &mut errs);
    let entity = optional_str(obj, "entity", "entity", &mut errs);
    let source = optional_str(obj, "source", "source", &mut errs);
    let user = optional_str(obj, "user", "user", &mut errs);
    let note = optional_str(obj, "note", "note", &mut errs);
    let responders = opt_array(obj, "responders", &mut errs, must_be_object);
    let visible_to = opt_array(obj, "visibleTo", &mut errs, must_be_object);
    let actions = opt_array(obj, "actions", &mut errs, must_be_string);
    let tags: Vec<&str> = opt_array(obj, "tags", &mut errs, must_be_string)
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let details = details(obj, &mut errs);
    let (priority, severity) = priority(obj, &mut errs);

    if !errs.is_empty() {
        return Err(errs);
    }
    let message = message.expect("checked above");

    // Opsgenie dedups an alert without an alias by its message; a fingerprint of the message does the same while
    // keeping the key short and free of whatever characters the message holds.
    let dedup_key = alias.map(str::to_owned).unwrap_or_else(|| {
        fingerprint(&BTreeMap::from([(
            "message".to_owned(),
            message.to_owned(),
        )]))
    });

    // The body's own priority and tags win over details of the same name: routing rules on `priority` must see the
    // priority the alert really has.
    let mut labels = details.clone();
    labels.insert("priority".into(), priority.clone());
    if !tags.is_empty() {
        labels.insert("tags".into(), tags.join(","));
    }

    let mut custom = Map::new();
    let mut keep = |key: &str, v: Value| {
        custom.insert(key.into(), v);
    };
    keep("priority", Value::String(priority));
    if let Some(d) = description {
        keep("description", d.into());
    }
    if !details.is_empty() {
        keep(
            "details",
            serde_json::to_value(&details).expect("a map of strings"),
        );
    }
    if !tags.is_empty() {
        keep("tags", tags.clone().into());
    }
    if !responders.is_empty() {
        keep("responders", responders.into());
    }
    if !visible_to.is_empty() {
        keep("visibleTo", visible_to.into());
    }
    if !actions.is_empty() {
        keep("actions", actions.into());
    }
    if let Some(u) = user {
        keep("user", u.into());
    }
    if let Some(n) = note {
        keep("note", n.into());
    }

    let mut d = AlertDetails::new(message, source.unwrap_or("opsgenie"), severity);
    d.component = entity.map(str::to_owned);
    d.custom_details = Value::Object(custom);
    d.client = Some("Opsgenie".into());
    d.labels = labels;
    Ok(Batch::new(vec![AlertEvent {
        patch: None,
        action: EventAction::Trigger,
        dedup_key,
        details: Some(d),
    }]))
}

/// Parses a close (`action` = Resolve) or acknowledge request for the alert with `alias`
/// (`POST /v2/alerts/{alias}/close?identifierType=alias`). The body's `source`, `user` and `note` are checked for
/// type only: an acknowledge or resolve carries no details to keep them in.
pub fn parse_action(
    alias: &str,
    action: EventAction,
    body: Option<&Value>,
) -> Result<Batch, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    if alias.trim().is_empty() {
        errs.push("alias", "is required and must not be blank");
    }
    check_len(Some(alias), "alias", MAX_ALIAS_CHARS, &mut errs);
    // A trigger needs details these endpoints cannot carry.
    if action == EventAction::Trigger {
        errs.push("action", "must be close or acknowledge");
    }
    match body {
        None | Some(Value::Null) => {}
        Some(Value::Object(obj)) => {
            for key in ["source", "user", "note"] {
                optional_str(obj, key, key, &mut errs);
            }
        }
        Some(_) => errs.push("", "must be a JSON object"),
    }
    errs.into_result(Batch::new(vec![AlertEvent {
        patch: None,
        action,
        dedup_key: alias.to_owned(),
        details: None,
    }]))
}

/// The field an update request changes (`PUT /v2/alerts/{identifier}/message|description|priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateField {
    Message,
    Description,
    Priority,
}

impl UpdateField {
    /// The body's key, which is also the path's last segment.
    pub fn key(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Description => "description",
            Self::Priority => "priority",
        }
    }

    pub fn request_action(self) -> RequestAction {
        match self {
            Self::Message => RequestAction::UpdateMessage,
            Self::Description => RequestAction::UpdateDescription,
            Self::Priority => RequestAction::UpdatePriority,
        }
    }
}

/// Parses an update of one field of the open alert with `alias`; Alertmanager's `opsgenie_configs` with
/// `update_alerts: true` sends these after each create. The field is required, with the limits a create has.
pub fn parse_update(
    alias: &str,
    field: UpdateField,
    body: &Value,
) -> Result<Batch, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    if alias.trim().is_empty() {
        errs.push("alias", "is required and must not be blank");
    }
    check_len(Some(alias), "alias", MAX_ALIAS_CHARS, &mut errs);
    let Some(obj) = body.as_object() else {
        errs.push("", "must be a JSON object");
        return Err(errs);
    };
    let key = field.key();
    let value = match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() || field == UpdateField::Description => {
            s.as_str()
        }
        None | Some(Value::Null | Value::String(_)) => {
            errs.push(key, "is required and must not be blank");
            return Err(errs);
        }
        Some(_) => {
            errs.push(key, "must be a string");
            return Err(errs);
        }
    };
    let mut patch = AlertPatch::default();
    match field {
        UpdateField::Message => {
            check_len(Some(value), key, MAX_MESSAGE_CHARS, &mut errs);
            patch.summary = Some(value.to_owned());
        }
        UpdateField::Description => {
            check_len(Some(value), key, MAX_DESCRIPTION_CHARS, &mut errs);
            patch.custom_details.insert(key.into(), value.into());
        }
        UpdateField::Priority => {
            let (priority, severity) = priority(obj, &mut errs);
            patch.severity = Some(severity);
            patch.labels.insert(key.into(), priority.clone());
            patch.custom_details.insert(key.into(), priority.into());
        }
    }
    errs.into_result(Batch::new(vec![AlertEvent {
        patch: Some(patch),
        action: EventAction::Update,
        dedup_key: alias.to_owned(),
        details: None,
    }]))
}

/// What Tocsin did with one Opsgenie request, as `GET /v2/alerts/requests/{id}` reports it. The request ID carries
/// the receipt itself, so every instance answers for every request without storing one row per request; the
/// alert it names is checked against the asking key's service when it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub action: RequestAction,
    pub outcome: RequestOutcome,
    pub alert_id: Option<AlertId>,
    pub processed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    Create,
    Acknowledge,
    Close,
    UpdateMessage,
    UpdateDescription,
    UpdatePriority,
}

impl RequestAction {
    /// The name Opsgenie gives the action in request statuses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Acknowledge => "Acknowledge",
            Self::Close => "Close",
            Self::UpdateMessage => "UpdateMessage",
            Self::UpdateDescription => "UpdateDescription",
            Self::UpdatePriority => "UpdatePriority",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Create,
            Self::Acknowledge,
            Self::Close,
            Self::UpdateMessage,
            Self::UpdateDescription,
            Self::UpdatePriority,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// What the request changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Created,
    /// An open alert with the alias existed; its count went up.
    Deduplicated,
    Acknowledged,
    Closed,
    Updated,
    /// The alert was already in the state asked for.
    AlreadyDone,
    /// No open alert had the identifier.
    NoAlert,
}

impl RequestOutcome {
    const ALL: [Self; 7] = [
        Self::Created,
        Self::Deduplicated,
        Self::Acknowledged,
        Self::Closed,
        Self::Updated,
        Self::AlreadyDone,
        Self::NoAlert,
    ];

    fn code(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Deduplicated => "deduplicated",
            Self::Acknowledged => "acknowledged",
            Self::Closed => "closed",
            Self::Updated => "updated",
            Self::AlreadyDone => "unchanged",
            Self::NoAlert => "none",
        }
    }

    /// Opsgenie's status text, and whether the request succeeded.
    pub fn status(self) -> (&'static str, bool) {
        match self {
            Self::Created => ("Created alert", true),
            Self::Deduplicated => (
                "Alert with the same alias exists; its count was increased",
                true,
            ),
            Self::Acknowledged => ("Acknowledged", true),
            Self::Closed => ("Closed", true),
            Self::Updated => ("Updated", true),
            Self::AlreadyDone => ("The alert was already in that state", true),
            Self::NoAlert => ("Alert does not exist", false),
        }
    }
}

impl Receipt {
    /// The request ID that carries this receipt: opaque, URL-safe.
    pub fn request_id(&self) -> String {
        let alert = self.alert_id.as_ref().map_or("", |a| a.as_str());
        let text = format!(
            "1.{}.{}.{}.{alert}",
            self.action.as_str(),
            self.outcome.code(),
            self.processed_at.timestamp_millis(),
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// The receipt a request ID carries; `None` for any string Tocsin did not hand out.
    pub fn parse(request_id: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(request_id)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(5, '.');
        if parts.next()? != "1" {
            return None;
        }
        let action = RequestAction::parse(parts.next()?)?;
        let code = parts.next()?;
        let outcome = RequestOutcome::ALL.into_iter().find(|o| o.code() == code)?;
        let processed_at = DateTime::from_timestamp_millis(parts.next()?.parse().ok()?)?;
        let alert_id = match parts.next()? {
            "" => None,
            id => Some(AlertId::parse(id)?),
        };
        Some(Self {
            action,
            outcome,
            alert_id,
            processed_at,
        })
    }
}

/// An id for an Opsgenie answer that carries no receipt (a refusal, a read), shaped like the random UUIDs Opsgenie
/// returns.
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_change_one_field_each_within_a_creates_limits() {
        let patch = |field, body: Value| {
            one(parse_update("a1", field, &body).unwrap())
                .patch
                .unwrap()
        };
        let message = patch(UpdateField::Message, json!({"message": "Now worse"}));
        assert_eq!(message.summary.as_deref(), Some("Now worse"));
        assert_eq!((message.severity, message.labels.len()), (None, 0));
        let priority = patch(UpdateField::Priority, json!({"priority": "p1"}));
        assert_eq!(priority.severity, Some(AlertSeverity::Critical));
        assert_eq!(priority.labels["priority"], "P1");
        assert_eq!(priority.summary, None);
        let description = patch(UpdateField::Description, json!({"description": ""}));
        assert_eq!(
            description.custom_details["description"], "",
            "a description may be cleared"
        );
        let invalid = |field, body: Value| -> Vec<String> {
            let errs = parse_update("a1", field, &body).unwrap_err();
            errs.0.into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            invalid(UpdateField::Message, json!({"message": " "})),
            ["message"]
        );
        assert_eq!(
            invalid(UpdateField::Message, json!({"message": "m".repeat(131)})),
            ["message"]
        );
        assert_eq!(
            invalid(UpdateField::Priority, json!({"priority": "P9"})),
            ["priority"]
        );
        assert_eq!(invalid(UpdateField::Description, json!([])), [""]);
    }

    #[test]
    fn a_receipt_survives_its_request_id_and_nothing_else_parses() {
        let receipt = Receipt {
            action: RequestAction::Close,
            outcome: RequestOutcome::Closed,
            alert_id: Some(AlertId::generate()),
            processed_at: DateTime::from_timestamp_millis(1_764_500_000_123).unwrap(),
        };
        let id = receipt.request_id();
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert_eq!(Receipt::parse(&id), Some(receipt.clone()));
        let none = Receipt {
            alert_id: None,
            outcome: RequestOutcome::NoAlert,
            ..receipt
        };
        assert_eq!(Receipt::parse(&none.request_id()), Some(none));
        for bad in [
            "",
            "x",
            &new_request_id(),
            "MS5DcmVhdGUuY3JlYXRlZC4xLmJvZ3Vz",
        ] {
            assert_eq!(Receipt::parse(bad), None, "{bad}");
        }
    }

    /// The shape of Opsgenie's documented create-alert example.
    fn example() -> Value {
        json!({
            "message": "Checkout latency above 2s",
            "alias": "checkout-latency",
            "description": "p99 latency of /checkout has been above 2s for 10 minutes",
            "responders": [
                {"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "team"},
                {"name": "NOC", "type": "team"},
                {"username": "oncall@example.com", "type": "user"}
            ],
            "visibleTo": [{"name": "SRE", "type": "team"}],
            "actions": ["Restart", "Rollback"],
            "tags": ["OverwriteQuietHours", "checkout"],
            "details": {"region": "eu-west-1", "service": "checkout"},
            "entity": "checkout-api",
            "source": "prometheus",
            "priority": "P1",
            "user": "Monitoring",
            "note": "Opened by the latency rule"
        })
    }

    fn one(batch: Batch) -> AlertEvent {
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.group_key, None);
        batch.events.into_iter().next().unwrap()
    }

    fn field_errors(r: Result<Batch, ValidationErrors>) -> Vec<String> {
        r.unwrap_err().0.into_iter().map(|e| e.field).collect()
    }

    fn with(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
        let mut v = example();
        edit(v.as_object_mut().unwrap());
        v
    }

    #[test]
    fn documented_example_parses_into_a_trigger() {
        let e = one(parse_create(&example()).unwrap());
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.dedup_key, "checkout-latency");
        let d = e.details.unwrap();
        assert_eq!(d.summary, "Checkout latency above 2s");
        assert_eq!(d.source, "prometheus");
        assert_eq!(d.severity, AlertSeverity::Critical);
        assert_eq!(d.component.as_deref(), Some("checkout-api"));
        assert_eq!(d.client.as_deref(), Some("Opsgenie"));
        assert_eq!(
            d.labels,
            BTreeMap::from([
                ("priority".into(), "P1".into()),
                ("region".into(), "eu-west-1".into()),
                ("service".into(), "checkout".into()),
                ("tags".into(), "OverwriteQuietHours,checkout".into()),
            ])
        );
        let c = &d.custom_details;
        assert_eq!(
            c["description"],
            "p99 latency of /checkout has been above 2s for 10 minutes"
        );
        assert_eq!(c["responders"][1]["name"], "NOC");
        assert_eq!(c["actions"], json!(["Restart", "Rollback"]));
        assert_eq!(c["tags"], json!(["OverwriteQuietHours", "checkout"]));
        assert_eq!(c["details"]["region"], "eu-west-1");
        assert_eq!(c["user"], "Monitoring");
        assert_eq!(c["note"], "Opened by the latency rule");
        assert_eq!(c["priority"], "P1");
    }

    #[test]
    fn priorities_map_to_severities_with_p3_by_default() {
        let severity = |body: Value| one(parse_create(&body).unwrap()).details.unwrap().severity;
        for (p, s) in [
            ("P1", AlertSeverity::Critical),
            ("P2", AlertSeverity::Error),
            ("P3", AlertSeverity::Warning),
            ("P4", AlertSeverity::Info),
            ("P5", AlertSeverity::Info),
        ] {
            assert_eq!(
                severity(with(|o| drop(o.insert("priority".into(), p.into())))),
                s
            );
        }
        let minimal = json!({"message": "disk full"});
        assert_eq!(severity(minimal.clone()), AlertSeverity::Warning);
        let d = one(parse_create(&minimal).unwrap()).details.unwrap();
        assert_eq!(d.labels["priority"], "P3");
        assert_eq!(d.source, "opsgenie");
        assert!(!d.labels.contains_key("tags"));
    }

    #[test]
    fn message_is_limited_to_130_characters() {
        let at_limit = json!({"message": "é".repeat(130)});
        assert!(parse_create(&at_limit).is_ok(), "characters, not bytes");
        let over = json!({"message": "x".repeat(131)});
        assert_eq!(field_errors(parse_create(&over)), ["message"]);
    }

    #[test]
    fn without_an_alias_the_message_is_the_dedup_key() {
        let key = |m: &str| one(parse_create(&json!({"message": m})).unwrap()).dedup_key;
        assert_eq!(key("disk full on db-1"), key("disk full on db-1"));
        assert_ne!(key("disk full on db-1"), key("disk full on db-2"));
        let blank_alias = json!({"message": "disk full on db-1", "alias": " "});
        assert_eq!(
            one(parse_create(&blank_alias).unwrap()).dedup_key,
            key("disk full on db-1")
        );
    }

    #[test]
    fn every_malformed_create_field_is_named() {
        assert_eq!(field_errors(parse_create(&json!("text"))), [""]);
        assert_eq!(field_errors(parse_create(&json!({}))), ["message"]);
        let cases: Vec<(Value, &[&str])> = vec![
            (
                with(|o| drop(o.insert("message".into(), " ".into()))),
                &["message"],
            ),
            (
                with(|o| drop(o.insert("message".into(), json!(5)))),
                &["message"],
            ),
            (
                with(|o| drop(o.insert("priority".into(), "P9".into()))),
                &["priority"],
            ),
            (
                with(|o| drop(o.insert("tags".into(), json!(["a", "b", 3])))),
                &["tags[2]"],
            ),
            (
                with(|o| drop(o.insert("tags".into(), "a,b".into()))),
                &["tags"],
            ),
            (
                with(|o| drop(o.insert("actions".into(), json!([{}])))),
                &["actions[0]"],
            ),
            (
                with(|o| drop(o.insert("responders".into(), json!({})))),
                &["responders"],
            ),
            (
                with(|o| drop(o.insert("visibleTo".into(), json!(["NOC"])))),
                &["visibleTo[0]"],
            ),
            (
                with(|o| drop(o.insert("details".into(), json!({"a": {"b": 1}})))),
                &["details.a"],
            ),
            (
                with(|o| drop(o.insert("details".into(), json!(["a"])))),
                &["details"],
            ),
            (
                with(|o| drop(o.insert("alias".into(), "k".repeat(513).into()))),
                &["alias"],
            ),
            (
                with(|o| drop(o.insert("description".into(), "d".repeat(15_001).into()))),
                &["description"],
            ),
            (
                with(|o| drop(o.insert("entity".into(), json!(1)))),
                &["entity"],
            ),
            (
                with(|o| {
                    o.insert("user".into(), json!(true));
                    o.insert("priority".into(), "high".into());
                }),
                &["user", "priority"],
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(field_errors(parse_create(&body)), expected, "{body}");
        }
    }

    #[test]
    fn scalar_details_are_kept_as_text() {
        let body = with(|o| drop(o.insert("details".into(), json!({"count": 5, "ok": false}))));
        let d = one(parse_create(&body).unwrap()).details.unwrap();
        assert_eq!(d.labels["count"], "5");
        assert_eq!(d.labels["ok"], "false");
    }

    #[test]
    fn close_and_acknowledge_act_on_the_alias() {
        let body = json!({"source": "cli", "user": "ana", "note": "fixed by restart"});
        let e = one(parse_action("checkout-latency", EventAction::Resolve, Some(&body)).unwrap());
        assert_eq!(
            (e.action, e.dedup_key.as_str(), e.details),
            (EventAction::Resolve, "checkout-latency", None)
        );
        let e = one(parse_action("checkout-latency", EventAction::Acknowledge, None).unwrap());
        assert_eq!(e.action, EventAction::Acknowledge);
        assert_eq!(e.dedup_key, "checkout-latency");
        assert!(parse_action("k", EventAction::Resolve, Some(&Value::Null)).is_ok());
    }

    #[test]
    fn malformed_close_and_acknowledge_requests_are_named() {
        let r = |alias: &str, action, body: Value| parse_action(alias, action, Some(&body));
        assert_eq!(
            field_errors(r("", EventAction::Resolve, json!({}))),
            ["alias"]
        );
        assert_eq!(field_errors(r("k", EventAction::Resolve, json!([]))), [""]);
        assert_eq!(
            field_errors(r("k", EventAction::Acknowledge, json!({"note": 1}))),
            ["note"]
        );
        assert_eq!(
            field_errors(r("k", EventAction::Trigger, json!({}))),
            ["action"]
        );
        assert_eq!(
            field_errors(r(&"k".repeat(513), EventAction::Resolve, json!({}))),
            ["alias"]
        );
    }

    #[test]
    fn request_ids_look_like_random_uuids() {
        let id = new_request_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert!(parts[2].starts_with('4'));
        assert_ne!(id, new_request_id());
    }
}
