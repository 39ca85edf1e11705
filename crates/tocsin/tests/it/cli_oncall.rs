//! The command-line client's schedule commands: a schedule from a YAML file, its shifts as a table, an override.

use crate::cli::tocsin;
use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SCHEDULE: &str = "\
name: platform
description: Platform on call
time_zone: Europe/Berlin
layers:
  - name: office hours
    participants: [alice@example.com, bob@example.com]
    rotation: {every: days, count: 1}
    start: 2026-03-02T09:00:00
    restrictions:
      - days: [Mon, Tue, Wed, Thu, Fri]
        start: 09:00
        end: 17:00
";

/// The table rows after the header, with their columns split on runs of two or more spaces.
fn rows(table: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("START"), "a header first:\n{table}");
    lines
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

#[tokio::test]
async fn a_schedule_from_a_file_its_shifts_and_an_override() {
    let app = TestApp::spawn().await;
    for name in ["Alice", "Bob", "Carol"] {
        let (s, b) = app
            .post(
                "/api/v1/users",
                json!({"name": name, "email": format!("{}@example.com", name.to_lowercase())}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let file = app.dir.path().join("platform.yaml");
    std::fs::write(&file, SCHEDULE).unwrap();
    let file = file.to_str().unwrap();

    let out = tocsin(&app, &["schedules", "create", "-f", file])
        .await
        .ok();
    assert!(out.starts_with("created schedule platform (sch_"), "{out}");
    let out = tocsin(&app, &["schedules", "create", "-f", file])
        .await
        .failed();
    assert!(out.contains("already exists"), "{out}");

    // Friday to Tuesday: Alice on Friday and Bob on Monday, office hours in Berlin (UTC+1), nobody in between.
    let range = [
        "--from",
        "2026-03-06T00:00:00Z",
        "--to",
        "2026-03-10T00:00:00Z",
    ];
    let shifts = |extra: &'static [&'static str]| {
        let args: Vec<&str> = ["schedules", "shifts", "platform"]
            .into_iter()
            .chain(range)
            .chain(extra.iter().copied())
            .collect();
        let app = &app;
        async move { tocsin(app, &args).await.ok() }
    };
    let table = shifts(&[]).await;
    assert_eq!(
        rows(&table),
        [
            row(&[
                "2026-03-06 00:00:00Z",
                "2026-03-06 08:00:00Z",
                "8h",
                "(nobody)"
            ]),
            row(&[
                "2026-03-06 08:00:00Z",
                "2026-03-06 16:00:00Z",
                "8h",
                "Alice <alice@example.com>"
            ]),
            row(&[
                "2026-03-06 16:00:00Z",
                "2026-03-09 08:00:00Z",
                "2d16h",
                "(nobody)"
            ]),
            row(&[
                "2026-03-09 08:00:00Z",
                "2026-03-09 16:00:00Z",
                "8h",
                "Bob <bob@example.com>"
            ]),
            row(&[
                "2026-03-09 16:00:00Z",
                "2026-03-10 00:00:00Z",
                "8h",
                "(nobody)"
            ]),
        ],
        "{table}"
    );

    let out = tocsin(
        &app,
        &[
            "schedules",
            "override",
            "add",
            "platform",
            "--user",
            "carol@example.com",
            "--start",
            "2026-03-07T10:00:00Z",
            "--end",
            "2026-03-07T12:00:00Z",
        ],
    )
    .await
    .ok();
    assert!(
        out.starts_with("added override ovr_")
            && out.contains("carol@example.com is on call in platform from 2026-03-07 10:00:00Z to 2026-03-07 12:00:00Z"),
        "{out}"
    );
    let table = shifts(&[]).await;
    let weekend: Vec<Vec<String>> = rows(&table)[2..5].to_vec();
    assert_eq!(
        weekend,
        [
            row(&[
                "2026-03-06 16:00:00Z",
                "2026-03-07 10:00:00Z",
                "18h",
                "(nobody)"
            ]),
            row(&[
                "2026-03-07 10:00:00Z",
                "2026-03-07 12:00:00Z",
                "2h",
                "Carol <carol@example.com>"
            ]),
            row(&[
                "2026-03-07 12:00:00Z",
                "2026-03-09 08:00:00Z",
                "1d20h",
                "(nobody)"
            ]),
        ],
        "{table}"
    );
    let json: Value = serde_json::from_str(&shifts(&["--json"]).await).unwrap();
    assert_eq!(json["gaps"].as_array().unwrap().len(), 4, "{json}");
    assert_eq!(json["shifts"][1]["user"]["name"], "Carol");

    let out = tocsin(
        &app,
        &[
            "schedules",
            "oncall",
            "platform",
            "--at",
            "2026-03-07T11:00:00Z",
        ],
    )
    .await
    .ok();
    assert_eq!(
        out.trim(),
        "Carol <carol@example.com> is on call in platform at 2026-03-07 11:00:00Z"
    );
    let show = tocsin(&app, &["schedules", "show", "platform"]).await.ok();
    for part in [
        "time zone:   Europe/Berlin",
        "layer 0: office hours (every day, first handoff 2026-03-02T09:00:00)",
        "  1. Alice <alice@example.com>",
        "  2. Bob <bob@example.com>",
        "  only Mon, Tue, Wed, Thu, Fri 09:00:00-17:00:00",
        "Carol <carol@example.com>",
    ] {
        assert!(show.contains(part), "{part:?} missing from:\n{show}");
    }

    let out = tocsin(&app, &["schedules", "feed", "create", "platform"])
        .await
        .ok();
    let url = out
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in:\n{out}"));
    let resp = app.client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let list = tocsin(&app, &["schedules", "feed", "list"]).await.ok();
    assert!(list.contains("schedule sch_"), "{list}");
}
