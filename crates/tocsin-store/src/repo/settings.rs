//! Lists kept in one `settings` row as JSON (the roles, the checklist templates), read leniently: an entry this
//! version cannot read, because a newer one wrote it, is passed over and kept as it is, so that writing the list
//! back loses nothing; a value that is not a list reads as an empty one rather than failing every caller.

use super::rows::to_json;
use crate::Result;
use crate::params;
use crate::sql::Conn;
use serde_json::Value;

/// The entries read, and those that could not be, as stored.
pub(super) struct StoredList<T> {
    pub items: Vec<T>,
    pub unreadable: Vec<Value>,
}

pub(super) fn read_list<T>(
    c: &dyn Conn,
    name: &str,
    read: impl Fn(Value) -> std::result::Result<T, String>,
) -> Result<StoredList<T>> {
    let value: Option<Value> = c.query_opt(
        "SELECT value FROM settings WHERE name = ?1",
        params![name],
        |r| r.json(0),
    )?;
    let entries = match value {
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            tracing::warn!(setting = name, stored = %other, "A stored list is not a list; it reads as empty.");
            Vec::new()
        }
        None => Vec::new(),
    };
    let mut list = StoredList {
        items: Vec::new(),
        unreadable: Vec::new(),
    };
    for raw in entries {
        match read(raw.clone()) {
            Ok(item) => list.items.push(item),
            Err(e) => {
                tracing::warn!(setting = name, stored = %raw, error = %e, "A stored entry could not be read; it is left out.");
                list.unreadable.push(raw);
            }
        }
    }
    Ok(list)
}

/// Writes the list, `items` first and then the entries that could not be read, as they were.
pub(super) fn write_list(
    c: &dyn Conn,
    name: &str,
    items: Vec<Value>,
    unreadable: Vec<Value>,
) -> Result<()> {
    let mut stored = items;
    stored.extend(unreadable);
    c.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, to_json(&stored)],
    )?;
    Ok(())
}
