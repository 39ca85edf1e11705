use crate::prelude::*;
use tocsin_domain::refs::Key;
use tocsin_domain::roles::{Responder, Role as IncidentRole, RoleAssignment, RoleSpec};

/// Use cases of the roles people take in a response, and of who works an incident.
pub struct Roles<'a> {
    pub(crate) app: &'a App,
}

impl Roles<'_> {
    /// The organisation's roles; anyone may read them, since anyone may be given one.
    pub async fn list(&self, who: &Principal) -> Result<Vec<IncidentRole>> {
        who.require(Need::Read)?;
        Ok(self.app.store.roles().roles().await?)
    }

    /// Creates one of the organisation's own roles, or rewords one (a built-in one included); configuration, so
    /// admins only.
    pub async fn put(&self, who: &Principal, key: Key, spec: RoleSpec) -> Result<IncidentRole> {
        who.require(Need::Configure)?;
        let summary = json!({ "after": spec });
        Ok(self
            .app
            .audited(who, "incident_role.put", &key, summary)
            .roles()
            .put_role(key, spec)
            .await?)
    }

    pub async fn delete(&self, who: &Principal, key: &Key) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "incident_role.delete", key, json!({}))
            .roles()
            .delete_role(key)
            .await?)
    }

    /// Who holds and held each role in the incident.
    pub async fn assignments(
        &self,
        who: &Principal,
        incident: &IncidentRef,
    ) -> Result<Vec<RoleAssignment>> {
        who.require(Need::Read)?;
        Ok(self.app.store.roles().assignments(incident).await?)
    }

    /// Gives someone a role in the incident and pages them with it ("you are now incident commander of #42"),
    /// unless they took it themselves; a role one person holds is handed over.
    pub async fn assign(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        role: &Key,
        user: &UserRef,
    ) -> Result<Option<RoleAssignment>> {
        who.require(Need::Respond)?;
        let summary = json!({ "after": { "role": role, "user": user.key() } });
        let given = self
            .app
            .audited(who, "incident.assign_role", incident, summary)
            .roles()
            .assign_role(
                incident,
                role,
                user,
                who.actor(),
                self.app.channels,
                self.app.now(),
            )
            .await?;
        self.app.wake_engine();
        Ok(given)
    }

    /// Someone (none: whoever holds it) stops holding a role in the incident.
    pub async fn release(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        role: &Key,
        user: Option<UserRef>,
    ) -> Result<Vec<RoleAssignment>> {
        who.require(Need::Respond)?;
        let summary =
            json!({ "before": { "role": role, "user": user.as_ref().map(UserRef::key) } });
        Ok(self
            .app
            .audited(who, "incident.release_role", incident, summary)
            .roles()
            .release_role(incident, role, user, who.actor(), self.app.now())
            .await?)
    }

    /// Who works the incident, with their roles.
    pub async fn responders(
        &self,
        who: &Principal,
        incident: &IncidentRef,
    ) -> Result<Vec<Responder>> {
        who.require(Need::Read)?;
        Ok(self.app.store.roles().responders(incident).await?)
    }

    /// Someone joins the response without being paged: the asker (`user` none), or someone they add.
    pub async fn join(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        user: Option<UserRef>,
    ) -> Result<Vec<Responder>> {
        who.require(Need::Respond)?;
        let user = Self::person(who, user)?;
        let summary = json!({ "after": { "user": user.key() } });
        Ok(self
            .app
            .audited(who, "incident.join", incident, summary)
            .roles()
            .join(incident, &user, who.actor(), self.app.now())
            .await?)
    }

    /// Someone leaves the response (the asker, when `user` is none), giving up the roles they hold.
    pub async fn leave(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        user: Option<UserRef>,
    ) -> Result<Vec<Responder>> {
        who.require(Need::Respond)?;
        let user = Self::person(who, user)?;
        let summary = json!({ "before": { "user": user.key() } });
        Ok(self
            .app
            .audited(who, "incident.leave", incident, summary)
            .roles()
            .leave(incident, &user, who.actor(), self.app.now())
            .await?)
    }

    /// The person named, or the asker's own: a token acting for nobody must name someone.
    fn person(who: &Principal, user: Option<UserRef>) -> Result<UserRef> {
        match (user, &who.grant.user) {
            (Some(u), _) => Ok(u),
            (None, Some(me)) => Ok(UserRef::Id(me.clone())),
            (None, None) => Err(StoreError::Invalid(
                tocsin_domain::FieldError::new(
                    "user",
                    "name whom: this token acts for no person of its own",
                )
                .into(),
            )
            .into()),
        }
    }
}
