//! The fuzzing machinery shared by the fuzz targets of every crate: a bounded, seeded proptest run per target
//! that counts its inputs, and the inputs hostile senders and hand-edited files produce (mutated real documents,
//! arbitrary JSON, edited text).
//!
//! `TOCSIN_FUZZ_CASES` sets the inputs per target (default 1,500, a CI-sized run) and `TOCSIN_FUZZ_SEED` the seed
//! (default fixed, so a run is repeatable); each target prints how many inputs it tried and how many the parser
//! accepted. A failure is shrunk to a minimal input by proptest and printed.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::Value;

pub fn cases() -> u32 {
    std::env::var("TOCSIN_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_500)
}

/// Runs `check` on `cases()` inputs from `inputs`, failing (with the shrunk input) on a panic or a failed check.
/// `check` says whether the parser accepted the input: the count shows the inputs reach past the first refusal.
pub fn fuzz<S: Strategy>(
    target: &str,
    inputs: S,
    check: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let accepted = std::sync::atomic::AtomicU32::new(0);
    let seed: u64 = std::env::var("TOCSIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0070_531a);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8..8 + target.len().min(24)]
        .copy_from_slice(&target.as_bytes()[..target.len().min(24)]);
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let started = std::time::Instant::now();
    let outcome = runner.run(&inputs, |input| {
        if check(input)? {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("fuzz {target} (seed {seed}): {e}");
    }
    eprintln!(
        "fuzz {target}: {} inputs ({} accepted), 0 panics, {:.1} s",
        cases(),
        accepted.into_inner(),
        started.elapsed().as_secs_f64()
    );
}

/// Strings a hostile sender would try: anything, control characters, NUL, huge, and the words parsers look for.
pub fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[a-zA-Z0-9_./:@-]{0,16}",
        1 => Just("\0".to_owned()),
        1 => Just("\u{1b}[31m\u{7}".to_owned()),
        1 => (0usize..3).prop_map(|i| "x".repeat([256, 1_025, 70_000][i])),
        2 => prop::sample::select(vec![
            "", " ", "trigger", "acknowledge", "resolve", "firing", "resolved", "alerting", "ok", "critical",
            "error", "warning", "info", "P1", "P5", "SEV-0", "none", "0001-01-01T00:00:00Z",
            "2026-11-23T10:00:00Z", "9999-12-31T23:59:59Z", "-1", "1e309", "NaN", "/", "/a/0", "~1", "{}",
            "[]", "sha256:", "by_key", "time_window", "labels", "sender_group",
        ]).prop_map(str::to_owned),
    ]
}

/// Object keys: mostly the ones the formats use, so mutations reach past the first "unknown field" check.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "routing_key", "event_action", "dedup_key", "payload", "summary", "source", "severity", "timestamp",
            "custom_details", "links", "images", "href", "src", "text", "alerts", "status", "labels",
            "annotations", "startsAt", "endsAt", "fingerprint", "groupKey", "version", "state", "message",
            "alias", "priority", "details", "tags", "responders", "values", "items", "value_maps", "mapping",
            "rate_limit", "per_second", "events_per_second", "heartbeat", "interval_seconds", "users", "teams",
            "services", "name", "email", "members", "team", "depends_on", "grouping", "mode", "key", "type",
        ]).prop_map(str::to_owned),
        1 => hostile_string(),
    ]
}

pub fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        hostile_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every node of `doc`, as JSON pointers.
pub fn pointers(doc: &Value, at: String, out: &mut Vec<String>) {
    match doc {
        Value::Object(m) => {
            for (k, v) in m {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

#[derive(Debug, Clone)]
pub enum Mutation {
    Replace(Value),
    Remove,
    AddKey(String, Value),
    Repeat(usize),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => arbitrary_json().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        2 => (key(), arbitrary_json()).prop_map(|(k, v)| Mutation::AddKey(k, v)),
        1 => (2usize..300).prop_map(Mutation::Repeat),
    ]
}

pub fn mutate(mut doc: Value, mutations: Vec<(Index, Mutation)>) -> Value {
    for (at, m) in mutations {
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let pointer = at.get(&all).clone();
        let (parent, last) = match pointer.rfind('/') {
            Some(i) => (
                pointer[..i].to_owned(),
                pointer[i + 1..].replace("~1", "/").replace("~0", "~"),
            ),
            None => (String::new(), String::new()),
        };
        match m {
            Mutation::Replace(v) => {
                if let Some(node) = doc.pointer_mut(&pointer) {
                    *node = v;
                }
            }
            Mutation::Remove => match doc.pointer_mut(&parent) {
                Some(Value::Object(o)) => {
                    o.remove(&last);
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => {}
            },
            Mutation::AddKey(k, v) => {
                if let Some(Value::Object(o)) = doc.pointer_mut(&pointer) {
                    o.insert(k, v);
                }
            }
            Mutation::Repeat(n) => {
                if let Some(Value::Array(a)) = doc.pointer_mut(&pointer)
                    && let Some(first) = a.first().cloned()
                {
                    a.extend(std::iter::repeat_n(first, n));
                }
            }
        }
    }
    doc
}

/// Real bodies with one to four mutations (three in four inputs), else arbitrary JSON.
pub fn bodies(corpus: Vec<Value>) -> impl Strategy<Value = Value> {
    let mutated = (
        prop::sample::select(corpus),
        prop::collection::vec((any::<Index>(), mutation()), 1..5),
    )
        .prop_map(|(doc, mutations)| mutate(doc, mutations));
    prop_oneof![3 => mutated, 1 => arbitrary_json()]
}

/// Text with up to five characters or strings inserted or deleted (sometimes none, so the original is tried too).
pub fn edited_text(corpus: Vec<&'static str>) -> impl Strategy<Value = String> {
    (
        prop::sample::select(corpus),
        prop::collection::vec(
            (any::<Index>(), 0u8..3, any::<char>(), hostile_string()),
            0..6,
        ),
    )
        .prop_map(|(text, edits)| {
            let mut chars: Vec<char> = text.chars().collect();
            for (at, op, c, s) in edits {
                let i = if chars.is_empty() {
                    0
                } else {
                    at.index(chars.len())
                };
                match op {
                    0 if !chars.is_empty() => {
                        chars.remove(i);
                    }
                    1 => chars.insert(i, c),
                    _ => {
                        for (n, c) in s.chars().take(64).enumerate() {
                            chars.insert(i + n, c);
                        }
                    }
                }
            }
            chars.into_iter().collect()
        })
}
