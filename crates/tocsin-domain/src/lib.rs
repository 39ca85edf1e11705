//! Tocsin's domain: the types and rules of incident response, free of I/O.
//!
//! Nothing in this crate knows about HTTP, SQL or the wall clock. Storage backends load state, hand it to the
//! functions here to decide what changes, and persist the result; the transport layer parses wire formats into the
//! types here at the edge, so every handler downstream receives data that cannot be invalid.

pub mod account;
pub mod alert;
pub mod audit;
pub mod auth;
pub mod automation;
pub mod catalog;
pub mod clock;
pub mod contact;
pub mod doctor;
pub mod error;
pub mod escalation;
pub mod ical;
pub mod ids;
pub mod incident;
pub mod integration;
pub mod links;
pub mod net;
pub mod noise;
pub mod oncall;
pub mod pagerduty;
pub mod public_incidents;
pub mod redact;
pub mod refs;
pub mod retry;
pub mod roles;
pub mod runbooks;
pub mod senders;
pub mod severity;
pub mod slack;
pub mod status_page;
pub mod tasks;
pub mod template;
pub mod timeline;
pub mod updates;
pub mod uptime;
pub mod webhook;

pub use error::{FieldError, ValidationErrors};
