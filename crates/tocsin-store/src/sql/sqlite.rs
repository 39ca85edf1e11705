//! The SQLite driver of the portable SQL layer: rusqlite, with every statement from the connection's cache.

use super::{Conn, Dialect, Row, RowSource, ToSql, ValueRef};
use crate::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef as Lite};

/// A rusqlite connection seen through [`Conn`].
pub struct SqliteConn<'a>(pub &'a rusqlite::Connection);

struct Param<'a>(&'a dyn ToSql);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0.to_sql() {
            ValueRef::Null => Lite::Null,
            ValueRef::Int(i) => Lite::Integer(i),
            ValueRef::Real(r) => Lite::Real(r),
            ValueRef::Text(s) => Lite::Text(s.as_bytes()),
            ValueRef::Blob(b) => Lite::Blob(b),
        }))
    }
}

struct LiteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl RowSource for LiteRow<'_, '_> {
    fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
        Ok(match self.0.get_ref(idx).map_err(error)? {
            Lite::Null => ValueRef::Null,
            Lite::Integer(i) => ValueRef::Int(i),
            Lite::Real(r) => ValueRef::Real(r),
            Lite::Text(t) => ValueRef::Text(
                std::str::from_utf8(t)
                    .map_err(|e| StoreError::Backend(format!("column {idx}: {e}")))?,
            ),
            Lite::Blob(b) => ValueRef::Blob(b),
        })
    }
}

pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn bind<'a>(params: &'a [&'a dyn ToSql]) -> impl Iterator<Item = Param<'a>> {
    params.iter().map(|p| Param(*p))
}

impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
        let mut stmt = self.0.prepare_cached(sql).map_err(error)?;
        stmt.execute(rusqlite::params_from_iter(bind(params)))
            .map_err(error)
    }

    fn query_with(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let mut stmt = self.0.prepare_cached(sql).map_err(error)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(bind(params)))
            .map_err(error)?;
        while let Some(row) = rows.next().map_err(error)? {
            if !each(&Row::new(&LiteRow(row)))? {
                break;
            }
        }
        Ok(())
    }
}
