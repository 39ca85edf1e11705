//! On-call schedules: who answers a page at any given moment.
//!
//! A [`Schedule`] stacks [`Layer`]s (rotations), each handing a shift from one participant to the next at fixed
//! local times in the schedule's time zone; later layers take precedence wherever they have someone on call, and
//! [`Override`]s hand a time range to a named user regardless of the layers. Everything here is a pure function
//! of the schedule and the instants passed in.
//!
//! # Local time
//!
//! Day and week rotations hand off at the same wall-clock time every time (a 09:00 Monday handoff stays 09:00
//! across a DST change, so that shift is an hour shorter or longer in absolute terms); hour rotations count
//! absolute hours from the first handoff, since "every 12 hours" is meant as elapsed time. Restrictions are read
//! on the wall clock too. A local time that does not exist (skipped by a spring-forward change) means the first
//! instant after the gap, so a 02:30 handoff happens when the clocks jump to 03:00 rather than not at all; a
//! local time that occurs twice (fall-back) means its first occurrence. See [`resolve_local`].

use crate::error::ValidationErrors;
use crate::ids::UserId;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How long each participant's shift lasts; any count gives a custom length.
///
/// Written as `{"every": "days", "count": 1}`; `every` is `hours`, `days` or `weeks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "every", content = "count", rename_all = "snake_case")]
pub enum Rotation {
    /// Elapsed hours: a DST change moves the local handoff time.
    Hours(u32),
    /// Calendar days: the local handoff time stays put across DST changes.
    Days(u32),
    /// Calendar weeks: the local handoff time stays put across DST changes.
    Weeks(u32),
}

impl Rotation {
    pub fn count(self) -> u32 {
        match self {
            Self::Hours(n) | Self::Days(n) | Self::Weeks(n) => n,
        }
    }

    /// Keeps shifts at most about a year long, which also keeps handoff arithmetic far from overflow.
    fn max_count(self) -> u32 {
        match self {
            Self::Hours(_) => 366 * 24,
            Self::Days(_) => 366,
            Self::Weeks(_) => 52,
        }
    }
}

/// A daily window in which a layer has someone on call, in the schedule's local time.
///
/// `end` ≤ `start` means the window runs past midnight into the next day (22:00–06:00), and `end` = `start` means
/// a full 24 hours from `start`. `days` are the days the window starts on; empty means every day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, example = json!(["Mon", "Tue", "Wed", "Thu", "Fri"]))]
    pub days: Vec<Weekday>,
    #[schema(value_type = String, example = "09:00:00")]
    pub start: NaiveTime,
    #[schema(value_type = String, example = "17:00:00")]
    pub end: NaiveTime,
}

impl Restriction {
    fn on(&self, day: Weekday) -> bool {
        self.days.is_empty() || self.days.contains(&day)
    }

    fn overnight(&self) -> bool {
        self.end <= self.start
    }

    /// Whether a window is open at this wall-clock time.
    pub fn covers(&self, local: NaiveDateTime) -> bool {
        let (day, t) = (local.weekday(), local.time());
        if self.overnight() {
            (self.on(day) && t >= self.start) || (self.on(day.pred()) && t < self.end)
        } else {
            self.on(day) && self.start <= t && t < self.end
        }
    }

    /// Whether a window closes on `day` (an overnight one closes the day after it opens).
    fn ends_on(&self, day: Weekday) -> bool {
        if self.overnight() {
            self.on(day.pred())
        } else {
            self.on(day)
        }
    }
}

/// One rotation: participants take turns in order, each for one [`Rotation`] length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    /// In turn order; the first is on call from `start`.
    #[schema(min_items = 1)]
    pub participants: Vec<UserId>,
    pub rotation: Rotation,
    /// The first handoff, in the schedule's local time (e.g. `2026-03-02T09:00:00`); nobody is on call before it.
    #[schema(value_type = String, example = "2026-03-02T09:00:00")]
    pub start: NaiveDateTime,
    /// When present, someone is on call only inside one of these windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<Restriction>,
}

