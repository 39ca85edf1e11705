use crate::prelude::*;
use crate::status_snapshots::Shown;
use tocsin_domain::ids::{ComponentId, PublicIncidentId};
use tocsin_domain::public_incidents::{PublicIncident, PublicIncidentSpec, PublicUpdateSpec};
use tocsin_domain::refs::Key;
use tocsin_domain::status_page::{
    Component, ComponentSpec, ComponentStatus, PageStatus, StatusPage, StatusPageSpec,
};

/// Use cases of status pages: setting them up (admins), reading their setup (everyone signed in), and what the
/// public sees of one (nobody needs to be signed in).
pub struct StatusPages<'a> {
    pub(crate) app: &'a App,
}

/// A page as the public sees it: its components in order with their status now and their history, and the
/// overall status. Nothing internal: components carry no services, public incidents no internal incident.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicPage {
    pub page: StatusPage,
    /// The page's version this was built from.
    pub version: i64,
    pub components: Vec<ShownComponent>,
    /// The most recent public incidents (at most 50, every unresolved one among them), newest first.
    pub incidents: Vec<PublicIncident>,
    pub status: PageStatus,
    /// When the page, a component or its status, or a public incident last changed.
    pub updated_at: DateTime<Utc>,
    /// When this was read from the database.
    pub built_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShownComponent {
    pub component: Component,
    pub status: ComponentStatus,
    /// A group's members, in order.
    pub members: Vec<ComponentId>,
    /// Its uptime over the days shown, in percent; none before it existed.
    pub uptime_percent: Option<f64>,
    /// The last 90 days in the page's time zone, oldest first.
    pub days: Vec<ShownDay>,
}

/// A day of a component's history.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownDay {
    pub day: tocsin_domain::uptime::DayUptime,
    /// The public names of the incidents that affected it (or, for a group, its members) that day.
    pub incidents: Vec<String>,
}

