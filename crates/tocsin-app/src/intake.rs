//! Ingest: what every sender endpoint does once it has the key and the body. Find the integration the key belongs
//! to, hold it to its rate limit, recognise a re-sent group state that changes nothing, store the rest, count it.
//!
//! The key cache, the limiters and the group digests are in-process caches in front of the store, never the authority: the store re-checks the key (and
//! its revocation) in the same transaction that writes the events. A key revoked on this node is dropped from the
//! cache at once; elsewhere the entry expires after [`KEY_TTL`]. A group state is trusted only while the store
//! says it is still the group's latest (`IngestRepo::group_state`), whichever process stored it: so a re-send of
//! an old state after another process stored a newer one, or after a person resolved an incident, is written.

use crate::App;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_domain::ValidationErrors;
use tocsin_domain::auth::hash_secret;
use tocsin_domain::clock::Clock;
use tocsin_domain::ids::IntegrationId;
use tocsin_domain::integration::{IntegrationKind, Rate};
use tocsin_domain::pagerduty::ChangeEvent;
use tocsin_domain::senders::Batch;
use tocsin_store::{
    ChangeRecord, HeartbeatStatus, IngestOutcome, Integration, RAW_PAYLOADS_KEPT, RawPayload,
    Result as StoreResult, Store, StoreError,
};

const KEY_TTL: Duration = Duration::from_secs(5);
const GROUP_TTL: Duration = Duration::from_secs(300);

/// What the whole server takes in, whichever integration sends it (`[ingest]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeSettings {
    /// Memory all ingest caches share.
    pub cache_bytes: u64,
    /// The most events (alerts) one request may carry.
    pub max_events_per_request: usize,
    /// The server's ingest budget: events per second from all integrations together, and the burst above it.
    /// `None` is unlimited. Each integration's own event limit keeps any one sender to a share of it.
    pub budget: Option<Rate>,
}

/// The default memory all ingest caches share: `[ingest] cache_megabytes`.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            cache_bytes: DEFAULT_CACHE_BYTES,
            max_events_per_request: 1_000,
            budget: Rate::new(2_000, 40_000),
        }
    }
}

/// The app's clock as the rate limiters' clock: monotonic, so a limit follows a test's manual clock and never
/// stalls on a wall-clock step backwards.
#[derive(Clone)]
struct LimiterClock(Arc<dyn Clock>);

impl LimiterClock {
    fn nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl governor::clock::Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.nanos())
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Nanos>>;

/// An integration's request and event limiters, made for the limits they were made for.
struct Limiters {
    rates: (Option<Rate>, Option<Rate>),
    requests: Option<Limiter>,
    events: Option<Mutex<Bucket>>,
    /// Until when (limiter clock nanoseconds) the integration was told to wait after its events were refused: a
    /// sender that ignores `Retry-After` is refused before its body is read, which costs the server nothing.
    refused_until: std::sync::atomic::AtomicU64,
}

/// A token bucket for events. Unlike a request limiter it is asked before it is charged, so that a request the
/// server's budget refuses costs its integration nothing, and the other way round.
#[derive(Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    /// When `tokens` was counted, in the limiter clock's nanoseconds.
    at: u64,
}

impl Bucket {
    fn new(rate: Rate, now: u64) -> Self {
        Self {
            rate,
            tokens: f64::from(rate.burst.get()),
            at: now,
        }
    }

    fn refill(&mut self, now: u64) {
        let seconds = now.saturating_sub(self.at) as f64 / 1e9;
        self.tokens = (self.tokens + seconds * f64::from(self.rate.per_second.get()))
            .min(f64::from(self.rate.burst.get()));
        self.at = self.at.max(now);
    }

    /// How long until `n` tokens are there; zero when they are.
    fn wait(&self, n: f64) -> Duration {
        if self.tokens >= n {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((n - self.tokens) / f64::from(self.rate.per_second.get()))
        }
    }
}

/// What a cache entry weighs: its own size estimate, computed once when it is made.
#[derive(Clone, Default)]
struct ByWeight;

impl<K, V: Weighed> quick_cache::Weighter<K, Arc<V>> for ByWeight {
    fn weight(&self, _: &K, v: &Arc<V>) -> u64 {
        v.weight()
    }
}

trait Weighed {
    fn weight(&self) -> u64;
}

/// Counts entries a cache let go of to stay within its budget.
#[derive(Clone)]
struct Evictions(prometheus::IntCounter);

