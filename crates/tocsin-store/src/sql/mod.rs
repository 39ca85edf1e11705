//! The portable SQL layer every backend speaks.
//!
//! Repositories are written once, as synchronous functions over a [`Conn`] (a connection inside the transaction
//! the backend opened for them), in SQL that SQLite and PostgreSQL both accept: `?N` placeholders (the PostgreSQL
//! driver rewrites them to `$N`), `INSERT … ON CONFLICT`, `RETURNING`, integers for times (microseconds since the
//! epoch) and booleans (0/1), JSON kept as text and only ever read by Rust. Where the two really differ (row locks
//! for claims), a repository asks [`Conn::dialect`]. A backend is then a driver: it opens transactions, maps
//! [`ValueRef`]s to its wire types and classifies its errors; no rule of Tocsin's is written in it.

pub mod postgres;
pub mod sqlite;

use crate::{Result, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The SQL dialects Tocsin runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value crossing the driver boundary, borrowed where it can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value that can be bound to a statement parameter.
pub trait ToSql {
    fn to_sql(&self) -> ValueRef<'_>;
}

/// A value that can be read from a result column.
pub trait FromSql: Sized {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String>;
}

/// An owned value, for statements whose parameters are assembled at run time (filters).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl ToSql for i64 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Int(*self)
    }
}

impl ToSql for i32 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl ToSql for u32 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl ToSql for u8 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToSql for str {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for String {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> ValueRef<'_> {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_sql(),
            None => ValueRef::Null,
        }
    }
}

fn mismatch(expected: &str, got: ValueRef<'_>) -> String {
    let got = match got {
        ValueRef::Null => "NULL",
        ValueRef::Int(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    format!("expected {expected}, found {got}")
}

impl FromSql for i64 {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Int(i) => Ok(i),
            v => Err(mismatch("an integer", v)),
        }
    }
}

impl FromSql for u32 {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        let i = i64::from_sql(v)?;
        u32::try_from(i).map_err(|_| format!("{i} is out of range"))
    }
}

impl FromSql for i32 {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        let i = i64::from_sql(v)?;
        i32::try_from(i).map_err(|_| format!("{i} is out of range"))
    }
}

impl FromSql for u8 {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        let i = i64::from_sql(v)?;
        u8::try_from(i).map_err(|_| format!("{i} is out of range"))
    }
}

impl FromSql for bool {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        Ok(i64::from_sql(v)? != 0)
    }
}

impl FromSql for f64 {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Real(r) => Ok(r),
            ValueRef::Int(i) => Ok(i as f64),
            v => Err(mismatch("a number", v)),
        }
    }
}

impl FromSql for String {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            v => Err(mismatch("text", v)),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            v => Err(mismatch("a blob", v)),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

/// One result row, as a driver hands it out.
pub trait RowSource {
    fn value(&self, idx: usize) -> Result<ValueRef<'_>>;
}

/// One result row, with typed accessors.
pub struct Row<'a> {
    source: &'a dyn RowSource,
}

impl<'a> Row<'a> {
    pub fn new(source: &'a dyn RowSource) -> Self {
        Self { source }
    }

    pub fn get<T: FromSql>(&self, idx: usize) -> Result<T> {
        T::from_sql(self.source.value(idx)?).map_err(|e| column_error(idx, e))
    }

    /// A column holding JSON text.
    pub fn json<T: DeserializeOwned>(&self, idx: usize) -> Result<T> {
        match self.source.value(idx)? {
            ValueRef::Text(s) => serde_json::from_str(s).map_err(|e| column_error(idx, e)),
            v => Err(column_error(idx, mismatch("JSON text", v))),
        }
    }

    /// A nullable column holding JSON text.
    pub fn opt_json<T: DeserializeOwned>(&self, idx: usize) -> Result<Option<T>> {
        match self.source.value(idx)? {
            ValueRef::Null => Ok(None),
            _ => self.json(idx).map(Some),
        }
    }

