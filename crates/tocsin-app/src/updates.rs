use crate::prelude::*;
use tocsin_domain::ids::SubscriptionId;
use tocsin_domain::updates::{
    PostedUpdate, Scope, Subscriber, Subscription, UpdateDue, UpdateSpec,
};

/// Use cases of stakeholder updates: posting them (responders), and subscribing to them (anyone for themselves;
/// admins for others and for channels, whose targets are credentials).
pub struct Updates<'a> {
    pub(crate) app: &'a App,
}

/// What a subscription is to, as people name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRef {
    Service(tocsin_domain::refs::ServiceRef),
    Incident(IncidentRef),
}

/// Who subscribes, as people name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberRef {
    /// The person the principal acts as.
    Me,
    Person(tocsin_domain::refs::UserRef),
    Channel {
        name: String,
        target: tocsin_domain::contact::ContactTarget,
    },
}

/// A subscription as anyone may see it: a channel's credential hidden.
fn shown(s: Subscription) -> Subscription {
    Subscription {
        subscriber: s.subscriber.redacted(),
        ..s
    }
}

impl Updates<'_> {
    pub async fn list(&self, who: &Principal, incident: &IncidentRef) -> Result<Vec<PostedUpdate>> {
        who.require(Need::Read)?;
        Ok(self.app.store.updates().updates(incident).await?)
    }

    /// The next update the incident owes, if any.
    pub async fn due(&self, who: &Principal, incident: &IncidentRef) -> Result<Option<UpdateDue>> {
        who.require(Need::Read)?;
        Ok(self.app.store.updates().update_due(incident).await?)
    }

    pub async fn post(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        spec: UpdateSpec,
    ) -> Result<PostedUpdate> {
        who.require(Need::Respond)?;
        let posted = self
            .app
            .audited(
                who,
                "incident.post_update",
                incident,
                json!({ "after": spec }),
            )
            .updates()
            .post_update(incident, spec, who.actor(), self.app.now())
            .await?;
        self.app.wake_engine();
        Ok(posted)
    }

    /// The service or incident a reference names.
    pub async fn scope(&self, who: &Principal, scope: &ScopeRef) -> Result<Scope> {
        who.require(Need::Read)?;
        Ok(match scope {
            ScopeRef::Service(s) => Scope::Service {
                service_id: self.app.store.services().get(s).await?.id,
            },
            ScopeRef::Incident(i) => Scope::Incident {
                incident_id: self.app.store.incidents().get(i).await?.id,
            },
        })
    }

    pub async fn subscriptions(
        &self,
        who: &Principal,
        scope: &ScopeRef,
    ) -> Result<Vec<Subscription>> {
        let scope = self.scope(who, scope).await?;
        let all = self.app.store.updates().subscriptions(&scope).await?;
        Ok(all.into_iter().map(shown).collect())
    }

    /// The subscriptions of the person the principal acts as.
    pub async fn mine(&self, who: &Principal) -> Result<Vec<Subscription>> {
        who.require(Need::Read)?;
        // A token of its own is nobody, who subscribed to nothing.
        let Some(me) = who.grant.user.clone() else {
            return Ok(Vec::new());
        };
        let all = self
            .app
            .store
            .updates()
            .subscriptions_of(&tocsin_domain::refs::UserRef::Id(me))
            .await?;
        Ok(all.into_iter().map(shown).collect())
    }

    /// The principal's own subscription to a service or an incident, if they have one.
    pub async fn mine_to(&self, who: &Principal, scope: &Scope) -> Result<Option<Subscription>> {
        Ok(self
            .mine(who)
            .await?
            .into_iter()
            .find(|s| &s.scope == scope))
    }

    fn me(who: &Principal) -> Result<tocsin_domain::ids::UserId> {
        who.grant.user.clone().ok_or_else(|| {
            StoreError::Invalid(
                tocsin_domain::FieldError::new(
                    "user",
                    "this token acts as no person: name the person (or the channel) to subscribe",
                )
                .into(),
            )
            .into()
        })
    }

    fn need_for(subscriber: &Subscriber) -> Need<'_> {
        match subscriber {
            Subscriber::Person { user_id } => Need::Hear(user_id),
            Subscriber::Channel { .. } => Need::Configure,
        }
    }

    pub async fn subscribe(
        &self,
        who: &Principal,
        scope: &ScopeRef,
        subscriber: SubscriberRef,
    ) -> Result<Subscription> {
        let scope = self.scope(who, scope).await?;
        let subscriber = match subscriber {
            SubscriberRef::Me => Subscriber::Person {
                user_id: Self::me(who)?,
            },
            SubscriberRef::Person(user) => Subscriber::Person {
                user_id: self.app.store.users().get(&user).await?.id,
            },
            SubscriberRef::Channel { name, target } => Subscriber::Channel { name, target },
        };
        who.require(Self::need_for(&subscriber))?;
        let summary = json!({ "after": { "scope": scope, "subscriber": subscriber.redacted() } });
        let target = match &scope {
            Scope::Service { service_id } => service_id.to_string(),
            Scope::Incident { incident_id } => incident_id.to_string(),
        };
        let made = self
            .app
            .audited(who, "subscription.create", &target, summary)
            .updates()
            .subscribe(scope, subscriber, who.actor(), self.app.now())
            .await?;
        Ok(shown(made))
    }

    pub async fn unsubscribe(&self, who: &Principal, id: &SubscriptionId) -> Result<()> {
        who.require(Need::Read)?;
        let existing = self.app.store.updates().subscription(id).await?;
        who.require(Self::need_for(&existing.subscriber))?;
        let summary = json!({ "before": { "scope": existing.scope, "subscriber": existing.subscriber.redacted() } });
        Ok(self
            .app
            .audited(who, "subscription.delete", id, summary)
            .updates()
            .unsubscribe(id)
            .await?)
    }
}
