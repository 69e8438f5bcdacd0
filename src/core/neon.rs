//! Neon's SQL-over-HTTP protocol as the official driver (`@neondatabase/serverless` 1.2.0)
//! speaks it: endpoint derivation, request bodies and headers, typed decoding of the raw-text
//! array-mode responses, and the error body. No I/O here, so both the Worker (over Fetch) and
//! the native migration runner send what this module builds.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

/// Postgres type OIDs the decoder knows; the rest decode as text.
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const VARCHAR: u32 = 1043;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
}

/// The SQL-over-HTTP endpoint for a connection string, as the 1.2.0 driver derives it: the
/// first host label becomes `api.` and the path is `/sql`. `override_endpoint` (a setting)
/// wins when set, which is how local runs reach the stand-in server.
pub fn endpoint_for(connection_string: &str, override_endpoint: Option<&str>) -> Result<String, NeonError> {
    if let Some(ep) = override_endpoint.map(str::trim).filter(|s| !s.is_empty()) {
        return Ok(ep.to_string());
    }
    let url = parse_connection_string(connection_string)?;
    let host = url.host_str().unwrap_or_default();
    let api_host = match host.split_once('.') {
        Some((_, rest)) => format!("api.{rest}"),
        None => host.to_string(),
    };
    Ok(format!("https://{api_host}/sql"))
}

/// Checks what the driver checks (scheme, user, host, database) and normalises the scheme, so
/// a bad `DATABASE_URL` fails with a clear message before any request.
pub fn parse_connection_string(s: &str) -> Result<url::Url, NeonError> {
    let mut url = url::Url::parse(s).map_err(|e| NeonError::Config(format!("DATABASE_URL is not a URL: {e}")))?;
    match url.scheme() {
        "postgres" | "postgresql" => {}
        other => return Err(NeonError::Config(format!("DATABASE_URL scheme must be postgresql, not {other}"))),
    }
    if url.username().is_empty() {
        return Err(NeonError::Config("DATABASE_URL has no user".into()));
    }
    if url.host_str().unwrap_or_default().is_empty() {
        return Err(NeonError::Config("DATABASE_URL has no host".into()));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err(NeonError::Config("DATABASE_URL has no database".into()));
    }
    if url.scheme() == "postgres" {
        url = url::Url::parse(&format!("postgresql{}", &s["postgres".len()..]))
            .map_err(|e| NeonError::Config(e.to_string()))?;
    }
    Ok(url)
}

/// A statement parameter, serialised the way the driver's `prepareValue` does (every non-null
/// value as a string), so the server-side conversion is the same as for the official driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Json(Value),
    Bytes(Vec<u8>),
    Timestamp(DateTime<Utc>),
    TextArray(Vec<Option<String>>),
}

impl Param {
    pub fn to_json(&self) -> Value {
        match self {
            Param::Null => Value::Null,
            Param::Text(s) => Value::String(s.clone()),
            Param::Int(i) => Value::String(i.to_string()),
            Param::Float(f) => Value::String(f.to_string()),
            Param::Bool(b) => Value::String(b.to_string()),
            Param::Json(v) => Value::String(v.to_string()),
            Param::Bytes(b) => Value::String(format!("\\x{}", crate::core::hex::hex(b))),
            Param::Timestamp(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            Param::TextArray(items) => Value::String(array_literal(items)),
        }
    }
}

/// A PG array literal with every element quoted, as the driver writes it.
fn array_literal(items: &[Option<String>]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|i| match i {
            None => "NULL".to_string(),
            Some(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

macro_rules! param_from {
    ($t:ty, $v:ident => $e:expr) => {
        impl From<$t> for Param {
            fn from($v: $t) -> Self {
                $e
            }
        }
    };
}
param_from!(&str, v => Param::Text(v.to_string()));
param_from!(String, v => Param::Text(v));
param_from!(&String, v => Param::Text(v.clone()));
param_from!(i32, v => Param::Int(v as i64));
param_from!(i64, v => Param::Int(v));
param_from!(u32, v => Param::Int(v as i64));
param_from!(f64, v => Param::Float(v));
param_from!(bool, v => Param::Bool(v));
param_from!(Value, v => Param::Json(v));
param_from!(Vec<u8>, v => Param::Bytes(v));
param_from!(DateTime<Utc>, v => Param::Timestamp(v));
param_from!(Vec<String>, v => Param::TextArray(v.into_iter().map(Some).collect()));
impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Param::Null)
    }
}

/// One statement: Neon runs exactly one per query (several give SQLSTATE 42601).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Query {
    pub fn new(sql: impl Into<String>) -> Self {
        Query { sql: sql.into(), params: Vec::new() }
    }
    pub fn bind(mut self, p: impl Into<Param>) -> Self {
        self.params.push(p.into());
        self
    }
    fn body(&self) -> Value {
        json!({ "query": self.sql, "params": self.params.iter().map(Param::to_json).collect::<Vec<_>>() })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    pub fn header_value(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "ReadUncommitted",
            Isolation::ReadCommitted => "ReadCommitted",
            Isolation::RepeatableRead => "RepeatableRead",
            Isolation::Serializable => "Serializable",
        }
    }
}