    /// A column holding a value of a type with `FromStr` (statuses, severities, kinds).
    pub fn parsed<T: std::str::FromStr>(&self, idx: usize) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.source.value(idx)? {
            ValueRef::Text(s) => s.parse().map_err(|e: T::Err| column_error(idx, e)),
            v => Err(column_error(idx, mismatch("text", v))),
        }
    }

    /// A time stored as microseconds since the epoch.
    pub fn time(&self, idx: usize) -> Result<DateTime<Utc>> {
        self.get(idx).map(time)
    }

    pub fn opt_time(&self, idx: usize) -> Result<Option<DateTime<Utc>>> {
        self.get::<Option<i64>>(idx).map(|t| t.map(time))
    }
}

fn column_error(idx: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("column {idx}: {e}"))
}

/// How a stored time is written: microseconds since the epoch.
pub fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn time(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

/// A connection inside the transaction its backend opened for one repository call.
pub trait Conn {
    fn dialect(&self) -> Dialect;
    /// Runs a statement, returning the number of rows it changed.
    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize>;
    /// Runs a write whose row count nobody reads, now or together with the next statement: a driver that waits
    /// for the database per statement sends it along with the next one. Its failure surfaces by the end of the
    /// transaction at the latest, from whichever later call sent it, and fails the job as any failed statement does.
    fn execute_later(&self, sql: &str, params: &[&dyn ToSql]) -> Result<()> {
        self.execute(sql, params).map(|_| ())
    }
    /// Runs a query, handing each row to `each` until it returns false.
    fn query_with(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()>;
    /// Seals and opens the secrets the store keeps (see `secrets`).
    fn sealer(&self) -> &crate::secrets::Sealer {
        &crate::secrets::UNSEALED
    }
    /// Says the write transaction changed nothing (what it was asked to write is there already), so that its
    /// audit entry is not recorded: the log holds a change exactly when the database does.
    fn changed_nothing(&self) {}
}

/// A driver's connection with the store's sealer, and whether the transaction said it changed nothing.
pub(crate) struct SealingConn<'a> {
    pub conn: &'a dyn Conn,
    pub sealer: &'a crate::secrets::Sealer,
    pub unchanged: std::cell::Cell<bool>,
}

impl Conn for SealingConn<'_> {
    fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }
    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
        self.conn.execute(sql, params)
    }
    fn execute_later(&self, sql: &str, params: &[&dyn ToSql]) -> Result<()> {
        self.conn.execute_later(sql, params)
    }
    fn query_with(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        self.conn.query_with(sql, params, each)
    }
    fn sealer(&self) -> &crate::secrets::Sealer {
        self.sealer
    }
    fn changed_nothing(&self) {
        self.unchanged.set(true);
    }
}

impl dyn Conn + '_ {
    /// The first row, if any.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut map = Some(map);
        let mut out = None;
        self.query_with(sql, params, &mut |row| {
            if let Some(map) = map.take() {
                out = Some(map(row)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row, which must exist (aggregates, `RETURNING`).
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, map)?
            .ok_or_else(|| StoreError::Backend(format!("no row from: {sql}")))
    }

    /// Every row.
    pub fn query_all<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        mut map: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.query_with(sql, params, &mut |row| {
            out.push(map(row)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// A single-row lookup, turning "no row" into `NotFound`.
    pub fn find<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        map: impl FnOnce(&Row<'_>) -> Result<T>,
        kind: &'static str,
        key: &str,
    ) -> Result<T> {
        self.query_opt(sql, params, map)?
            .ok_or_else(|| StoreError::not_found(kind, key))
    }

    /// Whether the query returns any row. Asked of the database, which stops at the first row, rather than by
    /// reading the first of all the rows a driver may fetch.
    pub fn exists(&self, sql: &str, params: &[&dyn ToSql]) -> Result<bool> {
        self.query_one(&format!("SELECT EXISTS ({sql})"), params, |r| r.get(0))
    }
}

/// Parameters for a statement: `params![a, b.as_str(), ts(now)]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql] };
}
pub use params;

/// Binds a run-time list of owned values.
pub fn dyn_params(values: &[Value]) -> Vec<&dyn ToSql> {
    values.iter().map(|v| v as &dyn ToSql).collect()
}
