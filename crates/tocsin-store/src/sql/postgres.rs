//! The PostgreSQL driver of the portable SQL layer: `tokio-postgres` driven by a runtime of the connection's own
//! (the calling thread blocks on it, as the synchronous `postgres` client does), `?N` placeholders rewritten to `$N`
//! once per statement, values converted to whatever type PostgreSQL inferred for each parameter.
//!
//! Writes whose answer nobody reads ([`Conn::execute_later`]) are held and sent in one go with the next statement,
//! so a job that records several rows waits for the database once rather than once per row.

use super::{Conn, Dialect, Row, RowSource, ToSql, Value, ValueRef};
use crate::{Result, StoreError};
use bytes::BytesMut;
use futures_util::future::{join, join_all};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use tokio_postgres::types::{FromSql, IsNull, ToSql as PgToSql, Type, to_sql_checked};

/// Prepared statements kept per connection, by their portable SQL text. Statements built from run-time filters
/// vary, so the cache is bounded and simply emptied when full.
const STATEMENT_CACHE: usize = 512;

/// One PostgreSQL connection with its statement cache and the writes it holds back.
pub struct PgConn {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    statements: RefCell<HashMap<String, tokio_postgres::Statement>>,
    held: RefCell<Vec<Held>>,
}

/// A write held back until the next statement goes out.
struct Held {
    statement: tokio_postgres::Statement,
    values: Vec<Value>,
}

impl PgConn {
    /// Opens a connection. Must not be called on an async worker thread (it blocks), nor dropped on one.
    pub fn connect(config: &tokio_postgres::Config) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start a database runtime: {e}")))?;
        let (client, connection) = runtime
            .block_on(config.connect(tokio_postgres::NoTls))
            .map_err(error)?;
        // The connection's socket is served whenever this connection blocks on the runtime, i.e. during a statement.
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "A PostgreSQL connection ended.");
            }
        });
        // Tocsin reads rows by key from a working set that lives in memory, where an index probe costs about what a
        // sequential read does; PostgreSQL's default of four times as much would have it scan whole tables to load
        // a batch of a hundred incidents by ID. Said per session, so that the server's own settings stay the
        // operator's.
        runtime
            .block_on(client.batch_execute("SET random_page_cost = 1.1"))
            .map_err(error)?;
        Ok(Self {
            runtime,
            client,
            statements: RefCell::new(HashMap::new()),
            held: RefCell::new(Vec::new()),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs SQL with no parameters and no results (transaction control, migrations), after the held writes.
    pub fn batch(&self, sql: &str) -> Result<()> {
        self.flush()?;
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(error)
    }

    /// Sends the held writes and waits for them: the first failure among them, if any.
    pub fn flush(&self) -> Result<()> {
        self.after_held(std::future::ready(Ok(())))
    }

    /// Forgets the held writes, unsent: the transaction they belonged to is being rolled back.
    pub fn discard(&self) {
        self.held.borrow_mut().clear();
    }

    /// Rolls the transaction back, with whatever it still held unsent.
    pub fn rollback(&self) -> Result<()> {
        self.discard();
        self.batch("ROLLBACK")
    }

    /// Sends every held write at once, in order, and waits for all of them.
    async fn send_held(&self, held: &[Held]) -> Result<()> {
        let bound: Vec<Vec<Param<'_>>> = held
            .iter()
            .map(|h| h.values.iter().map(|v| Param(v.as_ref())).collect())
            .collect();
        let sent = held.iter().zip(&bound).map(|(h, values)| async move {
            self.client.execute(&h.statement, &refs(values)).await
        });
        // The first failure is the cause: after it the rest report the aborted transaction, or (a value the
        // driver could not encode, which is never sent) ran anyway in a transaction whose caller now rolls it back.
        match join_all(sent).await.into_iter().find_map(|r| r.err()) {
            Some(e) => Err(error(e)),
            None => Ok(()),
        }
    }

    /// Runs `this` after the held writes, sent together with them.
    fn after_held<T>(
        &self,
        this: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        let held = self.held.take();
        if held.is_empty() {
            return self.runtime.block_on(this).map_err(error);
        }
        // `join` polls the held writes first, so they go out first; each is sent when first polled.
        let (earlier, this) = self.runtime.block_on(join(self.send_held(&held), this));
        earlier?;
        this.map_err(error)
    }

    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.after_held(self.client.prepare(&numbered_placeholders(sql)))?;
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
pub fn is_contention(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

pub fn error(e: tokio_postgres::Error) -> StoreError {
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
        let n = self.after_held(self.client.execute(&stmt, &refs(&values)))?;
        Ok(n as usize)
    }

    fn execute_later(&self, sql: &str, params: &[&dyn ToSql]) -> Result<()> {
        let statement = self.statement(sql)?;
        let values = params.iter().map(|p| Value::from(p.to_sql())).collect();
        self.held.borrow_mut().push(Held { statement, values });
        Ok(())
    }

    fn query_with(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let stmt = self.statement(sql)?;
        let values = bind(params);
        let rows = self.after_held(self.client.query(&stmt, &refs(&values)))?;
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
