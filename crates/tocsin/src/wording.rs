//! How Tocsin words what it recorded, for every interface that shows it to people (the API's `message` fields,
//! the web pages). Timeline entries are stored as facts; their sentences are made here, when they are shown.

use tocsin_app::Warning;
use tocsin_domain::automation::RunStatus;
use tocsin_domain::doctor::Finding;
use tocsin_domain::incident::{TimelineEntry, TimelineEvent};
use tocsin_domain::timeline::{
    AttemptResult, Edit, Handover, JoinReason, PagedUser, ResolveCause, SeverityCause, TargetGap,
    Unreached,
};
use tocsin_domain::updates::DueBecause;

/// One sentence (a note: its Markdown) saying what a timeline entry records.
pub fn timeline(entry: &TimelineEntry) -> String {
    let actor = &entry.actor.name;
    let is_actor = |user: &tocsin_domain::ids::UserId| entry.actor.is_user(user);
    match &entry.event {
        TimelineEvent::Opened {
            title, severity, ..
        } => format!("Incident opened at {severity}: {title}"),
        TimelineEvent::Acknowledged => format!("Acknowledged by {actor}"),
        TimelineEvent::Resolved { cause: None } => format!("Resolved by {actor}"),
        TimelineEvent::Resolved {
            cause: Some(ResolveCause::AllAlertsResolved),
        } => "Resolved: all of its alerts resolved".to_owned(),
        TimelineEvent::SeverityChanged {
            from,
            to,
            cause: Some(SeverityCause::AlertJoined { summary, .. }),
        } => format!("Severity raised from {from} to {to}: a worse alert joined ({summary})"),
        TimelineEvent::SeverityChanged {
            from,
            to,
            cause: Some(SeverityCause::AlertWorsened { summary, .. }),
        } => {
            format!("Severity raised from {from} to {to}: one of its alerts got worse ({summary})")
        }
        TimelineEvent::SeverityChanged {
            from,
            to,
            cause: Some(SeverityCause::Merged { from: merged }),
        } => {
            format!("Severity raised from {from} to {to}: #{merged}, merged into it, was as severe")
        }
        TimelineEvent::SeverityChanged { from, to, .. } => {
            format!("Severity changed from {from} to {to} by {actor}")
        }
        TimelineEvent::Note { body } => body.clone(),
        TimelineEvent::AlertResolved {
            summary,
            held_open: true,
            ..
        } => format!(
            "Alert resolved; the incident is held open because the alert is flapping: {summary}"
        ),
        TimelineEvent::AlertResolved {
            summary,
            still_open,
            ..
        } => format!("Alert resolved: {summary} ({still_open} still open)"),
        TimelineEvent::AlertAdded {
            summary,
            why: JoinReason::Flapping,
            ..
        } => format!("Alert fired again while flapping: {summary}"),
        TimelineEvent::AlertAdded { summary, why, .. } => {
            format!("Alert joined: {summary} ({})", join_reason(why))
        }
        TimelineEvent::Escalated {
            policy,
            level,
            round,
            repeat,
            by_hand: false,
            paged,
            gaps,
            next_at,
            ..
        } => {
            let round = if *round > 0 {
                format!(" (repeat {round} of {repeat})")
            } else {
                String::new()
            };
            let mut s = format!(
                "Escalation level {} of {policy}{round} paged {}{}",
                level + 1,
                paged_list(paged.as_deref().unwrap_or_default()),
                gap_list(gaps)
            );
            match next_at {
                None => s.push_str(". That was the policy's last level."),
                // A level that reached nobody hands over to the next one at once rather than waiting its delay.
                Some(next) if *next == entry.at => s.push_str(&format!(
                    ". Nobody was reached, so level {} pages now.",
                    level + 2
                )),
                Some(_) => {}
            }
            s
        }
        TimelineEvent::Escalated {
            policy,
            level,
            paged,
            gaps,
            ..
        } => {
            let mut s = format!("{actor} escalated to level {} of {policy}", level + 1);
            if let Some(paged) = paged {
                s.push_str(&format!(", paging {}{}", paged_list(paged), gap_list(gaps)));
            }
            s
        }
        TimelineEvent::Reassigned {
            to: Handover::Policy { policy, .. },
        } => format!("{actor} reassigned the incident to escalation policy {policy}"),
        TimelineEvent::Reassigned {
            to: Handover::Users { paged },
        } => format!("{actor} reassigned the incident to {}", paged_list(paged)),
        TimelineEvent::Notification {
            user,
            channel,
            attempt,
            result,
            fell_through_to,
            ..
        } => {
            let channel = if channel.is_empty() {
                "a deleted contact method"
            } else {
                channel
            };
            let mut s = match result {
                AttemptResult::Delivered => format!("Notified {user} by {channel}"),
                AttemptResult::NotRetried { error } => format!(
                    "Notifying {user} by {channel} failed (attempt {attempt}): {error}; not retried, the incident no longer needs it"
                ),
                AttemptResult::Retrying { error, next_at } => format!(
                    "Notifying {user} by {channel} failed (attempt {attempt}): {error}; retrying at {}",
                    next_at.format("%H:%M:%S UTC")
                ),
                AttemptResult::GaveUp { error } => {
                    format!(
                        "Gave up notifying {user} by {channel} after attempt {attempt}: {error}"
                    )
                }
            };
            if let Some(next) = fell_through_to {
                s.push_str(&format!("; trying {next} instead"));
            }
            s
        }
        TimelineEvent::Edited { changes } => {
            let changes: Vec<String> = changes
                .iter()
                .map(|c| match c {
                    Edit::Title { from, to } => format!("the title from {from:?} to {to:?}"),
                    Edit::Description => "the description".to_owned(),
                    Edit::CustomerImpact { to } if to.is_empty() => {
                        "the customer impact (now none)".to_owned()
                    }
                    Edit::CustomerImpact { to } => format!("the customer impact to {to:?}"),
                    Edit::ServiceAdded { service } => format!("service {service} (added)"),
                    Edit::ServiceRemoved { service } => format!("service {service} (removed)"),
                    Edit::LinkAdded { link } if link.label.is_empty() => {
                        format!("link {} (added)", link.url)
                    }
                    Edit::LinkAdded { link } => {
                        format!("link {} {} (added)", link.label, link.url)
                    }
                    Edit::LinkRemoved { url } => format!("link {url} (removed)"),
                    Edit::StageChanged { from, to } => format!("the stage from {from} to {to}"),
                    Edit::RelatedAdded { number } => format!("related incident #{number} (added)"),
                    Edit::RelatedRemoved { number } => {
                        format!("related incident #{number} (removed)")
                    }
                    Edit::MilestoneSet {
                        milestone,
                        at: None,
                    } => {
                        format!("{} (removed)", milestone.label())
                    }
                    Edit::MilestoneSet {
                        milestone,
                        at: Some(t),
                    } => format!(
                        "{} to {}",
                        milestone.label(),
                        t.format("%Y-%m-%d %H:%M UTC")
                    ),
                })
                .collect();
            format!("{actor} changed {}", changes.join("; "))
        }
        TimelineEvent::RespondersAdded { paged, gaps } => format!(
            "{actor} asked {} to join the response{}",
            paged_list(paged),
            gap_list(gaps)
        ),
        TimelineEvent::Unassigned { why, fallback } => {
            let why = match why {
                Unreached::NoService => {
                    "it has no service, so no escalation policy pages it".to_owned()
                }
                Unreached::NoPolicy { service } => {
                    format!("its service {service} has no escalation policy")
                }
                Unreached::PolicyGone => "its escalation policy was deleted".to_owned(),
                Unreached::NobodyReached { policy } => format!(
                    "every level of {policy} paged nobody (nobody on call, or nobody with a usable contact method)"
                ),
            };
            match fallback {
                Some(policy) => {
                    format!("Unassigned: {why}. Handed to the fallback escalation policy {policy}.")
                }
                None => format!("Unassigned: {why}. No fallback escalation policy is set."),
            }
        }
        TimelineEvent::RoleAssigned {
            role_name,
            user,
            replaced,
            paged,
            by_default,
            ..
        } => {
            let given = match (by_default, paged) {
                (true, _) => format!("{user} is {role_name}, by the role's default"),
                (false, None) => format!("{actor} took the role of {role_name}"),
                (false, Some(_)) => format!("{actor} made {user} {role_name}"),
            };
            let handover = replaced
                .as_ref()
                .map(|p| format!(", taking over from {}", p.name))
                .unwrap_or_default();
            let told = match paged {
                Some(p) => format!("; paged {}", paged_list(std::slice::from_ref(p))),
                None => String::new(),
            };
            format!("{given}{handover}{told}")
        }
        TimelineEvent::RoleReleased {
            role_name,
            user,
            user_id,
            ..
        } if is_actor(user_id) => format!("{user} is no longer {role_name}"),
        TimelineEvent::RoleReleased {
            role_name, user, ..
        } => format!("{actor} released {user} from {role_name}"),
        TimelineEvent::RoleUnfilled {
            role_name, gaps, ..
        } => format!(
            "Nobody was made {role_name}: its default names nobody who could take it{}",
            gap_list(gaps)
        ),
        TimelineEvent::ResponderJoined { user, user_id } if is_actor(user_id) => {
            format!("{user} joined the response")
        }
        TimelineEvent::ResponderJoined { user, .. } => {
            format!("{actor} added {user} to the response")
        }
        TimelineEvent::ResponderLeft {
            user,
            user_id,
            released,
        } => {
            let who = if is_actor(user_id) {
                format!("{user} left the response")
            } else {
                format!("{actor} took {user} off the response")
            };
            if released.is_empty() {
                who
            } else {
                format!("{who}; {user} is no longer {}", released.join(", "))
            }
        }
        TimelineEvent::TasksAdded {
            template,
            tasks,
            left_out,
        } => {
            let list = tasks
                .iter()
                .map(|t| format!("{}. {}", t.number, t.title))
                .collect::<Vec<_>>()
                .join("; ");
            let list = if list.is_empty() {
                "none".to_owned()
            } else {
                list
            };
            let over = match left_out {
                0 => String::new(),
                n => format!(
                    " ({n} left out: an incident has at most {} tasks)",
                    tocsin_domain::tasks::MAX_TASKS
                ),
            };
            match template {
                Some(name) => format!("Tasks of {name} added: {list}{over}"),
                None => format!("{actor} added task {list}"),
            }
        }
        TimelineEvent::TaskDone { task } => {
            format!("{actor} did task {}. {}", task.number, task.title)
        }
        TimelineEvent::TaskReopened { task } => format!(
            "{actor} marked task {}. {} as not done",
            task.number, task.title
        ),
        TimelineEvent::Merged {
            from,
            title,
            alerts,
        } => {
            let alerts = match alerts {
                0 => "no alerts".to_owned(),
                1 => "its alert".to_owned(),
                n => format!("its {n} alerts"),
            };
            format!("{actor} merged #{from} ({title}) into this incident, with {alerts}")
        }
        TimelineEvent::MergedInto { into, title } => {
            format!("{actor} merged this incident into #{into} ({title}), which carries on")
        }
        TimelineEvent::RunRequested {
            title,
            runbook,
            needs_approval,
            retry_of,
            ..
        } => {
            let what = if retry_of.is_some() {
                "to run again"
            } else {
                "to run"
            };
            let approval = if *needs_approval {
                "; it runs once another responder approves it"
            } else {
                ""
            };
            format!("{actor} asked {what} \"{title}\" of runbook {runbook}{approval}")
        }
        TimelineEvent::RunApproved { title, .. } => {
            format!("{actor} approved running \"{title}\"")
        }
        TimelineEvent::RunDeclined { title, .. } => {
            format!("{actor} declined running \"{title}\"")
        }
        TimelineEvent::RunFinished {
            title,
            status,
            outcome,
            ..
        } => {
            let how = match status {
                RunStatus::Succeeded => "succeeded",
                RunStatus::TimedOut => "timed out",
                RunStatus::Interrupted => "was interrupted",
                _ => "failed",
            };
            format!("\"{title}\" {how}: {outcome}")
        }
        TimelineEvent::UpdatePosted {
            number,
            status,
            message,
            recipients,
            ..
        } => {
            let to = match recipients {
                0 => "nobody else to tell".to_owned(),
                1 => "sent to 1 person or channel".to_owned(),
                n => format!("sent to {n} people and channels"),
            };
            format!("{actor} posted update {number} ({status}; {to}): {message}")
        }
        TimelineEvent::StatusPagePosted {
            page,
            name,
            status,
            body,
            first,
            ..
        } => {
            let did = if *first { "published" } else { "updated" };
            format!(
                "{actor} {did} \"{name}\" on status page {page} ({}): {body}",
                status.as_str()
            )
        }
        TimelineEvent::UpdateReminded {
            because,
            to,
            reminder,
        } => {
            let why = match because {
                DueBecause::Cadence => "an update was due",
                DueBecause::SeverityChanged => "the severity changed",
                DueBecause::Resolved => "the incident was resolved",
            };
            let who = if to.is_empty() {
                "nobody could be reminded (no lead or responder with a contact method)".to_owned()
            } else {
                format!("reminded {}", to.join(", "))
            };
            let again = if *reminder > 1 { " again" } else { "" };
            format!("No update since {why}: {who}{again}")
        }
        TimelineEvent::Worded { message, .. } => message.clone(),
    }
}

