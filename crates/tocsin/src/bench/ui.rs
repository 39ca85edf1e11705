//! `ui-render`: the web UI on a year of data. A store holds `incidents` incidents of `alerts_per_incident` alerts
//! each (all but the last `open` resolved), ingested through the same path senders use, and one open incident whose
//! timeline has `timeline` entries. Pages are requested in-process through the server's router, as a signed-in
//! owner, one after another: the time from request to the whole body is the server-side render time (uncompressed;
//! compressing is the next step, measured apart), reported as p50 and p99 for home, the incident list (open, and
//! everything), and that incident's page. Then the bytes a first load of the incident page transfers: its HTML,
//! stylesheet and script, gzip-compressed as a browser asks (a response that comes back uncompressed fails the
//! run). The incidents open one after another over the year before the scenario's instant. The same pages on a
//! population a hundredth the size, built and measured in the same run, are the baseline of the ratios.

use super::fixture::{Population, concurrently, epoch};
use super::report::{ms, percentile, thousands};
use crate::http::{AppState, router};
use axum::body::Body;
use axum::http::{Request, header};
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;
use tocsin_app::App;
use tocsin_app::metrics::Metrics;
use tocsin_domain::alert::{AlertDetails, AlertEvent, EventAction};
use tocsin_domain::auth::{Role, hash_secret, new_integration_key, new_session_token};
use tocsin_domain::clock::{Clock, ManualClock};
use tocsin_domain::incident::Actor;
use tocsin_domain::senders::Batch;
use tocsin_domain::severity::AlertSeverity;
use tocsin_store::{IntegrationKind, NewIntegration, NewSession, Store};
use tower::ServiceExt;

/// What the issue asks of a page's p99, and of a first load.
const TARGET_P99_MS: f64 = 50.0;
const TARGET_FIRST_LOAD_KB: f64 = 100.0;
/// The baseline population is this much smaller.
const BASELINE_SHRINK: usize = 100;
/// Requests before measuring, not counted: caches and the database's pages warm up.
const WARMUP: usize = 20;

#[derive(Debug, Clone)]
pub struct UiParams {
    pub incidents: usize,
    pub alerts_per_incident: usize,
    pub open: usize,
    pub timeline: usize,
    pub requests: usize,
}

#[derive(Debug, Serialize)]
pub struct UiFigures {
    pub database: &'static str,
    pub baseline: PopulationFigures,
    pub loaded: PopulationFigures,
    pub target_p99_ms: f64,
    pub target_first_load_kb: f64,
    /// The slowest page's p99 on the loaded population, which the target is read on.
    pub target_figure_ms: Option<f64>,
    pub target_met: bool,
}

#[derive(Debug, Serialize)]
pub struct PopulationFigures {
    pub incidents: usize,
    pub alerts: usize,
    pub open: usize,
    pub timeline: usize,
    pub setup_s: f64,
    pub pages: Vec<PageFigures>,
    pub first_load: FirstLoad,
}

#[derive(Debug, Serialize)]
pub struct PageFigures {
    pub page: &'static str,
    pub path: String,
    pub requests: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// The page's size, uncompressed.
    pub bytes: usize,
}

/// A first load of the incident page: what goes over the wire, gzip-compressed as browsers ask.
#[derive(Debug, Serialize)]
pub struct FirstLoad {
    pub html_bytes: usize,
    pub css_bytes: usize,
    pub js_bytes: usize,
    pub total_kb: f64,
    pub uncompressed_kb: f64,
}

