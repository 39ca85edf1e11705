//! [`SqlStore`]: the one implementation of the repositories, over whichever driver the database needs.
//!
//! A driver runs jobs: a read job on a connection that sees every committed write, a write job inside a
//! transaction that commits before the job's caller hears back. A write job may run more than once (PostgreSQL
//! retries a transaction that lost a serialization race or a unique-index race, and the retry must see the winner's
//! rows), so write jobs are `Fn` and must not keep anything from a failed run.

use crate::sql::{Conn, Dialect};
use crate::{Result, StoreError};
use async_trait::async_trait;
use std::any::Any;
use std::sync::Arc;

/// How the write side is doing, for the metrics endpoint: jobs waiting for a writer, and how long each write
/// transaction took from its first statement to COMMIT returning (`observe_commits` receives each, in seconds).
#[derive(Default)]
pub struct WriterStats {
    observer: std::sync::OnceLock<Box<dyn Fn(f64) + Send + Sync>>,
}

impl WriterStats {
    pub(crate) fn committed(&self, took: std::time::Duration) {
        if let Some(observe) = self.observer.get() {
            observe(took.as_secs_f64());
        }
    }
}

pub type Answer = Box<dyn Any + Send>;
pub type WriteJob = Box<dyn Fn(&dyn Conn) -> Result<Answer> + Send + Sync>;
pub type ReadJob = Box<dyn FnOnce(&dyn Conn) -> Result<Answer> + Send>;

/// What a database backend provides: transactions on connections that speak the portable SQL of [`crate::sql`].
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// Runs `job` in a write transaction and answers once it is durable.
    async fn write(&self, job: WriteJob) -> Result<Answer>;
    /// Runs `job` on a read connection.
    async fn read(&self, job: ReadJob) -> Result<Answer>;
    /// Tells the engines of every process on the database that something may have become due. Only a hint:
    /// engines also poll, so a backend without a way to reach other processes does nothing.
    async fn announce_due(&self) -> Result<()> {
        Ok(())
    }
    /// Notifies `wake` whenever any process announces that something may have become due, for as long as
    /// `wake` lives.
    fn listen_due(&self, _wake: std::sync::Weak<tokio::sync::Notify>) {}
    /// Write jobs waiting for a writer now.
    fn queued_writes(&self) -> usize;
    /// The writer's statistics, to observe commit times through.
    fn writer_stats(&self) -> &WriterStats;
}

/// The store: every repository of [`crate::Store`], written once over a [`Driver`].
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) inner: Arc<Inner>,
    /// Recorded in the audit log by every write transaction of this handle (see [`crate::Store::audited`]).
    audit: Option<Arc<tocsin_domain::audit::AuditEntry>>,
}

pub(crate) struct Inner {
    pub(crate) driver: Box<dyn Driver>,
    pub(crate) triage: crate::repo::noise::TriageCache,
    pub(crate) sealer: crate::secrets::Sealer,
}

