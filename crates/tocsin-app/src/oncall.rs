use crate::prelude::*;

/// Use cases of oncall.
pub struct OnCall<'a> {
    pub(crate) app: &'a App,
}

impl OnCall<'_> {
    /// Refuses participants that are not users (naming `layers[i].participants[j]`).
    /// Warns when nobody is on call for a while in the next 14 days.
    pub async fn create_schedule(
        &self,
        who: &Principal,
        spec: ScheduleSpec,
    ) -> Result<Warned<ScheduleRecord>> {
        who.require(Scope::Write)?;
        let record = self
            .app
            .store
            .oncall()
            .create_schedule(spec, self.app.now())
            .await?;
        Ok(self.with_gaps(record))
    }

    fn with_gaps(&self, record: ScheduleRecord) -> Warned<ScheduleRecord> {
        let gaps = tocsin_domain::doctor::schedule_gaps(
            &record.id,
            &record.name,
            &record.schedule(),
            self.app.now(),
        );
        Warned::new(record, gaps.into_iter().map(Warning::Setup).collect())
    }

    pub async fn get_schedule(
        &self,
        who: &Principal,
        schedule: &ScheduleRef,
    ) -> Result<ScheduleRecord> {
        who.require(Scope::Read)?;
        Ok(self.app.store.oncall().get_schedule(schedule).await?)
    }

    pub async fn list_schedules(&self, who: &Principal) -> Result<Vec<ScheduleRecord>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.oncall().list_schedules().await?)
    }

    pub async fn replace_schedule(
        &self,
        who: &Principal,
        schedule: &ScheduleRef,
        spec: ScheduleSpec,
    ) -> Result<Warned<ScheduleRecord>> {
        who.require(Scope::Write)?;
        let record = self
            .app
            .store
            .oncall()
            .replace_schedule(schedule, spec, self.app.now())
            .await?;
        Ok(self.with_gaps(record))
    }

    /// Refused (conflict) while an escalation policy pages the schedule.
    pub async fn delete_schedule(&self, who: &Principal, schedule: &ScheduleRef) -> Result<()> {
        who.require(Scope::Write)?;
        Ok(self.app.store.oncall().delete_schedule(schedule).await?)
    }

    /// Warns about each override it overlaps: where they overlap, the one added last wins.
    pub async fn add_override(
        &self,
        who: &Principal,
        schedule: &ScheduleRef,
        new: NewOverride,
    ) -> Result<Warned<OverrideRecord>> {
        who.require(Scope::Write)?;
        let oncall = self.app.store.oncall();
        let added = oncall.add_override(schedule, new, self.app.now()).await?;
        let record = oncall.get_schedule(schedule).await?;
        let mut warnings = Vec::new();
        for other in record
            .overrides
            .iter()
            .filter(|o| o.id != added.id && o.start < added.end && added.start < o.end)
        {
            let user = match self
                .app
                .store
                .users()
                .get(&other.user_id.clone().into())
                .await
            {
                Ok(u) => u.name.to_string(),
                Err(_) => other.user_id.to_string(),
            };
            warnings.push(Warning::OverlappingOverride {
                schedule: record.name.clone(),
                user,
                start: other.start,
                end: other.end,
            });
        }
        Ok(Warned::new(added, warnings))
    }

    pub async fn delete_override(
        &self,
        who: &Principal,
        schedule: &ScheduleRef,
        id: &OverrideId,
    ) -> Result<()> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .oncall()
            .delete_override(schedule, id, self.app.now())
            .await?)
    }

    /// Every schedule the user takes part in, through a layer or an override.
    pub async fn schedules_of_user(
        &self,
        who: &Principal,
        user: &UserRef,
    ) -> Result<Vec<ScheduleRecord>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.oncall().schedules_of_user(user).await?)
    }

    pub async fn create_feed(&self, who: &Principal, new: NewFeed) -> Result<CalendarFeed> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .oncall()
            .create_feed(new, self.app.now())
            .await?)
    }

    pub async fn list_feeds(
        &self,
        who: &Principal,
        subject: Option<FeedSubject>,
    ) -> Result<Vec<CalendarFeed>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.oncall().list_feeds(subject).await?)
    }

    /// The live feed whose secret URL carries `token`, and a principal that may read what it shows. The token is
    /// the only credential calendar apps can send.
    pub async fn feed(&self, token: &str) -> Result<Option<(CalendarFeed, Principal)>> {
        let hash = tocsin_domain::auth::hash_secret(token);
        let Some(feed) = self.app.store.oncall().feed_by_token(&hash).await? else {
            return Ok(None);
        };
        let reader = Principal {
            actor: tocsin_domain::incident::Actor {
                kind: tocsin_domain::incident::ActorKind::Token,
                id: Some(feed.id.to_string()),
                name: format!("calendar feed {}", feed.token_prefix),
            },
            scope: Scope::Read,
        };
        Ok(Some((feed, reader)))
    }

    /// Revoked feed URLs stop answering at once; revoking twice is harmless.
    pub async fn revoke_feed(&self, who: &Principal, id: &FeedId) -> Result<CalendarFeed> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .oncall()
            .revoke_feed(id, self.app.now())
            .await?)
    }
}