impl StatusPages<'_> {
    pub async fn list(&self, who: &Principal) -> Result<Vec<StatusPage>> {
        who.require(Need::Read)?;
        Ok(self.app.store.status_pages().status_pages().await?)
    }

    /// A page's setup: the page and its components with their services.
    pub async fn get(&self, who: &Principal, slug: &Key) -> Result<(StatusPage, Vec<Component>)> {
        who.require(Need::Read)?;
        let view = self.app.store.status_pages().page_view(slug, None).await?;
        Ok((view.page, view.components))
    }

    /// Creates the page at `slug` or replaces it; true when created.
    pub async fn put(
        &self,
        who: &Principal,
        slug: &Key,
        spec: StatusPageSpec,
    ) -> Result<(StatusPage, bool)> {
        who.require(Need::Configure)?;
        let out = self
            .app
            .audited(who, "status_page.put", slug, json!({"after": spec}))
            .status_pages()
            .put_status_page(slug, spec, self.app.now())
            .await?;
        self.app.status_snapshots.renew(slug).await;
        self.app.status_snapshots.renew(&out.0.slug).await;
        Ok(out)
    }

    pub async fn delete(&self, who: &Principal, slug: &Key) -> Result<()> {
        who.require(Need::Configure)?;
        self.app
            .audited(who, "status_page.delete", slug, json!({}))
            .status_pages()
            .delete_status_page(slug)
            .await?;
        self.app.status_snapshots.renew(slug).await;
        Ok(())
    }

    pub async fn add_component(
        &self,
        who: &Principal,
        page: &Key,
        spec: ComponentSpec,
    ) -> Result<Component> {
        who.require(Need::Configure)?;
        let out = self
            .app
            .audited(
                who,
                "status_page.component.create",
                page,
                json!({"after": spec}),
            )
            .status_pages()
            .create_component(page, spec, self.app.now())
            .await?;
        self.app.status_snapshots.renew(page).await;
        Ok(out)
    }

    pub async fn replace_component(
        &self,
        who: &Principal,
        page: &Key,
        id: &ComponentId,
        spec: ComponentSpec,
    ) -> Result<Component> {
        who.require(Need::Configure)?;
        let out = self
            .app
            .audited(
                who,
                "status_page.component.replace",
                format!("{page}/{id}"),
                json!({"after": spec}),
            )
            .status_pages()
            .replace_component(page, id, spec, self.app.now())
            .await?;
        self.app.status_snapshots.renew(page).await;
        Ok(out)
    }

    /// Sets how a component's status is set, keeping the rest of it (admins).
    pub async fn set_component_status(
        &self,
        who: &Principal,
        page: &Key,
        id: &ComponentId,
        setting: tocsin_domain::status_page::StatusSetting,
    ) -> Result<Component> {
        who.require(Need::Configure)?;
        let out = self
            .app
            .audited(
                who,
                "status_page.component.status",
                format!("{page}/{id}"),
                json!({"after": setting}),
            )
            .status_pages()
            .set_component_status(page, id, setting, self.app.now())
            .await?;
        self.app.status_snapshots.renew(page).await;
        Ok(out)
    }

    /// Creates a page (admins); a page already at its slug is refused, never replaced.
    pub async fn create(&self, who: &Principal, spec: StatusPageSpec) -> Result<StatusPage> {
        who.require(Need::Configure)?;
        let slug = spec.slug.clone();
        let out = self
            .app
            .audited(who, "status_page.create", slug, json!({"after": spec}))
            .status_pages()
            .create_status_page(spec, self.app.now())
            .await?;
        self.app.status_snapshots.renew(&out.slug).await;
        Ok(out)
    }

    pub async fn delete_component(
        &self,
        who: &Principal,
        page: &Key,
        id: &ComponentId,
    ) -> Result<()> {
        who.require(Need::Configure)?;
        self.app
            .audited(
                who,
                "status_page.component.delete",
                format!("{page}/{id}"),
                json!({}),
            )
            .status_pages()
            .delete_component(page, id, self.app.now())
            .await?;
        self.app.status_snapshots.renew(page).await;
        Ok(())
    }

    /// Every page with its components and the public incidents that matter now, each page read once: what an
    /// incident's page offers to publish on and shows as published.
    pub async fn overview(
        &self,
        who: &Principal,
    ) -> Result<Vec<(StatusPage, Vec<Component>, Vec<PublicIncident>)>> {
        who.require(Need::Read)?;
        let repo = self.app.store.status_pages();
        let mut out = Vec::new();
        for page in repo.status_pages().await? {
            let view = repo.page_view(&page.slug, None).await?;
            out.push((view.page, view.components, view.incidents));
        }
        Ok(out)
    }

    /// The page's most recent public incidents, with the internal incident each tells of.
    pub async fn incidents(&self, who: &Principal, page: &Key) -> Result<Vec<PublicIncident>> {
        who.require(Need::Read)?;
        Ok(self.app.store.status_pages().public_incidents(page).await?)
    }

    /// Publishes an incident on a page (responders): its public words, the components it affects and how.
    pub async fn publish(
        &self,
        who: &Principal,
        page: &Key,
        spec: PublicIncidentSpec,
    ) -> Result<PublicIncident> {
        who.require(Need::Respond)?;
        let internal = match spec.incident.as_deref() {
            Some(raw) => {
                let r = IncidentRef::parse(raw)
                    .ok_or_else(|| StoreError::not_found("incident", raw))?;
                Some(self.app.store.incidents().get(&r).await?.id)
            }
            None => None,
        };
        let out = self
            .app
            .audited(who, "status_page.publish", page, json!({"after": spec}))
            .status_pages()
            .publish(page, internal.as_ref(), spec, who.actor(), self.app.now())
            .await?;
        self.app.status_snapshots.renew(page).await;
        Ok(out)
    }

    /// Posts an update on a public incident (responders).
    pub async fn update_public(
        &self,
        who: &Principal,
        page: &Key,
        id: &PublicIncidentId,
        spec: PublicUpdateSpec,
    ) -> Result<PublicIncident> {
        who.require(Need::Respond)?;
        let out = self
            .app
            .audited(
                who,
                "status_page.update",
                format!("{page}/{id}"),
                json!({"after": spec}),
            )
            .status_pages()
            .update_public(page, id, spec, who.actor(), self.app.now())
            .await?;
        self.app.status_snapshots.renew(page).await;
        Ok(out)
    }

    /// What the public sees of a page, from this instance's snapshot of it. A private page exists only for
    /// `reader`s of the organisation; to anyone else it is not found, as a page that does not exist.
    pub async fn public(&self, slug: &Key, reader: Option<&Principal>) -> Result<Shown> {
        let shown = self.app.status_snapshots.get(slug).await?;
        if shown.page.page.visibility == tocsin_domain::status_page::Visibility::Private
            && !reader.is_some_and(|r| r.grant.allows(&Need::Read))
        {
            return Err(StoreError::not_found("status page", slug.as_str()).into());
        }
        Ok(shown)
    }
}
