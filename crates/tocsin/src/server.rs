//! Starting and stopping the server: data directory, database, first admin token, listener.

use crate::config::{Config, Durability};
use crate::engine::{Engine, EngineSettings, Renderer};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::notify::Transports;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tocsin_domain::auth::{Scope, Secret, display_prefix, new_api_token, token_from_user};
use tocsin_domain::clock::Clock;
use tocsin_store::sqlite::{self, SqliteStore};
use tocsin_store::{NewToken, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct RunningServer {
    pub addr: SocketAddr,
    /// The admin token created on first start, when it was generated (not supplied); to be shown once.
    pub generated_token: Option<String>,
    pub store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }

    /// Runs until the process receives Ctrl-C or SIGTERM.
    pub async fn wait_for_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("Shutting down.");
        self.stop().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let db_path = config.data_dir.join("tocsin.db");
    let durability = match config.durability {
        Durability::Full => sqlite::Durability::Full,
        Durability::Process => sqlite::Durability::Process,
    };
    let store = SqliteStore::open(&db_path, durability)
        .with_context(|| format!("opening database {}", db_path.display()))?;
    let store: Arc<dyn Store> = Arc::new(store);

    let generated_token = bootstrap_token(&*store, config, &*clock).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let public_url = public_url.trim_end_matches('/').to_owned();
    let link_key = store.engine().link_key().await?;
    let transports = Transports::new(&config.notify).context("the [notify] configuration")?;
    let engine = Arc::new(Engine::new(
        store.clone(),
        clock.clone(),
        Arc::new(transports),
        Renderer {
            public_url: public_url.clone(),
            link_key: link_key.clone(),
        },
        EngineSettings {
            tick: std::time::Duration::from_millis(config.engine.tick_ms.max(10)),
            ..EngineSettings::default()
        },
    ));
    let state = AppState::new(store.clone(), clock, Metrics::new(), public_url)
        .with_engine(engine.clone(), link_key);
    let engine_task = config.engine.enabled.then(|| engine.clone().spawn());
    let background = http::spawn_background(&state);
    let app = http::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        background.abort();
        if let Some(t) = engine_task {
            t.abort();
            engine.release().await;
        }
        http::flush(&state).await;
        served
    });
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "Tocsin is listening.");
    Ok(RunningServer {
        addr,
        generated_token,
        store,
        shutdown: Some(tx),
        task,
    })
}

/// Creates the first admin token if the database has none.
async fn bootstrap_token(
    store: &dyn Store,
    config: &Config,
    clock: &dyn Clock,
) -> anyhow::Result<Option<String>> {
    let (secret, generated): (Secret, bool) = match &config.bootstrap_token {
        Some(t) => (
            token_from_user(t)
                .map_err(|e| anyhow::anyhow!("bootstrap_token (TOCSIN_BOOTSTRAP_TOKEN) {e}"))?,
            false,
        ),
        None => (new_api_token(), true),
    };
    let new = NewToken {
        name: "bootstrap admin".into(),
        scope: Scope::Admin,
        expires_at: None,
        user: None,
        token_hash: secret.hash(),
        token_prefix: display_prefix(secret.expose()),
    };
    let created = store.tokens().bootstrap(new, clock.now()).await?;
    if created {
        tracing::info!(generated, "Created the first admin token.");
    }
    Ok((created && generated).then(|| secret.expose().to_owned()))
}
