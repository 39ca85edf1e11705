//! The engine: the modules that act on time passing, run one cycle at a time.
//!
//! Every timer is a row with a due time (an escalation's next level, a delivery's next attempt, a heartbeat's
//! deadline, a schedule's next shift reminder, an incident's roles to fill), so a cycle asks the store what is due at the injected clock's
//! `now` and acts on it; nothing waits in memory, and a restart picks up exactly where the rows say. A cycle runs
//! on a short ticker and whenever something may have become due (an incident opened, someone escalated), and only
//! while this process holds the engine lease, so a second process on the same database never pages twice.
//!
//! Modules, in cycle order: escalation (page due levels, planning deliveries in the same transaction), heartbeats
//! (missed beats open alerts, whose incidents escalate in the next pass), alert ends (alerts posted to the
//! Alertmanager API resolve when their `endsAt` passes without a new post), status pages (record the component
//! statuses the open incidents moved, as history), roles (give the roles nobody holds in
//! incidents that opened or changed severity to whom their defaults name, paging them), shift reminders, delivery
//! (claim due deliveries, send, record each attempt), automation (ask for the automatic runbook steps of incidents
//! that opened or gained an alert; report runs whose runner died as interrupted; claim queued runs and run them),
//! cleanup (hourly).

mod render;

pub use render::{LINK_TTL, Renderer, UpdateTemplates};

use crate::automation::{AutomationConfig, Runner};
use crate::notify::{Outgoing, SendOutcome, Transport};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::sync::Mutex;
use tocsin_domain::clock::Clock;
use tocsin_domain::contact::Channels;
use tocsin_domain::retry::RetryPolicy;
use tocsin_domain::updates::Audience;
use tocsin_store::{
    AttemptOutcome, ClaimedDelivery, ClaimedRun, ClaimedSend, DeliveryResult, Lease, Store,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// The engine's tuning; the defaults suit one server.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How often a cycle runs when nothing wakes the engine sooner.
    pub tick: std::time::Duration,
    /// How long the lease lasts without renewal: the longest a crashed holder blocks a successor.
    pub lease_ttl: Duration,
    /// How long a claimed delivery is reserved for its sender; after that another cycle may send it again.
    pub claim_for: Duration,
    /// At most this many escalations or deliveries per module per cycle; more wakes the next cycle at once. A
    /// module's step is one write transaction, which holds the single writer (and so every ingest commit) while it
    /// runs: small batches keep both a cycle and the ingest path's latency short, and drain just as fast.
    pub batch: u32,
    /// How long a cycle waits for its sends before leaving the slow ones to finish in the background.
    pub send_wait: std::time::Duration,
    /// The least time between two cycles. Every new incident wakes the engine; at thousands of incidents a second
    /// this coalesces the wake-ups instead of running a cycle for each.
    pub min_gap: std::time::Duration,
    pub retry: RetryPolicy,
    /// Who this engine is to the lease: the same for a restart of the same instance, so that it takes the lease
    /// over at once instead of waiting out its dead predecessor's term. `None` makes one up for this process.
    pub instance: Option<String>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            tick: std::time::Duration::from_secs(1),
            lease_ttl: Duration::seconds(15),
            claim_for: Duration::seconds(60),
            batch: 100,
            send_wait: std::time::Duration::from_secs(2),
            min_gap: std::time::Duration::from_millis(20),
            retry: RetryPolicy::default(),
            instance: None,
        }
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CycleReport {
    /// False when another process holds the lease and this cycle did nothing.
    pub leader: bool,
    pub escalations_fired: u32,
    pub deliveries_planned: u32,
    /// Incidents whose policy's whole pass reached nobody in this cycle.
    pub incidents_unassigned: u32,
    pub heartbeats_missed: u32,
    /// Alerts resolved because their `endsAt` passed without their sender posting them again.
    pub alerts_ended: u32,
    pub reminders_queued: u32,
    /// Roles given to whom their defaults name, in incidents that opened or changed severity.
    pub roles_filled: u32,
    /// Runs of automatic runbook steps asked for, for incidents that opened or gained an alert.
    pub runs_requested: u32,
    /// Runs of runbook steps started.
    pub runs_started: u32,
    pub deliveries_sent: u32,
    /// Incidents whose leads were reminded that an update is due.
    pub updates_reminded: u32,
    /// Stakeholder updates sent to subscribed channels.
    pub update_sends: u32,
    /// Status pages whose components' statuses moved with the incidents on their services.
    pub status_pages_changed: u32,
}

