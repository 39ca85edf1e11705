//! Conformance of the roles of a response and of who works an incident.

use super::paging::{person, reachable_person};
use super::{arbitrary_service_with_key, daily_schedule, t0};
use crate::conformance::refs::*;
use crate::*;
use chrono::Duration;
use tocsin_domain::contact::{Channels, Purpose};
use tocsin_domain::escalation::EscalationTarget;
use tocsin_domain::ids::UserId;
use tocsin_domain::incident::{Actor, ActorKind, TimelineEvent};
use tocsin_domain::refs::Key;
use tocsin_domain::roles::{Joined, RoleDefault, RoleSpec};
use tocsin_domain::severity::Severity;

fn as_person(id: &UserId, name: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(id.to_string()),
        name: name.into(),
    }
}

fn key(k: &str) -> Key {
    k.parse().unwrap()
}

async fn declare(store: &dyn Store, severity: Severity, services: Vec<&str>, by: &Actor) -> i64 {
    store
        .incidents()
        .declare(
            NewIncident {
                title: "Checkout fails".into(),
                description: String::new(),
                severity,
                services: services.into_iter().map(ServiceRef::parse).collect(),
            },
            by.clone(),
            t0(),
        )
        .await
        .unwrap()
        .number
}

fn role_pages(log: &[DeliveryRecord]) -> Vec<(UserId, String)> {
    log.iter()
        .filter_map(|d| match &d.purpose {
            Purpose::Page {
                role: Some(role), ..
            } => Some((d.user_id.clone(), role.clone())),
            _ => None,
        })
        .collect()
}

