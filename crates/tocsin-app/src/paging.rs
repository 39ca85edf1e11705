use crate::prelude::*;

/// Use cases of escalation.
pub struct Escalation<'a> {
    pub(crate) app: &'a App,
}

impl Escalation<'_> {
    /// Refuses targets that are not users or schedules (naming `levels[i].targets[j]`).
    pub async fn create_policy(
        &self,
        who: &Principal,
        spec: EscalationPolicySpec,
    ) -> Result<EscalationPolicy> {
        self.app
            .require_team(who, self.app.team_ref_id(spec.team.as_ref()))
            .await?;
        let summary = json!({ "after": spec });
        Ok(self
            .app
            .audited(who, "policy.create", &spec.name, summary)
            .escalation()
            .create_policy(spec, self.app.now())
            .await?)
    }

    pub async fn get_policy(
        &self,
        who: &Principal,
        policy: &PolicyRef,
    ) -> Result<EscalationPolicy> {
        who.require(Need::Read)?;
        Ok(self.app.store.escalation().get_policy(policy).await?)
    }

    pub async fn list_policies(&self, who: &Principal) -> Result<Vec<EscalationPolicy>> {
        who.require(Need::Read)?;
        Ok(self.app.store.escalation().list_policies().await?)
    }

    /// Running escalations continue with the new levels.
    pub async fn replace_policy(
        &self,
        who: &Principal,
        policy: &PolicyRef,
        spec: EscalationPolicySpec,
    ) -> Result<EscalationPolicy> {
        let before = self.require_policy_team(who, policy).await?;
        self.app
            .require_team(who, self.app.team_ref_id(spec.team.as_ref()))
            .await?;
        let summary = json!({ "before": before, "after": spec });
        Ok(self
            .app
            .audited(who, "policy.update", &before.name, summary)
            .escalation()
            .replace_policy(policy, spec, self.app.now())
            .await?)
    }

    /// Refused while a service uses the policy.
    pub async fn delete_policy(&self, who: &Principal, policy: &PolicyRef) -> Result<()> {
        let before = self.require_policy_team(who, policy).await?;
        Ok(self
            .app
            .audited(
                who,
                "policy.delete",
                &before.name,
                json!({ "before": before }),
            )
            .escalation()
            .delete_policy(policy)
            .await?)
    }

    /// The policy, once `who` is found to be allowed to change what its team owns.
    async fn require_policy_team(
        &self,
        who: &Principal,
        policy: &PolicyRef,
    ) -> Result<EscalationPolicy> {
        let policy = self.app.store.escalation().get_policy(policy).await?;
        self.app
            .require_team(who, async { Ok(policy.team_id.clone()) })
            .await?;
        Ok(policy)
    }

    /// Sets (or with `None` removes) the policy that pages for a service's new incidents; warns when none will.
    pub async fn set_service_policy(
        &self,
        who: &Principal,
        service: &ServiceRef,
        policy: Option<PolicyRef>,
    ) -> Result<Warned<Option<EscalationPolicy>>> {
        self.app
            .require_team(who, self.app.service_team(service))
            .await?;
        let summary = json!({"after": {"policy": policy.as_ref().map(|p| p.key())}});
        let set = self
            .app
            .audited(who, "service.set_policy", service, summary)
            .escalation()
            .set_service_policy(service, policy)
            .await?;
        let id = self.app.store.services().get(service).await?.id;
        let warnings = self.app.setup_warnings(|f| f.concerns_service(&id)).await?;
        Ok(Warned::new(set, warnings))
    }

    /// Everything in the paging setup that would leave an incident with nobody.
    pub async fn doctor(&self, who: &Principal) -> Result<Vec<tocsin_domain::doctor::Finding>> {
        who.require(Need::Read)?;
        let setup = self.app.store.escalation().paging_setup().await?;
        Ok(tocsin_domain::doctor::check(
            &setup,
            &self.app.channels,
            self.app.now(),
        ))
    }

    pub async fn service_policy(
        &self,
        who: &Principal,
        service: &ServiceRef,
    ) -> Result<Option<EscalationPolicy>> {
        who.require(Need::Read)?;
        Ok(self.app.store.escalation().service_policy(service).await?)
    }

    /// Services using a policy.
    pub async fn policy_services(
        &self,
        who: &Principal,
        policy: &PolicyRef,
    ) -> Result<Vec<ServiceId>> {
        who.require(Need::Read)?;
        Ok(self.app.store.escalation().policy_services(policy).await?)
    }

    pub async fn incident_escalation(
        &self,
        who: &Principal,
        incident: &IncidentRef,
    ) -> Result<Option<EscalationRecord>> {
        who.require(Need::Read)?;
        Ok(self
            .app
            .store
            .escalation()
            .incident_escalation(incident)
            .await?)
    }

    /// Pages `level` (default: the next one) of the incident's policy now, and continues from there.
    pub async fn escalate(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        level: Option<u32>,
    ) -> Result<EscalationRecord> {
        who.require(Need::Respond)?;
        let record = self
            .app
            .audited(
                who,
                "incident.escalate",
                incident,
                json!({"after": {"level": level}}),
            )
            .escalation()
            .escalate(
                incident,
                level,
                who.actor(),
                self.app.channels,
                self.app.now(),
            )
            .await?;
        self.app.wake_engine();
        Ok(record)
    }

    pub async fn reassign(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        to: Reassignment,
    ) -> Result<EscalationRecord> {
        who.require(Need::Respond)?;
        let record = self
            .app
            .audited(who, "incident.reassign", incident, json!({"after": to}))
            .escalation()
            .reassign(incident, to, who.actor(), self.app.channels, self.app.now())
            .await?;
        self.app.wake_engine();
        Ok(record)
    }

    /// Pages more people now (a user, whoever is on call in a schedule, a team's members or on-call) while the
    /// incident's escalation goes on; unlike reassigning, nobody stops being paged.
    pub async fn add_responders(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        responders: Responders,
    ) -> Result<RespondersPaged> {
        who.require(Need::Respond)?;
        let paged = self
            .app
            .audited(
                who,
                "incident.add_responders",
                incident,
                json!({"after": responders}),
            )
            .escalation()
            .add_responders(
                incident,
                responders,
                who.actor(),
                self.app.channels,
                self.app.now(),
            )
            .await?;
        self.app.wake_engine();
        Ok(paged)
    }

    pub async fn paging_settings(&self, who: &Principal) -> Result<PagingSettingsRecord> {
        who.require(Need::Read)?;
        Ok(self.app.store.escalation().paging_settings().await?)
    }

    /// Sets (or with `None` clears) the policy that takes incidents nobody else pages. Organisation-wide, so it
    /// takes the admin scope.
    pub async fn set_fallback_policy(
        &self,
        who: &Principal,
        policy: Option<PolicyRef>,
    ) -> Result<PagingSettingsRecord> {
        who.require(Need::Configure)?;
        let summary = json!({"after": {"fallback_policy": policy.as_ref().map(|p| p.key())}});
        Ok(self
            .app
            .audited(who, "settings.fallback_policy", "paging", summary)
            .escalation()
            .set_fallback_policy(policy)
            .await?)
    }
}

