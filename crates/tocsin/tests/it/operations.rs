//! Operating a server: recovering admin access and backing up the embedded database, with the real binary.

use crate::cli::run;
use crate::support::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_lost_admin_token_is_replaced_from_the_command_line() {
    let app = TestApp::spawn().await;
    let mut args = vec!["admin-token"];
    let db = app.db.args();
    args.extend(db.iter().map(String::as_str));
    let out = run(&app, &[("TOCSIN_LOG", "warn")], &args).await.ok();
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("tcs_"))
        .unwrap_or_else(|| panic!("no token in:\n{out}"))
        .to_owned();

    let resp = app
        .client
        .get(format!("{}/api/v1/tokens", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: serde_json::Value = resp.json().await.unwrap();
    let recovered = tokens["items"]
        .as_array()
        .expect("a token list")
        .iter()
        .find(|t| t["name"] == "recovered admin")
        .expect("the recovered token is listed");
    assert_eq!(recovered["scope"], "admin");
}

#[tokio::test]
async fn a_backup_of_the_running_database_is_consistent_and_restores() {
    let app = TestApp::spawn().await;
    if app.db.url.is_some() {
        // PostgreSQL is backed up with pg_dump, not by Tocsin, and the command says so.
        let to = app.dir.path().join("unused.db");
        let mut args = vec!["backup", "--to", to.to_str().unwrap()];
        let db = app.db.args();
        args.extend(db.iter().map(String::as_str));
        let out = run(&app, &[], &args).await.failed();
        assert!(out.contains("pg_dump"), "{out}");
        return;
    }
    let (status, _) = app
        .send(app.req(Method::POST, "/api/v1/incidents").json(&json!({
            "title": "Checkout is down", "severity": "SEV-1"
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let copy = app.dir.path().join("restore").join("tocsin.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let copy_arg = copy.to_string_lossy().into_owned();
    let data_arg = app.db.data_dir.to_string_lossy().into_owned();
    run(
        &app,
        &[],
        &["backup", "--data-dir", &data_arg, "--to", &copy_arg],
    )
    .await
    .ok();
    assert!(
        tocsin_store::sqlite::integrity_problems(&copy)
            .unwrap()
            .is_empty()
    );
    let again = run(
        &app,
        &[],
        &["backup", "--data-dir", &data_arg, "--to", &copy_arg],
    )
    .await
    .failed();
    assert!(again.contains("already exists"), "{again}");

    // Restoring is starting a server on a data directory holding the copy.
    let restored = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.data_dir = copy.parent().unwrap().to_owned();
        },
    )
    .await;
    let (status, list) = restored.get("/api/v1/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["title"], "Checkout is down", "{list}");
}
