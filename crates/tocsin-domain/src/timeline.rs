//! An incident's timeline: what happened, who did it and when, recorded as facts rather than sentences.
//!
//! Each entry stores its kind and the facts a person needs to understand it (which alert, which level, who was
//! paged by what). The words are chosen where the entry is shown (the API, the web UI, notifications), so they
//! can change, or be translated, without rewriting history.

use crate::automation::RunStatus;
use crate::ids::{AlertId, DeliveryId, PolicyId, RunId, ScheduleId, TeamId, UserId};
use crate::incident::Actor;
use crate::refs::Key;
use crate::severity::Severity;
use crate::updates::{Audience, DueBecause};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Opened,
    Acknowledged,
    Resolved,
    SeverityChanged,
    Note,
    AlertAcknowledged,
    AlertResolved,
    /// An alert joined an open incident instead of opening its own.
    AlertAdded,
    /// An escalation level paged its targets (automatically, or by hand).
    Escalated,
    /// The incident was handed to other people or another escalation policy.
    Reassigned,
    /// A delivery attempt of a notification: sent, retrying or failed.
    Notification,
    /// The incident's escalation reached nobody.
    Unassigned,
    /// People were asked to join the response, beside its escalation.
    RespondersAdded,
    /// Its title, description, customer impact, services or links changed.
    Edited,
    /// Someone took a role in the response.
    RoleAssigned,
    /// Someone stopped holding a role.
    RoleReleased,
    /// A role's default found nobody to take it.
    RoleUnfilled,
    /// Someone joined the response, by themselves or added by someone, without being paged.
    ResponderJoined,
    /// Someone left the response.
    ResponderLeft,
    /// Tasks were added: a template's, or one by hand.
    TasksAdded,
    /// A task was done.
    TaskDone,
    /// A task done was marked not done again.
    TaskReopened,
    /// Another incident was merged into this one.
    Merged,
    /// This incident was merged into another.
    MergedInto,
    /// A runbook step was asked to run: by someone, or by Tocsin for an automatic step.
    RunRequested,
    /// A responder approved a run.
    RunApproved,
    /// A responder declined a run.
    RunDeclined,
    /// A run ended: succeeded, failed, timed out or interrupted.
    RunFinished,
    /// Someone posted a stakeholder update.
    UpdatePosted,
    /// An update was due and none came: Tocsin reminded someone.
    UpdateReminded,
    /// Someone told customers of it on a status page: published it, or updated what the page says.
    StatusPagePosted,
}

const KINDS: [TimelineKind; 31] = [
    TimelineKind::Opened,
    TimelineKind::Acknowledged,
    TimelineKind::Resolved,
    TimelineKind::SeverityChanged,
    TimelineKind::Note,
    TimelineKind::AlertAcknowledged,
    TimelineKind::AlertResolved,
    TimelineKind::AlertAdded,
    TimelineKind::Escalated,
    TimelineKind::Reassigned,
    TimelineKind::Notification,
    TimelineKind::Unassigned,
    TimelineKind::RespondersAdded,
    TimelineKind::Edited,
    TimelineKind::RoleAssigned,
    TimelineKind::RoleReleased,
    TimelineKind::RoleUnfilled,
    TimelineKind::ResponderJoined,
    TimelineKind::ResponderLeft,
    TimelineKind::TasksAdded,
    TimelineKind::TaskDone,
    TimelineKind::TaskReopened,
    TimelineKind::Merged,
    TimelineKind::MergedInto,
    TimelineKind::RunRequested,
    TimelineKind::RunApproved,
    TimelineKind::RunDeclined,
    TimelineKind::RunFinished,
    TimelineKind::UpdatePosted,
    TimelineKind::UpdateReminded,
    TimelineKind::StatusPagePosted,
];

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::SeverityChanged => "severity_changed",
            Self::Note => "note",
            Self::AlertAcknowledged => "alert_acknowledged",
            Self::AlertResolved => "alert_resolved",
            Self::AlertAdded => "alert_added",
            Self::Escalated => "escalated",
            Self::Reassigned => "reassigned",
            Self::Notification => "notification",
            Self::Unassigned => "unassigned",
            Self::RespondersAdded => "responders_added",
            Self::Edited => "edited",
            Self::RoleAssigned => "role_assigned",
            Self::RoleReleased => "role_released",
            Self::RoleUnfilled => "role_unfilled",
            Self::ResponderJoined => "responder_joined",
            Self::ResponderLeft => "responder_left",
            Self::TasksAdded => "tasks_added",
            Self::TaskDone => "task_done",
            Self::TaskReopened => "task_reopened",
            Self::Merged => "merged",
            Self::MergedInto => "merged_into",
            Self::RunRequested => "run_requested",
            Self::RunApproved => "run_approved",
            Self::RunDeclined => "run_declined",
            Self::RunFinished => "run_finished",
            Self::UpdatePosted => "update_posted",
            Self::UpdateReminded => "update_reminded",
            Self::StatusPagePosted => "status_page_posted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| k.as_str() == s)
    }
}

