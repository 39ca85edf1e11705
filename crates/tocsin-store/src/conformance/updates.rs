//! Conformance of stakeholder updates: who hears of an update, sends to channels, the cadence, and reminders
//! that widen when ignored.

use super::paging::reachable_person;
use super::refs::user_ref;
use super::{arbitrary_service_with_key, t0, trigger};
use crate::*;
use chrono::Duration;
use tocsin_domain::catalog::HttpUrl;
use tocsin_domain::contact::{Channels, ContactTarget, Purpose};
use tocsin_domain::ids::UserId;
use tocsin_domain::incident::{Actor, ActorKind, TimelineEvent};
use tocsin_domain::refs::{IncidentRef, Key};
use tocsin_domain::severity::{AlertSeverity, Severity, SeverityLevelChange};
use tocsin_domain::updates::{
    Audience, DueBecause, Report, Scope, Subscriber, UpdateDue, UpdateSpec,
};

fn as_person(id: &UserId, name: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(id.to_string()),
        name: name.into(),
    }
}

fn key(s: &str) -> Key {
    s.parse().unwrap()
}

/// Who the deliveries claimed at `now` go to, for updates and reminders of them: (user, "update"/"due", audience
/// or reminder).
async fn told(store: &dyn Store, now: chrono::DateTime<chrono::Utc>) -> Vec<(UserId, String)> {
    let mut told: Vec<(UserId, String)> = store
        .engine()
        .claim_deliveries("test", now, Duration::days(1), 100, false)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|d| match &d.purpose {
            Purpose::Update { audience, .. } => {
                assert!(d.update.is_some(), "an update's notification carries it");
                Some((
                    d.user_id.clone(),
                    format!("update to {}", audience.as_str()),
                ))
            }
            Purpose::UpdateDue { reminder, .. } => {
                Some((d.user_id.clone(), format!("reminder {reminder}")))
            }
            _ => None,
        })
        .collect();
    told.sort();
    told
}

