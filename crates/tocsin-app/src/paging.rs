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
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .escalation()
            .create_policy(spec, self.app.now())
            .await?)
    }

    pub async fn get_policy(
        &self,
        who: &Principal,
        policy: &PolicyRef,
    ) -> Result<EscalationPolicy> {
        who.require(Scope::Read)?;
        Ok(self.app.store.escalation().get_policy(policy).await?)
    }

    pub async fn list_policies(&self, who: &Principal) -> Result<Vec<EscalationPolicy>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.escalation().list_policies().await?)
    }

    /// Running escalations continue with the new levels.
    pub async fn replace_policy(
        &self,
        who: &Principal,
        policy: &PolicyRef,
        spec: EscalationPolicySpec,
    ) -> Result<EscalationPolicy> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .escalation()
            .replace_policy(policy, spec, self.app.now())
            .await?)
    }

    /// Refused while a service uses the policy.
    pub async fn delete_policy(&self, who: &Principal, policy: &PolicyRef) -> Result<()> {
        who.require(Scope::Write)?;
        Ok(self.app.store.escalation().delete_policy(policy).await?)
    }

    /// Sets (or with `None` removes) the policy that pages for a service's new incidents; warns when none will.
    pub async fn set_service_policy(
        &self,
        who: &Principal,
        service: &ServiceRef,
        policy: Option<PolicyRef>,
    ) -> Result<Warned<Option<EscalationPolicy>>> {
        who.require(Scope::Write)?;
        let store = self.app.store.escalation();
        let set = store.set_service_policy(service, policy).await?;
        let id = self.app.store.services().get(service).await?.id;
        let warnings = self.app.setup_warnings(|f| f.concerns_service(&id)).await?;
        Ok(Warned::new(set, warnings))
    }

    /// Everything in the paging setup that would leave an incident with nobody.
    pub async fn doctor(&self, who: &Principal) -> Result<Vec<tocsin_domain::doctor::Finding>> {
        who.require(Scope::Read)?;
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
        who.require(Scope::Read)?;
        Ok(self.app.store.escalation().service_policy(service).await?)
    }

    /// Services using a policy.
    pub async fn policy_services(
        &self,
        who: &Principal,
        policy: &PolicyRef,
    ) -> Result<Vec<ServiceId>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.escalation().policy_services(policy).await?)
    }

    pub async fn incident_escalation(
        &self,
        who: &Principal,
        incident: &IncidentRef,
    ) -> Result<Option<EscalationRecord>> {
        who.require(Scope::Read)?;
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
        who.require(Scope::Write)?;
        let record = self
            .app
            .store
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
        who.require(Scope::Write)?;
        let record = self
            .app
            .store
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
        who.require(Scope::Write)?;
        let paged = self
            .app
            .store
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
        who.require(Scope::Read)?;
        Ok(self.app.store.escalation().paging_settings().await?)
    }

    /// Sets (or with `None` clears) the policy that takes incidents nobody else pages. Organisation-wide, so it
    /// takes the admin scope.
    pub async fn set_fallback_policy(
        &self,
        who: &Principal,
        policy: Option<PolicyRef>,
    ) -> Result<PagingSettingsRecord> {
        who.require(Scope::Admin)?;
        Ok(self
            .app
            .store
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
        who.require(Scope::Read)?;
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
        who.require(Scope::Write)?;
        let method = self
            .app
            .store
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
        who.require(Scope::Read)?;
        Ok(self.app.store.contacts().list_methods(user).await?)
    }

    pub async fn get_method(&self, who: &Principal, id: &ContactMethodId) -> Result<ContactMethod> {
        who.require(Scope::Read)?;
        Ok(self.app.store.contacts().get_method(id).await?)
    }

    /// A webhook's signing secret is kept when the new spec leaves it out.
    pub async fn replace_method(
        &self,
        who: &Principal,
        id: &ContactMethodId,
        spec: ContactMethodSpec,
    ) -> Result<Warned<ContactMethod>> {
        who.require(Scope::Write)?;
        let method = self.app.store.contacts().replace_method(id, spec).await?;
        self.about_user(method).await
    }

    pub async fn status_updates(&self, who: &Principal, user: &UserRef) -> Result<StatusUpdates> {
        who.require(Scope::Read)?;
        Ok(self.app.store.contacts().status_updates(user).await?)
    }

    /// Which changes of incidents the user was paged for they want to be told of when someone else makes them.
    pub async fn set_status_updates(
        &self,
        who: &Principal,
        user: &UserRef,
        wanted: StatusUpdates,
    ) -> Result<StatusUpdates> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .contacts()
            .set_status_updates(user, wanted)
            .await?)
    }

    /// Also removes the rules that use it.
    pub async fn delete_method(&self, who: &Principal, id: &ContactMethodId) -> Result<()> {
        who.require(Scope::Write)?;
        Ok(self.app.store.contacts().delete_method(id).await?)
    }

    /// The rule's contact method must belong to the user.
    pub async fn create_rule(
        &self,
        who: &Principal,
        user: &UserRef,
        spec: NotificationRuleSpec,
    ) -> Result<NotificationRule> {
        who.require(Scope::Write)?;
        Ok(self.app.store.contacts().create_rule(user, spec).await?)
    }

    pub async fn list_rules(
        &self,
        who: &Principal,
        user: &UserRef,
    ) -> Result<Vec<NotificationRule>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.contacts().list_rules(user).await?)
    }

    pub async fn delete_rule(&self, who: &Principal, id: &NotificationRuleId) -> Result<()> {
        who.require(Scope::Write)?;
        Ok(self.app.store.contacts().delete_rule(id).await?)
    }

    /// Queues a test notification to the method, due now.
    pub async fn send_test(&self, who: &Principal, id: &ContactMethodId) -> Result<DeliveryRecord> {
        who.require(Scope::Write)?;
        let queued = self
            .app
            .store
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
        who.require(Scope::Read)?;
        Ok(self.app.store.contacts().deliveries(filter).await?)
    }

    pub async fn delivery(&self, who: &Principal, id: &DeliveryId) -> Result<DeliveryRecord> {
        who.require(Scope::Read)?;
        Ok(self.app.store.contacts().delivery(id).await?)
    }
}
