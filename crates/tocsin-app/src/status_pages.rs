use crate::prelude::*;
use std::collections::HashMap;
use tocsin_domain::ids::{ComponentId, PublicIncidentId};
use tocsin_domain::public_incidents::{PublicIncident, PublicIncidentSpec, PublicUpdateSpec};
use tocsin_domain::refs::Key;
use tocsin_domain::status_page::{
    self, Component, ComponentSpec, ComponentStatus, PageStatus, StatusPage, StatusPageSpec,
};

/// Use cases of status pages: setting them up (admins), reading their setup (everyone signed in), and what the
/// public sees of one (nobody needs to be signed in).
pub struct StatusPages<'a> {
    pub(crate) app: &'a App,
}

/// A page as the public sees it: its components in order with their status now, and the overall status. Nothing
/// internal: components carry no services.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicPage {
    pub page: StatusPage,
    pub components: Vec<ShownComponent>,
    /// The most recent public incidents (at most 50), newest first; without the internal incident they tell of.
    pub incidents: Vec<PublicIncident>,
    pub status: PageStatus,
    /// When the page, a component's setup or a public incident last changed. A status that follows the services'
    /// incidents moves without it: its history is not kept yet.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShownComponent {
    pub component: Component,
    pub status: ComponentStatus,
    /// A group's members, in order.
    pub members: Vec<ComponentId>,
}

impl StatusPages<'_> {
    pub async fn list(&self, who: &Principal) -> Result<Vec<StatusPage>> {
        who.require(Need::Read)?;
        Ok(self.app.store.status_pages().status_pages().await?)
    }

    /// A page's setup: the page and its components with their services.
    pub async fn get(&self, who: &Principal, slug: &Key) -> Result<(StatusPage, Vec<Component>)> {
        who.require(Need::Read)?;
        let view = self.app.store.status_pages().page_view(slug).await?;
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
        Ok(self
            .app
            .audited(who, "status_page.put", slug, json!({"after": spec}))
            .status_pages()
            .put_status_page(slug, spec, self.app.now())
            .await?)
    }

    pub async fn delete(&self, who: &Principal, slug: &Key) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "status_page.delete", slug, json!({}))
            .status_pages()
            .delete_status_page(slug)
            .await?)
    }

    pub async fn add_component(
        &self,
        who: &Principal,
        page: &Key,
        spec: ComponentSpec,
    ) -> Result<Component> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(
                who,
                "status_page.component.create",
                page,
                json!({"after": spec}),
            )
            .status_pages()
            .create_component(page, spec, self.app.now())
            .await?)
    }

    pub async fn replace_component(
        &self,
        who: &Principal,
        page: &Key,
        id: &ComponentId,
        spec: ComponentSpec,
    ) -> Result<Component> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(
                who,
                "status_page.component.replace",
                format!("{page}/{id}"),
                json!({"after": spec}),
            )
            .status_pages()
            .replace_component(page, id, spec, self.app.now())
            .await?)
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
        Ok(self
            .app
            .audited(
                who,
                "status_page.component.status",
                format!("{page}/{id}"),
                json!({"after": setting}),
            )
            .status_pages()
            .set_component_status(page, id, setting, self.app.now())
            .await?)
    }

    /// Creates a page (admins); a page already at its slug is refused, never replaced.
    pub async fn create(&self, who: &Principal, spec: StatusPageSpec) -> Result<StatusPage> {
        who.require(Need::Configure)?;
        let slug = spec.slug.clone();
        Ok(self
            .app
            .audited(who, "status_page.create", slug, json!({"after": spec}))
            .status_pages()
            .create_status_page(spec, self.app.now())
            .await?)
    }

    pub async fn delete_component(
        &self,
        who: &Principal,
        page: &Key,
        id: &ComponentId,
    ) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(
                who,
                "status_page.component.delete",
                format!("{page}/{id}"),
                json!({}),
            )
            .status_pages()
            .delete_component(page, id)
            .await?)
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
            let view = repo.page_view(&page.slug).await?;
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
        Ok(self
            .app
            .audited(who, "status_page.publish", page, json!({"after": spec}))
            .status_pages()
            .publish(page, internal.as_ref(), spec, who.actor(), self.app.now())
            .await?)
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
        Ok(self
            .app
            .audited(
                who,
                "status_page.update",
                format!("{page}/{id}"),
                json!({"after": spec}),
            )
            .status_pages()
            .update_public(page, id, spec, who.actor(), self.app.now())
            .await?)
    }

    /// What the public sees of a page now. A private page exists only for `reader`s of the organisation; to anyone
    /// else it is not found, as a page that does not exist.
    pub async fn public(&self, slug: &Key, reader: Option<&Principal>) -> Result<PublicPage> {
        let view = self.app.store.status_pages().page_view(slug).await?;
        if view.page.visibility == tocsin_domain::status_page::Visibility::Private
            && !reader.is_some_and(|r| r.grant.allows(&Need::Read))
        {
            return Err(StoreError::not_found("status page", slug.as_str()).into());
        }
        let unresolved: Vec<&PublicIncident> = view
            .incidents
            .iter()
            .filter(|i| !i.status.is_resolved())
            .collect();
        let mut declared: HashMap<ComponentId, ComponentStatus> = HashMap::new();
        for affected in unresolved.iter().flat_map(|i| &i.components) {
            let worst = declared
                .get(&affected.component_id)
                .map_or(affected.status, |s| s.worst(affected.status));
            declared.insert(affected.component_id.clone(), worst);
        }
        let statuses = status_page::statuses(
            &view.components,
            &view.open_severities,
            &declared,
            &view.page.severity_map,
        );
        let leaves: Vec<ComponentStatus> = view
            .components
            .iter()
            .filter(|c| !c.group)
            .filter_map(|c| statuses.get(&c.id).copied())
            .collect();
        let impacts: Vec<status_page::Indicator> = unresolved.iter().map(|i| i.impact).collect();
        let status = status_page::page_status(&leaves, &impacts);
        let mut members: HashMap<ComponentId, Vec<ComponentId>> = HashMap::new();
        for c in &view.components {
            if let Some(group) = &c.group_id {
                members.entry(group.clone()).or_default().push(c.id.clone());
            }
        }
        let updated_at = view
            .components
            .iter()
            .map(|c| c.updated_at)
            .chain(view.incidents.iter().map(|i| i.updated_at))
            .chain([view.page.updated_at])
            .max()
            .unwrap_or(view.page.updated_at);
        let components = view
            .components
            .into_iter()
            .map(|mut component| {
                // Which services a component stands for is internal.
                component.services.clear();
                ShownComponent {
                    status: statuses
                        .get(&component.id)
                        .copied()
                        .unwrap_or(ComponentStatus::Operational),
                    members: members.remove(&component.id).unwrap_or_default(),
                    component,
                }
            })
            .collect();
        let incidents = view
            .incidents
            .into_iter()
            .map(|mut i| {
                i.incident_id = None;
                i
            })
            .collect();
        Ok(PublicPage {
            page: view.page,
            components,
            incidents,
            status,
            updated_at,
        })
    }
}
