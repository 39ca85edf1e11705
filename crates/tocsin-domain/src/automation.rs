//! Runbook automation: steps a runbook carries that Tocsin runs for an incident, by hand or on their own when an
//! incident the runbook is for opens or gains an alert. A step is an HTTP request to an automation system
//! (Rundeck, Jenkins, AWX, a GitHub workflow dispatch, any URL) or a command the server's configuration allows.
//!
//! Each run is a row: asked for (by someone, or by Tocsin), approved by a second responder when the step needs
//! it, claimed by one engine, finished with its outcome. A run's idempotency key goes with every request it makes
//! and stays the same when a failed or interrupted run is tried again, so a receiver that saw the first attempt
//! can tell the second is the same.

use crate::ValidationErrors;
use crate::alert::Alert;
use crate::ids::{IncidentId, RunId};
use crate::incident::{Actor, ActorKind, Incident, TransitionError};
use crate::refs::Key;
use crate::template::{self, Escape, Values};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Most steps in a runbook.
pub const MAX_STEPS: usize = 20;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
pub const MAX_TIMEOUT_SECONDS: u32 = 600;
/// The most of a run's output (a response body, a command's stdout and stderr) kept on the run.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// Longest URL, header value and body template.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// Most secrets: values an administrator keeps for steps' requests, sealed at rest.
pub const MAX_SECRETS: usize = 200;
pub const MAX_SECRET_BYTES: usize = 8 * 1024;
/// How long a run's claim outlasts its timeout: a runner that has not reported by then died with its run.
pub const CLAIM_GRACE_SECONDS: i64 = 60;

/// A step as a runbook writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Names the step within its runbook, e.g. `restart-workers`.
    #[schema(value_type = String, example = "restart-workers")]
    pub key: Key,
    /// What it does, in a few words: "Restart the checkout workers".
    pub title: String,
    /// An HTTP request to make; or else `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpRequest>,
    /// The name of a command the server's configuration allows (`[automation.commands.<name>]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub command: Option<Key>,
    /// Runs on its own, once per incident, when an incident the runbook is for opens or gains an alert it is for.
    #[serde(default)]
    pub automatic: bool,
    /// Runs only once a responder other than whoever asked for it approves.
    #[serde(default)]
    pub needs_approval: bool,
    /// How long it may take, 1 to 600 seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_SECONDS
}

/// An HTTP request; URL, header values and body may hold placeholders (see [`PLACEHOLDERS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    #[serde(default = "crate::template::default_method")]
    pub method: String,
    /// Placeholders may fill its path and query, never its scheme or host.
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
    #[serde(default = "crate::template::default_content_type")]
    pub content_type: String,
}

