//! The command-line client's silence, rule and maintenance commands, and the reasons alerts did not page.

use crate::cli::tocsin;
use crate::support::TestApp;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn json_of(app: &TestApp, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = tocsin(app, &args).await.ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{out}"))
}

/// The table row that starts with `id`, which every noise table leads with.
fn row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no row for {id} in:\n{table}"))
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("{v} is not a time"))
        .with_timezone(&Utc)
}

/// How tables print a time.
fn shown(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

#[tokio::test]
async fn a_silence_is_created_listed_extended_and_expired() {
    let app = TestApp::spawn().await;
    let args = [
        "silences",
        "create",
        "--matcher",
        "alertname=DiskFull",
        "--matcher",
        r#"team=~"db|cache""#,
        "--comment",
        "disk swap on db hosts",
        "--duration",
        "2h",
    ];
    let out = tocsin(&app, &args).await.ok();
    assert!(
        out.starts_with("created silence ") && out.contains("(active) until "),
        "{out}"
    );
    let id = out.split_whitespace().nth(2).unwrap().to_owned();

    let list = tocsin(&app, &["silences", "list"]).await.ok();
    assert!(list.starts_with("ID"), "a header first:\n{list}");
    let line = row(&list, &id);
    for part in [
        " active ",
        "alertname=DiskFull, team=~db|cache",
        "disk swap on db hosts",
    ] {
        assert!(line.contains(part), "{part:?} missing from:\n{list}");
    }
    let before = json_of(&app, &["silences", "list"]).await;
    let silence = &before["items"][0];
    assert_eq!(
        at(&silence["ends_at"]) - at(&silence["starts_at"]),
        TimeDelta::hours(2)
    );

    let out = tocsin(&app, &["silences", "extend", &id, "--by", "1h"])
        .await
        .ok();
    let ends = at(&silence["ends_at"]) + TimeDelta::hours(1);
    assert_eq!(
        out.trim(),
        format!("silence {id} now ends {} (active)", shown(ends))
    );

    let until = "2099-01-01T00:00:00Z";
    tocsin(&app, &["silences", "extend", &id, "--ends-at", until])
        .await
        .ok();
    let list = tocsin(&app, &["silences", "list"]).await.ok();
    assert!(row(&list, &id).contains("2099-01-01 00:00:00Z"), "{list}");

    let out = tocsin(&app, &["silences", "expire", &id]).await.ok();
    assert_eq!(out.trim(), format!("expired silence {id}"));
    let list = tocsin(&app, &["silences", "list"]).await.ok();
    assert!(row(&list, &id).contains(" expired "), "{list}");
}

#[tokio::test]
async fn silence_mistakes_are_caught_before_sending() {
    let app = TestApp::spawn().await;
    let create = |extra: &[&'static str]| {
        let base = ["silences", "create", "--comment", "x", "--duration", "1h"];
        [&base[..], extra].concat()
    };
    let mistakes = [
        (create(&["--matcher", "no operator"]), "is not a matcher"),
        (
            create(&["--matcher", "a=b", "--starts-at", "soon"]),
            "is not a time: give now, +2h or -30m",
        ),
        (
            create(&["--matcher", "a=b", "--ends-at", "2099-01-01T00:00:00Z"]),
            "cannot be used with",
        ),
    ];
    for (args, says) in mistakes {
        let err = tocsin(&app, &args).await.failed();
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let err = tocsin(&app, &["silences", "extend", "sil_x", "--by", "1y"])
        .await
        .failed();
    assert!(err.contains("not a duration"), "{err}");
}

#[tokio::test]
async fn a_suppress_rule_is_created_listed_and_deleted() {
    let app = TestApp::spawn().await;
    let args = [
        "rules",
        "create",
        "--name",
        "drop staging",
        "--matcher",
        "env=staging",
        "--suppress",
        "--position",
        "5",
    ];
    let out = tocsin(&app, &args).await.ok();
    assert!(
        out.starts_with(r#"created rule "drop staging" ("#)
            && out.trim_end().ends_with(" at position 5: suppress"),
        "{out}"
    );
    let id = json_of(&app, &["rules", "list"]).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(out.contains(&id), "{out}");

    let list = tocsin(&app, &["rules", "list"]).await.ok();
    let line = row(&list, &id);
    for part in [" 5 ", " drop staging ", " env=staging ", " suppress"] {
        assert!(line.contains(part), "{part:?} missing from:\n{list}");
    }

    let routed = [
        "rules",
        "create",
        "--name",
        "db to db",
        "--matcher",
        "team=db",
        "--route",
        "db",
    ];
    let err = tocsin(&app, &routed).await.failed();
    assert!(
        err.contains("(invalid_request)"),
        "no service db yet: {err}"
    );
    let both = [
        "rules",
        "create",
        "--name",
        "x",
        "--matcher",
        "a=b",
        "--suppress",
        "--set-severity",
        "info",
    ];
    tocsin(&app, &both).await.failed();

    let out = tocsin(&app, &["rules", "delete", &id]).await.ok();
    assert_eq!(out.trim(), format!("deleted rule {id}"));
    assert_eq!(tocsin(&app, &["rules", "list"]).await.ok().trim(), "(none)");
}

#[tokio::test]
async fn maintenance_windows_are_listed_with_their_next_start() {
    let app = TestApp::spawn().await;
    for name in ["db", "web"] {
        tocsin(&app, &["services", "create", "--name", name])
            .await
            .ok();
    }
    let cron = [
        "maintenance",
        "create",
        "--service",
        "db",
        "--description",
        "weekly vacuum",
        "--cron",
        "0 2 * * SUN",
        "--time-zone",
        "Europe/Berlin",
        "--duration",
        "2h",
    ];
    let out = tocsin(&app, &cron).await.ok();
    assert!(out.starts_with("created maintenance window "), "{out}");
    let rrule = [
        "maintenance",
        "create",
        "--service",
        "web",
        "--rrule",
        r"DTSTART:20260104T030000Z\nRRULE:FREQ=WEEKLY;BYDAY=SU",
        "--duration",
        "90m",
    ];
    tocsin(&app, &rrule).await.ok();
    let once = [
        "maintenance",
        "create",
        "--service",
        "web",
        "--from",
        "2099-03-01T22:00:00Z",
        "--until",
        "2099-03-02T02:00:00+02:00",
    ];
    let out = tocsin(&app, &once).await.ok();
    assert!(
        out.trim_end().ends_with("next opens 2099-03-01 22:00:00Z"),
        "{out}"
    );

    let windows = json_of(&app, &["maintenance", "list", "--service", "db"]).await;
    let windows = windows["items"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let window = &windows[0];
    let id = window["id"].as_str().unwrap();
    let next = at(&window["next_starts_at"]);
    assert!(next > Utc::now(), "{window}");

    let list = tocsin(&app, &["maintenance", "list", "--service", "db"])
        .await
        .ok();
    let line = row(&list, id);
    for part in [
        " db ".to_owned(),
        shown(next),
        "cron 0 2 * * SUN Europe/Berlin for 2h".to_owned(),
        "weekly vacuum".to_owned(),
    ] {
        assert!(line.contains(&part), "{part:?} missing from:\n{list}");
    }

    let all = tocsin(&app, &["maintenance", "list"]).await.ok();
    assert_eq!(all.lines().count(), 4, "a header and three windows:\n{all}");
    assert!(
        all.contains("DTSTART:20260104T030000Z RRULE:FREQ=WEEKLY;BYDAY=SU for 1h30m"),
        "{all}"
    );
    assert!(
        all.contains("once 2099-03-01 22:00:00Z to 2099-03-02 00:00:00Z"),
        "{all}"
    );

    let out = tocsin(&app, &["maintenance", "delete", id]).await.ok();
    assert_eq!(out.trim(), format!("deleted maintenance window {id}"));
    let left = tocsin(&app, &["maintenance", "list", "--service", "db"])
        .await
        .ok();
    assert_eq!(left.trim(), "(none)");
}

#[tokio::test]
async fn an_alert_a_rule_suppressed_says_why_it_did_not_page() {
    let app = TestApp::spawn().await;
    tocsin(&app, &["services", "create", "--name", "web"])
        .await
        .ok();
    let (s, b) = app
        .post(
            "/api/v1/services/web/integrations",
            json!({ "kind": "generic" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let url = b["url"].as_str().unwrap().to_owned();
    let rule = [
        "rules",
        "create",
        "--name",
        "drop staging",
        "--matcher",
        "env=staging",
        "--suppress",
    ];
    tocsin(&app, &rule).await.ok();
    for (key, env) in [("k", "staging"), ("p", "prod")] {
        let alert = json!({"summary": "x", "dedup_key": key, "severity": "critical", "labels": {"env": env}});
        let (s, b) = app.send(app.client.post(&url).json(&alert)).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }

    let alerts = json_of(&app, &["alerts", "list"]).await;
    let id_of = |key: &str| {
        alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["dedup_key"] == key)
            .and_then(|a| a["id"].as_str())
            .unwrap_or_else(|| panic!("no alert {key}: {alerts}"))
            .to_owned()
    };
    let (suppressed, paged) = (id_of("k"), id_of("p"));
    let rule_id = json_of(&app, &["rules", "list"]).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reason = format!(r#"suppressed by rule "drop staging" ({rule_id})"#);

    // People read the incident's number and the service's name; the alert's ID comes last, for `alerts show`.
    let list = tocsin(&app, &["alerts", "list"]).await.ok();
    assert!(
        list.lines()
            .next()
            .unwrap()
            .starts_with("INCIDENT  SERVICE"),
        "{list}"
    );
    let header: Vec<&str> = list.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header[header.len() - 2..], ["WHY", "ID"], "{list}");
    let row_of = |id: &str| {
        list.lines()
            .find(|l| l.ends_with(id))
            .unwrap_or_else(|| panic!("no row for {id} in:\n{list}"))
            .trim_end_matches(id)
            .trim_end()
            .to_owned()
    };
    assert!(row_of(&suppressed).ends_with(&reason), "{list}");
    assert!(row_of(&suppressed).starts_with("-         web"), "{list}");
    assert!(
        row_of(&paged).ends_with(" x") && row_of(&paged).starts_with("#1        web"),
        "a paged alert has its incident and no reason:\n{list}"
    );

    let shown = tocsin(&app, &["alerts", "show", &suppressed]).await.ok();
    assert!(
        shown
            .lines()
            .any(|l| l == format!("did not page: {reason}")),
        "{shown}"
    );
    assert!(!shown.contains("no_page_reason"), "{shown}");
    let event = shown.lines().last().unwrap();
    assert!(
        event.contains("trigger") && event.ends_with("  generic"),
        "events name their integration: {shown}"
    );
    let shown = tocsin(&app, &["alerts", "show", &paged]).await.ok();
    assert!(!shown.contains("did not page"), "{shown}");
}
