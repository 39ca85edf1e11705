//! This process's PostgreSQL writers: group commit, as SQLite's writer does it.
//!
//! Write jobs are dealt in turn to the writer threads (one by default), each owning one connection. A writer takes
//! every job waiting for it, runs them in one `SERIALIZABLE` transaction and answers every caller only after
//! COMMIT, so its jobs share one WAL flush. More writers keep more round trips to the database in flight (each
//! statement is one), but race each other as other processes' transactions do.
//!
//! Safety of the batching: a job that fails on its own (a refused request, a domain error, even a failed
//! statement) must not take the others with it. Jobs rarely fail, so a batch first runs without savepoints (each
//! costs two round trips per job); when a job fails, that run is rolled back and the batch runs again with a
//! SAVEPOINT around each job, rolling back only the failed one while the others go on. When PostgreSQL aborts the whole transaction
//! instead (a serialization failure or deadlock against another process, a unique index another process filled
//! first), nothing of the batch happened: every job is run again in a fresh transaction, so each sees the other
//! process's rows. A batch of several jobs that loses is split in halves, each committed on its own the same way, since
//! smaller transactions lose fewer races; a lone job runs again after a short random pause. Answers come only from
//! the run that committed; after [`MAX_ATTEMPTS`] runs of a lone job its caller hears that the database stayed
//! contended.

use super::MAX_ATTEMPTS;
use crate::db::{Answer, WriteJob, WriterStats};
use crate::sql::postgres::PgConn;
use crate::{Result, StoreError};
use rand::Rng;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most jobs one transaction takes; bounds how long a batch holds its callers and how much a lost race costs.
const MAX_BATCH: usize = 128;
/// Queue depth; when full, callers wait (backpressure) instead of piling up memory.
const QUEUE: usize = 8192;
/// The longest random pause before a batch runs again; short, since the winner has usually committed by then.
const MAX_PAUSE_MS: u64 = 40;

struct Queued {
    job: WriteJob,
    /// Taken when the job is answered: as soon as the transaction holding it has committed or given up.
    reply: std::cell::Cell<Option<oneshot::Sender<Result<Answer>>>>,
}

impl Queued {
    fn answer(&self, answer: Result<Answer>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(answer);
        }
    }
}

/// Answers each job of the batch.
fn answer_all(batch: &[Queued], answers: Vec<Result<Answer>>) {
    for (q, answer) in batch.iter().zip(answers) {
        q.answer(answer);
    }
}

pub(super) struct Writers {
    queues: Vec<mpsc::Sender<Queued>>,
    next: AtomicUsize,
    pub(super) stats: Arc<WriterStats>,
}

impl Writers {
    pub(super) fn start(config: &tokio_postgres::Config, writers: usize) -> Result<Self> {
        let mut queues = Vec::new();
        let stats = Arc::new(WriterStats::default());
        for i in 0..writers.max(1) {
            let (queue, rx) = mpsc::channel(QUEUE);
            let config = config.clone();
            let observed = stats.clone();
            std::thread::Builder::new()
                .name(format!("tocsin-postgres-writer-{i}"))
                .spawn(move || run(config, rx, &observed))
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            queues.push(queue);
        }
        Ok(Self {
            queues,
            next: AtomicUsize::new(0),
            stats,
        })
    }

    /// Jobs waiting for a writer, over all of them.
    pub(super) fn queued(&self) -> usize {
        self.queues.iter().map(|q| QUEUE - q.capacity()).sum()
    }

    pub(super) async fn run(&self, job: WriteJob) -> Result<Answer> {
        let (reply, answer) = oneshot::channel();
        let writer = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        self.queues[writer]
            .send(Queued {
                job,
                reply: std::cell::Cell::new(Some(reply)),
            })
            .await
            .map_err(|_| StoreError::Backend("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the database writer dropped a job".into()))?
    }
}

fn run(config: tokio_postgres::Config, mut rx: mpsc::Receiver<Queued>, stats: &WriterStats) {
    let mut conn: Option<PgConn> = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let began = std::time::Instant::now();
        commit_batch(&mut conn, &config, &batch);
        stats.committed(began.elapsed());
        batch.clear();
    }
    // Closing the client here, on the writer's own thread, is where its blocking close belongs.
    drop(conn);
}