pub struct Engine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    transport: Arc<dyn Transport>,
    renderer: Renderer,
    runner: Arc<Runner>,
    settings: EngineSettings,
    /// This process's lease identity: random, so two processes never mistake each other for themselves.
    holder: String,
    /// Set after this process's first cycle as leader: until then, claims under its holder name are a
    /// predecessor's, whose sends died with it.
    started: std::sync::atomic::AtomicBool,
    wake: Arc<Notify>,
    /// Cycles run one at a time, whether from the ticker or on demand.
    cycle_lock: tokio::sync::Mutex<()>,
    last_cleanup: Mutex<Option<DateTime<Utc>>>,
    channels: Channels,
    metrics: tocsin_app::Metrics,
    /// How long the audit log keeps entries; the hourly cleanup forgets older ones.
    audit_retention: Duration,
    /// How long sessions last; the hourly cleanup forgets those that ended.
    sessions: tocsin_domain::account::SessionPolicy,
    /// This process's status page snapshots, renewed when a page's statuses move.
    status_snapshots: Arc<tocsin_app::StatusSnapshots>,
}

const LEASE: &str = "engine";

impl Engine {
    /// An engine for `app`'s store, woken by its use cases.
    pub fn new(
        app: &tocsin_app::App,
        transport: Arc<dyn Transport>,
        renderer: Renderer,
        settings: EngineSettings,
    ) -> Self {
        let holder = settings
            .instance
            .clone()
            .unwrap_or_else(|| format!("{}-{}", std::process::id(), ulid::Ulid::new()));
        let runner = Runner::new(&AutomationConfig::default(), &renderer.public_url)
            .expect("an HTTP client with the default settings builds");
        Self {
            store: app.store().clone(),
            clock: app.clock().clone(),
            transport,
            runner: Arc::new(runner),
            renderer,
            settings,
            holder,
            started: std::sync::atomic::AtomicBool::new(false),
            wake: app.engine_wake(),
            cycle_lock: tokio::sync::Mutex::new(()),
            last_cleanup: Mutex::new(None),
            channels: app.channels(),
            metrics: app.metrics().clone(),
            audit_retention: app.audit_retention(),
            sessions: app.account_settings().sessions,
            status_snapshots: app.status_snapshots(),
        }
    }

    /// Runs runbook steps with `runner` (its allowed commands and networks) instead of one that allows none.
    pub fn with_runner(mut self, runner: Runner) -> Self {
        self.runner = Arc::new(runner);
        self
    }