/// The placeholders a step's request may use; `alert.labels.<name>` and `secret.<name>` name any label and any
/// secret.
pub const PLACEHOLDERS: [&str; 13] = [
    "incident.id",
    "incident.number",
    "incident.title",
    "incident.severity",
    "incident.status",
    "incident.url",
    "incident.services",
    "alert.summary",
    "alert.source",
    "alert.dedup_key",
    "alert.severity",
    "run.id",
    "run.idempotency_key",
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn known_placeholder(name: &str) -> Result<(), String> {
    if PLACEHOLDERS.contains(&name) {
        return Ok(());
    }
    if let Some(label) = name.strip_prefix("alert.labels.") {
        return if label.is_empty() {
            Err("names no label".into())
        } else {
            Ok(())
        };
    }
    if let Some(secret) = name.strip_prefix("secret.") {
        return secret.parse::<Key>().map(|_| ());
    }
    Err(format!(
        "is not a placeholder Tocsin fills; use one of {}, alert.labels.<name> or secret.<name>",
        PLACEHOLDERS.join(", ")
    ))
}

/// Values that stand in for every placeholder when a step is checked: quotes, a newline and URL-reserved
/// characters, so a template that escapes wrongly fails when written, not during an incident.
struct Sample;

impl Values for Sample {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        known_placeholder(name)
            .ok()
            .map(|()| Cow::Borrowed("a \"b\"/c?d=e&f\ng"))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Step {
    /// Trims the title and checks the step: exactly one of `http` and `command`, placeholders Tocsin fills, a
    /// request that is one once filled in. Errors name fields under `prefix` (`steps[0]`).
    pub fn check(mut self, prefix: &str, errors: &mut ValidationErrors) -> Self {
        match crate::tasks::parse_title(&format!("{prefix}.title"), &self.title) {
            Ok(t) => self.title = t,
            Err(e) => errors.0.push(e),
        }
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&self.timeout_seconds) {
            errors.push(
                format!("{prefix}.timeout_seconds"),
                format!("must be 1 to {MAX_TIMEOUT_SECONDS} seconds"),
            );
        }
        match (&self.http, &self.command) {
            (Some(http), None) => http.check(&format!("{prefix}.http"), errors),
            (None, Some(_)) => {}
            _ => errors.push(
                prefix,
                "give a step either `http` (a request to make) or `command` (a command the server allows)",
            ),
        }
        self
    }

    /// The secrets its request names.
    pub fn secrets(&self) -> BTreeSet<Key> {
        let Some(http) = &self.http else {
            return BTreeSet::new();
        };
        http.templates()
            .flat_map(template::placeholders)
            .filter_map(|name| name.strip_prefix("secret.")?.parse().ok())
            .collect()
    }

    /// What it does, in one line: `POST https://…` or `command restart-workers`.
    pub fn action(&self) -> String {
        match (&self.http, &self.command) {
            (Some(http), _) => format!("{} {}", http.method.to_ascii_uppercase(), http.url),
            (None, Some(command)) => format!("command {command}"),
            (None, None) => String::new(),
        }
    }
}

impl HttpRequest {
    fn templates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str())
            .chain(self.headers.values().map(String::as_str))
            .chain(std::iter::once(self.body.as_str()))
    }

    pub fn method_upper(&self) -> String {
        self.method.trim().to_ascii_uppercase()
    }

    fn check(&self, prefix: &str, errors: &mut ValidationErrors) {
        let mut placeholders = |field: String, template: &str| {
            if template.len() > MAX_TEMPLATE_BYTES {
                errors.push(&field, format!("is longer than {MAX_TEMPLATE_BYTES} bytes"));
            }
            for name in template::placeholders(template) {
                if let Err(e) = known_placeholder(name) {
                    errors.push(&field, format!("{{{{{name}}}}} {e}"));
                }
            }
        };
        placeholders(format!("{prefix}.url"), &self.url);
        for (name, value) in &self.headers {
            placeholders(format!("{prefix}.headers.{name}"), value);
        }
        placeholders(format!("{prefix}.body"), &self.body);

        let method = self.method_upper();
        if !METHODS.contains(&method.as_str()) {
            errors.push(
                format!("{prefix}.method"),
                format!("must be one of {}", METHODS.join(", ")),
            );
        }
        // Placeholders fill a path or a query, never the host: a label a sender chose must not pick where the
        // request goes.
        let authority = self
            .url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
        match authority {
            Some(a) if a.contains("{{") => errors.push(
                format!("{prefix}.url"),
                "placeholders may fill the path and the query, not the host",
            ),
            _ => match url::Url::parse(&template::render(&self.url, &Sample, Escape::Url)) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                Ok(_) => errors.push(
                    format!("{prefix}.url"),
                    "must be an http:// or https:// URL",
                ),
                Err(e) => errors.push(format!("{prefix}.url"), format!("is not a URL: {e}")),
            },
        }
        for (name, value) in &self.headers {
            let field = format!("{prefix}.headers.{name}");
            if !is_token(name) {
                errors.push(field, "is not a valid header name");
            } else if name.eq_ignore_ascii_case("content-type") {
                errors.push(field, format!("set {prefix}.content_type instead"));
            } else if value.chars().any(char::is_control) {
                errors.push(field, "must be one line");
            }
        }
        let essence = self
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let (kind, sub) = essence.split_once('/').unwrap_or_default();
        if !is_token(kind) || !is_token(sub) || self.content_type.chars().any(char::is_control) {
            errors.push(
                format!("{prefix}.content_type"),
                "is not a media type like application/json",
            );
        }
        if self.body.is_empty() {
            return;
        }
        if method == "GET" {
            errors.push(
                format!("{prefix}.body"),
                "must be empty for GET; put the values in the URL",
            );
        }
        let escape = Escape::for_content_type(&self.content_type);
        if escape == Escape::Json
            && let Err(e) = serde_json::from_str::<serde_json::Value>(&template::render(
                &self.body, &Sample, escape,
            ))
        {
            errors.push(
                format!("{prefix}.body"),
                format!(
                    "is not JSON once filled in ({e}); placeholders go inside quotes, as in \"{{{{incident.title}}}}\""
                ),
            );
        }
    }
}

