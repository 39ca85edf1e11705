//! Noise reduction: the decisions that keep an alert from paging anyone.
//!
//! Routing and suppression rules, silences, maintenance windows, flap detection and grouping are all matched
//! against the same view of an alert ([`AlertFields`]) with Alertmanager-style [`Matcher`]s, so a matcher copied
//! from an Alertmanager config means the same here. Everything in this module is a pure function of its inputs and
//! the time passed in; storage loads the rules, silences and windows and asks these functions what to do.

use crate::alert::AlertDetails;
use crate::error::{FieldError, ValidationErrors};
use crate::ids::{AlertId, IncidentId, MaintenanceId, RuleId, SilenceId};
use crate::severity::AlertSeverity;
use chrono::{DateTime, Duration, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use regex::{Regex, RegexBuilder};
use rrule::{Frequency, RRuleSet};
use serde::{Deserialize, Serialize};
use std::fmt;

// ---------------------------------------------------------------------------------------------------------------
// Matchers
// ---------------------------------------------------------------------------------------------------------------

/// What a matcher sees of an alert: its labels, then its own fields, then the service it is headed for.
///
/// The service and severity are carried separately from the details because rules change them on the way through
/// [`apply_rules`], and later rules must see the changed values.
#[derive(Debug, Clone, Copy)]
pub struct AlertFields<'a> {
    details: &'a AlertDetails,
    service: &'a str,
    severity: AlertSeverity,
}

impl<'a> AlertFields<'a> {
    pub fn new(details: &'a AlertDetails, service_name: &'a str) -> Self {
        Self {
            details,
            service: service_name,
            severity: details.severity,
        }
    }

    /// The same alert, as if headed for `service_name`.
    pub fn with_service<'b>(&self, service_name: &'b str) -> AlertFields<'b>
    where
        'a: 'b,
    {
        AlertFields {
            details: self.details,
            service: service_name,
            severity: self.severity,
        }
    }

    /// The same alert, as if it had `severity`.
    pub fn with_severity(&self, severity: AlertSeverity) -> Self {
        Self { severity, ..*self }
    }

    pub fn details(&self) -> &'a AlertDetails {
        self.details
    }

    pub fn service(&self) -> &'a str {
        self.service
    }

    pub fn severity(&self) -> AlertSeverity {
        self.severity
    }

    /// The value `name` has for this alert, if any.
    ///
    /// Labels come first: a sender that sets a `severity` label (as most Prometheus rules do) means its own
    /// vocabulary, and a matcher copied from its Alertmanager config must keep meaning that. A name written with
    /// a leading `@` (`@service`, `@severity`) means Tocsin's own field and never a label, so a sender cannot
    /// shadow it.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        let own = match name.strip_prefix('@') {
            Some(own) => own,
            None => {
                if let Some(v) = self.details.labels.get(name) {
                    return Some(v);
                }
                name
            }
        };
        let d = self.details;
        match own {
            "summary" => Some(&d.summary),
            "source" => Some(&d.source),
            "severity" => Some(self.severity.as_str()),
            "component" => d.component.as_deref(),
            "group" => d.group.as_deref(),
            "class" => d.class.as_deref(),
            "service" => Some(self.service),
            _ => None,
        }
    }
}

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }
}

/// One condition on an alert, written as Alertmanager writes it: `team=db`, `env!=prod`, `alertname=~"Disk.*"`,
/// `cluster!~eu-.*`.
///
/// Regular expressions must match the whole value, as in Alertmanager: `=~db` does not match `db-1`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// Compiled once, since silences and rules are matched against every incoming alert.
    regex: Option<Regex>,
}

/// Regexes come from API users; this keeps a pathological one from taking megabytes per rule.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

const MATCHER_EXAMPLES: &str = "team=db, team!=db, team=~\"db.*\" or team!~\"db.*\"";

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if name.is_empty() {
            return Err("the label name is missing".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "=!~\"{},".contains(*c))
        {
            return Err(format!("label name {name:?} must not contain {c:?}"));
        }
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Regex | MatchOp::NotRegex => {
                // Compiled alone first: a value such as `a)|(b` is invalid by itself but would turn the anchored
                // form below into an unanchored alternation.
                let compile = |pattern: &str| {
                    RegexBuilder::new(pattern)
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                        .map_err(|e| format!("{value:?} is not a valid regular expression: {e}"))
                };
                compile(&value)?;
                Some(compile(&format!("^(?:{value})$"))?)
            }
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value,
            regex,
        })
    }

    /// Parses `name<op>value`, where the value may be double-quoted (`name="a b"`, with `\"` and `\\` escapes).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let invalid = || format!("{s:?} is not a matcher like {MATCHER_EXAMPLES}");
        let at = s.find(['=', '!']).ok_or_else(invalid)?;
        let name = s[..at].trim_end();
        let rest = &s[at..];
        let (op, raw) = [
            MatchOp::Regex,
            MatchOp::NotRegex,
            MatchOp::NotEqual,
            MatchOp::Equal,
        ]
        .into_iter()
        .find_map(|op| rest.strip_prefix(op.as_str()).map(|r| (op, r)))
        .ok_or_else(invalid)?;
        let value = parse_value(raw.trim())?;
        Self::new(name, op, value).map_err(|e| format!("{s:?}: {e}"))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether this matcher accepts a label set alone, as Alertmanager's `filter` does; a missing label counts as
    /// the empty string.
    pub fn matches_labels(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Whether this matcher accepts an alert. A name the alert lacks counts as the empty string, so `team=`
    /// selects alerts without a team and `team!=` those with one, as in Alertmanager.
    pub fn matches(&self, fields: &AlertFields) -> bool {
        self.matches_value(fields.value(&self.name).unwrap_or(""))
    }

    fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            (MatchOp::Regex | MatchOp::NotRegex, None) => {
                unreachable!("regex matchers are compiled in new")
            }
        }
    }
}

fn parse_value(raw: &str) -> Result<String, String> {
    let Some(quoted) = raw.strip_prefix('"') else {
        return Ok(raw.to_owned());
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let trailing = chars.as_str().trim();
                return if trailing.is_empty() {
                    Ok(out)
                } else {
                    Err(format!("unexpected {trailing:?} after the closing quote"))
                };
            }
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                // Kept as written so that regexes such as "\d+" need no doubled backslashes.
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("{raw:?} has no closing quote"))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.op.as_str())?;
        // Unquoted text is taken literally and trimmed, so anything that would not survive that is quoted; so is
        // a `=` value starting with `~`, which would otherwise read back as `=~`.
        let needs_quotes = self.value.starts_with('"')
            || self
                .value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            || (self.op == MatchOp::Equal && self.value.starts_with('~'));
        if !needs_quotes {
            return f.write_str(&self.value);
        }
        f.write_str("\"")?;
        for c in self.value.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

impl Eq for Matcher {}

impl TryFrom<String> for Matcher {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Matcher> for String {
    fn from(m: Matcher) -> String {
        m.to_string()
    }
}

impl utoipa::PartialSchema for Matcher {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Alertmanager-style matcher: `name=value`, `name!=value`, `name=~regex` or `name!~regex` (regexes \
                 match the whole value). Names are labels, then `summary`, `source`, `severity`, `component`, \
                 `group`, `class` and `service`; `@` before one of these names means that field even when a label \
                 has the name. A missing name matches as the empty string.",
            ))
            .examples(["team=~\"db|storage\""])
            .into()
    }
}

impl utoipa::ToSchema for Matcher {}

/// Whether every matcher accepts the alert. An empty list accepts nothing: validation refuses one, and this
/// keeps a row that slipped through from silencing or rerouting everything.
pub fn all_match(matchers: &[Matcher], fields: &AlertFields) -> bool {
    !matchers.is_empty() && matchers.iter().all(|m| m.matches(fields))
}

