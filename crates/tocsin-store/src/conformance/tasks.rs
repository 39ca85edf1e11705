//! Conformance of checklists: templates applied as incidents open and change severity, tasks added and done.

use super::{arbitrary_service_with_key, t0};
use crate::conformance::refs::*;
use crate::*;
use chrono::Duration;
use tocsin_domain::incident::{Actor, TimelineEvent};
use tocsin_domain::severity::Severity;
use tocsin_domain::tasks::{Assignee, TaskTemplateSpec, TemplateTask};

fn checklist(
    name: &str,
    severities: Vec<Severity>,
    titles: &[(&str, Option<u32>)],
) -> TaskTemplateSpec {
    TaskTemplateSpec {
        name: name.into(),
        severities,
        services: vec![],
        tasks: titles
            .iter()
            .map(|(t, due)| TemplateTask {
                title: (*t).into(),
                assignee: Some(Assignee::Role("commander".parse().unwrap())),
                due_minutes: *due,
            })
            .collect(),
    }
}

pub async fn checklists_apply_as_incidents_open_and_worsen_and_tasks_are_done(store: &dyn Store) {
    arbitrary_service_with_key(store, "checkout").await;
    let t = store.tasks();
    t.put_template(
        "sev0".parse().unwrap(),
        checklist(
            "SEV-0 response",
            vec![Severity::Sev0],
            &[("Open a bridge", None), ("First customer update", Some(15))],
        ),
    )
    .await
    .unwrap();
    t.put_template(
        "every".parse().unwrap(),
        checklist("Every incident", vec![], &[("Write the summary", None)]),
    )
    .await
    .unwrap();
    // What a template names must exist.
    let mut broken = checklist("broken", vec![], &[("x", None)]);
    broken.tasks[0].assignee = Some(Assignee::Role("nobody".parse().unwrap()));
    broken.services = vec![tocsin_domain::ids::ServiceId::generate()];
    match t.put_template("broken".parse().unwrap(), broken).await {
        Err(StoreError::Invalid(e)) => {
            let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(fields, ["services[0]", "tasks[0].assignee"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.templates().await.unwrap().len(), 2);

    let actor = Actor::system();
    let n = store
        .incidents()
        .declare(
            NewIncident {
                title: "Checkout fails".into(),
                description: String::new(),
                severity: Severity::Sev2,
                services: vec![ServiceRef::parse("checkout")],
            },
            actor.clone(),
            t0(),
        )
        .await
        .unwrap()
        .number;
    let incident = incident_ref(&n.to_string());
    let titles = |tasks: &[tocsin_domain::tasks::Task]| {
        tasks
            .iter()
            .map(|t| (t.number, t.title.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        titles(&t.tasks(&incident).await.unwrap()),
        vec![(1, "Write the summary".to_owned())]
    );
    // Worse: the SEV-0 checklist is added, due from now; the one it had is not added again.
    let later = t0() + Duration::minutes(10);
    store
        .incidents()
        .set_severity(&incident, Severity::Sev0, actor.clone(), later)
        .await
        .unwrap();
    let tasks = t.tasks(&incident).await.unwrap();
    assert_eq!(
        titles(&tasks),
        vec![
            (1, "Write the summary".to_owned()),
            (2, "Open a bridge".to_owned()),
            (3, "First customer update".to_owned()),
        ]
    );
    assert_eq!(tasks[2].due_at, Some(later + Duration::minutes(15)));
    assert_eq!(tasks[2].template.as_deref(), Some("SEV-0 response"));
    // Back to SEV-2 and worse again: nothing is added twice.
    for sev in [Severity::Sev2, Severity::Sev0] {
        store
            .incidents()
            .set_severity(&incident, sev, actor.clone(), later)
            .await
            .unwrap();
    }
    assert_eq!(t.tasks(&incident).await.unwrap().len(), 3);

    // A task by hand, for a role; one for a role that does not exist is refused.
    let added = t
        .add_task(
            &incident,
            "Page the database team".into(),
            Some(TaskAssignee::Role("expert".parse().unwrap())),
            None,
            actor.clone(),
            later,
        )
        .await
        .unwrap();
    assert_eq!(added.number, 4);
    assert!(matches!(
        t.add_task(
            &incident,
            "x".into(),
            Some(TaskAssignee::Role("ghost".parse().unwrap())),
            None,
            actor.clone(),
            later
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        t.add_task(&incident, " ".into(), None, None, actor.clone(), later)
            .await,
        Err(StoreError::Invalid(_))
    ));
    // Done twice records once; undone reopens it.
    let done_at = later + Duration::minutes(1);
    for _ in 0..2 {
        let done = t
            .mark_task(&incident, 2, true, actor.clone(), done_at)
            .await
            .unwrap();
        assert_eq!(done.done_at, Some(done_at));
    }
    let reopened = t
        .mark_task(&incident, 2, false, actor.clone(), done_at)
        .await
        .unwrap();
    assert!(!reopened.is_done() && reopened.done_by.is_none());
    assert!(matches!(
        t.mark_task(&incident, 99, true, actor.clone(), done_at)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let timeline = store.incidents().timeline(&incident).await.unwrap();
    let events: Vec<String> = timeline
        .iter()
        .filter_map(|e| match &e.entry.event {
            TimelineEvent::TasksAdded {
                template, tasks, ..
            } => Some(format!(
                "added {} from {template:?}",
                tasks
                    .iter()
                    .map(|t| t.number.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            TimelineEvent::TaskDone { task } => Some(format!("done {}", task.number)),
            TimelineEvent::TaskReopened { task } => Some(format!("reopened {}", task.number)),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            "added 1 from Some(\"Every incident\")",
            "added 2,3 from Some(\"SEV-0 response\")",
            "added 4 from None",
            "done 2",
            "reopened 2",
        ]
    );
    // Checklists never keep an incident from opening: what does not fit is left out, and said so.
    for n in 0..5 {
        let titles: Vec<String> = (0..50).map(|i| format!("step {n}.{i}")).collect();
        let items: Vec<(&str, Option<u32>)> = titles.iter().map(|t| (t.as_str(), None)).collect();
        t.put_template(
            format!("big{n}").parse().unwrap(),
            checklist(&format!("Big {n}"), vec![], &items),
        )
        .await
        .unwrap();
    }
    let crowded = store
        .incidents()
        .declare(
            NewIncident {
                title: "Many steps".into(),
                description: String::new(),
                severity: Severity::Sev3,
                services: vec![],
            },
            actor.clone(),
            t0(),
        )
        .await
        .expect("opens although its checklists hold more tasks than it may have");
    let crowded = incident_ref(&crowded.number.to_string());
    assert_eq!(
        t.tasks(&crowded).await.unwrap().len(),
        tocsin_domain::tasks::MAX_TASKS
    );
    let left_out: u32 = store
        .incidents()
        .timeline(&crowded)
        .await
        .unwrap()
        .iter()
        .map(|e| match &e.entry.event {
            TimelineEvent::TasksAdded { left_out, .. } => *left_out,
            _ => 0,
        })
        .sum();
    assert_eq!(left_out, 51, "1 of Big 3 and 50 of Big 4 had no room");
    assert!(matches!(
        t.add_task(&crowded, "one more".into(), None, None, actor.clone(), t0())
            .await,
        Err(StoreError::Invalid(_))
    ));
    // A template removed stays on the incidents it gave tasks to.
    t.delete_template(&"sev0".parse().unwrap()).await.unwrap();
    assert_eq!(t.tasks(&incident).await.unwrap().len(), 4);
    assert!(matches!(
        t.delete_template(&"sev0".parse().unwrap()).await,
        Err(StoreError::NotFound { .. })
    ));
}