impl Layer {
    /// Field paths are relative to the layer (`participants`, `restrictions[0].start`, …).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        errors.check_label("name", &self.name);
        if self.participants.is_empty() {
            errors.push("participants", "needs at least one participant");
        }
        let count = self.rotation.count();
        let max = self.rotation.max_count();
        if !(1..=max).contains(&count) {
            errors.push("rotation.count", format!("must be 1 to {max}"));
        }
        for (i, r) in self.restrictions.iter().enumerate() {
            // Sub-minute windows are almost certainly typos, and whole minutes keep every restriction edge on
            // a minute, where DST transitions also fall.
            for (field, t) in [("start", r.start), ("end", r.end)] {
                if t.second() != 0 || t.nanosecond() != 0 {
                    errors.push(
                        format!("restrictions[{i}].{field}"),
                        "must be a whole minute, e.g. 09:00",
                    );
                }
            }
            for (j, day) in r.days.iter().enumerate() {
                if r.days[..j].contains(day) {
                    errors.push(
                        format!("restrictions[{i}].days"),
                        format!("lists {day} more than once"),
                    );
                }
            }
        }
        errors.into_result(())
    }

    /// The instant of the `k`-th handoff (0 is `start`); `None` past the representable range.
    fn handoff(&self, tz: Tz, k: i64) -> Option<DateTime<Utc>> {
        match self.rotation {
            Rotation::Hours(n) => resolve_local(tz, self.start)
                .checked_add_signed(Duration::try_hours(i64::from(n).checked_mul(k)?)?),
            Rotation::Days(n) | Rotation::Weeks(n) => {
                let days = self.days_per_shift(n).checked_mul(k)?;
                let local = self.start.checked_add_signed(Duration::try_days(days)?)?;
                Some(resolve_local(tz, local))
            }
        }
    }

    fn days_per_shift(&self, n: u32) -> i64 {
        match self.rotation {
            Rotation::Weeks(_) => i64::from(n) * 7,
            _ => i64::from(n),
        }
    }

    /// Which shift (0 from `start`) holds `at`, ignoring restrictions; `None` before the first handoff.
    fn shift_index(&self, tz: Tz, at: DateTime<Utc>) -> Option<i64> {
        let first = resolve_local(tz, self.start);
        if at < first || self.rotation.count() == 0 {
            return None;
        }
        match self.rotation {
            Rotation::Hours(n) => Some((at - first).num_seconds() / (i64::from(n) * 3600)),
            Rotation::Days(n) | Rotation::Weeks(n) => {
                // Local elapsed time lands within one shift of the answer (DST moves it by at most hours), so a
                // step or two either way settles it.
                let length = self.days_per_shift(n) * 86_400;
                let local = at.with_timezone(&tz).naive_local();
                let mut k = (local - self.start).num_seconds().div_euclid(length).max(0);
                while k > 0 && self.handoff(tz, k).is_none_or(|h| h > at) {
                    k -= 1;
                }
                while self.handoff(tz, k + 1).is_some_and(|h| h <= at) {
                    k += 1;
                }
                Some(k)
            }
        }
    }
}

/// A user on call for a time range, whoever the layers say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub user: UserId,
    /// Inclusive.
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

impl Override {
    fn covers(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// An on-call schedule: layered rotations in one time zone, plus overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA name, e.g. `Europe/Berlin`; handoffs and restrictions are read in this zone.
    #[serde(with = "tz_name")]
    #[schema(value_type = String, example = "Europe/Berlin")]
    pub time_zone: Tz,
    /// Later layers take precedence wherever they have someone on call.
    pub layers: Vec<Layer>,
    /// Where overrides overlap, the later one in the list wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
}

impl Schedule {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.layers.is_empty() {
            errors.push("layers", "needs at least one layer");
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if let Err(e) = layer.validate() {
                let prefix = format!("layers[{i}]");
                errors.0.extend(e.0.into_iter().map(|f| f.under(&prefix)));
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if o.end <= o.start {
                errors.push(format!("overrides[{i}].end"), "must be after start");
            }
        }
        errors.into_result(())
    }
}

/// What a user sends to create or replace a schedule; overrides are added and removed one at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(with = "tz_name")]
    #[schema(value_type = String, example = "Europe/Berlin")]
    pub time_zone: Tz,
    #[schema(min_items = 1)]
    pub layers: Vec<Layer>,
    /// Minutes before a shift starts to remind its person; 0 sends no reminders.
    #[serde(default = "default_reminder_minutes")]
    #[schema(maximum = 10080)]
    pub reminder_minutes: u32,
    /// The team whose on-call rotation this is (ID or name): a policy paging the team's on-call pages it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub team: Option<crate::refs::TeamRef>,
}

fn default_reminder_minutes() -> u32 {
    30
}

impl ScheduleSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        errors.check_label("name", &self.name);
        if self.reminder_minutes > 7 * 24 * 60 {
            errors.push("reminder_minutes", "must be at most 10080 (a week)");
        }
        let as_schedule = Schedule {
            time_zone: self.time_zone,
            layers: self.layers.clone(),
            overrides: Vec::new(),
        };
        if let Err(e) = as_schedule.validate() {
            errors.0.extend(e.0);
        }
        errors.into_result(())
    }
}

mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let s = String::deserialize(d)?;
        s.trim().parse().map_err(|_| {
            D::Error::custom(format!(
                "{s:?} is not an IANA time zone name like Europe/Berlin or America/New_York"
            ))
        })
    }
}

/// One stretch of the final schedule: `user` is on call from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shift {
    pub user: UserId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The instant a wall-clock time in `tz` denotes.
///
/// A time skipped by a spring-forward change maps to the first instant after the gap (02:30 on a day the clocks
/// jump from 02:00 to 03:00 maps to 03:00), so a handoff or restriction edge there still happens, at the earliest
/// moment it can; a time repeated by a fall-back change maps to its earlier occurrence.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // Transitions in the time zone database fall on whole local minutes (in every rule since the 1970s), so the
    // gap ends at the first whole minute after `local` that exists.
    let mut t = local
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(local);
    for _ in 0..24 * 60 {
        t += Duration::minutes(1);
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return x.with_timezone(&Utc);
        }
    }
    let offset = tz.offset_from_utc_datetime(&local).fix();
    (local - offset).and_utc()
}

/// Who a single layer puts on call at `at`: `None` before its first handoff, or outside all of its restrictions
/// (when it has any).
pub fn layer_on_call(layer: &Layer, tz: Tz, at: DateTime<Utc>) -> Option<UserId> {
    if layer.participants.is_empty() {
        return None;
    }
    let k = layer.shift_index(tz, at)?;
    if !layer.restrictions.is_empty() {
        let local = at.with_timezone(&tz).naive_local();
        if !layer.restrictions.iter().any(|r| r.covers(local)) {
            return None;
        }
    }
    let turn = k.rem_euclid(layer.participants.len() as i64) as usize;
    Some(layer.participants[turn].clone())
}