/// One sentence saying what a check of the paging setup found, and what fixes it.
pub fn finding(f: &Finding) -> String {
    match f {
        Finding::NoEscalationPolicy {
            service,
            fallback: None,
            ..
        } => format!(
            "Service {service} has no escalation policy, so its incidents page nobody: give it one \
             (tocsin services policy {service} --set POLICY) or set a fallback policy (tocsin policies fallback --set POLICY)"
        ),
        Finding::NoEscalationPolicy {
            service,
            fallback: Some(fallback),
            ..
        } => format!(
            "Service {service} has no escalation policy; its incidents go to the fallback policy {fallback}"
        ),
        Finding::ScheduleGap {
            schedule,
            from,
            to,
            gaps,
            ..
        } => format!(
            "Schedule {schedule} has nobody on call from {} to {} ({gaps} gap(s) in the next {} days); \
             a level paging it hands over to the next level then",
            from.format("%Y-%m-%d %H:%M UTC"),
            to.format("%Y-%m-%d %H:%M UTC"),
            tocsin_domain::doctor::LOOKAHEAD_DAYS
        ),
        Finding::EmptyTeam {
            team,
            on_call: false,
            ..
        } => format!(
            "Team {team} is paged by an escalation policy but has no members: add some (tocsin teams)"
        ),
        Finding::EmptyTeam {
            team,
            on_call: true,
            ..
        } => format!(
            "An escalation policy pages whoever is on call for team {team}, but the team owns no schedule: \
             give one of its schedules `team: {team}`"
        ),
        Finding::UnreachableUser { user, .. } => format!(
            "{user} can be paged by an escalation policy but has no contact method this server can send: \
             add one (tocsin contacts add)"
        ),
        Finding::ChannelNotConfigured {
            user,
            method,
            kind,
            setting,
            ..
        } => format!(
            "{user}'s contact method {method} ({kind}) cannot send: this server has no [{setting}] configuration"
        ),
    }
}