/// Checks a runbook's steps: each one, and keys that name one step each.
pub fn check_steps(steps: Vec<Step>, errors: &mut ValidationErrors) -> Vec<Step> {
    if steps.len() > MAX_STEPS {
        errors.push("steps", format!("at most {MAX_STEPS} steps"));
    }
    let mut seen = BTreeSet::new();
    steps
        .into_iter()
        .enumerate()
        .map(|(j, step)| {
            if !seen.insert(step.key.clone()) {
                errors.push(
                    format!("steps[{j}].key"),
                    format!("another step is called {}", step.key),
                );
            }
            step.check(&format!("steps[{j}]"), errors)
        })
        .collect()
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a second responder.
    AwaitingApproval,
    /// Waiting for the engine to start it.
    Queued,
    Running,
    Succeeded,
    /// It ran and its receiver or command said no (a status other than 2xx, an exit status other than 0), or it
    /// could not run.
    Failed,
    TimedOut,
    /// Tocsin stopped while it ran, so whether it did its work is unknown; it is not run again by itself.
    Interrupted,
    /// A responder declined it.
    Declined,
}

const STATUSES: [RunStatus; 8] = [
    RunStatus::AwaitingApproval,
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::TimedOut,
    RunStatus::Interrupted,
    RunStatus::Declined,
];

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "awaiting_approval",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Interrupted => "interrupted",
            Self::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        STATUSES.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the run is still to happen or happening: a step has at most one such run per incident.
    pub fn is_active(self) -> bool {
        matches!(self, Self::AwaitingApproval | Self::Queued | Self::Running)
    }

    /// Whether trying it again makes sense: it did not do its work, or nobody knows whether it did.
    pub fn can_retry(self) -> bool {
        matches!(self, Self::Failed | Self::TimedOut | Self::Interrupted)
    }
}

/// One run of a step for an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    #[schema(value_type = String)]
    pub id: RunId,
    #[schema(value_type = String)]
    pub incident_id: IncidentId,
    #[schema(value_type = String)]
    pub runbook: Key,
    pub runbook_version: u32,
    /// The step as it was when the run was asked for: an approval approves this, whatever the runbook says since.
    pub step: Step,
    pub status: RunStatus,
    pub requested_at: DateTime<Utc>,
    pub requested_by: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    /// Who approved it, or declined it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended, in a few words: `HTTP 202 Accepted`, `exit status 0`, `timed out after 30 s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The response body or the command's output, cut at 16 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Sent with every request the run makes (`Idempotency-Key`, `TOCSIN_IDEMPOTENCY_KEY`); a retry keeps it.
    pub idempotency_key: String,
    /// The run this one tries again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub retry_of: Option<RunId>,
}