pub async fn run(params: &UiParams) -> anyhow::Result<UiFigures> {
    anyhow::ensure!(
        params.incidents > params.open && params.open > 0 && params.alerts_per_incident > 0,
        "--ui-incidents must be more than --ui-open, which must be at least 1 (the measured incident is open), \
         and every incident needs an alert"
    );
    let shrink = |n: usize| (n / BASELINE_SHRINK).max(1);
    let baseline = UiParams {
        incidents: shrink(params.incidents).max(params.open.min(10) + 1),
        open: params.open.min(10),
        ..params.clone()
    };
    eprintln!(
        "ui-render: baseline of {} incidents…",
        thousands(baseline.incidents as u64)
    );
    let baseline = measure(&baseline).await?;
    eprintln!(
        "ui-render: {} incidents of {} alerts each (this takes a while)…",
        thousands(params.incidents as u64),
        params.alerts_per_incident
    );
    let loaded = measure(params).await?;
    let target_figure_ms = loaded
        .pages
        .iter()
        .filter_map(|p| p.p99_ms)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    Ok(UiFigures {
        database: "SQLite",
        target_met: target_figure_ms.is_some_and(|v| v <= TARGET_P99_MS)
            && loaded.first_load.total_kb <= TARGET_FIRST_LOAD_KB,
        baseline,
        loaded,
        target_p99_ms: TARGET_P99_MS,
        target_first_load_kb: TARGET_FIRST_LOAD_KB,
        target_figure_ms,
    })
}

