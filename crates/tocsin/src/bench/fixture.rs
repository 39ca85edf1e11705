//! The population the in-process scenarios run against: users, on-call schedules in many time zones, escalation
//! policies paging those schedules, services using the policies, in a SQLite store on disk with the server's default
//! durability. Everything is derived from its index, so two runs build the same population.

use super::process::scratch_dir;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use tempfile::TempDir;
use tocsin_domain::catalog::{HttpUrl, ServiceSpec, UserSpec};
use tocsin_domain::contact::{ContactMethodSpec, ContactTarget};
use tocsin_domain::escalation::{EscalationLevel, EscalationPolicySpec, EscalationTarget};
use tocsin_domain::ids::{ScheduleId, UserId};
use tocsin_domain::oncall::ScheduleSpec;
use tocsin_store::SqlStore;
use tocsin_store::Store;
use tocsin_store::postgres::ScratchDatabase;
use tocsin_store::sqlite::{self, Durability};
use tokio::task::JoinSet;

/// The instant the scenarios start at. Fixed, so that who is on call, and so the work, is the same every run.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0)
        .single()
        .expect("a valid instant")
}

const ZONES: [&str; 12] = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Pacific/Auckland",
];

const ROTATIONS: [(&str, u32); 6] = [
    ("days", 1),
    ("weeks", 1),
    ("hours", 12),
    ("days", 2),
    ("weeks", 2),
    ("hours", 8),
];

/// Longest first-level delay of any policy: once the clock has moved this far past the incidents' opening, every
/// escalation's second level is due, and no third level yet (later delays are at least this long).
pub const FIRST_DELAY_MAX_MINUTES: i64 = 30;
const FIRST_DELAYS: [u32; 4] = [5, 10, 15, 30];

/// Jobs in flight at once while building: enough for the store's writer to commit them in large groups.
const WIDTH: usize = 256;

pub struct Population {
    pub store: Arc<SqlStore>,
    pub users: Vec<UserId>,
    pub schedules: Vec<ScheduleId>,
    pub layers: usize,
    pub policies: usize,
    pub services: Vec<String>,
    // Deleted last, after the store's connections are gone.
    _dir: TempDir,
    _database: Option<ScratchDatabase>,
}

/// The name of the backend a store is made on: PostgreSQL at the server `postgres`, else SQLite.
pub fn backend_name(postgres: Option<&str>) -> &'static str {
    if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

impl Population {
    /// A fresh store in a scratch directory, with `users` users (each with a webhook to `webhook`, when given) and
    /// `schedules` schedules over them.
    /// The store is SQLite in a scratch directory, or a fresh database on the PostgreSQL server at `postgres`.
    pub async fn people(
        users: usize,
        schedules: usize,
        webhook: Option<&str>,
        postgres: Option<&str>,
    ) -> anyhow::Result<Self> {
        let dir = scratch_dir("store")?;
        let database = match postgres {
            Some(admin) => Some(ScratchDatabase::create(admin, "tocsin_bench").await?),
            None => None,
        };
        let store = Arc::new(match &database {
            Some(db) => tocsin_store::postgres::open(db.url(), Default::default()).await?,
            None => sqlite::open(&dir.path().join("tocsin.db"), Durability::Full)?,
        });
        let now = epoch();
        let s = store.clone();
        let user_ids = concurrently(users.max(1), move |i| {
            let s = s.clone();
            async move {
                let spec: UserSpec = serde_json::from_value(json!({
                    "name": format!("Bench User {i}"),
                    "email": format!("user{i}@bench.example"),
                }))?;
                Ok(s.users().create(spec, now).await?.id)
            }
        })
        .await?;
        if let Some(url) = webhook {
            let url = HttpUrl::parse(url).map_err(anyhow::Error::msg)?;
            let (s, ids) = (store.clone(), Arc::new(user_ids.clone()));
            concurrently(ids.len(), move |i| {
                let (s, ids, url) = (s.clone(), ids.clone(), url.clone());
                async move {
                    let spec = ContactMethodSpec {
                        name: "bench receiver".into(),
                        target: ContactTarget::Webhook {
                            url,
                            secret: Some(tocsin_domain::webhook::generate_secret()),
                        },
                        enabled: true,
                    };
                    s.contacts()
                        .create_method(&ids[i].clone().into(), spec, now)
                        .await?;
                    Ok(())
                }
            })
            .await?;
        }
        let specs: Arc<Vec<ScheduleSpec>> = Arc::new(
            (0..schedules)
                .map(|i| schedule_spec(i, &user_ids))
                .collect::<anyhow::Result<_>>()?,
        );
        let layers = specs.iter().map(|s| s.layers.len()).sum();
        let s = store.clone();
        let schedule_ids = concurrently(specs.len(), move |i| {
            let (s, specs) = (s.clone(), specs.clone());
            async move {
                let spec = specs[i].clone();
                Ok(s.oncall().create_schedule(spec, now).await?.id)
            }
        })
        .await?;
        Ok(Self {
            store,
            users: user_ids,
            schedules: schedule_ids,
            layers,
            policies: 0,
            services: Vec::new(),
            _dir: dir,
            _database: database,
        })
    }

