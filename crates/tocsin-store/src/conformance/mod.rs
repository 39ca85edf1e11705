//! The storage conformance suite: every backend runs [`run_all`] with a factory of fresh, empty stores.
//!
//! Each check exercises the behaviour users rely on through the public [`Store`] interface only, so a new backend
//! is correct when this passes.

pub mod automation;
pub mod paging;
pub mod races;
pub mod roles;
pub mod runbooks;
pub mod slack;
pub mod status_pages;
pub mod tasks;
pub mod triage;
pub mod updates;

use crate::*;
use chrono::{Duration, TimeZone, Utc};
use refs::*;
use tocsin_domain::alert::{AlertDetails, AlertEvent, AlertPatch, AlertStatus, EventAction};
use tocsin_domain::audit::{AuditEntry, AuditRecord, LOGIN_FAILED};
use tocsin_domain::auth::{Role, hash_secret};
use tocsin_domain::catalog::{CatalogDocument, PlanAction, ServiceSpec};
use tocsin_domain::incident::{Actor, ActorKind, IncidentStatus, TimelineKind};
use tocsin_domain::severity::{AlertSeverity, Severity};
use tocsin_domain::timeline::{SeverityCause, TimelineEvent};

/// Generates one `#[tokio::test]` per scenario, each on a fresh store from `$factory` (an async function
/// returning `Option<SqlStore>`: `None` skips, for a backend whose server is not available here), and one per
/// race scenario on two stores of one fresh database from `$pair` (`Option<(SqlStore, SqlStore)>`).
#[cfg(test)]
macro_rules! conformance_suite {
    ($factory:path, $pair:path) => {
        $crate::conformance::conformance_suite!(@pairs $pair;
            racing_ingest_of_a_new_key_opens_one_incident => $crate::conformance::races::racing_ingest_of_a_new_key_opens_one_incident,
            racing_acknowledge_and_escalate_end_consistent => $crate::conformance::races::racing_acknowledge_and_escalate_end_consistent,
            racing_engines_fire_each_level_and_claim_each_delivery_once => $crate::conformance::races::racing_engines_fire_each_level_and_claim_each_delivery_once
        );
        $crate::conformance::conformance_suite!(@each $factory;
            secrets_are_sealed_at_rest => $crate::conformance::paging::secrets_are_sealed_at_rest,
            catalog_entities => $crate::conformance::catalog_entities,
            catalog_apply_is_idempotent_and_atomic => $crate::conformance::catalog_apply_is_idempotent_and_atomic,
            tokens => $crate::conformance::tokens,
            the_audit_log_records_what_committed => $crate::conformance::the_audit_log_records_what_committed,
            sessions_and_single_use_links => $crate::conformance::sessions_and_single_use_links,
            ingest_follows_pagerduty_semantics => $crate::conformance::ingest_follows_pagerduty_semantics,
            updates_and_worse_alerts_raise_their_incident => $crate::conformance::updates_and_worse_alerts_raise_their_incident,
            ingest_keys_are_scoped_and_revocable => $crate::conformance::ingest_keys_are_scoped_and_revocable,
            incidents_by_hand => $crate::conformance::incidents_by_hand,
            severity_levels_start_defined_and_keep_what_admins_write => $crate::conformance::severity_levels_start_defined_and_keep_what_admins_write,
            incidents_are_edited_with_every_change_on_the_timeline => $crate::conformance::incidents_are_edited_with_every_change_on_the_timeline,
            an_incidents_course_is_kept_with_its_corrected_times => $crate::conformance::an_incidents_course_is_kept_with_its_corrected_times,
            related_incidents_are_linked_on_both_sides => $crate::conformance::related_incidents_are_linked_on_both_sides,
            incidents_merge_into_the_one_that_carries_on => $crate::conformance::incidents_merge_into_the_one_that_carries_on,
            roles_are_given_handed_over_and_released_with_their_history => $crate::conformance::roles::roles_are_given_handed_over_and_released_with_their_history,
            roles_are_defined_by_admins_and_filled_by_their_defaults => $crate::conformance::roles::roles_are_defined_by_admins_and_filled_by_their_defaults,
            checklists_apply_as_incidents_open_and_worsen_and_tasks_are_done => $crate::conformance::tasks::checklists_apply_as_incidents_open_and_worsen_and_tasks_are_done,
            runbooks_keep_their_versions_and_show_on_the_incidents_they_are_for => $crate::conformance::runbooks::runbooks_keep_their_versions_and_show_on_the_incidents_they_are_for,
            runs_wait_for_a_second_person_and_one_runs_at_a_time => $crate::conformance::automation::runs_wait_for_a_second_person_and_one_runs_at_a_time,
            a_run_whose_runner_died_is_reported_interrupted_and_retried_with_its_key => $crate::conformance::automation::a_run_whose_runner_died_is_reported_interrupted_and_retried_with_its_key,
            automatic_steps_run_once_for_each_incident_they_are_for => $crate::conformance::automation::automatic_steps_run_once_for_each_incident_they_are_for,
            updates_reach_responders_subscribers_and_channels_and_ignored_reminders_widen => $crate::conformance::updates::updates_reach_responders_subscribers_and_channels_and_ignored_reminders_widen,
            slack_users_are_linked_once_by_code_or_by_email => $crate::conformance::slack::slack_users_are_linked_once_by_code_or_by_email,
            a_slack_request_is_acted_on_once => $crate::conformance::slack::a_slack_request_is_acted_on_once,
            status_pages_show_their_components_and_the_open_incidents_on_them => $crate::conformance::status_pages::status_pages_show_their_components_and_the_open_incidents_on_them,
            public_incidents_keep_their_updates_and_what_they_say_of_components => $crate::conformance::status_pages::public_incidents_keep_their_updates_and_what_they_say_of_components,
            incident_lists_filter_and_paginate => $crate::conformance::incident_lists_filter_and_paginate,
            change_events => $crate::conformance::change_events,
            raw_payloads_keep_the_last_hundred => $crate::conformance::raw_payloads_keep_the_last_hundred,
            schedules => $crate::conformance::schedules,
            schedule_overrides => $crate::conformance::schedule_overrides,
            calendar_feeds => $crate::conformance::calendar_feeds,
            escalation_policies => $crate::conformance::paging::escalation_policies,
            escalation_pages_levels_and_stops_on_acknowledge => $crate::conformance::paging::escalation_pages_levels_and_stops_on_acknowledge,
            nobody_is_paged_silently => $crate::conformance::paging::nobody_is_paged_silently,
            alerts_resolve_when_their_end_passes_without_a_new_post => $crate::conformance::paging::alerts_resolve_when_their_end_passes_without_a_new_post,
            a_worse_alert_joining_raises_the_severity_and_pages_again_at_high_urgency => $crate::conformance::paging::a_worse_alert_joining_raises_the_severity_and_pages_again_at_high_urgency,
            people_paged_are_told_of_others_acknowledging_and_resolving => $crate::conformance::paging::people_paged_are_told_of_others_acknowledging_and_resolving,
            responders_are_paged_beside_the_escalation => $crate::conformance::paging::responders_are_paged_beside_the_escalation,
            policies_page_a_teams_members_or_its_on_call => $crate::conformance::paging::policies_page_a_teams_members_or_its_on_call,
            contact_methods_and_rules => $crate::conformance::paging::contact_methods_and_rules,
            deliveries_are_claimed_once_retried_and_fall_through => $crate::conformance::paging::deliveries_are_claimed_once_retried_and_fall_through,
            engine_lease_is_exclusive => $crate::conformance::paging::engine_lease_is_exclusive,
            heartbeats_open_and_resolve_alerts => $crate::conformance::paging::heartbeats_open_and_resolve_alerts,
            rules_route_set_severity_and_suppress => $crate::conformance::triage::rules_route_set_severity_and_suppress,
            silences_and_maintenance_hold_pages_until_they_end => $crate::conformance::triage::silences_and_maintenance_hold_pages_until_they_end,
            grouping_and_upstream_incidents_join_alerts => $crate::conformance::triage::grouping_and_upstream_incidents_join_alerts,
            a_flapping_alert_holds_its_incident_open => $crate::conformance::triage::a_flapping_alert_holds_its_incident_open
        );
    };
    (@pairs $pair:path; $($name:ident => $scenario:path),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((a, b)) = $pair().await else { return };
                $scenario(&a, &b).await;
            }
        )*
    };
    (@each $factory:path; $($name:ident => $scenario:path),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(store) = $factory().await else { return };
                $scenario(&store).await;
            }
        )*
    };
}
#[cfg(test)]
pub(crate) use conformance_suite;

/// The secret key the suite's stores seal with: one for the whole test process, so that two stores on one
/// database agree.
pub fn secret_key() -> &'static crate::secrets::SecretKey {
    static KEY: std::sync::OnceLock<crate::secrets::SecretKey> = std::sync::OnceLock::new();
    KEY.get_or_init(crate::secrets::SecretKey::generate)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
}

fn doc(v: serde_json::Value) -> CatalogDocument {
    serde_json::from_value(v).expect("valid catalog document")
}

fn service(name: &str) -> ServiceSpec {
    serde_json::from_value(serde_json::json!({ "name": name })).unwrap()
}

fn team_spec(name: &str) -> TeamSpec {
    serde_json::from_value(serde_json::json!({ "name": name })).unwrap()
}

fn user() -> Actor {
    Actor {
        kind: ActorKind::User,
        id: None,
        name: "Alice".into(),
    }
}

/// A service with a PagerDuty integration; returns the key hash to ingest with.
pub async fn arbitrary_service_with_key(store: &dyn Store, name: &str) -> String {
    store
        .services()
        .create(service(name), t0())
        .await
        .expect("create service");
    pagerduty_key(store, name).await
}

