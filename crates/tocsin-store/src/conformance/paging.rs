//! Conformance of escalation, contact methods, the delivery outbox, leases and heartbeats.

use super::{
    arbitrary_service_with_key, daily_schedule, invalid_fields, new_user, t0, trigger, user,
};
use crate::conformance::refs::*;
use crate::*;
use chrono::Duration;
use tocsin_domain::alert::AlertStatus;
use tocsin_domain::auth::hash_secret;
use tocsin_domain::contact::{
    ContactMethodSpec, ContactTarget, NotificationRuleSpec, Purpose, Urgency,
};
use tocsin_domain::escalation::{EscalationLevel, EscalationPolicySpec, EscalationTarget};
use tocsin_domain::ids::UserId;
use tocsin_domain::incident::{IncidentStatus, TransitionError};
use tocsin_domain::integration::HeartbeatConfig;
use tocsin_domain::severity::AlertSeverity;

pub fn hook(name: &str) -> ContactMethodSpec {
    ContactMethodSpec {
        name: name.into(),
        target: ContactTarget::Webhook {
            url: tocsin_domain::catalog::HttpUrl::parse(&format!("http://127.0.0.1:9/{name}"))
                .unwrap(),
            secret: Some(tocsin_domain::webhook::generate_secret()),
        },
        enabled: true,
    }
}

pub fn policy(name: &str, levels: &[(u32, Vec<EscalationTarget>)]) -> EscalationPolicySpec {
    EscalationPolicySpec {
        name: name.into(),
        description: String::new(),
        repeat: 0,
        levels: levels
            .iter()
            .map(|(d, t)| EscalationLevel {
                delay_minutes: *d,
                targets: t.clone(),
            })
            .collect(),
        team: None,
    }
}

/// A new service paged by a new policy; returns the service's key hash.
pub async fn service_paged_by(
    store: &dyn Store,
    service: &str,
    spec: EscalationPolicySpec,
) -> String {
    let name = spec.name.clone();
    store.escalation().create_policy(spec, t0()).await.unwrap();
    let key = arbitrary_service_with_key(store, service).await;
    store
        .escalation()
        .set_service_policy(&service_ref(service), Some(name.as_str().into()))
        .await
        .unwrap();
    key
}

/// An incident declared by hand on no service, as from a customer report.
async fn declared_without_service(
    store: &dyn Store,
    at: chrono::DateTime<chrono::Utc>,
) -> tocsin_domain::incident::Incident {
    store
        .incidents()
        .declare(
            NewIncident {
                title: "Customers report errors".into(),
                description: String::new(),
                severity: tocsin_domain::severity::Severity::Sev2,
                services: vec![],
            },
            user(),
            at,
        )
        .await
        .unwrap()
}

/// The incident a new alert opened (or joined).
pub async fn incident_opened(
    store: &dyn Store,
    key: &str,
    dedup_key: &str,
    severity: AlertSeverity,
    at: chrono::DateTime<chrono::Utc>,
) -> tocsin_domain::ids::IncidentId {
    store
        .ingest()
        .event(key, trigger(dedup_key, severity), at)
        .await
        .unwrap()
        .incident_id
        .expect("the alert opened or joined an incident")
}

/// A user with a webhook contact method, so that a page reaches them.
pub async fn reachable_person(store: &dyn Store, name: &str) -> UserId {
    let id = person(store, name).await;
    store
        .contacts()
        .create_method(&user_ref(id.as_str()), hook(id.as_str()), t0())
        .await
        .unwrap();
    id
}

pub async fn person(store: &dyn Store, name: &str) -> UserId {
    store
        .users()
        .create(new_user(name, &format!("{name}@example.test")), t0())
        .await
        .unwrap()
        .id
}

