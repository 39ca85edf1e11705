//! On-call schedules through the API: rotations that keep their local handoff time across DST changes, restrictions
//! that leave gaps, overrides, who is on call as the clock moves, and calendar feeds read by a real iCalendar
//! parser.

use crate::support::{TestApp, peers_required};
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin_domain::clock::ManualClock;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn at(v: &Value) -> DateTime<Utc> {
    utc(v.as_str().unwrap_or_else(|| panic!("{v} is not a time")))
}

/// Creates users by name, each `<name>@example.com`, and returns their IDs.
async fn users(app: &TestApp, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let (s, b) = app
            .post(
                "/api/v1/users",
                json!({"name": name, "email": format!("{}@example.com", name.to_lowercase())}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        ids.push(b["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// A schedule with one daily layer handing off at 09:00 local time from `start` (a local date).
fn daily(name: &str, time_zone: &str, start: &str, participants: &[&str]) -> Value {
    json!({
        "name": name,
        "time_zone": time_zone,
        "layers": [{
            "name": "primary",
            "participants": participants,
            "rotation": {"every": "days", "count": 1},
            "start": format!("{start}T09:00:00"),
        }],
    })
}

async fn create(app: &TestApp, spec: Value) -> Value {
    let (s, b) = app.post("/api/v1/schedules", spec).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

/// The shifts as (email, start, end), and the gaps as (start, end).
async fn shifts(
    app: &TestApp,
    schedule: &str,
    from: &str,
    to: &str,
) -> (
    Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    Vec<(DateTime<Utc>, DateTime<Utc>)>,
) {
    let (s, b) = app
        .get(&format!(
            "/api/v1/schedules/{schedule}/shifts?from={from}&to={to}"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let shifts = b["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sh| {
            (
                sh["user"]["email"].as_str().unwrap().to_owned(),
                at(&sh["start"]),
                at(&sh["end"]),
            )
        })
        .collect();
    let gaps = b["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (at(&g["start"]), at(&g["end"])))
        .collect();
    (shifts, gaps)
}

fn shift(who: &str, start: &str, end: &str) -> (String, DateTime<Utc>, DateTime<Utc>) {
    (format!("{who}@example.com"), utc(start), utc(end))
}

fn error_field(b: &Value) -> &str {
    b["error"]["field"].as_str().unwrap_or("")
}

#[tokio::test]
async fn schedules_are_created_read_replaced_and_deleted() {
    let app = TestApp::spawn().await;
    let ids = users(&app, &["Alice", "Bob"]).await;
    let created = create(
        &app,
        daily(
            "primary",
            "Europe/Berlin",
            "2026-03-02",
            &["alice@example.com", &ids[1]],
        ),
    )
    .await;
    assert_eq!(
        created["layers"][0]["participants"],
        json!(ids),
        "participants by email are stored as IDs"
    );
    assert_eq!(created["time_zone"], "Europe/Berlin");
    assert_eq!(created["reminder_minutes"], 30);
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("sch_"), "{id}");

    let (s, by_name) = app.get("/api/v1/schedules/primary").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_name, created);
    assert_eq!(app.get(&format!("/api/v1/schedules/{id}")).await.1, created);
    let (_, list) = app.get("/api/v1/schedules").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (s, b) = app
        .post(
            "/api/v1/schedules",
            daily("primary", "UTC", "2026-03-02", &[&ids[0]]),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("name_taken")),
        "{b}"
    );

    let mut renamed = daily("platform", "UTC", "2026-03-02", &["bob@example.com"]);
    renamed["description"] = json!("Platform team");
    let (s, b) = app
        .send(
            app.req(Method::PUT, "/api/v1/schedules/primary")
                .json(&renamed),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["id"].as_str(), b["name"].as_str()),
        (Some(id), Some("platform"))
    );
    assert_eq!(b["description"], "Platform team");
    assert_eq!(
        app.get("/api/v1/schedules/primary").await.0,
        StatusCode::NOT_FOUND
    );

    let (s, b) = app
        .send(app.req(Method::DELETE, "/api/v1/users/bob@example.com"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a user in a rotation stays: {b}");
    assert_eq!(b["error"]["code"], "in_use");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("platform"),
        "{b}"
    );

    let (s, _) = app
        .send(app.req(Method::DELETE, "/api/v1/schedules/platform"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/schedules/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = app
        .send(app.req(Method::DELETE, "/api/v1/schedules/platform"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .send(app.req(Method::DELETE, "/api/v1/users/bob@example.com"))
        .await;
    assert_eq!(
        s,
        StatusCode::NO_CONTENT,
        "once out of every rotation, a user can go"
    );

    let (_, doc) = app.get("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/schedules",
        "/api/v1/schedules/{schedule}/shifts",
        "/api/v1/schedules/{schedule}/on-call",
        "/api/v1/feeds/{id}",
        "/calendar/{file}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(
        doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "oncall"),
        "the oncall tag"
    );
}

#[tokio::test]
async fn schedule_mistakes_name_the_field() {
    let app = TestApp::spawn().await;
    let ids = users(&app, &["Alice"]).await;
    let ghost = "usr_01jdq9a3k2m7x8v4n5p6r7s8t9";
    let mut zero = daily("z", "UTC", "2026-03-02", &[&ids[0]]);
    zero["layers"][0]["rotation"]["count"] = json!(0);
    let mut no_layers = daily("n", "UTC", "2026-03-02", &[&ids[0]]);
    no_layers["layers"] = json!([]);
    let mut bad_restriction = daily("r", "UTC", "2026-03-02", &[&ids[0]]);
    bad_restriction["layers"][0]["restrictions"] =
        json!([{"days": ["Mon", "Mon"], "start": "09:00:00", "end": "17:00:00"}]);
    let cases = [
        (
            daily("a", "UTC", "2026-03-02", &[&ids[0], "nobody@example.com"]),
            "layers[0].participants[1]",
        ),
        (
            daily("b", "UTC", "2026-03-02", &[ghost]),
            "layers[0].participants[0]",
        ),
        (
            daily("c", "UTC", "2026-03-02", &["not-an-id"]),
            "layers[0].participants[0]",
        ),
        (
            daily("d", "Mars/Olympus", "2026-03-02", &[&ids[0]]),
            "time_zone",
        ),
        (zero, "layers[0].rotation.count"),
        (no_layers, "layers"),
        (bad_restriction, "layers[0].restrictions[0].days"),
        (daily(" ", "UTC", "2026-03-02", &[&ids[0]]), "name"),
    ];
    for (spec, field) in cases {
        let (s, b) = app.post("/api/v1/schedules", spec.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{spec}: {b}");
        assert_eq!(b["error"]["code"], "invalid_request", "{b}");
        assert_eq!(error_field(&b), field, "{spec}: {b}");
    }
    assert!(
        app.get("/api/v1/schedules").await.1["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing refused was stored"
    );

    create(&app, daily("primary", "UTC", "2026-03-02", &[&ids[0]])).await;
    let range = |q: &str| format!("/api/v1/schedules/primary/shifts?{q}");
    for (q, field) in [
        ("from=2026-01-01T00:00:00Z&to=2027-01-03T00:00:00Z", "to"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("from=yesterday", "from"),
    ] {
        let (s, b) = app.get(&range(q)).await;
        assert_eq!(
            (s, error_field(&b)),
            (StatusCode::BAD_REQUEST, field),
            "{q}: {b}"
        );
    }
    let (s, _) = app
        .get(&range("from=2026-01-01T00:00:00Z&to=2027-01-02T00:00:00Z"))
        .await;
    assert_eq!(s, StatusCode::OK, "366 days is allowed");
    let (s, b) = app.get("/api/v1/schedules/primary/on-call?at=noon").await;
    assert_eq!((s, error_field(&b)), (StatusCode::BAD_REQUEST, "at"), "{b}");
    assert_eq!(
        app.get("/api/v1/schedules/nope/on-call").await.0,
        StatusCode::NOT_FOUND
    );

    let overrides = "/api/v1/schedules/primary/overrides";
    for (body, field) in [
        (
            json!({"user": "alice@example.com", "start": "2026-03-03T10:00:00Z", "end": "2026-03-03T09:00:00Z"}),
            "end",
        ),
        (
            json!({"user": "alice@example.com", "start": "2026-03-03T10:00:00Z", "end": "2026-03-03T10:00:00Z"}),
            "end",
        ),
        (
            json!({"user": "alice@example.com", "start": "tomorrow", "end": "2026-03-03T10:00:00Z"}),
            "start",
        ),
        (
            json!({"user": "ghost@example.com", "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T10:00:00Z"}),
            "user",
        ),
    ] {
        let (s, b) = app.post(overrides, body.clone()).await;
        assert_eq!(
            (s, error_field(&b)),
            (StatusCode::BAD_REQUEST, field),
            "{body}: {b}"
        );
    }
}

#[tokio::test]
async fn schedules_need_a_token_with_the_right_scope() {
    let app = TestApp::spawn().await;
    let ids = users(&app, &["Alice"]).await;
    create(&app, daily("primary", "UTC", "2026-03-02", &[&ids[0]])).await;
    let (s, b) = app
        .post("/api/v1/tokens", json!({"name": "viewer", "scope": "read"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let read = b["token"].as_str().unwrap().to_owned();

    let reads = [
        "/api/v1/schedules",
        "/api/v1/schedules/primary",
        "/api/v1/schedules/primary/on-call",
        "/api/v1/schedules/primary/shifts",
        "/api/v1/feeds",
    ];
    for path in reads {
        let url = format!("{}{path}", app.url);
        let (s, b) = app.send(app.client.get(&url)).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("missing_token")),
            "{path}"
        );
        let (s, b) = app.send(app.client.get(&url).bearer_auth(&read)).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    let override_body =
        json!({"user": ids[0], "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T10:00:00Z"});
    let writes = [
        (
            Method::POST,
            "/api/v1/schedules",
            daily("other", "UTC", "2026-03-02", &[&ids[0]]),
        ),
        (
            Method::PUT,
            "/api/v1/schedules/primary",
            daily("primary", "UTC", "2026-03-02", &[&ids[0]]),
        ),
        (Method::DELETE, "/api/v1/schedules/primary", Value::Null),
        (
            Method::POST,
            "/api/v1/schedules/primary/overrides",
            override_body,
        ),
        (
            Method::DELETE,
            "/api/v1/schedules/primary/overrides/ovr_01jdq9a3k2m7x8v4n5p6r7s8t9",
            Value::Null,
        ),
        (Method::POST, "/api/v1/schedules/primary/feeds", Value::Null),
        (
            Method::POST,
            "/api/v1/users/alice@example.com/feeds",
            Value::Null,
        ),
        (
            Method::DELETE,
            "/api/v1/feeds/feed_01jdq9a3k2m7x8v4n5p6r7s8t9",
            Value::Null,
        ),
    ];
    for (method, path, body) in writes {
        let url = format!("{}{path}", app.url);
        let with_body =
            |rb: reqwest::RequestBuilder| if body.is_null() { rb } else { rb.json(&body) };
        let (s, _) = app
            .send(with_body(app.client.request(method.clone(), &url)))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}");
        let (s, b) = app
            .send(with_body(
                app.client.request(method.clone(), &url).bearer_auth(&read),
            ))
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{method} {path}"
        );
    }
    assert_eq!(
        app.get("/api/v1/schedules/primary").await.1["name"],
        "primary",
        "refusals change nothing"
    );
}

#[tokio::test]
async fn daily_handoffs_stay_at_nine_local_across_dst_changes() {
    let app = TestApp::spawn().await;
    users(&app, &["Alice", "Bob"]).await;
    let pair = ["alice@example.com", "bob@example.com"];
    create(
        &app,
        daily("new-york", "America/New_York", "2026-03-06", &pair),
    )
    .await;
    create(&app, daily("berlin", "Europe/Berlin", "2026-03-27", &pair)).await;

    // US spring forward, 2026-03-08: 09:00 EST is 14:00Z, 09:00 EDT is 13:00Z; Bob's Saturday shift is 23 hours.
    let (got, gaps) = shifts(
        &app,
        "new-york",
        "2026-03-06T00:00:00Z",
        "2026-03-10T13:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            shift("alice", "2026-03-06T14:00:00Z", "2026-03-07T14:00:00Z"),
            shift("bob", "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"),
            shift("alice", "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"),
            shift("bob", "2026-03-09T13:00:00Z", "2026-03-10T13:00:00Z"),
        ]
    );
    assert_eq!(
        gaps,
        [(utc("2026-03-06T00:00:00Z"), utc("2026-03-06T14:00:00Z"))],
        "nobody before the first handoff"
    );

    // US fall back, 2026-11-01: Bob's Saturday shift is 25 hours.
    let (got, gaps) = shifts(
        &app,
        "new-york",
        "2026-10-30T00:00:00Z",
        "2026-11-03T00:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            shift("bob", "2026-10-30T00:00:00Z", "2026-10-30T13:00:00Z"),
            shift("alice", "2026-10-30T13:00:00Z", "2026-10-31T13:00:00Z"),
            shift("bob", "2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z"),
            shift("alice", "2026-11-01T14:00:00Z", "2026-11-02T14:00:00Z"),
            shift("bob", "2026-11-02T14:00:00Z", "2026-11-03T00:00:00Z"),
        ]
    );
    assert!(gaps.is_empty(), "{gaps:?}");

    // EU spring forward, 2026-03-29: 09:00 CET is 08:00Z, 09:00 CEST is 07:00Z.
    let (got, _) = shifts(
        &app,
        "berlin",
        "2026-03-27T08:00:00Z",
        "2026-03-31T07:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            shift("alice", "2026-03-27T08:00:00Z", "2026-03-28T08:00:00Z"),
            shift("bob", "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z"),
            shift("alice", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"),
            shift("bob", "2026-03-30T07:00:00Z", "2026-03-31T07:00:00Z"),
        ]
    );
    // EU fall back, 2026-10-25.
    let (got, _) = shifts(
        &app,
        "berlin",
        "2026-10-24T07:00:00Z",
        "2026-10-27T08:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            shift("bob", "2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z"),
            shift("alice", "2026-10-25T08:00:00Z", "2026-10-26T08:00:00Z"),
            shift("bob", "2026-10-26T08:00:00Z", "2026-10-27T08:00:00Z"),
        ]
    );
}

#[tokio::test]
async fn office_hours_restrictions_leave_gaps() {
    let app = TestApp::spawn().await;
    users(&app, &["Alice"]).await;
    let mut spec = daily(
        "office",
        "Europe/Berlin",
        "2026-03-02",
        &["alice@example.com"],
    );
    spec["layers"][0]["rotation"] = json!({"every": "weeks", "count": 1});
    spec["layers"][0]["start"] = json!("2026-03-02T00:00:00");
    spec["layers"][0]["restrictions"] =
        json!([{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00", "end": "17:00"}]);
    create(&app, spec).await;

    // Friday to Tuesday in winter time (UTC+1): Friday and Monday 09:00-17:00, nobody over the weekend.
    let (got, gaps) = shifts(
        &app,
        "office",
        "2026-03-06T00:00:00Z",
        "2026-03-10T00:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            shift("alice", "2026-03-06T08:00:00Z", "2026-03-06T16:00:00Z"),
            shift("alice", "2026-03-09T08:00:00Z", "2026-03-09T16:00:00Z"),
        ]
    );
    assert_eq!(
        gaps,
        [
            (utc("2026-03-06T00:00:00Z"), utc("2026-03-06T08:00:00Z")),
            (utc("2026-03-06T16:00:00Z"), utc("2026-03-09T08:00:00Z")),
            (utc("2026-03-09T16:00:00Z"), utc("2026-03-10T00:00:00Z")),
        ]
    );
    let (_, b) = app
        .get("/api/v1/schedules/office/on-call?at=2026-03-07T12:00:00Z")
        .await;
    assert_eq!(b, json!({"user": null, "at": "2026-03-07T12:00:00Z"}));
}

#[tokio::test]
async fn an_override_takes_over_its_range_and_the_clock_moves_who_is_on_call() {
    let start = Utc.with_ymd_and_hms(2026, 3, 6, 13, 59, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let ids = users(&app, &["Alice", "Bob", "Carol"]).await;
    create(
        &app,
        daily(
            "new-york",
            "America/New_York",
            "2026-03-06",
            &[&ids[0], &ids[1]],
        ),
    )
    .await;
    let who = || async {
        let (s, b) = app.get("/api/v1/schedules/new-york/on-call").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        (b["user"]["email"].as_str().map(str::to_owned), at(&b["at"]))
    };
    assert_eq!(
        who().await,
        (None, start),
        "before the first handoff; `at` is the server's now"
    );
    clock.advance(Duration::minutes(1));
    assert_eq!(who().await.0.as_deref(), Some("alice@example.com"));
    clock.advance(Duration::days(1));
    assert_eq!(who().await.0.as_deref(), Some("bob@example.com"));
    let (_, b) = app.get("/api/v1/schedules/new-york/on-call").await;
    assert_eq!(
        b["user"],
        json!({"id": ids[1], "name": "Bob", "email": "bob@example.com"})
    );

    // Carol covers Bob's Saturday afternoon.
    let (s, o) = app
        .post(
            "/api/v1/schedules/new-york/overrides",
            json!({"user": "carol@example.com", "start": "2026-03-07T17:00:00Z", "end": "2026-03-07T21:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["user_id"], ids[2]);
    let (got, _) = shifts(
        &app,
        "new-york",
        "2026-03-07T14:00:00Z",
        "2026-03-08T13:00:00Z",
    )
    .await;
    assert_eq!(
        got,
        [
            shift("bob", "2026-03-07T14:00:00Z", "2026-03-07T17:00:00Z"),
            shift("carol", "2026-03-07T17:00:00Z", "2026-03-07T21:00:00Z"),
            shift("bob", "2026-03-07T21:00:00Z", "2026-03-08T13:00:00Z"),
        ]
    );
    clock.set(utc("2026-03-07T18:00:00Z"));
    assert_eq!(who().await.0.as_deref(), Some("carol@example.com"));
    let (_, b) = app
        .get("/api/v1/schedules/new-york/on-call?at=2026-03-07T21:00:00Z")
        .await;
    assert_eq!(
        b["user"]["email"], "bob@example.com",
        "the end is exclusive"
    );
    assert_eq!(
        app.get("/api/v1/schedules/new-york").await.1["overrides"][0]["id"],
        o["id"]
    );

    let path = format!(
        "/api/v1/schedules/new-york/overrides/{}",
        o["id"].as_str().unwrap()
    );
    let (s, _) = app.send(app.req(Method::DELETE, &path)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(who().await.0.as_deref(), Some("bob@example.com"));
    let (s, b) = app.send(app.req(Method::DELETE, &path)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

/// One event as Python's `icalendar` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    summary: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    uid: String,
}

const PYTHON: &str = "/usr/bin/python3";

const READ_CALENDAR: &str = r#"
import json, sys
import icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
events = []
for e in cal.walk("VEVENT"):
    events.append({
        "summary": str(e.get("summary")),
        "uid": str(e.get("uid")),
        "dtstart": e.decoded("dtstart").isoformat(),
        "dtend": e.decoded("dtend").isoformat(),
    })
print(json.dumps({"name": str(cal.get("x-wr-calname")), "events": events}))
"#;

/// Whether Debian's Python has `icalendar`; without it the parsing checks skip, unless peers are required.
fn icalendar_available() -> bool {
    let ok = std::process::Command::new(PYTHON)
        .args(["-c", "import icalendar"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !peers_required(),
            "{PYTHON} with icalendar is missing and TOCSIN_REQUIRE_PEERS=1; run scripts/install-test-deps.sh"
        );
        eprintln!(
            "SKIPPED: Python's icalendar is not installed (scripts/install-test-deps.sh installs it)"
        );
    }
    ok
}

/// The calendar's name and events, as Python's `icalendar` parses the feed.
async fn parse_calendar(ics: String) -> (String, Vec<Event>) {
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(PYTHON)
            .args(["-c", READ_CALENDAR])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ics.as_bytes())
            .unwrap();
        child.wait_with_output().expect("python finishes")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "icalendar could not read the feed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    let events = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Event {
            summary: e["summary"].as_str().unwrap().to_owned(),
            start: at(&e["dtstart"]),
            end: at(&e["dtend"]),
            uid: e["uid"].as_str().unwrap().to_owned(),
        })
        .collect();
    (v["name"].as_str().unwrap().to_owned(), events)
}

fn event(summary: &str, start: &str, end: &str) -> (String, DateTime<Utc>, DateTime<Utc>) {
    (summary.to_owned(), utc(start), utc(end))
}

fn without_uids(events: &[Event]) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    events
        .iter()
        .map(|e| (e.summary.clone(), e.start, e.end))
        .collect()
}

/// Fetches a feed URL the way a calendar app does: no token.
async fn fetch(app: &TestApp, url: &str) -> (StatusCode, Option<String>, String) {
    let resp = app.client.get(url).send().await.expect("feed fetched");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, resp.text().await.unwrap())
}

#[tokio::test]
async fn calendar_feeds_are_read_by_a_real_parser_and_stop_when_revoked() {
    let now = utc("2026-03-06T12:00:00Z");
    let clock = Arc::new(ManualClock::new(now));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let ids = users(&app, &["Alice", "Bob"]).await;
    create(
        &app,
        daily(
            "new-york",
            "America/New_York",
            "2026-03-06",
            &[&ids[0], &ids[1]],
        ),
    )
    .await;
    create(&app, daily("secondary", "UTC", "2026-03-01", &[&ids[1]])).await;
    let (s, b) = app
        .post(
            "/api/v1/schedules/secondary/overrides",
            json!({"user": ids[0], "start": "2026-03-10T00:00:00Z", "end": "2026-03-10T06:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let (s, schedule_feed) = app
        .send(app.req(Method::POST, "/api/v1/schedules/new-york/feeds"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{schedule_feed}");
    let schedule_url = schedule_feed["url"].as_str().unwrap().to_owned();
    assert!(
        schedule_url.starts_with(&format!("{}/calendar/", app.url))
            && schedule_url.ends_with(".ics"),
        "{schedule_url}"
    );
    let (s, user_feed) = app
        .send(app.req(Method::POST, "/api/v1/users/alice@example.com/feeds"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{user_feed}");
    assert_eq!(user_feed["subject"], json!({"type": "user", "id": ids[0]}));
    let user_url = user_feed["url"].as_str().unwrap().to_owned();

    let (s, list) = app.get("/api/v1/feeds").await;
    assert_eq!(s, StatusCode::OK);
    let listed = list["items"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|f| f.get("url").is_none()),
        "URLs are shown once: {list}"
    );
    let (_, only_user) = app.get("/api/v1/feeds?user=alice@example.com").await;
    assert_eq!(only_user["items"].as_array().unwrap().len(), 1);

    let (s, content_type, ics) = fetch(&app, &schedule_url).await;
    assert_eq!(s, StatusCode::OK, "{ics}");
    assert_eq!(
        content_type.as_deref(),
        Some("text/calendar; charset=utf-8")
    );
    assert!(
        ics.contains("BEGIN:VCALENDAR\r\n") && ics.contains("\r\nEND:VCALENDAR"),
        "{ics}"
    );

    if icalendar_available() {
        let (name, events) = parse_calendar(ics.clone()).await;
        assert_eq!(name, "On call: new-york");
        // Up to 180 days ahead: daily handoffs from 2026-03-06 to 2026-09-01, the last cut at the window's end.
        assert_eq!(events.len(), 180, "{:?}", &events[..3]);
        assert_eq!(
            without_uids(&events[..3]),
            [
                event(
                    "On call: Alice (new-york)",
                    "2026-03-06T14:00:00Z",
                    "2026-03-07T14:00:00Z"
                ),
                event(
                    "On call: Bob (new-york)",
                    "2026-03-07T14:00:00Z",
                    "2026-03-08T13:00:00Z"
                ),
                event(
                    "On call: Alice (new-york)",
                    "2026-03-08T13:00:00Z",
                    "2026-03-09T13:00:00Z"
                ),
            ]
        );
        assert_eq!(
            without_uids(&events[179..]),
            [event(
                "On call: Bob (new-york)",
                "2026-09-01T13:00:00Z",
                "2026-09-02T12:00:00Z"
            )]
        );
        let mut uids: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
        uids.sort_unstable();
        uids.dedup();
        assert_eq!(uids.len(), events.len(), "UIDs are unique");

        // An hour later the same shifts keep their UIDs, so calendar apps update rather than duplicate them.
        clock.advance(Duration::hours(1));
        let (_, _, later) = fetch(&app, &schedule_url).await;
        let (_, again) = parse_calendar(later).await;
        assert_eq!(
            again[..179].iter().map(|e| &e.uid).collect::<Vec<_>>(),
            events[..179].iter().map(|e| &e.uid).collect::<Vec<_>>()
        );

        let (s, _, ics) = fetch(&app, &user_url).await;
        assert_eq!(s, StatusCode::OK);
        let (name, events) = parse_calendar(ics).await;
        assert_eq!(name, "On call: Alice");
        assert_eq!(
            without_uids(&events[..4]),
            [
                event(
                    "On call: new-york",
                    "2026-03-06T14:00:00Z",
                    "2026-03-07T14:00:00Z"
                ),
                event(
                    "On call: new-york",
                    "2026-03-08T13:00:00Z",
                    "2026-03-09T13:00:00Z"
                ),
                event(
                    "On call: secondary",
                    "2026-03-10T00:00:00Z",
                    "2026-03-10T06:00:00Z"
                ),
                event(
                    "On call: new-york",
                    "2026-03-10T13:00:00Z",
                    "2026-03-11T13:00:00Z"
                ),
            ],
            "Alice's shifts in every schedule, overrides included"
        );
        assert!(events.iter().all(|e| !e.summary.contains("Bob")));
    }

    let (s, revoked) = app
        .send(app.req(
            Method::DELETE,
            &format!("/api/v1/feeds/{}", schedule_feed["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let (s, _, body) = fetch(&app, &schedule_url).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a revoked feed stops at once");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(
        fetch(&app, &user_url).await.0,
        StatusCode::OK,
        "other feeds still answer"
    );
    for unknown in [
        format!("{}/calendar/{}.ics", app.url, "0".repeat(48)),
        user_url.trim_end_matches(".ics").to_owned(),
    ] {
        assert_eq!(
            fetch(&app, &unknown).await.0,
            StatusCode::NOT_FOUND,
            "{unknown}"
        );
    }
}

/// The `Warning` headers of an answer, unquoted.
fn warnings(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(reqwest::header::WARNING)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

#[tokio::test]
async fn changes_that_leave_gaps_or_unpaged_services_answer_with_warnings() {
    let clock = Arc::new(ManualClock::new(utc("2026-03-04T12:00:00Z")));
    let app = TestApp::spawn_with_clock(clock).await;
    let ids = users(&app, &["Zoë"]).await;
    // Office hours only: nobody is on call tonight.
    let resp = app
        .req(Method::POST, "/api/v1/schedules")
        .json(&json!({
            "name": "Office",
            "time_zone": "UTC",
            "layers": [{"name": "office", "participants": [ids[0]], "rotation": {"every": "weeks", "count": 1},
                "start": "2026-03-02T00:00:00",
                "restrictions": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00:00", "end": "17:00:00"}]}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        warnings(&resp),
        [
            "299 tocsin \"Schedule Office has nobody on call from 2026-03-04 17:00 UTC to 2026-03-05 09:00 UTC \
          (10 gap(s) in the next 14 days); a level paging it hands over to the next level then\""
        ]
    );
    // Around the clock: no warning.
    let resp = app
        .req(Method::PUT, "/api/v1/schedules/Office")
        .json(&json!({
            "name": "Office",
            "time_zone": "UTC",
            "layers": [{"name": "all", "participants": [ids[0]], "rotation": {"every": "weeks", "count": 1},
                "start": "2026-03-02T00:00:00"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(warnings(&resp).is_empty());

    // An override over an earlier one wins where they overlap, and says so.
    let override_from = |start: &str, end: &str| {
        app.req(Method::POST, "/api/v1/schedules/Office/overrides")
            .json(&json!({"user": ids[0], "start": start, "end": end}))
            .send()
    };
    let first = override_from("2026-03-05T10:00:00Z", "2026-03-05T14:00:00Z")
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(warnings(&first).is_empty());
    let second = override_from("2026-03-05T12:00:00Z", "2026-03-05T16:00:00Z")
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(
        warnings(&second),
        [
            "299 tocsin \"This override overlaps one for Zoë on Office from 2026-03-05 10:00 UTC to 2026-03-05 \
          14:00 UTC; where they overlap, this one wins\""
        ]
    );

    // A new service, and one whose policy is taken away, say that nobody pages their incidents.
    let resp = app
        .req(Method::POST, "/api/v1/services")
        .json(&json!({"name": "billing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(warnings(&resp).len(), 1);
    assert!(
        warnings(&resp)[0].starts_with("299 tocsin \"Service billing has no escalation policy"),
        "{:?}",
        warnings(&resp)
    );
    let resp = app
        .req(Method::PUT, "/api/v1/services/billing/escalation-policy")
        .json(&json!({"policy": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(warnings(&resp).len(), 1, "{:?}", warnings(&resp));
}