/// Who each level of a policy pages at an instant.
#[derive(Debug, Clone)]
pub struct PolicyOnCall {
    pub policy: EscalationPolicy,
    pub at: DateTime<Utc>,
    /// One per level, in order.
    pub levels: Vec<tocsin_domain::escalation::LevelTargets>,
    /// The names of the schedules the levels page through.
    pub schedules: std::collections::HashMap<tocsin_domain::ids::ScheduleId, String>,
}

impl Escalation<'_> {
    /// Who each level of `policy` pages at `at` (now when absent), by the same rule the engine pages by.
    pub async fn on_call(
        &self,
        who: &Principal,
        policy: EscalationPolicy,
        at: Option<DateTime<Utc>>,
    ) -> Result<PolicyOnCall> {
        who.require(Need::Read)?;
        let at = at.unwrap_or_else(|| self.app.now());
        let targets: Vec<Vec<tocsin_domain::escalation::EscalationTarget>> =
            policy.levels.iter().map(|l| l.targets.clone()).collect();
        let (levels, schedules) = self
            .app
            .store
            .escalation()
            .resolve_levels(targets, at)
            .await?;
        Ok(PolicyOnCall {
            policy,
            at,
            levels,
            schedules,
        })
    }
}

/// Use cases of contacts.
pub struct Contacts<'a> {
    pub(crate) app: &'a App,
}