// ---------------------------------------------------------------------------------------------------------------
// Routing and suppression rules
// ---------------------------------------------------------------------------------------------------------------

/// What a rule does to the alerts it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleAction {
    /// Sends the alert to another service (by name), whose escalation then applies.
    Route {
        service: String,
    },
    SetSeverity {
        severity: AlertSeverity,
    },
    /// Records the alert but pages no one; no later rule runs.
    Suppress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: RuleId,
    pub name: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    pub action: RuleAction,
    /// Rules run in ascending position.
    pub position: i64,
    /// Name of the service the rule is limited to; none means every service.
    pub service: Option<String>,
}

impl Rule {
    /// Whether this rule applies to the alert, including its service scope.
    pub fn matches(&self, fields: &AlertFields) -> bool {
        self.service
            .as_deref()
            .is_none_or(|s| s == fields.service())
            && all_match(&self.matchers, fields)
    }
}

/// A rule as created or replaced through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    #[schema(min_items = 1)]
    pub matchers: Vec<Matcher>,
    pub action: RuleAction,
    #[serde(default)]
    pub position: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl RuleSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        errors.check_label("name", &self.name);
        if self.matchers.is_empty() {
            errors.push("matchers", "needs at least one matcher");
        }
        if let Some(s) = &self.service
            && s.trim().is_empty()
        {
            errors.push(
                "service",
                "must be a service name; leave it out to apply to every service",
            );
        }
        if let RuleAction::Route { service } = &self.action
            && service.trim().is_empty()
        {
            errors.push("action.service", "must name the service to route to");
        }
        errors.into_result(())
    }

    pub fn into_rule(self, id: RuleId) -> Rule {
        Rule {
            id,
            name: self.name.trim().to_owned(),
            matchers: self.matchers,
            action: self.action,
            position: self.position,
            service: self.service.map(|s| s.trim().to_owned()),
        }
    }
}

impl From<&Rule> for RuleSpec {
    fn from(r: &Rule) -> Self {
        Self {
            name: r.name.clone(),
            matchers: r.matchers.clone(),
            action: r.action.clone(),
            position: r.position,
            service: r.service.clone(),
        }
    }
}

/// What the rules did to one alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The service (by name) the alert now belongs to, when a rule routed it.
    pub route_to: Option<String>,
    /// The severity a rule gave it.
    pub severity: Option<AlertSeverity>,
    /// The rule that suppressed it, and that rule's name.
    pub suppressed_by: Option<(RuleId, String)>,
    /// Every rule that applied, in the order it did.
    pub applied: Vec<RuleId>,
}

impl RuleOutcome {
    pub fn no_page_reason(&self) -> Option<NoPageReason> {
        self.suppressed_by
            .as_ref()
            .map(|(rule_id, rule_name)| NoPageReason::SuppressedByRule {
                rule_id: rule_id.clone(),
                rule_name: rule_name.clone(),
            })
    }
}

/// Runs `rules` over an alert in position order (ties by ID, so the order never depends on how they were loaded).
///
/// Every matching rule applies in turn, and each sees what earlier ones did: after a route, rules limited to the
/// new service apply and `service=` matchers see its name; after a severity change, `severity=` matchers see the
/// new one. A suppressing rule ends the run, since nothing after it can make the alert page again.
pub fn apply_rules(rules: &[Rule], fields: &AlertFields) -> RuleOutcome {
    let mut ordered: Vec<&Rule> = rules.iter().collect();
    ordered.sort_by(|a, b| (a.position, &a.id).cmp(&(b.position, &b.id)));
    let mut outcome = RuleOutcome::default();
    for rule in ordered {
        let current = fields
            .with_service(outcome.route_to.as_deref().unwrap_or(fields.service()))
            .with_severity(outcome.severity.unwrap_or(fields.severity()));
        if !rule.matches(&current) {
            continue;
        }
        outcome.applied.push(rule.id.clone());
        match &rule.action {
            RuleAction::Route { service } => outcome.route_to = Some(service.clone()),
            RuleAction::SetSeverity { severity } => outcome.severity = Some(*severity),
            RuleAction::Suppress => {
                outcome.suppressed_by = Some((rule.id.clone(), rule.name.clone()));
                break;
            }
        }
    }
    outcome
}

// ---------------------------------------------------------------------------------------------------------------
// Silences
// ---------------------------------------------------------------------------------------------------------------

/// Mutes matching alerts for a fixed time, e.g. during a planned failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Silence {
    pub id: SilenceId,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// First instant the silence applies.
    pub starts_at: DateTime<Utc>,
    /// First instant it no longer applies.
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active
    }

    /// Whether the matchers select the alert, regardless of time.
    pub fn matches(&self, fields: &AlertFields) -> bool {
        all_match(&self.matchers, fields)
    }

    /// Whether the silence carries the scope a sender's integration confines its silences to.
    pub fn is_scoped_to(&self, service: &str) -> bool {
        let scope = service_scope(service);
        self.matchers.contains(&scope)
    }

    pub fn no_page_reason(&self) -> NoPageReason {
        NoPageReason::Silenced {
            silence_id: self.id.clone(),
            comment: self.comment.clone(),
        }
    }
}

/// The active silence that mutes the alert, if any. When several do, the one that lasts longest is named, since
/// that is the one a responder has to expire to hear the alert again.
pub fn silenced_by<'a>(
    silences: &'a [Silence],
    fields: &AlertFields,
    now: DateTime<Utc>,
) -> Option<&'a Silence> {
    silences
        .iter()
        .filter(|s| s.is_active(now) && s.matches(fields))
        .max_by(|a, b| (a.ends_at, &b.id).cmp(&(b.ends_at, &a.id)))
}

/// The matcher that confines a silence made by a sender (amtool through an integration key) to that integration's
/// service: an integration key may mute what it sends, never another service's alerts.
pub fn service_scope(service: &str) -> Matcher {
    Matcher::new("@service", MatchOp::Equal, service)
        .expect("an equality matcher on a fixed name is valid")
}

