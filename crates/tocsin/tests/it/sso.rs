//! Single sign-on against a real OpenID Connect provider: the authorization code flow with PKCE and a nonce, people
//! matched by verified email, accounts made on first sign-in when allowed, and every way a sign-in is refused.

use crate::support::{OidcPeer, TestApp};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use std::sync::Arc;
use tocsin::config::OidcConfig;
use tocsin_domain::auth::Role;
use tocsin_domain::clock::SystemClock;

async fn app_with(peer: &OidcPeer, create_users: bool) -> TestApp {
    let issuer = peer.url.clone();
    TestApp::spawn_with(Arc::new(SystemClock), move |c| {
        c.oidc = Some(OidcConfig {
            issuer,
            client_id: "tocsin".into(),
            client_secret: Some("client secret".into()),
            label: "Example SSO".into(),
            create_users,
            new_user_role: Role::Observer,
            allowed_domains: vec!["example.com".into()],
        });
    })
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let pair = v.split(';').next()?;
        pair.strip_prefix(&format!("{name}=")).map(str::to_owned)
    })
}

fn encoded(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// A browser's trip: Tocsin's sign-in link, the provider's form answered as `sub`, and back. The answer to the
/// return, and the flow cookie it carried.
async fn sign_in(app: &TestApp, sub: &str) -> (reqwest::Response, String) {
    let browser = no_redirects();
    let start = browser
        .get(format!("{}/login/sso?next=/incidents", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        start.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        start.text().await
    );
    let authorize = location(&start);
    assert!(
        authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="),
        "PKCE and a nonce: {authorize}"
    );
    let flow = cookie_value(&start, "tocsin_sso").expect("the flow is remembered");
    let back = browser
        .post(&authorize)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encoded(&[("sub", sub)]))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::FOUND, "{:?}", back.text().await);
    let callback = location(&back);
    assert!(
        callback.starts_with(&format!("{}/login/sso/callback?", app.url)),
        "{callback}"
    );
    let done = browser
        .get(&callback)
        .header(COOKIE, format!("tocsin_sso={flow}"))
        .send()
        .await
        .unwrap();
    (done, flow)
}

#[tokio::test]
async fn people_sign_in_with_the_provider_by_their_verified_email() {
    let client = reqwest::Client::new();
    let Some(peer) = OidcPeer::start(&client).await else {
        return;
    };
    let app = app_with(&peer, false).await;
    app.post(
        "/api/v1/users",
        json!({"name": "Ann", "email": "ann@example.com"}),
    )
    .await;
    peer.person(
        &client,
        "ann-at-idp",
        json!({"email": "Ann@Example.com", "email_verified": true, "name": "Ann at the IdP"}),
    )
    .await;
    let login = client
        .get(format!("{}/login", app.url))
        .send()
        .await
        .unwrap();
    assert!(
        login
            .text()
            .await
            .unwrap()
            .contains("Sign in with Example SSO")
    );

    let (done, _) = sign_in(&app, "ann-at-idp").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&done),
        "/incidents",
        "back where the person was going"
    );
    let session = cookie_value(&done, "tocsin_session").expect("signed in");
    assert_eq!(
        cookie_value(&done, "tocsin_sso").as_deref(),
        Some(""),
        "the flow is forgotten"
    );
    let home = no_redirects()
        .get(format!("{}/", app.url))
        .header(COOKIE, format!("tocsin_session={session}"))
        .send()
        .await
        .unwrap();
    assert!(
        home.text().await.unwrap().contains("Hello, Ann"),
        "as the person Tocsin knows"
    );
    let (_, audit) = app.get("/api/v1/audit?action=session.login").await;
    let entry = &audit["items"][0];
    assert_eq!(
        (
            entry["summary"]["method"].as_str(),
            entry["summary"]["subject"].as_str()
        ),
        (Some("oidc"), Some("ann-at-idp")),
        "{audit}"
    );
    assert_eq!(entry["summary"]["issuer"], peer.url.as_str());

    // Someone the provider knows but Tocsin does not is told so, and no account appears.
    peer.person(
        &client,
        "bob",
        json!({"email": "bob@example.com", "email_verified": true}),
    )
    .await;
    let (refused, _) = sign_in(&app, "bob").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("no one in Tocsin has the email bob@example.com")
    );
    assert_eq!(
        app.get("/api/v1/users/bob@example.com").await.0,
        StatusCode::NOT_FOUND
    );

    // An address that only folds to a known one under Unicode rules (the Kelvin sign for K) matches nobody.
    app.post(
        "/api/v1/users",
        json!({"name": "Kate", "email": "kate@example.com"}),
    )
    .await;
    peer.person(
        &client,
        "kelvin",
        json!({"email": "\u{212A}ate@example.com", "email_verified": true}),
    )
    .await;
    let (kelvin, _) = sign_in(&app, "kelvin").await;
    assert_eq!(kelvin.status(), StatusCode::FORBIDDEN);
    assert!(cookie_value(&kelvin, "tocsin_session").is_none());

    // An email the provider has not verified proves nothing.
    peer.person(
        &client,
        "ann-unverified",
        json!({"email": "ann@example.com", "email_verified": false}),
    )
    .await;
    let (unverified, _) = sign_in(&app, "ann-unverified").await;
    assert_eq!(unverified.status(), StatusCode::FORBIDDEN);
    assert!(unverified.text().await.unwrap().contains("verified email"));
}

