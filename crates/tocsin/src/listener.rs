//! Accepting connections, so that slow or idle clients cannot take the server down: at most
//! `http.max_connections` at once, a TLS handshake and a request's headers each within
//! `http.header_read_timeout_ms` (which also closes a keep-alive connection left idle that long), and a request's
//! body within `http.body_read_timeout_ms` (see [`crate::http::router`]). Stopping lets requests in flight finish.

use crate::config::HttpLimits;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tower::ServiceExt;

/// How long stopping waits for requests in flight before closing their connections.
const DRAIN: Duration = Duration::from_secs(30);

/// What the metrics show of the connections.
pub struct ConnectionGauges {
    pub open: prometheus::IntGauge,
    pub cap_reached: prometheus::IntCounter,
}

/// Counts a connection open while it lives.
struct Open(prometheus::IntGauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `app` on `listener`, over TLS when `tls` is given, until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    gauges: ConnectionGauges,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms.max(1));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(header_timeout)
        .keep_alive_timeout(header_timeout);
    let builder = Arc::new(builder);
    let trusted_proxies: Arc<[ipnet::IpNet]> = limits.trusted_proxies.clone().into();
    loop {
        // At the cap, wait for a slot before accepting: new connections queue in the kernel's backlog.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                gauges.cap_reached.inc();
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    _ = &mut stop => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "Could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        // Whom a request came from, for the audit log and sign-in limits: the connection's peer, or the client a
        // trusted proxy names.
        let proxies = trusted_proxies.clone();
        let service =
            TowerToHyperService::new(app.clone().map_request(
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    let forwarded = req
                        .headers()
                        .get("x-forwarded-for")
                        .and_then(|v| v.to_str().ok());
                    let client = tocsin_domain::net::client_address(peer.ip(), forwarded, &proxies);
                    req.extensions_mut().insert(axum::extract::ConnectInfo(
                        std::net::SocketAddr::new(client, peer.port()),
                    ));
                    req
                },
            ));
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        gauges.open.inc();
        let open = Open(gauges.open.clone());
        tokio::spawn(async move {
            let _slot = (slot, open);
            match tls {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.get_inner());
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(header_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "Requests were still running {DRAIN:?} after the stop; their connections are closed."
        );
    }
    Ok(())
}