/// A silence as created through the API; who created it comes from the caller's identity, not the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    #[schema(min_items = 1)]
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`.
    pub ends_at: DateTime<Utc>,
    /// Why the alerts are silenced.
    #[schema(pattern = "\\S")]
    pub comment: String,
}

impl SilenceSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.matchers.is_empty() {
            errors.push("matchers", "needs at least one matcher");
        } else if self.matchers.iter().all(|m| m.matches_value("")) {
            // Such a silence would also mute alerts that lack every named label, i.e. nearly everything;
            // Alertmanager refuses these for the same reason.
            errors.push(
                "matchers",
                "at least one matcher must require a non-empty value (e.g. team=db rather than team=~\".*\")",
            );
        }
        if self.ends_at <= self.starts_at {
            errors.push("ends_at", "must be after starts_at");
        }
        if self.comment.trim().is_empty() {
            errors.push("comment", "must say why the alerts are silenced");
        }
        errors.into_result(())
    }

    pub fn into_silence(
        self,
        id: SilenceId,
        created_by: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Silence {
        Silence {
            id,
            matchers: self.matchers,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            created_by: created_by.into(),
            comment: self.comment.trim().to_owned(),
            created_at: now,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Maintenance windows
// ---------------------------------------------------------------------------------------------------------------

/// Longest a recurring window may last: a week, so a typo in the duration cannot mute a service for months.
const MAX_WINDOW_MINUTES: u32 = 7 * 24 * 60;

/// When a service is under maintenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MaintenanceSchedule {
    /// From `starts_at` (inclusive) to `ends_at` (exclusive).
    Once {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    /// Starts at each occurrence of an RFC 5545 recurrence, e.g.
    /// `DTSTART;TZID=Europe/Berlin:20261201T020000\nRRULE:FREQ=WEEKLY;BYDAY=SU`.
    Rrule { rule: String, duration_minutes: u32 },
    /// Starts at each time a 5-field cron expression (e.g. `0 2 * * SUN`) names, read in `time_zone`.
    Cron {
        expression: String,
        /// IANA name, e.g. `Europe/Berlin`.
        time_zone: String,
        duration_minutes: u32,
    },
}

/// A schedule parsed into something that can be asked about occurrences.
enum Recurrence {
    Once {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    Rrule {
        set: RRuleSet,
        duration: Duration,
    },
    Cron {
        cron: Cron,
        tz: chrono_tz::Tz,
        duration: Duration,
    },
}

fn parse_rrule(rule: &str) -> Result<RRuleSet, String> {
    let set: RRuleSet = rule
        .trim()
        .parse()
        .map_err(|e| format!("not a valid recurrence: {e}"))?;
    // A DTSTART without Z or TZID is read in the server's own time zone, which would move the window whenever the
    // server does.
    if set.get_dt_start().timezone().is_local() {
        return Err("DTSTART needs a time zone: end it with Z for UTC or write DTSTART;TZID=Europe/Berlin:…".into());
    }
    if set.get_rrule().is_empty() {
        return Err("needs an RRULE line, e.g. RRULE:FREQ=WEEKLY;BYDAY=SU".into());
    }
    // Occurrences are found by walking forward from DTSTART, which stays cheap only at daily or coarser steps;
    // cron expressions search backwards directly and cover the finer schedules.
    if let Some(r) = set
        .get_rrule()
        .iter()
        .find(|r| r.get_freq() > Frequency::Daily)
    {
        return Err(format!(
            "FREQ={} recurs more often than daily; use a cron schedule instead",
            r.get_freq()
        ));
    }
    Ok(set.limit())
}

fn parse_cron(expression: &str) -> Result<Cron, String> {
    if expression.split_whitespace().count() != 5 && !expression.trim_start().starts_with('@') {
        return Err(format!(
            "{expression:?} must have 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 2 * * SUN\""
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| format!("{expression:?} is not a valid cron expression: {e}"))
}

fn parse_time_zone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.trim().parse().map_err(|_| {
        format!("{s:?} is not an IANA time zone name like Europe/Berlin or America/New_York")
    })
}

fn check_duration(minutes: u32) -> Result<Duration, FieldError> {
    if (1..=MAX_WINDOW_MINUTES).contains(&minutes) {
        Ok(Duration::minutes(minutes.into()))
    } else {
        Err(FieldError::new(
            "duration_minutes",
            format!("must be 1 to {MAX_WINDOW_MINUTES} (one week)"),
        ))
    }
}

impl MaintenanceSchedule {
    /// Field paths are relative to the schedule (`expression`, `time_zone`, …).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.compile().map(drop)
    }

    fn compile(&self) -> Result<Recurrence, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let compiled = match self {
            Self::Once { starts_at, ends_at } => {
                if ends_at <= starts_at {
                    errors.push("ends_at", "must be after starts_at");
                }
                Some(Recurrence::Once {
                    starts_at: *starts_at,
                    ends_at: *ends_at,
                })
            }
            Self::Rrule {
                rule,
                duration_minutes,
            } => {
                let set = errors.check(parse_rrule(rule).map_err(|m| FieldError::new("rule", m)));
                let duration = errors.check(check_duration(*duration_minutes));
                set.zip(duration)
                    .map(|(set, duration)| Recurrence::Rrule { set, duration })
            }
            Self::Cron {
                expression,
                time_zone,
                duration_minutes,
            } => {
                let cron = errors
                    .check(parse_cron(expression).map_err(|m| FieldError::new("expression", m)));
                let tz = errors
                    .check(parse_time_zone(time_zone).map_err(|m| FieldError::new("time_zone", m)));
                let duration = errors.check(check_duration(*duration_minutes));
                match (cron, tz, duration) {
                    (Some(cron), Some(tz), Some(duration)) => {
                        Some(Recurrence::Cron { cron, tz, duration })
                    }
                    _ => None,
                }
            }
        };
        match compiled {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(errors),
        }
    }

    /// Whether a window of this schedule is open at `now`: for recurring ones, whether the latest start at or
    /// before `now` was less than the duration ago.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        let Ok(recurrence) = self.compile() else {
            return false;
        };
        match recurrence {
            Recurrence::Once { starts_at, ends_at } => starts_at <= now && now < ends_at,
            Recurrence::Rrule { set, duration } => (&set)
                .into_iter()
                .map(|d| d.with_timezone(&Utc))
                .take_while(|d| *d <= now)
                .last()
                .is_some_and(|start| now < start + duration),
            Recurrence::Cron { cron, tz, duration } => cron
                .find_previous_occurrence(&now.with_timezone(&tz), true)
                .is_ok_and(|start| now < start.with_timezone(&Utc) + duration),
        }
    }

    /// The first start strictly after `after`.
    pub fn next_occurrence(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.compile().ok()? {
            Recurrence::Once { starts_at, .. } => (starts_at > after).then_some(starts_at),
            Recurrence::Rrule { set, .. } => (&set)
                .into_iter()
                .map(|d| d.with_timezone(&Utc))
                .find(|d| *d > after),
            Recurrence::Cron { cron, tz, .. } => cron
                .find_next_occurrence(&after.with_timezone(&tz), false)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
        }
    }
}

/// Planned work on a service: its alerts are recorded but page no one while a window is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaintenanceWindow {
    pub id: MaintenanceId,
    /// Name of the service under maintenance.
    pub service: String,
    pub description: String,
    pub schedule: MaintenanceSchedule,
    pub created_at: DateTime<Utc>,
}

impl MaintenanceWindow {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.schedule.is_active(now)
    }

    pub fn next_occurrence(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.next_occurrence(after)
    }

    pub fn no_page_reason(&self) -> NoPageReason {
        NoPageReason::InMaintenance {
            window_id: self.id.clone(),
            description: self.description.clone(),
        }
    }
}

/// A maintenance window as created or replaced through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    /// Service name.
    #[schema(pattern = "\\S")]
    pub service: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub schedule: MaintenanceSchedule,
}

impl MaintenanceSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.service.trim().is_empty() {
            errors.push("service", "must name the service under maintenance");
        }
        if let Err(e) = self.schedule.validate() {
            errors
                .0
                .extend(e.0.into_iter().map(|f| f.under("schedule")));
        }
        errors.into_result(())
    }

    pub fn into_window(self, id: MaintenanceId, now: DateTime<Utc>) -> MaintenanceWindow {
        MaintenanceWindow {
            id,
            service: self.service.trim().to_owned(),
            description: self.description.trim().to_owned(),
            schedule: self.schedule,
            created_at: now,
        }
    }
}

impl From<&MaintenanceWindow> for MaintenanceSpec {
    fn from(w: &MaintenanceWindow) -> Self {
        Self {
            service: w.service.clone(),
            description: w.description.clone(),
            schedule: w.schedule.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Flapping
// ---------------------------------------------------------------------------------------------------------------

/// Whether an alert is flapping: more than `max_transitions` of its (re)triggers fall in the last `window_minutes`
/// (a trigger exactly `window_minutes` ago no longer counts).
pub fn is_flapping(
    transitions: &[DateTime<Utc>],
    now: DateTime<Utc>,
    max_transitions: u32,
    window_minutes: u32,
) -> bool {
    let since = now - Duration::minutes(window_minutes.into());
    let recent = transitions
        .iter()
        .filter(|t| since < **t && **t <= now)
        .count();
    recent > max_transitions as usize
}

/// When a service treats an alert as flapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlapPolicy {
    pub max_transitions: u32,
    pub window_minutes: u32,
}

impl Default for FlapPolicy {
    /// An alert that fires more than five times an hour is paging on noise, not on news.
    fn default() -> Self {
        Self {
            max_transitions: 5,
            window_minutes: 60,
        }
    }
}

/// What an alert's resolve does to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveEffect {
    /// It was the incident's last open alert: the incident resolves.
    ResolveIncident,
    /// It was the last open alert, but its key keeps firing and resolving: resolving the incident would only
    /// reopen it on the next fire, so it is held open.
    HoldOpen,
    /// Other alerts of the incident are still open.
    KeepOpen { still_open: u32 },
}

impl FlapPolicy {
    pub fn is_flapping(&self, transitions: &[DateTime<Utc>], now: DateTime<Utc>) -> bool {
        is_flapping(transitions, now, self.max_transitions, self.window_minutes)
    }

    /// What resolving an alert does to its incident, given the incident's alerts still open and how often the
    /// alert's key fired within the window (which matters only when no other alert is open).
    pub fn on_resolve(&self, still_open: u32, fires_in_window: usize) -> ResolveEffect {
        if still_open > 0 {
            ResolveEffect::KeepOpen { still_open }
        } else if fires_in_window >= self.max_transitions as usize {
            ResolveEffect::HoldOpen
        } else {
            ResolveEffect::ResolveIncident
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.max_transitions == 0 {
            errors.push("max_transitions", "must be at least 1");
        }
        if !(1..=1440).contains(&self.window_minutes) {
            errors.push("window_minutes", "must be 1 to 1440 (one day)");
        }
        errors.into_result(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Grouping
// ---------------------------------------------------------------------------------------------------------------

/// What alerts of a service have in common to share an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GroupKey {
    /// The group the sender names: Alertmanager's and Grafana's `groupKey`, PagerDuty's `payload.group`.
    SenderGroup,
    /// The values of these labels, in this order.
    Labels { labels: Vec<String> },
}

/// How a service groups its alerts into incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Grouping {
    /// Every alert opens its own incident.
    #[default]
    PerAlert,
    /// Alerts join the service's incident opened within the last `minutes`.
    TimeWindow { minutes: u32 },
    /// Alerts with the same key join the same open incident.
    ByKey { key: GroupKey },
}

/// An open incident a new alert may join instead of opening its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinCandidate {
    /// The incident of an open alert of the same group on the service.
    SameGroup(String),
    /// The service's latest open incident opened within the last `minutes`.
    OpenedWithin { minutes: u32 },
    /// The latest open incident on a service this one depends on, directly or through others: an outage upstream
    /// explains the alerts downstream.
    Upstream,
}

impl Grouping {
    /// Where a new alert with `group_value` looks for an incident to join, in order; the first that finds one
    /// wins. A grouped alert joins only its group; upstream incidents come last, for services that depend on
    /// others.
    pub fn join_candidates(
        &self,
        group_value: Option<&str>,
        has_upstream: bool,
    ) -> Vec<JoinCandidate> {
        let mut candidates = Vec::new();
        match (group_value, self) {
            (Some(g), _) => candidates.push(JoinCandidate::SameGroup(g.to_owned())),
            (None, Self::TimeWindow { minutes }) => {
                candidates.push(JoinCandidate::OpenedWithin { minutes: *minutes })
            }
            (None, _) => {}
        }
        if has_upstream {
            candidates.push(JoinCandidate::Upstream);
        }
        candidates
    }

    /// The value alerts are grouped on, for [`Grouping::ByKey`]; none when the alert carries no part of the key,
    /// so it is treated as its own group.
    pub fn group_value(&self, details: &AlertDetails) -> Option<String> {
        match self {
            Self::PerAlert | Self::TimeWindow { .. } => None,
            Self::ByKey {
                key: GroupKey::SenderGroup,
            } => details.group.clone().filter(|g| !g.is_empty()),
            Self::ByKey {
                key: GroupKey::Labels { labels },
            } => {
                let parts: Vec<String> = labels
                    .iter()
                    .filter_map(|l| details.labels.get(l).map(|v| format!("{l}={v}")))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(","))
            }
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        match self {
            Self::PerAlert
            | Self::ByKey {
                key: GroupKey::SenderGroup,
            } => {}
            Self::TimeWindow { minutes } => {
                if !(1..=1440).contains(minutes) {
                    errors.push("minutes", "must be 1 to 1440 (one day)");
                }
            }
            Self::ByKey {
                key: GroupKey::Labels { labels },
            } => {
                if labels.is_empty() {
                    errors.push("key.labels", "needs at least one label name");
                }
                for (i, l) in labels.iter().enumerate() {
                    if l.trim().is_empty() {
                        errors.push(format!("key.labels[{i}]"), "must not be empty");
                    } else if labels[..i].contains(l) {
                        errors.push(
                            format!("key.labels[{i}]"),
                            format!("{l} appears more than once"),
                        );
                    }
                }
            }
        }
        errors.into_result(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Why an alert did not page
// ---------------------------------------------------------------------------------------------------------------

/// Why an accepted alert paged no one, shown on the alert so that "why didn't I get paged?" has an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NoPageReason {
    SuppressedByRule {
        rule_id: RuleId,
        rule_name: String,
    },
    Silenced {
        silence_id: SilenceId,
        comment: String,
    },
    InMaintenance {
        window_id: MaintenanceId,
        description: String,
    },
    Flapping,
    DeduplicatedInto {
        alert_id: AlertId,
    },
    JoinedIncident {
        incident_id: IncidentId,
        why: String,
    },
    InfoSeverity,
}

fn with_note(head: String, note: &str) -> String {
    if note.trim().is_empty() {
        head
    } else {
        format!("{head} ({})", note.trim())
    }
}

impl NoPageReason {
    pub fn describe(&self) -> String {
        match self {
            Self::SuppressedByRule { rule_id, rule_name } => {
                format!("suppressed by rule {rule_name:?} ({rule_id})")
            }
            Self::Silenced {
                silence_id,
                comment,
            } => with_note(format!("silenced by {silence_id}"), comment),
            Self::InMaintenance {
                window_id,
                description,
            } => with_note(format!("in maintenance window {window_id}"), description),
            Self::Flapping => "flapping: triggered too often in a short time".into(),
            Self::DeduplicatedInto { alert_id } => {
                format!("deduplicated into open alert {alert_id}")
            }
            Self::JoinedIncident { incident_id, why } => {
                with_note(format!("joined incident {incident_id}"), why)
            }
            Self::InfoSeverity => "info severity: recorded without paging".into(),
        }
    }
}

impl fmt::Display for NoPageReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn m(s: &str) -> Matcher {
        Matcher::parse(s).unwrap()
    }

    #[test]
    fn a_new_alert_looks_for_its_group_or_window_first_then_upstream() {
        let window = Grouping::TimeWindow { minutes: 10 };
        assert_eq!(
            window.join_candidates(None, true),
            vec![
                JoinCandidate::OpenedWithin { minutes: 10 },
                JoinCandidate::Upstream
            ]
        );
        assert_eq!(
            window.join_candidates(Some("g"), false),
            vec![JoinCandidate::SameGroup("g".into())],
            "a grouped alert joins only its group"
        );
        assert!(Grouping::PerAlert.join_candidates(None, false).is_empty());
    }

    #[test]
    fn a_resolve_holds_the_incident_open_only_for_the_last_alert_of_a_flapping_key() {
        let p = FlapPolicy::default();
        assert_eq!(
            p.on_resolve(2, 9),
            ResolveEffect::KeepOpen { still_open: 2 }
        );
        assert_eq!(p.on_resolve(0, 5), ResolveEffect::HoldOpen);
        assert_eq!(p.on_resolve(0, 4), ResolveEffect::ResolveIncident);
    }

    fn details(labels: &[(&str, &str)]) -> AlertDetails {
        let mut d = AlertDetails::new("disk full on db-1", "db-1", AlertSeverity::Error);
        d.component = Some("postgres".into());
        d.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        d
    }

    fn fields_of(errors: &ValidationErrors) -> Vec<&str> {
        errors.0.iter().map(|e| e.field.as_str()).collect()
    }

    // --- matchers ---

    #[test]
    fn matchers_parse_every_operator_and_print_back() {
        for (text, op, name, value) in [
            ("team=db", MatchOp::Equal, "team", "db"),
            ("team!=db", MatchOp::NotEqual, "team", "db"),
            ("alertname=~Disk.*", MatchOp::Regex, "alertname", "Disk.*"),
            ("cluster!~eu-.*", MatchOp::NotRegex, "cluster", "eu-.*"),
            ("team!=", MatchOp::NotEqual, "team", ""),
            (
                "summary=\"disk full\"",
                MatchOp::Equal,
                "summary",
                "disk full",
            ),
        ] {
            let parsed = m(text);
            assert_eq!(
                (parsed.name(), parsed.op(), parsed.value()),
                (name, op, value),
                "{text}"
            );
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn quoted_values_unescape_and_print_back_to_the_same_matcher() {
        let q = m(r#" team = "say \"hi\" \\ now" "#);
        assert_eq!(q.value(), r#"say "hi" \ now"#);
        assert_eq!(m(&q.to_string()), q);
        assert_eq!(m(r#"x=~"\d+""#).value(), r"\d+");
        assert_eq!(m(r"x=~\d+").value(), r"\d+");
        assert_eq!(m(r#"team="db""#).to_string(), "team=db");
        // An equality value starting with `~` must not read back as a regex.
        let tilde = m(r#"x="~y""#);
        assert_eq!(
            (tilde.op(), tilde.to_string()),
            (MatchOp::Equal, r#"x="~y""#.to_owned())
        );
        assert_eq!(m(&tilde.to_string()), tilde);
    }

    #[test]
    fn malformed_matchers_are_refused_with_a_reason() {
        for bad in [
            "team",
            "=db",
            "team~db",
            "team=\"db",
            "team=\"db\" x",
            "my team=db",
            "team=~(",
            "team=~a)|(b",
        ] {
            assert!(Matcher::parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(Matcher::parse("team").unwrap_err().contains("team=db"));
    }

    #[test]
    fn all_four_operators_match_as_alertmanager_does() {
        let d = details(&[("team", "db"), ("env", "prod-eu")]);
        let f = AlertFields::new(&d, "checkout");
        assert!(m("team=db").matches(&f));
        assert!(!m("team=web").matches(&f));
        assert!(m("team!=web").matches(&f));
        assert!(!m("team!=db").matches(&f));
        assert!(m("env=~prod-.*").matches(&f));
        assert!(!m("env!~prod-.*").matches(&f));
        assert!(m("env!~staging.*").matches(&f));
    }

    #[test]
    fn regexes_are_anchored_at_both_ends() {
        let d = details(&[("host", "db-1")]);
        let f = AlertFields::new(&d, "checkout");
        assert!(!m("host=~db").matches(&f));
        assert!(!m("host=~b-1").matches(&f));
        assert!(m("host=~db.*").matches(&f));
        assert!(m("host=~db-1|web-1").matches(&f));
        assert!(m("host!~db").matches(&f));
    }

    #[test]
    fn a_missing_name_matches_as_the_empty_string() {
        let d = details(&[("team", "db")]);
        let f = AlertFields::new(&d, "checkout");
        assert!(m("region=").matches(&f));
        assert!(!m("region!=").matches(&f));
        assert!(m("team!=").matches(&f));
        assert!(!m("region=~.+").matches(&f));
        assert!(m("region=~.*").matches(&f));
        assert!(!m("region=eu").matches(&f));
        assert!(m("region!=eu").matches(&f));
        assert!(
            m("group=").matches(&f),
            "unset alert fields count as empty too"
        );
    }

    #[test]
    fn alert_fields_answer_after_labels() {
        let d = details(&[("summary", "from label")]);
        let f = AlertFields::new(&d, "checkout");
        assert!(
            m("summary=from label").matches(&f),
            "labels shadow alert fields"
        );
        assert!(m("source=db-1").matches(&f));
        assert!(m("severity=error").matches(&f));
        assert!(m("component=postgres").matches(&f));
        assert!(m("service=checkout").matches(&f));
        assert!(m("severity=critical").matches(&f.with_severity(AlertSeverity::Critical)));
        assert_eq!(f.value("nothing"), None);
    }

    #[test]
    fn matchers_serialize_as_their_text_and_refuse_bad_text() {
        let v = serde_json::to_value(m("team=~\"db|web\"")).unwrap();
        assert_eq!(v, json!("team=~db|web"));
        let back: Matcher = serde_json::from_value(v).unwrap();
        assert_eq!(back, m("team=~db|web"));
        assert!(serde_json::from_value::<Matcher>(json!("team")).is_err());
        assert!(serde_json::from_value::<Matcher>(json!("team=~(")).is_err());
    }

    // --- rules ---

    fn rule(position: i64, matchers: &[&str], action: RuleAction) -> Rule {
        Rule {
            id: RuleId::generate(),
            name: format!("rule at {position}"),
            matchers: matchers.iter().map(|s| m(s)).collect(),
            action,
            position,
            service: None,
        }
    }

    fn route(service: &str) -> RuleAction {
        RuleAction::Route {
            service: service.into(),
        }
    }

    #[test]
    fn rules_run_in_position_order_whatever_order_they_come_in() {
        let d = details(&[("team", "db")]);
        let f = AlertFields::new(&d, "checkout");
        let first = rule(1, &["team=db"], route("db"));
        let second = rule(2, &["team=db"], route("storage"));
        let outcome = apply_rules(&[second.clone(), first.clone()], &f);
        assert_eq!(outcome.route_to.as_deref(), Some("storage"));
        assert_eq!(outcome.applied, vec![first.id, second.id]);
    }

    #[test]
    fn later_rules_see_the_routed_service_and_the_new_severity() {
        let d = details(&[("team", "db")]);
        let f = AlertFields::new(&d, "checkout");
        let to_db = rule(1, &["team=db"], route("db"));
        let mut db_only = rule(
            2,
            &["severity=error"],
            RuleAction::SetSeverity {
                severity: AlertSeverity::Warning,
            },
        );
        db_only.service = Some("db".into());
        let on_new_service = rule(3, &["service=db", "severity=warning"], route("db-oncall"));
        let mut checkout_only = rule(4, &["team=db"], RuleAction::Suppress);
        checkout_only.service = Some("checkout".into());

        let outcome = apply_rules(
            &[
                to_db.clone(),
                db_only.clone(),
                on_new_service.clone(),
                checkout_only,
            ],
            &f,
        );
        assert_eq!(
            outcome,
            RuleOutcome {
                route_to: Some("db-oncall".into()),
                severity: Some(AlertSeverity::Warning),
                suppressed_by: None,
                applied: vec![to_db.id, db_only.id, on_new_service.id],
            }
        );
        assert_eq!(outcome.no_page_reason(), None);
    }

    #[test]
    fn suppress_stops_evaluation() {
        let d = details(&[("env", "staging")]);
        let f = AlertFields::new(&d, "checkout");
        let mut drop_staging = rule(1, &["env=staging"], RuleAction::Suppress);
        drop_staging.name = "drop staging".into();
        let after = rule(2, &["env=staging"], route("db"));
        let outcome = apply_rules(&[after, drop_staging.clone()], &f);
        assert_eq!(
            outcome.suppressed_by,
            Some((drop_staging.id.clone(), "drop staging".into()))
        );
        assert_eq!(
            (outcome.route_to, outcome.applied),
            (None, vec![drop_staging.id.clone()])
        );
        assert_eq!(
            apply_rules(
                &[drop_staging],
                &AlertFields::new(&details(&[]), "checkout")
            ),
            RuleOutcome::default()
        );
    }

    #[test]
    fn a_rule_without_matchers_matches_nothing() {
        let d = details(&[]);
        assert!(!rule(1, &[], RuleAction::Suppress).matches(&AlertFields::new(&d, "checkout")));
    }

    #[test]
    fn rule_specs_have_their_wire_shape() {
        let spec: RuleSpec = serde_json::from_value(json!({
            "name": "db alerts to db",
            "matchers": ["team=db", "env!~staging.*"],
            "action": {"type": "route", "service": "db"},
        }))
        .unwrap();
        assert_eq!((spec.position, &spec.service), (0, &None));
        spec.validate().unwrap();
        for (action, value) in [
            (route("db"), json!({"type": "route", "service": "db"})),
            (
                RuleAction::SetSeverity {
                    severity: AlertSeverity::Warning,
                },
                json!({"type": "set_severity", "severity": "warning"}),
            ),
            (RuleAction::Suppress, json!({"type": "suppress"})),
        ] {
            assert_eq!(serde_json::to_value(&action).unwrap(), value);
            assert_eq!(serde_json::from_value::<RuleAction>(value).unwrap(), action);
        }
        assert!(
            serde_json::from_value::<RuleSpec>(json!({
                "name": "x", "matchers": ["a=b"], "action": {"type": "suppress"}, "extra": 1
            }))
            .is_err()
        );
        let rule = spec.clone().into_rule(RuleId::generate());
        assert_eq!(RuleSpec::from(&rule), spec);
    }

    #[test]
    fn rule_spec_validation_names_each_field() {
        let spec = RuleSpec {
            name: " ".into(),
            matchers: vec![],
            action: route(""),
            position: 0,
            service: Some("".into()),
        };
        let errors = spec.validate().unwrap_err();
        assert_eq!(
            fields_of(&errors),
            ["name", "matchers", "service", "action.service"]
        );
        let long = RuleSpec {
            name: "x".repeat(101),
            matchers: vec![m("a=b")],
            action: RuleAction::Suppress,
            position: 0,
            service: None,
        };
        assert_eq!(fields_of(&long.validate().unwrap_err()), ["name"]);
    }

    // --- silences ---

    fn silence(matchers: &[&str], starts_at: &str, ends_at: &str) -> Silence {
        SilenceSpec {
            matchers: matchers.iter().map(|s| m(s)).collect(),
            starts_at: at(starts_at),
            ends_at: at(ends_at),
            comment: "planned DB failover".into(),
        }
        .into_silence(SilenceId::generate(), "alice@example.com", at(starts_at))
    }

    #[test]
    fn silences_start_inclusive_and_end_exclusive() {
        let s = silence(&["team=db"], "2026-03-01T10:00:00Z", "2026-03-01T12:00:00Z");
        for (now, state) in [
            ("2026-03-01T09:59:59Z", SilenceState::Pending),
            ("2026-03-01T10:00:00Z", SilenceState::Active),
            ("2026-03-01T11:59:59Z", SilenceState::Active),
            ("2026-03-01T12:00:00Z", SilenceState::Expired),
        ] {
            assert_eq!(s.state(at(now)), state, "{now}");
            assert_eq!(s.is_active(at(now)), state == SilenceState::Active);
        }
        assert_eq!(
            serde_json::to_value(SilenceState::Active).unwrap(),
            json!("active")
        );
    }

    #[test]
    fn a_sender_scoped_silence_mutes_only_its_own_service() {
        let mut scoped = silence(&["team=db"], "2026-03-01T10:00:00Z", "2026-03-01T18:00:00Z");
        scoped.matchers.push(service_scope("checkout"));
        let d = details(&[("team", "db")]);
        assert!(scoped.matches(&AlertFields::new(&d, "checkout")));
        assert!(!scoped.matches(&AlertFields::new(&d, "payments")));
        assert!(scoped.is_scoped_to("checkout") && !scoped.is_scoped_to("payments"));
        // A sender's label cannot pull another service's alert into the scope.
        let d = details(&[("team", "db"), ("service", "checkout")]);
        assert!(!scoped.matches(&AlertFields::new(&d, "payments")));
        assert!(m("service=checkout").matches(&AlertFields::new(&d, "payments")));
        let by_label = silence(
            &["service=checkout"],
            "2026-03-01T10:00:00Z",
            "2026-03-01T18:00:00Z",
        );
        assert!(!by_label.is_scoped_to("checkout"));
    }

    #[test]
    fn label_filters_see_labels_only() {
        let labels: std::collections::BTreeMap<String, String> =
            [("alertname".to_owned(), "DiskFull".to_owned())].into();
        assert!(m("alertname=DiskFull").matches_labels(&labels));
        assert!(m("alertname=~\"Disk.*\"").matches_labels(&labels));
        assert!(!m("alertname!=DiskFull").matches_labels(&labels));
        assert!(
            m("severity=").matches_labels(&labels),
            "a missing label is empty"
        );
    }

    #[test]
    fn silenced_by_needs_every_matcher_and_an_active_silence() {
        let d = details(&[("team", "db"), ("env", "prod")]);
        let f = AlertFields::new(&d, "checkout");
        let now = at("2026-03-01T11:00:00Z");
        let other_env = silence(
            &["team=db", "env=staging"],
            "2026-03-01T10:00:00Z",
            "2026-03-01T18:00:00Z",
        );
        let expired = silence(&["team=db"], "2026-03-01T08:00:00Z", "2026-03-01T10:00:00Z");
        let short = silence(&["team=db"], "2026-03-01T10:00:00Z", "2026-03-01T12:00:00Z");
        let long = silence(
            &["env=prod"],
            "2026-03-01T10:00:00Z",
            "2026-03-01T14:00:00Z",
        );
        assert!(other_env.is_active(now) && !other_env.matches(&f));
        assert_eq!(
            silenced_by(&[other_env.clone(), expired.clone()], &f, now),
            None
        );
        let all = [other_env, expired, short.clone(), long.clone()];
        assert_eq!(silenced_by(&all, &f, now), Some(&long));
        assert_eq!(silenced_by(&all[..3], &f, now), Some(&short));
        assert_eq!(
            short.no_page_reason().describe(),
            format!("silenced by {} (planned DB failover)", short.id)
        );
    }

    #[test]
    fn silence_spec_validation_names_each_field() {
        let spec = SilenceSpec {
            matchers: vec![],
            starts_at: at("2026-03-01T10:00:00Z"),
            ends_at: at("2026-03-01T10:00:00Z"),
            comment: "  ".into(),
        };
        assert_eq!(
            fields_of(&spec.validate().unwrap_err()),
            ["matchers", "ends_at", "comment"]
        );
        let match_all = SilenceSpec {
            matchers: vec![m("team=~.*"), m("env!=prod")],
            ends_at: at("2026-03-01T11:00:00Z"),
            comment: "why".into(),
            ..spec
        };
        assert_eq!(fields_of(&match_all.validate().unwrap_err()), ["matchers"]);
        let fine = SilenceSpec {
            matchers: vec![m("team=~.*"), m("env=prod")],
            ..match_all
        };
        fine.validate().unwrap();
        assert!(
            serde_json::from_value::<SilenceSpec>(json!({
                "matchers": ["a=b"], "starts_at": "2026-03-01T10:00:00Z", "ends_at": "2026-03-01T11:00:00Z",
                "comment": "x", "created_by": "mallory"
            }))
            .is_err()
        );
    }

    // --- maintenance ---

    fn window(schedule: MaintenanceSchedule) -> MaintenanceWindow {
        let spec = MaintenanceSpec {
            service: "db".into(),
            description: "Sunday patching".into(),
            schedule,
        };
        spec.validate().unwrap();
        spec.into_window(MaintenanceId::generate(), at("2026-01-01T00:00:00Z"))
    }

    #[test]
    fn a_one_off_window_starts_inclusive_and_ends_exclusive() {
        let w = window(MaintenanceSchedule::Once {
            starts_at: at("2026-03-01T10:00:00Z"),
            ends_at: at("2026-03-01T12:00:00Z"),
        });
        assert!(!w.is_active(at("2026-03-01T09:59:59Z")));
        assert!(w.is_active(at("2026-03-01T10:00:00Z")));
        assert!(w.is_active(at("2026-03-01T11:59:59Z")));
        assert!(!w.is_active(at("2026-03-01T12:00:00Z")));
        assert_eq!(
            w.next_occurrence(at("2026-03-01T09:00:00Z")),
            Some(at("2026-03-01T10:00:00Z"))
        );
        assert_eq!(w.next_occurrence(at("2026-03-01T10:00:00Z")), None);
    }

    #[test]
    fn an_rrule_window_is_open_for_its_duration_after_each_occurrence() {
        let w = window(MaintenanceSchedule::Rrule {
            rule: "DTSTART:20261206T020000Z\nRRULE:FREQ=WEEKLY;BYDAY=SU".into(),
            duration_minutes: 120,
        });
        assert!(!w.is_active(at("2026-12-06T01:59:59Z")), "before DTSTART");
        assert!(w.is_active(at("2026-12-06T02:00:00Z")));
        assert!(w.is_active(at("2026-12-06T03:59:59Z")));
        assert!(!w.is_active(at("2026-12-06T04:00:00Z")));
        assert!(!w.is_active(at("2026-12-09T03:00:00Z")), "a Wednesday");
        assert!(w.is_active(at("2027-03-14T03:00:00Z")), "months later");
        assert_eq!(
            w.next_occurrence(at("2026-12-06T02:00:00Z")),
            Some(at("2026-12-13T02:00:00Z"))
        );
        assert_eq!(
            w.next_occurrence(at("2020-01-01T00:00:00Z")),
            Some(at("2026-12-06T02:00:00Z"))
        );
    }

    #[test]
    fn an_rrule_window_in_a_time_zone_keeps_its_local_time_across_dst() {
        let w = window(MaintenanceSchedule::Rrule {
            rule: "DTSTART;TZID=Europe/Berlin:20260315T040000\nRRULE:FREQ=WEEKLY;BYDAY=SU;COUNT=3"
                .into(),
            duration_minutes: 60,
        });
        // 04:00 CET is 03:00 UTC; from 29 March, 04:00 CEST is 02:00 UTC.
        assert!(w.is_active(at("2026-03-22T03:30:00Z")));
        assert!(w.is_active(at("2026-03-29T02:30:00Z")));
        assert!(!w.is_active(at("2026-03-29T03:30:00Z")));
        assert_eq!(
            w.next_occurrence(at("2026-03-29T02:00:00Z")),
            None,
            "COUNT=3 ends it"
        );
    }

    #[test]
    fn a_cron_window_is_open_for_its_duration_after_each_start() {
        let w = window(MaintenanceSchedule::Cron {
            expression: "30 1 * * MON-FRI".into(),
            time_zone: "UTC".into(),
            duration_minutes: 30,
        });
        assert!(
            w.is_active(at("2026-03-02T01:30:00Z")),
            "a Monday, at the start"
        );
        assert!(w.is_active(at("2026-03-02T01:59:59Z")));
        assert!(!w.is_active(at("2026-03-02T02:00:00Z")));
        assert!(!w.is_active(at("2026-03-01T01:45:00Z")), "a Sunday");
        assert_eq!(
            w.next_occurrence(at("2026-03-02T01:30:00Z")),
            Some(at("2026-03-03T01:30:00Z"))
        );
    }

    #[test]
    fn a_berlin_cron_window_stays_at_two_in_the_morning_local_across_dst() {
        let w = window(MaintenanceSchedule::Cron {
            expression: "0 2 * * SUN".into(),
            time_zone: "Europe/Berlin".into(),
            duration_minutes: 60,
        });
        // Before the change 02:00 CET is 01:00 UTC.
        assert!(w.is_active(at("2026-03-22T01:30:00Z")));
        assert!(!w.is_active(at("2026-03-22T00:30:00Z")));
        // After it 02:00 CEST is 00:00 UTC; a window pinned to UTC would still open at 01:00.
        assert!(w.is_active(at("2026-04-05T00:30:00Z")));
        assert!(!w.is_active(at("2026-04-05T01:30:00Z")));
        assert_eq!(
            w.next_occurrence(at("2026-03-30T00:00:00Z")),
            Some(at("2026-04-05T00:00:00Z"))
        );
        // On the night of the change 02:00 does not exist; the window opens at the first instant after the gap.
        assert_eq!(
            w.next_occurrence(at("2026-03-23T00:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        assert!(w.is_active(at("2026-03-29T01:30:00Z")));
        // When clocks go back, 02:00 happens twice; the window opens once, at the first.
        assert_eq!(
            w.next_occurrence(at("2026-10-24T00:00:00Z")),
            Some(at("2026-10-25T00:00:00Z"))
        );
        assert!(!w.is_active(at("2026-10-25T01:30:00Z")));
        // And back on CET, 02:00 is 01:00 UTC again.
        assert_eq!(
            w.next_occurrence(at("2026-10-26T00:00:00Z")),
            Some(at("2026-11-01T01:00:00Z"))
        );
    }

    #[test]
    fn maintenance_schedules_have_their_wire_shape() {
        for value in [
            json!({"type": "once", "starts_at": "2026-03-01T10:00:00Z", "ends_at": "2026-03-01T12:00:00Z"}),
            json!({"type": "rrule", "rule": "DTSTART:20261201T020000Z\nRRULE:FREQ=WEEKLY;BYDAY=SU", "duration_minutes": 60}),
            json!({"type": "cron", "expression": "0 2 * * SUN", "time_zone": "Europe/Berlin", "duration_minutes": 60}),
        ] {
            let s: MaintenanceSchedule = serde_json::from_value(value.clone()).unwrap();
            s.validate().unwrap();
            assert_eq!(serde_json::to_value(&s).unwrap(), value);
        }
        assert!(
            serde_json::from_value::<MaintenanceSchedule>(json!({
                "type": "cron", "expression": "0 2 * * SUN", "time_zone": "UTC", "duration_minutes": 60, "tz": "x"
            }))
            .is_err()
        );
        let w = window(MaintenanceSchedule::Once {
            starts_at: at("2026-03-01T10:00:00Z"),
            ends_at: at("2026-03-01T12:00:00Z"),
        });
        assert_eq!(MaintenanceSpec::from(&w).service, "db");
    }

    #[test]
    fn maintenance_validation_names_each_bad_field() {
        let check = |service: &str, schedule: MaintenanceSchedule| {
            let spec = MaintenanceSpec {
                service: service.into(),
                description: String::new(),
                schedule,
            };
            let errors = spec.validate().unwrap_err();
            fields_of(&errors)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let cron =
            |expression: &str, time_zone: &str, duration_minutes| MaintenanceSchedule::Cron {
                expression: expression.into(),
                time_zone: time_zone.into(),
                duration_minutes,
            };
        let rrule = |rule: &str, duration_minutes| MaintenanceSchedule::Rrule {
            rule: rule.into(),
            duration_minutes,
        };
        assert_eq!(
            check(
                "",
                MaintenanceSchedule::Once {
                    starts_at: at("2026-03-01T12:00:00Z"),
                    ends_at: at("2026-03-01T10:00:00Z"),
                }
            ),
            ["service", "schedule.ends_at"]
        );
        assert_eq!(
            check("db", cron("0 2 * *", "Mars/Olympus", 0)),
            [
                "schedule.expression",
                "schedule.time_zone",
                "schedule.duration_minutes"
            ]
        );
        assert_eq!(
            check("db", cron("0 0 2 * * SUN", "UTC", 60)),
            ["schedule.expression"]
        );
        assert_eq!(
            check("db", cron("99 2 * * SUN", "UTC", 60)),
            ["schedule.expression"]
        );
        assert_eq!(
            check("db", cron("0 2 * * SUN", "UTC", MAX_WINDOW_MINUTES + 1)),
            ["schedule.duration_minutes"]
        );
        for bad_rule in [
            "RRULE:FREQ=WEEKLY",
            "DTSTART:20261201T020000Z\nRRULE:FREQ=SOMETIMES",
            "DTSTART:20261201T020000\nRRULE:FREQ=WEEKLY",
            "DTSTART:20261201T020000Z\nRRULE:FREQ=HOURLY",
            "DTSTART:20261201T020000Z",
        ] {
            assert_eq!(
                check("db", rrule(bad_rule, 60)),
                ["schedule.rule"],
                "{bad_rule:?}"
            );
        }
        assert_eq!(
            check("db", rrule("DTSTART:20261201T020000Z\nRRULE:FREQ=DAILY", 0)),
            ["schedule.duration_minutes"]
        );
        let local = rrule("DTSTART:20261201T020000\nRRULE:FREQ=WEEKLY", 60);
        let message = local.validate().unwrap_err().0[0].message.clone();
        assert!(message.contains("time zone"), "{message}");
        assert!(!local.is_active(at("2026-12-01T02:00:00Z")));
    }

    // --- flapping ---

    #[test]
    fn flapping_means_more_than_the_threshold_within_the_window() {
        let now = at("2026-03-01T12:00:00Z");
        let minutes_ago = |m: i64| now - Duration::minutes(m);
        let five: Vec<_> = (0..5).map(|i| minutes_ago(i * 10)).collect();
        assert!(
            !is_flapping(&five, now, 5, 60),
            "exactly the threshold is not flapping"
        );
        let mut six = five.clone();
        six.push(minutes_ago(59));
        assert!(is_flapping(&six, now, 5, 60));
        let mut edge = five.clone();
        edge.push(minutes_ago(60));
        assert!(
            !is_flapping(&edge, now, 5, 60),
            "a trigger a full window ago has aged out"
        );
        let mut future = five;
        future.push(now + Duration::minutes(1));
        assert!(!is_flapping(&future, now, 5, 60));
        assert!(FlapPolicy::default().is_flapping(&six, now));
        assert_eq!(
            FlapPolicy {
                max_transitions: 5,
                window_minutes: 60
            },
            FlapPolicy::default()
        );
        let bad = FlapPolicy {
            max_transitions: 0,
            window_minutes: 0,
        };
        assert_eq!(
            fields_of(&bad.validate().unwrap_err()),
            ["max_transitions", "window_minutes"]
        );
    }

    // --- grouping ---

    #[test]
    fn grouping_has_its_wire_shape_and_defaults_to_per_alert() {
        assert_eq!(Grouping::default(), Grouping::PerAlert);
        for (g, value) in [
            (Grouping::PerAlert, json!({"mode": "per_alert"})),
            (
                Grouping::TimeWindow { minutes: 10 },
                json!({"mode": "time_window", "minutes": 10}),
            ),
            (
                Grouping::ByKey {
                    key: GroupKey::SenderGroup,
                },
                json!({"mode": "by_key", "key": {"type": "sender_group"}}),
            ),
            (
                Grouping::ByKey {
                    key: GroupKey::Labels {
                        labels: vec!["cluster".into(), "alertname".into()],
                    },
                },
                json!({"mode": "by_key", "key": {"type": "labels", "labels": ["cluster", "alertname"]}}),
            ),
        ] {
            assert_eq!(serde_json::to_value(&g).unwrap(), value);
            assert_eq!(serde_json::from_value::<Grouping>(value).unwrap(), g);
            g.validate().unwrap();
        }
    }

    #[test]
    fn group_values_follow_the_key() {
        let mut d = details(&[("alertname", "DiskFull"), ("cluster", "eu-1"), ("pod", "x")]);
        d.group = Some("{}:{alertname=\"DiskFull\"}".into());
        let labels = |ls: &[&str]| Grouping::ByKey {
            key: GroupKey::Labels {
                labels: ls.iter().map(|s| (*s).to_owned()).collect(),
            },
        };
        assert_eq!(
            labels(&["cluster", "alertname"]).group_value(&d).as_deref(),
            Some("cluster=eu-1,alertname=DiskFull")
        );
        assert_eq!(
            labels(&["region", "cluster"]).group_value(&d).as_deref(),
            Some("cluster=eu-1")
        );
        assert_eq!(labels(&["region"]).group_value(&d), None);
        let sender = Grouping::ByKey {
            key: GroupKey::SenderGroup,
        };
        assert_eq!(sender.group_value(&d), d.group);
        assert_eq!(sender.group_value(&details(&[])), None);
        assert_eq!(Grouping::PerAlert.group_value(&d), None);
        assert_eq!(Grouping::TimeWindow { minutes: 5 }.group_value(&d), None);
    }

    #[test]
    fn grouping_validation_names_each_field() {
        for minutes in [0, 1441] {
            assert_eq!(
                fields_of(&Grouping::TimeWindow { minutes }.validate().unwrap_err()),
                ["minutes"]
            );
        }
        let empty = Grouping::ByKey {
            key: GroupKey::Labels { labels: vec![] },
        };
        assert_eq!(fields_of(&empty.validate().unwrap_err()), ["key.labels"]);
        let bad = Grouping::ByKey {
            key: GroupKey::Labels {
                labels: vec!["a".into(), " ".into(), "a".into()],
            },
        };
        assert_eq!(
            fields_of(&bad.validate().unwrap_err()),
            ["key.labels[1]", "key.labels[2]"]
        );
    }

    // --- no-page reasons ---

    #[test]
    fn no_page_reasons_describe_themselves_and_serialize_tagged() {
        let rule_id = RuleId::generate();
        let reason = NoPageReason::SuppressedByRule {
            rule_id: rule_id.clone(),
            rule_name: "drop staging".into(),
        };
        assert_eq!(
            reason.describe(),
            format!("suppressed by rule \"drop staging\" ({rule_id})")
        );
        assert_eq!(
            serde_json::to_value(&reason).unwrap(),
            json!({"type": "suppressed_by_rule", "rule_id": rule_id.as_str(), "rule_name": "drop staging"})
        );
        let w = window(MaintenanceSchedule::Once {
            starts_at: at("2026-03-01T10:00:00Z"),
            ends_at: at("2026-03-01T12:00:00Z"),
        });
        assert_eq!(
            w.no_page_reason().describe(),
            format!("in maintenance window {} (Sunday patching)", w.id)
        );
        let incident_id = IncidentId::generate();
        let joined = NoPageReason::JoinedIncident {
            incident_id: incident_id.clone(),
            why: "same Alertmanager group".into(),
        };
        assert_eq!(
            joined.to_string(),
            format!("joined incident {incident_id} (same Alertmanager group)")
        );
        for (r, tag) in [
            (NoPageReason::Flapping, "flapping"),
            (NoPageReason::InfoSeverity, "info_severity"),
            (
                NoPageReason::DeduplicatedInto {
                    alert_id: AlertId::generate(),
                },
                "deduplicated_into",
            ),
            (joined, "joined_incident"),
        ] {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["type"], tag);
            assert_eq!(serde_json::from_value::<NoPageReason>(v).unwrap(), r);
            assert!(!r.describe().is_empty());
        }
        let silent = NoPageReason::Silenced {
            silence_id: SilenceId::generate(),
            comment: String::new(),
        };
        assert!(!silent.describe().contains('('), "no empty parentheses");
    }
}