impl<K, V> quick_cache::Lifecycle<K, V> for Evictions {
    type RequestState = ();
    fn begin_request(&self) {}
    fn on_evict(&self, _: &mut (), _: K, _: V) {
        self.0.inc();
    }
}

type Budgeted<K, V> =
    quick_cache::sync::Cache<K, Arc<V>, ByWeight, quick_cache::DefaultHashBuilder, Evictions>;

fn budgeted<K: Eq + std::hash::Hash, V: Weighed>(
    bytes: u64,
    evictions: prometheus::IntCounter,
) -> Budgeted<K, V> {
    // Entries are a few hundred bytes to a few kilobytes; the estimate only sizes the table.
    let items = usize::try_from(bytes / 512).unwrap_or(usize::MAX).max(16);
    quick_cache::sync::Cache::with(
        items,
        bytes.max(1),
        ByWeight,
        Default::default(),
        Evictions(evictions),
    )
}

/// A looked-up key and when.
struct KnownKey {
    found: Option<Integration>,
    at: Instant,
    weight: u64,
}

impl Weighed for KnownKey {
    fn weight(&self) -> u64 {
        self.weight
    }
}

/// How the caches share the budget, in sixteenths: group states take most, since a group holds a digest per alert.
const KEYS_SHARE: u64 = 1;
const GROUPS_SHARE: u64 = 10;
const BODIES_SHARE: u64 = 2;
const PAYLOADS_SHARE: u64 = 3;

pub(crate) struct Intake {
    keys: Budgeted<String, KnownKey>,
    clock: LimiterClock,
    limiters: Mutex<HashMap<IntegrationId, Arc<Limiters>>>,
    /// The server's ingest budget, shared by all integrations.
    budget: Option<Mutex<Bucket>>,
    max_events_per_request: usize,
    /// Digest of the last stored state of each (integration, sender group), and when it was stored.
    groups: Budgeted<(IntegrationId, String), GroupState>,
    /// Hashes of grouped request bodies recently handled, with the group state each encodes: a sender re-sending
    /// an unchanged group sends the same bytes, which can be answered before any parsing.
    bodies: Budgeted<(IntegrationId, [u8; 32]), KnownBody>,
    /// Accepted request bodies not yet written to their integration's ring; at most the ring's size each, since
    /// older ones would be overwritten anyway, and at most `payload_budget` bytes in all.
    payloads: Mutex<Payloads>,
    payload_budget: usize,
    /// Samples dropped because the buffer was full.
    payloads_dropped: prometheus::IntCounter,
}

#[derive(Default)]
struct Payloads {
    rings: HashMap<IntegrationId, VecDeque<RawPayload>>,
    bytes: usize,
}

impl Intake {
    /// Caches that together hold at most about `settings.cache_bytes`, counting what they evict in `metrics`;
    /// limits measured by `clock`.
    pub fn new(settings: IntakeSettings, clock: Arc<dyn Clock>, metrics: &crate::Metrics) -> Self {
        let bytes = settings.cache_bytes;
        let share = |n: u64| bytes / 16 * n;
        let evicted = |cache: &str| metrics.cache_evictions.with_label_values(&[cache]);
        let clock = LimiterClock(clock);
        Self {
            keys: budgeted(share(KEYS_SHARE), evicted("keys")),
            budget: settings
                .budget
                .map(|r| Mutex::new(Bucket::new(r, clock.nanos()))),
            clock,
            max_events_per_request: settings.max_events_per_request,
            limiters: Mutex::default(),
            groups: budgeted(share(GROUPS_SHARE), evicted("groups")),
            bodies: budgeted(share(BODIES_SHARE), evicted("bodies")),
            payloads: Mutex::default(),
            payload_budget: usize::try_from(share(PAYLOADS_SHARE)).unwrap_or(usize::MAX),
            payloads_dropped: evicted("payloads"),
        }
    }

