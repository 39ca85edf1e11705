use crate::prelude::*;
use tocsin_domain::auth::hash_secret;
use tocsin_domain::ids::UserId;
use tocsin_domain::incident::{Incident, IncidentStatus};
use tocsin_domain::slack::{self, ButtonAction, SlackAccount, SlackUser};

/// Use cases of Slack: linking Slack users to people (by a one-time code, or by the email Slack knows), and who a
/// Slack user acts as when they press a button.
pub struct Slack<'a> {
    pub(crate) app: &'a App,
}

/// How long a signature is remembered: longer than a request's timestamp passes the clock check.
const REMEMBER_REQUESTS: chrono::Duration = chrono::Duration::minutes(11);

/// The person a principal acts as. A token of its own is nobody to link: that is what was sent, not a lack of
/// permission.
fn me(who: &Principal) -> Result<&UserId> {
    who.grant.user.as_ref().ok_or_else(|| {
        StoreError::Invalid(
            tocsin_domain::FieldError::new(
                "token",
                "acts as no person, so there is nobody to link: sign in, or use a token made for you",
            )
            .into(),
        )
        .into()
    })
}

impl Slack<'_> {
    /// A code the principal types in Slack (`/tocsin link CODE`) to link their Slack user to themselves.
    pub async fn offer_link_code(&self, who: &Principal) -> Result<(String, DateTime<Utc>)> {
        who.require(Need::Read)?;
        let user = me(who)?;
        // A link acts with the person's whole role for as long as it lasts; a token holding less of it must not
        // be a way to get more.
        let role = self.app.store.users().access(user).await?.role;
        if who.grant.role < role {
            return Err(crate::Error::Forbidden {
                role: who.grant.role,
                needs: format!(
                    "your own {role} role to link a Slack account (sign in, or use a token with your role)"
                ),
            });
        }
        let code = slack::generate_link_code();
        let stored = slack::normalize_link_code(&code).expect("a generated code is well formed");
        let expires_at = self.app.now() + slack::LINK_CODE_LIFETIME;
        self.app
            .store
            .slack()
            .offer_link_code(&hash_secret(&stored), user, expires_at)
            .await?;
        Ok((code, expires_at))
    }

    /// Links the Slack user who typed `typed` to the person it was offered to. NotFound for a code that is wrong,
    /// used or expired, without saying which.
    pub async fn redeem_link_code(&self, slack: &SlackUser, typed: &str) -> Result<User> {
        let Some(code) = slack::normalize_link_code(typed) else {
            return Err(StoreError::not_found("link code", "this code").into());
        };
        // The Slack user is who acts: the person the code links them to is in the link itself.
        let user = self
            .app
            .audited(
                &from_slack(slack),
                "slack.link",
                slack_target(slack),
                json!({"by": "code"}),
            )
            .slack()
            .redeem_link_code(&hash_secret(&code), slack, self.app.now())
            .await?;
        Ok(user)
    }

    /// Who a Slack user acts as: the person linked to them; given the email Slack's profile vouches for, the
    /// person with that email if the Slack user was never linked, linked from then on.
    pub async fn principal(
        &self,
        slack: &SlackUser,
        email: Option<&str>,
    ) -> Result<Option<Principal>> {
        let found = match email {
            None => self.app.store.slack().linked_person(slack).await?,
            Some(email) => {
                self.app
                    .audited(
                        &from_slack(slack),
                        "slack.link",
                        slack_target(slack),
                        json!({"by": "email"}),
                    )
                    .slack()
                    .link_by_email(slack, email, self.app.now())
                    .await?
            }
        };
        Ok(found.map(|(user, access)| Principal::person(&user, &access)))
    }

    /// The Slack users linked to a person: their own whatever their role (an observer's clicks are refused by role,
    /// not by name), or anyone's for admins.
    pub async fn accounts(&self, who: &Principal, user: &UserRef) -> Result<Vec<SlackAccount>> {
        let user = self.app.store.users().get(user).await?;
        who.require(Need::Hear(&user.id))?;
        Ok(self.app.store.slack().slack_accounts(&user.id).await?)
    }

    pub async fn unlink(&self, who: &Principal, user: &UserRef, slack: &SlackUser) -> Result<()> {
        let user = self.app.store.users().get(user).await?;
        who.require(Need::Hear(&user.id))?;
        Ok(self
            .app
            .audited(
                who,
                "slack.unlink",
                slack_target(slack),
                json!({"user": user.id}),
            )
            .slack()
            .unlink_slack_account(&user.id, slack, self.app.now())
            .await?)
    }

    /// A button pressed by `who`: done, or answered with why nothing was done. A click that finds its work done
    /// (by someone else, or by an earlier click) says so rather than taking the credit.
    pub async fn press(
        &self,
        who: &Principal,
        action: ButtonAction,
        incident: &IncidentRef,
    ) -> Result<Pressed> {
        let incidents = self.app.incidents();
        let before = incidents.get(who, incident).await?;
        if let Some(into) = before.merged_into {
            return Ok(Pressed::Merged {
                number: before.number,
                into,
            });
        }
        let done_already = match action {
            ButtonAction::Acknowledge => before.status != IncidentStatus::Triggered,
            ButtonAction::Resolve | ButtonAction::Escalate => {
                before.status == IncidentStatus::Resolved
            }
        };
        if done_already {
            return Ok(Pressed::Already(before));
        }
        let after = match action {
            ButtonAction::Acknowledge => incidents.acknowledge(who, incident).await?,
            ButtonAction::Resolve => incidents.resolve(who, incident).await?,
            ButtonAction::Escalate => {
                self.app.escalation().escalate(who, incident, None).await?;
                incidents.get(who, incident).await?
            }
        };
        // Another click may have got there between the look and the act.
        let by_me = |actor: &Option<tocsin_domain::incident::Actor>| {
            actor.as_ref().and_then(|a| a.id.as_deref()) == who.actor().id.as_deref()
        };
        let mine = match action {
            ButtonAction::Acknowledge => by_me(&after.acknowledged_by),
            ButtonAction::Resolve => by_me(&after.resolved_by),
            ButtonAction::Escalate => true,
        };
        Ok(if mine {
            Pressed::Done(after)
        } else {
            Pressed::Already(after)
        })
    }

    /// Whether a signed request is new; false for a replay of one already acted on.
    pub async fn first_request(&self, signature: &str) -> Result<bool> {
        let now = self.app.now();
        Ok(self
            .app
            .store
            .slack()
            .first_request(signature, now, now - REMEMBER_REQUESTS)
            .await?)
    }
}

/// What a pressed button came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Pressed {
    /// Done, as the presser.
    Done(Incident),
    /// Nothing to do: the incident was already past what the button asks (by whom it says).
    Already(Incident),
    /// The incident was merged into another, where its response goes on.
    Merged { number: i64, into: i64 },
}

/// The Slack user as the actor of what they do before Tocsin knows who they are (linking themselves).
fn from_slack(slack: &SlackUser) -> Principal {
    Principal {
        actor: tocsin_domain::incident::Actor {
            kind: tocsin_domain::incident::ActorKind::Integration,
            id: Some(slack_target(slack)),
            name: format!("Slack user {}", slack.user_id),
        },
        grant: tocsin_domain::auth::Grant::role(Role::Observer),
        address: None,
    }
}

fn slack_target(slack: &SlackUser) -> String {
    format!("slack:{}/{}", slack.team_id, slack.user_id)
}