/// Who is on call at `at`: the last override covering it, else the highest layer with someone on call, else
/// nobody.
pub fn on_call(schedule: &Schedule, at: DateTime<Utc>) -> Option<UserId> {
    if let Some(o) = schedule.overrides.iter().rev().find(|o| o.covers(at)) {
        return Some(o.user.clone());
    }
    schedule
        .layers
        .iter()
        .rev()
        .find_map(|layer| layer_on_call(layer, schedule.time_zone, at))
}

/// How far ahead a schedule's shifts are looked at for reminders; the timer comes back at the horizon if no shift
/// starts before it.
pub const REMINDER_HORIZON_DAYS: i64 = 14;

/// Which shifts of a schedule get a reminder at `now`, `lead` before they start, and when to look again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPlan {
    /// Shifts starting within the lead time (those already running started earlier and get none).
    pub due: Vec<Shift>,
    /// The next instant a reminder falls due.
    pub next_at: DateTime<Utc>,
}

/// The reminders a schedule owes at `now` with reminders `lead` ahead of each shift; `None` lead means the
/// schedule sends none, and only looks again at the horizon.
pub fn reminders(schedule: &Schedule, now: DateTime<Utc>, lead: Option<Duration>) -> ReminderPlan {
    let ahead = lead.unwrap_or_else(Duration::zero);
    let horizon = now + ahead + Duration::days(REMINDER_HORIZON_DAYS);
    let mut plan = ReminderPlan {
        due: Vec::new(),
        next_at: horizon - ahead,
    };
    let Some(lead) = lead else { return plan };
    for shift in final_schedule(schedule, now, horizon)
        .into_iter()
        .filter(|s| s.start > now)
    {
        let remind_at = shift.start - lead;
        if remind_at > now {
            plan.next_at = plan.next_at.min(remind_at);
        } else {
            plan.due.push(shift);
        }
    }
    plan
}

/// Who is on call over [`from`, `to`): shifts in time order, with consecutive stretches of the same user joined.
///
/// Every instant where the answer can change (handoffs, restriction edges, UTC-offset changes, override edges)
/// splits the range; between two such instants [`on_call`] is constant, so asking it once per piece gives the
/// exact timeline.
pub fn final_schedule(schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
    if from >= to {
        return Vec::new();
    }
    let cuts = boundaries(schedule, from, to);
    let mut shifts: Vec<Shift> = Vec::new();
    for w in cuts.windows(2) {
        let (start, end) = (w[0], w[1]);
        let Some(user) = on_call(schedule, start) else {
            continue;
        };
        match shifts.last_mut() {
            Some(last) if last.end == start && last.user == user => last.end = end,
            _ => shifts.push(Shift { user, start, end }),
        }
    }
    shifts
}

/// The ranges within [`from`, `to`) where nobody is on call, in time order.
pub fn gaps(
    schedule: &Schedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut cursor = from;
    for shift in final_schedule(schedule, from, to) {
        if shift.start > cursor {
            out.push((cursor, shift.start));
        }
        cursor = shift.end;
    }
    if cursor < to {
        out.push((cursor, to));
    }
    out
}

/// `from`, `to` and every instant strictly between them where who is on call may change, sorted and unique.
fn boundaries(schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let tz = schedule.time_zone;
    let mut cuts = vec![from, to];
    let mut add = |t: DateTime<Utc>| {
        if from < t && t < to {
            cuts.push(t);
        }
    };

    for layer in &schedule.layers {
        if layer.rotation.count() == 0 {
            continue;
        }
        let mut k = layer.shift_index(tz, from).map_or(0, |k| k + 1);
        while let Some(h) = layer.handoff(tz, k).filter(|h| *h < to) {
            add(h);
            k += 1;
        }
    }

    let restricted = schedule.layers.iter().any(|l| !l.restrictions.is_empty());
    if restricted {
        // A day's margin on each side catches overnight windows and dates that straddle the range ends.
        let first = from
            .with_timezone(&tz)
            .date_naive()
            .pred_opt()
            .unwrap_or(NaiveDate::MIN);
        let last = to
            .with_timezone(&tz)
            .date_naive()
            .succ_opt()
            .unwrap_or(NaiveDate::MAX);
        for day in first.iter_days().take_while(|d| *d <= last) {
            for r in schedule.layers.iter().flat_map(|l| &l.restrictions) {
                if r.on(day.weekday()) {
                    for t in local_instants(tz, day.and_time(r.start)) {
                        add(t);
                    }
                }
                if r.ends_on(day.weekday()) {
                    for t in local_instants(tz, day.and_time(r.end)) {
                        add(t);
                    }
                }
            }
        }
        // Restrictions read the wall clock, which jumps at offset changes: a fall-back can reopen or close a
        // window with no edge time being crossed.
        for t in offset_changes(tz, from, to) {
            add(t);
        }
    }

    for o in &schedule.overrides {
        add(o.start);
        add(o.end);
    }

    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Every instant a wall-clock time denotes: both occurrences of a repeated time, and the end of the gap for a
/// skipped one.
fn local_instants(tz: Tz, local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => vec![resolve_local(tz, local)],
    }
}

