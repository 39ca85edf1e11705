//! The engine against the store directly: two processes' engines on one database never page twice.

use crate::support::TestDatabase;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tocsin::engine::{Engine, EngineSettings, Renderer};
use tocsin::notify::{Outgoing, SendOutcome, Transport};
use tocsin_domain::catalog::{Email, HttpUrl, PersonName, TimeZone, UserSpec};
use tocsin_domain::clock::ManualClock;
use tocsin_domain::contact::{ContactMethodSpec, ContactTarget};
use tocsin_domain::escalation::{EscalationLevel, EscalationPolicySpec, EscalationTarget};
use tocsin_domain::senders::Batch;
use tocsin_domain::severity::AlertSeverity;
use tocsin_store::conformance::{arbitrary_service_with_key, trigger};
use tocsin_store::{IntegrationKind, Store};

/// Counts what it is asked to send, per delivery ID, and takes a moment doing it so cycles overlap.
#[derive(Default)]
struct CountingTransport {
    sent: Mutex<HashMap<String, u32>>,
}

#[async_trait]
impl Transport for CountingTransport {
    async fn send(&self, out: &Outgoing<'_>) -> SendOutcome {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        *self
            .sent
            .lock()
            .unwrap()
            .entry(out.delivery_id.to_owned())
            .or_default() += 1;
        SendOutcome::Delivered {
            detail: "counted".into(),
        }
    }
}

fn t0() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

async fn seed(store: &dyn Store, incidents: usize) {
    let user = store
        .users()
        .create(
            UserSpec {
                name: PersonName::parse("Dana").unwrap(),
                email: Email::parse("dana@example.test").unwrap(),
                time_zone: TimeZone::parse("UTC").unwrap(),
            },
            t0(),
        )
        .await
        .unwrap();
    store
        .contacts()
        .create_method(
            &user.id.clone().into(),
            ContactMethodSpec {
                name: "hook".into(),
                target: ContactTarget::Webhook {
                    url: HttpUrl::parse("http://127.0.0.1:9/hook").unwrap(),
                    secret: Some(tocsin_domain::webhook::generate_secret()),
                },
                enabled: true,
            },
            t0(),
        )
        .await
        .unwrap();
    let policy = store
        .escalation()
        .create_policy(
            EscalationPolicySpec {
                name: "one".into(),
                description: String::new(),
                repeat: 2,
                levels: vec![EscalationLevel {
                    delay_minutes: 5,
                    targets: vec![EscalationTarget::User(user.id.clone())],
                }],
                team: None,
            },
            t0(),
        )
        .await
        .unwrap();
    let key = arbitrary_service_with_key(store, "db").await;
    store
        .escalation()
        .set_service_policy(&"db".into(), Some(policy.name.as_str().into()))
        .await
        .unwrap();
    let events = (0..incidents)
        .map(|i| trigger(&format!("k{i}"), AlertSeverity::Critical))
        .collect();
    store
        .ingest()
        .batch(&key, IntegrationKind::Pagerduty, Batch::new(events), t0())
        .await
        .unwrap();
}