pub async fn updates_reach_responders_subscribers_and_channels_and_ignored_reminders_widen(
    store: &dyn Store,
) {
    let routing_key = arbitrary_service_with_key(store, "checkout").await;
    for severity in Severity::ALL {
        store
            .incidents()
            .change_severity_level(
                severity,
                SeverityLevelChange {
                    update_every_minutes: Some(Some(30)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let (ann, ben, cat) = (
        reachable_person(store, "ann").await,
        reachable_person(store, "ben").await,
        reachable_person(store, "cat").await,
    );
    let opened = store
        .ingest()
        .event(
            &routing_key,
            trigger("db-down", AlertSeverity::Critical),
            t0(),
        )
        .await
        .unwrap();
    let incident = IncidentRef::Id(opened.incident_id.clone().unwrap());
    let updates = store.updates();
    let due = updates.update_due(&incident).await.unwrap().unwrap();
    assert_eq!(
        (due.due_at, due.because, due.reminders),
        (t0() + Duration::minutes(30), DueBecause::Cadence, 0)
    );
    for (role, who) in [("communications", &ann), ("commander", &ben)] {
        store
            .roles()
            .assign_role(
                &incident,
                &key(role),
                &user_ref(who.as_str()),
                Actor::system(),
                Channels::ALL,
                t0(),
            )
            .await
            .unwrap();
    }
    // Role pages are not what this is about.
    told(store, t0()).await;

    // Cat subscribes to the service, twice: once is kept. A channel subscribes to the incident; not a phone.
    let service = store
        .services()
        .get(&super::refs::service_ref("checkout"))
        .await
        .unwrap();
    let to_service = Scope::Service {
        service_id: service.id.clone(),
    };
    let cat_person = Subscriber::Person {
        user_id: cat.clone(),
    };
    let first = updates
        .subscribe(
            to_service.clone(),
            cat_person.clone(),
            Actor::system(),
            t0(),
        )
        .await
        .unwrap();
    let again = updates
        .subscribe(to_service.clone(), cat_person, Actor::system(), t0())
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    let chat_url = "https://hooks.slack.com/services/T0/B0/status";
    let to_incident = Scope::Incident {
        incident_id: opened.incident_id.clone().unwrap(),
    };
    updates
        .subscribe(
            to_incident.clone(),
            Subscriber::Channel {
                name: "#status".into(),
                target: ContactTarget::Slack {
                    url: HttpUrl::parse(chat_url).unwrap(),
                },
            },
            Actor::system(),
            t0(),
        )
        .await
        .unwrap();
    match updates
        .subscribe(
            to_incident.clone(),
            Subscriber::Channel {
                name: "phone".into(),
                target: ContactTarget::Sms {
                    number: tocsin_domain::contact::PhoneNumber::parse("+4915112345678").unwrap(),
                },
            },
            Actor::system(),
            t0(),
        )
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.fields(), ["subscriber.target"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(updates.subscriptions(&to_service).await.unwrap().len(), 1);
    assert_eq!(
        updates
            .subscriptions_of(&user_ref(cat.as_str()))
            .await
            .unwrap()
            .len(),
        1
    );

    // Nothing is due before the cadence; then the communications lead is reminded, then both leads.
    let minute = |m: i64| t0() + Duration::minutes(m);
    assert_eq!(updates.remind_due_updates(minute(29), 10).await.unwrap(), 0);
    assert_eq!(updates.remind_due_updates(minute(30), 10).await.unwrap(), 1);
    assert_eq!(
        told(store, minute(30)).await,
        [(ann.clone(), "reminder 1".into())]
    );
    assert_eq!(updates.remind_due_updates(minute(39), 10).await.unwrap(), 0);
    assert_eq!(updates.remind_due_updates(minute(40), 10).await.unwrap(), 1);
    let mut both = vec![
        (ann.clone(), "reminder 2".to_owned()),
        (ben.clone(), "reminder 2".to_owned()),
    ];
    both.sort();
    assert_eq!(told(store, minute(40)).await, both);

    // Ann posts: Ben hears as a responder, Cat as a subscriber, the channel through the outbox; not Ann.
    let posted = updates
        .post_update(
            &incident,
            UpdateSpec {
                message: "The primary database is down; failing over.".into(),
                report: Some(Report {
                    needs: "A DBA".into(),
                    ..Report::default()
                }),
                audiences: Audience::ALL.to_vec(),
            },
            as_person(&ann, "ann"),
            minute(41),
        )
        .await
        .unwrap();
    assert_eq!(posted.update.number, 1);
    assert_eq!(posted.update.status, "investigating");
    assert_eq!(posted.people, ["ben", "cat"]);
    assert_eq!(posted.channels.len(), 1);
    let mut heard = vec![
        (ben.clone(), "update to responders".to_owned()),
        (cat.clone(), "update to subscribers".to_owned()),
    ];
    heard.sort();
    assert_eq!(told(store, minute(41)).await, heard);
    let due = updates.update_due(&incident).await.unwrap().unwrap();
    assert_eq!((due.due_at, due.reminders), (minute(71), 0));

    let sends = updates
        .claim_update_sends("engine-a", minute(41), Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0].target,
        ContactTarget::Slack {
            url: HttpUrl::parse(chat_url).unwrap()
        }
    );
    assert_eq!(sends[0].update.message, posted.update.message);
    // Claimed, it is not claimed again until its claim lapses; a lapsed claim is someone else's to finish.
    assert!(
        updates
            .claim_update_sends("engine-b", minute(41), Duration::minutes(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    updates
        .finish_update_send(
            &sends[0].id,
            "engine-a",
            AttemptOutcome::Delivered {
                detail: "HTTP 200".into(),
            },
            minute(41),
        )
        .await
        .unwrap();
    let listed = updates.updates(&incident).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].channels[0].status.as_str(),
            listed[0].channels[0].attempts
        ),
        ("delivered", 1)
    );

    // Only responders: Cat hears nothing; nor does the channel.
    let second = updates
        .post_update(
            &incident,
            UpdateSpec {
                message: "Failed over; watching.".into(),
                report: None,
                audiences: vec![Audience::Responders],
            },
            as_person(&ben, "ben"),
            minute(50),
        )
        .await
        .unwrap();
    assert_eq!(
        (second.update.number, second.people.clone()),
        (2, vec!["ann".to_owned()])
    );
    assert!(second.channels.is_empty());

    // A severity change asks for an update in five minutes; the resolution too, and then no more cadence.
    store
        .incidents()
        .set_severity(&incident, Severity::Sev0, Actor::system(), minute(52))
        .await
        .unwrap();
    let due = updates.update_due(&incident).await.unwrap().unwrap();
    assert_eq!(
        (due.due_at, due.because),
        (minute(57), DueBecause::SeverityChanged)
    );
    store
        .incidents()
        .resolve(&incident, Actor::system(), minute(60))
        .await
        .unwrap();
    let due = updates.update_due(&incident).await.unwrap().unwrap();
    assert_eq!(
        (due.due_at, due.because),
        (minute(65), DueBecause::Resolved)
    );
    updates
        .post_update(
            &incident,
            UpdateSpec {
                message: "Resolved: the database is back.".into(),
                report: None,
                audiences: Audience::ALL.to_vec(),
            },
            as_person(&ann, "ann"),
            minute(62),
        )
        .await
        .unwrap();
    assert_eq!(
        updates.update_due(&incident).await.unwrap(),
        None::<UpdateDue>
    );
    let listed = updates.updates(&incident).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|u| (u.update.number, u.update.status.as_str()))
            .collect::<Vec<_>>(),
        [(3, "resolved"), (2, "investigating"), (1, "investigating")]
    );

    let timeline = store.incidents().timeline(&incident).await.unwrap();
    let facts: Vec<String> = timeline
        .iter()
        .filter_map(|r| match &r.entry.event {
            TimelineEvent::UpdatePosted {
                number, recipients, ..
            } => Some(format!("update {number} to {recipients}")),
            TimelineEvent::UpdateReminded { to, reminder, .. } => {
                Some(format!("reminder {reminder} to {}", to.join(" and ")))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        facts,
        [
            "reminder 1 to ann",
            "reminder 2 to ann and ben",
            "update 1 to 3",
            "update 2 to 1",
            "update 3 to 3"
        ]
    );

    // Unsubscribing ends it.
    updates.unsubscribe(&first.id).await.unwrap();
    assert!(updates.subscriptions(&to_service).await.unwrap().is_empty());
    assert!(matches!(
        updates.unsubscribe(&first.id).await,
        Err(StoreError::NotFound { .. })
    ));
}
