//! Prometheus metrics, exposed in text format at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Events by integration kind and outcome (created, deduplicated, …, invalid, unknown_key, error).
    pub events: IntCounterVec,
    pub incidents_opened: IntCounterVec,
    pub ingest_latency: HistogramVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "tocsin_events_total",
                "Events received from senders, by integration kind and outcome.",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let incidents_opened = IntCounterVec::new(
            Opts::new(
                "tocsin_incidents_opened_total",
                "Incidents opened, by severity.",
            ),
            &["severity"],
        )
        .expect("valid metric");
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
        for c in [
            Box::new(events.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(incidents_opened.clone()),
            Box::new(ingest_latency.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            events,
            incidents_opened,
            ingest_latency,
        }
    }

    pub fn render(&self) -> String {
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
