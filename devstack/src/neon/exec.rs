//! Runs a request's statement(s) on a connection and produces the JSON response body.

use axum::http::StatusCode;

use super::errors::{ApiError, MAX_BODY_BYTES};
use super::headers::Options;
use super::output::{parse_tag, push_fields, push_row, push_str};
use super::payload::{BatchQueryData, QueryData};
use super::pgwire::{Abort, PgConn, PgError};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The last committed transactions (batches): (unix µs just before `BEGIN` was sent, unix µs
/// once `COMMIT` was acknowledged). PostgreSQL's `now()` inside the transaction, which the
/// Worker's rows carry as `updated_at`, lies between the two, so a benchmark can find the
/// commit behind a state it sees elsewhere (a progress event) and time from it.
static COMMITS: Mutex<VecDeque<(u64, u64)>> = Mutex::new(VecDeque::new());
const COMMITS_KEPT: usize = 100_000;

fn unix_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// `{"commits": [{"began_us": N, "committed_us": N}, ...]}`, oldest first.
pub fn commits_json() -> String {
    let log = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    let items: Vec<String> = log.iter().map(|(b, c)| format!("{{\"began_us\":{b},\"committed_us\":{c}}}")).collect();
    format!("{{\"commits\":[{}]}}", items.join(","))
}

pub async fn single(conn: &mut PgConn, q: &QueryData, opts: &Options) -> Result<String, ApiError> {
    let mut out = String::new();
    run_query(conn, q, opts, &mut out).await?;
    Ok(out)
}

/// All-or-nothing: one transaction, rolled back on the first failure.
pub async fn batch(
    conn: &mut PgConn,
    b: &BatchQueryData,
    opts: &Options,
) -> Result<String, ApiError> {
    let began = unix_us();
    conn.simple_query(&opts.start_transaction_sql())
        .await
        .map_err(query_error)?;
    let mut out = String::from("{\"results\":[");
    for (i, q) in b.queries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Err(e) = run_query(conn, q, opts, &mut out).await {
            // A connection abandoned mid-result is dropped instead; PostgreSQL then rolls back.
            if !conn.is_mid_exchange() {
                let _ = conn.simple_query("ROLLBACK").await;
            }
            return Err(e);
        }
    }
    conn.simple_query("COMMIT").await.map_err(query_error)?;
    let committed = unix_us();
    let mut log = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    if log.len() == COMMITS_KEPT {
        log.pop_front();
    }
    log.push_back((began, committed));
    drop(log);
    out.push_str("]}");
    Ok(out)
}

/// Appends one result object to `out`, failing with 507 once the response passes the limit.
async fn run_query(
    conn: &mut PgConn,
    q: &QueryData,
    opts: &Options,
    out: &mut String,
) -> Result<(), ApiError> {
    let array_mode = q.array_mode.unwrap_or(opts.array_mode);
    let already = out.len();
    let mut rows = String::from("[");
    let mut stopped: Option<ApiError> = None;
    let result = conn
        .query(&q.query, &q.params, |cols, vals| {
            if rows.len() > 1 {
                rows.push(',');
            }
            if push_row(&mut rows, cols, vals, opts.raw_output, array_mode).is_err() {
                stopped = Some(ApiError::internal("could not parse postgres response"));
                return Err(Abort);
            }
            if already + rows.len() > MAX_BODY_BYTES {
                stopped = Some(ApiError::response_too_large());
                return Err(Abort);
            }
            Ok(())
        })
        .await;
    let (cols, tag) = match (result, stopped) {
        (Err(_), Some(e)) => return Err(e),
        (Err(e), None) => return Err(query_error(e)),
        (Ok(r), _) => r,
    };
    rows.push(']');
    let (command, row_count) = parse_tag(&tag);
    out.push_str("{\"fields\":");
    push_fields(out, &cols);
    out.push_str(",\"rows\":");
    out.push_str(&rows);
    out.push_str(",\"command\":");
    push_str(out, command);
    out.push_str(",\"rowCount\":");
    out.push_str(&row_count.map_or_else(|| "null".to_owned(), |n| n.to_string()));
    out.push_str(",\"rowAsArray\":");
    out.push_str(if array_mode { "true" } else { "false" });
    out.push('}');
    if out.len() > MAX_BODY_BYTES {
        return Err(ApiError::response_too_large());
    }
    Ok(())
}

/// Errors of user SQL are the client's (400); a broken connection is ours (500).
fn query_error(e: PgError) -> ApiError {
    match e {
        PgError::Db(db) => ApiError::db(StatusCode::BAD_REQUEST, &db),
        PgError::Encode(msg) => ApiError::bad_request(msg),
        PgError::NoPassword => {
            ApiError::bad_request("missing authentication credentials: required password")
        }
        PgError::Broken(msg) => ApiError::internal(msg),
    }
}

/// Connection failures: bad credentials or an unknown database are the client's (400); a
/// server that is down, overloaded or shutting down is ours (500).
pub fn connect_error(e: PgError) -> ApiError {
    match e {
        PgError::Db(db) if matches!(&db.code().get(..2), Some("53" | "57" | "58" | "XX")) => {
            ApiError::db(StatusCode::INTERNAL_SERVER_ERROR, &db)
        }
        other => query_error(other),
    }
}
