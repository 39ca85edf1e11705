//! The PostgreSQL backend, for several Tocsin instances on one database.
//!
//! # Concurrency
//! Write jobs run in `SERIALIZABLE` transactions, so the repositories (written for SQLite's single writer, where
//! every transaction sees the world alone) keep that guarantee across processes: PostgreSQL aborts whichever of two
//! conflicting transactions would break it, and the driver runs it again on fresh transactions (a batch in halves,
//! a lone job up to [`MAX_ATTEMPTS`] times with a short random pause). A unique index that another transaction filled first (two
//! instances opening the same dedup key) is treated the same way: the run again sees the winner's row and
//! deduplicates against it. Within one process, writes go through a few writers with group commit ([`writer`]):
//! each commits many jobs at once, and they race only each other and other processes. Reads run in `REPEATABLE READ READ ONLY` transactions on a
//! pool, one consistent snapshot per call. Correctness never depends on advisory locks or LISTEN/NOTIFY; the only
//! advisory lock serialises migrations when several instances start at once.
//!
//! Connections block their callers (each drives its own single-threaded runtime): each writer's on its own thread,
//! the readers' on the blocking thread pool, at most `max_connections` at a time; a reader beyond that waits for
//! one to be free.

mod writer;

use crate::db::{Answer, Driver, ReadJob, SqlStore, WriteJob};
use crate::sql::Dialect;
use crate::sql::postgres::PgConn;
use crate::{Result, StoreError};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// How many times a write transaction that lost a race is run in all before its callers hear of it. Races on one
/// hot row (many instances receiving the same dedup key at once) can each take a few runs to settle.
pub const MAX_ATTEMPTS: u32 = 25;

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Read connections, at most.
    pub max_connections: usize,
    /// Writer threads, each with a connection of its own.
    pub writers: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            // One writer: SERIALIZABLE transactions of one process would abort each other on shared index pages
            // (PostgreSQL's predicate locks are page-grained there), and one writer's batches commit together.
            writers: 1,
        }
    }
}

pub struct PgDriver {
    inner: Arc<Inner>,
}

struct Inner {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<PgConn>>,
    permits: Arc<Semaphore>,
    writers: writer::Writers,
}

impl Drop for Inner {
    /// Closing a synchronous client blocks on its runtime, which must not happen on an async worker thread,
    /// where the last handle to the pool may well be dropped.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        if !idle.is_empty() {
            std::thread::spawn(move || drop(idle));
        }
    }
}

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "sender_groups",
        include_str!("migrations/0002_sender_groups.sql"),
    ),
    (
        3,
        "incident_numbers",
        include_str!("migrations/0003_incident_numbers.sql"),
    ),
    (
        4,
        "due_order",
        include_str!("migrations/0004_due_order.sql"),
    ),
    (
        5,
        "unassigned",
        include_str!("migrations/0005_unassigned.sql"),
    ),
    (
        6,
        "team_targets",
        include_str!("migrations/0006_team_targets.sql"),
    ),
    (
        7,
        "status_updates",
        include_str!("migrations/0007_status_updates.sql"),
    ),
    (
        8,
        "incident_details",
        include_str!("migrations/0008_incident_details.sql"),
    ),
    (
        9,
        "alert_ends",
        include_str!("migrations/0009_alert_ends.sql"),
    ),
    (
        10,
        "roles_audit",
        include_str!("migrations/0010_roles_audit.sql"),
    ),
    (11, "accounts", include_str!("migrations/0011_accounts.sql")),
    (12, "course", include_str!("migrations/0012_course.sql")),
    (13, "related", include_str!("migrations/0013_related.sql")),
    (14, "roles", include_str!("migrations/0014_roles.sql")),
    (15, "tasks", include_str!("migrations/0015_tasks.sql")),
    (16, "runbooks", include_str!("migrations/0016_runbooks.sql")),
    (17, "merges", include_str!("migrations/0017_merges.sql")),
    (
        18,
        "automation",
        include_str!("migrations/0018_automation.sql"),
    ),
    (19, "updates", include_str!("migrations/0019_updates.sql")),
    (20, "slack", include_str!("migrations/0020_slack.sql")),
    (
        21,
        "status_pages",
        include_str!("migrations/0021_status_pages.sql"),
    ),
    (
        22,
        "public_incidents",
        include_str!("migrations/0022_public_incidents.sql"),
    ),
    (
        23,
        "status_history",
        include_str!("migrations/0023_status_history.sql"),
    ),
];

