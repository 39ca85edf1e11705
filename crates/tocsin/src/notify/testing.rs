//! Test helpers: a local HTTP server that records what it receives and answers as told, and sample notices.

use super::Outgoing;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tocsin_domain::catalog::HttpUrl;
use tocsin_domain::contact::{ContactTarget, Notice, NoticeLink};

pub const DELIVERY_ID: &str = "dlv_01J9Z3V4W5X6Y7Z8A9B0C1D2E3";

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn notice() -> Notice {
    Notice {
        quick_link: None,
        incident: None,
        subject: "[SEV-1] Checkout is down".into(),
        body: "Payments API returns 502 for 40% of requests.\nService: checkout".into(),
        links: vec![
            NoticeLink {
                label: "Acknowledge".into(),
                url: "https://tocsin.example.com/a/xyz".into(),
            },
            NoticeLink {
                label: "Open incident".into(),
                url: "https://tocsin.example.com/incidents/inc_1".into(),
            },
        ],
        event: json!({"type": "incident.triggered", "data": {"id": "inc_1", "title": "Checkout is down"}}),
    }
}

pub fn outgoing<'a>(target: &'a ContactTarget, notice: &'a Notice) -> Outgoing<'a> {
    Outgoing {
        delivery_id: DELIVERY_ID,
        target,
        notice,
        now: now(),
    }
}

pub fn http_url(s: &str) -> HttpUrl {
    HttpUrl::parse(s).unwrap()
}

/// An address nothing listens on.
pub fn refused_addr() -> std::net::SocketAddr {
    // A port freed by closing a listener goes back to the pool, where a test running alongside can be handed it;
    // nothing listens on the privileged port 1.
    std::net::SocketAddr::from(([127, 0, 0, 1], 1))
}

/// What the receiver answers.
#[derive(Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: &'static str,
    pub delay: Option<Duration>,
}

pub fn ok() -> Reply {
    ok_with("")
}

pub fn ok_with(body: &'static str) -> Reply {
    Reply {
        status: StatusCode::OK,
        headers: Vec::new(),
        body,
        delay: None,
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

type Log = Arc<Mutex<Vec<Recorded>>>;

/// A server on 127.0.0.1 that records every request and gives each the same reply; stopped on drop.
pub struct Receiver {
    addr: std::net::SocketAddr,
    log: Log,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(reply: Reply) -> Self {
        let log = Log::default();
        let app = axum::Router::new()
            .fallback(record)
            .with_state((log.clone(), reply));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, log, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State((log, reply)): State<(Log, Reply)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    log.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = (reply.status, reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}
