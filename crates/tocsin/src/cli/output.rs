//! Printing answers: aligned tables and `key: value` records for people, the server's own JSON for scripts.

use clap::Args;
use serde_json::Value;
use std::fmt::Display;

/// How to print answers.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct Output {
    /// Print the server's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or runs `text` to describe it to a person. Scripts get the API's documented shape
    /// unchanged, so the text can be reworded freely. An empty answer (a deletion) prints nothing as JSON rather
    /// than a bare `null`.
    pub fn either(&self, value: &Value, text: impl FnOnce()) {
        if self.json {
            if !value.is_null() {
                println!("{}", pretty(value));
            }
        } else {
            text();
        }
    }

    /// A list answer (`{"items": [...]}`) as a table.
    pub fn table(&self, list: &Value, cols: &[Col]) {
        self.either(list, || print_table(items(list), cols));
    }

    /// One object as `key: value` lines.
    pub fn record(&self, value: &Value) {
        self.either(value, || print_record(value));
    }

    /// A change that a person only needs confirmed in one line.
    pub fn done(&self, value: &Value, line: impl Display) {
        self.either(value, || println!("{line}"));
    }
}

pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

pub fn items(list: &Value) -> &[Value] {
    array(&list["items"])
}

pub fn array(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// One table column: its heading and how to render a row's cell.
pub struct Col(pub &'static str, pub Cell);

pub enum Cell {
    /// A field, rendered with [`text`].
    Text(&'static str),
    /// A timestamp field, shortened.
    Time(&'static str),
    /// The incident number, as `#42`.
    Number,
    /// Anything else.
    With(fn(&Value) -> String),
}

impl Cell {
    fn render(&self, row: &Value) -> String {
        match self {
            Cell::Text(key) => text(&row[*key]),
            Cell::Time(key) => time(&row[*key]),
            Cell::Number => number(row),
            Cell::With(f) => f(row),
        }
    }
}

pub fn print_table(rows: &[Value], cols: &[Col]) {
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    let header: Vec<String> = cols.iter().map(|c| c.0.to_owned()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| c.1.render(r)).collect())
        .collect();
    let mut widths = vec![0; cols.len()];
    for line in std::iter::once(&header).chain(&body) {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for line in std::iter::once(&header).chain(&body) {
        println!("{}", pad(line, &widths));
    }
}

fn pad(cells: &[String], widths: &[usize]) -> String {
    let last = cells.len().saturating_sub(1);
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .enumerate()
        .map(|(i, (c, w))| {
            if i == last {
                c.clone()
            } else {
                format!("{c:<w$}")
            }
        })
        .collect();
    padded.join("  ").trim_end().to_owned()
}

/// Fields that say what a record is come first; the rest keep their (alphabetical) order.
const LEADING: &[&str] = &[
    "number", "title", "name", "email", "id", "status", "severity",
];

pub fn print_record(value: &Value) {
    let Some(fields) = value.as_object() else {
        println!("{}", text(value));
        return;
    };
    let mut shown: Vec<(&String, &Value)> = fields.iter().filter(|(_, v)| !v.is_null()).collect();
    shown.sort_by_key(|(k, _)| LEADING.iter().position(|l| l == k).unwrap_or(LEADING.len()));
    let width = shown.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, v) in shown {
        let rendered = match key.as_str() {
            "number" => number(value),
            k if k.ends_with("_at") => time(v),
            _ => text(v),
        };
        println!("{:<width$} {rendered}", format!("{key}:"));
    }
}

/// A JSON value as one line of text: lists joined, objects by their name, nothing as `-`.
/// What a map of names says for the ID in `v`, or the ID itself when it names nothing (a deleted entry).
pub fn name_or_id(names: &std::collections::HashMap<String, String>, v: &Value) -> String {
    let id = text(v);
    names.get(&id).cloned().unwrap_or(id)
}

/// Text a sender wrote, made safe for a terminal: control characters (ESC, BEL, NUL…) and the bidirectional
/// overrides that reorder what is shown are printed as escapes such as `\u{1b}`, so a summary cannot recolour the
/// screen, ring the bell, retitle the window or hide text. Line breaks become spaces in one-line contexts.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\r' | '\n' => out.push(' '),
            c if unsafe_char(c) => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => terminal_safe(s).into_owned(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Object(o) => match o.get("name") {
            Some(name) => text(name),
            // JSON text escapes every control character itself.
            None => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// A timestamp to the second, in UTC; the server's sub-second precision only widens tables.
pub fn time(v: &Value) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|| text(v))
}

/// An incident's number as people say it.
pub fn number(incident: &Value) -> String {
    format!("#{}", text(&incident["number"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sender_text_cannot_drive_the_terminal() {
        let hostile = "disk \u{1b}[31mfull\u{7}\u{0} \u{202e}gnp.exe\r\nnext";
        assert_eq!(
            text(&json!(hostile)),
            "disk \\u{1b}[31mfull\\u{7}\\u{0} \\u{202e}gnp.exe  next"
        );
        assert!(matches!(
            terminal_safe("plain, ünïcode"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn text_renders_each_kind_of_value_on_one_line() {
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!("a\nb")), "a b");
        assert_eq!(text(&json!(["x", "y"])), "x, y");
        assert_eq!(text(&json!({"kind": "user", "name": "Alice"})), "Alice");
        assert_eq!(text(&json!(3)), "3");
    }

    #[test]
    fn times_are_shortened_to_the_second() {
        assert_eq!(
            time(&json!("2026-11-23T10:00:00.123456Z")),
            "2026-11-23 10:00:00Z"
        );
        assert_eq!(time(&json!(null)), "-");
    }

    #[test]
    fn columns_are_padded_except_the_last() {
        let cells = vec!["a".to_owned(), "bb".to_owned(), "c".to_owned()];
        assert_eq!(pad(&cells, &[3, 3, 5]), "a    bb   c");
    }
}