/// A request ready to send: JSON body and the headers the driver sends.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

fn base_headers(connection_string: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Neon-Connection-String", connection_string.to_string()),
        ("Neon-Raw-Text-Output", "true".into()),
        ("Neon-Array-Mode", "true".into()),
        ("Content-Type", "application/json".into()),
    ]
}

pub fn single_request(connection_string: &str, q: &Query) -> HttpRequest {
    HttpRequest { body: q.body().to_string(), headers: base_headers(connection_string) }
}

/// A batch runs in one transaction on Neon's side: all statements commit or none do.
pub fn batch_request(connection_string: &str, qs: &[Query], isolation: Option<Isolation>) -> HttpRequest {
    let mut headers = base_headers(connection_string);
    if let Some(i) = isolation {
        headers.push(("Neon-Batch-Isolation-Level", i.header_value().into()));
    }
    let body = json!({ "queries": qs.iter().map(Query::body).collect::<Vec<_>>() });
    HttpRequest { body: body.to_string(), headers }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "dataTypeID")]
    pub type_oid: u32,
}

/// One statement's result in raw-text array mode.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryResult {
    pub fields: Vec<Field>,
    pub rows: Vec<Vec<Option<String>>>,
    #[serde(default)]
    pub command: String,
    #[serde(rename = "rowCount")]
    pub row_count: Option<u64>,
}

#[derive(Deserialize)]
struct BatchResult {
    results: Vec<QueryResult>,
}

impl QueryResult {
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |values| Row { fields: &self.fields, values })
    }
    pub fn first(&self) -> Option<Row<'_>> {
        self.rows().next()
    }
}

/// A row whose columns decode by name into Rust types, checked against the column's type OID.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    fields: &'a [Field],
    values: &'a [Option<String>],
}

impl<'a> Row<'a> {
    pub fn get<T: FromPg>(&self, column: &str) -> Result<T, NeonError> {
        let i = self
            .fields
            .iter()
            .position(|f| f.name == column)
            .ok_or_else(|| NeonError::Decode(format!("no column {column}")))?;
        T::from_pg(self.fields[i].type_oid, self.values[i].as_deref())
            .map_err(|e| NeonError::Decode(format!("column {column}: {e}")))
    }
}

/// Decoding of one PG text value of a known type OID.
pub trait FromPg: Sized {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String>;
}

fn non_null(text: Option<&str>) -> Result<&str, String> {
    text.ok_or_else(|| "unexpected NULL".to_string())
}

fn expect_oid(oid: u32, allowed: &[u32], what: &str) -> Result<(), String> {
    if allowed.contains(&oid) {
        Ok(())
    } else {
        Err(format!("type OID {oid} is not {what}"))
    }
}

impl<T: FromPg> FromPg for Option<T> {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        match text {
            None => Ok(None),
            Some(_) => T::from_pg(oid, text).map(Some),
        }
    }
}

