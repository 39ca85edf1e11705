//! What the load sends: the body of every request on every connection.
//!
//! Bodies are serialized before the clock starts wherever the content allows, because the load generator shares the
//! cores with the server under test and every microsecond it spends on JSON is one the server does not get.

use anyhow::Context;
use hyper::body::Bytes;
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::Arc;

/// Where each connection's bodies come from, and how many alerts each request carries.
#[derive(Clone)]
pub enum Bodies {
    /// One event per request, keyed by a never-sent key with probability `new_ratio`, else by a key from `pool`;
    /// seeding sends every key of the pool once, so that those repeats deduplicate rather than open alerts.
    Keyed {
        template: Arc<Template>,
        pool: Arc<[String]>,
        new_ratio: f64,
    },
    /// Connection `i` seeds with `per_connection[i][0]`, then sends the rest in rotation, back to the first.
    Cycled {
        per_connection: Arc<[Vec<Bytes>]>,
        alerts_per_request: usize,
    },
}

impl Bodies {
    pub fn alerts_per_request(&self) -> usize {
        match self {
            Self::Keyed { .. } => 1,
            Self::Cycled {
                alerts_per_request, ..
            } => *alerts_per_request,
        }
    }

    /// The requests that set up the state the load then repeats or changes; any order, any connection.
    pub fn seeds(&self) -> Vec<Bytes> {
        match self {
            Self::Keyed { template, pool, .. } => pool.iter().map(|k| template.render(k)).collect(),
            Self::Cycled { per_connection, .. } => {
                per_connection.iter().map(|b| b[0].clone()).collect()
            }
        }
    }

    /// The source of connection `conn`'s bodies during the load.
    pub fn cursor(&self, conn: usize) -> anyhow::Result<Cursor> {
        Ok(match self {
            Self::Keyed {
                template,
                pool,
                new_ratio,
            } => {
                anyhow::ensure!(
                    !pool.is_empty() || *new_ratio >= 1.0,
                    "repeats need at least one seeded key"
                );
                Cursor::Keyed {
                    keys: KeyMix::new(conn, pool.clone(), *new_ratio),
                    template: template.clone(),
                }
            }
            Self::Cycled { per_connection, .. } => {
                let bodies = per_connection
                    .get(conn)
                    .filter(|b| !b.is_empty())
                    .with_context(|| format!("no bodies for connection {conn}"))?
                    .clone();
                // The first body is the seeded state: starting on it would make the first request a repeat.
                let next = 1 % bodies.len();
                Cursor::Cycled { bodies, next }
            }
        })
    }
}

/// One connection's position in its bodies.
pub enum Cursor {
    Keyed {
        keys: KeyMix,
        template: Arc<Template>,
    },
    Cycled {
        bodies: Vec<Bytes>,
        next: usize,
    },
}

impl Cursor {
    pub fn next(&mut self) -> Bytes {
        match self {
            Self::Keyed { keys, template } => template.render(keys.next()),
            Self::Cycled { bodies, next } => {
                let body = bodies[*next].clone();
                *next = (*next + 1) % bodies.len();
                body
            }
        }
    }
}

/// A JSON body serialized once, with a hole for the one string that changes between requests.
pub struct Template {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Template {
    pub const HOLE: &str = "__tocsin_bench_key__";

    pub fn new(value: &Value) -> anyhow::Result<Self> {
        let text = value.to_string();
        let quoted = format!("\"{}\"", Self::HOLE);
        let at = text.find(&quoted).context("the body has no key hole")?;
        Ok(Self {
            head: text.as_bytes()[..=at].to_vec(),
            tail: text.as_bytes()[at + quoted.len() - 1..].to_vec(),
        })
    }

