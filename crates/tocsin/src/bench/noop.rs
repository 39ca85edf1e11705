//! A server that takes PagerDuty events as Tocsin does (axum, the body read and parsed as JSON, the Events API v2
//! parser and its validation) and stores nothing: what this machine's HTTP stack and the parsing allow, the ceiling
//! the ingest figures are read against; and `GET /bytes/{size}`, a ready answer of that size, the ceiling for the
//! status page's reads. Started by the benchmark as `tocsin bench-noop`, a process of its own like
//! the servers it is compared with.

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::net::SocketAddr;
use tocsin_domain::pagerduty::parse_enqueue;

pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/v2/enqueue", post(enqueue))
        .route("/bytes/{size}", get(bytes))
        .route("/readyz", get(|| async { "ready" }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// The most a `/bytes/{size}` answer holds.
const MOST_BYTES: usize = 1 << 20;
static FILLER: [u8; MOST_BYTES] = [b'x'; MOST_BYTES];

/// `size` bytes, as a server answering a document it holds ready would: the limit for a GET answered with a body
/// of that size.
async fn bytes(axum::extract::Path(size): axum::extract::Path<usize>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Bytes::from_static(&FILLER[..size.min(MOST_BYTES)]),
    )
        .into_response()
}

async fn enqueue(body: Bytes) -> Response {
    let parsed = serde_json::from_slice(&body)
        .map_err(|e| vec![e.to_string()])
        .and_then(|value| parse_enqueue(&value, None));
    match parsed {
        Ok(e) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "success",
                "message": "Event processed",
                "dedup_key": e.event.dedup_key,
            })),
        )
            .into_response(),
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": errors,
            })),
        )
            .into_response(),
    }
}
