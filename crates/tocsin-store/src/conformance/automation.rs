//! Conformance of runbook automation: runs from their request to their end, approvals, one run at a time,
//! runs whose runner died, automatic steps, and the secrets steps use.

use super::{arbitrary_service_with_key, t0, trigger};
use crate::*;
use chrono::Duration;
use std::collections::BTreeMap;
use tocsin_domain::automation::{Finished, HttpRequest, RunStatus, Step};
use tocsin_domain::incident::{Actor, ActorKind, TimelineEvent, TransitionError};
use tocsin_domain::noise::Matcher;
use tocsin_domain::refs::{IncidentRef, Key};
use tocsin_domain::runbooks::RunbookSpec;
use tocsin_domain::severity::AlertSeverity;

fn person(id: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: Some(id.into()),
        name: id.into(),
    }
}

fn key(s: &str) -> Key {
    s.parse().unwrap()
}

fn request_step(name: &str, needs_approval: bool, automatic: bool) -> Step {
    Step {
        key: key(name),
        title: format!("Step {name}"),
        http: Some(HttpRequest {
            method: "POST".into(),
            url: "https://rundeck.example.com/api/41/job/restart/run".into(),
            headers: BTreeMap::from([(
                "X-Rundeck-Auth-Token".into(),
                "{{secret.rundeck-token}}".into(),
            )]),
            body: r#"{"options": {"incident": "{{incident.number}}"}}"#.into(),
            content_type: "application/json".into(),
        }),
        command: None,
        automatic,
        needs_approval,
        timeout_seconds: 30,
    }
}

fn runbook(title: &str, steps: Vec<Step>, matchers: &[&str]) -> RunbookSpec {
    RunbookSpec {
        title: title.into(),
        body: String::new(),
        services: vec![],
        matchers: matchers
            .iter()
            .map(|m| Matcher::parse(m).unwrap())
            .collect(),
        steps,
    }
}

fn kinds_of_runs(timeline: &[TimelineRecord]) -> Vec<&'static str> {
    timeline
        .iter()
        .filter_map(|r| match &r.entry.event {
            TimelineEvent::RunRequested { .. } => Some("requested"),
            TimelineEvent::RunApproved { .. } => Some("approved"),
            TimelineEvent::RunDeclined { .. } => Some("declined"),
            TimelineEvent::RunFinished { status, .. } => Some(status.as_str()),
            _ => None,
        })
        .collect()
}

async fn open_incident(store: &dyn Store, routing_key: &str, dedup: &str) -> IncidentRef {
    let opened = store
        .ingest()
        .event(routing_key, trigger(dedup, AlertSeverity::Critical), t0())
        .await
        .unwrap();
    IncidentRef::Id(opened.incident_id.unwrap())
}