#[tokio::test]
async fn a_return_that_this_browser_did_not_start_is_refused() {
    let client = reqwest::Client::new();
    let Some(peer) = OidcPeer::start(&client).await else {
        return;
    };
    let app = app_with(&peer, false).await;
    app.post(
        "/api/v1/users",
        json!({"name": "Ann", "email": "ann@example.com"}),
    )
    .await;
    peer.person(
        &client,
        "ann",
        json!({"email": "ann@example.com", "email_verified": true}),
    )
    .await;
    let browser = no_redirects();
    let start = browser
        .get(format!("{}/login/sso", app.url))
        .send()
        .await
        .unwrap();
    let flow = cookie_value(&start, "tocsin_sso").unwrap();
    let back = browser
        .post(location(&start))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encoded(&[("sub", "ann")]))
        .send()
        .await
        .unwrap();
    let callback = location(&back);

    // Another browser (an attacker's link) brings the code without this browser's flow.
    let without = browser.get(&callback).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert!(cookie_value(&without, "tocsin_session").is_none());
    // A flow whose state is not the one returned.
    let other_state = callback.replace("state=", "state=x");
    let wrong = browser
        .get(&other_state)
        .header(COOKIE, format!("tocsin_sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // A flow altered in the browser.
    let (payload, tag) = flow.split_once('.').unwrap();
    let altered = format!("{}A.{tag}", payload);
    let forged = browser
        .get(&callback)
        .header(COOKIE, format!("tocsin_sso={altered}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // The real one works once; the code is spent after.
    let ok = browser
        .get(&callback)
        .header(COOKIE, format!("tocsin_sso={flow}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER, "{:?}", ok.text().await);
    let replay = browser
        .get(&callback)
        .header(COOKIE, format!("tocsin_sso={flow}"))
        .send()
        .await
        .unwrap();
    assert!(
        cookie_value(&replay, "tocsin_session").is_none(),
        "a spent code signs nobody in"
    );
    assert!(!replay.status().is_success() && replay.status() != StatusCode::SEE_OTHER);

    // Words in a link are not shown as the provider's: a refusal this browser did not start reads as one.
    let crafted = browser
        .get(format!(
            "{}/login/sso/callback?error=access_denied&error_description=Call+555-0100+to+unlock",
            app.url
        ))
        .send()
        .await
        .unwrap();
    let text = crafted.text().await.unwrap();
    assert!(!text.contains("555-0100"), "{text}");
    // The person declines at the provider.
    let start = browser
        .get(format!("{}/login/sso", app.url))
        .send()
        .await
        .unwrap();
    let declined = browser
        .post(location(&start))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encoded(&[("action", "deny")]))
        .send()
        .await
        .unwrap();
    let back = browser
        .get(location(&declined))
        .header(
            COOKIE,
            format!("tocsin_sso={}", cookie_value(&start, "tocsin_sso").unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::FORBIDDEN);
    assert!(back.text().await.unwrap().contains("did not sign you in"));
}

#[tokio::test]
async fn a_first_sign_in_makes_an_account_when_allowed() {
    let client = reqwest::Client::new();
    let Some(peer) = OidcPeer::start(&client).await else {
        return;
    };
    let app = app_with(&peer, true).await;
    peer.person(
        &client,
        "carol",
        json!({"email": "carol@example.com", "email_verified": true, "name": "Carol Jones"}),
    )
    .await;
    let (done, _) = sign_in(&app, "carol").await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        done.text().await
    );
    let (s, carol) = app.get("/api/v1/users/carol@example.com").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (carol["name"].as_str(), carol["role"].as_str()),
        (Some("Carol Jones"), Some("observer")),
        "the configured role for newcomers"
    );
    let (_, audit) = app.get("/api/v1/audit?action=user.create").await;
    assert_eq!(audit["items"][0]["actor"]["name"], "Tocsin", "{audit}");
    // Only people of the allowed domains join: a provider anyone can sign up at lets nobody else in.
    peer.person(
        &client,
        "mallory",
        json!({"email": "mallory@elsewhere.example", "email_verified": true}),
    )
    .await;
    let (outsider, _) = sign_in(&app, "mallory").await;
    assert_eq!(outsider.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/users/mallory@elsewhere.example").await.0,
        StatusCode::NOT_FOUND
    );
    // The second time, the same account.
    let (again, _) = sign_in(&app, "carol").await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let (_, users) = app.get("/api/v1/users").await;
    assert_eq!(
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["email"] == "carol@example.com")
            .count(),
        1
    );
}

#[tokio::test]
async fn accounts_on_first_sign_in_need_the_domains_they_are_for() {
    let dir = tempfile::tempdir().unwrap();
    let config = tocsin::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        oidc: Some(OidcConfig {
            issuer: "http://127.0.0.1:9".into(),
            client_id: "tocsin".into(),
            client_secret: None,
            label: "x".into(),
            create_users: true,
            new_user_role: Role::Observer,
            allowed_domains: Vec::new(),
        }),
        ..tocsin::config::Config::default()
    };
    let refused = tocsin::server::start(&config, Arc::new(SystemClock)).await;
    let message = format!("{:#}", refused.err().expect("refused"));
    assert!(message.contains("allowed_domains"), "{message}");
    let config = tocsin::config::Config {
        oidc: config.oidc.map(|o| OidcConfig {
            allowed_domains: vec!["example.com".into()],
            new_user_role: Role::Admin,
            ..o
        }),
        ..config
    };
    let refused = tocsin::server::start(&config, Arc::new(SystemClock)).await;
    let message = format!("{:#}", refused.err().expect("refused"));
    assert!(message.contains("observer or responder"), "{message}");
}
