//! The wire formats of senders other than PagerDuty, each parsed into [`AlertEvent`]s.
//!
//! One module per format; each turns a request body into a [`Batch`] or a [`ValidationErrors`] naming every bad
//! field (paths like `alerts[2].labels`). Parsers are pure: the current time, when a format needs it, is passed in.

pub mod alertmanager;
pub mod generic;
pub mod grafana;
pub mod opsgenie;

use crate::alert::AlertEvent;
use crate::error::ValidationErrors;
use crate::severity::AlertSeverity;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What one request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub events: Vec<AlertEvent>,
    /// The sender's own grouping of these alerts (Alertmanager's `groupKey`), when it has one. A sender that
    /// re-sends a group's whole state sends the same key each time.
    pub group_key: Option<String>,
    /// The digest of the whole group state this request carried ([`Batch::digest_of`]), when the intake computed
    /// it: stored with the batch as the group's latest state, so that any process can tell a later re-send of it.
    pub group_state: Option<String>,
}

/// NUL is the one character no database column takes (PostgreSQL refuses it in text and JSON); a sender's NUL
/// becomes U+FFFD, as an unreadable byte does, so the event is kept rather than failing to store.
fn without_nul(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

fn json_without_nul(v: &mut Value) {
    match v {
        Value::String(s) => without_nul(s),
        Value::Array(items) => items.iter_mut().for_each(json_without_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let fixed: Map<String, Value> = std::mem::take(map)
                    .into_iter()
                    .map(|(mut k, v)| {
                        without_nul(&mut k);
                        (k, v)
                    })
                    .collect();
                *map = fixed;
            }
            map.values_mut().for_each(json_without_nul);
        }
        _ => {}
    }
}

fn map_without_nul(m: &mut BTreeMap<String, String>) {
    if m.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        *m = std::mem::take(m)
            .into_iter()
            .map(|(mut k, mut v)| {
                without_nul(&mut k);
                without_nul(&mut v);
                (k, v)
            })
            .collect();
    }
}

impl Batch {
    /// Replaces NUL in every text the events carry (see [`without_nul`]).
    pub fn replace_nul(&mut self) {
        if let Some(g) = self.group_key.as_mut() {
            without_nul(g);
        }
        for e in &mut self.events {
            without_nul(&mut e.dedup_key);
            if let Some(d) = e.details.as_mut() {
                for s in [&mut d.summary, &mut d.source] {
                    without_nul(s);
                }
                for s in [
                    &mut d.component,
                    &mut d.group,
                    &mut d.class,
                    &mut d.client,
                    &mut d.client_url,
                ]
                .into_iter()
                .flatten()
                {
                    without_nul(s);
                }
                map_without_nul(&mut d.labels);
                json_without_nul(&mut d.custom_details);
                for l in &mut d.links {
                    without_nul(&mut l.href);
                    if let Some(t) = l.text.as_mut() {
                        without_nul(t);
                    }
                }
                for i in &mut d.images {
                    without_nul(&mut i.src);
                    for s in [&mut i.href, &mut i.alt].into_iter().flatten() {
                        without_nul(s);
                    }
                }
            }
            if let Some(p) = e.patch.as_mut() {
                if let Some(s) = p.summary.as_mut() {
                    without_nul(s);
                }
                map_without_nul(&mut p.labels);
                p.custom_details.values_mut().for_each(json_without_nul);
            }
        }
    }

    pub fn new(events: Vec<AlertEvent>) -> Self {
        Self {
            events,
            group_key: None,
            group_state: None,
        }
    }

    /// A digest of each event: what it says, so that an equal digest means a re-send that changes nothing.
    pub fn event_digests(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| {
                hex::encode(Sha256::digest(
                    serde_json::to_vec(e).expect("events serialize"),
                ))
            })
            .collect()
    }

    /// A digest of everything the batch says, independent of the order of its events: equal digests mean a re-send
    /// of the same state, which changes nothing. `event_digests` are [`Batch::event_digests`], passed in because
    /// callers that need both compute them once.
    pub fn digest_of(&self, event_digests: &[String]) -> String {
        let mut sorted: Vec<&str> = event_digests.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let mut h = Sha256::new();
        h.update(self.group_key.as_deref().unwrap_or("").as_bytes());
        for d in sorted {
            h.update([0]);
            h.update(d.as_bytes());
        }
        hex::encode(h.finalize())
    }

    pub fn digest(&self) -> String {
        self.digest_of(&self.event_digests())
    }
}

/// An optional string field: absent, `null` and blank all count as absent; anything else but a string is named
/// as an error at `path`.
pub(crate) fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
    errs: &mut ValidationErrors,
) -> Option<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errs.push(path, "must be a string");
            None
        }
    }
}

