//! The single writer thread and its group commit (see the module docs of `sqlite`).
//!
//! Safety of the batching: each job runs between `SAVEPOINT job` and `RELEASE job`, or is rolled back to its
//! savepoint if it fails or panics, so jobs in one batch cannot see each other's failures. Completions run only
//! after COMMIT returned; if COMMIT fails, every job in the batch is told so and nothing of it is visible.
//!
//! WAL checkpoints happen here too, every [`CHECKPOINT_EVERY`] commits or as soon as the WAL holds
//! [`CHECKPOINT_PAGES`], after the callers have their answers: with no other writer, a checkpoint completes, so the
//! next transaction restarts the WAL from its start and the file stays small; a burst of large transactions grows
//! it, and `journal_size_limit` (see `configure`) shrinks it back once the WAL restarts. (A checkpointer on another
//! thread never catches up with a busy writer, and the WAL then grows without bound.)

use super::backend;
use crate::db::{Answer, WriteJob, WriterStats};
use crate::sql::sqlite::SqliteConn;
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Completion = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
/// Runs against the write connection, or against `None` when no transaction could be opened (then it only fails).
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

/// The most jobs one transaction takes; bounds how long a batch holds its callers.
const MAX_BATCH: usize = 256;
/// Commits between WAL checkpoints: enough to amortise the checkpoint's fsync, few enough to keep it short.
const CHECKPOINT_EVERY: u32 = 64;
/// WAL pages (16 MiB of 4 KiB pages) past which the writer checkpoints after the commit that wrote them, whatever
/// the commit count: a burst of large batches must not pile up 64 of them in the WAL.
const CHECKPOINT_PAGES: i32 = 4096;

thread_local! {
    /// Pages in the WAL after the writer thread's latest commit, as SQLite reports them.
    static WAL_PAGES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}
/// Queue depth; when full, callers wait (backpressure) instead of piling up memory.
const QUEUE: usize = 8192;

pub(super) struct Writer {
    queue: mpsc::Sender<Job>,
    pub(super) stats: Arc<WriterStats>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> Result<Self> {
        let (queue, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let observed = stats.clone();
        std::thread::Builder::new()
            .name("tocsin-sqlite-writer".into())
            .spawn(move || run(conn, rx, &observed))
            .map_err(backend)?;
        Ok(Self { queue, stats })
    }

    /// Jobs waiting for the writer.
    pub(super) fn queued(&self) -> usize {
        QUEUE - self.queue.capacity()
    }

    pub(super) async fn run(&self, f: WriteJob) -> Result<Answer> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let outcome = match conn {
                Some(conn) => in_savepoint(conn, |c| f(&SqliteConn(c))),
                None => Err(StoreError::Backend(
                    "could not begin a write transaction".into(),
                )),
            };
            Box::new(move |committed: std::result::Result<(), String>| {
                let answer = match committed {
                    Ok(()) => outcome,
                    Err(e) => outcome.and(Err(StoreError::Backend(format!("commit failed: {e}")))),
                };
                let _ = tx.send(answer);
            })
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::Backend("the database writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the database writer dropped a job".into()))?
    }
}

thread_local! {
    /// Set when a job's savepoint could not be opened or closed: its changes may then sit, half undone, inside the
    /// batch's transaction, which therefore must not commit.
    static POISONED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn savepoint_step(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(|e| {
            POISONED.set(true);
            backend(e)
        })
}

fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    savepoint_step(conn, "SAVEPOINT job")?;
    let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(StoreError::Backend("a database job panicked".into())));
    if outcome.is_ok() {
        savepoint_step(conn, "RELEASE job")?;
    } else {
        savepoint_step(conn, "ROLLBACK TO job")?;
        savepoint_step(conn, "RELEASE job")?;
    }
    outcome
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Job>, stats: &WriterStats) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut commits_since_checkpoint = 0;
    conn.wal_hook(Some(note_wal_pages));
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let began = std::time::Instant::now();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = e.to_string();
            tracing::error!(error = %e, "Could not begin a write transaction.");
            for job in batch.drain(..) {
                job(None)(Err(e.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = batch.drain(..).map(|job| job(Some(&conn))).collect();
        let committed = if POISONED.replace(false) {
            Err(
                "a job's savepoint could not be closed, so the whole batch was rolled back"
                    .to_owned(),
            )
        } else {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        stats.committed(began.elapsed());
        if let Err(e) = &committed {
            tracing::error!(error = %e, jobs = completions.len(), "Write transaction failed to commit.");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for c in completions {
            c(committed.clone());
        }
        commits_since_checkpoint += 1;
        if commits_since_checkpoint >= CHECKPOINT_EVERY || WAL_PAGES.get() >= CHECKPOINT_PAGES {
            checkpoint(&conn, "PASSIVE");
            commits_since_checkpoint = 0;
            // A commit that writes nothing does not call the hook: the count is the checkpointed WAL's until then.
            WAL_PAGES.set(0);
        }
    }
    // The store was dropped: leave a database that needs no WAL replay.
    checkpoint(&conn, "TRUNCATE");
}

fn checkpoint(conn: &Connection, mode: &str) {
    if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
        tracing::warn!(error = %e, "WAL checkpoint failed; the next one will retry.");
    }
}
