//! The web UI over HTTP, as a browser sends it: signing in, sessions, account links, pages, the changes pages make
//! and the ones they refuse. `browser.rs` drives the same pages in a real Chromium.

use crate::support::{SmtpPeer, TestApp};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tocsin::notify::NotifyConfig;

/// A browser: no redirects followed (the tests read them), its session cookie kept by hand.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookie: Option<String>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub html: String,
    pub headers: reqwest::header::HeaderMap,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn send(&mut self, rb: reqwest::RequestBuilder) -> Page {
        let rb = match &self.cookie {
            Some(c) => rb.header(COOKIE, format!("tocsin_session={c}")),
            None => rb,
        };
        let resp = rb.send().await.expect("request sent");
        for value in resp.headers().get_all(SET_COOKIE) {
            let value = value.to_str().unwrap();
            let (pair, _) = value.split_once(';').unwrap_or((value, ""));
            if let Some(v) = pair.strip_prefix("tocsin_session=") {
                self.cookie = (!v.is_empty()).then(|| v.to_owned());
            }
        }
        Page {
            status: resp.status(),
            location: resp
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_owned()),
            headers: resp.headers().clone(),
            html: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let url = self.url(path);
        self.send(self.client.get(url)).await
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.app.url)
        }
    }

    /// A form posted from Tocsin's own page, as a browser marks it.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(path, form, "same-origin").await
    }

    pub async fn post_from(&mut self, path: &str, form: &[(&str, &str)], site: &str) -> Page {
        let url = self.url(path);
        let rb = self
            .client
            .post(url)
            .header("Sec-Fetch-Site", site)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            );
        self.send(rb).await
    }
}

pub async fn owner_signed_in(app: &TestApp) -> Browser<'_> {
    let mut b = Browser::new(app);
    let link = app.first_owner_link();
    let form = b.get(&link).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.html.contains("Set up Tocsin"), "{}", form.html);
    let done = b
        .post(
            &link,
            &[
                ("name", "Olga Owner"),
                ("email", "olga@example.com"),
                ("password", "a long enough passphrase"),
            ],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/")),
        "{}",
        done.html
    );
    assert!(b.cookie.is_some(), "signed in");
    b
}

