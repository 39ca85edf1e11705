//! Starting and stopping the server: data directory, database, first admin token, listener.

use crate::automation::Runner;
use crate::config::{Config, Durability};
use crate::engine::{Engine, EngineSettings, Renderer};
use crate::http::{self, AppState};
use crate::notify::Transports;
use crate::tls;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tocsin_app::{App, Metrics};
use tocsin_domain::audit::AuditEntry;
use tocsin_domain::auth::{Role, Secret, display_prefix, new_api_token, token_from_user};
use tocsin_domain::clock::Clock;
use tocsin_store::postgres::{self, PgOptions};
use tocsin_store::secrets::SecretKey;
use tocsin_store::sqlite;
use tocsin_store::{NewToken, SqlStore, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct RunningServer {
    pub addr: SocketAddr,
    /// The admin token created on first start, when it was generated (not supplied); to be shown once.
    pub generated_token: Option<String>,
    /// Until an owner can sign in, the single-use link that creates the first owner's account; to be shown once.
    pub first_owner_link: Option<String>,
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

/// The data directory holds the key that signs action links, webhook secrets and chat URLs: it is created for
/// the server's user alone, and one that others may write to (and so swap the database in) is refused.
fn private_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("reading data directory {}", dir.display()))?
            .permissions()
            .mode();
        anyhow::ensure!(
            mode & 0o022 == 0,
            "the data directory {} can be written by other users (mode {:o}); run `chmod go-w {}` (or 700) first",
            dir.display(),
            mode & 0o777,
            dir.display()
        );
    }
    Ok(())
}

/// Creates `path` readable by its owner alone if it does not exist yet. SQLite gives its journal files the
/// database file's permissions, so they follow.
pub fn private_file(path: &std::path::Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

/// Opens (and migrates) the configured database: PostgreSQL at `database_url`, else SQLite in `data_dir`. Without
/// the secret key: enough for the offline commands, which touch no sealed secret (see [`open_sealed_store`]).
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    match &config.database_url {
        Some(url) => postgres::open(url, PgOptions::default())
            .await
            .context("opening the PostgreSQL database (database_url)"),
        None => {
            private_data_dir(&config.data_dir)?;
            let db_path = config.data_dir.join("tocsin.db");
            private_file(&db_path)?;
            let durability = match config.durability {
                Durability::Full => sqlite::Durability::Full,
                Durability::Process => sqlite::Durability::Process,
            };
            sqlite::open(&db_path, durability)
                .with_context(|| format!("opening database {}", db_path.display()))
        }
    }
}

/// The configured database with the secret key that seals the secrets it keeps, as the server needs it: the key is
/// checked against the database's, and secrets stored before sealing existed are sealed (on SQLite, the file is
/// then rewritten so that their plaintext is gone from it). A key is made only for a database that has none yet.
pub async fn open_sealed_store(config: &Config) -> anyhow::Result<SqlStore> {
    let store = open_store(config).await?;
    let key = match existing_secret_key(config)? {
        Some(key) => key,
        None if store.has_secret_key_check().await? => anyhow::bail!(
            "this database's secrets are sealed with a secret key that is not here: put the key file at {} \
             (secret_key_file) or set {SECRET_KEY_ENV}",
            secret_key_path(config).display()
        ),
        None => new_secret_key(&secret_key_path(config))?,
    };
    let store = store.with_secret_key(&key);
    let sealed = store
        .seal_secrets_at_rest()
        .await
        .context("sealing the stored secrets")?;
    if sealed > 0 && config.database_url.is_none() {
        tracing::info!(
            sealed,
            "Sealed secrets stored before sealing existed; rewriting the database so their plaintext is gone."
        );
        sqlite::vacuum(&config.data_dir.join("tocsin.db")).context("rewriting the database")?;
    } else if sealed > 0 {
        tracing::warn!(
            sealed,
            "Sealed secrets stored before sealing existed. Their plaintext remains in PostgreSQL's dead rows, WAL \
             and older dumps until VACUUM and their rotation: run VACUUM FULL on contact_methods and settings."
        );
    }
    Ok(store)
}

/// The environment variable holding the secret key itself, which wins over `secret_key_file`.
pub const SECRET_KEY_ENV: &str = "TOCSIN_SECRET_KEY";

fn secret_key_path(config: &Config) -> std::path::PathBuf {
    config
        .secret_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("secret.key"))
}

