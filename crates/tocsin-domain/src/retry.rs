//! When to try a failed delivery again, and when to stop.
//!
//! Delays grow exponentially so that a receiver that is down is not hammered, with jitter so that deliveries that
//! failed together do not all come back together, and never shorter than the receiver's own `Retry-After`. The
//! caller supplies the jitter: this crate has no source of randomness, and a fixed jitter makes schedules testable.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};

/// How many times to try a delivery and how long to wait between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; after this many the delivery is given up.
    pub max_attempts: u32,
    /// The delay after the first failed attempt, doubled after each further one.
    pub base: Duration,
    /// The longest delay the doubling reaches, before jitter.
    pub cap: Duration,
    /// The longest `Retry-After` honoured; a receiver asking for more is retried after this long, so a careless or
    /// hostile header cannot park a delivery for days.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts, 5 s after the first failure, then 10 s, 20 s, 40 s and 80 s (each ±20%): a receiver has about
    /// two and a half minutes to come back, which suits paging, where a late notification is worth little.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::seconds(5),
            cap: Duration::minutes(10),
            max_retry_after: Duration::hours(1),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before the next attempt, or `None` to give up.
    ///
    /// `attempts` is the number of attempts already made (at least 1; 0 is read as 1). `retry_after` is what the
    /// receiver asked for, if anything. `jitter` is a uniform random number in `[0, 1)` from the caller; values
    /// outside that range are clamped into it, and NaN counts as 0.
    ///
    /// The delay is `base * 2^(attempts - 1)`, capped at `cap`, then scaled into `[0.8, 1.2)` by `jitter`. A
    /// `Retry-After` longer than that wins, up to `max_retry_after`: never retry sooner than the receiver asked.
    pub fn next_delay(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.max(1) - 1;
        let base_ms = self.base.num_milliseconds().max(0);
        let cap_ms = self.cap.num_milliseconds().max(0);
        let backoff_ms = base_ms
            .saturating_mul(2i64.saturating_pow(doublings))
            .min(cap_ms);

        // Integer arithmetic keeps the upper bound strict: a float product rounds up to exactly 1.2 × for jitter
        // values just below 1.
        let lowest_ms = backoff_ms - backoff_ms / 5;
        let spread_ms = backoff_ms / 5 * 2;
        let offset_ms = if spread_ms == 0 {
            0
        } else {
            // `as` saturates and maps NaN to 0, so any f64 lands in range before the clamp.
            ((jitter.max(0.0) * spread_ms as f64) as i64).clamp(0, spread_ms - 1)
        };
        let delay = Duration::milliseconds(lowest_ms.saturating_add(offset_ms));

        let asked = retry_after
            .map(|asked| asked.clamp(Duration::zero(), self.max_retry_after.max(Duration::zero())))
            .unwrap_or_else(Duration::zero);
        Some(delay.max(asked))
    }
}

/// Parses an HTTP `Retry-After` value, relative to `now`: delta-seconds (`120`) or an HTTP-date. Invalid values give
/// `None`; a date in the past gives zero.
///
/// Accepts all three HTTP-date forms, as RFC 9110 requires of recipients: IMF-fixdate
/// (`Wed, 21 Oct 2015 07:28:00 GMT`) and the obsolete RFC 850 (`Wednesday, 21-Oct-15 07:28:00 GMT`) and asctime
/// (`Wed Oct 21 07:28:00 2015`) forms. Delta-seconds too large to represent saturate, since the policy caps them.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = value.parse::<i64>().unwrap_or(i64::MAX);
        return Some(Duration::try_seconds(seconds).unwrap_or(Duration::MAX));
    }
    let at = parse_http_date(value, now)?;
    Some((at - now).max(Duration::zero()))
}

fn parse_http_date(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(imf) = NaiveDateTime::parse_from_str(value, "%a, %d %b %Y %H:%M:%S GMT") {
        return Some(imf.and_utc());
    }
    if let Ok(asctime) = NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y") {
        return Some(asctime.and_utc());
    }
    parse_rfc850_date(value, now)
}