/// Runs the batch until one run commits, or gives every job the reason none could, and answers each job's caller.
fn commit_batch(conn: &mut Option<PgConn>, config: &tokio_postgres::Config, batch: &[Queued]) {
    let mut attempt = 1;
    loop {
        let c = match conn {
            Some(c) if !c.is_closed() => c,
            _ => match PgConn::connect(config) {
                Ok(c) => conn.insert(c),
                Err(e) => return answer_all(batch, fail_all(batch.len(), &e)),
            },
        };
        let run = match run_once(c, batch, false) {
            Ok(Run::JobFailed) => {
                // Only this run's work is undone; the batch runs again, each job in its savepoint.
                match c.rollback() {
                    Ok(()) => run_once(c, batch, true),
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match run {
            Ok(Run::Answered(answers)) => return answer_all(batch, answers),
            Ok(Run::JobFailed) => unreachable!("a run with savepoints answers every job"),
            Err(e) => {
                // After a failed COMMIT the transaction is already over, and ROLLBACK only warns.
                let _ = c.rollback();
                if e.is_retryable() && batch.len() > 1 {
                    // A smaller transaction touches fewer rows another process may be writing, so each half is
                    // less likely to lose again than the whole; and a half that commits is answered at once.
                    tracing::debug!(jobs = batch.len(), error = %e, "A write batch lost a race; running it again in halves.");
                    let (first, second) = batch.split_at(batch.len() / 2);
                    commit_batch(conn, config, first);
                    return commit_batch(conn, config, second);
                }
                if !e.is_retryable() || attempt >= MAX_ATTEMPTS {
                    if e.is_retryable() {
                        tracing::warn!(attempt, jobs = batch.len(), error = %e, "A write batch kept losing races.");
                    }
                    return answer_all(batch, fail_all(batch.len(), &e));
                }
                tracing::debug!(attempt, error = %e, "A write batch lost a race; running it again.");
                let pause =
                    rand::rng().random_range(1..=(2u64 << attempt.min(5)).min(MAX_PAUSE_MS));
                std::thread::sleep(Duration::from_millis(pause));
                attempt += 1;
            }
        }
    }
}

/// How a run of a batch ended, short of the transaction failing as a whole.
enum Run {
    /// An answer for each job: committed, or (a lone job that failed) rolled back.
    Answered(Vec<Result<Answer>>),
    /// A job failed in a run without savepoints; nothing is committed and the transaction is still open.
    JobFailed,
}

/// One run of the batch in one transaction, with a savepoint around each job or without: `Err` when the
/// transaction as a whole failed.
fn run_once(c: &PgConn, batch: &[Queued], savepoints: bool) -> Result<Run> {
    // A lone job needs no savepoint: its own failure rolls back a transaction that is only its.
    let alone = batch.len() == 1;
    let savepoints = savepoints && !alone;
    c.batch("BEGIN ISOLATION LEVEL SERIALIZABLE")?;
    let mut answers = Vec::with_capacity(batch.len());
    for q in batch {
        if savepoints {
            c.batch("SAVEPOINT job")?;
        }
        // A job's held writes are sent by the time it is judged: at once with savepoints (so that a failure among
        // them is this job's), otherwise with the next job's first statement or before COMMIT.
        let outcome = catch_unwind(AssertUnwindSafe(|| (q.job)(c)))
            .unwrap_or_else(|_| Err(StoreError::Backend("a database job panicked".into())))
            .and_then(|answer| {
                if savepoints || alone {
                    c.flush()?;
                }
                Ok(answer)
            });
        match outcome {
            Ok(answer) => {
                if savepoints {
                    c.batch("RELEASE SAVEPOINT job")?;
                }
                answers.push(Ok(answer));
            }
            // The transaction is doomed: the whole batch runs again.
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) if alone => {
                c.rollback()?;
                return Ok(Run::Answered(vec![Err(e)]));
            }
            Err(_) if !savepoints => return Ok(Run::JobFailed),
            Err(e) => {
                c.discard();
                c.batch("ROLLBACK TO SAVEPOINT job")?;
                c.batch("RELEASE SAVEPOINT job")?;
                answers.push(Err(e));
            }
        }
    }
    // Writes the last job held, whose failure would otherwise turn COMMIT into a silent ROLLBACK.
    match c.flush() {
        Ok(()) => {}
        Err(e) if e.is_retryable() => return Err(e),
        Err(_) => return Ok(Run::JobFailed),
    }
    c.batch("COMMIT")?;
    Ok(Run::Answered(answers))
}

fn fail_all(n: usize, e: &StoreError) -> Vec<Result<Answer>> {
    (0..n)
        .map(|_| {
            Err(match e {
                StoreError::Contention(m) => StoreError::Contention(m.clone()),
                e => StoreError::Backend(e.to_string()),
            })
        })
        .collect()
}