/// The instants in (`from`, `to`) where the UTC offset of `tz` changes, assuming at most one change a day.
fn offset_changes(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let offset = |s: i64| {
        DateTime::from_timestamp(s, 0).map(|t| tz.offset_from_utc_datetime(&t.naive_utc()).fix())
    };
    let end = to.timestamp();
    let mut out = Vec::new();
    let mut lo = from.timestamp();
    while lo < end {
        let hi = (lo + 86_400).min(end);
        let before = offset(lo);
        if offset(hi) != before {
            // The change is at a whole second in (lo, hi]: bisect for the first second with the new offset.
            let (mut a, mut b) = (lo, hi);
            while b - a > 1 {
                let mid = a + (b - a) / 2;
                if offset(mid) == before {
                    a = mid;
                } else {
                    b = mid;
                }
            }
            out.extend(DateTime::from_timestamp(b, 0));
        }
        lo = hi;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Australia, Europe};

    fn user(n: u32) -> UserId {
        UserId::from_trusted(format!("usr_{n}"))
    }

    fn users(n: u32) -> Vec<UserId> {
        (0..n).map(user).collect()
    }

    fn local(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn layer(participants: Vec<UserId>, rotation: Rotation, start: &str) -> Layer {
        Layer {
            name: "primary".into(),
            participants,
            rotation,
            start: local(start),
            restrictions: Vec::new(),
        }
    }

    fn schedule(time_zone: Tz, layers: Vec<Layer>) -> Schedule {
        Schedule {
            time_zone,
            layers,
            overrides: Vec::new(),
        }
    }

    #[test]
    fn reminders_go_out_a_lead_before_each_shift_and_the_timer_waits_for_the_next() {
        let s = schedule(
            chrono_tz::UTC,
            vec![layer(users(2), Rotation::Days(1), "2026-03-02T09:00:00")],
        );
        let lead = Some(Duration::minutes(30));
        // 08:40: the 09:00 handoff is within the lead; the next reminder is due at 08:30 tomorrow.
        let plan = reminders(&s, utc("2026-03-03T08:40:00Z"), lead);
        assert_eq!(plan.due.len(), 1);
        assert_eq!(plan.due[0].start, utc("2026-03-03T09:00:00Z"));
        assert_eq!(plan.next_at, utc("2026-03-04T08:30:00Z"));
        // 08:00: nothing yet; the timer comes back at 08:30.
        let early = reminders(&s, utc("2026-03-03T08:00:00Z"), lead);
        assert!(early.due.is_empty());
        assert_eq!(early.next_at, utc("2026-03-03T08:30:00Z"));
        // Without reminders, the timer only looks again at the horizon.
        let none = reminders(&s, utc("2026-03-03T08:40:00Z"), None);
        assert!(none.due.is_empty());
        assert_eq!(
            none.next_at,
            utc("2026-03-03T08:40:00Z") + Duration::days(REMINDER_HORIZON_DAYS)
        );
    }

    fn weekdays_nine_to_five() -> Restriction {
        use Weekday::*;
        Restriction {
            days: vec![Mon, Tue, Wed, Thu, Fri],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        }
    }

    fn assert_weekly_handoffs_at_nine(tz: Tz, from: &str, to: &str, expected_utc: &[&str]) {
        let s = schedule(
            tz,
            vec![layer(users(3), Rotation::Weeks(1), "2026-01-05T09:00:00")],
        );
        let shifts = final_schedule(&s, utc(from), utc(to));
        let starts: Vec<_> = shifts.iter().skip(1).map(|s| s.start).collect();
        let expected: Vec<_> = expected_utc.iter().map(|s| utc(s)).collect();
        assert_eq!(starts, expected);
        for t in starts {
            let l = t.with_timezone(&tz);
            assert_eq!(
                (l.weekday(), l.hour(), l.minute()),
                (Weekday::Mon, 9, 0),
                "{l}"
            );
        }
    }

    #[test]
    fn weekly_handoff_stays_at_nine_local_across_dst_in_berlin() {
        assert_weekly_handoffs_at_nine(
            Europe::Berlin,
            "2026-03-20T00:00:00Z",
            "2026-04-07T00:00:00Z",
            &[
                "2026-03-23T08:00:00Z",
                "2026-03-30T07:00:00Z",
                "2026-04-06T07:00:00Z",
            ],
        );
        assert_weekly_handoffs_at_nine(
            Europe::Berlin,
            "2026-10-15T00:00:00Z",
            "2026-11-03T00:00:00Z",
            &[
                "2026-10-19T07:00:00Z",
                "2026-10-26T08:00:00Z",
                "2026-11-02T08:00:00Z",
            ],
        );
    }

    #[test]
    fn weekly_handoff_stays_at_nine_local_across_dst_in_new_york() {
        assert_weekly_handoffs_at_nine(
            America::New_York,
            "2026-02-28T00:00:00Z",
            "2026-03-17T00:00:00Z",
            &[
                "2026-03-02T14:00:00Z",
                "2026-03-09T13:00:00Z",
                "2026-03-16T13:00:00Z",
            ],
        );
        assert_weekly_handoffs_at_nine(
            America::New_York,
            "2026-10-24T00:00:00Z",
            "2026-11-10T00:00:00Z",
            &[
                "2026-10-26T13:00:00Z",
                "2026-11-02T14:00:00Z",
                "2026-11-09T14:00:00Z",
            ],
        );
    }

    #[test]
    fn handoff_in_the_spring_forward_gap_happens_when_the_clocks_jump() {
        let s = schedule(
            Europe::Berlin,
            vec![layer(users(2), Rotation::Days(1), "2026-03-28T02:30:00")],
        );
        // 02:30 does not exist on 2026-03-29; the clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC).
        assert_eq!(
            resolve_local(Europe::Berlin, local("2026-03-29T02:30:00")),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(on_call(&s, utc("2026-03-29T00:59:59Z")), Some(user(0)));
        assert_eq!(on_call(&s, utc("2026-03-29T01:00:00Z")), Some(user(1)));
        // The next day is back to 02:30 local.
        assert_eq!(on_call(&s, utc("2026-03-30T00:29:59Z")), Some(user(1)));
        assert_eq!(on_call(&s, utc("2026-03-30T00:30:00Z")), Some(user(0)));

        let ny = schedule(
            America::New_York,
            vec![layer(users(2), Rotation::Days(1), "2026-03-07T02:30:00")],
        );
        let shifts = final_schedule(
            &ny,
            utc("2026-03-07T00:00:00Z"),
            utc("2026-03-10T00:00:00Z"),
        );
        let starts: Vec<_> = shifts.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-03-07T07:30:00Z"),
                utc("2026-03-08T07:00:00Z"),
                utc("2026-03-09T06:30:00Z")
            ]
        );
    }

    #[test]
    fn handoff_at_a_repeated_time_uses_the_first_occurrence() {
        let s = schedule(
            Europe::Berlin,
            vec![layer(users(2), Rotation::Days(1), "2026-10-24T02:30:00")],
        );
        // 02:30 occurs at 00:30 UTC (CEST) and 01:30 UTC (CET) on 2026-10-25.
        assert_eq!(on_call(&s, utc("2026-10-25T00:29:59Z")), Some(user(0)));
        assert_eq!(on_call(&s, utc("2026-10-25T00:30:00Z")), Some(user(1)));
        assert_eq!(on_call(&s, utc("2026-10-25T01:30:00Z")), Some(user(1)));
    }

    #[test]
    fn hour_rotations_count_elapsed_time_across_dst() {
        let s = schedule(
            Europe::Berlin,
            vec![layer(users(2), Rotation::Hours(12), "2026-03-28T20:00:00")],
        );
        let shifts = final_schedule(&s, utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z"));
        let starts: Vec<_> = shifts.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-03-28T19:00:00Z"),
                utc("2026-03-29T07:00:00Z"),
                utc("2026-03-29T19:00:00Z")
            ]
        );
    }

    #[test]
    fn nobody_is_on_call_before_the_first_handoff() {
        let s = schedule(
            Europe::Berlin,
            vec![layer(users(2), Rotation::Days(1), "2026-03-02T09:00:00")],
        );
        assert_eq!(on_call(&s, utc("2026-03-02T07:59:59Z")), None);
        assert_eq!(on_call(&s, utc("2026-03-02T08:00:00Z")), Some(user(0)));
        assert_eq!(
            gaps(&s, utc("2026-03-02T00:00:00Z"), utc("2026-03-03T00:00:00Z")),
            [(utc("2026-03-02T00:00:00Z"), utc("2026-03-02T08:00:00Z"))]
        );
    }

    #[test]
    fn weekday_office_hours_leave_nights_and_weekends_uncovered() {
        let mut l = layer(users(1), Rotation::Weeks(1), "2026-03-02T00:00:00");
        l.restrictions = vec![weekdays_nine_to_five()];
        let s = schedule(Europe::Berlin, vec![l]);
        // Monday 2026-03-02 00:00 to Monday 2026-03-09 00:00 Berlin (CET, UTC+1).
        let (from, to) = (utc("2026-03-01T23:00:00Z"), utc("2026-03-08T23:00:00Z"));
        let shifts = final_schedule(&s, from, to);
        let expected: Vec<_> = (2..=6)
            .map(|d| Shift {
                user: user(0),
                start: utc(&format!("2026-03-{d:02}T08:00:00Z")),
                end: utc(&format!("2026-03-{d:02}T16:00:00Z")),
            })
            .collect();
        assert_eq!(shifts, expected);
        let g = gaps(&s, from, to);
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], (from, utc("2026-03-02T08:00:00Z")));
        assert_eq!(
            g[1],
            (utc("2026-03-02T16:00:00Z"), utc("2026-03-03T08:00:00Z"))
        );
        assert_eq!(g[5], (utc("2026-03-06T16:00:00Z"), to));
        assert_eq!(on_call(&s, utc("2026-03-07T10:00:00Z")), None);
    }

    #[test]
    fn overnight_restriction_runs_past_midnight() {
        let mut l = layer(users(2), Rotation::Days(1), "2026-03-02T12:00:00");
        l.restrictions = vec![Restriction {
            days: Vec::new(),
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        }];
        let s = schedule(Europe::Berlin, vec![l.clone()]);
        assert_eq!(on_call(&s, utc("2026-03-03T22:00:00Z")), Some(user(1)));
        assert_eq!(on_call(&s, utc("2026-03-04T04:59:59Z")), Some(user(1)));
        assert_eq!(on_call(&s, utc("2026-03-04T05:00:00Z")), None);
        assert_eq!(on_call(&s, utc("2026-03-04T11:00:00Z")), None);
        assert_eq!(
            gaps(&s, utc("2026-03-04T00:00:00Z"), utc("2026-03-05T00:00:00Z")),
            [(utc("2026-03-04T05:00:00Z"), utc("2026-03-04T21:00:00Z"))]
        );

        // Restricted to Fridays, the window still covers the small hours of Saturday, but not of Friday.
        l.restrictions[0].days = vec![Weekday::Fri];
        let fri = schedule(Europe::Berlin, vec![l]);
        assert_eq!(on_call(&fri, utc("2026-03-06T04:00:00Z")), None);
        assert!(on_call(&fri, utc("2026-03-06T22:00:00Z")).is_some());
        assert!(on_call(&fri, utc("2026-03-07T04:00:00Z")).is_some());
        assert_eq!(on_call(&fri, utc("2026-03-08T04:00:00Z")), None);
    }

    #[test]
    fn restriction_edge_in_the_repeated_hour_follows_the_wall_clock() {
        let mut l = layer(users(1), Rotation::Weeks(1), "2026-10-01T00:00:00");
        l.restrictions = vec![Restriction {
            days: Vec::new(),
            start: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        }];
        let s = schedule(Europe::Berlin, vec![l]);
        // On 2026-10-25 the wall clock reads 02:30 at 00:30 UTC, falls back from 03:00 to 02:00 at 01:00 UTC and
        // reads 02:30 again at 01:30 UTC.
        assert_eq!(
            gaps(&s, utc("2026-10-24T22:00:00Z"), utc("2026-10-25T03:00:00Z")),
            [
                (utc("2026-10-24T22:00:00Z"), utc("2026-10-25T00:30:00Z")),
                (utc("2026-10-25T01:00:00Z"), utc("2026-10-25T01:30:00Z")),
            ]
        );
    }

    #[test]
    fn higher_layer_wins_where_it_has_someone_and_overrides_win_over_both() {
        let base = layer(
            vec![user(1), user(2)],
            Rotation::Days(1),
            "2026-03-02T00:00:00",
        );
        let mut office = layer(vec![user(3)], Rotation::Weeks(1), "2026-03-02T00:00:00");
        office.restrictions = vec![weekdays_nine_to_five()];
        let mut s = schedule(UTC_TZ, vec![base, office]);
        assert_eq!(on_call(&s, utc("2026-03-02T10:00:00Z")), Some(user(3)));
        assert_eq!(on_call(&s, utc("2026-03-02T20:00:00Z")), Some(user(1)));
        assert_eq!(on_call(&s, utc("2026-03-03T08:00:00Z")), Some(user(2)));
        assert_eq!(
            final_schedule(&s, utc("2026-03-02T00:00:00Z"), utc("2026-03-03T00:00:00Z")),
            [
                Shift {
                    user: user(1),
                    start: utc("2026-03-02T00:00:00Z"),
                    end: utc("2026-03-02T09:00:00Z")
                },
                Shift {
                    user: user(3),
                    start: utc("2026-03-02T09:00:00Z"),
                    end: utc("2026-03-02T17:00:00Z")
                },
                Shift {
                    user: user(1),
                    start: utc("2026-03-02T17:00:00Z"),
                    end: utc("2026-03-03T00:00:00Z")
                },
            ]
        );

        s.overrides = vec![
            Override {
                user: user(4),
                start: utc("2026-03-02T12:00:00Z"),
                end: utc("2026-03-02T20:00:00Z"),
            },
            Override {
                user: user(5),
                start: utc("2026-03-02T19:00:00Z"),
                end: utc("2026-03-02T21:00:00Z"),
            },
        ];
        assert_eq!(
            final_schedule(&s, utc("2026-03-02T00:00:00Z"), utc("2026-03-03T00:00:00Z")),
            [
                Shift {
                    user: user(1),
                    start: utc("2026-03-02T00:00:00Z"),
                    end: utc("2026-03-02T09:00:00Z")
                },
                Shift {
                    user: user(3),
                    start: utc("2026-03-02T09:00:00Z"),
                    end: utc("2026-03-02T12:00:00Z")
                },
                Shift {
                    user: user(4),
                    start: utc("2026-03-02T12:00:00Z"),
                    end: utc("2026-03-02T19:00:00Z")
                },
                Shift {
                    user: user(5),
                    start: utc("2026-03-02T19:00:00Z"),
                    end: utc("2026-03-02T21:00:00Z")
                },
                Shift {
                    user: user(1),
                    start: utc("2026-03-02T21:00:00Z"),
                    end: utc("2026-03-03T00:00:00Z")
                },
            ]
        );
    }

    const UTC_TZ: Tz = chrono_tz::UTC;

    #[test]
    fn validation_names_the_offending_fields() {
        let mut bad = layer(Vec::new(), Rotation::Days(0), "2026-03-02T09:00:00");
        bad.restrictions = vec![Restriction {
            days: vec![Weekday::Mon, Weekday::Mon],
            start: NaiveTime::from_hms_opt(9, 0, 30).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        }];
        let mut s = schedule(
            UTC_TZ,
            vec![
                layer(users(1), Rotation::Weeks(1), "2026-03-02T09:00:00"),
                bad,
            ],
        );
        s.overrides = vec![Override {
            user: user(1),
            start: utc("2026-03-02T10:00:00Z"),
            end: utc("2026-03-02T10:00:00Z"),
        }];
        let errors = s.validate().unwrap_err();
        let fields = errors.fields();
        assert_eq!(
            fields,
            [
                "layers[1].participants",
                "layers[1].rotation.count",
                "layers[1].restrictions[0].start",
                "layers[1].restrictions[0].days",
                "overrides[0].end",
            ]
        );
        assert!(
            schedule(
                UTC_TZ,
                vec![layer(users(1), Rotation::Hours(8), "2026-03-02T09:00:00")]
            )
            .validate()
            .is_ok()
        );
        assert_eq!(
            schedule(UTC_TZ, Vec::new()).validate().unwrap_err().0[0].field,
            "layers"
        );
    }

    #[test]
    fn serializes_with_readable_rotation_and_zone_name() {
        let mut l = layer(
            vec![UserId::generate()],
            Rotation::Days(2),
            "2026-03-02T09:00:00",
        );
        l.restrictions = vec![weekdays_nine_to_five()];
        let s = schedule(Europe::Berlin, vec![l]);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["time_zone"], "Europe/Berlin");
        assert_eq!(
            json["layers"][0]["rotation"],
            serde_json::json!({"every": "days", "count": 2})
        );
        assert_eq!(json["layers"][0]["restrictions"][0]["days"][0], "Mon");
        assert_eq!(serde_json::from_value::<Schedule>(json).unwrap(), s);
        let bad = serde_json::json!({"time_zone": "Mars/Olympus", "layers": []});
        assert!(
            serde_json::from_value::<Schedule>(bad)
                .unwrap_err()
                .to_string()
                .contains("IANA")
        );
    }

    #[test]
    fn ninety_days_of_an_office_layer_over_a_daily_rotation() {
        let office_user = UserId::generate();
        let mut office = layer(
            vec![office_user.clone()],
            Rotation::Weeks(1),
            "2026-01-05T00:00:00",
        );
        office.restrictions = vec![weekdays_nine_to_five()];
        let s = schedule(
            Europe::Berlin,
            vec![
                layer(users(4), Rotation::Days(1), "2026-01-05T09:00:00"),
                office,
            ],
        );
        let (from, to) = (utc("2026-02-01T00:00:00Z"), utc("2026-05-02T00:00:00Z"));
        let shifts = final_schedule(&s, from, to);
        assert!(
            gaps(&s, from, to).is_empty(),
            "the daily rotation leaves no gap"
        );
        for shift in shifts.iter().filter(|sh| sh.user == office_user) {
            // Office hours in Berlin's local time, across the 2026-03-29 clock change.
            let (start, end) = (
                shift.start.with_timezone(&Europe::Berlin),
                shift.end.with_timezone(&Europe::Berlin),
            );
            assert_eq!(
                (
                    start.format("%H:%M").to_string(),
                    end.format("%H:%M").to_string()
                ),
                ("09:00".into(), "17:00".into())
            );
            assert!(start.weekday().num_days_from_monday() < 5, "{start}");
        }
        let office_days = shifts.iter().filter(|sh| sh.user == office_user).count();
        assert_eq!(
            office_days, 65,
            "every weekday from Monday 2026-02-02 to Friday 2026-05-01"
        );
    }

    /// Reference implementations, written for obviousness rather than speed.
    mod reference {
        use super::*;

        /// Scans forward in UTC for the first instant whose wall-clock reading reaches `local`, which is the
        /// earlier occurrence of a repeated time and the end of the gap for a skipped one.
        pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
            match tz.from_local_datetime(&local) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
                LocalResult::None => {
                    let mut t = (local - Duration::hours(15)).and_utc();
                    while t.with_timezone(&tz).naive_local() < local {
                        t += Duration::minutes(1);
                    }
                    t
                }
            }
        }

        fn open(r: &Restriction, local: NaiveDateTime) -> bool {
            let length = if r.end > r.start {
                r.end - r.start
            } else {
                r.end - r.start + Duration::days(1)
            };
            [local.date(), local.date() - Duration::days(1)]
                .into_iter()
                .any(|d| {
                    let begin = d.and_time(r.start);
                    (r.days.is_empty() || r.days.contains(&d.weekday()))
                        && begin <= local
                        && local < begin + length
                })
        }

        pub fn layer(layer: &Layer, tz: Tz, at: DateTime<Utc>) -> Option<UserId> {
            let handoff = |k: i64| match layer.rotation {
                Rotation::Hours(n) => resolve(tz, layer.start) + Duration::hours(i64::from(n) * k),
                Rotation::Days(n) => resolve(tz, layer.start + Duration::days(i64::from(n) * k)),
                Rotation::Weeks(n) => resolve(tz, layer.start + Duration::weeks(i64::from(n) * k)),
            };
            if at < handoff(0) {
                return None;
            }
            let mut k = 0;
            while handoff(k + 1) <= at {
                k += 1;
            }
            let local = at.with_timezone(&tz).naive_local();
            if !layer.restrictions.is_empty() && !layer.restrictions.iter().any(|r| open(r, local))
            {
                return None;
            }
            Some(layer.participants[k as usize % layer.participants.len()].clone())
        }

        /// The first quarter hour at or after each change of UTC offset; every zone tested changes on one.
        pub fn offset_changes(
            tz: Tz,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> Vec<DateTime<Utc>> {
            let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix();
            let mut out = Vec::new();
            let mut t = from;
            while t < to {
                let next = t + Duration::minutes(15);
                if offset(next) != offset(t) {
                    out.push(next);
                }
                t = next;
            }
            out
        }

        pub fn on_call(s: &Schedule, at: DateTime<Utc>) -> Option<UserId> {
            let mut winner = None;
            for l in &s.layers {
                if let Some(u) = layer(l, s.time_zone, at) {
                    winner = Some(u);
                }
            }
            for o in &s.overrides {
                if o.start <= at && at < o.end {
                    winner = Some(o.user.clone());
                }
            }
            winner
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const ZONES: [Tz; 5] = [
            chrono_tz::UTC,
            Europe::Berlin,
            America::New_York,
            // Half-hour DST shifts.
            Australia::Lord_Howe,
            // A zone whose offset changes twice within a few weeks around Ramadan, and whose spring-forward
            // happens at midnight.
            chrono_tz::Africa::Casablanca,
        ];

        /// Ranges chosen to include DST changes in both hemispheres.
        const RANGE_STARTS: [&str; 3] = [
            "2026-02-20T00:00:00Z",
            "2026-03-25T00:00:00Z",
            "2026-09-20T00:00:00Z",
        ];

        const RANGE_DAYS: i64 = 60;

        /// Minutes of the day, biased toward the small hours where DST changes happen.
        fn minute_of_day() -> impl Strategy<Value = u32> {
            prop_oneof![
                0u32..24 * 60,
                (0u32..12).prop_map(|i| 60 + i * 15),
                Just(0u32),
                Just(9 * 60),
            ]
        }

        fn time(minute: u32) -> NaiveTime {
            NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap()
        }

        fn rotation() -> impl Strategy<Value = Rotation> {
            prop_oneof![
                (1u32..=48).prop_map(Rotation::Hours),
                (1u32..=10).prop_map(Rotation::Days),
                (1u32..=3).prop_map(Rotation::Weeks),
            ]
        }

        fn restriction() -> impl Strategy<Value = Restriction> {
            (0u8..128, minute_of_day(), minute_of_day()).prop_map(|(mask, start, end)| {
                Restriction {
                    days: (0..7u8)
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| Weekday::try_from(i).unwrap())
                        .collect(),
                    start: time(start),
                    end: time(end),
                }
            })
        }

        fn layer_at(base: NaiveDateTime) -> impl Strategy<Value = Layer> {
            (
                1u32..=4,
                rotation(),
                -30i64..30,
                minute_of_day(),
                proptest::option::of(restriction()),
            )
                .prop_map(move |(n, rotation, day, minute, restriction)| Layer {
                    name: "layer".into(),
                    participants: users(n),
                    rotation,
                    start: base.date().and_time(time(minute)) + Duration::days(day),
                    restrictions: restriction.into_iter().collect(),
                })
        }

        fn case() -> impl Strategy<Value = (Schedule, DateTime<Utc>, Vec<DateTime<Utc>>)> {
            (0..ZONES.len(), 0..RANGE_STARTS.len()).prop_flat_map(|(z, r)| {
                let from = utc(RANGE_STARTS[r]);
                let span = RANGE_DAYS * 86_400;
                let layers = proptest::collection::vec(layer_at(from.naive_utc()), 1..=3);
                let overrides = proptest::collection::vec(
                    (0..span, 3600i64..5 * 86_400, 10u32..13).prop_map(move |(at, len, u)| {
                        Override {
                            user: user(u),
                            start: from + Duration::seconds(at),
                            end: from + Duration::seconds(at + len),
                        }
                    }),
                    0..=3,
                );
                let instants = proptest::collection::vec(
                    (0..span).prop_map(move |s| from + Duration::seconds(s)),
                    24,
                );
                (layers, overrides, instants).prop_map(move |(layers, overrides, instants)| {
                    (
                        Schedule {
                            time_zone: ZONES[z],
                            layers,
                            overrides,
                        },
                        from,
                        instants,
                    )
                })
            })
        }

        proptest! {
            #[test]
            fn on_call_matches_the_reference((s, _, instants) in case()) {
                for at in instants {
                    prop_assert_eq!(on_call(&s, at), reference::on_call(&s, at), "at {}", at);
                }
            }

            #[test]
            fn final_schedule_and_gaps_agree_with_on_call((s, from, instants) in case()) {
                let to = from + Duration::days(RANGE_DAYS);
                let shifts = final_schedule(&s, from, to);
                let holes = gaps(&s, from, to);

                for shift in &shifts {
                    prop_assert!(shift.start < shift.end);
                    let mid = shift.start + (shift.end - shift.start) / 2;
                    prop_assert_eq!(on_call(&s, shift.start), Some(shift.user.clone()));
                    prop_assert_eq!(on_call(&s, mid), Some(shift.user.clone()));
                }
                for w in shifts.windows(2) {
                    prop_assert!(w[0].end <= w[1].start);
                    prop_assert!(w[0].end < w[1].start || w[0].user != w[1].user, "unmerged at {}", w[0].end);
                }
                for &(a, b) in &holes {
                    prop_assert!(a < b);
                    prop_assert_eq!(on_call(&s, a), None);
                    prop_assert_eq!(on_call(&s, a + (b - a) / 2), None);
                }

                // Shifts and gaps together tile [from, to), with no two gaps touching.
                let mut pieces: Vec<(DateTime<Utc>, DateTime<Utc>, bool)> = shifts
                    .iter()
                    .map(|s| (s.start, s.end, true))
                    .chain(holes.iter().map(|&(a, b)| (a, b, false)))
                    .collect();
                pieces.sort();
                let mut cursor = from;
                let mut last_was_gap = false;
                for &(a, b, is_shift) in &pieces {
                    prop_assert_eq!(a, cursor);
                    prop_assert!(is_shift || !last_was_gap);
                    last_was_gap = !is_shift;
                    cursor = b;
                }
                prop_assert_eq!(cursor, to);

                // Random instants rarely land in the hour a fall-back repeats, where wall-clock restrictions
                // behave most unexpectedly, so every clock change adds instants around it.
                let near_changes = reference::offset_changes(s.time_zone, from, to)
                    .into_iter()
                    .flat_map(|t| (-6..=36).map(move |i| t + Duration::minutes(5 * i)))
                    .filter(|t| from <= *t && *t < to);
                for at in instants.into_iter().chain(near_changes) {
                    let expected = reference::on_call(&s, at);
                    let listed = shifts.iter().find(|s| s.start <= at && at < s.end).map(|s| s.user.clone());
                    prop_assert_eq!(listed, expected, "at {}", at);
                }
            }
        }
    }
}