/// One line of an incident's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub event: TimelineEvent,
}

impl TimelineEntry {
    pub fn new(at: DateTime<Utc>, actor: &Actor, event: TimelineEvent) -> Self {
        Self {
            at,
            actor: actor.clone(),
            event,
        }
    }

    pub fn kind(&self) -> TimelineKind {
        self.event.kind()
    }
}

/// What happened. Stored as its kind and, as JSON, its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEvent {
    Opened {
        title: String,
        severity: Severity,
        /// The alert that opened it; none when declared by hand.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alert_id: Option<AlertId>,
    },
    Acknowledged,
    Resolved {
        /// Why it resolved without a person resolving it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<ResolveCause>,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
        /// Why it changed without a person changing it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<SeverityCause>,
    },
    /// Markdown written by a person.
    Note {
        body: String,
    },
    AlertResolved {
        alert_id: AlertId,
        summary: String,
        /// Alerts of the incident still open.
        still_open: u32,
        /// The incident stays open although no alert is: the alert is flapping.
        #[serde(default)]
        held_open: bool,
    },
    AlertAdded {
        alert_id: AlertId,
        summary: String,
        why: JoinReason,
    },
    Escalated {
        policy_id: PolicyId,
        policy: String,
        /// Counted from 0; people count levels from 1. Entries stored before it was named so say `level`.
        #[serde(rename = "level_index", alias = "level")]
        level: u32,
        /// Which repeat of the policy (0 for the first pass).
        #[serde(default)]
        round: u32,
        /// How often the policy repeats.
        #[serde(default)]
        repeat: u32,
        /// Escalated by a person rather than by the policy's delays.
        #[serde(default)]
        by_hand: bool,
        /// Who was paged and how; none when the level pages in the engine's next cycle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paged: Option<Vec<PagedUser>>,
        /// Targets that paged nobody.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gaps: Vec<TargetGap>,
        /// When the next level is due; none after the policy's last level.
        #[serde(default)]
        next_at: Option<DateTime<Utc>>,
    },
    Reassigned {
        to: Handover,
    },
    /// One attempt at delivering a notification.
    Notification {
        delivery_id: DeliveryId,
        user_id: UserId,
        user: String,
        /// The contact method's kind; empty when it was deleted since.
        channel: String,
        attempt: u32,
        result: AttemptResult,
        /// The next contact method tried after this one gave up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fell_through_to: Option<String>,
    },
    /// Nobody was reached: the incident has no policy to page, or a whole pass of its policy reached nobody.
    Unassigned {
        why: Unreached,
        /// The fallback escalation policy the incident was handed to, if one is set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fallback: Option<String>,
    },
    /// People asked to join the response, paged now while the escalation goes on.
    RespondersAdded {
        paged: Vec<PagedUser>,
        /// Named targets that paged nobody.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gaps: Vec<TargetGap>,
    },
    /// Someone changed how the incident describes itself.
    Edited {
        changes: Vec<Edit>,
    },
    /// Someone took a role: given it by a person (themselves included), or by the role's default.
    RoleAssigned {
        role: Key,
        /// The role's name then.
        role_name: String,
        user_id: UserId,
        user: String,
        /// Who held it before and handed it over.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaced: Option<Person>,
        /// How they were told; none when they took it themselves.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paged: Option<PagedUser>,
        /// Given by the role's default for the incident's severity or services.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_default: bool,
    },
    RoleReleased {
        role: Key,
        role_name: String,
        user_id: UserId,
        user: String,
    },
    /// The role's default names nobody who could take it.
    RoleUnfilled {
        role: Key,
        role_name: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gaps: Vec<TargetGap>,
    },
    /// Someone joined the response without being paged: by themselves, or added by the actor.
    ResponderJoined {
        user_id: UserId,
        user: String,
    },
    /// Someone left the response, giving up the roles they held.
    ResponderLeft {
        user_id: UserId,
        user: String,
        /// The names of the roles they gave up.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        released: Vec<String>,
    },
    /// Tasks added: a template's (by its name then), or one by hand.
    TasksAdded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
        tasks: Vec<TaskLine>,
        /// A template's tasks the incident had no room for.
        #[serde(default, skip_serializing_if = "is_zero")]
        left_out: u32,
    },
    TaskDone {
        task: TaskLine,
    },
    TaskReopened {
        task: TaskLine,
    },
    /// Another incident was merged into this one: its alerts moved here, and its history and responders show here.
    Merged {
        from: i64,
        title: String,
        alerts: u32,
    },
    /// This incident was merged into another, which carries its alerts and its response from now on.
    MergedInto {
        into: i64,
        title: String,
    },
    RunRequested {
        run_id: RunId,
        runbook: Key,
        step: Key,
        title: String,
        needs_approval: bool,
        /// The run this one tries again, with the same idempotency key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_of: Option<RunId>,
    },
    RunApproved {
        run_id: RunId,
        title: String,
    },
    RunDeclined {
        run_id: RunId,
        title: String,
    },
    RunFinished {
        run_id: RunId,
        title: String,
        status: RunStatus,
        outcome: String,
        /// The start of its output.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    UpdatePosted {
        number: u32,
        status: String,
        message: String,
        audiences: Vec<Audience>,
        /// How many people and channels it was sent to.
        recipients: u32,
    },
    UpdateReminded {
        because: DueBecause,
        /// The names of those reminded; empty when nobody could be.
        to: Vec<String>,
        /// Which reminder this is about the same update, counted from 1.
        reminder: u32,
    },
    StatusPagePosted {
        /// The page's name.
        page: String,
        public_incident_id: crate::ids::PublicIncidentId,
        /// The public title.
        name: String,
        status: crate::public_incidents::PublicStatus,
        /// What customers were told.
        body: String,
        /// Whether this published it (rather than updated it).
        first: bool,
    },
    /// An entry written before entries recorded facts, with the words it was written with.
    #[serde(skip)]
    Worded {
        kind: TimelineKind,
        message: String,
    },
}

