//! The embedded SQLite backend.
//!
//! # Concurrency and durability
//! SQLite allows one writer at a time, so all writes go through one thread that owns the write connection
//! ([`writer`]). It takes every job waiting in its queue, runs each inside its own SAVEPOINT within one
//! transaction, COMMITs once (WAL, `synchronous=FULL`: the commit is on disk when it returns), and only then
//! answers each caller. Concurrent requests therefore share one fsync (group commit) and a failing job rolls back
//! alone, while no caller hears "done" before its change is durable.
//!
//! Reads run on a small pool of separate connections on the blocking thread pool; WAL lets them proceed while the
//! writer writes, and they see every commit that finished before they started.

mod access;
mod catalog;
mod delivery;
mod escalation;
mod heartbeat;
mod incidents;
mod ingest;
mod migrations;
mod noise;
mod oncall;
mod rows;
mod writer;

use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use writer::Writer;

/// How the database trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is fsynced: survives power loss as well as crashes.
    #[default]
    Full,
    /// Commits reach the OS before they are acknowledged: survives a killed process, not a power cut.
    Process,
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
}

const MAX_IDLE_READERS: usize = 8;

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(backend)?;
        configure(&conn, durability)?;
        migrations::run(&mut conn)?;
        let writer = Writer::start(conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer,
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in the shared write transaction; the result is returned once it is committed.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        self.inner.writer.run(f).await
    }

    /// Runs `f` on a read connection.
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("reader pool").pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let out = f(&conn);
            let mut pool = inner.readers.lock().expect("reader pool");
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

fn synchronous(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "FULL",
        Durability::Process => "NORMAL",
    }
}

/// Settings of the write connection. Savepoints keep a sub-journal of every page a job touches; in a temp file
/// that is a write system call per page, so temp data stays in memory. The writer checkpoints the WAL itself after
/// answering its callers (see `writer.rs`), never inside a commit, where it stalled every caller in the batch.
fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    let sync = synchronous(durability);
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0;"
    ))
    .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The write path alone uses more distinct statements than rusqlite's default cache of 16; a miss re-parses SQL
/// on the hot path.
const STATEMENT_CACHE: usize = 128;

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.execute_batch("PRAGMA busy_timeout = 5000;")
        .map_err(backend)?;
    Ok(conn)
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl crate::Store for SqliteStore {
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
}

#[async_trait::async_trait]
impl crate::HealthRepo for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM schema_migrations", [], |_| Ok(()))
                .map_err(backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        crate::conformance::run_all(|| {
            n += 1;
            SqliteStore::open(
                &dir.path().join(format!("db{n}.sqlite")),
                Durability::Process,
            )
            .unwrap()
        })
        .await;
    }
}
