//! Fuzzing of every parser an untrusted sender or a hand-written file reaches: the sender formats, the request-ID
//! decoder, integration settings, field mappings, catalog documents and the body redactor. Inputs are real
//! senders' bodies (`tests/fixtures`) with nodes replaced, removed and retyped, arbitrary JSON, arbitrary bytes, and
//! text with characters inserted and deleted. Every input must be answered with a value or an error, never a panic;
//! what a parser accepts must also hold up where it goes next (no NUL left for the database, the redactor keeps JSON
//! JSON).
//!
//! See `fuzzing/mod.rs` for how a run is sized and seeded.

mod fuzzing;

use chrono::{TimeZone, Utc};
use fuzzing::{bodies, edited_text, fuzz, hostile_string};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use tocsin_domain::alert::EventAction;
use tocsin_domain::catalog::{CatalogDocument, plan};
use tocsin_domain::integration::{IntegrationConfig, IntegrationKind};
use tocsin_domain::pagerduty;
use tocsin_domain::senders::generic::FieldMapping;
use tocsin_domain::senders::opsgenie::{Receipt, UpdateField};
use tocsin_domain::senders::{Batch, alertmanager, generic, grafana, opsgenie};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/", $name))
    };
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("a fixture is JSON")
}

/// Whether a parser accepted, checking what storing its batch relies on when it did.
fn accepted<E>(parsed: Result<Batch, E>) -> Result<bool, TestCaseError> {
    match parsed {
        Ok(batch) => stored(batch).map(|()| true),
        Err(_) => Ok(false),
    }
}

/// What storing an accepted batch relies on: NUL gone once replaced, digests computable.
fn stored(mut batch: Batch) -> Result<(), TestCaseError> {
    batch.replace_nul();
    let events = serde_json::to_string(&batch.events).expect("events serialize");
    prop_assert!(!events.contains("\\u0000"), "NUL left in {events}");
    let digests = batch.event_digests();
    let _ = batch.digest_of(&digests);
    Ok(())
}

fn pagerduty_corpus() -> Vec<Value> {
    vec![
        json(fixture!("corpus/pagerduty-trigger.json")),
        json(fixture!("corpus/pagerduty-resolve.json")),
        json(fixture!("corpus/pagerduty-change.json")),
        json(fixture!("alertmanager-0.25-pagerduty-v2-trigger.json")),
    ]
}

#[test]
fn pagerduty_events() {
    fuzz("pagerduty enqueue", bodies(pagerduty_corpus()), |body| {
        let mut accepted = false;
        for header in [None, Some("R0UT1NGKEY")] {
            if let Ok(e) = pagerduty::parse_enqueue(&body, header) {
                prop_assert!(e.event.dedup_key.chars().count() <= 255);
                stored(Batch::new(vec![e.event]))?;
                accepted = true;
            }
        }
        Ok(accepted)
    });
}

#[test]
fn pagerduty_change_events() {
    fuzz("pagerduty change", bodies(pagerduty_corpus()), |body| {
        let _ = pagerduty::parse_change(&body, None);
        Ok(pagerduty::parse_change(&body, Some("R0UT1NGKEY")).is_ok())
    });
}

fn alertmanager_corpus() -> Vec<Value> {
    vec![
        json(fixture!("alertmanager-0.25-webhook-v4-firing.json")),
        json(fixture!("corpus/grafana-webhook.json")),
        json(fixture!("corpus/prometheus-api-alerts.json")),
    ]
}

#[test]
fn alertmanager_webhooks() {
    fuzz(
        "alertmanager webhook",
        bodies(alertmanager_corpus()),
        |body| accepted(alertmanager::parse_webhook(&body)),
    );
}

#[test]
fn alertmanager_api_alerts() {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 1, 0).unwrap();
    fuzz(
        "prometheus api alerts",
        bodies(alertmanager_corpus()),
        |body| accepted(alertmanager::parse_api_alerts(&body, now)),
    );
}

#[test]
fn grafana_webhooks() {
    fuzz("grafana webhook", bodies(alertmanager_corpus()), |body| {
        accepted(grafana::parse(&body))
    });
}

fn opsgenie_corpus() -> Vec<Value> {
    vec![
        json(fixture!("corpus/opsgenie-create.json")),
        json(fixture!("corpus/opsgenie-action.json")),
        json(fixture!("corpus/opsgenie-update.json")),
    ]
}

#[test]
fn opsgenie_requests() {
    let inputs = (
        bodies(opsgenie_corpus()),
        hostile_string(),
        prop::sample::select(vec![EventAction::Acknowledge, EventAction::Resolve]),
        prop::sample::select(vec![
            UpdateField::Message,
            UpdateField::Description,
            UpdateField::Priority,
        ]),
    );
    fuzz("opsgenie", inputs, |(body, alias, action, field)| {
        let created = accepted(opsgenie::parse_create(&body))?;
        let acted = accepted(opsgenie::parse_action(&alias, action, Some(&body)))?;
        let updated = accepted(opsgenie::parse_update(&alias, field, &body))?;
        Ok(created || acted || updated)
    });
}

