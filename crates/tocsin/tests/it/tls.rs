//! HTTPS from certificate and key files: served, used by a client that refuses plain HTTP (the official PagerDuty
//! Python client), and reloaded when the files change.

use crate::support::{TestApp, python_module_missing};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use tocsin::config::TlsConfig;
use tocsin_domain::clock::SystemClock;

/// A certificate authority of its own and a certificate it issued for 127.0.0.1: (CA, certificate, key) in PEM.
fn issued(authority: &str) -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, authority);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    (ca_cert.pem(), leaf.pem(), leaf_key.serialize_pem())
}

fn trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

fn install(dir: &Path, (_, cert, key): &(String, String, String)) {
    std::fs::write(dir.join("key.pem"), key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
}

#[tokio::test]
async fn serves_https_to_a_client_that_refuses_http_and_reloads_a_renewed_certificate() {
    if python_module_missing("pagerduty") {
        return;
    }
    let files = tempfile::tempdir().unwrap();
    let first = issued("First CA");
    install(files.path(), &first);
    let tls = TlsConfig {
        cert_file: files.path().join("cert.pem"),
        key_file: files.path().join("key.pem"),
        reload_check_seconds: 1,
    };
    let mut app = TestApp::spawn_with(Arc::new(SystemClock), |c| c.tls = Some(tls)).await;
    let plain = app.url.clone();
    app.url = plain.replace("http://", "https://");
    app.client = trusting(&first.0);
    let (s, _) = app.get("/healthz").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        reqwest::get(format!("{plain}/healthz")).await.is_err(),
        "plain HTTP is not served on the TLS port"
    );
    app.post("/api/v1/services", json!({"name": "checkout"}))
        .await;
    let (_, integration) = app
        .post(
            "/api/v1/services/checkout/integrations",
            json!({"kind": "pagerduty"}),
        )
        .await;
    let key = integration["key"].as_str().unwrap().to_owned();
    let integration_url = app.url.clone();
    // The integration's URL says https: the default public URL follows the scheme served.
    assert!(
        integration["url"].as_str().unwrap().starts_with("https://"),
        "{integration}"
    );
    let ca_file = files.path().join("first-ca.pem");
    std::fs::write(&ca_file, &first.0).unwrap();
    let script = "import sys, pagerduty\n\
        client = pagerduty.EventsApiV2Client(sys.argv[2], base_url=sys.argv[1])\n\
        print(client.trigger('Checkout error rate above 5%', 'web-1', dedup_key='checkout-errors'))";
    let run = move |base_url: String| {
        let (key, ca_file) = (key.clone(), ca_file.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .args(["-c", script, &base_url, &key])
                .env("SSL_CERT_FILE", &ca_file)
                .output()
                .unwrap()
        })
    };
    let refused = run(plain.clone()).await.unwrap();
    assert!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("https"),
        "the client refuses plain HTTP: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = run(integration_url).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "checkout-errors"
    );
    let (_, incidents) = app.get("/api/v1/incidents").await;
    assert_eq!(
        incidents["items"][0]["title"],
        "Checkout error rate above 5%"
    );

    // A renewed certificate from another authority is picked up without a restart, at the next check of the files
    // (every second here), which runs on real time: the wait is for that check, bounded.
    let second = issued("Second CA");
    install(files.path(), &second);
    let renewed = trusting(&second.0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while renewed
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate was not served within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        trusting(&first.0)
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .is_err(),
        "the old certificate is no longer served"
    );
}
