//! Prometheus metrics, exposed in text format at `/metrics`.
//!
//! Counters and histograms count what this process did; the gauges of the database's state (open incidents,
//! pending deliveries) are read from the database at each scrape, so every instance on one database shows the
//! same values. Every labelled series exists from the start, at zero, so that a rate or an alert on it works
//! before the first event.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use tocsin_domain::integration::IntegrationKind;
use tocsin_domain::severity::Severity;
use tocsin_store::{Gauges, IngestResult};

/// How an event ended besides what it did to an alert.
const REFUSALS: [&str; 7] = [
    "invalid",
    "unknown_key",
    "rate_limited",
    "over_budget",
    "too_many_events",
    "unchanged",
    "error",
];
/// The kinds of contact method a notification goes out on.
pub const CHANNELS: [&str; 7] = [
    "email",
    "slack",
    "teams",
    "mattermost",
    "webhook",
    "sms",
    "voice",
];
/// How a notification attempt ended.
pub const ATTEMPT_OUTCOMES: [&str; 3] = ["delivered", "retrying", "failed"];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Events by integration kind and outcome (created, deduplicated, …, invalid, unknown_key, error).
    pub events: IntCounterVec,
    pub incidents_opened: IntCounterVec,
    pub ingest_latency: HistogramVec,
    /// Notification attempts by channel (the contact method's kind) and outcome.
    pub notifications: IntCounterVec,
    /// Notifications not sent because their destination is an address the server may not reach, by channel.
    pub notifications_refused: IntCounterVec,
    /// Connections open now.
    pub http_connections: IntGauge,
    /// Times the server reached `http.max_connections` and stopped accepting until a connection closed.
    pub http_connection_cap_reached: prometheus::IntCounter,
    pub engine_cycle: Histogram,
    commit: Histogram,
    writer_queue: IntGauge,
    open_incidents: IntGaugeVec,
    unassigned_incidents: IntGauge,
    deliveries_pending: IntGauge,
    deliveries_overdue: IntGauge,
    /// Entries the ingest caches let go of to stay within their byte budget, by cache.
    pub cache_evictions: IntCounterVec,
    cache_bytes: IntGaugeVec,
}

/// The in-process ingest caches, as the metrics name them.
pub const CACHES: [&str; 4] = ["keys", "groups", "bodies", "payloads"];

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric")
}

