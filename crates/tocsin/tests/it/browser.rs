//! The web UI in Debian's Chromium, driven by `tests/browser/story.js` (playwright-core, axe-core): the whole
//! story at a desktop and a phone size. Screenshots land in `target/ui-screenshots/`.

use crate::support::TestApp;
use std::path::PathBuf;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn the_incident_story_works_in_chromium_at_desktop_and_phone_sizes() {
    let scripts = workspace().join("tests/browser");
    let ready = std::path::Path::new("/usr/bin/chromium").exists()
        && scripts.join("node_modules/playwright-core").exists()
        && scripts.join("node_modules/axe-core").exists();
    if !ready {
        assert!(
            std::env::var("TOCSIN_REQUIRE_PEERS").as_deref() != Ok("1"),
            "Chromium or tests/browser/node_modules is missing and TOCSIN_REQUIRE_PEERS=1; run scripts/install-test-deps.sh"
        );
        eprintln!("SKIPPED: Chromium or the browser test's npm packages are missing");
        return;
    }
    let Some(provider) = crate::support::OidcPeer::start(&reqwest::Client::new()).await else {
        return;
    };
    let issuer = provider.url.clone();
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.oidc = Some(tocsin::config::OidcConfig {
                issuer,
                client_id: "tocsin".into(),
                client_secret: Some("client secret".into()),
                label: "Example SSO".into(),
                create_users: false,
                new_user_role: tocsin_domain::auth::Role::Observer,
                allowed_domains: Vec::new(),
            });
            c.slack = Some(tocsin::slack::SlackConfig::new(
                "browser story signing secret",
            ));
        },
    )
    .await;
    let key = app.service_with_key("checkout").await;
    let (s, dana) = app
        .post(
            "/api/v1/users",
            serde_json::json!({"name": "Dana", "email": "dana@example.com"}),
        )
        .await;
    assert!(s.is_success(), "{dana}");
    let level =
        serde_json::json!({"delay_minutes": 30, "targets": [{"type": "user", "id": dana["id"]}]});
    let (s, b) = app
        .post(
            "/api/v1/escalation-policies",
            serde_json::json!({"name": "checkout-policy", "levels": [level, level]}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = app
        .send(
            app.req(
                reqwest::Method::PUT,
                "/api/v1/services/checkout/escalation-policy",
            )
            .json(&serde_json::json!({"policy": "checkout-policy"})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    provider
        .person(
            &app.client,
            "dana-at-idp",
            serde_json::json!({"email": "dana@example.com", "email_verified": true}),
        )
        .await;
    let shots = workspace().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(scripts.join("story.js"))
        .current_dir(&scripts)
        .env("TOCSIN_URL", &app.url)
        .env("SETUP_LINK", app.first_owner_link())
        .env("ADMIN_TOKEN", &app.token)
        .env("KEY", key)
        .env("SSO_SUBJECT", "dana-at-idp")
        .env("SCREENSHOTS", &shots)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser story failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "incident-1440x900",
        "incident-375x667",
        "home-375x667",
        "service-1440x900",
        "schedule-1440x900",
        "schedule-375x667",
        "noise-1440x900",
        "admin-1440x900",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "{name}.png was saved"
        );
    }
}