/// The key that seals stored secrets, if there is one: `TOCSIN_SECRET_KEY`, else the key file (`secret_key_file`,
/// by default `<data_dir>/secret.key`). Outside the database, so that a copy of the database holds no usable
/// credential.
pub fn existing_secret_key(config: &Config) -> anyhow::Result<Option<SecretKey>> {
    if let Ok(text) = std::env::var(SECRET_KEY_ENV)
        && !text.trim().is_empty()
    {
        return SecretKey::parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{SECRET_KEY_ENV} {e}"));
    }
    let path = secret_key_path(config);
    if !path.exists() {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(file = %path.display(), "The secret key file can be read by other users; chmod 600 it.");
        }
    }
    read_key_file(&path).map(Some)
}

fn read_key_file(path: &std::path::Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secret key {}", path.display()))?;
    SecretKey::parse(&text)
        .map_err(|e| anyhow::anyhow!("the secret key file {} {e}", path.display()))
}

/// Makes a new key at `path`, readable by its owner alone. Written whole under a temporary name and linked into
/// place, so that a crash or a second process starting at once never leaves a partial key: the loser of a race
/// reads the winner's.
fn new_secret_key(path: &std::path::Path) -> anyhow::Result<SecretKey> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        private_data_dir(dir)?;
    }
    let key = SecretKey::generate();
    let temporary = path.with_extension(format!("new-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        std::io::Write::write_all(&mut file, format!("{}\n", key.encode()).as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            if let Some(dir) = dir.and_then(|d| std::fs::File::open(d).ok()) {
                let _ = dir.sync_all();
            }
            tracing::info!(file = %path.display(), "Created the secret key that seals stored secrets; back it up apart from the database.");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path),
        Err(e) => Err(e).with_context(|| format!("creating the secret key {}", path.display())),
    }
}

/// Runs pending migrations of the configured database; returns its schema version.
pub async fn migrate(config: &Config) -> anyhow::Result<i64> {
    let store = open_store(config).await?;
    Ok(store.schema_version().await?)
}

pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<RunningServer> {
    let store: Arc<dyn Store> = Arc::new(open_sealed_store(config).await?);

    let generated_token = bootstrap_token(&*store, config, &*clock).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let tls = match &config.tls {
        Some(t) => Some(tls::load(t).await?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    let public_url = public_url.trim_end_matches('/').to_owned();
    let link_key = store.engine().link_key().await?;
    let transports: Arc<dyn crate::notify::Transport> = Arc::new(
        Transports::new(&config.notify)
            .context("the [notify] configuration")?
            .with_slack_buttons(config.slack.is_some()),
    );
    let app = App::new(store.clone(), clock, Metrics::new())
        .with_channels(config.notify.channels())
        .with_intake(config.ingest.settings())
        .with_audit_retention(config.audit.retention_days.max(1))
        .with_accounts(config.sessions.settings())
        .with_automation_commands(config.automation.command_names());
    // Until an owner can sign in, every start offers a link that creates one (a failed first start, or a server
    // upgraded from before accounts, must not leave nobody able to); each replaces the one before.
    let first_owner_link = app
        .accounts()
        .first_owner_link()
        .await?
        .map(|(token, _)| format!("{public_url}/account/{}", token.expose()));
    let engine = Arc::new(
        Engine::new(
            &app,
            transports.clone(),
            Renderer {
                public_url: public_url.clone(),
                link_key: link_key.clone(),
                update_templates: {
                    let templates = config.updates.templates.clone();
                    templates.check().map_err(|e| {
                        anyhow::anyhow!("the [updates.templates] configuration: {e}")
                    })?;
                    templates
                },
            },
            EngineSettings {
                tick: std::time::Duration::from_millis(config.engine.tick_ms.max(10)),
                instance: Some(instance_name(config, addr)),
                ..EngineSettings::default()
            },
        )
        .with_runner(
            Runner::new(&config.automation, &public_url)
                .context("the [automation] configuration")?,
        ),
    );
    let mut state = AppState::new(app, public_url).with_engine(engine.clone(), link_key);
    state.mailer = config.notify.smtp.is_some().then_some(transports);
    state.sso = match &config.oidc {
        Some(oidc) => Some(Arc::new(
            crate::sso::Sso::new(oidc.clone(), &state.public_url, &state.link_key)
                .context("the [oidc] configuration")?,
        )),
        None => None,
    };
    state.slack = match &config.slack {
        Some(slack) => Some(Arc::new(
            crate::slack::Slack::new(slack.clone(), config.notify.allowed_networks.clone())
                .context("the [slack] configuration")?,
        )),
        None => None,
    };
    state.body_read_timeout =
        std::time::Duration::from_millis(config.http.body_read_timeout_ms.max(1));
    let engine_task = config.engine.enabled.then(|| engine.clone().spawn());
    let background = http::spawn_background(&state);
    let app = http::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let limits = config.http.clone();
    let gauges = crate::listener::ConnectionGauges {
        open: state.app.metrics().http_connections.clone(),
        cap_reached: state.app.metrics().http_connection_cap_reached.clone(),
    };
    let task = tokio::spawn(async move {
        let watching = tls.as_ref().map(tls::Tls::watch);
        let served = crate::listener::serve(
            listener,
            app,
            limits,
            gauges,
            tls.as_ref().map(tls::Tls::config),
            rx,
        )
        .await;
        if let Some(w) = watching {
            w.abort();
        }
        background.abort();
        if let Some(t) = engine_task {
            t.abort();
            engine.release().await;
        }
        http::flush(&state).await;
        served
    });
    tracing::info!(%addr, %scheme, database = if config.database_url.is_some() { "postgres" } else { "sqlite" }, "Tocsin is listening.");
    Ok(RunningServer {
        addr,
        generated_token,
        first_owner_link,
        store,
        shutdown: Some(tx),
        task,
    })
}

/// Who this server is to the engine lease, the same across its restarts: its host and port (`engine.instance`
/// names it otherwise), since two servers on one host listen on different ports.
fn instance_name(config: &Config, addr: SocketAddr) -> String {
    if let Some(name) = &config.engine.instance {
        return name.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}", addr.port())
}

/// Creates the first admin token if the database has none; the token, when it generated it.
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
    let created = store
        .tokens()
        .bootstrap(
            admin_token("bootstrap admin", &secret),
            system_entry(clock, "token.create", "bootstrap admin"),
            clock.now(),
        )
        .await?;
    if created {
        tracing::info!(generated, "Created the first admin token.");
    } else if !generated {
        tracing::warn!(
            "bootstrap_token (TOCSIN_BOOTSTRAP_TOKEN) is set but the database already has tokens, so it was not \
             used. To regain admin access, run `tocsin admin-token` against this database."
        );
    }
    Ok((created && generated).then(|| secret.expose().to_owned()))
}

/// What the server does on its own or an operator does on its host, for the audit log.
fn system_entry(clock: &dyn Clock, action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at: clock.now(),
        actor: tocsin_domain::incident::Actor::system(),
        action: action.to_owned(),
        target: target.to_owned(),
        summary: serde_json::json!({"after": {"role": Role::Owner}}),
        address: None,
    }
}

/// An owner token with no user and no expiry, stored by its hash.
fn admin_token(name: &str, secret: &Secret) -> NewToken {
    NewToken {
        name: name.to_owned(),
        role: Some(Role::Owner),
        expires_at: None,
        user: None,
        token_hash: secret.hash(),
        token_prefix: display_prefix(secret.expose()),
    }
}

/// Creates a new admin token directly in the configured database, for an operator who lost every admin token.
/// Works offline or beside a running server; returns the token, to be shown once.
pub async fn recover_admin_token(
    config: &Config,
    name: &str,
    clock: &dyn Clock,
) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let secret = new_api_token();
    let token = store
        .audited(system_entry(clock, "token.recover", name))
        .tokens()
        .create(admin_token(name, &secret), clock.now())
        .await?;
    tracing::info!(token = %token.id, "Created an admin token from the command line.");
    Ok(secret.expose().to_owned())
}

/// Copies the embedded database to `to` while the server may keep running.
pub fn backup(config: &Config, to: &std::path::Path) -> anyhow::Result<()> {
    if config.database_url.is_some() {
        anyhow::bail!(
            "backup copies the embedded SQLite database; for PostgreSQL use pg_dump (see README)"
        );
    }
    let db = config.data_dir.join("tocsin.db");
    if !db.exists() {
        anyhow::bail!("no database at {}", db.display());
    }
    // The copy holds the same secrets: it is its owner's alone from the start.
    anyhow::ensure!(
        !to.exists(),
        "{} already exists; choose a new file for the backup",
        to.display()
    );
    private_file(to)?;
    sqlite::backup(&db, to).with_context(|| format!("backing up {}", db.display()))
}