impl Run {
    /// A new run of `step`, waiting for approval if the step needs it; `retry_of` is the run it tries again,
    /// whose idempotency key it keeps.
    pub fn new(
        incident_id: IncidentId,
        runbook: Key,
        runbook_version: u32,
        step: Step,
        requested_by: &Actor,
        retry_of: Option<&Run>,
        now: DateTime<Utc>,
    ) -> Self {
        let id = RunId::generate();
        let status = if step.needs_approval {
            RunStatus::AwaitingApproval
        } else {
            RunStatus::Queued
        };
        Self {
            idempotency_key: retry_of.map_or_else(|| id.to_string(), |r| r.idempotency_key.clone()),
            retry_of: retry_of.map(|r| r.id.clone()),
            id,
            incident_id,
            runbook,
            runbook_version,
            step,
            status,
            requested_at: now,
            requested_by: requested_by.clone(),
            approved_at: None,
            approved_by: None,
            started_at: None,
            finished_at: None,
            outcome: None,
            output: None,
        }
    }

    /// Another run of the same step for the same incident, with the same idempotency key.
    pub fn retry(&self, by: &Actor, now: DateTime<Utc>) -> Result<Self, TransitionError> {
        if !self.status.can_retry() {
            return Err(TransitionError::RetryingRun {
                run: self.id.to_string(),
                status: self.status.as_str(),
            });
        }
        Ok(Self::new(
            self.incident_id.clone(),
            self.runbook.clone(),
            self.runbook_version,
            self.step.clone(),
            by,
            Some(self),
            now,
        ))
    }

    /// Approves the run, or declines it: someone other than whoever asked for it (anyone, for a run Tocsin asked
    /// for by itself).
    pub fn decide(
        &mut self,
        approve: bool,
        by: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        if self.status != RunStatus::AwaitingApproval {
            return Err(TransitionError::RunNotAwaitingApproval {
                run: self.id.to_string(),
                status: self.status.as_str(),
            });
        }
        let same_person = self.requested_by.kind != ActorKind::System
            && self.requested_by.kind == by.kind
            && self.requested_by.id == by.id;
        if approve && same_person {
            return Err(TransitionError::ApprovingOwnRun);
        }
        self.status = if approve {
            RunStatus::Queued
        } else {
            RunStatus::Declined
        };
        self.approved_at = Some(now);
        self.approved_by = Some(by.clone());
        Ok(())
    }

    /// Until when a runner that started it now holds it.
    pub fn claimed_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::seconds(i64::from(self.step.timeout_seconds) + CLAIM_GRACE_SECONDS)
    }
}

/// A secret as it is listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretInfo {
    #[schema(value_type = String, example = "rundeck-token")]
    pub name: Key,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Actor,
}

/// How a run ended, as its runner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub status: RunStatus,
    pub outcome: String,
    pub output: Option<String>,
}

/// The at most [`MAX_OUTPUT_BYTES`] of `bytes` kept as text, cut at a character, with a note when cut.
pub fn kept_output(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_OUTPUT_BYTES {
        return Some(text.into_owned());
    }
    let mut end = MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!(
        "{}\n[cut: {} bytes in all]",
        &text[..end],
        bytes.len()
    ))
}

/// The start of a run's output, for its timeline entry: at most 1,000 bytes, cut at a character.
pub fn excerpt(output: &str) -> String {
    const MAX: usize = 1000;
    if output.len() <= MAX {
        return output.to_owned();
    }
    let mut end = MAX;
    while !output.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &output[..end])
}

/// What a run's request is filled from: the incident, its latest alert, the run and the secrets it names.
pub struct RunContext<'a> {
    pub run: &'a Run,
    pub incident: &'a Incident,
    /// The names of the incident's services.
    pub services: &'a [String],
    pub alert: Option<&'a Alert>,
    pub incident_url: &'a str,
    pub secrets: &'a BTreeMap<Key, String>,
}