#[test]
fn opsgenie_request_ids() {
    use base64::Engine;
    let encode = |text: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    // A fixed ID, so that the inputs, and any failure, are the same on every run.
    let alert = "alr_01JDZ8Y6M4Q2W3E4R5T6Y7V8X9";
    assert!(tocsin_domain::ids::AlertId::parse(alert).is_some());
    // Receipts as Tocsin hands them out, before encoding, for edits to reach past the base64 decoding.
    let receipts: Vec<&'static str> = vec![
        Box::leak(format!("1.Create.created.1763892000000.{alert}").into_boxed_str()),
        "1.Close.none.1763892000000.",
        Box::leak(format!("1.Acknowledge.unchanged.-62135596800000.{alert}").into_boxed_str()),
    ];
    let ids = prop_oneof![
        2 => edited_text(receipts).prop_map(encode),
        1 => hostile_string(),
        1 => prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)),
    ];
    fuzz("opsgenie request id", ids, |id| {
        Ok(Receipt::parse(&id).is_some())
    });
}

#[test]
fn generic_bodies_and_mappings() {
    let mappings = bodies(vec![
        json(fixture!("corpus/generic-mapping.json")),
        json(fixture!("corpus/generic-items-mapping.json")),
    ]);
    let events = bodies(vec![
        json(fixture!("corpus/generic-datadog.json")),
        json(fixture!("corpus/generic-items.json")),
        json(fixture!("corpus/pagerduty-trigger.json")),
    ]);
    fuzz("generic", (mappings, events), |(mapping, body)| {
        let mapping = match serde_json::from_value::<FieldMapping>(mapping) {
            Ok(m) if m.validate().is_ok() => m,
            _ => FieldMapping::default(),
        };
        accepted(generic::parse(&body, &mapping))
    });
}

#[test]
fn integration_settings() {
    let corpus = vec![
        serde_json::json!({"rate_limit": {"per_second": 50, "burst": 500, "events_per_second": 10, "event_burst": 100}}),
        serde_json::json!({"mapping": json(fixture!("corpus/generic-mapping.json"))}),
        serde_json::json!({"heartbeat": {"interval_seconds": 300, "grace_seconds": 60}}),
    ];
    fuzz("integration settings", bodies(corpus), |config| {
        let Ok(c) = serde_json::from_value::<IntegrationConfig>(config) else {
            return Ok(false);
        };
        let _ = (c.request_rate(), c.event_rate());
        Ok(IntegrationKind::ALL
            .into_iter()
            .any(|kind| c.validate(kind).is_ok()))
    });
}

const CATALOG: &str = fixture!("corpus/catalog.yaml");

#[test]
fn catalog_documents_as_yaml() {
    let current: CatalogDocument =
        serde_yaml_ng::from_str(CATALOG).expect("the fixture is a catalog");
    fuzz("catalog yaml", edited_text(vec![CATALOG]), |text| {
        let Ok(doc) = serde_yaml_ng::from_str::<CatalogDocument>(&text) else {
            return Ok(false);
        };
        let _ = plan(&current, &doc);
        let _ = plan(&doc, &doc);
        Ok(plan(&CatalogDocument::default(), &doc).is_ok())
    });
}

#[test]
fn catalog_documents_as_json() {
    let current: CatalogDocument =
        serde_yaml_ng::from_str(CATALOG).expect("the fixture is a catalog");
    let as_json = serde_json::to_value(&current).expect("a catalog serializes");
    fuzz("catalog json", bodies(vec![as_json]), |value| {
        let Ok(doc) = serde_json::from_value::<CatalogDocument>(value) else {
            return Ok(false);
        };
        let _ = plan(&current, &doc);
        Ok(plan(&CatalogDocument::default(), &doc).is_ok())
    });
}

/// Raw bytes as they arrive: JSON parsing with its own limits, then the redactor, which sees every kept body, also
/// cut short or not JSON at all; what was JSON stays JSON.
#[test]
fn raw_bodies_and_redaction() {
    let texts: Vec<&'static str> = vec![
        fixture!("corpus/pagerduty-trigger.json"),
        fixture!("corpus/opsgenie-create.json"),
        fixture!("alertmanager-0.25-webhook-v4-firing.json"),
        r#"{"routing_key": "abc", "token": "t", "nested": {"password": "p", "api_key": ["k"]}}"#,
    ];
    let inputs = prop_oneof![
        2 => edited_text(texts),
        1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => (1usize..200_000).prop_map(|n| "[".repeat(n)),
    ];
    fuzz("raw bodies and redaction", inputs, |text| {
        let parsed = serde_json::from_str::<Value>(&text);
        let redacted = tocsin_domain::redact::json_credentials(&text);
        if parsed.is_ok() {
            prop_assert!(
                serde_json::from_str::<Value>(&redacted).is_ok(),
                "redaction broke JSON: {redacted}"
            );
        }
        Ok(parsed.is_ok())
    });
}