impl TimelineEvent {
    pub fn kind(&self) -> TimelineKind {
        match self {
            Self::Opened { .. } => TimelineKind::Opened,
            Self::Acknowledged => TimelineKind::Acknowledged,
            Self::Resolved { .. } => TimelineKind::Resolved,
            Self::SeverityChanged { .. } => TimelineKind::SeverityChanged,
            Self::Note { .. } => TimelineKind::Note,
            Self::AlertResolved { .. } => TimelineKind::AlertResolved,
            Self::AlertAdded { .. } => TimelineKind::AlertAdded,
            Self::Escalated { .. } => TimelineKind::Escalated,
            Self::Reassigned { .. } => TimelineKind::Reassigned,
            Self::Notification { .. } => TimelineKind::Notification,
            Self::Unassigned { .. } => TimelineKind::Unassigned,
            Self::RespondersAdded { .. } => TimelineKind::RespondersAdded,
            Self::Edited { .. } => TimelineKind::Edited,
            Self::RoleAssigned { .. } => TimelineKind::RoleAssigned,
            Self::RoleReleased { .. } => TimelineKind::RoleReleased,
            Self::RoleUnfilled { .. } => TimelineKind::RoleUnfilled,
            Self::ResponderJoined { .. } => TimelineKind::ResponderJoined,
            Self::ResponderLeft { .. } => TimelineKind::ResponderLeft,
            Self::TasksAdded { .. } => TimelineKind::TasksAdded,
            Self::TaskDone { .. } => TimelineKind::TaskDone,
            Self::TaskReopened { .. } => TimelineKind::TaskReopened,
            Self::Merged { .. } => TimelineKind::Merged,
            Self::MergedInto { .. } => TimelineKind::MergedInto,
            Self::RunRequested { .. } => TimelineKind::RunRequested,
            Self::RunApproved { .. } => TimelineKind::RunApproved,
            Self::RunDeclined { .. } => TimelineKind::RunDeclined,
            Self::RunFinished { .. } => TimelineKind::RunFinished,
            Self::UpdatePosted { .. } => TimelineKind::UpdatePosted,
            Self::UpdateReminded { .. } => TimelineKind::UpdateReminded,
            Self::StatusPagePosted { .. } => TimelineKind::StatusPagePosted,
            Self::Worded { kind, .. } => *kind,
        }
    }

