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

mod migrations;
mod writer;

use crate::db::{Answer, Driver, ReadJob, SqlStore, WriteJob};
use crate::sql::Dialect;
use crate::sql::sqlite::SqliteConn;
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

/// The SQLite driver: one writer thread, a pool of read connections.
pub struct SqliteDriver {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
}

const MAX_IDLE_READERS: usize = 8;

/// Opens (creating if needed) and migrates the SQLite database at `path`.
pub fn open(path: &Path, durability: Durability) -> Result<SqlStore> {
    SqliteDriver::open(path, durability).map(SqlStore::new)
}

impl SqliteDriver {
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
}

#[async_trait::async_trait]
impl Driver for SqliteDriver {
    fn queued_writes(&self) -> usize {
        self.inner.writer.queued()
    }

    fn writer_stats(&self) -> &crate::db::WriterStats {
        &self.inner.writer.stats
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn write(&self, job: WriteJob) -> Result<Answer> {
        self.inner.writer.run(job).await
    }

    async fn read(&self, job: ReadJob) -> Result<Answer> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("reader pool").pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let out = job(&SqliteConn(&conn));
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

/// Writes a consistent copy of the live database at `path` to the new file `to` with `VACUUM INTO`: one read
/// transaction, so writers carry on (WAL) and the copy is the database as of one commit, compacted.
pub fn backup(path: &Path, to: &Path) -> Result<()> {
    // An empty file is one the caller created to choose its permissions; SQLite writes into it.
    if std::fs::metadata(to).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::Backend(format!(
            "{} already exists; choose a new file",
            to.display()
        )));
    }
    let to = to
        .to_str()
        .ok_or_else(|| StoreError::Backend("the backup path is not valid UTF-8".into()))?;
    let conn = open_reader(path)?;
    conn.execute("VACUUM INTO ?1", [to]).map_err(backend)?;
    Ok(())
}

/// Rewrites the database file and empties its WAL, so that nothing deleted or overwritten (secrets sealed in place)
/// remains in free pages or old WAL frames. Needs no other process writing; used at start-up.
pub fn vacuum(path: &Path) -> Result<()> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.execute_batch("PRAGMA busy_timeout = 5000; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(backend)
}

/// SQLite's `PRAGMA integrity_check` of the database at `path` (after recovering its WAL, as opening does): empty
/// when the file is sound, else the problems it lists.
pub fn integrity_problems(path: &Path) -> Result<Vec<String>> {
    let conn = Connection::open(path).map_err(backend)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(backend)?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(backend)?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
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
/// A WAL grown past [`WAL_KEEP_BYTES`] by a burst is cut back to it when the WAL next restarts.
fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    let sync = synchronous(durability);
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA journal_size_limit = {WAL_KEEP_BYTES};"
    ))
    .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The most WAL file kept once a burst is checkpointed: more than steady traffic needs between checkpoints.
pub const WAL_KEEP_BYTES: u64 = 32 * 1024 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh database file per scenario, in one directory for the test process.
    fn fresh_path() -> PathBuf {
        static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
        let n = N.fetch_add(1, Ordering::Relaxed);
        dir.path().join(format!("db{n}.sqlite"))
    }

    fn keyed(path: &Path) -> SqlStore {
        open(path, Durability::Process)
            .unwrap()
            .with_secret_key(crate::conformance::secret_key())
    }

    async fn store() -> Option<SqlStore> {
        Some(keyed(&fresh_path()))
    }

    /// Two stores on one file: separate writers, SQLite's file lock between them, as with two processes.
    async fn pair() -> Option<(SqlStore, SqlStore)> {
        let path = fresh_path();
        Some((keyed(&path), keyed(&path)))
    }

    crate::conformance::conformance_suite!(store, pair);

    fn wal_bytes(path: &Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// A burst of large transactions is checkpointed by size, not only every 64 commits, and a WAL a single huge
    /// transaction grew is cut back to `WAL_KEEP_BYTES` once it restarts.
    #[tokio::test]
    async fn the_wal_stays_bounded_through_a_burst_and_shrinks_after_it() {
        let path = fresh_path();
        let store = open(&path, Durability::Process).unwrap();
        store
            .write(|c| c.execute("CREATE TABLE burst (b BLOB)", &[]))
            .await
            .unwrap();
        let insert = |mebibytes: usize| {
            move |c: &dyn crate::sql::Conn| {
                for _ in 0..mebibytes {
                    c.execute("INSERT INTO burst VALUES (randomblob(1048576))", &[])?;
                }
                Ok(())
            }
        };
        // 40 commits of 2 MiB: 80 MiB of WAL if it were checkpointed every 64 commits only.
        let mut largest = 0;
        for _ in 0..40 {
            store.write(insert(2)).await.unwrap();
            largest = largest.max(wal_bytes(&path));
        }
        assert!(
            largest <= WAL_KEEP_BYTES,
            "the WAL grew to {largest} bytes through a burst of small commits"
        );
        // One transaction larger than the limit has to grow the WAL past it ...
        store.write(insert(48)).await.unwrap();
        assert!(wal_bytes(&path) > WAL_KEEP_BYTES);
        // ... and the next commits, after the checkpoint, give the space back.
        for _ in 0..3 {
            store.write(insert(1)).await.unwrap();
        }
        let after = wal_bytes(&path);
        assert!(
            after <= WAL_KEEP_BYTES,
            "the WAL kept {after} bytes after the burst"
        );
    }
}
