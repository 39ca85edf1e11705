//! Three Tocsin processes on one PostgreSQL database, as an operator runs them behind a load balancer: senders
//! spread over all three, people acting through whichever they reach, one killed mid-stream and restarted.

use crate::support::{
    Server, TestApp, TestDatabase, WebhookReceiver, api, instant, start_on, wait_until,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SENDERS: usize = 16;
/// Dedup keys shared by all senders, so the same new key reaches several instances at once.
const KEYS: usize = 150;

/// Triggers keys from the shared pool at one instance until told to stop; returns the keys answered 202 and how
/// many requests were answered otherwise (a 503 while the database is busy).
async fn send(
    client: reqwest::Client,
    url: String,
    key: String,
    first: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<String>, usize) {
    let mut answered = Vec::new();
    let mut refused = 0;
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        let dedup = format!("load-{}", n % KEYS);
        n += 7;
        let sent = client
            .post(format!("{url}/v2/enqueue"))
            .json(&TestApp::trigger(&key, &dedup, "critical"))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == StatusCode::ACCEPTED => answered.push(dedup),
            // Neither a 503 (the database kept losing races) nor a 429 (this instance's rate limit) promised
            // anything; nor did an instance being killed or restarting.
            Ok(_) => refused += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    (answered, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_database_act_as_one() {
    if std::env::var("TOCSIN_TEST_BACKEND").as_deref() != Ok("postgres") {
        eprintln!(
            "several instances share PostgreSQL only: this story runs with TOCSIN_TEST_BACKEND=postgres"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::new(dir.path()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let ports: Vec<u16> = (0..3).map(|_| crate::support::free_port()).collect();
    // All three start at once: migrations and the first admin token race, and must not trip over each other.
    let (a, b, c) = tokio::join!(
        start_on(&client, &db, dir.path().join("a.log"), None, ports[0]),
        start_on(&client, &db, dir.path().join("b.log"), None, ports[1]),
        start_on(&client, &db, dir.path().join("c.log"), None, ports[2]),
    );
    let mut c: Server = c;
    let (ua, ub, uc) = (a.url.clone(), b.url.clone(), c.url.clone());

    // The catalog, through A: a paged service (Bob, then Carol a minute later) and a busy one with no policy.
    let receiver = WebhookReceiver::start().await;
    let post = async |url: &str, path: &str, body: Value| {
        api(client.post(format!("{url}{path}")).json(&body)).await
    };
    let mut users = Vec::new();
    for who in ["bob", "carol"] {
        let (s, u) = post(
            &ua,
            "/api/v1/users",
            json!({"name": who, "email": format!("{who}@example.test")}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        let (s, m) = post(
            &ua,
            &format!("/api/v1/users/{}/contact-methods", u["id"].as_str().unwrap()),
            json!({"name": "hook", "target": {"type": "webhook", "url": format!("{}/{who}", receiver.url)}}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        users.push(u);
    }
    let (s, p) = post(
        &ua,
        "/api/v1/escalation-policies",
        json!({"name": "duo", "levels": [
            {"delay_minutes": 1, "targets": [{"type": "user", "id": users[0]["id"]}]},
            {"delay_minutes": 1, "targets": [{"type": "user", "id": users[1]["id"]}]}
        ]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let mut keys = HashMap::new();
    for name in ["paged", "busy"] {
        let (s, b) = post(&ua, "/api/v1/services", json!({ "name": name })).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = post(
            &ua,
            &format!("/api/v1/services/{name}/integrations"),
            json!({}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        keys.insert(name, b["key"].as_str().unwrap().to_owned());
    }
    let (s, b) = api(client
        .put(format!("{ua}/api/v1/services/paged/escalation-policy"))
        .json(&json!({"policy": "duo"})))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // An incident opened through B, paged by whichever engine holds the lease.
    let sent = client
        .post(format!("{ub}/v2/enqueue"))
        .json(&TestApp::trigger(&keys["paged"], "escalates", "critical"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let (_, first) = api(client.get(format!("{ua}/api/v1/incidents/1"))).await;
    let opened = instant(&first["created_at"]);

    // 16 senders over the three instances, the same keys everywhere; C is killed mid-stream and restarted.
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let url = [&ua, &ub, &uc][i % 3].to_string();
            tokio::spawn(send(
                client.clone(),
                url,
                keys["busy"].clone(),
                i * 11,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.guard.child.kill().expect("SIGKILL C");
    c.guard.child.wait().expect("reap C");
    drop(c);
    tokio::time::sleep(Duration::from_millis(500)).await;
    c = start_on(&client, &db, dir.path().join("c-again.log"), None, ports[2]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut refused) = (Vec::new(), 0);
    for s in senders {
        let (a, r) = s.await.expect("sender");
        answered.extend(a);
        refused += r;
    }
    let answered_keys: HashSet<&String> = answered.iter().collect();
    eprintln!(
        "{} events answered 202 over {} keys, {refused} refused, C killed and restarted mid-stream",
        answered.len(),
        answered_keys.len()
    );
    assert!(
        answered.len() > SENDERS * 10,
        "only {} events answered",
        answered.len()
    );

    // Every answered key is one alert and one incident, whichever instances its events reached.
    let (s, alerts) = api(client.get(format!("{ub}/api/v1/alerts?service=busy&limit=500"))).await;
    assert_eq!(s, StatusCode::OK, "{alerts}");
    let alerts = alerts["items"].as_array().unwrap();
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for a in alerts {
        *per_key.entry(a["dedup_key"].as_str().unwrap()).or_default() += 1;
        assert!(a["incident_id"].is_string(), "{a}");
    }
    for k in &answered_keys {
        assert_eq!(
            per_key.get(k.as_str()),
            Some(&1),
            "{k}: one alert, not {:?}",
            per_key.get(k.as_str())
        );
    }
    let events: u64 = alerts
        .iter()
        .map(|a| a["event_count"].as_u64().unwrap())
        .sum();
    assert!(
        events >= answered.len() as u64,
        "{events} stored < {} answered",
        answered.len()
    );
    let incidents: HashSet<&str> = alerts
        .iter()
        .map(|a| a["incident_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        incidents.len(),
        alerts.len(),
        "no incident is doubled or shared"
    );

    // A silence made through A mutes the very next event B receives.
    let now = chrono::Utc::now();
    let (s, b) = post(&ua, "/api/v1/silences", json!({"matchers": ["source=muted-host"],
        "starts_at": now.to_rfc3339(), "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(), "comment": "maintenance"}))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut muted = TestApp::trigger(&keys["busy"], "muted", "critical");
    muted["payload"]["source"] = json!("muted-host");
    let sent = client
        .post(format!("{ub}/v2/enqueue"))
        .json(&muted)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let (_, got) = api(client.get(format!("{uc}/api/v1/alerts?dedup_key=muted"))).await;
    assert_eq!(
        got["items"][0]["no_page_reason"]["type"], "silenced",
        "{got}"
    );
    assert_eq!(got["items"][0]["incident_id"], Value::Null, "{got}");

    // A second incident opened through A, escalated by hand through C, acknowledged through B.
    let sent = client
        .post(format!("{ua}/v2/enqueue"))
        .json(&TestApp::trigger(&keys["paged"], "by-hand", "critical"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let (_, list) = api(client.get(format!("{ua}/api/v1/incidents?service=paged&limit=5"))).await;
    let by_hand = list["items"][0]["id"].as_str().unwrap().to_owned();
    let pages_to = |who: &str| {
        receiver
            .requests()
            .iter()
            .filter(|r| r.path == who)
            .map(|r| r.header("webhook-id").to_owned())
            .collect::<HashSet<_>>()
            .len()
    };
    // Each is acknowledged only once its pages went out, which an acknowledgement would otherwise cancel.
    wait_until(
        "Bob is paged for both incidents",
        Duration::from_secs(30),
        async || pages_to("/bob") == 2,
    )
    .await;
    let (s, b) = post(
        &c.url,
        &format!("/api/v1/incidents/{by_hand}/escalate"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    wait_until(
        "Carol is paged by hand",
        Duration::from_secs(30),
        async || pages_to("/carol") == 1,
    )
    .await;
    let (s, b) = post(
        &ub,
        &format!("/api/v1/incidents/{by_hand}/acknowledge"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // The first incident's second level pages Carol a minute after its first was due, kill or no kill.
    wait_until(
        "the first incident reaches Carol",
        Duration::from_secs(120),
        async || {
            let (_, log) = api(client.get(format!("{ua}/api/v1/incidents/1/notifications"))).await;
            log["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|d| d["user_id"] == users[1]["id"] && d["status"] == "delivered")
            })
        },
    )
    .await;
    let (_, timeline) = api(client.get(format!("{ub}/api/v1/incidents/1/timeline"))).await;
    let escalations: Vec<&Value> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .collect();
    assert_eq!(escalations.len(), 2, "{timeline}");
    assert_eq!(
        instant(&escalations[0]["data"]["next_at"]),
        opened + chrono::Duration::minutes(1)
    );
    let late = instant(&escalations[1]["at"]) - (opened + chrono::Duration::minutes(1));
    assert!(
        late >= chrono::Duration::zero() && late < chrono::Duration::seconds(30),
        "level 2 paged {late} after it was due"
    );

    // Every page reached its person under one idempotency key, however many instances tried.
    let (s, b) = post(&ua, "/api/v1/incidents/1/acknowledge", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((pages_to("/bob"), pages_to("/carol")), (2, 2));
    for (_, incident) in [("first", "1".to_owned()), ("by hand", by_hand)] {
        let (_, log) =
            api(client.get(format!("{uc}/api/v1/incidents/{incident}/notifications"))).await;
        for d in log["items"].as_array().unwrap() {
            assert!(
                d["status"] == "delivered" || d["status"] == "cancelled",
                "{d}"
            );
        }
    }
}