    /// One policy per four schedules, paging them level by level, and one service per schedule, each using a
    /// policy.
    pub async fn paging(&mut self) -> anyhow::Result<()> {
        let now = epoch();
        let schedules = Arc::new(self.schedules.clone());
        let policies = (schedules.len() / 4).max(1);
        let s = self.store.clone();
        let policy_ids = concurrently(policies, move |p| {
            let (s, schedules) = (s.clone(), schedules.clone());
            async move {
                let spec = policy_spec(p, &schedules);
                Ok(s.escalation().create_policy(spec, now).await?.id)
            }
        })
        .await?;
        let policy_ids = Arc::new(policy_ids);
        let services = self.schedules.len().max(1);
        let s = self.store.clone();
        let names = concurrently(services, move |i| {
            let (s, policy_ids) = (s.clone(), policy_ids.clone());
            async move {
                let name = format!("bench-svc-{i:05}");
                let spec: ServiceSpec = serde_json::from_value(json!({ "name": name }))?;
                s.services().create(spec, now).await?;
                let policy = policy_ids[i % policy_ids.len()].to_string();
                s.escalation()
                    .set_service_policy(&name.as_str().into(), Some(policy.as_str().into()))
                    .await?;
                Ok(name)
            }
        })
        .await?;
        self.policies = policies;
        self.services = names;
        Ok(())
    }
}

/// Schedule `i`: a round-the-clock rotation, a second layer over part of the week, and for every third schedule a
/// night layer; rotations, handoff times and time zones vary with `i`.
fn schedule_spec(i: usize, users: &[UserId]) -> anyhow::Result<ScheduleSpec> {
    let pick = |offset: usize, n: usize| -> Vec<Value> {
        (0..n)
            .map(|k| json!(users[(i * 7 + offset + k * 13) % users.len()].as_str()))
            .collect()
    };
    let (every, count) = ROTATIONS[i % ROTATIONS.len()];
    let mut layers = vec![json!({
        "name": "primary",
        "participants": pick(0, 3 + i % 6),
        "rotation": { "every": every, "count": count },
        "start": format!("2025-01-{:02}T{:02}:{:02}:00", 1 + i % 28, (i * 5) % 24, (i % 4) * 15),
    })];
    layers.push(if i.is_multiple_of(2) {
        json!({
            "name": "business hours",
            "participants": pick(1, 2 + i % 3),
            "rotation": { "every": "weeks", "count": 1 },
            "start": "2025-01-06T09:00:00",
            "restrictions": [{ "days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00:00", "end": "17:00:00" }],
        })
    } else {
        json!({
            "name": "weekends",
            "participants": pick(2, 2 + i % 2),
            "rotation": { "every": "days", "count": 1 },
            "start": "2025-01-04T08:00:00",
            "restrictions": [{ "days": ["Sat", "Sun"], "start": "08:00:00", "end": "20:00:00" }],
        })
    });
    if i.is_multiple_of(3) {
        layers.push(json!({
            "name": "nights",
            "participants": pick(3, 2),
            "rotation": { "every": "hours", "count": 4 },
            "start": "2025-02-01T22:00:00",
            "restrictions": [{ "start": "22:00:00", "end": "06:00:00" }],
        }));
    }
    Ok(serde_json::from_value(json!({
        "name": format!("bench-schedule-{i:05}"),
        "time_zone": ZONES[i % ZONES.len()],
        "layers": layers,
    }))?)
}

/// Policy `p` pages schedule 4p first, then 4p+1, then both 4p+2 and 4p+3, and runs through once more.
fn policy_spec(p: usize, schedules: &[ScheduleId]) -> EscalationPolicySpec {
    let schedule =
        |k: usize| EscalationTarget::Schedule(schedules[(4 * p + k) % schedules.len()].clone());
    let mut last = vec![schedule(2)];
    if !last.contains(&schedule(3)) {
        last.push(schedule(3));
    }
    EscalationPolicySpec {
        name: format!("bench-policy-{p:05}"),
        description: String::new(),
        repeat: 1,
        levels: vec![
            EscalationLevel {
                delay_minutes: FIRST_DELAYS[p % FIRST_DELAYS.len()],
                targets: vec![schedule(0)],
            },
            EscalationLevel {
                delay_minutes: if p.is_multiple_of(2) { 30 } else { 60 },
                targets: vec![schedule(1)],
            },
            EscalationLevel {
                delay_minutes: 60,
                targets: last,
            },
        ],
        team: None,
    }
}

/// Runs `job(i)` for every `i` below `n`, many at a time so that the store's writer commits them in groups, and
/// returns the results in order of `i`.
pub async fn concurrently<R, F, Fut>(n: usize, job: F) -> anyhow::Result<Vec<R>>
where
    R: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<R>> + Send + 'static,
{
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    let mut running = JoinSet::new();
    let mut next = 0;
    while next < n || !running.is_empty() {
        while next < n && running.len() < WIDTH {
            let (i, work) = (next, job(next));
            running.spawn(async move { (i, work.await) });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            let (i, result) = done?;
            out[i] = Some(result?);
        }
    }
    Ok(out.into_iter().flatten().collect())
}