#[tokio::test]
async fn the_first_owner_signs_up_from_the_start_link_then_signs_out_and_in() {
    let app = TestApp::spawn().await;
    let link = app.first_owner_link();
    let mut b = owner_signed_in(&app).await;
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("Hello, Olga Owner"), "{}", home.html);
    let (_, users) = app.get("/api/v1/users").await;
    assert_eq!(users["items"][0]["role"], "owner");

    assert_eq!(
        Browser::new(&app).get(&link).await.status,
        StatusCode::NOT_FOUND,
        "the link works once"
    );

    let out = b.post("/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert!(b.cookie.is_none(), "the cookie is cleared");
    let home = b.get("/incidents").await;
    assert_eq!(
        (home.status, home.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login?next=%2Fincidents"))
    );

    let wrong = b
        .post(
            "/login",
            &[
                ("email", "olga@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("The email or the password is wrong."));
    let unknown = b
        .post(
            "/login",
            &[
                ("email", "nobody@example.com"),
                ("password", "whatever it is"),
            ],
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNAUTHORIZED,
        "no account is told apart"
    );
    assert!(unknown.html.contains("The email or the password is wrong."));

    let back = b
        .post(
            "/login",
            &[
                ("email", "Olga@Example.com"),
                ("password", "a long enough passphrase"),
                ("next", "/incidents"),
            ],
        )
        .await;
    assert_eq!(back.location.as_deref(), Some("/incidents"));
    let elsewhere = b
        .post(
            "/login",
            &[
                ("email", "olga@example.com"),
                ("password", "a long enough passphrase"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(
        elsewhere.location.as_deref(),
        Some("/"),
        "never sent to another site after signing in"
    );
    for next in [
        "/\t/evil.example",
        "/\\evil.example",
        "https://evil.example/",
    ] {
        let page = b
            .post(
                "/login",
                &[
                    ("email", "olga@example.com"),
                    ("password", "a long enough passphrase"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(page.location.as_deref(), Some("/"), "{next:?}");
    }

    let (_, log) = app.get("/api/v1/audit?action=session").await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "session.login",
            "session.login",
            "session.login",
            "session.login",
            "session.login",
            "session.login_failed",
            "session.login_failed",
            "session.logout",
            "session.login"
        ]
    );
}

#[tokio::test]
async fn failed_sign_ins_are_limited_and_a_reset_link_arrives_by_email() {
    let Some(smtp) = SmtpPeer::start().await else {
        return;
    };
    let port = smtp.port;
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.notify = NotifyConfig {
                smtp: Some(crate::support::smtp_relay(port)),
                ..Default::default()
            };
        },
    )
    .await;
    let mut owner = owner_signed_in(&app).await;
    owner.post("/logout", &[]).await;
    let mut b = Browser::new(&app);
    for _ in 0..5 {
        let page = b
            .post(
                "/login",
                &[
                    ("email", "olga@example.com"),
                    ("password", "guess guess guess"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let limited = b
        .post(
            "/login",
            &[
                ("email", "olga@example.com"),
                ("password", "a long enough passphrase"),
            ],
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits: {}",
        limited.html
    );

    let sent = b.post("/forgot", &[("email", "nobody@example.com")]).await;
    assert!(sent.html.contains("If an account has that email"));
    let (s, b2) = app
        .post(
            "/api/v1/users",
            json!({"name": "Dana", "email": "dana@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b2}");
    let (s, invitation) = app
        .post("/api/v1/users/dana@example.com/invitation", json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{invitation}");
    assert_eq!(invitation["emailed"], true);
    let mut dana = Browser::new(&app);
    let accepted = dana
        .post(
            invitation["link"].as_str().unwrap(),
            &[("password", "dana's first passphrase")],
        )
        .await;
    assert_eq!(accepted.location.as_deref(), Some("/"), "{}", accepted.html);
    let asked = dana.post("/forgot", &[("email", "dana@example.com")]).await;
    assert!(asked.html.contains("If an account has that email"));
    let mails = smtp.wait_for(&app, 2).await;
    assert_eq!(mails[0].subject, "You are invited to Tocsin");
    let reset = &mails[1];
    assert_eq!(
        (reset.to.as_str(), reset.subject.as_str()),
        ("dana@example.com", "Reset your Tocsin password")
    );
    let link = reset
        .text
        .split_whitespace()
        .find(|w| w.contains("/account/"))
        .expect("the mail holds the link")
        .to_owned();
    let mut other = Browser::new(&app);
    let set = other
        .post(&link, &[("password", "dana's second passphrase")])
        .await;
    assert_eq!(set.location.as_deref(), Some("/"), "{}", set.html);
    assert_eq!(
        dana.get("/").await.location.as_deref(),
        Some("/login?next=%2F"),
        "a reset signs out every other session"
    );
    let again = dana
        .post(
            "/login",
            &[
                ("email", "dana@example.com"),
                ("password", "dana's second passphrase"),
            ],
        )
        .await;
    assert_eq!(again.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn responders_work_incidents_from_pages_that_other_sites_cannot_drive() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let key = app.service_with_key("checkout").await;
    let (s, _) = app
        .enqueue(TestApp::trigger(&key, "db-down", "critical"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);

    let list = b.get("/incidents").await;
    assert!(list.html.contains("/incidents/1"), "{}", list.html);
    let rows = b.get("/incidents?status=open&fragment=1").await;
    assert!(
        rows.html.trim_start().starts_with("<li>") && !rows.html.contains("<html"),
        "the live fragment is the rows alone: {}",
        rows.html
    );
    let page = b.get("/incidents/1").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Acknowledge"), "{}", page.html);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers["cache-control"], "no-store");

    for site in ["cross-site", "same-site"] {
        let refused = b.post_from("/incidents/1/acknowledge", &[], site).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{site}");
    }
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        incident["status"], "triggered",
        "refused changes change nothing"
    );
    // A browser without Sec-Fetch-Site says where it comes from in Origin.
    let evil = b
        .send(
            b.client
                .post(format!("{}/incidents/1/acknowledge", app.url))
                .header("Origin", "https://evil.example"),
        )
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let api = b
        .send(
            b.client
                .post(format!("{}/api/v1/incidents/1/acknowledge", app.url))
                .header("Sec-Fetch-Site", "cross-site"),
        )
        .await;
    assert_eq!(
        api.status,
        StatusCode::FORBIDDEN,
        "the API refuses a session's cross-site change too: {}",
        api.html
    );

    let ack = b.post("/incidents/1/acknowledge", &[]).await;
    assert_eq!(ack.location.as_deref(), Some("/incidents/1"));
    let note = b
        .post(
            "/incidents/1/notes",
            &[(
                "body",
                "**Failing over** <script>alert(1)</script> [x](javascript:alert(2))",
            )],
        )
        .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER, "{}", note.html);
    b.post("/incidents/1/severity", &[("severity", "SEV-0")])
        .await;
    let page = b.get("/incidents/1").await;
    assert!(
        page.html.contains("<strong>Failing over</strong>"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("<script>alert"), "{}", page.html);
    assert!(!page.html.contains("javascript:"), "{}", page.html);
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        (incident["status"].as_str(), incident["severity"].as_str()),
        (Some("acknowledged"), Some("SEV-0"))
    );
    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    let by: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "acknowledged")
        .map(|e| e["actor"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["Olga Owner"], "credited to the person signed in");
    let resolved = b.post("/incidents/1/resolve", &[]).await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER);
    let page = b.get("/incidents/1").await;
    assert!(
        !page.html.contains("/incidents/1/resolve")
            && !page.html.contains("/incidents/1/acknowledge"),
        "a resolved incident offers neither: {}",
        page.html
    );
    let unknown = b.post("/incidents/1/delete", &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // An observer reads the page without a button and cannot post.
    let (s, _) = app
        .post(
            "/api/v1/users",
            json!({"name": "Otto", "email": "otto@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    app.send(
        app.req(Method::PUT, "/api/v1/users/otto@example.com/role")
            .json(&json!({"role": "observer"})),
    )
    .await;
    let (_, invitation) = app
        .post("/api/v1/users/otto@example.com/invitation", json!({}))
        .await;
    let mut otto = Browser::new(&app);
    otto.post(
        invitation["link"].as_str().unwrap(),
        &[("password", "otto reads only")],
    )
    .await;
    let key2 = app.service_with_key("search").await;
    app.enqueue(TestApp::trigger(&key2, "slow", "warning"))
        .await;
    let page = otto.get("/incidents/2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.html.contains("/incidents/2/acknowledge"),
        "{}",
        page.html
    );
    let refused = otto.post("/incidents/2/acknowledge", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    let (s, again) = app
        .post("/api/v1/users/otto@example.com/invitation", json!({}))
        .await;
    assert_eq!(
        (s, again["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("in_use")),
        "someone who signs in gets no invitation that would replace their password: {again}"
    );
    // An observer signs out like anyone.
    let out = otto.post("/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/login"), "{}", out.html);
    otto.post(
        "/login",
        &[
            ("email", "otto@example.com"),
            ("password", "otto reads only"),
        ],
    )
    .await;
    let (_, me) = app.get("/api/v1/users/otto@example.com/sessions").await;
    assert_eq!(me["items"].as_array().unwrap().len(), 1, "{me}");
    let id = me["items"][0]["id"].as_str().unwrap();
    let (s, _) = app
        .send(app.req(Method::DELETE, &format!("/api/v1/sessions/{id}")))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        otto.get("/").await.status,
        StatusCode::SEE_OTHER,
        "a revoked session signs its browser out"
    );
}

#[tokio::test]
async fn assets_are_cached_forever_under_names_that_change_with_them() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let login = b.get("/login").await;
    let css = login
        .html
        .split('"')
        .find(|s| s.starts_with("/assets/tocsin.") && s.ends_with(".css"))
        .expect("the page links its stylesheet")
        .to_owned();
    let resp = reqwest::get(format!("{}{css}", app.url)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let stale = reqwest::get(format!("{}/assets/tocsin.000000000000.css", app.url))
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_profile_sets_up_how_a_person_is_reached_and_tests_it() {
    let hook = crate::support::WebhookReceiver::start().await;
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let page = b.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("You have no contact method"),
        "{}",
        page.html
    );

    let bad = b
        .post(
            "/profile/methods",
            &[
                ("name", "mail"),
                ("kind", "email"),
                ("target", "not an address"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.html.contains(r#"id="target-problem""#)
            && bad.html.contains("is not an email address")
            && bad.html.contains(r#"value="not an address""#)
            && bad.html.contains(r#"value="email" selected"#),
        "the error stands beside the field, with what was typed kept: {}",
        bad.html
    );
    let url = format!("{}/olga", hook.url);
    let added = b
        .post(
            "/profile/methods",
            &[
                ("name", "pager hook"),
                ("kind", "webhook"),
                ("target", &url),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.html);
    assert!(
        added.html.contains("signing secret") && added.html.contains("whsec_"),
        "a webhook's secret is shown once: {}",
        added.html
    );
    let page = b.get("/profile").await;
    assert!(!page.html.contains("whsec_"), "and only once");
    assert!(page.html.contains("pager hook"));
    assert!(
        !page.html.contains("/olga"),
        "a webhook's URL is a secret, shown by its host alone"
    );
    let (_, me) = app
        .get("/api/v1/users/olga@example.com/contact-methods")
        .await;
    let method = me["items"][0]["id"].as_str().unwrap().to_owned();
    let tested = b
        .post(&format!("/profile/methods/{method}/test"), &[])
        .await;
    assert_eq!(tested.status, StatusCode::SEE_OTHER);
    let got = hook.wait_for(&app, 1).await;
    assert_eq!(got[0].path, "/olga");
    let page = b.get("/profile").await;
    assert!(
        page.html
            .contains("test by webhook: <strong>delivered</strong>"),
        "the test's result is on the page: {}",
        page.html
    );

    // A method points elsewhere from its edit form; what cannot work is refused beside the field, as typed.
    let moved = format!("{}/olga-new", hook.url);
    let refused = b
        .post(
            &format!("/profile/methods/{method}"),
            &[
                ("name", "pager hook"),
                ("enabled", "1"),
                ("target", "not a url"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.html.contains(r#"id="target-problem""#)
            && refused.html.contains(r#"value="not a url""#)
            && refused.html.contains("<details open>"),
        "{}",
        refused.html
    );
    let changed = b
        .post(
            &format!("/profile/methods/{method}"),
            &[("name", "pager hook"), ("enabled", "1"), ("target", &moved)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.html);
    let (_, m) = app.get(&format!("/api/v1/contact-methods/{method}")).await;
    assert_eq!(m["target"]["url"], moved.as_str(), "{m}");
    b.post(&format!("/profile/methods/{method}/test"), &[])
        .await;
    let got = hook.wait_for(&app, 2).await;
    assert_eq!(got[1].path, "/olga-new");

    let rule = b
        .post(
            "/profile/rules",
            &[("method", &method), ("urgency", "high"), ("delay", "5")],
        )
        .await;
    assert_eq!(rule.status, StatusCode::SEE_OTHER, "{}", rule.html);
    assert!(
        b.get("/profile")
            .await
            .html
            .contains("high urgency: pager hook after 5 min")
    );

    let tz = b
        .post("/profile/time-zone", &[("time_zone", "Mars/Olympus")])
        .await;
    assert_eq!(tz.status, StatusCode::BAD_REQUEST);
    assert!(tz.html.contains("is not an IANA time zone"), "{}", tz.html);
    b.post("/profile/time-zone", &[("time_zone", "Europe/Berlin")])
        .await;
    let (_, olga) = app.get("/api/v1/users/olga@example.com").await;
    assert_eq!(olga["time_zone"], "Europe/Berlin");

    let feed = b.post("/profile/feed", &[]).await;
    let url = feed
        .html
        .split(['<', '>'])
        .find(|s| s.starts_with("http") && s.contains("/calendar/"))
        .expect("the feed URL is shown once")
        .to_owned();
    let ics = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    // The profile lists the feed by the start of its secret, and revoking it stops the URL at once.
    let (_, feeds) = app.get("/api/v1/feeds?user=olga@example.com").await;
    let feed_id = feeds["items"][0]["id"].as_str().unwrap().to_owned();
    let prefix = feeds["items"][0]["token_prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = b.get("/profile").await.html;
    assert!(
        listed.contains(&prefix) && listed.contains(&format!("/feeds/{feed_id}/revoke")),
        "{listed}"
    );
    let revoked = b.post(&format!("/feeds/{feed_id}/revoke"), &[]).await;
    assert_eq!(revoked.location.as_deref(), Some("/profile#feeds"));
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert!(!b.get("/profile").await.html.contains(&prefix));

    let wrong = b
        .post(
            "/profile/password",
            &[
                ("current", "not it at all"),
                ("new", "another long passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong.html.contains(r#"id="current-problem""#)
            && wrong.html.contains("is not your current password"),
        "{}",
        wrong.html
    );
    let old = b.cookie.clone();
    let changed = b
        .post(
            "/profile/password",
            &[
                ("current", "a long enough passphrase"),
                ("new", "another long passphrase"),
            ],
        )
        .await;
    assert_eq!(changed.location.as_deref(), Some("/profile"));
    assert_ne!(b.cookie, old, "a new session for this browser");
    assert_eq!(b.get("/profile").await.status, StatusCode::OK);
    let mut stale = Browser::new(&app);
    stale.cookie = old;
    assert_eq!(
        stale.get("/profile").await.status,
        StatusCode::SEE_OTHER,
        "every other session ended with the change"
    );
}