    /// Runs cycles until the task is aborted: on the ticker and whenever woken.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        // Other processes announce what they made due; whichever engine holds the lease acts on it at once.
        self.store.engine().listen_due(Arc::downgrade(&self.wake));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.settings.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = self.wake.notified() => {}
                }
                match self.cycle().await {
                    Ok(report) => {
                        let busy = report.escalations_fired >= self.settings.batch
                            || report.deliveries_sent >= self.settings.batch
                            || report.alerts_ended >= self.settings.batch;
                        if busy {
                            self.wake.notify_one();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Engine cycle failed; retrying on the next tick.")
                    }
                }
                tokio::time::sleep(self.settings.min_gap).await;
            }
        })
    }

    /// Gives up the lease so that another process can take over at once, for a graceful stop.
    pub async fn release(&self) {
        if let Err(e) = self.store.engine().release_lease(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "Could not release the engine lease.");
        }
    }

    /// One cycle of every module, at the clock's current time. Deliveries are sent, and their attempts recorded,
    /// before it returns, unless a receiver takes longer than `send_wait`.
    pub async fn cycle(&self) -> anyhow::Result<CycleReport> {
        let _one_at_a_time = self.cycle_lock.lock().await;
        let _timer = self.metrics.engine_cycle.start_timer();
        let engine = self.store.engine();
        let now = self.clock.now();
        let fresh = match engine
            .acquire_lease(LEASE, &self.holder, self.settings.lease_ttl)
            .await?
        {
            // A restarted instance holds the lease under its old name, but not the sends its predecessor claimed.
            Lease::Held { fresh } => {
                fresh || !self.started.swap(true, std::sync::atomic::Ordering::AcqRel)
            }
            Lease::HeldElsewhere { .. } => return Ok(CycleReport::default()),
        };
        let mut report = CycleReport {
            leader: true,
            ..CycleReport::default()
        };
        let fired = engine
            .fire_escalations(now, self.settings.batch, self.channels)
            .await?;
        Self::count(&mut report, fired);
        report.heartbeats_missed = engine.fire_heartbeats(now).await?;
        if report.heartbeats_missed > 0 {
            // The incidents those alerts opened escalate at once rather than on the next tick.
            let more = engine
                .fire_escalations(now, self.settings.batch, self.channels)
                .await?;
            Self::count(&mut report, more);
        }
        report.alerts_ended = engine
            .resolve_ended_alerts(now, self.settings.batch)
            .await?;
        let moved = self.store.status_pages().record_statuses(now).await?;
        report.status_pages_changed = moved.len() as u32;
        for slug in &moved {
            self.status_snapshots.renew(slug).await;
        }
        report.roles_filled = engine
            .fill_roles(now, self.settings.batch, self.channels)
            .await?;
        report.reminders_queued = engine
            .send_shift_reminders(now, self.settings.batch)
            .await?;
        report.updates_reminded = self
            .store
            .updates()
            .remind_due_updates(now, self.settings.batch)
            .await?;
        let claimed = engine
            .claim_deliveries(
                &self.holder,
                now,
                self.settings.claim_for,
                self.settings.batch,
                fresh,
            )
            .await?;
        report.deliveries_sent = claimed.len() as u32;
        if !claimed.is_empty() {
            self.send_all(claimed).await;
        }
        let sends = self
            .store
            .updates()
            .claim_update_sends(
                &self.holder,
                now,
                self.settings.claim_for,
                self.settings.batch,
            )
            .await?;
        report.update_sends = sends.len() as u32;
        if !sends.is_empty() {
            self.send_updates(sends).await;
        }
        // After the pages: a run may take its step's whole timeout, a page must not wait for it.
        let automation = self.store.automation();
        report.runs_requested = automation.start_automatic(now, self.settings.batch).await?;
        let runs = automation
            .claim_runs(&self.holder, now, self.settings.batch, fresh)
            .await?;
        report.runs_started = runs.len() as u32;
        if !runs.is_empty() {
            self.run_all(runs).await;
        }
        self.cleanup(now).await;
        Ok(report)
    }

    /// Runs every claimed run at once, each recording how it ended. The cycle waits for them up to `send_wait`;
    /// longer ones (up to their step's timeout) finish in the background. A run whose recording fails stays
    /// claimed until its claim lapses, and is then reported as interrupted.
    async fn run_all(&self, runs: Vec<ClaimedRun>) {
        let mut tasks = JoinSet::new();
        for claimed in runs {
            let (runner, store, clock) =
                (self.runner.clone(), self.store.clone(), self.clock.clone());
            let holder = self.holder.clone();
            tasks.spawn(async move {
                let finished = runner.run(&claimed).await;
                let recorded = store
                    .automation()
                    .finish_run(&claimed.run.id, &holder, finished, clock.now())
                    .await;
                match recorded {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        run = %claimed.run.id,
                        "A run ended after its claim lapsed; it was reported as interrupted."
                    ),
                    Err(e) => tracing::warn!(run = %claimed.run.id, error = %e, "Could not record how a run ended."),
                }
            });
        }
        let all_done = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.settings.send_wait, all_done)
            .await
            .is_err()
        {
            tasks.detach_all();
        }
    }

    /// Sends stakeholder updates to subscribed channels, each attempt recorded as it ends; the cycle waits for
    /// them up to `send_wait`. An unrecorded attempt is sent again, with the same ID, once its claim lapses.
    async fn send_updates(&self, sends: Vec<ClaimedSend>) {
        let mut tasks = JoinSet::new();
        for send in sends {
            let notice = self.renderer.update_notice(
                &send.incident,
                &send.update,
                Audience::Subscribers,
                self.clock.now(),
            );
            let (transport, store, clock) = (
                self.transport.clone(),
                self.store.clone(),
                self.clock.clone(),
            );
            let (holder, retry) = (self.holder.clone(), self.settings.retry);
            let notifications = self.metrics.notifications.clone();
            tasks.spawn(async move {
                let outcome = transport
                    .send(&Outgoing {
                        delivery_id: &send.id,
                        target: &send.target,
                        notice: &notice,
                        now: clock.now(),
                    })
                    .await;
                let at = clock.now();
                let outcome = attempt_outcome(outcome, send.attempt, &retry, at);
                let counted = match &outcome {
                    AttemptOutcome::Delivered { .. } => "delivered",
                    AttemptOutcome::Retry { .. } => "retrying",
                    AttemptOutcome::Failed { .. } => "failed",
                };
                notifications
                    .with_label_values(&[send.target.kind(), counted])
                    .inc();
                if let Err(e) = store
                    .updates()
                    .finish_update_send(&send.id, &holder, outcome, at)
                    .await
                {
                    tracing::warn!(error = %e, channel = %send.channel, "Could not record an update's send.");
                }
            });
        }
        let all_done = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.settings.send_wait, all_done)
            .await
            .is_err()
        {
            tasks.detach_all();
        }
    }

    fn count(report: &mut CycleReport, fired: tocsin_store::Fired) {
        report.escalations_fired += fired.escalations;
        report.deliveries_planned += fired.deliveries_planned;
        report.incidents_unassigned += fired.unassigned;
    }

    /// Sends every claimed delivery concurrently. Attempts are recorded as they end, by one recorder that writes
    /// every attempt that ended meanwhile in one step. The cycle waits for them up to `send_wait`, so that a
    /// receiver that hangs until its timeout cannot hold up the next escalation; sends still running then finish,
    /// and are recorded, in the background.
    async fn send_all(&self, claimed: Vec<ClaimedDelivery>) {
        let (record, mut to_record) =
            tokio::sync::mpsc::channel::<DeliveryResult>(claimed.len().max(1));
        let store = self.store.clone();
        let recorder = tokio::spawn(async move {
            while let Some(first) = to_record.recv().await {
                let mut ended = vec![first];
                while let Ok(more) = to_record.try_recv() {
                    ended.push(more);
                }
                // Unrecorded, the claims lapse and another cycle sends those deliveries again under the same IDs.
                // One attempt that cannot be recorded must not take the others with it: they go one by one then.
                let several = ended.len() > 1;
                if let Err(e) = store.engine().finish_deliveries(ended.clone()).await {
                    if !several {
                        tracing::warn!(error = %e, "Could not record a delivery attempt.");
                        continue;
                    }
                    for result in ended {
                        if let Err(e) = store.engine().finish_deliveries(vec![result]).await {
                            tracing::warn!(error = %e, "Could not record a delivery attempt.");
                        }
                    }
                }
            }
        });
        let mut tasks = JoinSet::new();
        for d in claimed {
            let notice = self.renderer.notice(&d, self.clock.now());
            let transport = self.transport.clone();
            let clock = self.clock.clone();
            let record = record.clone();
            let retry = self.settings.retry;
            let notifications = self.metrics.notifications.clone();
            let refused = self.metrics.notifications_refused.clone();
            tasks.spawn(async move {
                let started = clock.now();
                let outcome = match &d.target {
                    None => SendOutcome::Failed {
                        error: "the contact method was deleted or disabled".into(),
                    },
                    Some(target) => {
                        transport
                            .send(&Outgoing {
                                delivery_id: d.id.as_str(),
                                target,
                                notice: &notice,
                                now: started,
                            })
                            .await
                    }
                };
                if let (SendOutcome::Refused { .. }, Some(target)) = (&outcome, &d.target) {
                    refused.with_label_values(&[target.kind()]).inc();
                }
                let at = clock.now();
                let result = DeliveryResult {
                    id: d.id,
                    attempt: d.attempt,
                    at,
                    outcome: attempt_outcome(outcome, d.attempt, &retry, at),
                };
                let counted = match &result.outcome {
                    AttemptOutcome::Delivered { .. } => "delivered",
                    AttemptOutcome::Retry { .. } => "retrying",
                    AttemptOutcome::Failed { .. } => "failed",
                };
                if let Some(target) = &d.target {
                    notifications
                        .with_label_values(&[target.kind(), counted])
                        .inc();
                }
                // The channel holds one result per claimed delivery, so this never waits.
                if record.send(result).await.is_err() {
                    tracing::error!("The delivery recorder is gone; an attempt goes unrecorded and will be sent again.");
                }
            });
        }
        // The recorder stops once every send has handed in its result.
        drop(record);
        let all_done = async {
            while let Some(r) = tasks.join_next().await {
                if let Err(e) = r {
                    tracing::error!(error = %e, "A delivery task failed.");
                }
            }
            if let Err(e) = recorder.await {
                tracing::error!(error = %e, "The delivery recorder failed.");
            }
        };
        if tokio::time::timeout(self.settings.send_wait, all_done)
            .await
            .is_err()
        {
            tracing::warn!(
                still_sending = tasks.len(),
                "Deliveries are still being sent; they finish in the background."
            );
            tasks.detach_all();
        }
    }

    async fn cleanup(&self, now: DateTime<Utc>) {
        let due = {
            let mut last = self.last_cleanup.lock().expect("cleanup clock");
            let due = last.is_none_or(|t| now - t >= Duration::hours(1));
            if due {
                *last = Some(now);
            }
            due
        };
        if !due {
            return;
        }
        if let Err(e) = self.store.engine().cleanup(now).await {
            tracing::warn!(error = %e, "Engine cleanup failed.");
        }
        match self.store.accounts().prune(now, self.sessions).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "Forgot ended sessions and used account links."),
            Err(e) => tracing::warn!(error = %e, "Could not prune sessions and account links."),
        }
        match self.store.audit().prune(now - self.audit_retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "Forgot audit entries past their retention."),
            Err(e) => tracing::warn!(error = %e, "Could not prune the audit log."),
        }
    }
}

