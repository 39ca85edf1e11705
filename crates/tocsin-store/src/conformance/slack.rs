//! Conformance of Slack links: one-time codes, links by email, unlinking, and refusing replayed requests.

use super::paging::person;
use super::t0;
use crate::*;
use chrono::Duration;
use tocsin_domain::auth::Role;
use tocsin_domain::slack::{LinkedBy, SlackUser};

fn slack(team: &str, user: &str) -> SlackUser {
    SlackUser {
        team_id: team.into(),
        user_id: user.into(),
    }
}

pub async fn slack_users_are_linked_once_by_code_or_by_email(store: &dyn Store) {
    let ann = person(store, "ann").await;
    let bob = person(store, "bob").await;
    let repo = store.slack();
    let (u1, u2) = (slack("T1", "U1"), slack("T1", "U2"));
    assert!(repo.linked_person(&u1).await.unwrap().is_none());

    repo.offer_link_code("old", &ann, t0() + Duration::minutes(10))
        .await
        .unwrap();
    repo.offer_link_code("new", &ann, t0() + Duration::minutes(10))
        .await
        .unwrap();
    let not_found = |r: Result<_>| matches!(r, Err(StoreError::NotFound { .. }));
    assert!(
        not_found(repo.redeem_link_code("old", &u1, t0()).await),
        "a new code replaces the person's earlier one"
    );
    assert!(
        not_found(
            repo.redeem_link_code("new", &u1, t0() + Duration::minutes(10))
                .await
        ),
        "a code stops working when it expires"
    );
    let linked = repo.redeem_link_code("new", &u1, t0()).await.unwrap();
    assert_eq!(linked.id, ann);
    assert!(
        not_found(repo.redeem_link_code("new", &u2, t0()).await),
        "a code is used once"
    );
    let (user, access) = repo.linked_person(&u1).await.unwrap().unwrap();
    assert_eq!((user.id, access.role), (ann.clone(), Role::Responder));
    assert!(
        repo.linked_person(&slack("T2", "U1"))
            .await
            .unwrap()
            .is_none(),
        "a Slack user ID is only unique within its workspace"
    );

    assert!(
        repo.link_by_email(&u2, "nobody@example.test", t0())
            .await
            .unwrap()
            .is_none()
    );
    let (user, _) = repo
        .link_by_email(&u2, "BOB@example.test", t0() + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, bob);
    assert_eq!(repo.linked_person(&u2).await.unwrap().unwrap().0.id, bob);

    // Linking a Slack user again (a new code) moves it to whoever redeemed the code.
    repo.offer_link_code("bobs", &bob, t0() + Duration::minutes(10))
        .await
        .unwrap();
    repo.redeem_link_code("bobs", &u1, t0() + Duration::minutes(2))
        .await
        .unwrap();
    let accounts = repo.slack_accounts(&bob).await.unwrap();
    let linked: Vec<(&str, LinkedBy)> = accounts
        .iter()
        .map(|a| (a.slack.user_id.as_str(), a.linked_by))
        .collect();
    assert_eq!(linked, [("U2", LinkedBy::Email), ("U1", LinkedBy::Code)]);
    assert_eq!(
        repo.link_by_email(&u1, "ann@example.test", t0() + Duration::minutes(3))
            .await
            .unwrap()
            .unwrap()
            .0
            .id,
        bob,
        "an email never moves a Slack user linked already"
    );
    assert!(repo.slack_accounts(&ann).await.unwrap().is_empty());

    assert!(
        matches!(
            repo.unlink_slack_account(&ann, &u1, t0()).await,
            Err(StoreError::NotFound { .. })
        ),
        "only one's own Slack users are unlinked"
    );
    repo.unlink_slack_account(&bob, &u1, t0() + Duration::minutes(4))
        .await
        .unwrap();
    assert!(repo.linked_person(&u1).await.unwrap().is_none());
    assert_eq!(repo.slack_accounts(&bob).await.unwrap().len(), 1);
    assert!(
        repo.link_by_email(&u1, "bob@example.test", t0() + Duration::minutes(5))
            .await
            .unwrap()
            .is_none(),
        "an unlinked Slack user is not linked again by its email"
    );
    assert!(matches!(
        repo.unlink_slack_account(&bob, &u1, t0()).await,
        Err(StoreError::NotFound { .. })
    ));
    repo.offer_link_code("again", &ann, t0() + Duration::minutes(10))
        .await
        .unwrap();
    repo.redeem_link_code("again", &u1, t0() + Duration::minutes(6))
        .await
        .unwrap();
    assert_eq!(
        repo.linked_person(&u1).await.unwrap().unwrap().0.id,
        ann,
        "a code links it again"
    );
}

pub async fn a_slack_request_is_acted_on_once(store: &dyn Store) {
    let repo = store.slack();
    let forget = |now| now - Duration::minutes(10);
    assert!(
        repo.first_request("v0=aa", t0(), forget(t0()))
            .await
            .unwrap()
    );
    assert!(
        repo.first_request("v0=bb", t0(), forget(t0()))
            .await
            .unwrap()
    );
    let later = t0() + Duration::minutes(4);
    assert!(
        !repo
            .first_request("v0=aa", later, forget(later))
            .await
            .unwrap(),
        "a replay is refused"
    );
    let much_later = t0() + Duration::minutes(11);
    assert!(
        repo.first_request("v0=aa", much_later, forget(much_later))
            .await
            .unwrap(),
        "signatures are forgotten once their timestamps cannot pass the clock check"
    );
}