pub async fn escalation_policies(store: &dyn Store) {
    let ann = person(store, "ann").await;
    let missing = tocsin_domain::ids::ScheduleId::generate();
    let fields = invalid_fields(
        store
            .escalation()
            .create_policy(
                policy(
                    "p",
                    &[(
                        5,
                        vec![
                            EscalationTarget::User(ann.clone()),
                            EscalationTarget::Schedule(missing),
                        ],
                    )],
                ),
                t0(),
            )
            .await,
    );
    assert_eq!(fields, ["levels[0].targets[1]"]);
    let p = store
        .escalation()
        .create_policy(
            policy("p", &[(5, vec![EscalationTarget::User(ann.clone())])]),
            t0(),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .escalation()
            .create_policy(
                policy("p", &[(5, vec![EscalationTarget::User(ann.clone())])]),
                t0()
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .escalation()
            .get_policy(&policy_ref("p"))
            .await
            .unwrap()
            .id,
        p.id
    );
    arbitrary_service_with_key(store, "api").await;
    store
        .escalation()
        .set_service_policy(&service_ref("api"), Some("p".into()))
        .await
        .unwrap();
    assert_eq!(
        store
            .escalation()
            .service_policy(&service_ref("api"))
            .await
            .unwrap()
            .map(|p| p.name),
        Some("p".into())
    );
    assert!(matches!(
        store.escalation().delete_policy(&policy_ref("p")).await,
        Err(StoreError::Conflict(Conflict::InUse { by: Dependents::Services(s), .. })) if s == ["api"]
    ));
    // A user a policy pages cannot be deleted out from under it.
    assert!(matches!(
        store.users().delete(&user_ref(ann.as_str()), t0()).await,
        Err(StoreError::Conflict(Conflict::InUse {
            by: Dependents::Policies(_),
            ..
        }))
    ));
    // A deleted service lets go of its policy.
    store
        .services()
        .delete(&service_ref("api"), t0())
        .await
        .unwrap();
    store
        .escalation()
        .delete_policy(&policy_ref("p"))
        .await
        .unwrap();
    assert!(matches!(
        store.escalation().get_policy(&policy_ref("p")).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// One service paged through schedule → user levels; returns (key hash, the on-call user, the level-2 user).
pub async fn paged_service(store: &dyn Store) -> (String, UserId, UserId) {
    let (ann, ben) = (
        reachable_person(store, "ann").await,
        reachable_person(store, "ben").await,
    );
    let schedule = store
        .oncall()
        .create_schedule(daily_schedule("rota", &[&ann]), t0())
        .await
        .unwrap();
    store
        .escalation()
        .create_policy(
            policy(
                "two",
                &[
                    (5, vec![EscalationTarget::Schedule(schedule.id)]),
                    (10, vec![EscalationTarget::User(ben.clone())]),
                ],
            ),
            t0(),
        )
        .await
        .unwrap();
    let key = arbitrary_service_with_key(store, "web").await;
    store
        .escalation()
        .set_service_policy(&service_ref("web"), Some("two".into()))
        .await
        .unwrap();
    (key, ann, ben)
}

pub async fn escalation_pages_levels_and_stops_on_acknowledge(store: &dyn Store) {
    let (key, ann, ben) = paged_service(store).await;
    let opened = store
        .ingest()
        .event(&key, trigger("boom", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    let incident = opened.incident_id.unwrap();
    let e = store
        .escalation()
        .incident_escalation(&incident_ref(incident.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e.escalation.level, e.escalation.next_at), (0, Some(t0())));

    let fired = store
        .engine()
        .fire_escalations(t0(), 100, Channels::ALL)
        .await
        .unwrap();
    assert_eq!(
        fired,
        Fired {
            unassigned: 0,
            escalations: 1,
            deliveries_planned: 1
        }
    );
    let e = store
        .escalation()
        .incident_escalation(&incident_ref(incident.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.escalation.level, e.escalation.next_at),
        (1, Some(t0() + Duration::minutes(5)))
    );
    assert_eq!(e.assignees, vec![ann.clone()]);
    // The timeline records who the level paged, and how, as facts.
    let timeline = store
        .incidents()
        .timeline(&incident_ref(incident.as_str()))
        .await
        .unwrap();
    let paged_by_level: Vec<_> = timeline
        .iter()
        .filter_map(|r| match &r.entry.event {
            tocsin_domain::incident::TimelineEvent::Escalated {
                level,
                paged: Some(paged),
                next_at,
                ..
            } => Some((*level, paged.clone(), *next_at)),
            _ => None,
        })
        .collect();
    assert_eq!(paged_by_level.len(), 1, "{timeline:?}");
    let (level, paged, next_at) = &paged_by_level[0];
    assert_eq!((*level, *next_at), (0, Some(t0() + Duration::minutes(5))));
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0].user_id, ann);
    assert_eq!(paged[0].methods.len(), 1, "{paged:?}");
    // A policy escalating an open incident cannot be deleted (the service also still uses it).
    assert!(matches!(
        store.escalation().delete_policy(&policy_ref("two")).await,
        Err(StoreError::Conflict(Conflict::StillEscalating {
            incidents: 1,
            ..
        }))
    ));
    // Nothing more is due before the delay.
    let quiet = store
        .engine()
        .fire_escalations(t0() + Duration::minutes(4), 100, Channels::ALL)
        .await
        .unwrap();
    assert_eq!(quiet.escalations, 0);

    let five = t0() + Duration::minutes(5);
    store
        .engine()
        .fire_escalations(five, 100, Channels::ALL)
        .await
        .unwrap();
    let log = store
        .contacts()
        .deliveries(DeliveryFilter {
            incident: Some(incident_ref(&incident.to_string())),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut paged: Vec<&UserId> = log.iter().map(|d| &d.user_id).collect();
    paged.sort();
    let mut expected = vec![&ann, &ben];
    expected.sort();
    assert_eq!(paged, expected);
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Pending));
    assert!(
        matches!(&log[0].purpose, Purpose::Page { incident_id, .. } if *incident_id == incident)
    );

    // Acknowledging stops escalation and cancels what was not sent.
    store
        .incidents()
        .acknowledge(&incident_ref(incident.as_str()), user(), five)
        .await
        .unwrap();
    let e = store
        .escalation()
        .incident_escalation(&incident_ref(incident.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.escalation.next_at, None);
    let log = store
        .contacts()
        .deliveries(DeliveryFilter {
            incident: Some(incident_ref(&incident.to_string())),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        log.iter().all(|d| d.status == DeliveryStatus::Cancelled),
        "{log:?}"
    );
    let later = store
        .engine()
        .fire_escalations(t0() + Duration::hours(5), 100, Channels::ALL)
        .await
        .unwrap();
    assert_eq!(later.escalations, 0);
    let claimed = store
        .engine()
        .claim_deliveries(
            "me",
            t0() + Duration::hours(5),
            Duration::minutes(1),
            100,
            false,
        )
        .await
        .unwrap();
    assert!(claimed.is_empty());

    // Escalating an acknowledged incident by hand pages the level once, now, and escalation stays stopped; a
    // later update of the incident does not cancel that page.
    let e = store
        .escalation()
        .escalate(
            &incident_ref(incident.as_str()),
            Some(1),
            user(),
            Channels::ALL,
            five,
        )
        .await
        .unwrap();
    assert_eq!((e.escalation.level, e.escalation.next_at), (1, None));
    assert_eq!(e.assignees, vec![ben.clone()]);
    store
        .incidents()
        .set_severity(
            &incident_ref(incident.as_str()),
            tocsin_domain::severity::Severity::Sev0,
            user(),
            five,
        )
        .await
        .unwrap();
    let claimed = store
        .engine()
        .claim_deliveries("me", five, Duration::minutes(1), 100, false)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].user_id, ben);
    // Handing the acknowledged incident to another policy unacknowledges it and pages that policy from the top;
    // what was still planned for the previous people is cancelled.
    let e = store
        .escalation()
        .reassign(
            &incident_ref(incident.as_str()),
            Reassignment::Policy("two".into()),
            user(),
            Channels::ALL,
            five,
        )
        .await
        .unwrap();
    assert_eq!((e.escalation.level, e.escalation.next_at), (0, Some(five)));
    let reopened = store
        .incidents()
        .get(&incident_ref(incident.as_str()))
        .await
        .unwrap();
    assert_eq!(reopened.status, IncidentStatus::Triggered);
    assert_eq!(reopened.acknowledged_by, None);
    let fired = store
        .engine()
        .fire_escalations(five, 100, Channels::ALL)
        .await
        .unwrap();
    assert_eq!(fired.escalations, 1, "the reopened incident pages again");
    store
        .incidents()
        .acknowledge(&incident_ref(incident.as_str()), user(), five)
        .await
        .unwrap();
    // Escalating a triggered incident by hand re-arms the policy at the level; a resolved one cannot escalate.
    let other = incident_opened(store, &key, "other", AlertSeverity::Critical, five).await;
    let e = store
        .escalation()
        .escalate(
            &incident_ref(other.as_str()),
            Some(1),
            user(),
            Channels::ALL,
            five,
        )
        .await
        .unwrap();
    assert_eq!((e.escalation.level, e.escalation.next_at), (1, Some(five)));
    store
        .incidents()
        .resolve(&incident_ref(incident.as_str()), user(), five)
        .await
        .unwrap();
    assert!(matches!(
        store
            .escalation()
            .escalate(
                &incident_ref(incident.as_str()),
                None,
                user(),
                Channels::ALL,
                five
            )
            .await,
        Err(StoreError::Transition(TransitionError::EscalatingResolved(
            _
        )))
    ));

    // An incident no policy pages can be handed to people, and remembers to whom; it cannot escalate.
    let declared = declared_without_service(store, five).await;
    assert_eq!(
        store
            .escalation()
            .incident_escalation(&incident_ref(declared.id.as_str()))
            .await
            .unwrap(),
        None
    );
    store
        .escalation()
        .reassign(
            &incident_ref(declared.id.as_str()),
            Reassignment::Users(vec![user_ref(&ann.to_string())]),
            user(),
            Channels::ALL,
            five,
        )
        .await
        .unwrap();
    let e = store
        .escalation()
        .incident_escalation(&incident_ref(declared.id.as_str()))
        .await
        .unwrap()
        .expect("the assignment is kept");
    assert_eq!(
        (e.escalation.policy_id, e.assignees),
        (None, vec![ann.clone()])
    );
    assert!(matches!(
        store
            .escalation()
            .escalate(
                &incident_ref(declared.id.as_str()),
                None,
                user(),
                Channels::ALL,
                five
            )
            .await,
        Err(StoreError::Conflict(Conflict::HandedToPeople { .. }))
    ));
}

pub async fn contact_methods_and_rules(store: &dyn Store) {
    let (ann, ben) = (person(store, "ann").await, person(store, "ben").await);
    let m = store
        .contacts()
        .create_method(&user_ref(ann.as_str()), hook("a"), t0())
        .await
        .unwrap();
    let other = store
        .contacts()
        .create_method(&user_ref(ben.as_str()), hook("b"), t0())
        .await
        .unwrap();
    let fields = invalid_fields(
        store
            .contacts()
            .create_rule(
                &user_ref(ann.as_str()),
                NotificationRuleSpec {
                    contact_method_id: other.id.clone(),
                    urgency: Urgency::High,
                    delay_minutes: 0,
                },
            )
            .await,
    );
    assert_eq!(fields, ["contact_method_id"]);
    store
        .contacts()
        .create_rule(
            &user_ref(ann.as_str()),
            NotificationRuleSpec {
                contact_method_id: m.id.clone(),
                urgency: Urgency::Low,
                delay_minutes: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .contacts()
            .list_rules(&user_ref(ann.as_str()))
            .await
            .unwrap()
            .len(),
        1
    );
    // A replacement without the secret keeps it; a change of kind is refused.
    let mut spec = hook("a2");
    if let ContactTarget::Webhook { secret, .. } = &mut spec.target {
        *secret = None;
    }
    let original_secret = match &m.target {
        ContactTarget::Webhook { secret, .. } => secret.clone(),
        _ => None,
    };
    assert!(original_secret.is_some());
    let replaced = store.contacts().replace_method(&m.id, spec).await.unwrap();
    assert!(
        matches!(&replaced.target, ContactTarget::Webhook { secret, .. } if *secret == original_secret)
    );
    let email = ContactMethodSpec {
        name: "mail".into(),
        target: ContactTarget::Email {
            address: tocsin_domain::catalog::Email::parse("a@example.test").unwrap(),
        },
        enabled: true,
    };
    assert_eq!(
        invalid_fields(store.contacts().replace_method(&m.id, email).await),
        ["target.type"]
    );
    // A test notification is queued, due now.
    let d = store.contacts().send_test(&m.id, t0()).await.unwrap();
    assert_eq!(
        (d.status, d.due_at, d.purpose),
        (DeliveryStatus::Pending, t0(), Purpose::Test)
    );
    // Deleting the method removes its rules.
    store.contacts().delete_method(&m.id).await.unwrap();
    assert!(
        store
            .contacts()
            .list_rules(&user_ref(ann.as_str()))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Contact methods' targets and the action-link key are stored sealed, never as sent; values stored before
/// sealing read back as they are and are sealed at the next start.
pub async fn secrets_are_sealed_at_rest(store: &SqlStore) {
    let ann = person(store, "ann").await;
    let chat_url = "https://hooks.slack.com/services/T0/B0/sekrit";
    let chat = store
        .contacts()
        .create_method(
            &user_ref(ann.as_str()),
            ContactMethodSpec {
                name: "chat".into(),
                target: ContactTarget::Slack {
                    url: tocsin_domain::catalog::HttpUrl::parse(chat_url).unwrap(),
                },
                enabled: true,
            },
            t0(),
        )
        .await
        .unwrap();
    let webhook = store
        .contacts()
        .create_method(&user_ref(ann.as_str()), hook("signed"), t0())
        .await
        .unwrap();
    let ContactTarget::Webhook {
        secret: Some(webhook_secret),
        ..
    } = &webhook.target
    else {
        panic!("a webhook with its secret: {webhook:?}")
    };
    let link_key = store.engine().link_key().await.unwrap();
    let raw = || async {
        store
            .read(|c| {
                let targets = c.query_all(
                    "SELECT target FROM contact_methods ORDER BY created_at, id",
                    params![],
                    |r| r.get::<String>(0),
                )?;
                let key = c.query_one(
                    "SELECT value FROM settings WHERE name = 'link_key'",
                    params![],
                    |r| r.get::<String>(0),
                )?;
                Ok((targets, key))
            })
            .await
            .unwrap()
    };
    let (targets, key) = raw().await;
    assert_eq!(targets.len(), 2);
    for stored in targets.iter().chain([&key]) {
        assert!(crate::secrets::Sealer::is_sealed(stored), "{stored}");
        assert!(
            !stored.contains("sekrit")
                && !stored.contains(webhook_secret.as_str())
                && !stored.contains(&hex::encode(&link_key)),
            "{stored}"
        );
    }
    assert_eq!(store.contacts().get_method(&chat.id).await.unwrap(), chat);
    assert_eq!(store.engine().link_key().await.unwrap(), link_key);

    // Rows from before sealing: read as they are, sealed at the next start, the same afterwards.
    let plain_target = serde_json::to_string(&chat.target).unwrap();
    let plain_key = hex::encode(&link_key);
    let (id, target, hex_key) = (chat.id.to_string(), plain_target.clone(), plain_key.clone());
    store
        .write(move |c| {
            c.execute(
                "UPDATE contact_methods SET target = ?2 WHERE id = ?1",
                params![id, target],
            )?;
            c.execute(
                "UPDATE settings SET value = ?1 WHERE name = 'link_key'",
                params![hex_key],
            )
        })
        .await
        .unwrap();
    assert_eq!(store.contacts().get_method(&chat.id).await.unwrap(), chat);
    assert_eq!(store.engine().link_key().await.unwrap(), link_key);
    assert_eq!(store.seal_secrets_at_rest().await.unwrap(), 2);
    assert_eq!(store.seal_secrets_at_rest().await.unwrap(), 0);
    assert!(store.has_secret_key_check().await.unwrap());
    let (targets, key) = raw().await;
    assert!(
        targets
            .iter()
            .chain([&key])
            .all(|s| crate::secrets::Sealer::is_sealed(s)),
        "{targets:?} {key}"
    );
    assert_eq!(store.contacts().get_method(&chat.id).await.unwrap(), chat);
    assert_eq!(store.engine().link_key().await.unwrap(), link_key);
    let claimed_target = store
        .contacts()
        .get_method(&webhook.id)
        .await
        .unwrap()
        .target;
    assert_eq!(claimed_target, webhook.target);

    // A target sealed under another key (restored from another database) leaves that method out, not everyone.
    let foreign = crate::secrets::Sealer::new(&crate::secrets::SecretKey::generate()).seal(
        &format!("contact_methods.target:{}", chat.id),
        &plain_target,
    );
    let id = chat.id.to_string();
    store
        .write(move |c| {
            c.execute(
                "UPDATE contact_methods SET target = ?2 WHERE id = ?1",
                params![id, foreign],
            )
        })
        .await
        .unwrap();
    let listed = store
        .contacts()
        .list_methods(&user_ref(ann.as_str()))
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|m| &m.id).collect::<Vec<_>>(),
        vec![&webhook.id]
    );
    assert!(store.contacts().get_method(&chat.id).await.is_err());
}

pub async fn deliveries_are_claimed_once_retried_and_fall_through(store: &dyn Store) {
    let ann = person(store, "ann").await;
    let first = store
        .contacts()
        .create_method(&user_ref(ann.as_str()), hook("first"), t0())
        .await
        .unwrap();
    let second = store
        .contacts()
        .create_method(&user_ref(ann.as_str()), hook("second"), t0())
        .await
        .unwrap();
    for (m, delay) in [(&first, 0), (&second, 30)] {
        store
            .contacts()
            .create_rule(
                &user_ref(ann.as_str()),
                NotificationRuleSpec {
                    contact_method_id: m.id.clone(),
                    urgency: Urgency::High,
                    delay_minutes: delay,
                },
            )
            .await
            .unwrap();
    }
    let key = service_paged_by(
        store,
        "db",
        policy("solo", &[(5, vec![EscalationTarget::User(ann.clone())])]),
    )
    .await;
    let incident = incident_opened(store, &key, "x", AlertSeverity::Critical, t0()).await;
    store
        .engine()
        .fire_escalations(t0(), 10, Channels::ALL)
        .await
        .unwrap();

    let engine = store.engine();
    let claim = |holder: &'static str, at, release| async move {
        engine
            .claim_deliveries(holder, at, Duration::minutes(1), 10, release)
            .await
            .unwrap()
    };
    let claimed = claim("a", t0(), false).await;
    assert_eq!(claimed.len(), 1, "only the rule due now");
    let d = &claimed[0];
    assert_eq!(d.attempt, 1);
    assert_eq!(d.user_id, ann);
    assert_eq!(d.incident.as_ref().map(|i| &i.id), Some(&incident));
    assert!(matches!(&d.target, Some(ContactTarget::Webhook { .. })));
    // Claimed work is not handed out again while the claim lasts, but is once it lapses.
    assert!(
        claim("b", t0() + Duration::seconds(30), false)
            .await
            .is_empty()
    );
    let again = claim("b", t0() + Duration::seconds(61), false).await;
    assert_eq!((again.len(), again[0].attempt), (1, 2));
    // The stale first attempt cannot finish it; the current one can.
    let retry_at = t0() + Duration::minutes(2);
    engine
        .finish_deliveries(vec![
            DeliveryResult {
                id: d.id.clone(),
                attempt: 1,
                at: t0() + Duration::seconds(62),
                outcome: AttemptOutcome::Delivered {
                    detail: "late".into(),
                },
            },
            DeliveryResult {
                id: d.id.clone(),
                attempt: 2,
                at: t0() + Duration::seconds(62),
                outcome: AttemptOutcome::Retry {
                    error: "503".into(),
                    next_at: retry_at,
                },
            },
        ])
        .await
        .unwrap();
    let record = store.contacts().delivery(&d.id).await.unwrap();
    assert_eq!(
        (record.status, record.due_at),
        (DeliveryStatus::Pending, retry_at)
    );
    assert_eq!(record.attempts.len(), 2, "both attempts are logged");
    assert!(
        claim("a", retry_at - Duration::seconds(1), false)
            .await
            .is_empty()
    );
    let third = claim("a", retry_at, false).await;
    assert_eq!(third[0].attempt, 3);
    // Giving up brings the next rule's notification forward from its 30-minute delay.
    engine
        .finish_deliveries(vec![DeliveryResult {
            id: d.id.clone(),
            attempt: 3,
            at: retry_at,
            outcome: AttemptOutcome::Failed {
                error: "410 gone".into(),
            },
        }])
        .await
        .unwrap();
    assert_eq!(
        store.contacts().delivery(&d.id).await.unwrap().status,
        DeliveryStatus::Failed
    );
    let next = claim("a", retry_at, false).await;
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].id, d.id);
    let timeline = store
        .incidents()
        .timeline(&incident_ref(incident.as_str()))
        .await
        .unwrap();
    assert!(
        timeline.iter().any(|r| matches!(
            &r.entry.event,
            tocsin_domain::incident::TimelineEvent::Notification {
                result: tocsin_domain::timeline::AttemptResult::GaveUp { .. },
                fell_through_to: Some(next),
                ..
            } if next == "webhook"
        )),
        "{timeline:?}"
    );
    // A new lease holder takes back the claims of one that is gone.
    assert!(claim("c", retry_at, false).await.is_empty());
    let taken = claim("c", retry_at, true).await;
    assert_eq!(taken.len(), 1);
    // Acknowledged while that send is under way: a retryable failure is not retried, nor replaced by another
    // method.
    store
        .incidents()
        .acknowledge(&incident_ref(incident.as_str()), user(), retry_at)
        .await
        .unwrap();
    engine
        .finish_deliveries(vec![DeliveryResult {
            id: taken[0].id.clone(),
            attempt: taken[0].attempt,
            at: retry_at,
            outcome: AttemptOutcome::Retry {
                error: "503".into(),
                next_at: retry_at + Duration::seconds(5),
            },
        }])
        .await
        .unwrap();
    assert_eq!(
        store
            .contacts()
            .delivery(&taken[0].id)
            .await
            .unwrap()
            .status,
        DeliveryStatus::Cancelled
    );
    assert!(
        claim("c", retry_at + Duration::hours(1), false)
            .await
            .is_empty()
    );
}

pub async fn engine_lease_is_exclusive(store: &dyn Store) {
    let e = store.engine();
    let ttl = Duration::seconds(15);
    assert_eq!(
        e.acquire_lease("engine", "a", ttl).await.unwrap(),
        Lease::Held { fresh: true }
    );
    assert_eq!(
        e.acquire_lease("engine", "a", ttl).await.unwrap(),
        Lease::Held { fresh: false }
    );
    assert!(matches!(
        e.acquire_lease("engine", "b", ttl).await.unwrap(),
        Lease::HeldElsewhere { holder, .. } if holder == "a"
    ));
    e.release_lease("engine", "a").await.unwrap();
    assert_eq!(
        e.acquire_lease("engine", "b", ttl).await.unwrap(),
        Lease::Held { fresh: true }
    );
    // Taken for no time at all, b's lease has run out by the database's clock at once, and a takes over.
    e.release_lease("engine", "b").await.unwrap();
    assert_eq!(
        e.acquire_lease("engine", "b", Duration::zero())
            .await
            .unwrap(),
        Lease::Held { fresh: true }
    );
    assert_eq!(
        e.acquire_lease("engine", "a", ttl).await.unwrap(),
        Lease::Held { fresh: true }
    );
    let key = e.link_key().await.unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(
        e.link_key().await.unwrap(),
        key,
        "one key for the life of the database"
    );
}

pub async fn heartbeats_open_and_resolve_alerts(store: &dyn Store) {
    store
        .services()
        .create(super::service("cron"), t0())
        .await
        .unwrap();
    let key_hash = hash_secret("beat-key");
    store
        .integrations()
        .create(
            NewIntegration {
                service: "cron".into(),
                kind: IntegrationKind::Heartbeat,
                name: "nightly".into(),
                key_hash: key_hash.clone(),
                key_prefix: "beat".into(),
                config: IntegrationConfig {
                    heartbeat: Some(HeartbeatConfig {
                        interval_seconds: 60,
                        grace_seconds: 30,
                    }),
                    ..Default::default()
                },
            },
            t0(),
        )
        .await
        .unwrap();
    // Never beaten: missed 90 s after creation.
    assert_eq!(
        store
            .engine()
            .fire_heartbeats(t0() + Duration::seconds(89))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .engine()
            .fire_heartbeats(t0() + Duration::seconds(90))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .engine()
            .fire_heartbeats(t0() + Duration::seconds(500))
            .await
            .unwrap(),
        0,
        "fires once"
    );
    let open = store
        .alerts()
        .list(AlertFilter {
            statuses: vec![AlertStatus::Triggered],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    assert!(open.items[0].incident_id.is_some());
    let back = t0() + Duration::seconds(600);
    let status = store.ingest().beat(&key_hash, back).await.unwrap();
    assert!(status.recovered);
    assert_eq!(status.next_due, back + Duration::seconds(90));
    let alert = store.alerts().get(&open.items[0].id).await.unwrap();
    assert_eq!(alert.status, AlertStatus::Resolved);
    let incident = store
        .incidents()
        .get(&incident_ref(alert.incident_id.unwrap().as_str()))
        .await
        .unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    // A beat on a key of another kind is refused.
    let pd = arbitrary_service_with_key(store, "other").await;
    assert!(store.ingest().beat(&pd, back).await.is_err());
}

/// The timeline entries of one incident, as events.
async fn events_of(
    store: &dyn Store,
    incident: &str,
) -> Vec<tocsin_domain::incident::TimelineEvent> {
    store
        .incidents()
        .timeline(&incident_ref(incident))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry.event)
        .collect()
}

pub async fn nobody_is_paged_silently(store: &dyn Store) {
    use tocsin_domain::incident::TimelineEvent;
    use tocsin_domain::timeline::Unreached;
    let (ann, ben, carl) = (
        person(store, "ann").await,
        person(store, "ben").await,
        person(store, "carl").await,
    );
    // Ann has no contact method; Ben a webhook; Carl only SMS, which this server cannot send.
    store
        .contacts()
        .create_method(&user_ref(ben.as_str()), hook("ben"), t0())
        .await
        .unwrap();
    store
        .contacts()
        .create_method(
            &user_ref(carl.as_str()),
            ContactMethodSpec {
                name: "phone".into(),
                target: ContactTarget::Sms {
                    number: tocsin_domain::contact::PhoneNumber::parse("+15551234567").unwrap(),
                },
                enabled: true,
            },
            t0(),
        )
        .await
        .unwrap();
    let no_sms = Channels {
        sms: false,
        ..Channels::ALL
    };
    let mut later: tocsin_domain::oncall::ScheduleSpec = daily_schedule("later", &[&ann]);
    later.layers[0].start = "2030-01-01T00:00:00".parse().unwrap();
    let later = store.oncall().create_schedule(later, t0()).await.unwrap();
    let mut silent = policy(
        "silent",
        &[
            (5, vec![EscalationTarget::Schedule(later.id.clone())]),
            (10, vec![EscalationTarget::User(ann.clone())]),
            (15, vec![EscalationTarget::User(carl.clone())]),
        ],
    );
    silent.repeat = 1;
    let key = service_paged_by(store, "quiet", silent).await;

    // Each level that reaches nobody hands over to the next at once; after the whole pass, the incident is
    // unassigned, and the next pass waits the last level's delay.
    let incident = incident_opened(store, &key, "boom", AlertSeverity::Critical, t0()).await;
    let fired = store
        .engine()
        .fire_escalations(t0(), 100, no_sms)
        .await
        .unwrap();
    assert_eq!(
        fired,
        Fired {
            escalations: 3,
            deliveries_planned: 0,
            unassigned: 1
        }
    );
    let get = |id: tocsin_domain::ids::IncidentId| async move {
        store
            .incidents()
            .get(&incident_ref(id.as_str()))
            .await
            .unwrap()
    };
    assert_eq!(get(incident.clone()).await.unassigned_since, Some(t0()));
    let events = events_of(store, incident.as_str()).await;
    let escalated: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TimelineEvent::Escalated { level, next_at, .. } => Some((*level, *next_at)),
            _ => None,
        })
        .collect();
    assert_eq!(
        escalated,
        [
            (0, Some(t0())),
            (1, Some(t0())),
            (2, Some(t0() + Duration::minutes(15)))
        ]
    );
    assert!(events.contains(&TimelineEvent::Unassigned {
        why: Unreached::NobodyReached {
            policy: "silent".into()
        },
        fallback: None
    }));

    // A fallback policy takes it on the next pass that reaches nobody, and pages at once; while it is the
    // fallback it cannot be deleted.
    store
        .escalation()
        .create_policy(
            policy("backup", &[(5, vec![EscalationTarget::User(ben.clone())])]),
            t0(),
        )
        .await
        .unwrap();
    let settings = store
        .escalation()
        .set_fallback_policy(Some("backup".into()))
        .await
        .unwrap();
    assert_eq!(settings.fallback_policy.unwrap().name, "backup");
    assert!(matches!(
        store
            .escalation()
            .delete_policy(&policy_ref("backup"))
            .await,
        Err(StoreError::Conflict(Conflict::InUse {
            by: Dependents::Fallback,
            ..
        }))
    ));
    let next_pass = t0() + Duration::minutes(15);
    let fired = store
        .engine()
        .fire_escalations(next_pass, 100, no_sms)
        .await
        .unwrap();
    assert_eq!(
        (
            fired.escalations,
            fired.deliveries_planned,
            fired.unassigned
        ),
        (4, 1, 0),
        "three levels of silent, then the fallback's first"
    );
    let e = store
        .escalation()
        .incident_escalation(&incident_ref(incident.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.policy_name.as_str(), e.assignees.clone()),
        ("backup", vec![ben.clone()])
    );
    assert_eq!(get(incident.clone()).await.unassigned_since, None);
    // The backup policy's own timer carries on, and the handed-over row stays on the fallback.
    store
        .engine()
        .fire_escalations(next_pass + Duration::minutes(5), 100, no_sms)
        .await
        .unwrap();
    assert_eq!(
        store
            .escalation()
            .incident_escalation(&incident_ref(incident.as_str()))
            .await
            .unwrap()
            .unwrap()
            .policy_name,
        "backup"
    );

    // A service without a policy: the incident is unassigned from the start and the fallback pages it.
    let orphan_key = arbitrary_service_with_key(store, "orphan").await;
    let orphan = store
        .ingest()
        .event(
            &orphan_key,
            trigger("lost", AlertSeverity::Critical),
            next_pass,
        )
        .await
        .unwrap()
        .incident_id
        .unwrap();
    assert_eq!(get(orphan.clone()).await.unassigned_since, Some(next_pass));
    assert!(
        events_of(store, orphan.as_str())
            .await
            .contains(&TimelineEvent::Unassigned {
                why: Unreached::NoPolicy {
                    service: "orphan".into()
                },
                fallback: Some("backup".into())
            })
    );
    let fired = store
        .engine()
        .fire_escalations(next_pass, 100, no_sms)
        .await
        .unwrap();
    assert_eq!((fired.escalations, fired.deliveries_planned), (1, 1));
    assert_eq!(get(orphan).await.unassigned_since, None);

    // Without a fallback, an incident declared without a service has nobody until someone acknowledges it.
    store.escalation().set_fallback_policy(None).await.unwrap();
    assert_eq!(
        store.escalation().paging_settings().await.unwrap(),
        PagingSettingsRecord::default()
    );
    let declared = declared_without_service(store, next_pass).await;
    assert_eq!(declared.unassigned_since, Some(next_pass));
    assert!(
        events_of(store, declared.id.as_str())
            .await
            .contains(&TimelineEvent::Unassigned {
                why: Unreached::NoService,
                fallback: None
            })
    );
    store
        .incidents()
        .acknowledge(&incident_ref(declared.id.as_str()), user(), next_pass)
        .await
        .unwrap();
    assert_eq!(get(declared.id).await.unassigned_since, None);
}

pub async fn policies_page_a_teams_members_or_its_on_call(store: &dyn Store) {
    let (ann, ben, cat) = (
        reachable_person(store, "ann").await,
        reachable_person(store, "ben").await,
        reachable_person(store, "cat").await,
    );
    let team = store
        .teams()
        .create(
            serde_json::from_value(serde_json::json!({
                "name": "payments",
                "members": ["ann@example.test", "ben@example.test"],
            }))
            .unwrap(),
            t0(),
        )
        .await
        .unwrap();
    // Cat is on call in the team's rotation, though not a member.
    let mut rota = daily_schedule("pay-rota", &[&cat]);
    rota.team = Some("payments".into());
    let rota = store.oncall().create_schedule(rota, t0()).await.unwrap();
    assert_eq!(rota.team_id, Some(team.id.clone()));
    let key = service_paged_by(
        store,
        "ledger",
        policy(
            "team",
            &[
                (5, vec![EscalationTarget::TeamOnCall(team.id.clone())]),
                (5, vec![EscalationTarget::Team(team.id.clone())]),
            ],
        ),
    )
    .await;
    let incident = incident_opened(store, &key, "boom", AlertSeverity::Critical, t0()).await;
    let incident = &incident;
    let assignees_after = |at| async move {
        store
            .engine()
            .fire_escalations(at, 100, Channels::ALL)
            .await
            .unwrap();
        let mut a = store
            .escalation()
            .incident_escalation(&incident_ref(incident.as_str()))
            .await
            .unwrap()
            .unwrap()
            .assignees;
        a.sort();
        a
    };
    assert_eq!(assignees_after(t0()).await, vec![cat.clone()]);
    let mut members = vec![ann, ben];
    members.sort();
    assert_eq!(assignees_after(t0() + Duration::minutes(5)).await, members);
    // A team a policy pages cannot be deleted; its schedule outlives it otherwise.
    assert!(matches!(
        store.teams().delete(&team_ref("payments")).await,
        Err(StoreError::Conflict(Conflict::InUse {
            by: Dependents::Policies(_),
            ..
        }))
    ));
    // Who is on call, as the API asks it, follows the same rule.
    let (levels, names) = store
        .escalation()
        .resolve_levels(
            vec![vec![EscalationTarget::TeamOnCall(team.id.clone())]],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(levels[0].users, vec![(cat, Some(rota.id.clone()))]);
    assert_eq!(names.get(&rota.id).map(String::as_str), Some("pay-rota"));
}

pub async fn responders_are_paged_beside_the_escalation(store: &dyn Store) {
    let (key, ann, ben) = paged_service(store).await;
    let incident = incident_opened(store, &key, "boom", AlertSeverity::Critical, t0()).await;
    let r = incident_ref(incident.as_str());
    store
        .engine()
        .fire_escalations(t0(), 100, Channels::ALL)
        .await
        .unwrap();
    let before = store
        .escalation()
        .incident_escalation(&r)
        .await
        .unwrap()
        .unwrap();

    let ask = |responders: Responders| {
        let r = r.clone();
        async move {
            store
                .escalation()
                .add_responders(&r, responders, user(), Channels::ALL, t0())
                .await
        }
    };
    let ben_only = || Responders {
        users: vec!["ben@example.test".into()],
        ..Responders::default()
    };
    let paged = ask(ben_only()).await.unwrap();
    assert_eq!(paged.paged.len(), 1);
    assert_eq!(paged.paged[0].user_id, ben);
    let after = store
        .escalation()
        .incident_escalation(&r)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before, "the escalation goes on as it was");

    // Acknowledging cancels the escalation's pending pages, not the responder's.
    store
        .incidents()
        .acknowledge(&r, user(), t0())
        .await
        .unwrap();
    let log = store
        .contacts()
        .deliveries(DeliveryFilter {
            incident: Some(r.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let status_of = |u: &UserId| {
        log.iter()
            .filter(|d| &d.user_id == u)
            .map(|d| d.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(status_of(&ann), [DeliveryStatus::Cancelled]);
    assert_eq!(status_of(&ben), [DeliveryStatus::Pending]);
    assert!(
        events_of(store, incident.as_str())
            .await
            .iter()
            .any(|e| matches!(e, tocsin_domain::incident::TimelineEvent::RespondersAdded { paged, .. } if paged.len() == 1))
    );

    let unknown = ask(Responders {
        users: vec!["nobody@example.test".into()],
        teams: vec!["ghosts".into()],
        ..Responders::default()
    })
    .await;
    assert_eq!(invalid_fields(unknown), ["users[0]", "teams[0]"]);
    store.incidents().resolve(&r, user(), t0()).await.unwrap();
    assert!(matches!(
        ask(ben_only()).await,
        Err(StoreError::Transition(TransitionError::AddingToResolved(_)))
    ));
}

pub async fn people_paged_are_told_of_others_acknowledging_and_resolving(store: &dyn Store) {
    use tocsin_domain::contact::StatusUpdates;
    use tocsin_domain::incident::{Actor, ActorKind};
    let (key, ann, ben) = paged_service(store).await;
    let everything = StatusUpdates {
        acknowledged: true,
        resolved: true,
    };
    for u in [&ann, &ben] {
        let set = store
            .contacts()
            .set_status_updates(&user_ref(u.as_str()), everything)
            .await
            .unwrap();
        assert_eq!(set, everything);
    }
    assert_eq!(
        store
            .contacts()
            .status_updates(&user_ref("nobody-asked@example.test"))
            .await
            .map_err(|e| matches!(e, StoreError::NotFound { .. })),
        Err(true)
    );
    let incident = incident_opened(store, &key, "boom", AlertSeverity::Critical, t0()).await;
    let r = incident_ref(incident.as_str());
    store
        .engine()
        .fire_escalations(t0(), 100, Channels::ALL)
        .await
        .unwrap();
    store
        .engine()
        .fire_escalations(t0() + Duration::minutes(5), 100, Channels::ALL)
        .await
        .unwrap();
    // Ben acknowledges: Ann hears of it, Ben does not hear of himself.
    let as_ben = Actor {
        kind: ActorKind::User,
        id: Some(ben.to_string()),
        name: "ben".into(),
    };
    store
        .incidents()
        .acknowledge(&r, as_ben, t0() + Duration::minutes(6))
        .await
        .unwrap();
    store
        .incidents()
        .resolve(&r, user(), t0() + Duration::minutes(7))
        .await
        .unwrap();
    let updates = |u: UserId| async move {
        store
            .contacts()
            .deliveries(DeliveryFilter {
                user: Some(user_ref(u.as_str())),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter_map(|d| match d.purpose {
                Purpose::StatusUpdate { status, by, .. } => Some((status, by, d.status)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut ann_heard = updates(ann).await;
    ann_heard.sort_by_key(|(s, _, _)| s.as_str());
    assert_eq!(
        ann_heard,
        [
            (
                IncidentStatus::Acknowledged,
                "ben".to_owned(),
                DeliveryStatus::Pending
            ),
            (
                IncidentStatus::Resolved,
                "Alice".to_owned(),
                DeliveryStatus::Pending
            ),
        ],
        "the resolution does not cancel the news of the acknowledgement"
    );
    assert_eq!(
        updates(ben).await,
        [(
            IncidentStatus::Resolved,
            "Alice".to_owned(),
            DeliveryStatus::Pending
        )]
    );
}

pub async fn a_worse_alert_joining_raises_the_severity_and_pages_again_at_high_urgency(
    store: &dyn Store,
) {
    use tocsin_domain::incident::TimelineEvent;
    use tocsin_domain::severity::Severity;
    let ann = person(store, "ann").await;
    let hook = store
        .contacts()
        .create_method(&user_ref(ann.as_str()), hook("ann"), t0())
        .await
        .unwrap();
    // Urgent pages reach Ann at once; the others only after half an hour.
    for (urgency, delay_minutes) in [(Urgency::High, 0), (Urgency::Low, 30)] {
        store
            .contacts()
            .create_rule(
                &user_ref(ann.as_str()),
                NotificationRuleSpec {
                    contact_method_id: hook.id.clone(),
                    urgency,
                    delay_minutes,
                },
            )
            .await
            .unwrap();
    }
    store
        .escalation()
        .create_policy(
            policy("solo", &[(5, vec![EscalationTarget::User(ann.clone())])]),
            t0(),
        )
        .await
        .unwrap();
    let spec = serde_json::from_value(
        serde_json::json!({"name": "checkout", "grouping": {"mode": "time_window", "minutes": 10}}),
    )
    .unwrap();
    store.services().create(spec, t0()).await.unwrap();
    store
        .escalation()
        .set_service_policy(&service_ref("checkout"), Some("solo".into()))
        .await
        .unwrap();
    let key = super::pagerduty_key(store, "checkout").await;
    let incident = incident_opened(store, &key, "slow", AlertSeverity::Warning, t0()).await;
    let r = incident_ref(incident.as_str());
    store
        .engine()
        .fire_escalations(t0(), 100, Channels::ALL)
        .await
        .unwrap();
    let deliveries = || async {
        let mut d: Vec<(DeliveryStatus, chrono::DateTime<chrono::Utc>)> = store
            .contacts()
            .deliveries(DeliveryFilter {
                incident: Some(r.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.status, d.due_at))
            .collect();
        d.sort_by_key(|(_, due)| *due);
        d
    };
    let later = t0() + Duration::minutes(30);
    assert_eq!(deliveries().await, [(DeliveryStatus::Pending, later)]);

    // A critical alert joins two minutes in: the incident becomes SEV-1, and Ann is paged again, urgently.
    let two = t0() + Duration::minutes(2);
    let joined = store
        .ingest()
        .event(&key, trigger("down", AlertSeverity::Critical), two)
        .await
        .unwrap();
    assert_eq!(joined.incident_id, Some(incident.clone()));
    assert_eq!(
        store.incidents().get(&r).await.unwrap().severity,
        Severity::Sev1
    );
    assert!(
        events_of(store, incident.as_str())
            .await
            .iter()
            .any(|e| matches!(
                e,
                TimelineEvent::SeverityChanged {
                    from: Severity::Sev3,
                    to: Severity::Sev1,
                    cause: Some(_)
                }
            ))
    );
    let e = store
        .escalation()
        .incident_escalation(&r)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e.escalation.level, e.escalation.next_at), (0, Some(two)));
    let fired = store
        .engine()
        .fire_escalations(two, 100, Channels::ALL)
        .await
        .unwrap();
    assert_eq!(fired.escalations, 1);
    assert_eq!(
        deliveries().await,
        [
            (DeliveryStatus::Pending, two),
            (DeliveryStatus::Cancelled, later)
        ]
    );
    // A milder alert changes nothing.
    store
        .ingest()
        .event(
            &key,
            trigger("meh", AlertSeverity::Warning),
            t0() + Duration::minutes(3),
        )
        .await
        .unwrap();
    assert_eq!(
        store.incidents().get(&r).await.unwrap().severity,
        Severity::Sev1
    );
}

pub async fn alerts_resolve_when_their_end_passes_without_a_new_post(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "api").await;
    let ending = |dedup: &str, minutes: i64| {
        let mut e = trigger(dedup, AlertSeverity::Critical);
        e.details.as_mut().unwrap().ends_at = Some(t0() + Duration::minutes(minutes));
        e
    };
    let a = store
        .ingest()
        .event(&key, ending("a", 10), t0())
        .await
        .unwrap();
    let b = store
        .ingest()
        .event(&key, ending("b", 10), t0())
        .await
        .unwrap();
    // A second post of `a` moves its end on; a person resolves `b`'s incident.
    store
        .ingest()
        .event(&key, ending("a", 20), t0() + Duration::minutes(5))
        .await
        .unwrap();
    let b_incident = incident_ref(b.incident_id.unwrap().as_str());
    store
        .incidents()
        .resolve(&b_incident, user(), t0() + Duration::minutes(6))
        .await
        .unwrap();
    let ended = |minutes| async move {
        store
            .engine()
            .resolve_ended_alerts(t0() + Duration::minutes(minutes), 100)
            .await
            .unwrap()
    };
    assert_eq!(ended(15).await, 0, "b was resolved by hand; a moved on");
    assert_eq!(ended(20).await, 1);
    let a_incident = incident_ref(a.incident_id.unwrap().as_str());
    assert_eq!(
        store.incidents().get(&a_incident).await.unwrap().status,
        IncidentStatus::Resolved,
        "its only alert resolved"
    );
    assert_eq!(ended(30).await, 0, "each timer fires once");
}