/// An arbitrary constant naming Tocsin's migration lock among the database's advisory locks.
const MIGRATION_LOCK: i64 = 0x7f0c_5e17;

/// Connects to the database at `url` (`postgres://user:password@host:port/db`), runs pending migrations and
/// returns the store.
pub async fn open(url: &str, options: PgOptions) -> Result<SqlStore> {
    let driver = PgDriver::connect(url, options).await?;
    driver.migrate().await?;
    Ok(SqlStore::new(driver))
}

impl PgDriver {
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let driver = Self {
            inner: Arc::new(Inner {
                writers: writer::Writers::start(&config, options.writers)?,
                config,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(options.max_connections.max(1))),
            }),
        };
        // Fail at start, with the reason, rather than on the first request.
        driver
            .with_conn(|c| c.batch("SELECT 1"))
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(driver)
    }

    async fn migrate(&self) -> Result<i64> {
        self.with_conn(run_migrations).await
    }

    /// Runs `f` on a pooled connection on the blocking thread pool.
    async fn with_conn<R: Send + 'static>(
        &self,
        f: impl FnOnce(&PgConn) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the connection pool is closed".into()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = inner.idle.lock().expect("pool").pop();
            let conn = match pooled {
                Some(c) if !c.is_closed() => c,
                _ => PgConn::connect(&inner.config)
                    .map_err(|e| StoreError::Backend(format!("cannot connect: {e}")))?,
            };
            let out = f(&conn);
            // A job that failed may have left writes held for a transaction that is over.
            conn.discard();
            if !conn.is_closed() {
                inner.idle.lock().expect("pool").push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("database task failed: {e}")))?
    }
}

fn run_migrations(c: &PgConn) -> Result<i64> {
    c.batch(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let outcome = migrate_locked(c);
    let unlocked = c.batch(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    let version = outcome?;
    unlocked?;
    Ok(version)
}

fn migrate_locked(c: &PgConn) -> Result<i64> {
    use crate::sql::Conn;
    c.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )?;
    let conn: &dyn Conn = c;
    let current: i64 = conn.query_one(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        &[],
        |r| r.get(0),
    )?;
    let latest = MIGRATIONS.last().map_or(0, |(v, _, _)| *v);
    if current > latest {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {current}, newer than this Tocsin knows ({latest}); upgrade Tocsin"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        c.batch("BEGIN")?;
        let applied = c.batch(sql).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                crate::params![*version, *name, chrono::Utc::now().timestamp_micros()],
            )
        });
        if let Err(e) = applied {
            let _ = c.rollback();
            return Err(StoreError::Backend(format!(
                "migration {version} ({name}) failed: {e}"
            )));
        }
        c.batch("COMMIT")?;
        tracing::info!(version, name, "Applied database migration.");
    }
    Ok(latest)
}

/// The channel on which processes tell each other's engines that something may have become due.
const DUE_CHANNEL: &str = "tocsin_due";

#[async_trait::async_trait]
impl Driver for PgDriver {
    fn queued_writes(&self) -> usize {
        self.inner.writers.queued()
    }

    fn writer_stats(&self) -> &crate::db::WriterStats {
        &self.inner.writers.stats
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn announce_due(&self) -> Result<()> {
        // Through the writer, so that it rides along in a batch's transaction; NOTIFY is delivered at commit.
        let job: WriteJob = Box::new(|c| {
            c.execute(&format!("SELECT pg_notify('{DUE_CHANNEL}', '')"), &[])?;
            Ok(Box::new(()) as Answer)
        });
        self.inner.writers.run(job).await.map(|_| ())
    }

    fn listen_due(&self, wake: std::sync::Weak<tokio::sync::Notify>) {
        let config = postgres::Config::from(self.inner.config.clone());
        let spawned = std::thread::Builder::new()
            .name("tocsin-postgres-listener".into())
            .spawn(move || listen(config, wake));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Could not listen for other processes' wake-ups; engines rely on polling.");
        }
    }