pub async fn runs_wait_for_a_second_person_and_one_runs_at_a_time(store: &dyn Store) {
    let automation = store.automation();
    let routing_key = arbitrary_service_with_key(store, "checkout").await;
    let restart = request_step("restart", true, false);

    // A step's secrets must be set before a runbook uses them; values are never listed.
    match store
        .runbooks()
        .put_runbook(
            key("checkout"),
            runbook("Checkout", vec![restart.clone()], &["@service=checkout"]),
            None,
            person("usr_ana"),
            t0(),
        )
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.fields(), ["steps[0].http"], "{e}"),
        other => panic!("{other:?}"),
    }
    automation
        .put_secret(
            key("rundeck-token"),
            "s3cret".into(),
            person("usr_ana"),
            t0(),
        )
        .await
        .unwrap();
    let listed = automation.secrets().await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["rundeck-token"]
    );
    store
        .runbooks()
        .put_runbook(
            key("checkout"),
            runbook("Checkout", vec![restart.clone()], &["@service=checkout"]),
            None,
            person("usr_ana"),
            t0(),
        )
        .await
        .unwrap();
    match automation.delete_secret(&key("rundeck-token")).await {
        Err(StoreError::Conflict(Conflict::InUse { .. })) => {}
        other => panic!("{other:?}"),
    }

    let incident = open_incident(store, &routing_key, "latency").await;
    let asked = t0() + Duration::minutes(1);
    let run = automation
        .start_run(
            &incident,
            &key("checkout"),
            &key("restart"),
            person("usr_ana"),
            asked,
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::AwaitingApproval);
    assert_eq!((run.runbook_version, run.step.key.as_str()), (1, "restart"));
    match automation
        .start_run(
            &incident,
            &key("checkout"),
            &key("restart"),
            person("usr_bo"),
            asked,
        )
        .await
    {
        Err(StoreError::Conflict(Conflict::RunActive { run: active, .. })) => {
            assert_eq!(active, run.id.as_str())
        }
        other => panic!("{other:?}"),
    }
    match automation
        .start_run(
            &incident,
            &key("checkout"),
            &key("nope"),
            person("usr_ana"),
            asked,
        )
        .await
    {
        Err(StoreError::NotFound { kind, .. }) => assert_eq!(kind, "runbook step"),
        other => panic!("{other:?}"),
    }
    // Nothing runs before approval, and not on its asker's say-so.
    assert!(
        automation
            .claim_runs("engine-a", asked, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    match automation
        .decide_run(&run.id, true, person("usr_ana"), asked)
        .await
    {
        Err(StoreError::Transition(TransitionError::ApprovingOwnRun)) => {}
        other => panic!("{other:?}"),
    }
    let approved = automation
        .decide_run(&run.id, true, person("usr_bo"), asked)
        .await
        .unwrap();
    assert_eq!(approved.status, RunStatus::Queued);

    let claimed = automation
        .claim_runs("engine-a", asked, 10, false)
        .await
        .unwrap();
    let [one] = claimed.as_slice() else {
        panic!("{claimed:?}")
    };
    assert_eq!(one.run.id, run.id);
    assert_eq!(one.run.status, RunStatus::Running);
    assert_eq!(
        one.secrets.get(&key("rundeck-token")).map(String::as_str),
        Some("s3cret")
    );
    assert!(one.missing_secrets.is_empty());
    assert_eq!(one.services, ["checkout"]);
    assert_eq!(
        one.alert.as_ref().map(|a| a.dedup_key.as_str()),
        Some("latency")
    );
    // Claimed once.
    assert!(
        automation
            .claim_runs("engine-b", asked, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    let ended = asked + Duration::seconds(3);
    assert!(
        automation
            .finish_run(
                &run.id,
                "engine-a",
                Finished {
                    status: RunStatus::Succeeded,
                    outcome: "HTTP 200 OK".into(),
                    output: Some("{\"id\": 7}".into()),
                },
                ended,
            )
            .await
            .unwrap()
    );
    let done = automation.run(&run.id).await.unwrap();
    assert_eq!(
        (done.status, done.outcome.as_deref(), done.output.as_deref()),
        (
            RunStatus::Succeeded,
            Some("HTTP 200 OK"),
            Some("{\"id\": 7}")
        )
    );
    assert_eq!(done.finished_at, Some(ended));
    assert!(matches!(
        automation
            .retry_run(&run.id, person("usr_ana"), ended)
            .await,
        Err(StoreError::Transition(TransitionError::RetryingRun { .. }))
    ));

    // The step may run again once its run ended; declining withdraws the request.
    let second = automation
        .start_run(
            &incident,
            &key("checkout"),
            &key("restart"),
            person("usr_ana"),
            ended,
        )
        .await
        .unwrap();
    let declined = automation
        .decide_run(&second.id, false, person("usr_ana"), ended)
        .await
        .unwrap();
    assert_eq!(declined.status, RunStatus::Declined);
    let runs = automation.runs(&incident).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        [second.id.clone(), run.id.clone()]
    );
    let timeline = store.incidents().timeline(&incident).await.unwrap();
    assert_eq!(
        kinds_of_runs(&timeline),
        [
            "requested",
            "approved",
            "succeeded",
            "requested",
            "declined"
        ]
    );
}

pub async fn a_run_whose_runner_died_is_reported_interrupted_and_retried_with_its_key(
    store: &dyn Store,
) {
    let automation = store.automation();
    let routing_key = arbitrary_service_with_key(store, "search").await;
    automation
        .put_secret(
            key("rundeck-token"),
            "s3cret".into(),
            person("usr_ana"),
            t0(),
        )
        .await
        .unwrap();
    store
        .runbooks()
        .put_runbook(
            key("search"),
            runbook("Search", vec![request_step("reindex", false, false)], &[]),
            None,
            person("usr_ana"),
            t0(),
        )
        .await
        .unwrap();
    let incident = open_incident(store, &routing_key, "slow").await;
    let run = automation
        .start_run(
            &incident,
            &key("search"),
            &key("reindex"),
            person("usr_ana"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(
        automation
            .claim_runs("engine-a", t0(), 10, false)
            .await
            .unwrap()
            .len(),
        1
    );
    // Another engine leaves it alone while its claim lasts: its runner may still be at work.
    let within = t0() + Duration::seconds(30);
    assert!(
        automation
            .claim_runs("engine-b", within, 10, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        automation.run(&run.id).await.unwrap().status,
        RunStatus::Running
    );
    // Past its timeout and the grace, its runner is taken for dead.
    let lapsed = t0() + Duration::seconds(30 + 61);
    assert!(
        automation
            .claim_runs("engine-b", lapsed, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    let interrupted = automation.run(&run.id).await.unwrap();
    assert_eq!(interrupted.status, RunStatus::Interrupted);
    // A runner that reports after all is told it no longer holds the run.
    assert!(
        !automation
            .finish_run(
                &run.id,
                "engine-a",
                Finished {
                    status: RunStatus::Succeeded,
                    outcome: "HTTP 200 OK".into(),
                    output: None,
                },
                lapsed,
            )
            .await
            .unwrap()
    );
    assert_eq!(
        automation.run(&run.id).await.unwrap().status,
        RunStatus::Interrupted
    );

    let again = automation
        .retry_run(&run.id, person("usr_bo"), lapsed)
        .await
        .unwrap();
    assert_eq!(again.idempotency_key, run.idempotency_key);
    assert_eq!(again.retry_of.as_ref(), Some(&run.id));
    // A process that restarts under its old name knows its predecessor's runs died with it, at once.
    let claimed = automation
        .claim_runs("engine-a", lapsed, 10, false)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        automation
            .claim_runs("engine-a", lapsed, 10, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        automation.run(&again.id).await.unwrap().status,
        RunStatus::Interrupted
    );
    let timeline = store.incidents().timeline(&incident).await.unwrap();
    assert_eq!(
        kinds_of_runs(&timeline),
        ["requested", "interrupted", "requested", "interrupted"]
    );
}

pub async fn automatic_steps_run_once_for_each_incident_they_are_for(store: &dyn Store) {
    let automation = store.automation();
    // Alerts on api join its incident opened within the last half hour.
    store
        .services()
        .create(
            serde_json::from_value(serde_json::json!({
                "name": "api",
                "grouping": {"mode": "time_window", "minutes": 30}
            }))
            .unwrap(),
            t0(),
        )
        .await
        .unwrap();
    let api = super::pagerduty_key(store, "api").await;
    let web = arbitrary_service_with_key(store, "web").await;
    automation
        .put_secret(
            key("rundeck-token"),
            "s3cret".into(),
            person("usr_ana"),
            t0(),
        )
        .await
        .unwrap();
    store
        .runbooks()
        .put_runbook(
            key("api"),
            runbook(
                "API",
                vec![
                    request_step("flush", false, true),
                    request_step("restart", true, true),
                    request_step("by-hand", false, false),
                ],
                &["@service=api"],
            ),
            None,
            person("usr_ana"),
            t0(),
        )
        .await
        .unwrap();

    let on_api = open_incident(store, &api, "down").await;
    let on_web = open_incident(store, &web, "down").await;
    assert_eq!(automation.start_automatic(t0(), 10).await.unwrap(), 2);
    let runs = automation.runs(&on_api).await.unwrap();
    let mut started: Vec<(&str, RunStatus)> = runs
        .iter()
        .map(|r| (r.step.key.as_str(), r.status))
        .collect();
    started.sort_by_key(|(step, _)| *step);
    assert_eq!(
        started,
        [
            ("flush", RunStatus::Queued),
            ("restart", RunStatus::AwaitingApproval)
        ]
    );
    assert!(
        runs.iter()
            .all(|r| r.requested_by.kind == ActorKind::System)
    );
    assert!(automation.runs(&on_web).await.unwrap().is_empty());

    // Another alert joins the incident: its automatic steps ran for it already.
    let joined = store
        .ingest()
        .event(&api, trigger("also-down", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    assert_eq!(joined.incident_id, Some(incident_id(&on_api)));
    assert_eq!(automation.start_automatic(t0(), 10).await.unwrap(), 0);
    assert_eq!(automation.runs(&on_api).await.unwrap().len(), 2);
}

fn incident_id(r: &IncidentRef) -> tocsin_domain::ids::IncidentId {
    match r {
        IncidentRef::Id(id) => id.clone(),
        IncidentRef::Number(_) => unreachable!(),
    }
}
