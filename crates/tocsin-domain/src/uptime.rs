//! Uptime history: a component's recorded statuses as spans of time, and what a status page shows of them: one
//! bar per day in the page's time zone with the day's outage minutes, and the uptime over the whole window.
//!
//! Outage counts as Statuspage counts it: a major outage fully, a partial outage at 30%, degraded performance and
//! maintenance not at all.

use crate::status_page::ComponentStatus;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// How many days of history a page shows.
pub const HISTORY_DAYS: u32 = 90;
/// How much a minute of partial outage counts against uptime.
pub const PARTIAL_OUTAGE_WEIGHT: f64 = 0.3;

/// A component's status from when it began until it ended (none: it still holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpan {
    pub status: ComponentStatus,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// One day of a component's history, in the page's time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct DayUptime {
    pub date: NaiveDate,
    /// Whether the component existed at some moment of the day, up to now.
    pub existed: bool,
    /// The seconds of the day the component existed, up to now.
    pub tracked_seconds: i64,
    pub major_seconds: i64,
    pub partial_seconds: i64,
    pub degraded_seconds: i64,
    pub maintenance_seconds: i64,
    /// The worst status it had at any moment of the day.
    pub worst: ComponentStatus,
}

impl DayUptime {
    fn new(date: NaiveDate) -> Self {
        Self {
            date,
            existed: false,
            tracked_seconds: 0,
            major_seconds: 0,
            partial_seconds: 0,
            degraded_seconds: 0,
            maintenance_seconds: 0,
            worst: ComponentStatus::Operational,
        }
    }

    /// Whether the component existed that day.
    pub fn tracked(&self) -> bool {
        self.existed
    }

    /// The day's outage in minutes: major outage fully, partial outage at 30%.
    pub fn outage_minutes(&self) -> f64 {
        outage_seconds(self.major_seconds, self.partial_seconds) / 60.0
    }
}

fn outage_seconds(major: i64, partial: i64) -> f64 {
    major as f64 + partial as f64 * PARTIAL_OUTAGE_WEIGHT
}

/// A component's history over a window of days.
#[derive(Debug, Clone, PartialEq)]
pub struct Uptime {
    /// Oldest first, ending today.
    pub days: Vec<DayUptime>,
    /// The share of the tracked time it was up, in percent; none when it was never tracked.
    pub percent: Option<f64>,
}

/// When `date` begins in `zone`: its first instant, which is later than midnight where a time change skips it.
pub fn day_start(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    (0..=24 * 4)
        .map(|quarter| midnight + Duration::minutes(15 * quarter))
        .find_map(|local| zone.from_local_datetime(&local).earliest())
        .map_or_else(
            || Utc.from_utc_datetime(&midnight),
            |t| t.with_timezone(&Utc),
        )
}

/// The `days` days ending with today in `zone` (as of `now`), from `spans` (one component's, in any order,
/// not overlapping). Time after `now` counts for nothing: an open span holds until now.
pub fn uptime(spans: &[StatusSpan], zone: Tz, now: DateTime<Utc>, days: u32) -> Uptime {
    let today = now.with_timezone(&zone).date_naive();
    let first = today - Duration::days(i64::from(days.max(1)) - 1);
    let window_start = day_start(zone, first);
    let mut out: Vec<DayUptime> = (0..i64::from(days.max(1)))
        .map(|i| DayUptime::new(first + Duration::days(i)))
        .collect();
    for span in spans {
        let start = span.started_at.max(window_start);
        let end = span.ended_at.unwrap_or(now).min(now);
        if end < start {
            continue;
        }
        if end == start {
            // Begun this very moment: the day has it, for no time yet.
            let index = (start.with_timezone(&zone).date_naive() - first).num_days();
            if let Some(day) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
                day.existed = true;
            }
            continue;
        }
        let mut date = start.with_timezone(&zone).date_naive();
        let mut from = start;
        while from < end {
            let next = day_start(zone, date + Duration::days(1));
            let to = end.min(next);
            let index = (date - first).num_days();
            if let Some(day) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
                let seconds = (to - from).num_seconds();
                day.existed = true;
                day.tracked_seconds += seconds;
                match span.status {
                    ComponentStatus::MajorOutage => day.major_seconds += seconds,
                    ComponentStatus::PartialOutage => day.partial_seconds += seconds,
                    ComponentStatus::DegradedPerformance => day.degraded_seconds += seconds,
                    ComponentStatus::UnderMaintenance => day.maintenance_seconds += seconds,
                    ComponentStatus::Operational => {}
                }
                if to > from {
                    day.worst = day.worst.worst(span.status);
                }
            }
            from = to;
            date += Duration::days(1);
        }
    }
    let tracked: i64 = out.iter().map(|d| d.tracked_seconds).sum();
    let outage: f64 = out
        .iter()
        .map(|d| outage_seconds(d.major_seconds, d.partial_seconds))
        .sum();
    let percent = (tracked > 0).then(|| 100.0 * (1.0 - outage / tracked as f64));
    Uptime { days: out, percent }
}