impl FromPg for i64 {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        expect_oid(oid, &[oid::INT2, oid::INT4, oid::INT8, oid::OID], "an integer")?;
        non_null(text)?.parse().map_err(|e| format!("{e}"))
    }
}

impl FromPg for i32 {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        let v = i64::from_pg(oid, text)?;
        i32::try_from(v).map_err(|_| format!("{v} does not fit in i32"))
    }
}

impl FromPg for f64 {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        expect_oid(oid, &[oid::FLOAT4, oid::FLOAT8, oid::NUMERIC, oid::INT2, oid::INT4, oid::INT8], "a number")?;
        match non_null(text)? {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            t => t.parse().map_err(|e| format!("{e}")),
        }
    }
}

impl FromPg for bool {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        expect_oid(oid, &[oid::BOOL], "bool")?;
        match non_null(text)? {
            "t" | "true" => Ok(true),
            "f" | "false" => Ok(false),
            other => Err(format!("not a bool: {other}")),
        }
    }
}

/// Text of any type: numeric and uuid land here too, exactly as PG printed them.
impl FromPg for String {
    fn from_pg(_oid: u32, text: Option<&str>) -> Result<Self, String> {
        non_null(text).map(str::to_string)
    }
}

impl FromPg for Value {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        expect_oid(oid, &[oid::JSON, oid::JSONB], "json")?;
        serde_json::from_str(non_null(text)?).map_err(|e| e.to_string())
    }
}

impl FromPg for DateTime<Utc> {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        expect_oid(oid, &[oid::TIMESTAMPTZ], "timestamptz")?;
        parse_timestamptz(non_null(text)?)
    }
}

/// PG prints timestamptz as `2026-11-22 02:05:28.123456+00` (session time zone offset, which
/// may have only hours); RFC 3339 needs `T` and a `+HH:MM` offset.
pub fn parse_timestamptz(s: &str) -> Result<DateTime<Utc>, String> {
    let (date_time, offset) = match s.rfind(['+', '-']) {
        Some(i) if i > 10 => s.split_at(i),
        _ => return Err(format!("not a timestamptz: {s}")),
    };
    let offset = match offset.len() {
        3 => format!("{offset}:00"),
        _ => offset.to_string(),
    };
    DateTime::parse_from_rfc3339(&format!("{}{}", date_time.replacen(' ', "T", 1), offset))
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("not a timestamptz: {s}: {e}"))
}

impl FromPg for Vec<u8> {
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        expect_oid(oid, &[oid::BYTEA], "bytea")?;
        let t = non_null(text)?.strip_prefix("\\x").ok_or("bytea not in hex format")?;
        if t.len() % 2 != 0 {
            return Err("odd-length bytea hex".into());
        }
        (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&t[i..i + 2], 16).map_err(|e| e.to_string()))
            .collect()
    }
}

/// One-dimensional arrays of any element type decode element-wise from the PG array literal.
impl<T: FromPg> FromPg for Vec<T>
where
    T: ArrayElement,
{
    fn from_pg(oid: u32, text: Option<&str>) -> Result<Self, String> {
        let elem_oid = T::element_oid(oid).ok_or_else(|| format!("type OID {oid} is not a known array"))?;
        parse_array(non_null(text)?)?
            .into_iter()
            .map(|e| T::from_pg(elem_oid, e.as_deref()))
            .collect()
    }
}

/// Maps an array type OID to its element OID, for the element types the schema uses.
pub trait ArrayElement {
    fn element_oid(array_oid: u32) -> Option<u32> {
        match array_oid {
            1000 => Some(oid::BOOL),
            1005 => Some(oid::INT2),
            1007 => Some(oid::INT4),
            1016 => Some(oid::INT8),
            1009 => Some(oid::TEXT),
            1015 => Some(oid::VARCHAR),
            2951 => Some(oid::UUID),
            1231 => Some(oid::NUMERIC),
            1022 => Some(oid::FLOAT8),
            3807 => Some(oid::JSONB),
            _ => None,
        }
    }
}
impl ArrayElement for String {}
impl ArrayElement for i64 {}
impl ArrayElement for i32 {}
impl ArrayElement for bool {}
impl ArrayElement for f64 {}
impl<T: ArrayElement> ArrayElement for Option<T> {}