/// A new PagerDuty integration on the named service; returns the key hash to ingest with.
pub async fn pagerduty_key(store: &dyn Store, name: &str) -> String {
    let key_hash = hash_secret(&format!("key-of-{name}"));
    store
        .integrations()
        .create(
            NewIntegration {
                service: name.into(),
                kind: IntegrationKind::Pagerduty,
                name: "pd".into(),
                key_hash: key_hash.clone(),
                key_prefix: "key".into(),
                config: Default::default(),
            },
            t0(),
        )
        .await
        .expect("create integration");
    key_hash
}

pub fn trigger(dedup_key: &str, severity: AlertSeverity) -> AlertEvent {
    AlertEvent {
        patch: None,
        action: EventAction::Trigger,
        dedup_key: dedup_key.into(),
        details: Some(AlertDetails {
            custom_details: serde_json::json!({ "k": 1 }),
            labels: [("team".to_owned(), "core".to_owned())].into(),
            ..AlertDetails::new(format!("{dedup_key} is failing"), "test", severity)
        }),
    }
}

pub fn follow_up(action: EventAction, dedup_key: &str) -> AlertEvent {
    AlertEvent {
        patch: None,
        action,
        dedup_key: dedup_key.into(),
        details: None,
    }
}

pub async fn catalog_entities(store: &dyn Store) {
    let alice = store
        .users()
        .create(serde_json::from_value(serde_json::json!({"name": "Alice", "email": "Alice@Example.com", "time_zone": "Europe/Berlin"})).unwrap(), t0())
        .await
        .unwrap();
    assert_eq!(
        alice.email.as_str(),
        "alice@example.com",
        "emails are compared case-insensitively"
    );
    assert_eq!(
        store
            .users()
            .get(&user_ref("alice@example.com"))
            .await
            .unwrap()
            .id,
        alice.id
    );
    assert_eq!(
        store
            .users()
            .get(&user_ref(alice.id.as_str()))
            .await
            .unwrap()
            .name
            .as_str(),
        "Alice"
    );
    let dup = store
        .users()
        .create(
            serde_json::from_value(serde_json::json!({"name": "A2", "email": "alice@example.com"}))
                .unwrap(),
            t0(),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    let team = store
        .teams()
        .create(
            serde_json::from_value(
                serde_json::json!({"name": "payments", "members": ["alice@example.com"]}),
            )
            .unwrap(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(team.members.len(), 1);
    let bad = store
        .teams()
        .create(
            serde_json::from_value(
                serde_json::json!({"name": "x", "members": ["ghost@example.com"]}),
            )
            .unwrap(),
            t0(),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    assert!(
        matches!(
            store.teams().get(&team_ref("x")).await,
            Err(StoreError::NotFound { .. })
        ),
        "a refused create leaves nothing behind"
    );

    let db = store.services().create(service("db"), t0()).await.unwrap();
    let mut checkout = service("checkout");
    checkout.team = Some("payments".parse_name());
    checkout.depends_on = vec!["db".parse_name()];
    let checkout = store.services().create(checkout, t0()).await.unwrap();
    assert_eq!(checkout.team.as_ref().map(|t| t.as_str()), Some("payments"));
    assert_eq!(checkout.depends_on.len(), 1);
    assert!(matches!(
        store.services().create(service("db"), t0()).await,
        Err(StoreError::Conflict(_))
    ));

    // A cycle through a rename is caught.
    let mut db_spec = ServiceSpec::from(&db);
    db_spec.depends_on = vec!["checkout".parse_name()];
    assert!(matches!(
        store
            .services()
            .replace(&service_ref("db"), db_spec, t0())
            .await,
        Err(StoreError::Invalid(_))
    ));

    // Renaming keeps dependants pointing at the service.
    let mut renamed = ServiceSpec::from(&db);
    renamed.name = "database".parse_name();
    store
        .services()
        .replace(
            &service_ref(db.id.as_str()),
            renamed,
            t0() + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .services()
            .get(&service_ref("checkout"))
            .await
            .unwrap()
            .depends_on[0]
            .as_str(),
        "database"
    );

    assert!(
        matches!(
            store
                .services()
                .delete(&service_ref("database"), t0())
                .await,
            Err(StoreError::Conflict(_))
        ),
        "dependants block deletion"
    );
    store
        .services()
        .delete(&service_ref("checkout"), t0())
        .await
        .unwrap();
    assert!(matches!(
        store.services().get(&service_ref("checkout")).await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .services()
        .create(service("checkout"), t0())
        .await
        .expect("a deleted service's name is free again");

    store.teams().delete(&team_ref("payments")).await.unwrap();
    assert_eq!(store.services().list().await.unwrap().len(), 2);
    store
        .users()
        .delete(&user_ref("alice@example.com"), t0())
        .await
        .unwrap();
    assert!(store.users().list().await.unwrap().is_empty());
}

trait ParseName {
    fn parse_name(&self) -> tocsin_domain::catalog::Name;
}
impl ParseName for str {
    fn parse_name(&self) -> tocsin_domain::catalog::Name {
        tocsin_domain::catalog::Name::parse(self).unwrap()
    }
}

pub async fn catalog_apply_is_idempotent_and_atomic(store: &dyn Store) {
    let desired = doc(serde_json::json!({
        "users": [{"name": "Alice", "email": "alice@example.com", "time_zone": "UTC"}],
        "teams": [{"name": "payments", "description": "Money", "members": ["alice@example.com"]}],
        "services": [
            {"name": "checkout", "team": "payments", "tier": 1, "depends_on": ["ledger"],
             "alert_severity_map": {"critical": "SEV-0", "error": "SEV-1", "warning": "SEV-2", "info": "none"}},
            {"name": "ledger", "runbook_url": "https://runbooks.example.com/ledger"}
        ]
    }));
    let first = store
        .catalog()
        .apply(desired.clone(), false, t0())
        .await
        .unwrap();
    assert_eq!(first.len(), 4);
    assert!(
        first.iter().all(|e| e.action == PlanAction::Created),
        "{first:?}"
    );
    let again = store
        .catalog()
        .apply(desired.clone(), false, t0())
        .await
        .unwrap();
    assert!(
        again.iter().all(|e| e.action == PlanAction::Unchanged),
        "{again:?}"
    );
    let exported = store.catalog().export().await.unwrap();
    assert_eq!(
        store
            .catalog()
            .apply(exported.clone(), true, t0())
            .await
            .unwrap(),
        again,
        "an export applies as unchanged"
    );
    assert_eq!(exported.services.len(), 2);

    // Dry runs and invalid documents change nothing.
    let mut changed = desired.clone();
    changed.services[1].tier = Some(2.try_into().unwrap());
    let dry = store
        .catalog()
        .apply(changed.clone(), true, t0())
        .await
        .unwrap();
    assert_eq!(
        dry.iter().find(|e| e.name == "ledger").unwrap().action,
        PlanAction::Updated
    );
    assert_eq!(
        store
            .services()
            .get(&service_ref("ledger"))
            .await
            .unwrap()
            .tier,
        None
    );
    let mut broken = changed.clone();
    broken.services[0].depends_on.push("nowhere".parse_name());
    assert!(matches!(
        store.catalog().apply(broken, false, t0()).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store
            .services()
            .get(&service_ref("ledger"))
            .await
            .unwrap()
            .tier,
        None,
        "a refused apply changes nothing"
    );
    store.catalog().apply(changed, false, t0()).await.unwrap();
    assert_eq!(
        store
            .services()
            .get(&service_ref("ledger"))
            .await
            .unwrap()
            .tier
            .map(|t| t.get()),
        Some(2)
    );
}

pub async fn tokens(store: &dyn Store) {
    let new = |name: &str, secret: &str, expires_at| NewToken {
        name: name.into(),
        role: Some(Role::Admin),
        expires_at,
        user: None,
        token_hash: hash_secret(secret),
        token_prefix: "tcs_x".into(),
    };
    assert!(
        store
            .tokens()
            .bootstrap(new("boot", "s0", None), boot_entry(), t0())
            .await
            .unwrap()
    );
    assert!(
        !store
            .tokens()
            .bootstrap(new("boot2", "s00", None), boot_entry(), t0())
            .await
            .unwrap(),
        "bootstrap happens once"
    );
    let t = store
        .tokens()
        .create(new("ci", "s1", Some(t0() + Duration::hours(1))), t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .tokens()
            .authenticate(&hash_secret("s1"), t0())
            .await
            .unwrap()
            .map(|(t, user)| (t.id, t.role, user)),
        Some((t.id.clone(), Some(Role::Admin), None))
    );
    assert_eq!(
        store
            .tokens()
            .authenticate(&hash_secret("s1"), t0() + Duration::hours(2))
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store
            .tokens()
            .authenticate(&hash_secret("nope"), t0())
            .await
            .unwrap(),
        None
    );
    store.tokens().revoke(&t.id, t0()).await.unwrap();
    assert_eq!(
        store
            .tokens()
            .authenticate(&hash_secret("s1"), t0())
            .await
            .unwrap(),
        None,
        "revoked"
    );
    assert_eq!(store.tokens().list().await.unwrap().len(), 2);

    // The last live owner credential cannot be revoked; once there is another, it can.
    let admin = |name: &str, secret: &str, expires_at| NewToken {
        role: Some(Role::Owner),
        ..new(name, secret, expires_at)
    };
    let first = store
        .tokens()
        .create(admin("first admin", "a1", None), t0())
        .await
        .unwrap();
    let expired = admin("old admin", "a0", Some(t0() - Duration::hours(1)));
    store.tokens().create(expired, t0()).await.unwrap();
    assert!(matches!(
        store.tokens().revoke(&first.id, t0()).await,
        Err(StoreError::Conflict(Conflict::LastAdmin))
    ));
    let second = store
        .tokens()
        .create(admin("second admin", "a2", None), t0())
        .await
        .unwrap();
    store.tokens().revoke(&first.id, t0()).await.unwrap();
    assert!(matches!(
        store.tokens().revoke(&second.id, t0()).await,
        Err(StoreError::Conflict(Conflict::LastAdmin))
    ));

    // A token acting as a person holds that person's role and teams, whatever they are when it is used; it is an
    // owner credential while they are an owner, and acts for nobody once they are deleted.
    let dana = store
        .users()
        .create(new_user("Dana", "dana@example.com"), t0())
        .await
        .unwrap();
    assert_eq!(dana.role, Role::Responder, "people start as responders");
    let team = store
        .teams()
        .create(
            TeamSpec {
                members: vec![dana.email.clone()],
                ..team_spec("payments")
            },
            t0(),
        )
        .await
        .unwrap();
    let personal = store
        .tokens()
        .create(
            NewToken {
                role: None,
                user: Some(dana.id.clone().into()),
                ..new("dana's", "d1", None)
            },
            t0(),
        )
        .await
        .unwrap();
    let (token, access) = store
        .tokens()
        .authenticate(&hash_secret("d1"), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((token.role, token.user_id.as_ref()), (None, Some(&dana.id)));
    assert_eq!(
        access,
        Some(UserAccess {
            role: Role::Responder,
            teams: vec![team.id.clone()]
        })
    );
    store
        .users()
        .set_role(&dana.id.clone().into(), Role::Owner, t0())
        .await
        .unwrap();
    store.tokens().revoke(&second.id, t0()).await.unwrap();
    // Her own token is no owner credential of its own: she is one, with or without it.
    store.tokens().revoke(&personal.id, t0()).await.unwrap();
    // A token acting with a role for a person outlives nothing of theirs: it goes when they go.
    store
        .tokens()
        .create(
            NewToken {
                role: Some(Role::Admin),
                user: Some(dana.id.clone().into()),
                ..new("dana's admin", "d2", None)
            },
            t0(),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            store
                .users()
                .set_role(&dana.id.clone().into(), Role::Admin, t0())
                .await,
            Err(StoreError::Conflict(Conflict::LastOwner { .. }))
        ),
        "the last owner keeps the role"
    );
    assert!(matches!(
        store.users().delete(&dana.id.clone().into(), t0()).await,
        Err(StoreError::Conflict(Conflict::LastOwner { .. }))
    ));
    let kim = store
        .users()
        .create_with_role(new_user("Kim", "kim@example.com"), Role::Observer, t0())
        .await
        .unwrap();
    assert_eq!(
        kim.role,
        Role::Observer,
        "made holding the role it was given"
    );
    assert_eq!(
        store
            .users()
            .get(&kim.id.clone().into())
            .await
            .unwrap()
            .role,
        Role::Observer
    );
    let lee = store
        .users()
        .create(new_user("Lee", "lee@example.com"), t0())
        .await
        .unwrap();
    store
        .users()
        .set_role(&lee.id.clone().into(), Role::Owner, t0())
        .await
        .unwrap();
    store
        .teams()
        .replace(&team.id.clone().into(), team_spec("payments"), t0())
        .await
        .unwrap();
    store
        .users()
        .delete(&dana.id.clone().into(), t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .tokens()
            .authenticate(&hash_secret("d2"), t0())
            .await
            .unwrap(),
        None,
        "a deleted person's token acts for nobody, though it held a role of its own"
    );
    let entries = store.audit().list(AuditFilter::default()).await.unwrap();
    assert_eq!(
        entries
            .items
            .iter()
            .map(|e| e.entry.action.as_str())
            .collect::<Vec<_>>(),
        ["token.create"],
        "the first start's token is recorded once, not on every start"
    );
}

fn boot_entry() -> AuditEntry {
    AuditEntry {
        at: t0(),
        actor: Actor::system(),
        action: "token.create".into(),
        target: "bootstrap admin".into(),
        summary: serde_json::json!({}),
        address: None,
    }
}

/// Sessions hold until ended or past their policy, one person's sessions end with a reset, and a link works once,
/// for what it was made for, until it expires.
pub async fn sessions_and_single_use_links(store: &dyn Store) {
    use tocsin_domain::account::{LinkPurpose, SessionPolicy};
    let accounts = store.accounts();
    assert!(!accounts.has_owner_account().await.unwrap());
    // Pat signs up from an invitation before anyone set Tocsin up: a setup link cannot take over her account.
    let pat = store
        .users()
        .create(new_user("Pat", "pat@example.com"), t0())
        .await
        .unwrap();
    accounts
        .create_link("pat-invite", LinkPurpose::Invite, Some(&pat.id), t0())
        .await
        .unwrap();
    accounts
        .redeem_link(
            "pat-invite",
            Redeem::SetPassword {
                hash: "argon-pat".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    assert!(accounts.has_password(&pat.id).await.unwrap());
    accounts
        .create_setup_link("early-setup", t0())
        .await
        .unwrap();
    assert!(matches!(
        accounts
            .redeem_link(
                "early-setup",
                Redeem::CreateOwner {
                    spec: new_user("Mallory", "pat@example.com"),
                    hash: "argon-mallory".into(),
                },
                t0(),
            )
            .await,
        Err(StoreError::Conflict(Conflict::NameTaken { .. }))
    ));
    let expires = accounts
        .create_setup_link("setup-hash", t0())
        .await
        .unwrap();
    assert!(
        accounts.link("early-setup", t0()).await.unwrap().is_none(),
        "a new setup link replaces the last"
    );
    assert_eq!(expires, t0() + LinkPurpose::Setup.lifetime());
    let link = accounts.link("setup-hash", t0()).await.unwrap().unwrap();
    assert_eq!((link.purpose, link.user), (LinkPurpose::Setup, None));
    assert!(
        matches!(
            accounts
                .redeem_link("setup-hash", Redeem::SetPassword { hash: "h".into() }, t0())
                .await,
            Err(StoreError::NotFound { .. })
        ),
        "a setup link creates an owner and does nothing else"
    );
    let owner = accounts
        .redeem_link(
            "setup-hash",
            Redeem::CreateOwner {
                spec: new_user("Olga", "olga@example.com"),
                hash: "argon-olga".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(owner.role, Role::Owner);
    assert!(accounts.has_owner_account().await.unwrap());
    accounts
        .create_setup_link("late-setup", t0())
        .await
        .unwrap();
    assert!(
        matches!(
            accounts
                .redeem_link(
                    "late-setup",
                    Redeem::CreateOwner {
                        spec: new_user("Mallory", "mallory@example.com"),
                        hash: "argon-mallory".into(),
                    },
                    t0(),
                )
                .await,
            Err(StoreError::Conflict(Conflict::AlreadySetUp))
        ),
        "once an owner can sign in, a setup link does nothing"
    );
    assert_eq!(
        accounts.link("setup-hash", t0()).await.unwrap(),
        None,
        "used up"
    );
    assert_eq!(
        accounts.credentials("OLGA@example.com").await.unwrap(),
        Some((owner.clone(), Some("argon-olga".into())))
    );

    let dana = store
        .users()
        .create(new_user("Dana", "dana@example.com"), t0())
        .await
        .unwrap();
    assert_eq!(
        accounts.credentials("dana@example.com").await.unwrap(),
        Some((dana.clone(), None)),
        "no password until she sets one"
    );
    let policy = SessionPolicy {
        idle: Duration::hours(1),
        absolute: Duration::hours(8),
    };
    let new_session = |hash: &str| NewSession {
        token_hash: hash.into(),
        user_id: dana.id.clone(),
        address: Some("192.0.2.1".into()),
        user_agent: "Firefox".into(),
    };
    let phone = accounts
        .start_session(new_session("phone"), t0())
        .await
        .unwrap();
    let laptop = accounts
        .start_session(new_session("laptop"), t0() + Duration::minutes(1))
        .await
        .unwrap();
    let (found, user, access) = accounts
        .session("phone", policy, t0() + Duration::minutes(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id, user.id, access.role),
        (phone.id.clone(), dana.id.clone(), Role::Responder)
    );
    assert_eq!(
        accounts
            .session("phone", policy, t0() + Duration::hours(1))
            .await
            .unwrap(),
        None,
        "idle for an hour"
    );
    accounts
        .touch_session(&phone.id, t0() + Duration::minutes(50))
        .await
        .unwrap();
    assert!(
        accounts
            .session("phone", policy, t0() + Duration::minutes(100))
            .await
            .unwrap()
            .is_some(),
        "used since"
    );
    assert_eq!(
        accounts
            .sessions(&dana.id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        [laptop.id.clone(), phone.id.clone()],
        "newest first"
    );
    let ended = accounts.end_session(&laptop.id, t0()).await.unwrap();
    assert_eq!(ended.revoked_at, Some(t0()));
    assert_eq!(
        accounts.session("laptop", policy, t0()).await.unwrap(),
        None
    );

    // An invitation and a reset set the person's password; the reset also signs them out everywhere, and using
    // one of their links uses up the others.
    accounts
        .create_link("invite-hash", LinkPurpose::Invite, Some(&dana.id), t0())
        .await
        .unwrap();
    accounts
        .create_link("reset-hash", LinkPurpose::Reset, Some(&dana.id), t0())
        .await
        .unwrap();
    assert_eq!(
        accounts
            .link("reset-hash", t0() + Duration::hours(1))
            .await
            .unwrap(),
        None,
        "a reset link lasts an hour"
    );
    accounts
        .redeem_link(
            "invite-hash",
            Redeem::SetPassword {
                hash: "argon-1".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    assert!(
        accounts.link("reset-hash", t0()).await.unwrap().is_none(),
        "her other links are used up with it"
    );
    assert!(
        accounts
            .session("phone", policy, t0())
            .await
            .unwrap()
            .is_some(),
        "accepting an invitation signs nobody out"
    );
    accounts
        .create_link("reset-2", LinkPurpose::Reset, Some(&dana.id), t0())
        .await
        .unwrap();
    accounts
        .redeem_link(
            "reset-2",
            Redeem::SetPassword {
                hash: "argon-2".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        accounts
            .credentials("dana@example.com")
            .await
            .unwrap()
            .unwrap()
            .1,
        Some("argon-2".into())
    );
    assert_eq!(
        accounts.session("phone", policy, t0()).await.unwrap(),
        None,
        "a reset signs her out everywhere"
    );
    assert!(matches!(
        accounts
            .redeem_link(
                "reset-2",
                Redeem::SetPassword {
                    hash: "again".into()
                },
                t0()
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

/// The audit log holds a change exactly when the store does, lists newest first by filter, pages, counts failed
/// sign-ins and forgets what is past its retention.
pub async fn the_audit_log_records_what_committed(store: &dyn Store) {
    let entry = |action: &str, target: &str, minutes: i64| AuditEntry {
        at: t0() + Duration::minutes(minutes),
        actor: Actor {
            kind: ActorKind::User,
            id: Some("usr_1".into()),
            name: "Dana".into(),
        },
        action: action.into(),
        target: target.into(),
        summary: serde_json::json!({"after": {"name": target}}),
        address: Some("192.0.2.7".into()),
    };
    let audited = store.audited(entry("team.create", "payments", 0));
    audited
        .teams()
        .create(team_spec("payments"), t0())
        .await
        .unwrap();
    let refused = audited.teams().create(team_spec("payments"), t0()).await;
    assert!(refused.is_err(), "the name is taken");
    let all = store.audit().list(AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.items.len(),
        1,
        "a refused change leaves no entry: {all:?}"
    );
    assert_eq!(all.items[0].entry, entry("team.create", "payments", 0));

    store
        .audit()
        .record(entry(LOGIN_FAILED, "dana@example.com", 1))
        .await
        .unwrap();
    store
        .audited(entry("service.create", "checkout", 2))
        .services()
        .create(service("checkout"), t0())
        .await
        .unwrap();
    let page = store
        .audit()
        .list(AuditFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions = |p: &Page<AuditRecord>| {
        p.items
            .iter()
            .map(|r| r.entry.action.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(actions(&page), ["service.create", LOGIN_FAILED]);
    let rest = store
        .audit()
        .list(AuditFilter {
            limit: 2,
            cursor: page.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (actions(&rest), rest.next_cursor),
        (vec!["team.create".to_owned()], None)
    );
    let by = |f: AuditFilter| async { actions(&store.audit().list(f).await.unwrap()) };
    assert_eq!(
        by(AuditFilter {
            action: Some("service".into()),
            ..Default::default()
        })
        .await,
        ["service.create"],
        "an action prefix finds its object's actions"
    );
    assert!(
        by(AuditFilter {
            action: Some("serv".into()),
            ..Default::default()
        })
        .await
        .is_empty(),
        "a prefix stops at a dot"
    );
    assert_eq!(
        by(AuditFilter {
            target: Some("payments".into()),
            actor: Some("Dana".into()),
            since: Some(t0()),
            until: Some(t0() + Duration::minutes(1)),
            ..Default::default()
        })
        .await,
        ["team.create"]
    );
    assert_eq!(
        store
            .audit()
            .recent(LOGIN_FAILED, "dana@example.com", Some("192.0.2.7"), t0())
            .await
            .unwrap(),
        (1, 1)
    );
    assert_eq!(
        store
            .audit()
            .recent(LOGIN_FAILED, "dana@example.com", Some("192.0.2.8"), t0())
            .await
            .unwrap(),
        (1, 0),
        "the account's failures, none from this address"
    );
    assert_eq!(
        store
            .audit()
            .recent(
                LOGIN_FAILED,
                "dana@example.com",
                Some("192.0.2.7"),
                t0() + Duration::minutes(2)
            )
            .await
            .unwrap(),
        (0, 0),
        "only failures since the window began count"
    );
    assert_eq!(
        store
            .audit()
            .prune(t0() + Duration::minutes(2))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        actions(&store.audit().list(AuditFilter::default()).await.unwrap()),
        ["service.create"]
    );
}

pub async fn ingest_follows_pagerduty_semantics(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "api").await;
    let ingest = store.ingest();

    let first = ingest
        .event(&key, trigger("db-down", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    assert_eq!(
        (first.result, first.opened_incident),
        (IngestResult::Created, Some(Severity::Sev1))
    );
    let alert_id = first.alert_id.clone().unwrap();
    let incident_id = first.incident_id.clone().unwrap();

    let again = ingest
        .event(
            &key,
            trigger("db-down", AlertSeverity::Critical),
            t0() + Duration::seconds(5),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.result, again.alert_id.as_ref(), again.opened_incident),
        (IngestResult::Deduplicated, Some(&alert_id), None)
    );
    assert_eq!(store.alerts().get(&alert_id).await.unwrap().event_count, 2);

    let ack = ingest
        .event(
            &key,
            follow_up(EventAction::Acknowledge, "db-down"),
            t0() + Duration::seconds(10),
        )
        .await
        .unwrap();
    assert_eq!(ack.result, IngestResult::Acknowledged);
    let incident = store
        .incidents()
        .get(&incident_ref(incident_id.as_str()))
        .await
        .unwrap();
    assert_eq!(incident.status, IncidentStatus::Acknowledged);
    assert_eq!(
        incident.acknowledged_by.map(|a| a.kind),
        Some(ActorKind::Integration)
    );

    // A second acknowledge changes nothing but is logged and counted against the alert.
    let again = ingest
        .event(
            &key,
            follow_up(EventAction::Acknowledge, "db-down"),
            t0() + Duration::seconds(15),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.result, again.alert_id.as_ref()),
        (IngestResult::Ignored, Some(&alert_id))
    );
    assert_eq!(store.alerts().get(&alert_id).await.unwrap().event_count, 4);

    let resolved = ingest
        .event(
            &key,
            follow_up(EventAction::Resolve, "db-down"),
            t0() + Duration::seconds(20),
        )
        .await
        .unwrap();
    assert_eq!(resolved.result, IngestResult::Resolved);
    let incident = store
        .incidents()
        .get(&incident_ref(incident_id.as_str()))
        .await
        .unwrap();
    assert_eq!(
        (incident.status, incident.resolved_at),
        (IncidentStatus::Resolved, Some(t0() + Duration::seconds(20)))
    );
    let timeline = store
        .incidents()
        .timeline(&incident_ref(incident_id.as_str()))
        .await
        .unwrap();
    let kinds: Vec<_> = timeline.iter().map(|r| r.entry.kind()).collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Opened,
            // The service has no escalation policy, so nobody was paged: the timeline says so.
            TimelineKind::Unassigned,
            TimelineKind::Acknowledged,
            TimelineKind::Resolved
        ]
    );

    // Follow-ups for closed or unknown keys are accepted and change nothing.
    for action in [EventAction::Acknowledge, EventAction::Resolve] {
        for key_name in ["db-down", "never-seen"] {
            let o = ingest
                .event(
                    &key,
                    follow_up(action, key_name),
                    t0() + Duration::seconds(30),
                )
                .await
                .unwrap();
            assert_eq!((o.result, o.incident_id), (IngestResult::Ignored, None));
        }
    }

    // A trigger after resolve opens a new alert and a new incident.
    let reopened = ingest
        .event(
            &key,
            trigger("db-down", AlertSeverity::Error),
            t0() + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(
        (reopened.result, reopened.opened_incident),
        (IngestResult::Created, Some(Severity::Sev2))
    );
    assert_ne!(reopened.alert_id, Some(alert_id.clone()));
    assert_ne!(reopened.incident_id, Some(incident_id.clone()));
    let history: Vec<_> = store
        .alerts()
        .events(&alert_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.result)
        .collect();
    assert_eq!(
        history,
        [
            IngestResult::Created,
            IngestResult::Deduplicated,
            IngestResult::Acknowledged,
            IngestResult::Ignored,
            IngestResult::Resolved
        ],
        "the alert's own events, none of the later alert's with the same key"
    );

    // Info alerts are recorded without an incident.
    let info = ingest
        .event(&key, trigger("fyi", AlertSeverity::Info), t0())
        .await
        .unwrap();
    assert_eq!(
        (info.result, info.incident_id),
        (IngestResult::Created, None)
    );

    let open = store
        .alerts()
        .list(AlertFilter {
            statuses: vec![AlertStatus::Triggered],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.items.len(), 2);
    let by_key = store
        .alerts()
        .list(AlertFilter {
            dedup_key: Some("db-down".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_key.items.len(), 2);
    let other_key = arbitrary_service_with_key(store, "other").await;
    ingest
        .event(
            &other_key,
            trigger("elsewhere", AlertSeverity::Warning),
            t0(),
        )
        .await
        .unwrap();
    let integration_of = |service: &'static str| async move {
        store
            .integrations()
            .list(&service_ref(service))
            .await
            .unwrap()[0]
            .id
            .clone()
    };
    let sent_by = |integration| async move {
        store
            .alerts()
            .list(AlertFilter {
                integration: Some(integration),
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|a| a.dedup_key)
            .collect::<Vec<_>>()
    };
    assert_eq!(sent_by(integration_of("other").await).await, ["elsewhere"]);
    assert_eq!(
        sent_by(integration_of("api").await).await,
        ["fyi", "db-down", "db-down"]
    );
}

pub async fn updates_and_worse_alerts_raise_their_incident(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "db").await;
    let ingest = store.ingest();
    let severity_of = |incident: IncidentRef| async move {
        store.incidents().get(&incident).await.unwrap().severity
    };
    let last_cause = |incident: IncidentRef| async move {
        let timeline = store.incidents().timeline(&incident).await.unwrap();
        match timeline.last().map(|r| r.entry.event.clone()) {
            Some(TimelineEvent::SeverityChanged { cause, .. }) => cause,
            other => panic!("the last entry is not a severity change: {other:?}"),
        }
    };

    let disk = ingest
        .event(&key, trigger("disk", AlertSeverity::Warning), t0())
        .await
        .unwrap();
    let disk_incident: IncidentRef = disk.incident_id.clone().unwrap().into();
    assert_eq!(severity_of(disk_incident.clone()).await, Severity::Sev3);
    let update = |patch: AlertPatch| AlertEvent {
        action: EventAction::Update,
        dedup_key: "disk".into(),
        details: None,
        patch: Some(patch),
    };
    let patch = AlertPatch {
        summary: Some("disk 99% full".into()),
        severity: Some(AlertSeverity::Critical),
        labels: [("priority".to_owned(), "P1".to_owned())].into(),
        custom_details: [("description".to_owned(), serde_json::json!("growing"))]
            .into_iter()
            .collect(),
    };
    let updated = ingest
        .event(&key, update(patch), t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(updated.result, IngestResult::Updated);
    assert_eq!(updated.alert_id, disk.alert_id);
    let alert = store
        .alerts()
        .get(disk.alert_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(alert.summary, "disk 99% full");
    assert_eq!(alert.severity, AlertSeverity::Critical);
    assert_eq!(
        (
            alert.labels["team"].as_str(),
            alert.labels["priority"].as_str()
        ),
        ("core", "P1"),
        "labels it does not name are kept"
    );
    assert_eq!(
        (
            &alert.custom_details["k"],
            &alert.custom_details["description"]
        ),
        (&serde_json::json!(1), &serde_json::json!("growing"))
    );
    assert_eq!(alert.event_count, 1, "an update is not an occurrence");
    assert_eq!(severity_of(disk_incident.clone()).await, Severity::Sev1);
    assert!(matches!(
        last_cause(disk_incident.clone()).await,
        Some(SeverityCause::AlertWorsened { .. })
    ));
    let events: Vec<_> = store
        .alerts()
        .events(&alert.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.result))
        .collect();
    assert_eq!(
        events,
        [
            (EventAction::Trigger, IngestResult::Created),
            (EventAction::Update, IngestResult::Updated)
        ]
    );
    let nothing_open = ingest
        .event(
            &key,
            AlertEvent {
                dedup_key: "cpu".into(),
                ..update(AlertPatch::default())
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (nothing_open.result, nothing_open.alert_id),
        (IngestResult::Ignored, None)
    );

    // A repeat trigger that comes back worse raises its incident too.
    let cpu = ingest
        .event(&key, trigger("cpu", AlertSeverity::Warning), t0())
        .await
        .unwrap();
    let cpu_incident: IncidentRef = cpu.incident_id.clone().unwrap().into();
    ingest
        .event(
            &key,
            trigger("cpu", AlertSeverity::Error),
            t0() + Duration::minutes(2),
        )
        .await
        .unwrap();
    assert_eq!(severity_of(cpu_incident.clone()).await, Severity::Sev2);
    assert!(matches!(
        last_cause(cpu_incident).await,
        Some(SeverityCause::AlertWorsened { .. })
    ));
}

pub async fn ingest_keys_are_scoped_and_revocable(store: &dyn Store) {
    let key_a = arbitrary_service_with_key(store, "a").await;
    let key_b = arbitrary_service_with_key(store, "b").await;
    let a = store
        .ingest()
        .event(&key_a, trigger("same", AlertSeverity::Warning), t0())
        .await
        .unwrap();
    let b = store
        .ingest()
        .event(&key_b, trigger("same", AlertSeverity::Warning), t0())
        .await
        .unwrap();
    assert_ne!(a.alert_id, b.alert_id, "dedup keys are per service");
    assert_eq!(
        store
            .alerts()
            .get(a.alert_id.as_ref().unwrap())
            .await
            .unwrap()
            .service_id,
        store.services().get(&service_ref("a")).await.unwrap().id
    );

    assert!(matches!(
        store
            .ingest()
            .event(
                &hash_secret("forged"),
                trigger("x", AlertSeverity::Critical),
                t0()
            )
            .await,
        Err(StoreError::UnknownRoutingKey)
    ));
    let integration = store
        .integrations()
        .list(&service_ref("a"))
        .await
        .unwrap()
        .remove(0);
    store
        .integrations()
        .revoke(&integration.id, t0())
        .await
        .unwrap();
    assert!(
        store
            .integrations()
            .get(&integration.id)
            .await
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(matches!(
        store
            .ingest()
            .event(&key_a, trigger("x", AlertSeverity::Critical), t0())
            .await,
        Err(StoreError::UnknownRoutingKey)
    ));
    assert_eq!(
        store
            .alerts()
            .list(AlertFilter::default())
            .await
            .unwrap()
            .items
            .len(),
        2,
        "refused events store nothing"
    );
}

pub async fn severity_levels_start_defined_and_keep_what_admins_write(store: &dyn Store) {
    use tocsin_domain::severity::{SeverityLevelChange, SeverityLevelSpec};
    let incidents = store.incidents();
    let levels = incidents.severity_levels().await.unwrap();
    let order: Vec<Severity> = levels.iter().map(|l| l.severity).collect();
    assert_eq!(order, Severity::ALL);
    assert_eq!(
        levels[0].spec(),
        SeverityLevelSpec::default_for(Severity::Sev0)
    );
    assert_eq!((levels[1].urgency, levels[2].urgency), ("high", "low"));

    let whole = SeverityLevelSpec {
        name: " major ".into(),
        definition: "Checkout or payments fail for anyone.".into(),
        examples: vec!["Card payments time out".into(), " ".into()],
        expectations: "Page payments' on-call; the payments lead commands.".into(),
        update_every_minutes: Some(20),
        postmortem_required: true,
    };
    let set = incidents
        .change_severity_level(Severity::Sev2, SeverityLevelChange::whole(whole))
        .await
        .unwrap();
    assert_eq!(
        (set.name.as_str(), set.examples.len()),
        ("major", 1),
        "stored tidy"
    );
    // A change names only what changes; the rest stays as stored.
    let renamed = incidents
        .change_severity_level(
            Severity::Sev2,
            SeverityLevelChange {
                name: Some("serious".into()),
                update_every_minutes: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.update_every_minutes,
            &renamed.definition
        ),
        ("serious", None, &set.definition)
    );
    let refused = SeverityLevelChange {
        name: Some("tiny".into()),
        update_every_minutes: Some(Some(1)),
        ..Default::default()
    };
    assert!(matches!(
        incidents
            .change_severity_level(Severity::Sev2, refused)
            .await,
        Err(StoreError::Invalid(_))
    ));
    let levels = incidents.severity_levels().await.unwrap();
    assert_eq!(
        levels[2], renamed,
        "a refused change leaves what was stored"
    );
    assert_eq!(
        levels[1].spec(),
        SeverityLevelSpec::default_for(Severity::Sev1),
        "the others keep theirs"
    );
}

pub async fn incidents_by_hand(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "web").await;
    let declared = store
        .incidents()
        .declare(
            NewIncident {
                title: "Customers report checkout errors".into(),
                description: "via support".into(),
                severity: Severity::Sev2,
                services: vec!["web".into()],
            },
            user(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (declared.number, declared.status),
        (1, IncidentStatus::Triggered)
    );
    assert_eq!(
        store.incidents().get(&incident_ref("#1")).await.unwrap().id,
        declared.id
    );
    assert!(matches!(
        store
            .incidents()
            .declare(
                NewIncident {
                    title: "x".into(),
                    description: String::new(),
                    severity: Severity::Sev3,
                    services: vec!["nope".into()]
                },
                user(),
                t0()
            )
            .await,
        Err(StoreError::Invalid(_))
    ));

    let raised = store
        .incidents()
        .set_severity(
            &incident_ref("1"),
            Severity::Sev0,
            user(),
            t0() + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(raised.severity, Severity::Sev0);
    let note = store
        .incidents()
        .add_note(
            &incident_ref("1"),
            "Rolled back **v42**".into(),
            user(),
            t0() + Duration::minutes(2),
        )
        .await
        .unwrap();
    assert_eq!(
        note.entry.event,
        tocsin_domain::incident::TimelineEvent::Note {
            body: "Rolled back **v42**".into()
        }
    );
    assert!(matches!(
        store
            .incidents()
            .add_note(&incident_ref("1"), "  ".into(), user(), t0())
            .await,
        Err(StoreError::Invalid(_))
    ));
    let acked = store
        .incidents()
        .acknowledge(&incident_ref("1"), user(), t0() + Duration::minutes(3))
        .await
        .unwrap();
    assert_eq!(
        (acked.status, acked.acknowledged_by.map(|a| a.name)),
        (IncidentStatus::Acknowledged, Some("Alice".to_owned()))
    );
    store
        .incidents()
        .resolve(&incident_ref("1"), user(), t0() + Duration::minutes(4))
        .await
        .unwrap();
    assert!(matches!(
        store
            .incidents()
            .acknowledge(&incident_ref("1"), user(), t0())
            .await,
        Err(StoreError::Transition(_))
    ));
    let kinds: Vec<_> = store
        .incidents()
        .timeline(&incident_ref("1"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Opened,
            TimelineKind::Unassigned,
            TimelineKind::SeverityChanged,
            TimelineKind::Note,
            TimelineKind::Acknowledged,
            TimelineKind::Resolved
        ]
    );

    // Resolving an alert-opened incident by hand resolves its alerts, so the next trigger starts over.
    let o = store
        .ingest()
        .event(&key, trigger("cpu", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    let inc = o.incident_id.unwrap();
    store
        .incidents()
        .acknowledge(&incident_ref(inc.as_str()), user(), t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .incidents()
            .alerts(&incident_ref(inc.as_str()))
            .await
            .unwrap()[0]
            .status,
        AlertStatus::Acknowledged
    );
    store
        .incidents()
        .resolve(&incident_ref(inc.as_str()), user(), t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .incidents()
            .alerts(&incident_ref(inc.as_str()))
            .await
            .unwrap()[0]
            .status,
        AlertStatus::Resolved
    );
    let next = store
        .ingest()
        .event(&key, trigger("cpu", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    assert_eq!(next.result, IngestResult::Created);
    assert!(matches!(
        store.incidents().get(&incident_ref("#999")).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn incident_lists_filter_and_paginate(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "svc").await;
    store.teams().create(team_spec("ops"), t0()).await.unwrap();
    store
        .services()
        .create(
            serde_json::from_value(serde_json::json!({ "name": "other", "team": "ops" })).unwrap(),
            t0(),
        )
        .await
        .unwrap();
    for i in 0..7 {
        let severity = if i % 2 == 0 {
            AlertSeverity::Critical
        } else {
            AlertSeverity::Warning
        };
        store
            .ingest()
            .event(
                &key,
                trigger(&format!("k{i}"), severity),
                t0() + Duration::minutes(i),
            )
            .await
            .unwrap();
    }
    store
        .incidents()
        .declare(
            NewIncident {
                title: "manual".into(),
                description: String::new(),
                severity: Severity::Sev0,
                services: vec!["other".into()],
            },
            user(),
            t0() + Duration::minutes(10),
        )
        .await
        .unwrap();
    store
        .incidents()
        .resolve(&incident_ref("#2"), user(), t0())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .incidents()
            .list(IncidentFilter {
                limit: 3,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|i| i.number));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [8, 7, 6, 5, 4, 3, 2, 1],
        "pages cover everything once, newest first"
    );

    let list = |f: IncidentFilter| async move {
        store
            .incidents()
            .list(f)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.number)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(IncidentFilter {
            severities: vec![Severity::Sev3],
            ..Default::default()
        })
        .await,
        [6, 4, 2]
    );
    assert_eq!(
        list(IncidentFilter {
            statuses: vec![IncidentStatus::Resolved],
            ..Default::default()
        })
        .await,
        [2]
    );
    assert_eq!(
        list(IncidentFilter {
            service: Some("other".into()),
            ..Default::default()
        })
        .await,
        [8]
    );
    assert_eq!(
        list(IncidentFilter {
            team: Some("ops".into()),
            ..Default::default()
        })
        .await,
        [8],
        "incidents on the team's services"
    );
    assert_eq!(
        list(IncidentFilter {
            numbers: vec![7, 3, 99],
            ..Default::default()
        })
        .await,
        [7, 3],
        "incidents by number, an unknown one left out"
    );
    assert_eq!(
        list(IncidentFilter {
            created_after: Some(t0() + Duration::minutes(2)),
            created_before: Some(t0() + Duration::minutes(4)),
            ..Default::default()
        })
        .await,
        [4, 3]
    );
    assert!(matches!(
        store
            .incidents()
            .list(IncidentFilter {
                cursor: Some("garbage".into()),
                ..Default::default()
            })
            .await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn raw_payloads_keep_the_last_hundred(store: &dyn Store) {
    arbitrary_service_with_key(store, "noisy").await;
    let id = store
        .integrations()
        .list(&service_ref("noisy"))
        .await
        .unwrap()
        .remove(0)
        .id;
    let batch: Vec<_> = (0..130)
        .map(|i| {
            (
                id.clone(),
                RawPayload {
                    outcome: format!("{i}"),
                    ..RawPayload::new(format!("body {i}").as_bytes(), t0() + Duration::seconds(i))
                },
            )
        })
        .collect();
    store
        .integrations()
        .keep_payloads(batch[..70].to_vec())
        .await
        .unwrap();
    store
        .integrations()
        .keep_payloads(batch[70..].to_vec())
        .await
        .unwrap();
    let kept = store.integrations().payloads(&id, 500).await.unwrap();
    assert_eq!(
        kept.len(),
        RAW_PAYLOADS_KEPT as usize,
        "the ring is bounded"
    );
    assert_eq!(
        (kept[0].body.as_str(), kept[99].body.as_str()),
        ("body 129", "body 30"),
        "newest first, oldest dropped"
    );
    let big = RawPayload::new(&vec![b'x'; RAW_PAYLOAD_MAX + 10], t0());
    assert!(big.truncated && big.body.len() == RAW_PAYLOAD_MAX);
}

pub async fn change_events(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "deployed").await;
    let event = tocsin_domain::pagerduty::ChangeEvent {
        routing_key: String::new(),
        summary: "Deployed v1.2.3".into(),
        source: Some("ci".into()),
        timestamp: Some(t0()),
        custom_details: serde_json::json!({"sha": "abc"}),
        links: vec![],
    };
    store.ingest().change(&key, event, t0()).await.unwrap();
    let changes = store
        .services()
        .changes(&service_ref("deployed"), 10)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].summary, "Deployed v1.2.3");
    assert!(
        store
            .incidents()
            .list(IncidentFilter::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "change events never page"
    );
}

fn new_user(name: &str, email: &str) -> tocsin_domain::catalog::UserSpec {
    serde_json::from_value(serde_json::json!({ "name": name, "email": email })).unwrap()
}

/// A daily rotation in UTC handing off at 09:00, starting on `t0`'s day.
fn daily_schedule(
    name: &str,
    participants: &[&tocsin_domain::ids::UserId],
) -> tocsin_domain::oncall::ScheduleSpec {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "time_zone": "UTC",
        "layers": [{
            "name": "primary",
            "participants": participants,
            "rotation": {"every": "days", "count": 1},
            "start": "2026-05-04T09:00:00",
        }],
    }))
    .unwrap()
}

fn invalid_fields<T: std::fmt::Debug>(r: Result<T>) -> Vec<String> {
    match r {
        Err(StoreError::Invalid(v)) => v.0.into_iter().map(|e| e.field).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

pub async fn schedules(store: &dyn Store) {
    let alice = store
        .users()
        .create(new_user("Alice", "alice@example.com"), t0())
        .await
        .unwrap();
    let bob = store
        .users()
        .create(new_user("Bob", "bob@example.com"), t0())
        .await
        .unwrap();
    let oncall = store.oncall();
    let created = oncall
        .create_schedule(daily_schedule("primary", &[&alice.id, &bob.id]), t0())
        .await
        .unwrap();
    assert_eq!(created.name, "primary");
    assert_eq!(created.time_zone, "UTC");
    assert_eq!(created.reminder_minutes, 30, "the default lead time");
    assert_eq!(
        created.layers[0].participants,
        [alice.id.clone(), bob.id.clone()]
    );
    assert_eq!(
        oncall.get_schedule(&schedule_ref("primary")).await.unwrap(),
        created
    );
    assert_eq!(
        oncall
            .get_schedule(&schedule_ref(created.id.as_str()))
            .await
            .unwrap(),
        created
    );
    let at = |h: i64| t0() + Duration::hours(h);
    let s = created.schedule();
    assert_eq!(
        tocsin_domain::oncall::on_call(&s, at(0)),
        Some(alice.id.clone())
    );
    assert_eq!(
        tocsin_domain::oncall::on_call(&s, at(24)),
        Some(bob.id.clone())
    );

    assert!(matches!(
        oncall
            .create_schedule(daily_schedule("primary", &[&alice.id]), t0())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let ghost = tocsin_domain::ids::UserId::generate();
    assert_eq!(
        invalid_fields(
            oncall
                .create_schedule(daily_schedule("ghostly", &[&alice.id, &ghost]), t0())
                .await
        ),
        ["layers[0].participants[1]"]
    );
    assert!(
        matches!(
            oncall.get_schedule(&schedule_ref("ghostly")).await,
            Err(StoreError::NotFound { .. })
        ),
        "a refused create leaves nothing behind"
    );
    let mut no_layers = daily_schedule("empty", &[&alice.id]);
    no_layers.layers.clear();
    assert_eq!(
        invalid_fields(oncall.create_schedule(no_layers, t0()).await),
        ["layers"]
    );

    // Participants are kept in step with the layers: Bob leaves with the replace.
    assert_eq!(
        oncall
            .schedules_of_user(&user_ref("bob@example.com"))
            .await
            .unwrap()
            .len(),
        1
    );
    let mut renamed = daily_schedule("platform", &[&alice.id]);
    renamed.reminder_minutes = 0;
    let replaced = oncall
        .replace_schedule(
            &schedule_ref("primary"),
            renamed,
            t0() + Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(replaced.id, created.id);
    assert_eq!(replaced.created_at, t0());
    assert_eq!(replaced.updated_at, t0() + Duration::minutes(5));
    assert_eq!(replaced.reminder_minutes, 0);
    assert!(matches!(
        oncall.get_schedule(&schedule_ref("primary")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        oncall
            .schedules_of_user(&user_ref(bob.id.as_str()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        oncall
            .schedules_of_user(&user_ref("alice@example.com"))
            .await
            .unwrap()[0]
            .name,
        "platform"
    );
    assert!(matches!(
        oncall
            .schedules_of_user(&user_ref("nobody@example.com"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    oncall
        .create_schedule(daily_schedule("secondary", &[&bob.id]), t0())
        .await
        .unwrap();
    assert!(
        matches!(
            oncall
                .replace_schedule(
                    &schedule_ref("platform"),
                    daily_schedule("secondary", &[&alice.id]),
                    t0()
                )
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a rename onto another schedule's name"
    );
    assert_eq!(
        invalid_fields(
            oncall
                .replace_schedule(
                    &schedule_ref("platform"),
                    daily_schedule("platform", &[&ghost]),
                    t0()
                )
                .await
        ),
        ["layers[0].participants[0]"]
    );
    let names: Vec<String> = oncall
        .list_schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["platform", "secondary"]);

    assert!(
        matches!(
            store.users().delete(&user_ref("alice@example.com"), t0()).await,
            Err(StoreError::Conflict(Conflict::InUse { by: Dependents::Schedules(s), .. })) if s == ["platform"]
        ),
        "a user still in a rotation is not deleted"
    );

    // An escalation policy paging the schedule holds it.
    let policy: tocsin_domain::escalation::EscalationPolicySpec =
        serde_json::from_value(serde_json::json!({
            "name": "checkout-oncall",
            "levels": [{"delay_minutes": 10, "targets": [{"type": "schedule", "id": created.id}]}],
        }))
        .unwrap();
    store
        .escalation()
        .create_policy(policy, t0())
        .await
        .unwrap();
    match oncall.delete_schedule(&schedule_ref("platform")).await {
        Err(StoreError::Conflict(Conflict::InUse {
            by: Dependents::Policies(p),
            ..
        })) => assert_eq!(p, ["checkout-oncall"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    store
        .escalation()
        .delete_policy(&policy_ref("checkout-oncall"))
        .await
        .unwrap();
    oncall
        .delete_schedule(&schedule_ref("platform"))
        .await
        .unwrap();
    assert!(matches!(
        oncall
            .get_schedule(&schedule_ref(created.id.as_str()))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        oncall.delete_schedule(&schedule_ref("platform")).await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .users()
        .delete(&user_ref("alice@example.com"), t0())
        .await
        .unwrap();
}

pub async fn schedule_overrides(store: &dyn Store) {
    let alice = store
        .users()
        .create(new_user("Alice", "alice@example.com"), t0())
        .await
        .unwrap();
    let carol = store
        .users()
        .create(new_user("Carol", "carol@example.com"), t0())
        .await
        .unwrap();
    let oncall = store.oncall();
    let s = oncall
        .create_schedule(daily_schedule("primary", &[&alice.id]), t0())
        .await
        .unwrap();
    let range = |from: i64, to: i64| (t0() + Duration::hours(from), t0() + Duration::hours(to));
    let (start, end) = range(2, 5);
    let first = oncall
        .add_override(
            &schedule_ref("primary"),
            NewOverride {
                user: "Carol@Example.com".into(),
                start,
                end,
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(first.user_id, carol.id, "users by email, in any case");
    let (start2, end2) = range(3, 4);
    let second = oncall
        .add_override(
            &schedule_ref(s.id.as_str()),
            NewOverride {
                user: user_ref(&alice.id.to_string()),
                start: start2,
                end: end2,
            },
            t0() + Duration::seconds(1),
        )
        .await
        .unwrap();

    let record = oncall.get_schedule(&schedule_ref("primary")).await.unwrap();
    assert_eq!(record.overrides, [first.clone(), second.clone()]);
    let on_call =
        |h: i64| tocsin_domain::oncall::on_call(&record.schedule(), t0() + Duration::hours(h));
    assert_eq!(on_call(1), Some(alice.id.clone()));
    assert_eq!(
        on_call(2),
        Some(carol.id.clone()),
        "the override replaces the rotation"
    );
    assert_eq!(
        on_call(3),
        Some(alice.id.clone()),
        "the later override wins"
    );
    assert_eq!(on_call(4), Some(carol.id.clone()));
    assert_eq!(on_call(5), Some(alice.id.clone()));
    assert_eq!(
        oncall
            .schedules_of_user(&user_ref("carol@example.com"))
            .await
            .unwrap()[0]
            .id,
        s.id,
        "an override alone makes a user part of the schedule"
    );

    let bad = |user: &str, from: i64, to: i64| {
        let (start, end) = range(from, to);
        NewOverride {
            user: user.into(),
            start,
            end,
        }
    };
    assert_eq!(
        invalid_fields(
            oncall
                .add_override(
                    &schedule_ref("primary"),
                    bad("ghost@example.com", 1, 2),
                    t0()
                )
                .await
        ),
        ["user"]
    );
    assert_eq!(
        invalid_fields(
            oncall
                .add_override(
                    &schedule_ref("primary"),
                    bad("carol@example.com", 2, 2),
                    t0()
                )
                .await
        ),
        ["end"]
    );
    assert_eq!(
        invalid_fields(
            oncall
                .add_override(
                    &schedule_ref("primary"),
                    bad("carol@example.com", 3, 1),
                    t0()
                )
                .await
        ),
        ["end"]
    );
    assert!(matches!(
        oncall
            .add_override(&schedule_ref("nope"), bad("carol@example.com", 1, 2), t0())
            .await,
        Err(StoreError::NotFound { .. })
    ));

    oncall
        .create_schedule(daily_schedule("other", &[&alice.id]), t0())
        .await
        .unwrap();
    assert!(
        matches!(
            oncall
                .delete_override(&schedule_ref("other"), &first.id, t0())
                .await,
            Err(StoreError::NotFound { .. })
        ),
        "an override is removed through its own schedule"
    );
    oncall
        .delete_override(&schedule_ref("primary"), &first.id, t0())
        .await
        .unwrap();
    assert!(matches!(
        oncall
            .delete_override(&schedule_ref("primary"), &first.id, t0())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        oncall
            .get_schedule(&schedule_ref("primary"))
            .await
            .unwrap()
            .overrides,
        [second]
    );
    assert!(
        oncall
            .schedules_of_user(&user_ref("carol@example.com"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn calendar_feeds(store: &dyn Store) {
    let alice = store
        .users()
        .create(new_user("Alice", "alice@example.com"), t0())
        .await
        .unwrap();
    let oncall = store.oncall();
    let s = oncall
        .create_schedule(daily_schedule("primary", &[&alice.id]), t0())
        .await
        .unwrap();
    let new = |subject: FeedSubject, secret: &str| NewFeed {
        subject,
        token_hash: hash_secret(secret),
        token_prefix: secret.chars().take(4).collect(),
    };
    let by_schedule = oncall
        .create_feed(
            new(FeedSubject::Schedule(s.id.clone()), "schedule-secret"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(by_schedule.subject, FeedSubject::Schedule(s.id.clone()));
    assert_eq!(by_schedule.token_prefix, "sche");
    assert_eq!(by_schedule.revoked_at, None);
    let by_user = oncall
        .create_feed(
            new(FeedSubject::User(alice.id.clone()), "user-secret"),
            t0(),
        )
        .await
        .unwrap();
    assert!(matches!(
        oncall
            .create_feed(
                new(
                    FeedSubject::Schedule(tocsin_domain::ids::ScheduleId::generate()),
                    "x"
                ),
                t0()
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        oncall
            .create_feed(
                new(
                    FeedSubject::User(tocsin_domain::ids::UserId::generate()),
                    "y"
                ),
                t0()
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));

    assert_eq!(
        oncall
            .feed_by_token(&hash_secret("schedule-secret"))
            .await
            .unwrap(),
        Some(by_schedule.clone())
    );
    assert_eq!(
        oncall.feed_by_token(&hash_secret("guess")).await.unwrap(),
        None
    );
    // Both were created at the same instant: their order is the ID's, not the order of insertion.
    let mut both = vec![by_schedule.clone(), by_user.clone()];
    both.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(oncall.list_feeds(None).await.unwrap(), both);
    assert_eq!(
        oncall
            .list_feeds(Some(FeedSubject::User(alice.id.clone())))
            .await
            .unwrap(),
        std::slice::from_ref(&by_user)
    );

    let revoked = oncall
        .revoke_feed(&by_user.id, t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(t0() + Duration::minutes(1)));
    assert_eq!(
        oncall
            .feed_by_token(&hash_secret("user-secret"))
            .await
            .unwrap(),
        None,
        "a revoked URL stops answering at once"
    );
    let again = oncall
        .revoke_feed(&by_user.id, t0() + Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "revoking twice is harmless"
    );
    assert!(matches!(
        oncall
            .revoke_feed(&tocsin_domain::ids::FeedId::generate(), t0())
            .await,
        Err(StoreError::NotFound { .. })
    ));

    oncall
        .delete_schedule(&schedule_ref("primary"))
        .await
        .unwrap();
    assert_eq!(
        oncall.list_feeds(None).await.unwrap(),
        [again],
        "a schedule's feeds go with it"
    );
}

/// References as a test writes them.
pub mod refs {
    pub use tocsin_domain::refs::{
        IncidentRef, PolicyRef, ScheduleRef, ServiceRef, TeamRef, UserRef,
    };

    pub fn service_ref(s: &str) -> ServiceRef {
        ServiceRef::parse(s)
    }
    pub fn team_ref(s: &str) -> TeamRef {
        TeamRef::parse(s)
    }
    pub fn policy_ref(s: &str) -> PolicyRef {
        PolicyRef::parse(s)
    }
    pub fn schedule_ref(s: &str) -> ScheduleRef {
        ScheduleRef::parse(s)
    }
    pub fn user_ref(s: &str) -> UserRef {
        UserRef::parse(s)
    }
    pub fn incident_ref(s: &str) -> IncidentRef {
        IncidentRef::parse(s).unwrap_or_else(|| panic!("{s:?} names no incident"))
    }
}

pub async fn related_incidents_are_linked_on_both_sides(store: &dyn Store) {
    let declare = |title: &str| NewIncident {
        title: title.into(),
        description: String::new(),
        severity: Severity::Sev3,
        services: vec![],
    };
    let incidents = store.incidents();
    let a = incidents
        .declare(declare("Checkout slow"), user(), t0())
        .await
        .unwrap();
    let b = incidents
        .declare(declare("Payments slow"), user(), t0())
        .await
        .unwrap();
    let link = IncidentChanges {
        add_related: vec![b.number.to_string()],
        ..IncidentChanges::default()
    };
    let linked = incidents
        .edit(&incident_ref(a.id.as_str()), link.clone(), user(), t0())
        .await
        .unwrap();
    assert_eq!(linked.related, vec![b.number]);
    let other = incidents.get(&incident_ref(b.id.as_str())).await.unwrap();
    assert_eq!(other.related, vec![a.number], "linked back");
    let entries = incidents
        .timeline(&incident_ref(b.id.as_str()))
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|r| matches!(&r.entry.event, TimelineEvent::Edited { .. })),
        "the other incident's timeline says so"
    );
    // Linking again changes nothing; an unknown incident or the incident itself is refused.
    incidents
        .edit(&incident_ref(a.id.as_str()), link, user(), t0())
        .await
        .unwrap();
    for bad in ["999", &a.number.to_string()] {
        let refused = IncidentChanges {
            add_related: vec![bad.to_owned()],
            ..IncidentChanges::default()
        };
        assert!(
            matches!(
                incidents
                    .edit(&incident_ref(a.id.as_str()), refused, user(), t0())
                    .await,
                Err(StoreError::Invalid(_))
            ),
            "{bad}"
        );
    }
    let unlink = IncidentChanges {
        remove_related: vec![a.number.to_string()],
        ..IncidentChanges::default()
    };
    incidents
        .edit(&incident_ref(b.id.as_str()), unlink, user(), t0())
        .await
        .unwrap();
    let (a, b) = (
        incidents.get(&incident_ref(a.id.as_str())).await.unwrap(),
        incidents.get(&incident_ref(b.id.as_str())).await.unwrap(),
    );
    assert!(
        a.related.is_empty() && b.related.is_empty(),
        "unlinked on both sides"
    );
}

pub async fn an_incidents_course_is_kept_with_its_corrected_times(store: &dyn Store) {
    use tocsin_domain::incident::{Milestone, Stage};
    let declared = store
        .incidents()
        .declare(
            NewIncident {
                title: "Errors".into(),
                description: String::new(),
                severity: Severity::Sev2,
                services: vec![],
            },
            user(),
            t0(),
        )
        .await
        .unwrap();
    let r = incident_ref(declared.id.as_str());
    assert_eq!(
        (declared.stage, declared.milestones.detected),
        (Stage::Investigating, Some(t0()))
    );
    let later = t0() + Duration::minutes(20);
    let changes = IncidentChanges {
        stage: Some(Stage::Monitoring),
        milestones: [(Milestone::ImpactStarted, Some(t0() - Duration::minutes(15)))].into(),
        ..IncidentChanges::default()
    };
    store
        .incidents()
        .edit(&r, changes, user(), later)
        .await
        .unwrap();
    store
        .incidents()
        .acknowledge(&r, user(), later)
        .await
        .unwrap();
    let read = store.incidents().get(&r).await.unwrap();
    assert_eq!(read.stage, Stage::Monitoring);
    assert_eq!(
        (
            read.milestones.impact_started,
            read.milestones.detected,
            read.milestones.mitigated,
            read.milestones.acknowledged
        ),
        (
            Some(t0() - Duration::minutes(15)),
            Some(t0()),
            Some(later),
            Some(later)
        ),
        "what was recorded, what happened and what people said, all kept"
    );
    let listed = store
        .incidents()
        .list(IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.items[0].milestones, read.milestones,
        "lists read the same"
    );
    let refused = IncidentChanges {
        milestones: [(Milestone::Detected, None)].into(),
        ..IncidentChanges::default()
    };
    assert!(matches!(
        store.incidents().edit(&r, refused, user(), later).await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn incidents_are_edited_with_every_change_on_the_timeline(store: &dyn Store) {
    use tocsin_domain::catalog::HttpUrl;
    use tocsin_domain::incident::{IncidentLink, TimelineEvent};
    use tocsin_domain::severity::Severity;
    use tocsin_domain::timeline::Edit;
    arbitrary_service_with_key(store, "web").await;
    arbitrary_service_with_key(store, "db").await;
    let declared = store
        .incidents()
        .declare(
            NewIncident {
                title: "Errors".into(),
                description: String::new(),
                severity: Severity::Sev3,
                services: vec![service_ref("web")],
            },
            user(),
            t0(),
        )
        .await
        .unwrap();
    let r = incident_ref(declared.id.as_str());
    let dash = IncidentLink {
        url: HttpUrl::parse("https://grafana.example.com/d/web").unwrap(),
        label: "Dashboard".into(),
    };
    let edited = store
        .incidents()
        .edit(
            &r,
            IncidentChanges {
                title: Some("  Checkout errors  ".into()),
                severity: Some(Severity::Sev2),
                customer_impact: Some("Some payments fail".into()),
                add_services: vec![service_ref("db")],
                remove_services: vec![service_ref("web")],
                add_links: vec![dash.clone()],
                ..IncidentChanges::default()
            },
            user(),
            t0(),
        )
        .await
        .unwrap();
    let db = store.services().get(&service_ref("db")).await.unwrap().id;
    assert_eq!(edited.title, "Checkout errors");
    assert_eq!(edited.severity, Severity::Sev2);
    assert_eq!(edited.services, vec![db]);
    assert_eq!(edited.links, vec![dash.clone()]);
    assert_eq!(
        store.incidents().get(&r).await.unwrap(),
        edited,
        "as stored"
    );
    let events: Vec<TimelineEvent> = store
        .incidents()
        .timeline(&r)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.entry.event)
        .collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TimelineEvent::SeverityChanged { .. }))
    );
    assert!(events.contains(&TimelineEvent::Edited {
        changes: vec![
            Edit::Title {
                from: "Errors".into(),
                to: "Checkout errors".into()
            },
            Edit::CustomerImpact {
                to: "Some payments fail".into()
            },
            Edit::ServiceAdded {
                service: "db".into()
            },
            Edit::ServiceRemoved {
                service: "web".into()
            },
            Edit::LinkAdded { link: dash.clone() },
        ]
    }));
    let bad = store
        .incidents()
        .edit(
            &r,
            IncidentChanges {
                title: Some(" ".into()),
                add_services: vec![service_ref("nope")],
                ..IncidentChanges::default()
            },
            user(),
            t0(),
        )
        .await;
    assert_eq!(invalid_fields(bad), ["title", "add_services[0]"]);
    let unchanged = store
        .incidents()
        .edit(
            &r,
            IncidentChanges {
                remove_links: vec![dash.url.clone()],
                ..IncidentChanges::default()
            },
            user(),
            t0(),
        )
        .await
        .unwrap();
    assert!(unchanged.links.is_empty());
}

pub async fn incidents_merge_into_the_one_that_carries_on(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "api").await;
    store.services().create(service("web"), t0()).await.unwrap();
    let opened = store
        .ingest()
        .event(&key, trigger("db-down", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    let first = store
        .incidents()
        .get(&IncidentRef::Id(opened.incident_id.unwrap()))
        .await
        .unwrap();
    let declared = |title: &str, severity| NewIncident {
        title: title.into(),
        description: String::new(),
        severity,
        services: vec![service_ref("web")],
    };
    let second = store
        .incidents()
        .declare(declared("Web errors", Severity::Sev3), user(), t0())
        .await
        .unwrap();
    let ann = paging::person(store, "ann").await;
    store
        .roles()
        .join(
            &incident_ref(&first.number.to_string()),
            &UserRef::Id(ann.clone()),
            user(),
            t0(),
        )
        .await
        .unwrap();
    let (one, two) = (
        incident_ref(&first.number.to_string()),
        incident_ref(&second.number.to_string()),
    );
    let later = t0() + Duration::minutes(5);

    let survivor = store
        .incidents()
        .merge(&one, &two, user(), later)
        .await
        .unwrap();
    assert_eq!(
        survivor.severity,
        Severity::Sev1,
        "as severe as the worse of the two"
    );
    assert_eq!(survivor.services.len(), 2, "{:?}", survivor.services);
    let merged = store.incidents().get(&one).await.unwrap();
    assert_eq!(
        (merged.status, merged.merged_into),
        (IncidentStatus::Resolved, Some(second.number))
    );
    let alerts = store.incidents().alerts(&two).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(store.incidents().alerts(&one).await.unwrap().is_empty());
    let responders = store.roles().responders(&two).await.unwrap();
    assert!(
        responders.iter().any(|r| r.user_id == ann),
        "{responders:?}"
    );

    // The survivor's timeline holds the merged one's history, in order, and says what was merged.
    let kinds: Vec<(bool, TimelineKind)> = store
        .incidents()
        .timeline(&two)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.incident_id == merged.id, r.entry.event.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            (true, TimelineKind::Opened),
            (true, TimelineKind::Unassigned),
            (false, TimelineKind::Opened),
            (false, TimelineKind::Unassigned),
            (true, TimelineKind::ResponderJoined),
            (false, TimelineKind::Merged),
            (false, TimelineKind::SeverityChanged),
            (true, TimelineKind::Resolved),
        ]
    );
    let own: Vec<TimelineKind> = store
        .incidents()
        .timeline(&one)
        .await
        .unwrap()
        .iter()
        .map(|r| r.entry.event.kind())
        .collect();
    assert!(
        own.ends_with(&[TimelineKind::MergedInto, TimelineKind::Resolved]),
        "{own:?}"
    );

    // What cannot be merged says why.
    let third = store
        .incidents()
        .declare(declared("Later", Severity::Sev2), user(), later)
        .await
        .unwrap();
    let three = incident_ref(&third.number.to_string());
    for (from, into, expected) in [
        (&two, &two, "cannot be merged into itself"),
        (&one, &three, "was merged into #2 already"),
        (&three, &one, "merge into #2 instead"),
    ] {
        match store.incidents().merge(from, into, user(), later).await {
            Err(StoreError::Transition(e)) => assert!(e.to_string().contains(expected), "{e}"),
            other => panic!("{other:?}"),
        }
    }
    store
        .incidents()
        .resolve(&two, user(), later)
        .await
        .unwrap();
    match store.incidents().merge(&three, &two, user(), later).await {
        Err(StoreError::Transition(e)) => assert!(e.to_string().contains("is resolved"), "{e}"),
        other => panic!("{other:?}"),
    }
}
