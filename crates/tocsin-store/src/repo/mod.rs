//! The repositories, written once in the portable SQL of [`crate::sql`] and run by every backend.

pub(crate) mod access;
pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod automation;
pub(crate) mod catalog;
pub(crate) mod delivery;
pub(crate) mod escalation;
pub(crate) mod heartbeat;
pub(crate) mod incidents;
pub(crate) mod ingest;
pub(crate) mod noise;
pub(crate) mod oncall;
pub(crate) mod roles;
pub(crate) mod rows;
pub(crate) mod runbooks;
pub(crate) mod settings;
pub(crate) mod slack;
pub(crate) mod status_pages;
pub(crate) mod tasks;
pub(crate) mod updates;