/// RFC 850 dates carry a two-digit year, which RFC 9110 reads as the most recent matching year not more than 50
/// years in the future.
fn parse_rfc850_date(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (weekday, rest) = value.split_once(", ")?;
    let (date, rest) = rest.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let (day, month_and_year) = date.split_once('-')?;
    let (month, year) = month_and_year.split_once('-')?;
    if zone != "GMT" || year.len() != 2 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let two_digit_year: i32 = year.parse().ok()?;
    let current_year = now.year();
    let mut full_year = current_year - current_year.rem_euclid(100) + two_digit_year;
    if full_year > current_year + 50 {
        full_year -= 100;
    }
    let normalised = format!("{weekday}, {day} {month} {full_year} {time} GMT");
    NaiveDateTime::parse_from_str(&normalised, "%A, %d %b %Y %H:%M:%S GMT")
        .ok()
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            ..RetryPolicy::default()
        }
    }

    /// Jitter 0.5 scales by exactly 1.0, leaving the bare backoff.
    const NO_JITTER: f64 = 0.5;

    #[test]
    fn default_policy_is_six_attempts_from_five_seconds() {
        let default = RetryPolicy::default();
        assert_eq!(default.max_attempts, 6);
        assert_eq!(default.base, Duration::seconds(5));
        assert_eq!(default.cap, Duration::minutes(10));
        assert_eq!(default.max_retry_after, Duration::hours(1));
    }

    #[test]
    fn delays_double_after_each_attempt() {
        let delays: Vec<_> = (1..6)
            .map(|attempts| RetryPolicy::default().next_delay(attempts, None, NO_JITTER))
            .collect();
        assert_eq!(
            delays,
            [5, 10, 20, 40, 80].map(|seconds| Some(Duration::seconds(seconds)))
        );
    }

    #[test]
    fn zero_attempts_is_read_as_the_first() {
        assert_eq!(
            RetryPolicy::default().next_delay(0, None, NO_JITTER),
            Some(Duration::seconds(5))
        );
    }

    #[test]
    fn delays_stop_growing_at_the_cap() {
        let policy = policy(100);
        assert_eq!(
            policy.next_delay(7, None, NO_JITTER),
            Some(Duration::seconds(320))
        );
        assert_eq!(
            policy.next_delay(8, None, NO_JITTER),
            Some(Duration::minutes(10))
        );
        assert_eq!(
            policy.next_delay(9, None, NO_JITTER),
            Some(Duration::minutes(10))
        );
        assert_eq!(
            policy.next_delay(99, None, NO_JITTER),
            Some(Duration::minutes(10))
        );
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            base: Duration::days(1000),
            ..RetryPolicy::default()
        };
        assert_eq!(
            policy.next_delay(u32::MAX - 1, None, NO_JITTER),
            Some(Duration::minutes(10))
        );
    }

    #[test]
    fn an_unbounded_policy_does_not_overflow() {
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            base: Duration::MAX,
            cap: Duration::MAX,
            max_retry_after: Duration::MAX,
        };
        for jitter in [0.0, NO_JITTER, 0.999_999] {
            let delay = policy.next_delay(40, Some(Duration::MAX), jitter).unwrap();
            assert_eq!(delay, Duration::MAX);
        }
        let delay = policy.next_delay(40, None, 0.0).unwrap();
        assert!(delay >= Duration::MAX / 5 * 4, "{delay}");
    }

    #[test]
    fn gives_up_once_the_attempts_are_spent() {
        let default = RetryPolicy::default();
        assert!(default.next_delay(5, None, NO_JITTER).is_some());
        assert_eq!(default.next_delay(6, None, NO_JITTER), None);
        assert_eq!(default.next_delay(7, None, NO_JITTER), None);
        assert_eq!(policy(1).next_delay(1, None, NO_JITTER), None);
    }

    #[test]
    fn a_retry_after_does_not_keep_a_delivery_alive() {
        assert_eq!(
            RetryPolicy::default().next_delay(6, Some(Duration::seconds(30)), NO_JITTER),
            None
        );
    }

    #[test]
    fn jitter_spans_eighty_to_just_under_a_hundred_and_twenty_percent() {
        let default = RetryPolicy::default();
        assert_eq!(default.next_delay(1, None, 0.0), Some(Duration::seconds(4)));
        assert_eq!(
            default.next_delay(1, None, 0.25),
            Some(Duration::milliseconds(4500))
        );
        assert_eq!(
            default.next_delay(1, None, 0.75),
            Some(Duration::milliseconds(5500))
        );
        let highest = default.next_delay(1, None, 1.0 - f64::EPSILON).unwrap();
        assert_eq!(highest, Duration::milliseconds(5999));
    }

    #[test]
    fn jitter_outside_its_range_is_clamped() {
        let default = RetryPolicy::default();
        assert_eq!(
            default.next_delay(1, None, -3.0),
            Some(Duration::seconds(4))
        );
        assert_eq!(
            default.next_delay(1, None, f64::NAN),
            Some(Duration::seconds(4))
        );
        assert_eq!(
            default.next_delay(1, None, 1.0),
            Some(Duration::milliseconds(5999))
        );
        assert_eq!(
            default.next_delay(1, None, f64::INFINITY),
            Some(Duration::milliseconds(5999))
        );
    }

    #[test]
    fn a_longer_retry_after_wins_over_the_backoff() {
        let default = RetryPolicy::default();
        assert_eq!(
            default.next_delay(1, Some(Duration::seconds(90)), NO_JITTER),
            Some(Duration::seconds(90))
        );
        // The fifth backoff is 80 s, jittered to between 64 s and 96 s.
        assert_eq!(
            default.next_delay(5, Some(Duration::seconds(65)), 0.0),
            Some(Duration::seconds(65))
        );
        assert_eq!(
            default.next_delay(5, Some(Duration::seconds(97)), 0.999),
            Some(Duration::seconds(97))
        );
    }

    #[test]
    fn a_shorter_retry_after_does_not_bring_the_retry_forward() {
        let default = RetryPolicy::default();
        assert_eq!(
            default.next_delay(3, Some(Duration::seconds(1)), NO_JITTER),
            Some(Duration::seconds(20))
        );
        assert_eq!(
            default.next_delay(3, Some(Duration::zero()), NO_JITTER),
            Some(Duration::seconds(20))
        );
        assert_eq!(
            default.next_delay(3, Some(Duration::seconds(-600)), NO_JITTER),
            Some(Duration::seconds(20))
        );
    }

    #[test]
    fn retry_after_is_capped() {
        let default = RetryPolicy::default();
        assert_eq!(
            default.next_delay(1, Some(Duration::days(2)), NO_JITTER),
            Some(Duration::hours(1))
        );
        assert_eq!(
            default.next_delay(1, Some(Duration::MAX), NO_JITTER),
            Some(Duration::hours(1))
        );
    }

    #[test]
    fn the_backoff_still_applies_when_it_exceeds_the_retry_after_cap() {
        let policy = RetryPolicy {
            max_retry_after: Duration::seconds(10),
            ..policy(100)
        };
        assert_eq!(
            policy.next_delay(8, Some(Duration::hours(2)), NO_JITTER),
            Some(Duration::minutes(10))
        );
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 0, 0).unwrap()
    }

    #[test]
    fn parses_delta_seconds() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::seconds(120))
        );
        assert_eq!(parse_retry_after("0", now()), Some(Duration::zero()));
        assert_eq!(
            parse_retry_after(" 30 ", now()),
            Some(Duration::seconds(30))
        );
        assert_eq!(parse_retry_after("007", now()), Some(Duration::seconds(7)));
    }

    #[test]
    fn enormous_delta_seconds_saturate() {
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::MAX)
        );
        assert_eq!(
            parse_retry_after(&i64::MAX.to_string(), now()),
            Some(Duration::MAX)
        );
    }

    #[test]
    fn parses_an_imf_fixdate_relative_to_now() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::minutes(28))
        );
    }

    #[test]
    fn parses_the_obsolete_date_forms() {
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now()),
            Some(Duration::minutes(28))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:00 2015", now()),
            Some(Duration::minutes(28))
        );
        let early_in_month = Utc.with_ymd_and_hms(2015, 10, 1, 7, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("Thu Oct  1 07:00:30 2015", early_in_month),
            Some(Duration::seconds(30))
        );
    }

    #[test]
    fn two_digit_years_more_than_fifty_years_ahead_are_in_the_past() {
        let in_2060 = Utc.with_ymd_and_hms(2060, 1, 1, 0, 0, 0).unwrap();
        // 2099 is 39 years ahead of 2060, so "99" is 2099, not 1999.
        assert_eq!(
            parse_retry_after("Thursday, 01-Jan-99 00:00:00 GMT", in_2060),
            Some(Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap() - in_2060)
        );
        // 2015 + 94 = 2109 would be more than 50 years ahead, so "09" is 2009: in the past.
        assert_eq!(
            parse_retry_after("Thursday, 01-Jan-09 00:00:00 GMT", now()),
            Some(Duration::zero())
        );
        assert_eq!(
            parse_retry_after("Friday, 01-Jan-16 00:00:00 GMT", now()),
            Some(Utc.with_ymd_and_hms(2016, 1, 1, 0, 0, 0).unwrap() - now())
        );
    }

    #[test]
    fn a_date_in_the_past_means_now() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 06:00:00 GMT", now()),
            Some(Duration::zero())
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::zero())
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        for value in [
            "",
            "   ",
            "-5",
            "+5",
            "1.5",
            "12 s",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 +0000",
            "Wed, 21 Oct 2015 07:28:00 PST",
            "Thu, 21 Oct 2015 07:28:00 GMT",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 25:28:00 GMT",
            "21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 UTC",
            "Thursday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00",
        ] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn jitter_keeps_the_delay_within_twenty_percent_of_the_backoff(
                attempts in 1u32..12,
                jitter in 0.0f64..1.0,
            ) {
                let policy = policy(100);
                let backoff_ms = policy.next_delay(attempts, None, NO_JITTER).unwrap().num_milliseconds();
                let delay_ms = policy.next_delay(attempts, None, jitter).unwrap().num_milliseconds();
                prop_assert!(delay_ms * 5 >= backoff_ms * 4, "{delay_ms} below 80% of {backoff_ms}");
                prop_assert!(delay_ms * 5 < backoff_ms * 6, "{delay_ms} not below 120% of {backoff_ms}");
            }

            #[test]
            fn more_jitter_never_means_a_shorter_delay(attempts in 1u32..12, a in 0.0f64..1.0, b in 0.0f64..1.0) {
                let policy = policy(100);
                let (low, high) = if a <= b { (a, b) } else { (b, a) };
                prop_assert!(policy.next_delay(attempts, None, low) <= policy.next_delay(attempts, None, high));
            }

            #[test]
            fn never_sooner_than_the_receiver_asked_up_to_the_cap(
                attempts in 1u32..6,
                asked_seconds in 0i64..10_000,
                jitter in 0.0f64..1.0,
            ) {
                let default = RetryPolicy::default();
                let asked = Duration::seconds(asked_seconds);
                let delay = default.next_delay(attempts, Some(asked), jitter).unwrap();
                prop_assert!(delay >= asked.min(default.max_retry_after));
                prop_assert!(delay >= default.next_delay(attempts, None, jitter).unwrap());
                prop_assert!(delay <= default.max_retry_after.max(Duration::seconds(96)));
            }

            #[test]
            fn arbitrary_header_values_never_panic(value in any::<String>()) {
                let _ = parse_retry_after(&value, now());
            }
        }
    }
}