/// Turns a transport's answer into what the delivery records: retry with backoff and jitter (never sooner than a
/// `Retry-After`), or give up once the attempts are spent.
fn attempt_outcome(
    outcome: SendOutcome,
    attempt: u32,
    retry: &RetryPolicy,
    at: DateTime<Utc>,
) -> AttemptOutcome {
    match outcome {
        SendOutcome::Delivered { detail } => AttemptOutcome::Delivered { detail },
        SendOutcome::Failed { error } | SendOutcome::Refused { error } => {
            AttemptOutcome::Failed { error }
        }
        SendOutcome::Retry { error, retry_after } => {
            match retry.next_delay(attempt, retry_after, rand::random::<f64>()) {
                Some(delay) => AttemptOutcome::Retry {
                    error,
                    next_at: at + delay,
                },
                None => AttemptOutcome::Failed {
                    error: format!("{error} (gave up after {attempt} attempts)"),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_honour_retry_after_and_give_up() {
        let policy = RetryPolicy::default();
        let at = DateTime::UNIX_EPOCH;
        let retry = |attempt, after: Option<i64>| {
            attempt_outcome(
                SendOutcome::Retry {
                    error: "503".into(),
                    retry_after: after.map(Duration::seconds),
                },
                attempt,
                &policy,
                at,
            )
        };
        match retry(1, None) {
            AttemptOutcome::Retry { next_at, .. } => {
                let secs = (next_at - at).num_milliseconds();
                assert!((4_000..6_000).contains(&secs), "{secs}");
            }
            other => panic!("{other:?}"),
        }
        match retry(1, Some(120)) {
            AttemptOutcome::Retry { next_at, .. } => {
                assert_eq!(next_at - at, Duration::seconds(120))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            retry(policy.max_attempts, None),
            AttemptOutcome::Failed { .. }
        ));
    }
}