    /// What each cache holds now, in estimated bytes, for the metrics.
    pub fn weights(&self) -> [(&'static str, u64); 4] {
        let payloads = self.payloads.lock().expect("payload buffer").bytes as u64;
        [
            ("keys", self.keys.weight()),
            ("groups", self.groups.weight()),
            ("bodies", self.bodies.weight()),
            ("payloads", payloads),
        ]
    }
}

impl Intake {
    /// The active integration whose key hashes to `key_hash`.
    pub async fn integration(
        &self,
        store: &dyn Store,
        key_hash: &str,
    ) -> StoreResult<Option<Integration>> {
        if let Some(known) = self.keys.get(key_hash)
            && known.at.elapsed() < KEY_TTL
        {
            return Ok(known.found.clone());
        }
        let found = store.integrations().by_key(key_hash).await?;
        // An integration's settings (a field mapping) are its bulk; its JSON length stands for them.
        let weight = 256
            + key_hash.len() as u64
            + found.as_ref().map_or(0, |i| {
                serde_json::to_string(&i.config).map_or(0, |c| c.len()) as u64 + i.name.len() as u64
            });
        self.keys.insert(
            key_hash.to_owned(),
            Arc::new(KnownKey {
                found: found.clone(),
                at: Instant::now(),
                weight,
            }),
        );
        Ok(found)
    }

    /// Forgets every cached key, after a change that revokes several at once (a service deleted).
    pub fn forget_keys(&self) {
        self.keys.clear();
    }

    /// Forgets an integration whose key or settings changed.
    pub fn forget(&self, id: &IntegrationId) {
        self.keys
            .retain(|_, known| known.found.as_ref().is_none_or(|i| &i.id != id));
        self.limiters.lock().expect("limiters").remove(id);
    }

    /// This integration's limiters, made anew when its limits changed.
    fn limiters(&self, integration: &Integration) -> Arc<Limiters> {
        let rates = (
            integration.config.request_rate(),
            integration.config.event_rate(),
        );
        let mut limiters = self.limiters.lock().expect("limiters");
        let entry = limiters
            .entry(integration.id.clone())
            .or_insert_with(|| self.new_limiters(rates));
        if entry.rates != rates {
            *entry = self.new_limiters(rates);
        }
        entry.clone()
    }