pub async fn roles_are_given_handed_over_and_released_with_their_history(store: &dyn Store) {
    let ann = reachable_person(store, "ann").await;
    let ben = reachable_person(store, "ben").await;
    let cat = person(store, "cat").await;
    let roles = store.roles().roles().await.unwrap();
    let keys: Vec<&str> = roles.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["commander", "communications", "scribe", "expert"]);

    let alice = as_person(&ann, "ann");
    let n = declare(store, Severity::Sev1, vec![], &alice).await;
    let incident = incident_ref(&n.to_string());
    let r = store.roles();
    // Ann takes command herself: nobody is paged for it.
    r.assign_role(
        &incident,
        &key("commander"),
        &user_ref(ann.as_str()),
        alice.clone(),
        Channels::ALL,
        t0(),
    )
    .await
    .unwrap()
    .expect("a new holding");
    // She makes Ben an expert: he is paged with the role's name.
    let later = t0() + Duration::minutes(1);
    r.assign_role(
        &incident,
        &key("expert"),
        &user_ref(ben.as_str()),
        alice.clone(),
        Channels::ALL,
        later,
    )
    .await
    .unwrap();
    // Giving it again changes nothing and pages nobody again.
    assert!(
        r.assign_role(
            &incident,
            &key("expert"),
            &user_ref(ben.as_str()),
            alice.clone(),
            Channels::ALL,
            later
        )
        .await
        .unwrap()
        .is_none()
    );
    let log = store
        .contacts()
        .deliveries(DeliveryFilter {
            incident: Some(incident.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        role_pages(&log),
        vec![(ben.clone(), "Subject-matter expert".to_owned())]
    );
    // Ben hands command over from Ann: one commander at a time.
    let handover = t0() + Duration::minutes(2);
    r.assign_role(
        &incident,
        &key("commander"),
        &user_ref(ben.as_str()),
        alice.clone(),
        Channels::ALL,
        handover,
    )
    .await
    .unwrap();
    let held = r.assignments(&incident).await.unwrap();
    let history: Vec<(&str, &UserId, bool)> = held
        .iter()
        .map(|a| (a.role.as_str(), &a.user_id, a.is_held()))
        .collect();
    assert_eq!(
        history,
        vec![
            ("commander", &ann, false),
            ("expert", &ben, true),
            ("commander", &ben, true),
        ]
    );
    assert_eq!(held[0].released_at, Some(handover));
    // Cat joins by herself; Ben is a responder by his page and his roles; Ann, who took command herself and
    // handed it over, was never paged and holds nothing now, so she is not.
    let cat_actor = as_person(&cat, "cat");
    let working = r
        .join(
            &incident,
            &user_ref(cat.as_str()),
            cat_actor.clone(),
            handover,
        )
        .await
        .unwrap();
    let joined: Vec<(&UserId, Joined)> = working.iter().map(|w| (&w.user_id, w.joined)).collect();
    assert!(joined.contains(&(&cat, Joined::Joined)), "{working:?}");
    assert!(working.iter().all(|w| w.user_id != ann), "{working:?}");
    let ben_working = working.iter().find(|w| w.user_id == ben).unwrap();
    assert_eq!(
        ben_working
            .roles
            .iter()
            .map(Key::as_str)
            .collect::<Vec<_>>(),
        ["expert", "commander"]
    );
    // Ben leaves: his roles go with him.
    let left = t0() + Duration::minutes(3);
    let working = r
        .leave(
            &incident,
            &user_ref(ben.as_str()),
            as_person(&ben, "ben"),
            left,
        )
        .await
        .unwrap();
    assert!(working.iter().all(|w| w.user_id != ben), "{working:?}");
    assert!(
        r.assignments(&incident)
            .await
            .unwrap()
            .iter()
            .all(|a| !a.is_held())
    );
    // Releasing a role nobody holds says so.
    assert!(matches!(
        r.release_role(&incident, &key("scribe"), None, alice.clone(), left)
            .await,
        Err(StoreError::Invalid(_))
    ));
    let timeline = store.incidents().timeline(&incident).await.unwrap();
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| e.entry.kind().as_str())
        .filter(|k| k.starts_with("role") || k.starts_with("responder"))
        .collect();
    assert_eq!(
        kinds,
        [
            "role_assigned",
            "role_assigned",
            "role_assigned",
            "responder_joined",
            "responder_left"
        ]
    );
    let handed = timeline.iter().find_map(|e| match &e.entry.event {
        TimelineEvent::RoleAssigned {
            replaced: Some(p), ..
        } => Some(p.user_id.clone()),
        _ => None,
    });
    assert_eq!(handed, Some(ann.clone()));
    // A resolved incident takes no new roles.
    store
        .incidents()
        .resolve(&incident, alice.clone(), left)
        .await
        .unwrap();
    assert!(matches!(
        r.assign_role(
            &incident,
            &key("scribe"),
            &user_ref(cat.as_str()),
            alice,
            Channels::ALL,
            left
        )
        .await,
        Err(StoreError::Transition(_))
    ));
}