/// One sentence for a warning that comes with a change.
pub fn warning(w: &Warning) -> String {
    match w {
        Warning::Setup(f) => finding(f),
        Warning::OverlappingOverride {
            schedule,
            user,
            start,
            end,
        } => format!(
            "This override overlaps one for {user} on {schedule} from {} to {}; where they overlap, this one wins",
            start.format("%Y-%m-%d %H:%M UTC"),
            end.format("%Y-%m-%d %H:%M UTC")
        ),
        Warning::Unassigned {
            number,
            fallback: None,
        } => format!(
            "No escalation policy pages #{number}, and no fallback policy is set: nobody was paged"
        ),
        Warning::Unassigned {
            number,
            fallback: Some(fallback),
        } => format!(
            "No escalation policy of its services pages #{number}; the fallback policy {fallback} pages it"
        ),
    }
}

fn join_reason(why: &JoinReason) -> String {
    match why {
        JoinReason::SameGroup { group } => format!("it belongs to the same group ({group})"),
        JoinReason::TimeWindow { minutes } => {
            format!("it arrived within {minutes} minutes of the incident opening")
        }
        JoinReason::Upstream { service, upstream } => {
            format!("{service} depends on {upstream}, where this incident is open")
        }
        JoinReason::Flapping => "it fired again while flapping".to_owned(),
    }
}