/// Parses a one-dimensional PG array literal (`{a,"b c",NULL}`) into its element texts.
pub fn parse_array(s: &str) -> Result<Vec<Option<String>>, String> {
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| format!("not an array literal: {s}"))?;
    let mut out = Vec::new();
    if inner.is_empty() {
        return Ok(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => item.push(chars.next().ok_or("dangling escape")?),
                    Some('"') => break,
                    Some(c) => item.push(c),
                    None => return Err("unterminated quoted element".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' {
                    return Err("multi-dimensional arrays are not supported".into());
                }
                item.push(c);
                chars.next();
            }
        }
        out.push(if !quoted && item == "NULL" { None } else { Some(item) });
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => return Err(format!("unexpected {c:?} in array literal")),
        }
    }
    Ok(out)
}

/// Neon's 17-key error body; the fields a caller acts on are kept.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct DbError {
    pub message: String,
    #[serde(default)]
    pub code: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub severity: Option<String>,
    pub constraint: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NeonError {
    /// The connection string or endpoint setting is unusable.
    Config(String),
    /// PostgreSQL (or the proxy) rejected the statement: a 400 with the error body.
    Db(DbError),
    /// Any other non-2xx: the body is kept for the log, never shown to API callers.
    Http { status: u16, body: String },
    /// The request never got an answer.
    Transport(String),
    /// The answer did not have the shape the protocol promises, or a column did not decode.
    Decode(String),
}

impl NeonError {
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            NeonError::Db(e) if !e.code.is_empty() => Some(&e.code),
            _ => None,
        }
    }
    /// Worth trying again shortly: no answer, the endpoint's own 5xx (a waking or restarting
    /// compute), or PostgreSQL refusing connections (SQLSTATE classes 08 and 57P).
    pub fn is_transient(&self) -> bool {
        match self {
            NeonError::Transport(_) => true,
            NeonError::Http { status, .. } => *status >= 500,
            NeonError::Db(e) => e.code.starts_with("08") || e.code.starts_with("57P"),
            _ => false,
        }
    }
    /// 23505: the caller maps it to `409 conflict`.
    pub fn is_unique_violation(&self) -> bool {
        self.sqlstate() == Some("23505")
    }
}

impl fmt::Display for NeonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NeonError::Config(m) => write!(f, "database configuration: {m}"),
            NeonError::Db(e) if e.code.is_empty() => write!(f, "database: {}", e.message),
            NeonError::Db(e) => write!(f, "database error {}: {}", e.code, e.message),
            NeonError::Http { status, .. } => write!(f, "database endpoint answered HTTP {status}"),
            NeonError::Transport(m) => write!(f, "database unreachable: {m}"),
            NeonError::Decode(m) => write!(f, "database answer not understood: {m}"),
        }
    }
}

impl std::error::Error for NeonError {}

/// Turns a response (status and body) into results, following how the driver reads them:
/// a 400 carries the JSON error body, any other non-2xx is an opaque server error.
pub fn decode_single(status: u16, body: &str) -> Result<QueryResult, NeonError> {
    check_status(status, body)?;
    serde_json::from_str(body).map_err(|e| NeonError::Decode(e.to_string()))
}

pub fn decode_batch(status: u16, body: &str) -> Result<Vec<QueryResult>, NeonError> {
    check_status(status, body)?;
    serde_json::from_str::<BatchResult>(body)
        .map(|b| b.results)
        .map_err(|e| NeonError::Decode(format!("unexpected batch result format: {e}")))
}

fn check_status(status: u16, body: &str) -> Result<(), NeonError> {
    match status {
        200..=299 => Ok(()),
        400 => match serde_json::from_str::<DbError>(body) {
            Ok(e) => Err(NeonError::Db(e)),
            Err(_) => Err(NeonError::Http { status, body: truncate(body) }),
        },
        _ => Err(NeonError::Http { status, body: truncate(body) }),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}

#[cfg(test)]
mod tests;
