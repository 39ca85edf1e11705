//! What every ingest endpoint does before and after parsing: find the integration a key belongs to, hold it to its
//! rate limit, and recognise a re-sent group state that changes nothing.
//!
//! All three are in-process caches in front of the store, never the authority: the store re-checks the key (and
//! its revocation) in the same transaction that writes the events. A key revoked on this node is dropped from the
//! cache at once; elsewhere the entry expires after [`KEY_TTL`]. A group state is trusted only while the store
//! says it is still the group's latest (`IngestRepo::group_state`), whichever process stored it: so a re-send of
//! an old state after another process stored a newer one, or after a person resolved an incident, is written.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_domain::ids::IntegrationId;
use tocsin_domain::integration::RateLimit;
use tocsin_store::{Integration, RAW_PAYLOADS_KEPT, RawPayload, Result as StoreResult, Store};

const KEY_TTL: Duration = Duration::from_secs(5);
const GROUP_TTL: Duration = Duration::from_secs(300);
/// Bounds the memory the caches can take; past it they start over (a miss only costs a lookup or a write).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct Intake {
    keys: Mutex<HashMap<String, (Option<Integration>, Instant)>>,
    limiters: Mutex<HashMap<IntegrationId, (RateLimit, Arc<DefaultDirectRateLimiter>)>>,
    /// Digest of the last stored state of each (integration, sender group), and when it was stored.
    groups: Mutex<HashMap<(IntegrationId, String), GroupState>>,
    /// Hashes of grouped request bodies recently handled, with the group state each encodes: a sender re-sending
    /// an unchanged group sends the same bytes, which can be answered before any parsing.
    bodies: Mutex<HashMap<(IntegrationId, [u8; 32]), KnownBody>>,
    /// Accepted request bodies not yet written to their integration's ring; at most the ring's size each, since
    /// older ones would be overwritten anyway.
    payloads: Mutex<HashMap<IntegrationId, VecDeque<RawPayload>>>,
}

impl Intake {
    /// The active integration whose key hashes to `key_hash`.
    pub async fn integration(
        &self,
        store: &dyn Store,
        key_hash: &str,
    ) -> StoreResult<Option<Integration>> {
        if let Some((found, at)) = self.keys.lock().expect("key cache").get(key_hash)
            && at.elapsed() < KEY_TTL
        {
            return Ok(found.clone());
        }
        let found = store.integrations().by_key(key_hash).await?;
        let mut keys = self.keys.lock().expect("key cache");
        if keys.len() >= MAX_ENTRIES {
            keys.clear();
        }
        keys.insert(key_hash.to_owned(), (found.clone(), Instant::now()));
        Ok(found)
    }

    /// Forgets every cached key, after a change that revokes several at once (a service deleted).
    pub fn forget_keys(&self) {
        self.keys.lock().expect("key cache").clear();
    }

    /// Forgets an integration whose key or settings changed.
    pub fn forget(&self, id: &IntegrationId) {
        self.keys
            .lock()
            .expect("key cache")
            .retain(|_, (i, _)| i.as_ref().is_none_or(|i| &i.id != id));
        self.limiters.lock().expect("limiters").remove(id);
    }

    /// `Err(wait)` when the integration is over its limit: the sender should retry after `wait`.
    pub fn admit(&self, integration: &Integration) -> Result<(), Duration> {
        let Some(limit) = integration.config.rate_limit() else {
            return Ok(());
        };
        let limiter = {
            let mut limiters = self.limiters.lock().expect("limiters");
            let entry = limiters
                .entry(integration.id.clone())
                .or_insert_with(|| (limit, Arc::new(limiter(limit))));
            if entry.0 != limit {
                *entry = (limit, Arc::new(limiter(limit)));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
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
        let groups = self.groups.lock().expect("group digests");
        let Some(known) = groups
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
        let mut groups = self.groups.lock().expect("group digests");
        if groups.len() >= MAX_ENTRIES {
            groups.clear();
        }
        groups.insert(
            (integration.clone(), group.to_owned()),
            GroupState {
                state,
                events,
                at: Instant::now(),
            },
        );
    }
}

impl Intake {
    pub fn record_payload(&self, integration: &IntegrationId, payload: RawPayload) {
        let mut payloads = self.payloads.lock().expect("payload buffer");
        let ring = payloads.entry(integration.clone()).or_default();
        ring.push_back(payload);
        if ring.len() > RAW_PAYLOADS_KEPT as usize {
            ring.pop_front();
        }
    }

    /// Writes buffered payloads to the store. Off the ingest path: a crash loses at most the samples since the
    /// last flush, never an event, and a failed write drops its samples rather than holding them in memory.
    pub async fn flush_payloads(&self, store: &dyn Store) -> StoreResult<()> {
        let batch: Vec<(IntegrationId, RawPayload)> = {
            let mut payloads = self.payloads.lock().expect("payload buffer");
            payloads
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
        let known = self
            .bodies
            .lock()
            .expect("body hashes")
            .get(&(integration.clone(), *body))
            .cloned()?;
        let groups = self.groups.lock().expect("group digests");
        let current = groups
            .get(&(integration.clone(), known.group.clone()))
            .filter(|g| g.at.elapsed() < GROUP_TTL)?;
        (current.state == known.state).then_some(known)
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
        let mut bodies = self.bodies.lock().expect("body hashes");
        if bodies.len() >= MAX_ENTRIES {
            bodies.clear();
        }
        bodies.insert(
            (integration.clone(), *body),
            KnownBody {
                group,
                state,
                events,
            },
        );
    }
}

#[derive(Clone)]
pub struct KnownBody {
    pub group: String,
    pub state: String,
    pub events: u64,
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
}

fn limiter(limit: RateLimit) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(per_second);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}
