//! What the public sees of each status page, kept in memory: a status page is read hardest exactly when something
//! is down, and it must keep answering while the database is slow or briefly unreachable.
//!
//! A page's snapshot is built from one read of the database and replaced whole. It is never the authority: each
//! page's `version` in the database counts every change to what the public sees, and every instance compares its
//! snapshots' versions with the database's on a short refresh (`refresh`), so a change made through any instance
//! shows on all of them within one refresh. The instance that made a change renews its snapshot at once. While the
//! database does not answer a refresh, the last snapshots are served and say since when they are unconfirmed.

use crate::status_pages::{PublicPage, ShownComponent, ShownDay};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tocsin_domain::clock::Clock;
use tocsin_domain::ids::ComponentId;
use tocsin_domain::public_incidents::PublicIncident;
use tocsin_domain::refs::Key;
use tocsin_domain::status_page::{self, ComponentStatus};
use tocsin_domain::uptime::{self, HISTORY_DAYS};
use tocsin_store::{PageView, Store, StoreError};

/// How long a refresh waits for the database before it counts as unreachable.
const DATABASE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
/// A snapshot is rebuilt at least this often even when nothing changed: today's bar grows, days roll over.
const REBUILD_EVERY: Duration = Duration::seconds(60);

/// A page's snapshot and what it was built from.
struct Entry {
    page: Arc<PublicPage>,
    built_at: DateTime<Utc>,
    /// A request is rebuilding it because it got old; the others serve it meanwhile.
    renewing: std::sync::atomic::AtomicBool,
}

impl Entry {
    /// Whether it is due to be rebuilt at `now`: a minute old, or built at a time the clock has gone back from.
    fn old(&self, now: DateTime<Utc>) -> bool {
        now - self.built_at >= REBUILD_EVERY || now < self.built_at
    }
}

/// A snapshot as it is served.
#[derive(Clone)]
pub struct Shown {
    pub page: Arc<PublicPage>,
    /// When the database last confirmed the snapshots, if it has not answered since: the page may be behind.
    pub stale_since: Option<DateTime<Utc>>,
}

pub struct StatusSnapshots {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Only pages that exist and were asked for: a slug nobody has is never kept.
    pages: RwLock<HashMap<Key, Entry>>,
    /// Since when the database has not answered a refresh, and when it last did.
    health: Mutex<Health>,
}

#[derive(Default, Clone, Copy)]
struct Health {
    last_confirmed: Option<DateTime<Utc>>,
    failing: bool,
}

impl StatusSnapshots {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            pages: RwLock::default(),
            health: Mutex::default(),
        }
    }

    fn stale_since(&self) -> Option<DateTime<Utc>> {
        let health = *self.health.lock().expect("health lock");
        health.failing.then_some(health.last_confirmed).flatten()
    }

    /// The page's snapshot if one is kept, and whether this caller should rebuild it because it got old (only one
    /// caller is told so at a time).
    fn cached(&self, slug: &Key) -> Option<(Arc<PublicPage>, bool)> {
        let pages = self.pages.read().expect("snapshot lock");
        let entry = pages.get(slug)?;
        let rebuild = entry.old(self.clock.now())
            && !entry
                .renewing
                .swap(true, std::sync::atomic::Ordering::AcqRel);
        Some((entry.page.clone(), rebuild))
    }

    /// The page's snapshot, built from the database the first time it is asked for, and again when it is a
    /// minute old (a day may have ended since) if the database answers.
    pub(crate) async fn get(&self, slug: &Key) -> Result<Shown, StoreError> {
        if let Some((page, rebuild)) = self.cached(slug) {
            if rebuild {
                match tokio::time::timeout(DATABASE_PATIENCE, self.build(slug)).await {
                    Ok(Ok(page)) => {
                        return Ok(Shown {
                            page,
                            stale_since: self.stale_since(),
                        });
                    }
                    Ok(Err(StoreError::NotFound { .. })) => {
                        return Err(StoreError::not_found("status page", slug.as_str()));
                    }
                    Ok(Err(e)) => self.failed(&e.to_string()),
                    Err(_) => self.failed("the database did not answer in time"),
                }
                if let Some(e) = self.pages.read().expect("snapshot lock").get(slug) {
                    e.renewing
                        .store(false, std::sync::atomic::Ordering::Release);
                }
            }
            return Ok(Shown {
                page,
                stale_since: self.stale_since(),
            });
        }
        let page = self.build(slug).await?;
        Ok(Shown {
            page,
            stale_since: None,
        })
    }

    /// Rebuilds the page's snapshot if this instance keeps one: after a change through this instance, so that it
    /// shows here at once. A page that is gone is forgotten.
    pub async fn renew(&self, slug: &Key) {
        if !self.pages.read().expect("snapshot lock").contains_key(slug) {
            return;
        }
        match self.build(slug).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                self.pages.write().expect("snapshot lock").remove(slug);
            }
            Err(e) => {
                tracing::warn!(page = %slug, error = %e, "Could not renew a status page's snapshot.")
            }
        }
    }

    /// Compares every snapshot with the database's versions and rebuilds those behind (or older than a minute);
    /// forgets pages that are gone. While the database does not answer, the snapshots stay as they are and are
    /// served as stale.
    pub async fn refresh(&self) {
        let versions =
            tokio::time::timeout(DATABASE_PATIENCE, self.store.status_pages().page_versions())
                .await;
        let versions: HashMap<Key, i64> = match versions {
            Ok(Ok(v)) => v.into_iter().collect(),
            Ok(Err(e)) => return self.failed(&e.to_string()),
            Err(_) => return self.failed("the database did not answer in time"),
        };
        let now = self.clock.now();
        let behind: Vec<Key> = {
            let mut pages = self.pages.write().expect("snapshot lock");
            pages.retain(|slug, _| versions.contains_key(slug));
            pages
                .iter()
                .filter(|(slug, e)| versions.get(*slug) != Some(&e.page.version) || e.old(now))
                .map(|(slug, _)| slug.clone())
                .collect()
        };
        for slug in behind {
            match tokio::time::timeout(DATABASE_PATIENCE, self.build(&slug)).await {
                Ok(Ok(_)) | Ok(Err(StoreError::NotFound { .. })) => {}
                Ok(Err(e)) => return self.failed(&e.to_string()),
                Err(_) => return self.failed("the database did not answer in time"),
            }
        }
        *self.health.lock().expect("health lock") = Health {
            last_confirmed: Some(now),
            failing: false,
        };
    }

    fn failed(&self, why: &str) {
        let mut health = self.health.lock().expect("health lock");
        if !health.failing {
            tracing::warn!(
                error = why,
                "Status pages are served from their last snapshots."
            );
        }
        health.failing = true;
    }

    /// Builds the page's snapshot from the database and keeps it, unless a newer one was kept meanwhile.
    async fn build(&self, slug: &Key) -> Result<Arc<PublicPage>, StoreError> {
        let now = self.clock.now();
        let since = now - Duration::days(i64::from(HISTORY_DAYS) + 1);
        let view = self.store.status_pages().page_view(slug, Some(since)).await;
        let view = match view {
            Err(StoreError::NotFound { .. }) => {
                self.pages.write().expect("snapshot lock").remove(slug);
                return Err(StoreError::not_found("status page", slug.as_str()));
            }
            other => other?,
        };
        let page = Arc::new(public_page(view, now));
        let mut pages = self.pages.write().expect("snapshot lock");
        let newer = pages
            .get(slug)
            .is_some_and(|e| e.page.version > page.version);
        if !newer {
            pages.insert(
                slug.clone(),
                Entry {
                    page: page.clone(),
                    built_at: now,
                    renewing: Default::default(),
                },
            );
        }
        Ok(page)
    }
}

