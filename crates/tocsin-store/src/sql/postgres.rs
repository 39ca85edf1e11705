//! The PostgreSQL driver of the portable SQL layer: the synchronous `postgres` client, `?N` placeholders rewritten
//! to `$N` once per statement, values converted to whatever type PostgreSQL inferred for each parameter.

use super::{Conn, Dialect, Row, RowSource, ToSql, ValueRef};
use crate::{Result, StoreError};
use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql as PgToSql, Type, to_sql_checked};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;

/// Prepared statements kept per connection, by their portable SQL text. Statements built from run-time filters
/// vary, so the cache is bounded and simply emptied when full.
const STATEMENT_CACHE: usize = 512;

/// One PostgreSQL connection with its statement cache.
pub struct PgConn {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

impl PgConn {
    pub fn new(client: postgres::Client) -> Self {
        Self {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }

    /// Runs SQL with no parameters and no results (transaction control, migrations).
    pub fn batch(&self, sql: &str) -> Result<()> {
        self.client.borrow_mut().batch_execute(sql).map_err(error)
    }

    fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self
            .client
            .borrow_mut()
            .prepare(&numbered_placeholders(sql))
            .map_err(error)?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

/// Rewrites SQLite's `?N` placeholders to PostgreSQL's `$N`, leaving quoted text alone.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                out.push(ch);
            }
            None if ch == '\'' || ch == '"' => {
                quote = Some(ch);
                out.push(ch);
            }
            None if ch == '?' && chars.peek().is_some_and(|c| c.is_ascii_digit()) => out.push('$'),
            None => out.push(ch),
        }
    }
    out
}

/// Whether the error says the transaction lost a race with another one and may succeed if run again:
/// a serialization failure, a deadlock, or a unique index another transaction filled first.
pub fn is_contention(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

pub fn error(e: postgres::Error) -> StoreError {
    // The client's own Display says only "db error"; the server's code and message are what an operator needs.
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    if is_contention(&e) {
        StoreError::Contention(detail)
    } else {
        StoreError::Backend(detail)
    }
}

#[derive(Debug)]
struct Param<'a>(ValueRef<'a>);

fn wrong_type(ty: &Type, what: &str) -> Box<dyn Error + Sync + Send> {
    format!("cannot store {what} in a {ty} parameter").into()
}

impl PgToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Int(i) => match *ty {
                Type::INT8 => PgToSql::to_sql(&i, ty, out),
                Type::INT4 => PgToSql::to_sql(&i32::try_from(i)?, ty, out),
                Type::INT2 => PgToSql::to_sql(&i16::try_from(i)?, ty, out),
                Type::BOOL => PgToSql::to_sql(&(i != 0), ty, out),
                Type::FLOAT8 => PgToSql::to_sql(&(i as f64), ty, out),
                Type::TEXT | Type::VARCHAR => PgToSql::to_sql(&i.to_string(), ty, out),
                _ => Err(wrong_type(ty, "an integer")),
            },
            ValueRef::Real(r) => match *ty {
                Type::FLOAT8 => PgToSql::to_sql(&r, ty, out),
                Type::FLOAT4 => PgToSql::to_sql(&(r as f32), ty, out),
                _ => Err(wrong_type(ty, "a real")),
            },
            ValueRef::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    PgToSql::to_sql(&s, ty, out)
                }
                _ => Err(wrong_type(ty, "text")),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => PgToSql::to_sql(&b, ty, out),
                _ => Err(wrong_type(ty, "a blob")),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column value as read, before the repository asks for a type.
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Cell::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Cell::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Cell::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Cell::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Cell::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Cell::Blob(Vec::<u8>::from_sql(ty, raw)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Cell::Text(String::from_sql(ty, raw)?)
            }
            _ => return Err(format!("unexpected column type {ty}").into()),
        })
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Cell::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

struct PgRow(Vec<Cell>);

impl RowSource for PgRow {
    fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
        Ok(
            match self
                .0
                .get(idx)
                .ok_or_else(|| StoreError::Backend(format!("no column {idx}")))?
            {
                Cell::Null => ValueRef::Null,
                Cell::Int(i) => ValueRef::Int(*i),
                Cell::Real(r) => ValueRef::Real(*r),
                Cell::Text(s) => ValueRef::Text(s),
                Cell::Blob(b) => ValueRef::Blob(b),
            },
        )
    }
}

fn bind<'a>(params: &'a [&'a dyn ToSql]) -> Vec<Param<'a>> {
    params.iter().map(|p| Param(p.to_sql())).collect()
}

fn refs<'a>(values: &'a [Param<'a>]) -> Vec<&'a (dyn PgToSql + Sync)> {
    values.iter().map(|v| v as &(dyn PgToSql + Sync)).collect()
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let values = bind(params);
        let n = self
            .client
            .borrow_mut()
            .execute(&stmt, &refs(&values))
            .map_err(error)?;
        Ok(n as usize)
    }

    fn query_with(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let stmt = self.statement(sql)?;
        let values = bind(params);
        let rows = self
            .client
            .borrow_mut()
            .query(&stmt, &refs(&values))
            .map_err(error)?;
        for row in rows {
            let cells = (0..row.len())
                .map(|i| row.try_get::<_, Cell>(i).map_err(error))
                .collect::<Result<Vec<_>>>()?;
            if !each(&Row::new(&PgRow(cells)))? {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT '?1', \"a?2\" FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', \"a?2\" FROM t WHERE a = $1 AND b = $12"
        );
        assert_eq!(
            numbered_placeholders("SELECT 'it''s ?3' WHERE x = ?3"),
            "SELECT 'it''s ?3' WHERE x = $3"
        );
    }
}
