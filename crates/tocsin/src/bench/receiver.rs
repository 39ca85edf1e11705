//! A webhook receiver in the benchmark process, for scenarios that follow a page to where it lands: it answers
//! every POST at once with 204, so a send costs Tocsin what a fast receiver costs, and notes when each arrived.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::task::JoinHandle;

pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

struct Inner {
    count: AtomicU64,
    /// Arrival time and body of each request, when the scenario reads them; parsing waits until the run is over.
    arrivals: Option<Mutex<Vec<(Instant, Bytes)>>>,
}

impl Receiver {
    /// Listens on a loopback port; `keep` keeps every body with its arrival time, otherwise only counts.
    pub async fn start(keep: bool) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            count: AtomicU64::new(0),
            arrivals: keep.then(|| Mutex::new(Vec::new())),
        });
        let app = Router::new().fallback(take).with_state(inner.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("the benchmark's webhook receiver stopped: {e}");
            }
        });
        Ok(Self {
            url: format!("http://{addr}/hook"),
            inner,
            task,
        })
    }

    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// Everything kept since the last call.
    pub fn drain(&self) -> Vec<(Instant, Bytes)> {
        self.inner
            .arrivals
            .as_ref()
            .map(|a| std::mem::take(&mut *a.lock().expect("receiver arrivals")))
            .unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn take(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    inner.count.fetch_add(1, Ordering::Relaxed);
    if let Some(arrivals) = &inner.arrivals {
        arrivals.lock().expect("receiver arrivals").push((at, body));
    }
    StatusCode::NO_CONTENT
}
