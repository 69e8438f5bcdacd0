//! The HTTP surface: `POST /sql`, `GET /__admin/requests` (how many `POST /sql` requests
//! arrived, for tests that count round trips; Neon has no such route), `GET /__admin/commits`
//! (when each transaction began and committed, for the progress-latency benchmark; see
//! `exec::COMMITS`), and 400 for anything else, `OPTIONS` included.
//!
//! No CORS header is ever sent, unlike Neon's proxy: this server runs SQL on a developer's
//! machine, and a web page they visit must not be able to run SQL on it. Without an allowance
//! a browser refuses the preflight that the `Neon-Connection-String` header requires, so a
//! page can send nothing that runs a query (and could not read an answer). The Worker and Node's driver do not need CORS.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;

use super::errors::{ApiError, MAX_BODY_BYTES};
use super::headers::Options;
use super::payload::Payload;
use super::pool::Pool;
use super::{conninfo, exec};

/// After the limit is hit the rest of the body is still read (up to this much) so the client,
/// which writes its whole body before reading, gets the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Every `POST /sql` since the server started, answered or refused: each is a round trip the
/// Worker paid for.
static SQL_REQUESTS: AtomicU64 = AtomicU64::new(0);

pub async fn dispatch(State(pool): State<Arc<Pool>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.uri.path() == "/__admin/requests" && parts.method == Method::GET {
        let n = SQL_REQUESTS.load(Ordering::SeqCst);
        return json_response(StatusCode::OK, format!("{{\"requests\":{n}}}"));
    }
    if parts.uri.path() == "/__admin/commits" && parts.method == Method::GET {
        return json_response(StatusCode::OK, exec::commits_json());
    }
    if parts.uri.path() != "/sql" {
        return not_supported();
    }
    match parts.method {
        Method::POST => {
            SQL_REQUESTS.fetch_add(1, Ordering::SeqCst);
            sql(&pool, &parts.headers, body).await
        }
        _ => not_supported(),
    }
}

async fn sql(pool: &Pool, headers: &HeaderMap, body: Body) -> Response {
    match run(pool, headers, body).await {
        Ok((json, echo)) => {
            let mut res = json_response(StatusCode::OK, json);
            for (name, value) in echo {
                res.headers_mut()
                    .insert(name, header::HeaderValue::from_static(value));
            }
            res
        }
        Err(e) => {
            if e.status.is_server_error() {
                eprintln!("neon: {} {}", e.status.as_u16(), e.body.message);
            }
            let json = serde_json::to_string(&e.body).expect("error body serialises");
            json_response(e.status, json)
        }
    }
}

/// Checks in the proxy's order: connection string, headers, body, then PostgreSQL.
async fn run(
    pool: &Pool,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, Vec<(&'static str, &'static str)>), ApiError> {
    let info = conninfo::from_headers(headers)?;
    let opts = Options::from_headers(headers)?;
    let body = read_body(body).await?;
    let payload: Payload = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("could not parse the HTTP request body: {e}"))
    })?;
    let mut conn = pool.get(&info).await.map_err(exec::connect_error)?;
    match &payload {
        Payload::Single(q) => Ok((exec::single(&mut conn, q, &opts).await?, Vec::new())),
        Payload::Batch(b) => Ok((exec::batch(&mut conn, b, &opts).await?, opts.echo_headers())),
    }
}

async fn read_body(mut body: Body) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    let mut over_by = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("could not read the HTTP request body: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if over_by > 0 || buf.len() + data.len() > MAX_BODY_BYTES {
            over_by += data.len();
            buf = Vec::new();
            if over_by > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if over_by > 0 {
        return Err(ApiError::request_too_large());
    }
    Ok(buf)
}

fn json_response(status: StatusCode, json: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json))
        .expect("static headers are valid")
}

fn not_supported() -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        "\"query is not supported\"".to_owned(),
    )
}