impl Values for RunContext<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        let i = self.incident;
        let owned = |s: String| Some(Cow::Owned(s));
        let borrowed = |s: &str| Some(Cow::Owned(s.to_owned()));
        match name {
            "incident.id" => borrowed(i.id.as_str()),
            "incident.number" => owned(i.number.to_string()),
            "incident.title" => borrowed(&i.title),
            "incident.severity" => owned(i.severity.to_string()),
            "incident.status" => borrowed(i.status.as_str()),
            "incident.url" => borrowed(self.incident_url),
            "incident.services" => owned(self.services.join(", ")),
            "alert.summary" => borrowed(self.alert.map_or("", |a| &a.summary)),
            "alert.source" => borrowed(self.alert.map_or("", |a| &a.source)),
            "alert.dedup_key" => borrowed(self.alert.map_or("", |a| &a.dedup_key)),
            "alert.severity" => borrowed(self.alert.map_or("", |a| a.severity.as_str())),
            "run.id" => borrowed(self.run.id.as_str()),
            "run.idempotency_key" => borrowed(&self.run.idempotency_key),
            _ => {
                if let Some(label) = name.strip_prefix("alert.labels.") {
                    return borrowed(
                        self.alert
                            .and_then(|a| a.labels.get(label))
                            .map_or("", String::as_str),
                    );
                }
                let secret: Key = name.strip_prefix("secret.")?.parse().ok()?;
                self.secrets.get(&secret).map(|s| Cow::Borrowed(s.as_str()))
            }
        }
    }
}