async fn measure(params: &UiParams) -> anyhow::Result<PopulationFigures> {
    let started = Instant::now();
    let mut population = Population::people(50, 20, None, None).await?;
    population.paging().await?;
    let store: Arc<dyn Store> = population.store.clone();
    let now = epoch();

    // One integration per service, whose keys the alerts arrive with.
    let keys = {
        let (s, services) = (store.clone(), Arc::new(population.services.clone()));
        concurrently(services.len(), move |i| {
            let (s, services) = (s.clone(), services.clone());
            async move {
                let key = new_integration_key();
                s.integrations()
                    .create(
                        NewIntegration {
                            service: services[i].as_str().into(),
                            kind: IntegrationKind::Pagerduty,
                            name: "bench".into(),
                            key_hash: key.hash(),
                            key_prefix: key.expose()[..6].to_owned(),
                            config: Default::default(),
                        },
                        now,
                    )
                    .await?;
                Ok(key.hash())
            }
        })
        .await?
    };
    let keys = Arc::new(keys);

    // Each incident is one sender group: its first alert opens it, the rest join it; all but the last `open`
    // resolve every alert in the same request, which resolves the incident.
    // Over the year before `now`, one after another.
    let step = chrono::Duration::seconds((365 * 86_400 / params.incidents as i64).max(1));
    let year_ago = now - chrono::Duration::days(365);
    let (s, per, resolved) = (
        store.clone(),
        params.alerts_per_incident,
        params.incidents - params.open,
    );
    concurrently(params.incidents, move |i| {
        let (s, keys) = (s.clone(), keys.clone());
        async move {
            let mut events: Vec<AlertEvent> = (0..per)
                .map(|a| {
                    let mut details = AlertDetails::new(
                        format!(
                            "Incident {i}: check {a} failing on host-{:03}",
                            (i + a) % 500
                        ),
                        format!("host-{:03}", (i + a) % 500),
                        [
                            AlertSeverity::Critical,
                            AlertSeverity::Error,
                            AlertSeverity::Warning,
                        ][a % 3],
                    );
                    details.custom_details = serde_json::json!({
                        "runbook": "https://wiki.example.com/runbooks/disk",
                        "value": a * 7,
                        "threshold": 90,
                    });
                    details
                        .labels
                        .insert("alertname".into(), format!("Check{a}"));
                    AlertEvent {
                        action: EventAction::Trigger,
                        dedup_key: format!("i{i}-a{a}"),
                        details: Some(details),
                        patch: None,
                    }
                })
                .collect();
            if i < resolved {
                events.extend((0..per).map(|a| AlertEvent {
                    action: EventAction::Resolve,
                    dedup_key: format!("i{i}-a{a}"),
                    details: None,
                    patch: None,
                }));
            }
            let batch = Batch {
                events,
                group_key: Some(format!("group-{i}")),
                group_state: None,
            };
            let key = &keys[i % keys.len()];
            let at = year_ago + step * i as i32;
            s.ingest()
                .batch(key, IntegrationKind::Pagerduty, batch, at)
                .await?;
            Ok(())
        }
    })
    .await?;

    // The incident with a long timeline: the newest open one, and many notes on it.
    let clock = Arc::new(ManualClock::new(
        now + chrono::Duration::seconds(params.timeline as i64 + 60),
    ));
    let app = App::new(store.clone(), clock.clone(), Metrics::new());
    let open = app
        .incidents()
        .list(
            &tocsin_app::Principal::system(),
            tocsin_store::IncidentFilter {
                statuses: vec![tocsin_domain::incident::IncidentStatus::Triggered],
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
    let number = open
        .items
        .first()
        .map(|i| i.number)
        .ok_or_else(|| anyhow::anyhow!("no incident stayed open"))?;
    let existing = store
        .incidents()
        .timeline(&tocsin_domain::refs::IncidentRef::Number(number))
        .await?
        .len();
    let notes = params.timeline.saturating_sub(existing);
    let s = store.clone();
    concurrently(notes, move |n| {
        let s = s.clone();
        async move {
            let body = format!(
                "Checked **host-{n:03}**: disk at {}%, [dashboard](https://grafana.example.com/d/disk?host={n}). \
                 Rolling back `deploy-{n}` next.",
                60 + n % 40
            );
            s.incidents()
                .add_note(
                    &tocsin_domain::refs::IncidentRef::Number(number),
                    body,
                    Actor::system(),
                    now + chrono::Duration::seconds(n as i64),
                )
                .await?;
            Ok(())
        }
    })
    .await?;

    // A signed-in owner, as the pages need one.
    let owner = store
        .users()
        .set_role(&population.users[0].clone().into(), Role::Owner, now)
        .await?;
    let cookie = new_session_token();
    store
        .accounts()
        .start_session(
            NewSession {
                token_hash: hash_secret(cookie.expose()),
                user_id: owner.id.clone(),
                address: None,
                user_agent: "tocsin bench".into(),
            },
            clock.now(),
        )
        .await?;
    let setup_s = started.elapsed().as_secs_f64();
    let state = AppState::new(app, "http://127.0.0.1:8080".into());
    let service = router(state);
    let cookie = format!("tocsin_session={}", cookie.expose());
    let get = |path: String, gzip: bool| {
        let mut request = Request::get(path).header(header::COOKIE, cookie.clone());
        if gzip {
            request = request.header(header::ACCEPT_ENCODING, "gzip");
        }
        request.body(Body::empty()).expect("a request")
    };
    let mut pages = Vec::new();
    for (page, path) in [
        ("home", "/".to_owned()),
        ("incidents (open)", "/incidents".to_owned()),
        ("incidents (all)", "/incidents?status=all".to_owned()),
        ("incident", format!("/incidents/{number}")),
    ] {
        let mut times = Vec::with_capacity(params.requests);
        let mut bytes = 0;
        for round in 0..WARMUP + params.requests {
            let started = Instant::now();
            let resp = service.clone().oneshot(get(path.clone(), false)).await?;
            anyhow::ensure!(
                resp.status().is_success(),
                "{path} answered {}",
                resp.status()
            );
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
            let took = started.elapsed();
            if round >= WARMUP {
                times.push(took);
                bytes = body.len();
            }
        }
        times.sort();
        pages.push(PageFigures {
            page,
            path,
            requests: times.len(),
            p50_ms: percentile(&times, 0.50),
            p99_ms: percentile(&times, 0.99),
            max_ms: times.last().map(|d| d.as_secs_f64() * 1000.0),
            bytes,
        });
    }
    let mut first = Vec::new();
    let incident_page = format!("/incidents/{number}");
    let html = service
        .clone()
        .oneshot(get(incident_page.clone(), false))
        .await?;
    let html = axum::body::to_bytes(html.into_body(), usize::MAX).await?;
    let text = String::from_utf8_lossy(&html).into_owned();
    // Every asset the page names, each once: what a browser's first visit fetches besides the page.
    let mut assets: Vec<String> = text
        .match_indices("\"/assets/")
        .filter_map(|(at, _)| {
            let rest = &text[at + 1..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect();
    assets.sort();
    assets.dedup();
    let mut uncompressed = html.len();
    let mut kinds = Vec::new();
    for path in std::iter::once(incident_page).chain(assets) {
        kinds.push(if path.ends_with(".css") {
            "css"
        } else if path.ends_with(".js") {
            "js"
        } else {
            "html"
        });
        let resp = service.clone().oneshot(get(path.clone(), true)).await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "{path} answered {}",
            resp.status()
        );
        anyhow::ensure!(
            resp.headers()
                .get(header::CONTENT_ENCODING)
                .is_some_and(|e| e == "gzip"),
            "{path} came back uncompressed to a browser that asked for gzip"
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
        if !path.starts_with("/incidents") {
            let plain = service.clone().oneshot(get(path.clone(), false)).await?;
            uncompressed += axum::body::to_bytes(plain.into_body(), usize::MAX)
                .await?
                .len();
        }
        first.push(body.len());
    }
    let kb = |n: usize| n as f64 / 1024.0;
    let total: usize = first.iter().sum();
    Ok(PopulationFigures {
        incidents: params.incidents,
        alerts: params.incidents * params.alerts_per_incident,
        open: params.open,
        timeline: params.timeline,
        setup_s,
        pages,
        first_load: FirstLoad {
            html_bytes: of_kind(&kinds, &first, "html"),
            css_bytes: of_kind(&kinds, &first, "css"),
            js_bytes: of_kind(&kinds, &first, "js"),
            total_kb: kb(total),
            uncompressed_kb: kb(uncompressed),
        },
    })
}

fn of_kind(kinds: &[&str], sizes: &[usize], kind: &str) -> usize {
    kinds
        .iter()
        .zip(sizes)
        .filter(|(k, _)| **k == kind)
        .map(|(_, n)| n)
        .sum()
}

impl UiFigures {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let l = &self.loaded;
        let _ = writeln!(
            out,
            "ui-render: pages rendered in-process through the router as a signed-in owner, one request at a time, \
             on {}: {} incidents ({} open), {} alerts, one incident with a {}-entry timeline; baseline a {}th the size",
            self.database,
            thousands(l.incidents as u64),
            thousands(l.open as u64),
            thousands(l.alerts as u64),
            l.timeline,
            BASELINE_SHRINK
        );
        let _ = writeln!(
            out,
            "\n{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
            "page",
            "base p50",
            "base p99",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99 ratio",
            "bytes",
            "requests"
        );
        for (b, p) in self.baseline.pages.iter().zip(&l.pages) {
            let ratio = match (p.p99_ms, b.p99_ms) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
                p.page,
                ms(b.p50_ms),
                ms(b.p99_ms),
                ms(p.p50_ms),
                ms(p.p99_ms),
                ms(p.max_ms),
                ratio,
                thousands(p.bytes as u64),
                p.requests
            );
        }
        let f = &l.first_load;
        let _ = writeln!(
            out,
            "\nfirst load of the incident page (gzip): HTML {} B + CSS {} B + JS {} B = {:.1} KB ({:.1} KB uncompressed)",
            thousands(f.html_bytes as u64),
            thousands(f.css_bytes as u64),
            thousands(f.js_bytes as u64),
            f.total_kb,
            f.uncompressed_kb
        );
        let _ = writeln!(
            out,
            "setup: baseline {:.0} s, loaded {:.0} s",
            self.baseline.setup_s, l.setup_s
        );
        let _ = writeln!(
            out,
            "target: every page's p99 ≤ {} ms on SQLite (slowest: {} ms) and a first load ≤ {} KB: {}",
            self.target_p99_ms,
            ms(self.target_figure_ms),
            self.target_first_load_kb,
            if self.target_met { "met" } else { "not met" }
        );
        out
    }
}