/// An object of strings (labels, annotations) at `path`, naming each value that is not a string. `required`
/// distinguishes labels, without which an alert has no identity, from annotations, which are optional.
pub(crate) fn string_map(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    required: bool,
    errs: &mut ValidationErrors,
) -> Option<BTreeMap<String, String>> {
    let items = match obj.get(key) {
        None | Some(Value::Null) if required => {
            errs.push(path, "is required (an object of strings)");
            return None;
        }
        None | Some(Value::Null) => return Some(BTreeMap::new()),
        Some(Value::Object(m)) => m,
        Some(_) => {
            errs.push(path, "must be an object of strings");
            return None;
        }
    };
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, v) in items {
        match v {
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            _ => {
                errs.push(format!("{path}.{k}"), "must be a string");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// The severity a label or priority word stands for, in the vocabularies monitoring tools use.
pub fn severity_from_word(word: &str) -> Option<AlertSeverity> {
    match word.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "fatal" | "emergency" | "page" | "disaster" | "p1" | "sev0"
        | "sev-0" | "sev1" | "sev-1" => Some(AlertSeverity::Critical),
        "error" | "err" | "high" | "major" | "p2" | "sev2" | "sev-2" => Some(AlertSeverity::Error),
        "warning" | "warn" | "medium" | "minor" | "average" | "p3" | "sev3" | "sev-3" => {
            Some(AlertSeverity::Warning)
        }
        "info" | "informational" | "low" | "none" | "ok" | "notice" | "p4" | "p5" | "debug" => {
            Some(AlertSeverity::Info)
        }
        _ => None,
    }
}

/// A stable fingerprint of a label set, for senders that identify alerts only by their labels (as Alertmanager
/// does): the same labels always give the same 16 hex digits, whatever their order.
/// The longest dedup key or fingerprint a sender may give: PagerDuty's limit, kept for every sender so that no
/// alert makes Tocsin hold a key of any size (Opsgenie's aliases keep Opsgenie's own 512).
pub const MAX_KEY_CHARS: usize = 255;

/// Records a refusal when a sender's key is longer than [`MAX_KEY_CHARS`].
pub fn check_key_len(key: Option<&str>, field: &str, errs: &mut ValidationErrors) {
    if key.is_some_and(|k| k.chars().count() > MAX_KEY_CHARS) {
        errs.push(field, format!("must be at most {MAX_KEY_CHARS} characters"));
    }
}

/// A sender's group key as kept: as given up to [`MAX_KEY_CHARS`], else a digest of it. Group keys name label
/// sets and may grow long with many grouping labels; the digest still groups (a key always gives the same one)
/// while taking bounded memory.
pub fn bounded_group_key(key: String) -> String {
    if key.chars().count() <= MAX_KEY_CHARS {
        return key;
    }
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0xff]);
        h.update(v.as_bytes());
        h.update([0xfe]);
    }
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertDetails, EventAction};

    #[test]
    fn nul_becomes_a_replacement_character_everywhere_an_event_carries_text() {
        let mut d = AlertDetails::new("disk\0full", "db\u{0}1", AlertSeverity::Error);
        d.labels.insert("k\0".into(), "v\0".into());
        d.custom_details = serde_json::json!({"a\u{0}": ["x\u{0}", {"b": "y\u{0}"}]});
        let mut batch = Batch::new(vec![AlertEvent {
            patch: None,
            action: EventAction::Trigger,
            dedup_key: "key\0".into(),
            details: Some(d),
        }]);
        batch.replace_nul();
        let text = serde_json::to_string(&batch.events).unwrap();
        assert!(!text.contains("\\u0000"), "{text}");
        assert_eq!(batch.events[0].dedup_key, "key\u{FFFD}");
    }

    #[test]
    fn digest_ignores_order_and_sees_changes() {
        let ev = |k: &str, s: AlertSeverity| AlertEvent {
            patch: None,
            action: EventAction::Trigger,
            dedup_key: k.into(),
            details: Some(AlertDetails::new("x", "y", s)),
        };
        let a = Batch {
            events: vec![ev("1", AlertSeverity::Error), ev("2", AlertSeverity::Error)],
            group_key: Some("g".into()),
            group_state: None,
        };
        let b = Batch {
            events: vec![ev("2", AlertSeverity::Error), ev("1", AlertSeverity::Error)],
            group_key: Some("g".into()),
            group_state: None,
        };
        let c = Batch {
            events: vec![
                ev("2", AlertSeverity::Warning),
                ev("1", AlertSeverity::Error),
            ],
            group_key: Some("g".into()),
            group_state: None,
        };
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn long_group_keys_are_kept_as_digests_and_short_ones_as_given() {
        assert_eq!(bounded_group_key("g".into()), "g");
        let long = "{}:{alertname=\"x\"}".repeat(40);
        let kept = bounded_group_key(long.clone());
        assert!(kept.starts_with("sha256:") && kept.len() == 71, "{kept}");
        assert_eq!(
            kept,
            bounded_group_key(long),
            "the same key, the same group"
        );
        let mut errs = ValidationErrors::default();
        check_key_len(Some(&"f".repeat(256)), "fingerprint", &mut errs);
        check_key_len(Some(&"f".repeat(255)), "ok", &mut errs);
        assert_eq!(errs.0.len(), 1);
    }

    #[test]
    fn fingerprints_are_stable_and_words_map() {
        let l1: BTreeMap<_, _> = [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]
        .into();
        let l2: BTreeMap<_, _> = [("a".to_owned(), "12".to_owned())].into();
        assert_eq!(fingerprint(&l1).len(), 16);
        assert_ne!(fingerprint(&l1), fingerprint(&l2));
        assert_eq!(severity_from_word("P1"), Some(AlertSeverity::Critical));
        assert_eq!(severity_from_word("warn"), Some(AlertSeverity::Warning));
        assert_eq!(severity_from_word("bogus"), None);
    }
}