fn seconds(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric")
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let events = counter(
            "tocsin_events_total",
            "Events received from senders, by integration kind and outcome.",
            &["kind", "outcome"],
        );
        let incidents_opened = counter(
            "tocsin_incidents_opened_total",
            "Incidents opened, by severity.",
            &["severity"],
        );
        let ingest_latency = HistogramVec::new(
            HistogramOpts::new(
                "tocsin_ingest_duration_seconds",
                "Time from receiving an event to its durable answer.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["kind"],
        )
        .expect("valid metric");
        let notifications = counter(
            "tocsin_notifications_total",
            "Notification attempts, by channel and outcome (delivered, retrying, failed).",
            &["channel", "outcome"],
        );
        let notifications_refused = counter(
            "tocsin_notifications_refused_total",
            "Notifications not sent because their destination is a private, loopback or link-local address outside \
             notify.allowed_networks, by channel.",
            &["channel"],
        );
        let http_connections = gauge(
            "tocsin_http_connections_open",
            "HTTP connections open now; at most http.max_connections.",
        );
        let http_connection_cap_reached = prometheus::IntCounter::new(
            "tocsin_http_connection_cap_reached_total",
            "Times the server reached http.max_connections open connections and stopped accepting until one closed.",
        )
        .expect("valid metric");
        let engine_cycle = seconds(
            "tocsin_engine_cycle_duration_seconds",
            "Time an engine cycle took, sends it waited for included.",
            vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
        );
        let commit = seconds(
            "tocsin_store_commit_duration_seconds",
            "Time a write transaction took, from its first statement to COMMIT returning.",
            vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ],
        );
        let writer_queue = gauge(
            "tocsin_store_write_queue",
            "Write jobs of this process waiting for a writer.",
        );
        let open_incidents = IntGaugeVec::new(
            Opts::new(
                "tocsin_incidents_open",
                "Open (triggered or acknowledged) incidents, by severity.",
            ),
            &["severity"],
        )
        .expect("valid metric");
        let unassigned_incidents = gauge(
            "tocsin_incidents_unassigned",
            "Open incidents nobody has: their escalation reached no one.",
        );
        let deliveries_pending = gauge(
            "tocsin_deliveries_pending",
            "Notifications waiting to be sent, retries included.",
        );
        let deliveries_overdue = gauge(
            "tocsin_deliveries_overdue",
            "Notifications due over a minute ago and not sent: the engine is behind, or not running.",
        );
        let cache_evictions = counter(
            "tocsin_cache_evictions_total",
            "Entries an ingest cache dropped to stay within its byte budget (payloads: samples not kept).",
            &["cache"],
        );
        let cache_bytes = IntGaugeVec::new(
            Opts::new(
                "tocsin_cache_bytes",
                "Estimated bytes each ingest cache holds; together within [ingest] cache_megabytes.",
            ),
            &["cache"],
        )
        .expect("valid metric");
        for cache in CACHES {
            cache_evictions.with_label_values(&[cache]);
            cache_bytes.with_label_values(&[cache]);
        }
        for kind in IntegrationKind::ALL {
            let outcomes = IngestResult::ALL.iter().map(|r| r.as_str()).chain(REFUSALS);
            for outcome in outcomes {
                events.with_label_values(&[kind.as_str(), outcome]);
            }
            ingest_latency.with_label_values(&[kind.as_str()]);
        }
        for severity in Severity::ALL {
            incidents_opened.with_label_values(&[severity.as_str()]);
            open_incidents.with_label_values(&[severity.as_str()]);
        }
        for channel in CHANNELS {
            notifications_refused.with_label_values(&[channel]);
            for outcome in ATTEMPT_OUTCOMES {
                notifications.with_label_values(&[channel, outcome]);
            }
        }
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(events.clone()),
            Box::new(incidents_opened.clone()),
            Box::new(ingest_latency.clone()),
            Box::new(notifications.clone()),
            Box::new(notifications_refused.clone()),
            Box::new(http_connections.clone()),
            Box::new(http_connection_cap_reached.clone()),
            Box::new(engine_cycle.clone()),
            Box::new(commit.clone()),
            Box::new(writer_queue.clone()),
            Box::new(open_incidents.clone()),
            Box::new(unassigned_incidents.clone()),
            Box::new(deliveries_pending.clone()),
            Box::new(deliveries_overdue.clone()),
            Box::new(cache_evictions.clone()),
            Box::new(cache_bytes.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ];
        for c in collectors {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            events,
            incidents_opened,
            ingest_latency,
            notifications,
            notifications_refused,
            http_connections,
            http_connection_cap_reached,
            engine_cycle,
            commit,
            writer_queue,
            open_incidents,
            unassigned_incidents,
            deliveries_pending,
            deliveries_overdue,
            cache_evictions,
            cache_bytes,
        }
    }

    /// Sets what each ingest cache holds now.
    pub fn set_cache_bytes(&self, weights: &[(&str, u64)]) {
        for (cache, bytes) in weights {
            self.cache_bytes
                .with_label_values(&[cache])
                .set(i64::try_from(*bytes).unwrap_or(i64::MAX));
        }
    }

    /// What to hand the store so that it reports each write transaction's duration.
    pub fn commit_observer(&self) -> Box<dyn Fn(f64) + Send + Sync> {
        let commit = self.commit.clone();
        Box::new(move |seconds| commit.observe(seconds))
    }

    /// The text exposition, with the database's state and this process's write queue as given.
    pub fn render(&self, gauges: Option<&Gauges>, queued_writes: usize) -> String {
        self.writer_queue
            .set(i64::try_from(queued_writes).unwrap_or(i64::MAX));
        if let Some(g) = gauges {
            for severity in Severity::ALL {
                let open = g
                    .open_incidents
                    .iter()
                    .find(|(s, _)| *s == severity)
                    .map_or(0, |(_, n)| *n);
                self.open_incidents
                    .with_label_values(&[severity.as_str()])
                    .set(open);
            }
            self.unassigned_incidents.set(g.unassigned_incidents);
            self.deliveries_pending.set(g.deliveries_pending);
            self.deliveries_overdue.set(g.deliveries_overdue);
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("metrics are UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