    /// Keys are the benchmark's own (letters, digits, dashes), so they go in without escaping.
    fn render(&self, key: &str) -> Bytes {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        let mut out = Vec::with_capacity(self.head.len() + key.len() + self.tail.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&self.tail);
        Bytes::from(out)
    }
}

/// The keys that already exist on the target, so that repeats deduplicate rather than open new alerts.
pub fn seed_keys(count: usize) -> Arc<[String]> {
    (0..count).map(|i| format!("seed-{i}")).collect()
}

/// Chooses each request's key: a new one with probability `new_ratio`, else a uniformly drawn seeded one.
pub struct KeyMix {
    conn: usize,
    sent_new: u64,
    pool: Arc<[String]>,
    new_threshold: u64,
    rng: SplitMix64,
    buf: String,
}

impl KeyMix {
    fn new(conn: usize, pool: Arc<[String]>, new_ratio: f64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            conn,
            sent_new: 0,
            pool,
            new_threshold: (new_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            rng: SplitMix64(nanos ^ (conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            buf: String::new(),
        }
    }

    fn next(&mut self) -> &str {
        let draw = self.rng.next();
        if draw < self.new_threshold || self.pool.is_empty() {
            self.buf.clear();
            let _ = write!(self.buf, "new-{}-{}", self.conn, self.sent_new);
            self.sent_new += 1;
            &self.buf
        } else {
            let len = self.pool.len() as u64;
            &self.pool[(self.rng.next() % len) as usize]
        }
    }
}

/// Fast, good-enough randomness for picking keys; nothing here needs to be unpredictable.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Alertmanager alert groups, one per connection, rendered both as the webhook bodies Alertmanager sends Tocsin and
/// as the `/api/v2/alerts` bodies Prometheus sends Alertmanager, so that both servers see the same alerts change in
/// the same way.
///
/// With changes, a group goes through `2 × blocks` states: each step flips the `value` annotation of one block of
/// alerts (a tenth of the group), in rotation. Every request thus changes exactly one block against the state
/// before it, and after two full turns the group is back where it began, so a few precomputed states give an
/// endless run of real changes.
pub struct Groups {
    /// Set apart per scenario, so that one scenario's alerts are not already stored when the next seeds its own.
    prefix: &'static str,
    count: usize,
    size: usize,
    changes: bool,
    starts_at: String,
}

const ALERTNAME: &str = "TocsinBench";

impl Groups {
    pub fn new(
        prefix: &'static str,
        count: usize,
        size: usize,
        changes: bool,
        starts_at: &str,
    ) -> Self {
        Self {
            prefix,
            count,
            size,
            changes,
            starts_at: starts_at.to_owned(),
        }
    }

    /// Alerts whose annotation a request changes; a tenth of the group, at least one.
    pub fn changed_per_request(size: usize) -> usize {
        size.div_ceil(10).max(1)
    }

    fn blocks(&self) -> usize {
        self.size.div_ceil(Self::changed_per_request(self.size))
    }

    fn states(&self) -> usize {
        if self.changes { 2 * self.blocks() } else { 1 }
    }

    /// Whether `block` has been flipped an odd number of times once `state` steps have been taken.
    fn flipped(&self, block: usize, state: usize) -> bool {
        let blocks = self.blocks();
        (state + blocks - 1 - block) / blocks % 2 == 1
    }

    fn group_name(&self, group: usize) -> String {
        format!("{}-{group}", self.prefix)
    }

    /// One alert's labels and annotations in a state of its group.
    fn alert(&self, group: usize, i: usize, state: usize) -> (Value, Value) {
        let block = i / Self::changed_per_request(self.size);
        let value = if self.flipped(block, state) { "1" } else { "0" };
        let labels = json!({
            "alertname": ALERTNAME,
            "group": self.group_name(group),
            "instance": format!("host-{i}"),
            "severity": "error",
        });
        let annotations = json!({
            "summary": format!("bench alert {i} of group {group}"),
            "value": value,
        });
        (labels, annotations)
    }

    fn bodies(&self, render: impl Fn(usize, usize) -> Value) -> Bodies {
        let per_connection: Arc<[Vec<Bytes>]> = (0..self.count)
            .map(|g| {
                (0..self.states())
                    .map(|s| Bytes::from(render(g, s).to_string()))
                    .collect()
            })
            .collect();
        Bodies::Cycled {
            per_connection,
            alerts_per_request: self.size,
        }
    }

    /// Alertmanager's `webhook_configs` bodies (version 4): the whole group in each.
    pub fn webhook(&self) -> Bodies {
        self.bodies(|g, s| {
            let name = self.group_name(g);
            let alerts: Vec<Value> = (0..self.size)
                .map(|i| {
                    let (labels, annotations) = self.alert(g, i, s);
                    json!({
                        "status": "firing",
                        "labels": labels,
                        "annotations": annotations,
                        "startsAt": self.starts_at,
                        "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "",
                        "fingerprint": fingerprint(&name, i),
                    })
                })
                .collect();
            json!({
                "version": "4",
                "groupKey": format!("{{}}:{{group=\"{name}\"}}"),
                "status": "firing",
                "receiver": "tocsin-bench",
                "groupLabels": { "group": name },
                "commonLabels": { "alertname": ALERTNAME, "group": name, "severity": "error" },
                "commonAnnotations": {},
                "externalURL": "http://am",
                "truncatedAlerts": 0,
                "alerts": alerts,
            })
        })
    }

    /// Alertmanager's own `POST /api/v2/alerts` bodies with the same alerts. No `endsAt`: Alertmanager then keeps
    /// each alert firing for its resolve timeout after every post, as it would for the webhook's open-ended alerts.
    pub fn alerts_api(&self) -> Bodies {
        self.bodies(|g, s| {
            let alerts: Vec<Value> = (0..self.size)
                .map(|i| {
                    let (labels, annotations) = self.alert(g, i, s);
                    json!({ "labels": labels, "annotations": annotations, "startsAt": self.starts_at })
                })
                .collect();
            Value::Array(alerts)
        })
    }
}

/// A stable stand-in for Alertmanager's fingerprint: 16 hex digits (FNV-1a) of the labels that vary.
fn fingerprint(group: &str, i: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group.bytes().chain([0]).chain(i.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `count` firing alerts numbered from `first`, each with a fingerprint of its own: what the hostile senders of
/// `cache-memory` and `ingest-flood` post.
pub fn numbered_alerts(first: u64, count: usize) -> Vec<Value> {
    (first..first + count as u64)
        .map(|id| {
            json!({"status": "firing", "labels": {"alertname": "Hostile", "instance": format!("host-{id}")},
                   "annotations": {"summary": "hostile sender"}, "startsAt": "2026-11-30T10:00:00Z",
                   "endsAt": "0001-01-01T00:00:00Z", "fingerprint": format!("{id:016x}")})
        })
        .collect()
}

/// An Alertmanager webhook body (version 4) carrying `alerts` under `group_key`.
pub fn webhook_body(group_key: &str, alerts: &[Value]) -> Value {
    json!({"version": "4", "status": "firing", "receiver": "bench", "groupKey": group_key, "alerts": alerts})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fills_the_hole() {
        let t = Template::new(&json!({ "a": [1, { "k": Template::HOLE }], "z": "x" })).unwrap();
        let body: Value = serde_json::from_slice(&t.render("new-1-2")).unwrap();
        assert_eq!(body, json!({ "a": [1, { "k": "new-1-2" }], "z": "x" }));
    }

    #[test]
    fn key_mix_follows_the_ratio_and_new_keys_never_repeat() {
        let pool = seed_keys(100);
        let mut mix = KeyMix::new(3, pool, 0.2);
        let mut new = std::collections::HashSet::new();
        let total = 100_000;
        for _ in 0..total {
            let key = mix.next().to_owned();
            if key.starts_with("new-3-") {
                assert!(new.insert(key), "a new key repeated");
            } else {
                assert!(key.starts_with("seed-"), "{key}");
            }
        }
        let share = new.len() as f64 / total as f64;
        assert!((0.19..0.21).contains(&share), "{share}");
    }

    const STARTS_AT: &str = "2026-11-23T23:31:47.000Z";

    fn sent(bodies: &Bodies, conn: usize, n: usize) -> Vec<Value> {
        let mut cursor = bodies.cursor(conn).unwrap();
        let mut out = vec![serde_json::from_slice(&bodies.seeds()[conn]).unwrap()];
        out.extend((0..n).map(|_| serde_json::from_slice(&cursor.next()).unwrap()));
        out
    }

    #[test]
    fn every_change_request_changes_a_tenth_of_the_group_and_different_alerts_each_time() {
        let bodies = Groups::new("c", 2, 100, true, STARTS_AT).webhook();
        let requests = sent(&bodies, 1, 45);
        let mut changed_alerts = std::collections::HashSet::new();
        for pair in requests.windows(2) {
            let (a, b) = (&pair[0]["alerts"], &pair[1]["alerts"]);
            let differ: Vec<usize> = (0..100).filter(|&i| a[i] != b[i]).collect();
            assert_eq!(differ.len(), 10, "{differ:?}");
            assert!(
                differ
                    .iter()
                    .all(|i| b[i]["annotations"] != a[i]["annotations"])
            );
            assert!(
                differ
                    .iter()
                    .all(|i| b[i]["fingerprint"] == a[i]["fingerprint"])
            );
            changed_alerts.extend(differ);
            assert_eq!(pair[0]["groupKey"], pair[1]["groupKey"]);
        }
        assert_eq!(changed_alerts.len(), 100);
        assert_ne!(requests[0]["groupKey"], sent(&bodies, 0, 0)[0]["groupKey"]);
    }

    #[test]
    fn unchanged_resends_repeat_the_seed_and_both_formats_carry_the_same_alerts() {
        let groups = Groups::new("u", 3, 100, false, STARTS_AT);
        let webhook = sent(&groups.webhook(), 2, 3);
        assert!(webhook.iter().all(|b| *b == webhook[0]));
        let alerts = webhook[0]["alerts"].as_array().unwrap();
        let fingerprints: std::collections::HashSet<_> =
            alerts.iter().map(|a| a["fingerprint"].clone()).collect();
        assert_eq!(fingerprints.len(), 100);
        let api = &sent(&groups.alerts_api(), 2, 0)[0];
        for (w, a) in alerts.iter().zip(api.as_array().unwrap()) {
            assert_eq!(w["labels"], a["labels"]);
            assert_eq!(w["annotations"], a["annotations"]);
        }
    }
}