    fn new_limiters(&self, rates: (Option<Rate>, Option<Rate>)) -> Arc<Limiters> {
        Arc::new(Limiters {
            rates,
            requests: rates.0.map(|r| limiter(r, &self.clock)),
            events: rates
                .1
                .map(|r| Mutex::new(Bucket::new(r, self.clock.nanos()))),
            refused_until: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// `Err(wait)` when the integration is over its request limit: the sender should retry after `wait`.
    pub fn admit(&self, integration: &Integration) -> Result<(), Duration> {
        let limiters = self.limiters(integration);
        let until = limiters
            .refused_until
            .load(std::sync::atomic::Ordering::Relaxed);
        let now = self.clock.nanos();
        if now < until {
            return Err(Duration::from_nanos(until - now));
        }
        match &limiters.requests {
            Some(l) => l.check().map_err(|not_until| self.wait(&not_until)),
            None => Ok(()),
        }
    }

    /// Refuses a request carrying more events than one request may.
    fn check_request_size(&self, events: usize) -> Result<(), Refusal> {
        if events > self.max_events_per_request {
            return Err(Refusal::TooMany {
                events,
                max: self.max_events_per_request,
            });
        }
        Ok(())
    }

    /// Takes `events` from the integration's event limit and from the server's budget, or, taking nothing from
    /// either, says which is exhausted and for how long. Events over either limit's burst could never pass: they
    /// are `TooMany`.
    fn take_events(&self, integration: &Integration, events: usize) -> Result<(), Refusal> {
        if events == 0 {
            return Ok(());
        }
        let limiters = self.limiters(integration);
        // Always the integration's bucket first, then the budget: this is the one place that holds both.
        let mut own = limiters
            .events
            .as_ref()
            .map(|b| b.lock().expect("event bucket"));
        let mut shared = self
            .budget
            .as_ref()
            .map(|b| b.lock().expect("ingest budget"));
        let now = self.clock.nanos();
        let n = events as f64;
        for (bucket, over) in [(&mut own, Over::Integration), (&mut shared, Over::Server)] {
            let Some(bucket) = bucket else { continue };
            bucket.refill(now);
            let burst = bucket.rate.burst.get() as usize;
            if events > burst {
                return Err(Refusal::TooMany { events, max: burst });
            }
            let wait = bucket.wait(n);
            if !wait.is_zero() {
                if over == Over::Integration {
                    let until =
                        now.saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX));
                    limiters
                        .refused_until
                        .fetch_max(until, std::sync::atomic::Ordering::Relaxed);
                }
                return Err(Refusal::Limited(over, wait));
            }
        }
        for bucket in [own.as_deref_mut(), shared.as_deref_mut()]
            .into_iter()
            .flatten()
        {
            bucket.tokens -= n;
        }
        Ok(())
    }

    fn wait(&self, not_until: &governor::NotUntil<Nanos>) -> Duration {
        not_until.wait_time_from(governor::clock::Clock::now(&self.clock))
    }

    /// Which events of a group's re-sent state differ from what was last stored: `None` when none do (the whole
    /// request can be answered without a write), else their indexes (all of them when the group is not known, or
    /// when `stored`, the group's latest state in the store, is not the one this process remembers). States expire
    /// after [`GROUP_TTL`], so that what changes with time alone (a silence ending, a maintenance window closing)
    /// is seen at the next re-send after that.
    pub fn changed(
        &self,
        integration: &IntegrationId,
        group: &str,
        state: &str,
        events: &[(&str, &str)],
        stored: Option<&str>,
    ) -> Option<Vec<usize>> {
        let Some(known) = self
            .groups
            .get(&(integration.clone(), group.to_owned()))
            .filter(|g| g.at.elapsed() < GROUP_TTL && stored == Some(g.state.as_str()))
        else {
            return Some((0..events.len()).collect());
        };
        if known.state == state {
            return None;
        }
        Some(
            events
                .iter()
                .enumerate()
                .filter(|(_, (key, digest))| known.events.get(*key).is_none_or(|d| d != digest))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// Records a group state that was stored, with the digest of each of its events by dedup key.
    pub fn remember(
        &self,
        integration: &IntegrationId,
        group: &str,
        state: String,
        events: HashMap<String, String>,
    ) {
        // What the entry really takes: the table's slots (two string headers and a control byte each, at its
        // capacity, not its length) and each string's allocation (about 16 bytes over its length).
        let slot = (2 * std::mem::size_of::<String>() + 1) as u64;
        let weight = 256
            + group.len() as u64
            + state.len() as u64
            + events.capacity() as u64 * slot
            + events
                .iter()
                .map(|(k, d)| (k.len() + d.len() + 32) as u64)
                .sum::<u64>();
        self.groups.insert(
            (integration.clone(), group.to_owned()),
            Arc::new(GroupState {
                state,
                events,
                at: Instant::now(),
                weight,
            }),
        );
    }
}

impl Intake {
    pub fn record_payload(&self, integration: &IntegrationId, payload: RawPayload) {
        let size = payload_size(&payload);
        let mut payloads = self.payloads.lock().expect("payload buffer");
        if payloads.bytes + size > self.payload_budget {
            // Samples only: the events themselves are stored; a burst past the budget keeps fewer samples.
            self.payloads_dropped.inc();
            return;
        }
        payloads.bytes += size;
        let ring = payloads.rings.entry(integration.clone()).or_default();
        ring.push_back(payload);
        if ring.len() > RAW_PAYLOADS_KEPT as usize
            && let Some(old) = ring.pop_front()
        {
            payloads.bytes -= payload_size(&old);
        }
    }

    /// Writes buffered payloads to the store. Off the ingest path: a crash loses at most the samples since the
    /// last flush, never an event, and a failed write drops its samples rather than holding them in memory.
    pub async fn flush_payloads(&self, store: &dyn Store) -> StoreResult<()> {
        let batch: Vec<(IntegrationId, RawPayload)> = {
            let mut payloads = self.payloads.lock().expect("payload buffer");
            payloads.bytes = 0;
            payloads
                .rings
                .drain()
                .flat_map(|(id, ring)| ring.into_iter().map(move |p| (id.clone(), p)))
                .collect()
        };
        if batch.is_empty() {
            Ok(())
        } else {
            store.integrations().keep_payloads(batch).await
        }
    }
}

impl Intake {
    /// The group and state these bytes encode, and their number of events, if this process stored or saw that
    /// state as the group's latest (within [`GROUP_TTL`]). The caller still asks the store whether it is the
    /// latest now; then the request changes nothing.
    pub fn known_body(&self, integration: &IntegrationId, body: &BodyHash) -> Option<KnownBody> {
        let known = self.bodies.get(&(integration.clone(), *body))?;
        let current = self
            .groups
            .get(&(integration.clone(), known.group.clone()))
            .filter(|g| g.at.elapsed() < GROUP_TTL)?;
        (current.state == known.state).then(|| KnownBody::clone(&known))
    }

    /// Records that `body` encodes `state` of `group` (which has just been stored or found unchanged).
    pub fn remember_body(
        &self,
        integration: &IntegrationId,
        body: &BodyHash,
        group: String,
        state: String,
        events: u64,
    ) {
        self.bodies.insert(
            (integration.clone(), *body),
            Arc::new(KnownBody {
                group,
                state,
                events,
            }),
        );
    }
}

#[derive(Clone)]
pub struct KnownBody {
    pub group: String,
    pub state: String,
    pub events: u64,
}

impl Weighed for KnownBody {
    fn weight(&self) -> u64 {
        (96 + self.group.len() + self.state.len()) as u64
    }
}

fn payload_size(p: &RawPayload) -> usize {
    64 + p.body.len() + p.outcome.len()
}

/// A request body's SHA-256, computed once per request.
pub type BodyHash = [u8; 32];

pub fn body_hash(body: &[u8]) -> BodyHash {
    use sha2::Digest;
    sha2::Sha256::digest(body).into()
}

/// A sender group's last stored state: its digest, each event's digest by dedup key, and when.
struct GroupState {
    state: String,
    events: HashMap<String, String>,
    at: Instant,
    weight: u64,
}

impl Weighed for GroupState {
    fn weight(&self) -> u64 {
        self.weight
    }
}

fn limiter(rate: Rate, clock: &LimiterClock) -> Limiter {
    RateLimiter::direct_with_clock(
        Quota::per_second(rate.per_second).allow_burst(rate.burst),
        clock.clone(),
    )
}

/// Whose limit a refused request is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// The integration's own request or event limit.
    Integration,
    /// The server's ingest budget, shared by every integration.
    Server,
}

/// Why a sender's request was refused; each endpoint renders it in its sender's format.
#[derive(Debug)]
pub enum Refusal {
    /// The request carries no key.
    NoKey,
    /// The key is unknown or revoked.
    UnknownKey,
    /// The key belongs to an integration of this other kind.
    WrongKind(&'static str),
    /// The integration or the server is over its rate limit; the sender may retry after this long.
    Limited(Over, Duration),
    /// The request carries more events than one request may.
    TooMany { events: usize, max: usize },
    /// The body is not JSON.
    Malformed(String),
    /// The body is JSON but not a valid request of the sender's format.
    Invalid(ValidationErrors),
    /// Nothing was stored; the sender should retry.
    Failed(StoreError),
}

/// Ingest: what senders' requests do once their wire format is read.
pub struct Ingest<'a> {
    pub(crate) app: &'a App,
}

/// What an accepted request did.
pub struct Accepted {
    pub outcomes: Vec<IngestOutcome>,
    /// True when the request re-sent a group state already stored, so nothing was written.
    pub unchanged: bool,
    /// The sender group and the digest of the state the request carried, for senders that group.
    pub group_state: Option<(String, String)>,
}

impl Ingest<'_> {
    /// The integration for a request's key, checked against the endpoint's kind and rate limit; also the key's hash.
    pub async fn admit(
        &self,
        kind: IntegrationKind,
        key: Option<String>,
    ) -> Result<(Integration, String), Refusal> {
        let state = self.app;
        let refused = |r: Refusal| self.refused(kind.as_str(), r);
        let key = key.ok_or(Refusal::NoKey).map_err(refused)?;
        let key_hash = hash_secret(&key);
        let integration = state
            .intake
            .integration(&*state.store, &key_hash)
            .await
            .map_err(Refusal::Failed)?
            .ok_or(Refusal::UnknownKey)
            .map_err(refused)?;
        if integration.kind != kind {
            return Err(refused(Refusal::WrongKind(integration.kind.as_str())));
        }
        state
            .intake
            .admit(&integration)
            .map_err(|wait| refused(Refusal::Limited(Over::Integration, wait)))?;
        Ok((integration, key_hash))
    }

    /// A store's refusal of a request as the sender's refusal, counted: a key revoked since this process cached it,
    /// or a failure.
    fn store_refusal(&self, kind: &str, e: StoreError) -> Refusal {
        self.refused(
            kind,
            match e {
                StoreError::UnknownRoutingKey => Refusal::UnknownKey,
                StoreError::WrongIntegrationKind { actual } => Refusal::WrongKind(actual),
                e => Refusal::Failed(e),
            },
        )
    }

    /// `r`, counted as a refused request (one, whatever it carried) under its outcome.
    fn refused(&self, kind: &str, r: Refusal) -> Refusal {
        let outcome = match &r {
            Refusal::NoKey | Refusal::UnknownKey | Refusal::WrongKind(_) => "unknown_key",
            Refusal::Limited(Over::Integration, _) => "rate_limited",
            Refusal::Limited(Over::Server, _) => "over_budget",
            Refusal::TooMany { .. } => "too_many_events",
            Refusal::Malformed(_) | Refusal::Invalid(_) => "invalid",
            Refusal::Failed(_) => "error",
        };
        self.count(kind, outcome);
        r
    }

    /// The whole path of a sender's request body after its key was admitted: skip an unchanged re-send, parse,
    /// store durably, count.
    pub async fn accept(
        &self,
        integration: &Integration,
        key_hash: &str,
        bytes: &[u8],
        started: Instant,
        parse: impl FnOnce(&serde_json::Value, &Integration) -> Result<Batch, ValidationErrors>,
    ) -> Result<Accepted, Refusal> {
        let state = self.app;
        let kind = integration.kind.as_str();
        let invalid = |r: Refusal| self.refused(kind, r);
        let hash = body_hash(bytes);
        let known = match state.intake.known_body(&integration.id, &hash) {
            Some(k) => {
                let stored = self.stored_group_state(integration, &k.group).await?;
                (stored.as_deref() == Some(k.state.as_str())).then_some(k.events)
            }
            None => None,
        };
        if let Some(events) = known {
            self.count_by(kind, "unchanged", events);
            return Ok(Accepted {
                outcomes: vec![],
                unchanged: true,
                group_state: None,
            });
        }
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            invalid(Refusal::Malformed(format!(
                "the body is not valid JSON: {e}"
            )))
        })?;
        let batch = parse(&value, integration).map_err(|e| invalid(Refusal::Invalid(e)))?;
        let events = batch.events.len() as u64;
        let accepted = self
            .store(integration, key_hash, batch, bytes, started)
            .await?;
        // Only a sender group's whole state can be recognised by its bytes: anything else is an event each time.
        if let Some((group, state_digest)) = &accepted.group_state {
            state.intake.remember_body(
                &integration.id,
                &hash,
                group.clone(),
                state_digest.clone(),
                events,
            );
        }
        Ok(accepted)
    }