impl Contacts<'_> {
    /// Warns when the method cannot send here, or its user still cannot be reached.
    pub async fn create_method(
        &self,
        who: &Principal,
        user: &UserRef,
        spec: ContactMethodSpec,
    ) -> Result<Warned<ContactMethod>> {
        let owner = self.require_own(who, user).await?;
        let mut spec = spec;
        // A webhook's signing secret is Tocsin's to make; the answer shows it once.
        if let ContactTarget::Webhook { secret, .. } = &mut spec.target
            && secret.is_none()
        {
            *secret = Some(tocsin_domain::webhook::generate_secret());
        }
        let summary = json!({"after": {"name": spec.name, "kind": spec.target.kind()}});
        let method = self
            .app
            .audited(who, "contact_method.create", owner, summary)
            .contacts()
            .create_method(user, spec, self.app.now())
            .await?;
        self.about_user(method).await
    }

    /// The method, with what the setup's check says about its user.
    async fn about_user(&self, method: ContactMethod) -> Result<Warned<ContactMethod>> {
        let warnings = self
            .app
            .setup_warnings(|f| f.concerns_user(&method.user_id))
            .await?;
        Ok(Warned::new(method, warnings))
    }

    pub async fn list_methods(
        &self,
        who: &Principal,
        user: &UserRef,
    ) -> Result<Vec<ContactMethod>> {
        who.require(Need::Read)?;
        Ok(self.app.store.contacts().list_methods(user).await?)
    }

    pub async fn get_method(&self, who: &Principal, id: &ContactMethodId) -> Result<ContactMethod> {
        who.require(Need::Read)?;
        Ok(self.app.store.contacts().get_method(id).await?)
    }

    /// A webhook's signing secret is kept when the new spec leaves it out.
    pub async fn replace_method(
        &self,
        who: &Principal,
        id: &ContactMethodId,
        spec: ContactMethodSpec,
    ) -> Result<Warned<ContactMethod>> {
        self.require_method_owner(who, id).await?;
        let summary = json!({"after": {"name": spec.name, "kind": spec.target.kind()}});
        let method = self
            .app
            .audited(who, "contact_method.update", id, summary)
            .contacts()
            .replace_method(id, spec)
            .await?;
        self.about_user(method).await
    }

    pub async fn status_updates(&self, who: &Principal, user: &UserRef) -> Result<StatusUpdates> {
        who.require(Need::Read)?;
        Ok(self.app.store.contacts().status_updates(user).await?)
    }

    /// Which changes of incidents the user was paged for they want to be told of when someone else makes them.
    pub async fn set_status_updates(
        &self,
        who: &Principal,
        user: &UserRef,
        wanted: StatusUpdates,
    ) -> Result<StatusUpdates> {
        let owner = self.require_own(who, user).await?;
        let summary = json!({ "after": wanted });
        Ok(self
            .app
            .audited(who, "status_updates.set", owner, summary)
            .contacts()
            .set_status_updates(user, wanted)
            .await?)
    }

    /// Also removes the rules that use it.
    pub async fn delete_method(&self, who: &Principal, id: &ContactMethodId) -> Result<()> {
        self.require_method_owner(who, id).await?;
        Ok(self
            .app
            .audited(who, "contact_method.delete", id, json!({}))
            .contacts()
            .delete_method(id)
            .await?)
    }

    /// The rule's contact method must belong to the user.
    pub async fn create_rule(
        &self,
        who: &Principal,
        user: &UserRef,
        spec: NotificationRuleSpec,
    ) -> Result<NotificationRule> {
        let owner = self.require_own(who, user).await?;
        let summary = json!({ "after": spec });
        Ok(self
            .app
            .audited(who, "notification_rule.create", owner, summary)
            .contacts()
            .create_rule(user, spec)
            .await?)
    }

    pub async fn list_rules(
        &self,
        who: &Principal,
        user: &UserRef,
    ) -> Result<Vec<NotificationRule>> {
        who.require(Need::Read)?;
        Ok(self.app.store.contacts().list_rules(user).await?)
    }

    pub async fn delete_rule(&self, who: &Principal, id: &NotificationRuleId) -> Result<()> {
        let mine = match &who.grant.user {
            Some(me) if !who.grant.allows(&Need::Configure) => {
                let rules = self
                    .app
                    .store
                    .contacts()
                    .list_rules(&me.clone().into())
                    .await?;
                rules.iter().any(|r| &r.id == id).then_some(me)
            }
            _ => None,
        };
        match mine {
            Some(me) => who.require(Need::Own(me))?,
            None => who.require(Need::Configure)?,
        }
        Ok(self
            .app
            .audited(who, "notification_rule.delete", id, json!({}))
            .contacts()
            .delete_rule(id)
            .await?)
    }

    /// The user's ID, once `who` is found to be allowed to change what is theirs.
    async fn require_own(&self, who: &Principal, user: &UserRef) -> Result<UserId> {
        let id = match user {
            UserRef::Id(id) => id.clone(),
            UserRef::Email(_) => self.app.store.users().get(user).await?.id,
        };
        who.require(Need::Own(&id))?;
        Ok(id)
    }

    /// Refuses `who` unless the method is theirs to change.
    async fn require_method_owner(&self, who: &Principal, id: &ContactMethodId) -> Result<()> {
        if who.grant.allows(&Need::Configure) {
            return Ok(());
        }
        let method = self.app.store.contacts().get_method(id).await?;
        who.require(Need::Own(&method.user_id))
    }

    /// Queues a test notification to the method, due now.
    pub async fn send_test(&self, who: &Principal, id: &ContactMethodId) -> Result<DeliveryRecord> {
        self.require_method_owner(who, id).await?;
        let queued = self
            .app
            .audited(who, "contact_method.test", id, json!({}))
            .contacts()
            .send_test(id, self.app.now())
            .await?;
        self.app.wake_engine();
        Ok(queued)
    }

    /// Newest first.
    pub async fn deliveries(
        &self,
        who: &Principal,
        filter: DeliveryFilter,
    ) -> Result<Vec<DeliveryRecord>> {
        who.require(Need::Read)?;
        Ok(self.app.store.contacts().deliveries(filter).await?)
    }

    pub async fn delivery(&self, who: &Principal, id: &DeliveryId) -> Result<DeliveryRecord> {
        who.require(Need::Read)?;
        Ok(self.app.store.contacts().delivery(id).await?)
    }
}
