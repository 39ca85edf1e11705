//! RFC 5545 calendars, for the on-call feeds people subscribe to in Google Calendar, Outlook and the like.
//!
//! Every time is written in UTC, so the feed needs no `VTIMEZONE`: each reader shows shifts in its own zone.

use chrono::{DateTime, Utc};

/// RFC 5545 §3.1: content lines longer than this many octets, line break excluded, must be folded.
const MAX_LINE_OCTETS: usize = 75;

/// One shift, or any other span of time, in a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// Identifies the event across refreshes of the feed, so a reader updates it in place rather than duplicating
    /// it; must be globally unique and stable.
    pub uid: String,
    /// When the event begins.
    pub start: DateTime<Utc>,
    /// When the event ends, exclusive.
    pub end: DateTime<Utc>,
    /// The event's title.
    pub summary: String,
    /// Longer text shown with the event, if any.
    pub description: Option<String>,
}

/// A complete `VCALENDAR` named `name`, with one `VEVENT` per event, stamped with `now` (`DTSTAMP`).
///
/// Lines end in CRLF and are folded at 75 octets without splitting a UTF-8 character; text values are escaped.
pub fn calendar(name: &str, events: &[CalendarEvent], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    push_line(&mut out, "BEGIN:VCALENDAR");
    push_line(&mut out, "VERSION:2.0");
    push_line(&mut out, "PRODID:-//Tocsin//On-call//EN");
    push_line(&mut out, "CALSCALE:GREGORIAN");
    push_line(&mut out, "METHOD:PUBLISH");
    push_line(&mut out, &format!("X-WR-CALNAME:{}", escape_text(name)));
    let stamp = format_utc(now);
    for event in events {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}", escape_text(&event.uid)));
        push_line(&mut out, &format!("DTSTAMP:{stamp}"));
        push_line(&mut out, &format!("DTSTART:{}", format_utc(event.start)));
        push_line(&mut out, &format!("DTEND:{}", format_utc(event.end)));
        push_line(
            &mut out,
            &format!("SUMMARY:{}", escape_text(&event.summary)),
        );
        if let Some(description) = &event.description {
            push_line(
                &mut out,
                &format!("DESCRIPTION:{}", escape_text(description)),
            );
        }
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

/// The UTC form of a DATE-TIME value, e.g. `20260302T090000Z`; fractions of a second have no place in it.
fn format_utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11). Any line break becomes `\n`; other control characters but tab are
/// dropped, since TEXT cannot carry them and strict readers reject the whole feed over one.
fn escape_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ';' => escaped.push_str("\\;"),
            ',' => escaped.push_str("\\,"),
            '\n' => escaped.push_str("\\n"),
            '\r' => {
                chars.next_if_eq(&'\n');
                escaped.push_str("\\n");
            }
            '\t' => escaped.push('\t'),
            c if c.is_control() => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// Appends one content line, folded: a CRLF and a space before each run of octets past the limit, the space counting