pub async fn roles_are_defined_by_admins_and_filled_by_their_defaults(store: &dyn Store) {
    let ann = reachable_person(store, "ann").await;
    store
        .oncall()
        .create_schedule(daily_schedule("checkout-rota", &[&ann]), t0())
        .await
        .unwrap();
    let rota = store
        .oncall()
        .get_schedule(&ScheduleRef::parse("checkout-rota"))
        .await
        .unwrap()
        .id;
    arbitrary_service_with_key(store, "checkout").await;
    let checkout = store
        .services()
        .get(&service_ref("checkout"))
        .await
        .unwrap()
        .id;
    let r = store.roles();
    // The checkout rota leads SEV-0 and SEV-1 incidents on checkout.
    let mut commander = r.roles().await.unwrap().remove(0).spec();
    commander.defaults = vec![RoleDefault {
        severities: vec![Severity::Sev0, Severity::Sev1],
        services: vec![checkout.clone()],
        target: EscalationTarget::Schedule(rota),
    }];
    r.put_role(key("commander"), commander.clone())
        .await
        .unwrap();
    // A built-in role keeps how many hold it.
    assert!(matches!(
        r.put_role(
            key("commander"),
            RoleSpec {
                single: false,
                ..commander.clone()
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    // A default naming what does not exist is refused, by field.
    let mut broken = commander.clone();
    broken.defaults[0].services = vec![tocsin_domain::ids::ServiceId::generate()];
    match r.put_role(key("commander"), broken).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e.0[0].field, "defaults[0].services[0]"),
        other => panic!("{other:?}"),
    }
    // A role of the organisation's own.
    let liaison = RoleSpec {
        name: "Customer liaison".into(),
        instructions: "Talk to the **affected customers**.".into(),
        single: true,
        defaults: vec![],
    };
    let made = r.put_role(key("liaison"), liaison.clone()).await.unwrap();
    assert!(!made.built_in);
    assert_eq!(r.roles().await.unwrap().len(), 5);

    let tocsin = Actor::system();
    // A SEV-2 on checkout gets no commander by default; raising it to SEV-1 does.
    let n = declare(store, Severity::Sev2, vec!["checkout"], &tocsin).await;
    let incident = incident_ref(&n.to_string());
    let engine = store.engine();
    assert_eq!(
        engine.fill_roles(t0(), 100, Channels::ALL).await.unwrap(),
        0
    );
    store
        .incidents()
        .set_severity(&incident, Severity::Sev1, tocsin.clone(), t0())
        .await
        .unwrap();
    assert_eq!(
        engine.fill_roles(t0(), 100, Channels::ALL).await.unwrap(),
        1
    );
    assert_eq!(
        engine.fill_roles(t0(), 100, Channels::ALL).await.unwrap(),
        0,
        "taken once"
    );
    let held = r.assignments(&incident).await.unwrap();
    assert_eq!(
        held.iter()
            .map(|a| (a.role.as_str(), &a.user_id))
            .collect::<Vec<_>>(),
        vec![("commander", &ann)]
    );
    let log = store
        .contacts()
        .deliveries(DeliveryFilter {
            incident: Some(incident.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        role_pages(&log),
        vec![(ann.clone(), "Incident commander".to_owned())]
    );
    // The liaison is held in an open incident, so it cannot be removed until released.
    r.assign_role(
        &incident,
        &key("liaison"),
        &user_ref(ann.as_str()),
        tocsin.clone(),
        Channels::ALL,
        t0(),
    )
    .await
    .unwrap();
    assert!(matches!(
        r.delete_role(&key("liaison")).await,
        Err(StoreError::Conflict(Conflict::InUse { .. }))
    ));
    assert!(matches!(
        r.delete_role(&key("scribe")).await,
        Err(StoreError::Invalid(_))
    ));
    r.release_role(&incident, &key("liaison"), None, tocsin.clone(), t0())
        .await
        .unwrap();
    r.delete_role(&key("liaison")).await.unwrap();
    assert_eq!(r.roles().await.unwrap().len(), 4);
    // History keeps the role's name.
    assert!(
        r.assignments(&incident)
            .await
            .unwrap()
            .iter()
            .any(|a| a.role_name == "Customer liaison")
    );
    // A default that finds nobody on call says so on the timeline.
    let mut scribe = r.roles().await.unwrap().remove(2).spec();
    scribe.defaults = vec![RoleDefault {
        severities: vec![],
        services: vec![],
        target: EscalationTarget::Team(tocsin_domain::ids::TeamId::generate()),
    }];
    match r.put_role(key("scribe"), scribe.clone()).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e.0[0].field, "defaults[0].target"),
        other => panic!("{other:?}"),
    }
    let empty_team = store
        .teams()
        .create(
            serde_json::from_value(serde_json::json!({"name": "empty", "members": []})).unwrap(),
            t0(),
        )
        .await
        .unwrap();
    scribe.defaults[0].target = EscalationTarget::Team(empty_team.id);
    r.put_role(key("scribe"), scribe).await.unwrap();
    let m = declare(store, Severity::Sev3, vec![], &tocsin).await;
    engine.fill_roles(t0(), 100, Channels::ALL).await.unwrap();
    let timeline = store
        .incidents()
        .timeline(&incident_ref(&m.to_string()))
        .await
        .unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| matches!(e.entry.event, TimelineEvent::RoleUnfilled { .. })),
        "{timeline:?}"
    );
}