/// The spans a component's status changes make: each change ends the span before it.
pub fn spans_from_changes(changes: &[(DateTime<Utc>, ComponentStatus)]) -> Vec<StatusSpan> {
    changes
        .iter()
        .enumerate()
        .map(|(i, (at, status))| StatusSpan {
            status: *status,
            started_at: *at,
            ended_at: changes.get(i + 1).map(|(next, _)| *next),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus as C;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_major_outage_counts_fully_and_a_partial_one_at_thirty_percent() {
        let zone: Tz = "UTC".parse().unwrap();
        let spans = spans_from_changes(&[
            (at("2026-11-01T00:00:00Z"), C::Operational),
            (at("2026-11-29T10:00:00Z"), C::MajorOutage),
            (at("2026-11-29T11:00:00Z"), C::PartialOutage),
            (at("2026-11-29T12:40:00Z"), C::DegradedPerformance),
            (at("2026-11-29T13:00:00Z"), C::Operational),
        ]);
        let u = uptime(&spans, zone, at("2026-11-30T12:00:00Z"), 90);
        assert_eq!(u.days.len(), 90);
        let day = &u.days[88];
        assert_eq!(day.date.to_string(), "2026-11-29");
        assert_eq!(day.outage_minutes(), 60.0 + 100.0 * 0.3);
        assert_eq!(day.worst, C::MajorOutage);
        assert_eq!(day.degraded_seconds, 20 * 60);
        let today = &u.days[89];
        assert_eq!(
            (today.tracked_seconds, today.worst),
            (12 * 3600, C::Operational)
        );
        assert!(!u.days[0].tracked(), "before the component existed");
        let tracked = (29 * 24 + 12) as f64 * 3600.0;
        let expected = 100.0 * (1.0 - 90.0 * 60.0 / tracked);
        assert!((u.percent.unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn days_are_the_pages_days_and_a_span_splits_at_its_midnight() {
        let zone: Tz = "America/Chicago".parse().unwrap();
        // 05:00 UTC is midnight in Chicago in November (CST, UTC-6 from 1 November): 04:00-06:00 spans two days.
        let spans = spans_from_changes(&[
            (at("2026-11-20T00:00:00Z"), C::Operational),
            (at("2026-11-25T05:00:00Z"), C::MajorOutage),
            (at("2026-11-25T07:00:00Z"), C::Operational),
        ]);
        let u = uptime(&spans, zone, at("2026-11-30T12:00:00Z"), 90);
        let by_date = |d: &str| u.days.iter().find(|x| x.date.to_string() == d).unwrap();
        assert_eq!(by_date("2026-11-24").major_seconds, 3600);
        assert_eq!(by_date("2026-11-25").major_seconds, 3600);
    }

    #[test]
    fn a_day_a_time_change_shortens_has_twenty_three_hours() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let spans = spans_from_changes(&[(at("2026-03-01T00:00:00Z"), C::Operational)]);
        let u = uptime(&spans, zone, at("2026-04-10T12:00:00Z"), 90);
        let day = u
            .days
            .iter()
            .find(|d| d.date.to_string() == "2026-03-29")
            .unwrap();
        assert_eq!(day.tracked_seconds, 23 * 3600);
    }

    fn status() -> impl Strategy<Value = C> {
        prop_oneof![
            Just(C::Operational),
            Just(C::DegradedPerformance),
            Just(C::PartialOutage),
            Just(C::MajorOutage),
            Just(C::UnderMaintenance),
        ]
    }

    proptest! {
        /// Each day's seconds per status match a minute-by-minute walk through the spans.
        #[test]
        fn days_match_a_minute_by_minute_count(
            gaps in proptest::collection::vec((1i64..3000, status()), 1..12),
            zone in prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("America/Chicago"), Just("Asia/Kolkata")],
        ) {
            let zone: Tz = zone.parse().unwrap();
            let now = at("2026-03-30T12:00:00Z");
            let mut t = now - Duration::days(6);
            let mut changes = Vec::new();
            for (minutes, status) in gaps {
                changes.push((t, status));
                t += Duration::minutes(minutes);
            }
            let spans = spans_from_changes(&changes);
            let u = uptime(&spans, zone, now, 5);
            let mut minute = u.days.iter().map(|d| day_start(zone, d.date)).next().unwrap();
            let mut expected: std::collections::HashMap<NaiveDate, (i64, i64, i64)> = Default::default();
            while minute < now {
                let holding = spans.iter().find(|s| s.started_at <= minute && s.ended_at.is_none_or(|e| minute < e));
                if let Some(s) = holding {
                    let e = expected.entry(minute.with_timezone(&zone).date_naive()).or_default();
                    e.0 += 60;
                    if s.status == C::MajorOutage { e.1 += 60; }
                    if s.status == C::PartialOutage { e.2 += 60; }
                }
                minute += Duration::minutes(1);
            }
            for day in &u.days {
                let e = expected.get(&day.date).copied().unwrap_or_default();
                prop_assert_eq!((day.tracked_seconds, day.major_seconds, day.partial_seconds), e, "{}", day.date);
            }
        }
    }
}