/// towards the continuation line's 75.
fn push_line(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE_OCTETS;
    while rest.len() > limit {
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        limit = MAX_LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn event(summary: &str, description: Option<&str>) -> CalendarEvent {
        CalendarEvent {
            uid: "sch_01jdq9a3k2m7x8v4n5p6r7s8t9-1772442000@tocsin".to_owned(),
            start: at(2, 9),
            end: at(3, 9),
            summary: summary.to_owned(),
            description: description.map(str::to_owned),
        }
    }

    fn unfold(document: &str) -> String {
        document.replace("\r\n ", "")
    }

    fn content_line<'a>(unfolded: &'a str, name: &str) -> &'a str {
        let prefix = format!("{name}:");
        unfolded
            .split("\r\n")
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {name} line in {unfolded:?}"))
    }

    /// Reverses the escaping, written independently of it so that each checks the other.
    fn unescape(value: &str) -> String {
        let mut text = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n' | 'N') => text.push('\n'),
                    Some(other) => text.push(other),
                    None => panic!("dangling backslash in {value:?}"),
                }
            } else {
                text.push(c);
            }
        }
        text
    }

    #[test]
    fn renders_a_small_calendar_exactly() {
        let events = [
            event("On call: Ada Lovelace", Some("Primary, Payments")),
            CalendarEvent {
                uid: "shift-2@tocsin".to_owned(),
                start: at(3, 9),
                end: at(4, 9),
                summary: "On call: Grace Hopper".to_owned(),
                description: None,
            },
        ];
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 34, 56).unwrap()
            + chrono::Duration::milliseconds(789);
        let expected = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Tocsin//On-call//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Payments\\; primary",
            "BEGIN:VEVENT",
            "UID:sch_01jdq9a3k2m7x8v4n5p6r7s8t9-1772442000@tocsin",
            "DTSTAMP:20260301T123456Z",
            "DTSTART:20260302T090000Z",
            "DTEND:20260303T090000Z",
            "SUMMARY:On call: Ada Lovelace",
            "DESCRIPTION:Primary\\, Payments",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:shift-2@tocsin",
            "DTSTAMP:20260301T123456Z",
            "DTSTART:20260303T090000Z",
            "DTEND:20260304T090000Z",
            "SUMMARY:On call: Grace Hopper",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
        .join("\r\n");
        assert_eq!(calendar("Payments; primary", &events, now), expected);
    }

    #[test]
    fn a_calendar_without_events_is_still_complete() {
        let expected = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Tocsin//On-call//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Nobody",
            "END:VCALENDAR",
            "",
        ]
        .join("\r\n");
        assert_eq!(calendar("Nobody", &[], at(1, 0)), expected);
    }

    #[test]
    fn escapes_text_values() {
        assert_eq!(escape_text(r"C:\oncall"), r"C:\\oncall");
        assert_eq!(escape_text("a;b,c"), r"a\;b\,c");
        assert_eq!(escape_text("line one\nline two"), r"line one\nline two");
        assert_eq!(escape_text("windows\r\nmac\rend"), r"windows\nmac\nend");
        assert_eq!(
            escape_text("colon: and \"quotes\" stay"),
            "colon: and \"quotes\" stay"
        );
        assert_eq!(
            escape_text("tab\tstays, bell\u{7}and nul\0go"),
            "tab\tstays\\, belland nulgo"
        );
        assert_eq!(escape_text("Zoë 🚨"), "Zoë 🚨");
    }

    #[test]
    fn escapes_every_text_property() {
        let awkward = CalendarEvent {
            uid: "a,b;c".to_owned(),
            description: Some("x\ny".to_owned()),
            ..event("s\\t", None)
        };
        let document = calendar("n,m", &[awkward], at(1, 0));
        assert_eq!(content_line(&document, "X-WR-CALNAME"), r"n\,m");
        assert_eq!(content_line(&document, "UID"), r"a\,b\;c");
        assert_eq!(content_line(&document, "SUMMARY"), r"s\\t");
        assert_eq!(content_line(&document, "DESCRIPTION"), r"x\ny");
    }

    #[test]
    fn folds_long_lines_at_seventy_five_octets() {
        let summary = "a".repeat(200);
        let document = calendar("Feed", &[event(&summary, None)], at(1, 0));
        let folded: Vec<&str> = document
            .split("\r\n")
            .skip_while(|line| !line.starts_with("SUMMARY:"))
            .take_while(|line| *line != "END:VEVENT")
            .collect();
        // 8 octets of "SUMMARY:" leave 67 for the value, then each continuation carries 74 after its space.
        let first = format!("SUMMARY:{}", "a".repeat(67));
        let second = format!(" {}", "a".repeat(74));
        let third = format!(" {}", "a".repeat(200 - 67 - 74));
        assert_eq!(folded, [first.as_str(), second.as_str(), third.as_str()]);
    }

    #[test]
    fn a_line_of_exactly_seventy_five_octets_is_not_folded() {
        let summary = "a".repeat(MAX_LINE_OCTETS - "SUMMARY:".len());
        let document = calendar("Feed", &[event(&summary, None)], at(1, 0));
        assert!(document.contains(&format!("\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n")));
    }

    #[test]
    fn folding_never_splits_a_character() {
        // "SUMMARY:" and 66 letters make 74 octets, so the 2-octet "é" would straddle the limit.
        let summary = format!("{}é{}", "a".repeat(66), "b".repeat(10));
        let document = calendar("Feed", &[event(&summary, None)], at(1, 0));
        assert!(
            document.contains(&format!(
                "SUMMARY:{}\r\n é{}\r\n",
                "a".repeat(66),
                "b".repeat(10)
            )),
            "{document}"
        );
    }

    #[test]
    fn every_line_ends_in_crlf() {
        let document = calendar("Feed", &[event("a\nb", Some("c\r\nd"))], at(1, 0));
        assert!(document.ends_with("END:VCALENDAR\r\n"));
        assert_eq!(
            document.matches('\n').count(),
            document.matches("\r\n").count()
        );
        assert_eq!(
            document.matches('\r').count(),
            document.matches("\r\n").count()
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn no_line_exceeds_seventy_five_octets(
                name in "(?s).{0,300}",
                summary in "(?s).{0,300}",
                description in proptest::option::of("(?s).{0,300}"),
            ) {
                let document = calendar(&name, &[event(&summary, description.as_deref())], at(1, 0));
                prop_assert!(document.ends_with("\r\n"));
                for line in document.trim_end_matches("\r\n").split("\r\n") {
                    prop_assert!(line.len() <= MAX_LINE_OCTETS, "{} octets: {line:?}", line.len());
                    prop_assert!(!line.contains(['\r', '\n']), "{line:?}");
                    prop_assert!(!line.is_empty());
                }
            }

            #[test]
            fn multi_byte_summaries_fold_within_the_limit(summary in "[é€🚨漢a ,;\\\\]{0,200}") {
                let document = calendar("Feed", &[event(&summary, None)], at(1, 0));
                for line in document.split("\r\n") {
                    prop_assert!(line.len() <= MAX_LINE_OCTETS, "{} octets: {line:?}", line.len());
                }
            }

            #[test]
            fn unfolding_gives_back_the_escaped_text(
                summary in "(\\PC|\n){0,300}",
                description in "(\\PC|\n){0,300}",
            ) {
                let document = calendar("Feed", &[event(&summary, Some(&description))], at(1, 0));
                let unfolded = unfold(&document);
                let summary_value = content_line(&unfolded, "SUMMARY");
                let description_value = content_line(&unfolded, "DESCRIPTION");
                prop_assert_eq!(summary_value, escape_text(&summary));
                prop_assert_eq!(description_value, escape_text(&description));
                prop_assert_eq!(unescape(summary_value), summary);
                prop_assert_eq!(unescape(description_value), description);
            }
        }
    }
}