/// "Alice (email, sms after 5 min); Bob (not notified: no usable contact method)", or "nobody".
fn paged_list(paged: &[PagedUser]) -> String {
    if paged.is_empty() {
        return "nobody".to_owned();
    }
    let people: Vec<String> = paged
        .iter()
        .map(|p| {
            if p.methods.is_empty() {
                return format!("{} (not notified: no usable contact method)", p.name);
            }
            let methods: Vec<String> = p
                .methods
                .iter()
                .map(|m| match m.after_minutes {
                    0 => m.kind.clone(),
                    n => format!("{} after {n} min", m.kind),
                })
                .collect();
            format!("{} ({})", p.name, methods.join(", "))
        })
        .collect();
    people.join("; ")
}

pub(crate) fn gap_list(gaps: &[TargetGap]) -> String {
    gaps.iter()
        .map(|g| match g {
            TargetGap::ScheduleGone { schedule_id } => {
                format!("; schedule {schedule_id} no longer exists")
            }
            TargetGap::NobodyOnCall { schedule } => format!("; nobody is on call in {schedule}"),
            TargetGap::TeamGone { team_id } => format!("; team {team_id} no longer exists"),
            TargetGap::TeamHasNoMembers { team } => format!("; team {team} has no members"),
            TargetGap::TeamNobodyOnCall { team } => {
                format!("; nobody is on call in team {team}'s schedules")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use tocsin_domain::ids::{PolicyId, UserId};
    use tocsin_domain::incident::Actor;
    use tocsin_domain::timeline::PlannedMethod;

    fn at() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
    }

    #[test]
    fn an_escalation_names_who_was_paged_how_and_what_paged_nobody() {
        let entry = TimelineEntry::new(
            at(),
            &Actor::system(),
            TimelineEvent::Escalated {
                policy_id: PolicyId::generate(),
                policy: "web".into(),
                level: 1,
                round: 1,
                repeat: 2,
                by_hand: false,
                paged: Some(vec![
                    PagedUser {
                        user_id: UserId::generate(),
                        name: "Alice".into(),
                        methods: vec![
                            PlannedMethod {
                                kind: "email".into(),
                                after_minutes: 0,
                            },
                            PlannedMethod {
                                kind: "sms".into(),
                                after_minutes: 5,
                            },
                        ],
                    },
                    PagedUser {
                        user_id: UserId::generate(),
                        name: "Bob".into(),
                        methods: vec![],
                    },
                ]),
                gaps: vec![TargetGap::NobodyOnCall {
                    schedule: "night".into(),
                }],
                next_at: None,
            },
        );
        assert_eq!(
            timeline(&entry),
            "Escalation level 2 of web (repeat 1 of 2) paged Alice (email, sms after 5 min); Bob (not notified: \
             no usable contact method); nobody is on call in night. That was the policy's last level."
        );
    }

    #[test]
    fn a_level_that_reached_nobody_says_the_next_pages_now_and_an_unassigned_incident_says_why() {
        let skipped = TimelineEntry::new(
            at(),
            &Actor::system(),
            TimelineEvent::Escalated {
                policy_id: PolicyId::generate(),
                policy: "web".into(),
                level: 0,
                round: 0,
                repeat: 0,
                by_hand: false,
                paged: Some(vec![]),
                gaps: vec![TargetGap::NobodyOnCall {
                    schedule: "weekdays".into(),
                }],
                next_at: Some(at()),
            },
        );
        assert_eq!(
            timeline(&skipped),
            "Escalation level 1 of web paged nobody; nobody is on call in weekdays. Nobody was reached, so level 2 \
             pages now."
        );
        let unassigned = TimelineEntry::new(
            at(),
            &Actor::system(),
            TimelineEvent::Unassigned {
                why: Unreached::NobodyReached {
                    policy: "web".into(),
                },
                fallback: Some("managers".into()),
            },
        );
        assert_eq!(
            timeline(&unassigned),
            "Unassigned: every level of web paged nobody (nobody on call, or nobody with a usable contact method). \
             Handed to the fallback escalation policy managers."
        );
    }

    #[test]
    fn a_retry_says_when() {
        let entry = TimelineEntry::new(
            at(),
            &Actor::system(),
            TimelineEvent::Notification {
                delivery_id: tocsin_domain::ids::DeliveryId::generate(),
                user_id: UserId::generate(),
                user: "Alice".into(),
                channel: String::new(),
                attempt: 2,
                result: AttemptResult::Retrying {
                    error: "HTTP 503".into(),
                    next_at: at(),
                },
                fell_through_to: None,
            },
        );
        assert_eq!(
            timeline(&entry),
            "Notifying Alice by a deleted contact method failed (attempt 2): HTTP 503; retrying at 10:00:00 UTC"
        );
    }
}