    /// The event's fields, without its kind: what is stored beside the kind, and what the API shows as `data`.
    pub fn fields(&self) -> serde_json::Value {
        match self {
            Self::Worded { .. } => serde_json::Value::Object(Default::default()),
            _ => {
                let mut v = serde_json::to_value(self).expect("timeline events serialize");
                if let Some(o) = v.as_object_mut() {
                    o.remove("kind");
                }
                v
            }
        }
    }

    /// Reads an event back from its stored kind and fields. An entry whose fields are not an event's (one written
    /// before entries recorded facts) keeps the words it was stored with.
    pub fn from_stored(kind: TimelineKind, fields: &serde_json::Value, message: &str) -> Self {
        let mut tagged = match fields {
            serde_json::Value::Object(o) => o.clone(),
            _ => Default::default(),
        };
        tagged.insert("kind".into(), kind.as_str().into());
        match serde_json::from_value::<Self>(serde_json::Value::Object(tagged)) {
            Ok(event) if message.is_empty() => event,
            _ => Self::Worded {
                kind,
                message: message.to_owned(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveCause {
    /// Every alert of the incident resolved.
    AllAlertsResolved,
}

/// One change of an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case")]
pub enum Edit {
    Title {
        from: String,
        to: String,
    },
    /// The description changed; it is long, so the entry does not repeat it.
    Description,
    CustomerImpact {
        to: String,
    },
    ServiceAdded {
        service: String,
    },
    ServiceRemoved {
        service: String,
    },
    LinkAdded {
        link: crate::incident::IncidentLink,
    },
    LinkRemoved {
        url: crate::catalog::HttpUrl,
    },
    StageChanged {
        from: crate::incident::Stage,
        to: crate::incident::Stage,
    },
    /// A milestone recorded or corrected (a time), or removed (none).
    MilestoneSet {
        milestone: crate::incident::Milestone,
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    RelatedAdded {
        number: i64,
    },
    RelatedRemoved {
        number: i64,
    },
}

/// Why an incident's severity changed by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SeverityCause {
    /// A worse alert joined the incident.
    AlertJoined { alert_id: AlertId, summary: String },
    /// One of the incident's alerts got worse (its sender raised its severity or priority).
    AlertWorsened { alert_id: AlertId, summary: String },
    /// A worse incident was merged into it.
    Merged { from: i64 },
}

/// Why an alert joined an open incident instead of opening its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JoinReason {
    /// It belongs to the same group as an open alert of the incident.
    SameGroup { group: String },
    /// It arrived within the service's grouping window of the incident opening.
    TimeWindow { minutes: u32 },
    /// Its service depends on a service where the incident is open.
    Upstream { service: String, upstream: String },
    /// It fired again while flapping.
    Flapping,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A task as the timeline names it: its number in the incident and its title then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLine {
    pub number: u32,
    pub title: String,
}

/// A person, with their name when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub user_id: UserId,
    pub name: String,
}

/// A person paged, and by which contact methods when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagedUser {
    pub user_id: UserId,
    pub name: String,
    /// Empty when they have no usable contact method (enabled, of a kind this server sends), so nobody was notified.
    pub methods: Vec<PlannedMethod>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMethod {
    /// The contact method's kind (`email`, `sms`…).
    pub kind: String,
    /// Minutes after the page at which it is notified.
    pub after_minutes: i64,
}

/// A target of an escalation level that paged nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TargetGap {
    ScheduleGone {
        schedule_id: ScheduleId,
    },
    NobodyOnCall {
        schedule: String,
    },
    TeamGone {
        team_id: TeamId,
    },
    TeamHasNoMembers {
        team: String,
    },
    /// The team owns no schedule, or nobody is on call in any of them.
    TeamNobodyOnCall {
        team: String,
    },
}

/// Why an incident's escalation reached nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Unreached {
    /// Declared without a service, so no service's policy pages it.
    NoService,
    /// Its service has no escalation policy.
    NoPolicy { service: String },
    /// Its escalation policy was deleted.
    PolicyGone,
    /// Every level of the policy paged nobody: nobody on call, or nobody with a usable contact method.
    NobodyReached { policy: String },
}

/// Whom an incident was handed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Handover {
    Policy { policy_id: PolicyId, policy: String },
    Users { paged: Vec<PagedUser> },
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttemptResult {
    Delivered,
    /// Failed; tried again at `next_at`.
    Retrying {
        error: String,
        next_at: DateTime<Utc>,
    },
    /// Failed, and not tried again because the incident no longer needs it.
    NotRetried {
        error: String,
    },
    /// Failed for good.
    GaveUp {
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_stored_kind_and_fields() {
        let event = TimelineEvent::SeverityChanged {
            from: Severity::Sev2,
            to: Severity::Sev0,
            cause: None,
        };
        let fields = event.fields();
        assert_eq!(fields, serde_json::json!({"from": "SEV-2", "to": "SEV-0"}));
        assert_eq!(TimelineEvent::from_stored(event.kind(), &fields, ""), event);
        assert_eq!(
            TimelineEvent::from_stored(TimelineKind::Acknowledged, &serde_json::Value::Null, ""),
            TimelineEvent::Acknowledged
        );
    }

    #[test]
    fn escalations_stored_before_the_index_was_named_so_read_back() {
        let fields = serde_json::json!({
            "policy_id": PolicyId::generate(), "policy": "web", "level": 1, "next_at": null,
        });
        let event = TimelineEvent::from_stored(TimelineKind::Escalated, &fields, "");
        assert!(
            matches!(event, TimelineEvent::Escalated { level: 1, .. }),
            "{event:?}"
        );
        assert_eq!(event.fields()["level_index"], 1);
    }

    #[test]
    fn entries_stored_with_words_keep_them() {
        let old = TimelineEvent::from_stored(
            TimelineKind::Escalated,
            &serde_json::json!({"level": 1}),
            "Escalation level 2 of web paged Alice (email)",
        );
        assert_eq!(
            old,
            TimelineEvent::Worded {
                kind: TimelineKind::Escalated,
                message: "Escalation level 2 of web paged Alice (email)".into()
            }
        );
        assert_eq!(old.kind(), TimelineKind::Escalated);
    }

    #[test]
    fn every_kind_parses_back() {
        for k in KINDS {
            assert_eq!(TimelineKind::parse(k.as_str()), Some(k));
        }
    }
}