impl SqlStore {
    pub fn new(driver: impl Driver) -> Self {
        Self {
            inner: Arc::new(Inner {
                driver: Box::new(driver),
                triage: Default::default(),
                sealer: Default::default(),
            }),
            audit: None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.driver.dialect()
    }

    /// Tells every process's engine that something may have become due (see [`Driver::announce_due`]).
    pub async fn announce_due(&self) -> Result<()> {
        self.inner.driver.announce_due().await
    }

    /// Wakes `wake` when any process announces that something may have become due, while `wake` lives.
    pub fn listen_due(&self, wake: std::sync::Weak<tokio::sync::Notify>) {
        self.inner.driver.listen_due(wake)
    }

    /// The latest migration the database has run.
    pub async fn schema_version(&self) -> Result<i64> {
        self.read(|c| {
            c.query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Runs `f` in a write transaction; the result is returned once it is committed.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: Fn(&dyn Conn) -> Result<R> + Send + Sync + 'static,
    {
        let sealer = self.inner.sealer.clone();
        let audit = self.audit.clone();
        let job: WriteJob = Box::new(move |c| {
            let conn = crate::sql::SealingConn {
                conn: c,
                sealer: &sealer,
                unchanged: std::cell::Cell::new(false),
            };
            let answer = f(&conn)?;
            if let Some(entry) = &audit
                && !conn.unchanged.get()
            {
                crate::repo::audit::insert(c, entry)?;
            }
            Ok(Box::new(answer) as Answer)
        });
        let answer = self.inner.driver.write(job).await?;
        downcast(answer)
    }

    /// Runs `f` on a read connection.
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Conn) -> Result<R> + Send + 'static,
    {
        let sealer = self.inner.sealer.clone();
        let job: ReadJob = Box::new(move |c| {
            f(&crate::sql::SealingConn {
                conn: c,
                sealer: &sealer,
                unchanged: std::cell::Cell::new(false),
            })
            .map(|r| Box::new(r) as Answer)
        });
        let answer = self.inner.driver.read(job).await?;
        downcast(answer)
    }
}

fn downcast<R: 'static>(answer: Answer) -> Result<R> {
    answer
        .downcast::<R>()
        .map(|b| *b)
        .map_err(|_| StoreError::Backend("a job answered with the wrong type".into()))
}

impl crate::Store for SqlStore {
    fn users(&self) -> &dyn crate::UserRepo {
        self
    }
    fn teams(&self) -> &dyn crate::TeamRepo {
        self
    }
    fn services(&self) -> &dyn crate::ServiceRepo {
        self
    }
    fn catalog(&self) -> &dyn crate::CatalogRepo {
        self
    }
    fn integrations(&self) -> &dyn crate::IntegrationRepo {
        self
    }
    fn tokens(&self) -> &dyn crate::TokenRepo {
        self
    }
    fn ingest(&self) -> &dyn crate::IngestRepo {
        self
    }
    fn alerts(&self) -> &dyn crate::AlertRepo {
        self
    }
    fn incidents(&self) -> &dyn crate::IncidentRepo {
        self
    }
    fn noise(&self) -> &dyn crate::NoiseRepo {
        self
    }
    fn health(&self) -> &dyn crate::HealthRepo {
        self
    }
    fn oncall(&self) -> &dyn crate::OnCallRepo {
        self
    }
    fn escalation(&self) -> &dyn crate::EscalationRepo {
        self
    }
    fn contacts(&self) -> &dyn crate::ContactRepo {
        self
    }
    fn engine(&self) -> &dyn crate::EngineRepo {
        self
    }
    fn audit(&self) -> &dyn crate::AuditRepo {
        self
    }
    fn accounts(&self) -> &dyn crate::AccountRepo {
        self
    }
    fn roles(&self) -> &dyn crate::RoleRepo {
        self
    }
    fn tasks(&self) -> &dyn crate::TaskRepo {
        self
    }
    fn runbooks(&self) -> &dyn crate::RunbookRepo {
        self
    }
    fn automation(&self) -> &dyn crate::AutomationRepo {
        self
    }
    fn updates(&self) -> &dyn crate::UpdateRepo {
        self
    }
    fn slack(&self) -> &dyn crate::SlackRepo {
        self
    }
    fn status_pages(&self) -> &dyn crate::StatusPageRepo {
        self
    }
    fn audited(&self, entry: tocsin_domain::audit::AuditEntry) -> Arc<dyn crate::Store> {
        Arc::new(Self {
            inner: self.inner.clone(),
            audit: Some(Arc::new(entry)),
        })
    }
}

#[async_trait]
impl crate::HealthRepo for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.read(|c| c.query_one("SELECT count(*) FROM schema_migrations", &[], |_| Ok(())))
            .await
    }

    async fn gauges(&self, now: chrono::DateTime<chrono::Utc>) -> Result<crate::Gauges> {
        self.read(move |c| {
            let mut g = crate::Gauges::default();
            let open: Vec<(i64, i64, i64)> = c.query_all(
                "SELECT severity, count(*), sum(CASE WHEN unassigned_since IS NOT NULL THEN 1 ELSE 0 END) \
                 FROM incidents WHERE status IN ('triggered', 'acknowledged') GROUP BY severity",
                crate::params![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            for (severity, count, unassigned) in open {
                if let Some(s) = tocsin_domain::severity::Severity::from_level(severity) {
                    g.open_incidents.push((s, count));
                }
                g.unassigned_incidents += unassigned;
            }
            let overdue_before = crate::repo::rows::ts(now - crate::OVERDUE_AFTER);
            (g.deliveries_pending, g.deliveries_overdue) = c.query_one(
                "SELECT count(*), coalesce(sum(CASE WHEN due_at < ?1 THEN 1 ELSE 0 END), 0) FROM deliveries \
                 WHERE status = 'pending'",
                crate::params![overdue_before],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(g)
        })
        .await
    }

    fn queued_writes(&self) -> usize {
        self.inner.driver.queued_writes()
    }

    fn observe_commits(&self, observe: Box<dyn Fn(f64) + Send + Sync>) {
        let _ = self.inner.driver.writer_stats().observer.set(observe);
    }
}