/// What the public sees of a page, from what the database holds of it at `now`.
pub(crate) fn public_page(view: PageView, now: DateTime<Utc>) -> PublicPage {
    let zone = view.page.zone();
    let unresolved: Vec<&PublicIncident> = view
        .incidents
        .iter()
        .filter(|i| !i.status.is_resolved())
        .collect();
    let status_now = |id: &ComponentId| {
        view.statuses
            .get(id)
            .copied()
            .unwrap_or(ComponentStatus::Operational)
    };
    let leaves: Vec<ComponentStatus> = view
        .components
        .iter()
        .filter(|c| !c.group)
        .map(|c| status_now(&c.id))
        .collect();
    let impacts: Vec<status_page::Indicator> = unresolved.iter().map(|i| i.impact).collect();
    let status = status_page::page_status(&leaves, &impacts);
    let mut members: HashMap<ComponentId, Vec<ComponentId>> = HashMap::new();
    for c in &view.components {
        if let Some(group) = &c.group_id {
            members.entry(group.clone()).or_default().push(c.id.clone());
        }
    }
    let mut history = view.history;
    let components: Vec<ShownComponent> = view
        .components
        .into_iter()
        .map(|mut component| {
            // Which services a component stands for is internal.
            component.services.clear();
            let spans = history.remove(&component.id).unwrap_or_default();
            // A status that moved with the incidents on its services moves the component too.
            if let Some(latest) = spans.iter().map(|s| s.started_at).max() {
                component.updated_at = component.updated_at.max(latest);
            }
            let members = members.remove(&component.id).unwrap_or_default();
            let uptime = uptime::uptime(&spans, zone, now, HISTORY_DAYS);
            // A group's day shows what its members went through.
            let told: Vec<_> = view
                .history_incidents
                .iter()
                .filter(|i| {
                    std::iter::once(&component.id)
                        .chain(&members)
                        .any(|c| i.touched(c))
                })
                .map(|i| (i.name.as_str(), i.days_open(zone, now)))
                .collect();
            let days = uptime
                .days
                .into_iter()
                .map(|day| {
                    let incidents = told
                        .iter()
                        .filter(|(_, (first, last))| (*first..=*last).contains(&day.date))
                        .map(|(name, _)| (*name).to_owned())
                        .collect();
                    ShownDay { day, incidents }
                })
                .collect();
            ShownComponent {
                status: status_now(&component.id),
                members,
                uptime_percent: uptime.percent,
                days,
                component,
            }
        })
        .collect();
    let updated_at = components
        .iter()
        .map(|c| c.component.updated_at)
        .chain(view.incidents.iter().map(|i| i.updated_at))
        .chain([view.page.updated_at])
        .max()
        .unwrap_or(view.page.updated_at);
    let incidents = view
        .incidents
        .into_iter()
        .map(|mut i| {
            i.incident_id = None;
            i
        })
        .collect();
    PublicPage {
        page: view.page,
        version: view.version,
        components,
        incidents,
        status,
        updated_at,
        built_at: now,
    }
}