fn engine(store: Arc<dyn Store>, clock: Arc<ManualClock>, t: Arc<CountingTransport>) -> Engine {
    Engine::new(
        &tocsin_app::App::new(store, clock, tocsin_app::Metrics::new()),
        t,
        Renderer {
            public_url: "http://tocsin.test".into(),
            link_key: vec![7; 32],
            update_templates: Default::default(),
        },
        EngineSettings {
            batch: 7,
            ..EngineSettings::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_database_page_each_level_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path()).await;
    // Two stores on one database stand for two processes: separate connections, the database's locks between them.
    let a: Arc<dyn Store> = Arc::new(db.open().await);
    let b: Arc<dyn Store> = Arc::new(db.open().await);
    seed(&*a, 20).await;
    let clock = Arc::new(ManualClock::new(t0()));
    let sent = Arc::new(CountingTransport::default());
    let (ea, eb) = (
        Arc::new(engine(a.clone(), clock.clone(), sent.clone())),
        Arc::new(engine(b.clone(), clock.clone(), sent.clone())),
    );
    let mut leaders = (0, 0);
    // Three rounds of the policy (repeat 2), five minutes apart, each taking several cycles to drain in
    // batches of 7; both engines race through every cycle.
    for _ in 0..3 {
        for _ in 0..6 {
            let (ra, rb) = tokio::join!(ea.cycle(), eb.cycle());
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            leaders.0 += u32::from(ra.leader);
            leaders.1 += u32::from(rb.leader);
            assert!(!(ra.leader && rb.leader), "both engines led one cycle");
            assert!(ra.leader || rb.leader, "neither engine led a cycle");
        }
        clock.advance(Duration::minutes(5));
    }
    // Every cycle had exactly one leader.
    assert_eq!(leaders.0 + leaders.1, 18, "{leaders:?}");
    let counts = sent.sent.lock().unwrap().clone();
    assert_eq!(
        counts.len(),
        60,
        "20 incidents × 3 rounds, one delivery each"
    );
    assert!(
        counts.values().all(|n| *n == 1),
        "a delivery was sent twice: {counts:?}"
    );

    // The lease's term is kept by the database's clock, which the engines' clock does not move: an hour of the
    // engines' time later the leader still holds it.
    clock.advance(Duration::hours(1));
    let (ra, rb) = (ea.cycle().await.unwrap(), eb.cycle().await.unwrap());
    assert!(ra.leader != rb.leader, "one leader: {ra:?} {rb:?}");
    // When the leader stops, it lets go of the lease, and the other carries on at once.
    let (leader, other) = if ra.leader { (&ea, &eb) } else { (&eb, &ea) };
    leader.release().await;
    assert!(other.cycle().await.unwrap().leader);
    assert!(
        !leader.cycle().await.unwrap().leader,
        "the old leader must not take the lease back while it runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_instance_takes_its_lease_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path()).await;
    let clock = Arc::new(ManualClock::new(t0()));
    let sent = Arc::new(CountingTransport::default());
    let named = |store: Arc<dyn Store>, instance: &str| {
        Engine::new(
            &tocsin_app::App::new(store, clock.clone(), tocsin_app::Metrics::new()),
            sent.clone(),
            Renderer {
                public_url: "http://tocsin.test".into(),
                link_key: vec![7; 32],
                update_templates: Default::default(),
            },
            EngineSettings {
                instance: Some(instance.into()),
                ..EngineSettings::default()
            },
        )
    };
    let first: Arc<dyn Store> = Arc::new(db.open().await);
    seed(&*first, 3).await;
    let before = named(first, "db-host:8080");
    assert!(before.cycle().await.unwrap().leader);
    // It dies without letting go of the lease. Another instance waits out the lease's term…
    drop(before);
    let other = named(Arc::new(db.open().await), "other-host:8080");
    assert!(!other.cycle().await.unwrap().leader);
    // …but the same instance, restarted, leads at once.
    let after = named(Arc::new(db.open().await), "db-host:8080");
    assert!(after.cycle().await.unwrap().leader);
    assert!(!other.cycle().await.unwrap().leader);
}

/// Never answers: a receiver that hangs until the sender's timeout.
struct HangingTransport;

#[async_trait]
impl Transport for HangingTransport {
    async fn send(&self, _: &Outgoing<'_>) -> SendOutcome {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        SendOutcome::Delivered {
            detail: "too late".into(),
        }
    }
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_the_next_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(TestDatabase::new(dir.path()).await.open().await);
    seed(&*store, 3).await;
    let clock = Arc::new(ManualClock::new(t0()));
    let engine = Engine::new(
        &tocsin_app::App::new(store.clone(), clock.clone(), tocsin_app::Metrics::new()),
        Arc::new(HangingTransport),
        Renderer {
            public_url: "http://tocsin.test".into(),
            link_key: vec![7; 32],
            update_templates: Default::default(),
        },
        EngineSettings {
            send_wait: std::time::Duration::from_millis(50),
            ..EngineSettings::default()
        },
    );
    // An hour-long send would hold the cycle for an hour; it returns after `send_wait` instead.
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), engine.cycle())
        .await
        .expect("the cycle returns while the sends hang")
        .unwrap();
    assert_eq!((first.escalations_fired, first.deliveries_sent), (3, 3));
    // The next level still pages on time.
    clock.advance(Duration::minutes(5));
    let second = tokio::time::timeout(std::time::Duration::from_secs(30), engine.cycle())
        .await
        .expect("the next cycle runs too")
        .unwrap();
    assert_eq!(second.escalations_fired, 3);
}