impl RunContext<'_> {
    /// The environment a command runs with: the incident and the run, never a secret.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let value = |name: &str| self.get(name).map(Cow::into_owned).unwrap_or_default();
        vec![
            ("TOCSIN_INCIDENT_ID", value("incident.id")),
            ("TOCSIN_INCIDENT_NUMBER", value("incident.number")),
            ("TOCSIN_INCIDENT_TITLE", value("incident.title")),
            ("TOCSIN_INCIDENT_SEVERITY", value("incident.severity")),
            ("TOCSIN_INCIDENT_URL", value("incident.url")),
            ("TOCSIN_SERVICES", value("incident.services")),
            ("TOCSIN_ALERT_SUMMARY", value("alert.summary")),
            ("TOCSIN_ALERT_DEDUP_KEY", value("alert.dedup_key")),
            ("TOCSIN_RUN_ID", value("run.id")),
            ("TOCSIN_IDEMPOTENCY_KEY", value("run.idempotency_key")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_step(url: &str, body: &str) -> Step {
        Step {
            key: "restart".parse().unwrap(),
            title: " Restart workers ".into(),
            http: Some(HttpRequest {
                method: "post".into(),
                url: url.into(),
                headers: BTreeMap::from([(
                    "Authorization".into(),
                    "Bearer {{secret.rundeck-token}}".into(),
                )]),
                body: body.into(),
                content_type: crate::template::default_content_type(),
            }),
            command: None,
            automatic: false,
            needs_approval: true,
            timeout_seconds: 30,
        }
    }

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.fields()
    }

    #[test]
    fn a_step_is_checked_once_filled_in_and_names_its_secrets() {
        let mut errors = ValidationErrors::default();
        let step = http_step(
            "https://rundeck.example.com/api/41/job/restart/run?incident={{incident.number}}",
            r#"{"options": {"host": "{{alert.labels.instance}}", "title": "{{ incident.title }}"}}"#,
        )
        .check("steps[0]", &mut errors);
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(step.title, "Restart workers");
        assert_eq!(
            step.secrets()
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            ["rundeck-token"]
        );
        assert_eq!(
            step.action(),
            "POST https://rundeck.example.com/api/41/job/restart/run?incident={{incident.number}}"
        );
    }

    #[test]
    fn a_step_refuses_what_would_misfire_during_an_incident() {
        let mut errors = ValidationErrors::default();
        // A label cannot choose the host; a placeholder outside quotes breaks the JSON; unknown placeholders.
        http_step(
            "https://{{alert.labels.host}}/run",
            r#"{"n": {{incident.number}}, "x": "{{incident.nope}}"}"#,
        )
        .check("steps[0]", &mut errors);
        assert_eq!(
            fields(&errors),
            [
                "steps[0].http.body",
                "steps[0].http.url",
                "steps[0].http.body"
            ],
            "{errors}"
        );

        let mut errors = ValidationErrors::default();
        let mut neither = http_step("https://x.example", "");
        neither.http = None;
        neither.timeout_seconds = 0;
        neither.check("steps[1]", &mut errors);
        assert_eq!(
            fields(&errors),
            ["steps[1].timeout_seconds", "steps[1]"],
            "{errors}"
        );

        let mut errors = ValidationErrors::default();
        let twice = vec![
            http_step("https://x.example", ""),
            http_step("https://y.example", ""),
        ];
        check_steps(twice, &mut errors);
        assert_eq!(fields(&errors), ["steps[1].key"], "{errors}");
    }

    fn actor(kind: ActorKind, id: &str) -> Actor {
        Actor {
            kind,
            id: Some(id.into()),
            name: id.into(),
        }
    }

    #[test]
    fn a_second_person_approves_and_a_retry_keeps_the_key() {
        let alice = actor(ActorKind::User, "usr_a");
        let bob = actor(ActorKind::User, "usr_b");
        let now = DateTime::UNIX_EPOCH;
        let mut run = Run::new(
            IncidentId::generate(),
            "restart".parse().unwrap(),
            3,
            http_step("https://x.example", ""),
            &alice,
            None,
            now,
        );
        assert_eq!(run.status, RunStatus::AwaitingApproval);
        assert_eq!(run.idempotency_key, run.id.to_string());
        assert_eq!(
            run.decide(true, &alice, now),
            Err(TransitionError::ApprovingOwnRun)
        );
        // Declining one's own request is withdrawing it.
        let mut withdrawn = run.clone();
        withdrawn.decide(false, &alice, now).unwrap();
        assert_eq!(withdrawn.status, RunStatus::Declined);
        run.decide(true, &bob, now).unwrap();
        assert_eq!(
            (run.status, run.approved_by.as_ref()),
            (RunStatus::Queued, Some(&bob))
        );
        assert!(matches!(
            run.decide(true, &bob, now),
            Err(TransitionError::RunNotAwaitingApproval { .. })
        ));
        assert!(run.retry(&bob, now).is_err(), "a queued run is not retried");

        run.status = RunStatus::Interrupted;
        let again = run.retry(&alice, now).unwrap();
        assert_eq!(again.idempotency_key, run.idempotency_key);
        assert_eq!(again.retry_of.as_ref(), Some(&run.id));
        assert_ne!(again.id, run.id);
        assert_eq!(again.status, RunStatus::AwaitingApproval);

        // A run Tocsin asked for by itself is approved by anyone.
        let mut automatic = Run::new(
            IncidentId::generate(),
            "restart".parse().unwrap(),
            1,
            http_step("https://x.example", ""),
            &Actor::system(),
            None,
            now,
        );
        automatic.decide(true, &alice, now).unwrap();
    }

    #[test]
    fn output_is_kept_up_to_its_cap_at_a_character() {
        assert_eq!(kept_output(b""), None);
        assert_eq!(kept_output(b"ok\n").as_deref(), Some("ok\n"));
        let long = "é".repeat(MAX_OUTPUT_BYTES);
        let kept = kept_output(long.as_bytes()).unwrap();
        assert!(kept.len() <= MAX_OUTPUT_BYTES + 40, "{}", kept.len());
        assert!(kept.ends_with(&format!("[cut: {} bytes in all]", long.len())));
    }
}