    /// The group's latest state as the store knows it, whichever process stored it.
    async fn stored_group_state(
        &self,
        integration: &Integration,
        group: &str,
    ) -> Result<Option<String>, Refusal> {
        self.app
            .store
            .ingest()
            .group_state(&integration.id, group)
            .await
            .map_err(Refusal::Failed)
    }

    /// Stores a parsed batch (in one durable transaction) unless it re-sends a stored group state, and counts it.
    pub async fn store(
        &self,
        integration: &Integration,
        key_hash: &str,
        batch: Batch,
        body: &[u8],
        started: Instant,
    ) -> Result<Accepted, Refusal> {
        let state = self.app;
        let kind = integration.kind.as_str();
        let mut batch = batch;
        state
            .intake
            .check_request_size(batch.events.len())
            .map_err(|r| self.refused(kind, r))?;
        batch.replace_nul();
        // For a sender group re-sending its whole state, only the alerts whose content changed need a write.
        let group = match batch.group_key.clone() {
            Some(g) => {
                let digests = batch.event_digests();
                let whole = batch.digest_of(&digests);
                let keyed: Vec<(&str, &str)> = batch
                    .events
                    .iter()
                    .zip(&digests)
                    .map(|(e, d)| (e.dedup_key.as_str(), d.as_str()))
                    .collect();
                let stored = self.stored_group_state(integration, &g).await?;
                let changed =
                    state
                        .intake
                        .changed(&integration.id, &g, &whole, &keyed, stored.as_deref());
                let total = batch.events.len();
                let Some(changed) = changed else {
                    self.count_by(kind, "unchanged", total as u64);
                    return Ok(Accepted {
                        outcomes: vec![],
                        unchanged: true,
                        group_state: Some((g, whole)),
                    });
                };
                // Built only now: a wholly unchanged group, the common re-send, returned above without it.
                let remembered: HashMap<String, String> = keyed
                    .iter()
                    .map(|(k, d)| ((*k).to_owned(), (*d).to_owned()))
                    .collect();
                self.count_by(kind, "unchanged", (total - changed.len()) as u64);
                if changed.len() < total {
                    let mut keep = changed.into_iter().peekable();
                    let events = std::mem::take(&mut batch.events);
                    batch.events = events
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| keep.next_if_eq(i).is_some())
                        .map(|(_, e)| e)
                        .collect();
                }
                batch.group_state = Some(whole.clone());
                Some((g, whole, remembered))
            }
            None => None,
        };
        state
            .intake
            .take_events(integration, batch.events.len())
            .map_err(|r| self.refused(kind, r))?;
        let now = state.clock.now();
        let outcomes = state
            .store
            .ingest()
            .batch(key_hash, integration.kind, batch, now)
            .await
            .map_err(|e| self.store_refusal(kind, e))?;
        let mut sample = RawPayload::new(body, now);
        if sample.body.contains('\0') {
            sample.body = sample.body.replace('\0', "\u{FFFD}");
        }
        // Readers of samples must not get a routing key or a token a sender put in a body.
        if let std::borrow::Cow::Owned(redacted) =
            tocsin_domain::redact::json_credentials(&sample.body)
        {
            sample.body = redacted;
        }
        sample.outcome = summarize(&outcomes);
        state.intake.record_payload(&integration.id, sample);
        for o in &outcomes {
            self.count(kind, o.result.as_str());
            if let Some(sev) = o.opened_incident {
                state
                    .metrics
                    .incidents_opened
                    .with_label_values(&[sev.as_str()])
                    .inc();
            }
        }
        if outcomes.iter().any(|o| o.opened_incident.is_some()) {
            state.wake_engine();
        }
        self.observe_latency(kind, started);
        let group_state = group
            .as_ref()
            .map(|(g, whole, _)| (g.clone(), whole.clone()));
        if let Some((group, whole, events)) = group {
            state
                .intake
                .remember(&integration.id, &group, whole, events);
        }
        Ok(Accepted {
            outcomes,
            unchanged: false,
            group_state,
        })
    }
}

