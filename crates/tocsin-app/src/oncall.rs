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
        self.app
            .require_team(who, self.app.team_ref_id(spec.team.as_ref()))
            .await?;
        let summary = json!({ "after": spec });
        let record = self
            .app
            .audited(who, "schedule.create", &spec.name, summary)
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
        who.require(Need::Read)?;
        Ok(self.app.store.oncall().get_schedule(schedule).await?)
    }

    pub async fn list_schedules(&self, who: &Principal) -> Result<Vec<ScheduleRecord>> {
        who.require(Need::Read)?;
        Ok(self.app.store.oncall().list_schedules().await?)
    }

    pub async fn replace_schedule(
        &self,
        who: &Principal,
        schedule: &ScheduleRef,
        spec: ScheduleSpec,
    ) -> Result<Warned<ScheduleRecord>> {
        let before = self.app.store.oncall().get_schedule(schedule).await?;
        self.require_schedule_team(who, &before).await?;
        self.app
            .require_team(who, self.app.team_ref_id(spec.team.as_ref()))
            .await?;
        let summary = json!({ "after": spec });
        let record = self
            .app
            .audited(who, "schedule.update", &before.name, summary)
            .oncall()
            .replace_schedule(schedule, spec, self.app.now())
            .await?;
        Ok(self.with_gaps(record))
    }

    /// Refused (conflict) while an escalation policy pages the schedule.
    pub async fn delete_schedule(&self, who: &Principal, schedule: &ScheduleRef) -> Result<()> {
        let before = self.app.store.oncall().get_schedule(schedule).await?;
        self.require_schedule_team(who, &before).await?;
        Ok(self
            .app
            .audited(who, "schedule.delete", &before.name, json!({}))
            .oncall()
            .delete_schedule(schedule)
            .await?)
    }

    /// Refuses `who` unless they may change what the schedule's team owns.
    async fn require_schedule_team(
        &self,
        who: &Principal,
        schedule: &ScheduleRecord,
    ) -> Result<()> {
        self.app
            .require_team(who, async { Ok(schedule.team_id.clone()) })
            .await
    }

    /// Warns about each override it overlaps: where they overlap, the one added last wins.
    pub async fn add_override(
        &self,
        who: &Principal,
        schedule: &ScheduleRef,
        new: NewOverride,
    ) -> Result<Warned<OverrideRecord>> {
        let before = self.app.store.oncall().get_schedule(schedule).await?;
        self.require_override_right(who, &before, &new.user).await?;
        let summary =
            json!({"after": {"user": new.user.to_string(), "start": new.start, "end": new.end}});
        let added = self
            .app
            .audited(who, "override.create", &before.name, summary)
            .oncall()
            .add_override(schedule, new, self.app.now())
            .await?;
        let record = self.app.store.oncall().get_schedule(schedule).await?;
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
        let before = self.app.store.oncall().get_schedule(schedule).await?;
        let taker = before
            .overrides
            .iter()
            .find(|o| &o.id == id)
            .map(|o| UserRef::Id(o.user_id.clone()));
        match &taker {
            Some(taker) => self.require_override_right(who, &before, taker).await?,
            None => self.require_schedule_team(who, &before).await?,
        }
        Ok(self
            .app
            .audited(
                who,
                "override.delete",
                &before.name,
                json!({"before": {"id": id}}),
            )
            .oncall()
            .delete_override(schedule, id, self.app.now())
            .await?)
    }

    /// People may add and remove the overrides they take themselves; the schedule's team and admins any.
    async fn require_override_right(
        &self,
        who: &Principal,
        schedule: &ScheduleRecord,
        taker: &UserRef,
    ) -> Result<()> {
        let takes_it = match (taker, &who.grant.user) {
            (UserRef::Id(id), Some(me)) => id == me,
            (UserRef::Email(_), Some(me)) => match self.app.store.users().get(taker).await {
                Ok(user) => &user.id == me,
                Err(_) => false,
            },
            _ => false,
        };
        match (&who.grant.user, takes_it) {
            (Some(me), true) => who.require(Need::Own(me)),
            _ => self.require_schedule_team(who, schedule).await,
        }
    }

    /// Every schedule the user takes part in, through a layer or an override.
    pub async fn schedules_of_user(
        &self,
        who: &Principal,
        user: &UserRef,
    ) -> Result<Vec<ScheduleRecord>> {
        who.require(Need::Read)?;
        Ok(self.app.store.oncall().schedules_of_user(user).await?)
    }

    /// Makes a calendar feed with a new secret URL token, shown once: only its hash is kept.
    pub async fn issue_feed(
        &self,
        who: &Principal,
        subject: FeedSubject,
    ) -> Result<crate::Issued<CalendarFeed>> {
        let token = tocsin_domain::auth::new_feed_token();
        let new = NewFeed {
            subject,
            token_hash: token.hash(),
            token_prefix: tocsin_domain::auth::display_prefix(token.expose()),
        };
        Ok(crate::Issued {
            record: self.create_feed(who, new).await?,
            secret: token,
        })
    }

    pub async fn create_feed(&self, who: &Principal, new: NewFeed) -> Result<CalendarFeed> {
        match &new.subject {
            FeedSubject::User(user) => who.require(Need::Own(user))?,
            // A schedule's shifts are anyone's to read; following them in a calendar is responding work.
            FeedSubject::Schedule(_) => who.require(Need::Respond)?,
        }
        let summary = json!({ "after": {"subject": new.subject} });
        Ok(self
            .app
            .audited(who, "feed.create", &new.token_prefix, summary)
            .oncall()
            .create_feed(new, self.app.now())
            .await?)
    }

    pub async fn list_feeds(
        &self,
        who: &Principal,
        subject: Option<FeedSubject>,
    ) -> Result<Vec<CalendarFeed>> {
        who.require(Need::Read)?;
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
            grant: tocsin_domain::auth::Grant::role(Role::Observer),
            address: None,
        };
        Ok(Some((feed, reader)))
    }

    /// Revoked feed URLs stop answering at once; revoking twice is harmless.
    pub async fn revoke_feed(&self, who: &Principal, id: &FeedId) -> Result<CalendarFeed> {
        let feeds = self.app.store.oncall().list_feeds(None).await?;
        match feeds.iter().find(|f| &f.id == id).map(|f| &f.subject) {
            Some(FeedSubject::User(user)) => who.require(Need::Own(user))?,
            // As anyone who may respond may follow a schedule's shifts, anyone who may respond may stop a feed.
            Some(FeedSubject::Schedule(_)) => who.require(Need::Respond)?,
            None => who.require(Need::Configure)?,
        }
        Ok(self
            .app
            .audited(who, "feed.revoke", id, json!({}))
            .oncall()
            .revoke_feed(id, self.app.now())
            .await?)
    }
}
