use crate::prelude::*;
use tocsin_domain::audit::AuditRecord;

/// Use cases of the audit log.
pub struct Audit<'a> {
    pub(crate) app: &'a App,
}

impl Audit<'_> {
    /// Newest first. The log names who did what from where, so it is for admins.
    pub async fn list(&self, who: &Principal, filter: AuditFilter) -> Result<Page<AuditRecord>> {
        who.require(Need::Configure)?;
        Ok(self.app.store.audit().list(filter).await?)
    }
}