    async fn write(&self, job: WriteJob) -> Result<Answer> {
        self.inner.writers.run(job).await
    }

    async fn read(&self, job: ReadJob) -> Result<Answer> {
        self.with_conn(move |c| {
            c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let out = job(c);
            let _ = if out.is_ok() {
                c.batch("COMMIT")
            } else {
                c.rollback()
            };
            out
        })
        .await
    }
}

/// Relays announcements on [`DUE_CHANNEL`] to `wake` until it is dropped. A lost connection is reopened after a
/// pause; meanwhile engines still find due work by polling.
fn listen(config: postgres::Config, wake: std::sync::Weak<tokio::sync::Notify>) {
    const CHECK: std::time::Duration = std::time::Duration::from_secs(2);
    while wake.strong_count() > 0 {
        let mut client = match config.connect(postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "Cannot listen for wake-ups; trying again.");
                std::thread::sleep(CHECK);
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {DUE_CHANNEL}")) {
            tracing::debug!(error = %e, "Cannot listen for wake-ups; trying again.");
            std::thread::sleep(CHECK);
            continue;
        }
        loop {
            let next = {
                let mut notifications = client.notifications();
                let mut arrived = notifications.timeout_iter(CHECK);
                postgres::fallible_iterator::FallibleIterator::next(&mut arrived)
            };
            match next {
                Ok(Some(_)) => match wake.upgrade() {
                    Some(w) => w.notify_one(),
                    None => return,
                },
                Ok(None) if wake.strong_count() == 0 => return,
                // A closed socket ends the iteration at once rather than failing: reconnect, after a pause.
                Ok(None) if client.is_closed() => {
                    std::thread::sleep(CHECK);
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "Lost the wake-up connection; reconnecting.");
                    std::thread::sleep(CHECK);
                    break;
                }
            }
        }
    }
}

/// A database of its own for one test, created on the server at `admin_url`, and its URL. Reads the server from
/// `TOCSIN_TEST_POSTGRES_URL`; without it, `None`, unless `TOCSIN_REQUIRE_PEERS=1` demands the server (CI), when a
/// missing server is a failure rather than a skip.
pub async fn test_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("TOCSIN_TEST_POSTGRES_URL") else {
        if std::env::var("TOCSIN_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "TOCSIN_REQUIRE_PEERS=1 but TOCSIN_TEST_POSTGRES_URL is not set: start a cluster with scripts/postgres-cluster.sh"
            );
        }
        return None;
    };
    Some(
        create_database(&admin_url, "tocsin_test")
            .await
            .expect("create a database on TOCSIN_TEST_POSTGRES_URL"),
    )
}

/// Creates a new, empty database named `<prefix>_<ULID>` on the server at `admin_url`; returns its URL.
pub async fn create_database(admin_url: &str, prefix: &str) -> Result<String> {
    let name = new_database_name(prefix);
    create_named(admin_url, &name).await
}