/// "3 events: 2 created, 1 resolved".
fn summarize(outcomes: &[IngestOutcome]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for o in outcomes {
        match counts.iter_mut().find(|(r, _)| *r == o.result.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((o.result.as_str(), 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let noun = if outcomes.len() == 1 {
        "event"
    } else {
        "events"
    };
    let what = if parts.is_empty() {
        "nothing to do".to_owned()
    } else {
        parts.join(", ")
    };
    format!("{} {noun}: {what}", outcomes.len())
}

impl Ingest<'_> {
    /// Counts a request by the kind of integration it was for and what became of it (also one refused before
    /// its events could be read).
    pub fn count(&self, kind: &str, outcome: &str) {
        self.count_by(kind, outcome, 1);
    }

    fn count_by(&self, kind: &str, outcome: &str, events: u64) {
        self.app
            .metrics
            .events
            .with_label_values(&[kind, outcome])
            .inc_by(events);
    }

    /// Records how long a stored request took, from its arrival.
    pub fn observe_latency(&self, kind: &str, started: Instant) {
        self.app
            .metrics
            .ingest_latency
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
    }

    /// A beat of the heartbeat integration with this key, held to its request limit like any sender's request.
    pub async fn beat(&self, key: &str) -> Result<HeartbeatStatus, Refusal> {
        let (_, key_hash) = self
            .admit(IntegrationKind::Heartbeat, Some(key.trim().to_owned()))
            .await?;
        let status = self
            .app
            .store
            .ingest()
            .beat(&key_hash, self.app.now())
            .await
            .map_err(|e| self.store_refusal(IntegrationKind::Heartbeat.as_str(), e))?;
        if status.recovered {
            self.app.wake_engine();
        }
        Ok(status)
    }

    /// A change event (a deploy and the like) on the key's service, an event for the limits like any other.
    /// Never pages.
    pub async fn change(
        &self,
        integration: &Integration,
        key_hash: &str,
        event: ChangeEvent,
    ) -> Result<ChangeRecord, Refusal> {
        const KIND: &str = "pagerduty_change";
        self.app
            .intake
            .take_events(integration, 1)
            .map_err(|r| self.refused(KIND, r))?;
        self.app
            .store
            .ingest()
            .change(key_hash, event, self.app.now())
            .await
            .map_err(|e| self.store_refusal(KIND, e))
    }

    /// Writes the recent request bodies buffered since the last flush to their integrations' rings.
    pub async fn flush_payloads(&self) -> StoreResult<()> {
        self.app.intake.flush_payloads(&*self.app.store).await
    }
}
