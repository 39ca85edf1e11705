//! Forms: what a person typed goes through the same parsing as a JSON body, and what is wrong with it comes back
//! beside the field it concerns, with everything typed kept.

use super::PageError;
use crate::http::error::{ApiError, ErrorCode};
use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;

/// What is wrong with a form: per field, and with the form as a whole.
#[derive(Debug, Default)]
pub struct Problems {
    fields: Vec<(String, String)>,
    general: Option<String>,
}

impl Problems {
    /// What is wrong with `field`, or with anything inside it (`config` shows `config.heartbeat.interval_seconds`).
    pub fn of(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| {
                f == field
                    || f.strip_prefix(field)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .map(|(_, m)| m.as_str())
    }

    /// What is wrong that no field of the form shows: the form's own message, and the messages of fields it has
    /// no input for.
    pub fn general(&self, shown: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = self.general.iter().cloned().collect();
        out.extend(
            self.fields
                .iter()
                .filter(|(f, _)| {
                    !shown.iter().any(|s| {
                        f == s
                            || f.strip_prefix(s)
                                .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
                    })
                })
                .map(|(f, m)| format!("{f}: {m}")),
        );
        out
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// One more problem with a field.
    pub fn add(&mut self, field: &str, message: &str) {
        self.fields.push((field.to_owned(), message.to_owned()));
    }

    pub fn general_message(message: impl Into<String>) -> Self {
        Self {
            fields: Vec::new(),
            general: Some(message.into()),
        }
    }
}

/// Sorts a refusal into what the person can fix in the form (shown beside it) and what they cannot (an error page:
/// not allowed, not found, the database down).
pub fn problems(e: impl Into<ApiError>) -> Result<Problems, PageError> {
    let e = e.into().0;
    match e.code {
        ErrorCode::InvalidRequest | ErrorCode::MalformedJson => {
            let mut fields: Vec<(String, String)> = e
                .details
                .iter()
                .map(|d| (d.field.clone(), d.message.clone()))
                .collect();
            if fields.is_empty()
                && let Some(field) = &e.field
            {
                let message = e
                    .message
                    .strip_prefix(&format!("{field}: "))
                    .unwrap_or(&e.message);
                fields.push((field.clone(), message.to_owned()));
            }
            let general = fields.is_empty().then_some(e.message);
            Ok(Problems { fields, general })
        }
        ErrorCode::NameTaken => Ok(Problems {
            fields: vec![(e.field.unwrap_or_else(|| "name".into()), e.message)],
            general: None,
        }),
        ErrorCode::InUse
        | ErrorCode::InvalidTransition
        | ErrorCode::StillEscalating
        | ErrorCode::NoEscalationPolicy
        | ErrorCode::ChangedSince
        | ErrorCode::AlreadyRunning => Ok(Problems::general_message(e.message)),
        _ => Err(PageError::from_api(e)),
    }
}

/// Runs a use case on what a form said, if it could be read: its answer, or the problems to show beside the form
/// (what was typed wrong, or what the use case refused for it). Refusals no edit of the form fixes are error pages.
pub async fn submit<T, R, Fut>(
    parsed: Result<T, Problems>,
    run: impl FnOnce(T) -> Fut,
) -> Result<Result<R, Problems>, PageError>
where
    Fut: std::future::Future<Output = Result<R, tocsin_app::Error>>,
{
    match parsed {
        Err(p) => Ok(Err(p)),
        Ok(value) => match run(value).await {
            Ok(r) => Ok(Ok(r)),
            Err(e) => problems(e).map(Err),
        },
    }
}

/// Reads a form, built as JSON from its fields, as the JSON API would read the same body.
pub fn parse<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    crate::http::extract::parse_json(&serde_json::to_vec(&value).map_err(ApiError::internal)?)
}

/// A blank field is an absent one.
pub fn given(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// A list typed one item per line or separated by commas.
pub fn list(value: &str) -> Vec<String> {
    value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A form's fields as the browser sent them, some repeated (a multiple choice) and some numbered (`layer2_name`);
/// text comes back with line breaks as people write them (browsers send a textarea's as CRLF).
pub struct Fields(Vec<(String, String)>);

/// The most layers or levels a form may number.
pub const MAX_GROUPS: usize = 50;

impl Fields {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    pub fn one(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.replace("\r\n", "\n"))
            .unwrap_or_default()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The numbers of the groups named `prefix0_…`, `prefix1_…` the form holds, in order; at most
    /// [`MAX_GROUPS`] of them, numbered below it, since the numbers come from whoever sent the form.
    pub fn groups(&self, prefix: &str) -> Vec<usize> {
        let mut found: Vec<usize> = self
            .0
            .iter()
            .filter_map(|(k, _)| {
                k.strip_prefix(prefix)?
                    .split('_')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .filter(|i| *i < MAX_GROUPS)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// One problem with one field.
pub fn problem(field: &str, message: &str) -> Problems {
    Problems {
        fields: vec![(field.to_owned(), message.to_owned())],
        general: None,
    }
}

/// An instant as a `datetime-local` field shows it, in the person's own zone: the inverse of `local_time`.
pub fn local_input(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// A time typed into a `datetime-local` field, read in the person's own zone. A time that a clock change skips
/// is refused; one it repeats is the earlier.
pub fn local_time(text: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .map_err(|_| "must be a date and time like 2026-12-01T14:30".to_owned())?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "{text} does not exist in {} (the clocks skip it)",
            tz.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_domain::{FieldError, ValidationErrors};

    #[test]
    fn field_problems_show_beside_their_field_and_the_rest_above_the_form() {
        let p = problems(ApiError::from(ValidationErrors(vec![
            FieldError::new("name", "must not be empty"),
            FieldError::new("config.heartbeat.interval_seconds", "must be 10 to 2678400"),
            FieldError::new("grouping", "unknown"),
        ])))
        .unwrap();
        assert_eq!(p.of("name"), Some("must not be empty"));
        assert_eq!(p.of("config"), Some("must be 10 to 2678400"));
        assert_eq!(p.of("conf"), None);
        assert_eq!(p.general(&["name", "config"]), vec!["grouping: unknown"]);
    }

    #[test]
    fn a_single_field_error_is_shown_without_repeating_its_name() {
        let p = problems(ApiError::field("tier", "must be 1 to 4")).unwrap();
        assert_eq!(p.of("tier"), Some("must be 1 to 4"));
        assert!(p.general(&["tier"]).is_empty());
    }

    #[test]
    fn refusals_that_no_edit_fixes_are_error_pages() {
        assert!(problems(ApiError::new(ErrorCode::Forbidden, "no")).is_err());
        assert!(problems(ApiError::new(ErrorCode::NotFound, "no service")).is_err());
        let p = problems(ApiError::new(
            ErrorCode::NameTaken,
            "a service named api exists",
        ))
        .unwrap();
        assert_eq!(p.of("name"), Some("a service named api exists"));
    }

    #[test]
    fn typed_times_are_read_in_the_persons_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            local_time("2026-12-01T14:30", berlin).unwrap().to_rfc3339(),
            "2026-12-01T13:30:00+00:00"
        );
        // Clocks go from 02:00 to 03:00 on 2026-03-29 in Berlin, and from 03:00 back to 02:00 on 2026-10-25.
        assert!(local_time("2026-03-29T02:30", berlin).is_err());
        assert_eq!(
            local_time("2026-10-25T02:30", berlin).unwrap().to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
        assert!(local_time("tomorrow", berlin).is_err());
    }

    #[test]
    fn lists_take_commas_or_lines() {
        assert_eq!(list("a, b\nc,,\n"), vec!["a", "b", "c"]);
        assert_eq!(given("  "), None);
    }
}