fn new_database_name(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A database made for one run (a benchmark's), dropped with this guard, whoever is still connected to it.
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates a new, empty database named `<prefix>_<ULID>` on the server at `admin_url`.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self> {
        let name = new_database_name(prefix);
        let url = create_named(admin_url, &name).await?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // On a thread of its own: a connection blocks its caller, which must not be an async worker thread.
        let dropped = std::thread::spawn(move || {
            let config: tokio_postgres::Config = admin_url
                .parse()
                .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
            PgConn::connect(&config)?.batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            tracing::warn!(database = %self.name, error = %e, "Could not drop a scratch database.");
        }
    }
}

async fn create_named(admin_url: &str, name: &str) -> Result<String> {
    let admin = PgDriver::connect(
        admin_url,
        PgOptions {
            max_connections: 1,
            writers: 1,
        },
    )
    .await?;
    let create = format!("CREATE DATABASE {name}");
    admin.with_conn(move |c| c.batch(&create)).await?;
    Ok(with_database(admin_url, name))
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres", "t"),
            "postgres://u@h:5/t"
        );
        assert_eq!(with_database("postgres://u@h:5", "t"), "postgres://u@h:5/t");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t"),
            "postgres://u:p@h/t?sslmode=disable"
        );
    }

    async fn store() -> Option<SqlStore> {
        let url = test_database().await?;
        Some(
            open(&url, PgOptions::default())
                .await
                .expect("open the test database")
                .with_secret_key(crate::conformance::secret_key()),
        )
    }

    async fn pair() -> Option<(SqlStore, SqlStore)> {
        let url = test_database().await?;
        let a = open(&url, PgOptions::default())
            .await
            .expect("open the test database")
            .with_secret_key(crate::conformance::secret_key());
        let b = open(&url, PgOptions::default())
            .await
            .expect("open it again")
            .with_secret_key(crate::conformance::secret_key());
        Some((a, b))
    }

    crate::conformance::conformance_suite!(store, pair);

    /// Jobs committed together in one batch: one that fails after writing takes back only its own rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_in_a_batch_undoes_only_itself() {
        let Some(store) = store().await else { return };
        every_third_job_fails(&store, "job", |c, i| {
            c.execute(
                "INSERT INTO counters (name, value) VALUES (?1, ?2)",
                crate::params![format!("job-{i}"), i],
            )?;
            if i % 3 == 0 {
                return Err(StoreError::Backend(format!("job {i} fails after writing")));
            }
            Ok(i)
        })
        .await;
    }

    /// A write held back to go out with the next statement fails the job that made it, not the one whose statement
    /// happened to carry it, and not the batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_write_that_fails_fails_only_its_own_job() {
        let Some(store) = store().await else { return };
        every_third_job_fails(&store, "held", |c, i| {
            // Every job reads first, so a failed write held by the job before it reaches the database with this
            // job's statement.
            c.query_opt(
                "SELECT value FROM counters WHERE name = 'none'",
                crate::params![],
                |r| r.get::<i64>(0),
            )?;
            // NULL breaks the column's NOT NULL, at the database.
            let value = (i % 3 != 0).then_some(i);
            c.execute_later(
                "INSERT INTO counters (name, value) VALUES (?1, ?2)",
                crate::params![format!("held-{i}"), value],
            )?;
            Ok(i)
        })
        .await;
    }

    /// Runs 64 jobs at once, so that the writer batches them; `job` writes the counter `<prefix>-<i>` and fails
    /// when `i % 3 == 0`. Exactly those fail, and the store keeps every other job's counter.
    async fn every_third_job_fails(
        store: &SqlStore,
        prefix: &'static str,
        job: fn(&dyn crate::sql::Conn, i64) -> crate::Result<i64>,
    ) {
        let jobs = (0..64).map(|i| {
            let store = store.clone();
            async move { store.write(move |c| job(c, i)).await }
        });
        let answers = futures_join_all(jobs).await;
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(a.is_ok(), i % 3 != 0, "job {i}: {a:?}");
        }
        let kept: Vec<String> = store
            .read(move |c| {
                c.query_all(
                    "SELECT name FROM counters WHERE name LIKE ?1 ORDER BY value",
                    crate::params![format!("{prefix}-%")],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap();
        let expected: Vec<String> = (0..64)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("{prefix}-{i}"))
            .collect();
        assert_eq!(kept, expected);
    }

    /// An announcement through one process wakes the listener of another at once, not at its next poll.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn announcing_due_work_wakes_other_processes() {
        let Some((a, b)) = pair().await else { return };
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        a.listen_due(std::sync::Arc::downgrade(&wake));
        // The listener subscribes on a thread of its own; announce until it has, then expect the wake-up.
        let woken = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                b.announce_due().await.expect("announce");
                if tokio::time::timeout(std::time::Duration::from_millis(200), wake.notified())
                    .await
                    .is_ok()
                {
                    break;
                }
            }
        })
        .await;
        assert!(woken.is_ok(), "the other process was never woken");
    }

    /// Awaits every future, concurrently, in order.
    async fn futures_join_all<F: std::future::Future + Send + 'static>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("the job's task"));
        }
        out
    }
}
