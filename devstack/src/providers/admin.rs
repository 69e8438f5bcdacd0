//! `/__admin/`: the test-facing control surface. Not part of either provider's API, and never
//! logged. Bad input is a 400 `{"error": "..."}`.
//!
//! - `GET /__admin/requests[?provider=openai|elevenlabs][&since=SEQ]` → `{"requests": [entry...]}`
//!   (see `log.rs`: seq, provider, method, path, query, body, status, voice_id, at, answered_at,
//!   duration_ms, latency_ms, hang, fault, engine); `DELETE` clears it (204).
//! - `GET|POST|DELETE /__admin/faults`, `DELETE /__admin/faults/{id}`: injected faults (`faults.rs`).
//! - `GET /__admin/latency` → `{"openai": MS, "elevenlabs": MS}`;
//!   `POST {"provider": P, "ms": MS}` → `{"provider": P, "ms": MS}`.
//! - `POST /__admin/concurrency {"provider": P, "max": N|null}` → `{"provider": P, "max": N|null}`.
//! - `GET /__admin/stats` → per provider in_flight, max_in_flight, total, latency_ms, max_concurrent.
//! - `GET /__admin/script` → `{"lines": N|null}`; `POST {"lines": N}` (N in 1..=2000) makes every
//!   chapter script and enhanced script exactly N lines, `{"lines": null}` returns to the
//!   default (40–80); answers `{"lines": N|null}`.
//! - `POST /__admin/reset` (204): clears the log and faults, and resets latency, caps, counters
//!   and the script size.
// An early answer travels as the Err of a Result; it is returned at once, so its size is moot.
#![allow(clippy::result_large_err)]
use super::knobs::MAX_SCRIPT_LINES;
use super::{App, Provider};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/__admin/requests", get(list_requests).delete(clear_requests))
        .route("/__admin/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/__admin/faults/{id}", delete(remove_fault))
        .route("/__admin/latency", get(get_latency).post(set_latency))
        .route("/__admin/concurrency", post(set_concurrency))
        .route("/__admin/stats", get(stats))
        .route("/__admin/script", get(get_script).post(set_script))
        .route("/__admin/reset", post(reset))
}

#[derive(Deserialize)]
struct LogQuery {
    provider: Option<Provider>,
    #[serde(default)]
    since: u64,
}

async fn list_requests(
    State(app): State<App>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match q {
        Ok(Query(q)) => Json(json!({"requests": app.log.list(q.provider, q.since)})).into_response(),
        Err(e) => bad(&format!("query: {e} (provider is openai or elevenlabs, since a seq number)")),
    }
}

async fn clear_requests(State(app): State<App>) -> StatusCode {
    app.log.clear();
    StatusCode::NO_CONTENT
}

async fn list_faults(State(app): State<App>) -> Json<Value> {
    Json(json!({"faults": app.faults.list()}))
}

async fn add_fault(State(app): State<App>, body: Bytes) -> Response {
    let spec = match parse_object(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match app.faults.add(&spec) {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(e) => bad(&e),
    }
}

async fn clear_faults(State(app): State<App>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(State(app): State<App>, Path(id): Path<u64>) -> Response {
    if app.faults.remove(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"error": format!("no fault {id}")}))).into_response()
    }
}

async fn get_latency(State(app): State<App>) -> Json<Value> {
    Json(json!({
        "openai": app.knobs.openai.latency_ms.load(Ordering::SeqCst),
        "elevenlabs": app.knobs.elevenlabs.latency_ms.load(Ordering::SeqCst),
    }))
}

async fn set_latency(State(app): State<App>, body: Bytes) -> Response {
    let (provider, spec) = match provider_and_spec(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(ms) = spec.get("ms").and_then(Value::as_u64) else {
        return bad("'ms' must be a non-negative integer");
    };
    app.knobs.of(provider).latency_ms.store(ms, Ordering::SeqCst);
    Json(json!({"provider": provider, "ms": ms})).into_response()
}

async fn set_concurrency(State(app): State<App>, body: Bytes) -> Response {
    let (provider, spec) = match provider_and_spec(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let max = match spec.get("max") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => n as usize,
            _ => return bad("'max' must be a positive integer, or null for no cap"),
        },
    };
    app.knobs.of(provider).max_concurrent.store(max, Ordering::SeqCst);
    Json(json!({"provider": provider, "max": (max > 0).then_some(max)})).into_response()
}

async fn get_script(State(app): State<App>) -> Json<Value> {
    Json(json!({"lines": app.knobs.script_lines()}))
}

async fn set_script(State(app): State<App>, body: Bytes) -> Response {
    let spec = match parse_object(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    const RANGE: &str = "an integer from 1 to 2000, or null for the default (40 to 80 lines)";
    let lines = match spec.get("lines") {
        Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_SCRIPT_LINES as u64).contains(&n) => Some(n as usize),
            _ => return bad(&format!("'lines' must be {RANGE}")),
        },
        None => return bad(&format!("'lines' is required: {RANGE}")),
    };
    app.knobs.set_script_lines(lines);
    Json(json!({"lines": lines})).into_response()
}

async fn stats(State(app): State<App>) -> Json<Value> {
    Json(app.knobs.stats())
}

async fn reset(State(app): State<App>) -> StatusCode {
    app.log.clear();
    app.faults.clear();
    app.knobs.reset();
    StatusCode::NO_CONTENT
}

fn parse_object(body: &[u8]) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad("body must be a JSON object")),
    }
}

fn provider_and_spec(body: &[u8]) -> Result<(Provider, Value), Response> {
    let spec = parse_object(body)?;
    let provider = serde_json::from_value(spec.get("provider").cloned().unwrap_or(Value::Null))
        .map_err(|_| bad("'provider' must be \"openai\" or \"elevenlabs\""))?;
    Ok((provider, spec))
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}
