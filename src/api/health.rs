//! `GET /health`: each dependency is really exercised (a query, an R2 round trip, a Durable
//! Object round trip, a queue send), concurrently, and reported by name.
//!
//! The probe runs at most once per `HEALTH_PROBE_SECS` per isolate; calls in between answer
//! its result (with `Age`), so a flood of health checks costs one probe, and a call that
//! arrives while another probes answers the previous result. Each isolate keeps its own result.
//! Anyone sees each failing check's short reason; the admin token also gets the details,
//! which can hold PostgreSQL's own text.

use super::{json_response, ApiError, Ctx};
use crate::core::health::{database_failure, CheckFailure, HealthReport, Lookup, ProbeCache};
use crate::core::ids::constant_time_eq;
use crate::core::messages::JobMessage;
use crate::core::neon::Query;
use crate::db::Db;
use crate::platform::{new_id, AUDIO_BUCKET, JOBS_QUEUE};
use crate::progress::ProgressStub;
use serde_json::json;
use std::cell::RefCell;
use worker::{Date, Env, Request, Response};

thread_local! {
    static LAST: RefCell<ProbeCache<HealthReport>> = RefCell::new(ProbeCache::default());
}

pub async fn get(req: &Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let now = Date::now().as_millis();
    let (report, probed_at) = match LAST.with(|c| c.borrow_mut().lookup(now, ctx.api.health_probe_secs)) {
        Lookup::Fresh { value, probed_at_ms } | Lookup::Probing { value, probed_at_ms } => (value, probed_at_ms),
        Lookup::Probe => {
            let report = probe(&ctx.env).await;
            let at = Date::now().as_millis();
            LAST.with(|c| c.borrow_mut().store(at, report.clone()));
            (report, at)
        }
    };
    let body = if is_admin(req, ctx) {
        let mut v = report.to_admin_json();
        v["probed_at"] = json!(chrono::DateTime::from_timestamp_millis(probed_at as i64).map(|t| t.to_rfc3339()));
        v
    } else {
        report.to_json()
    };
    let resp = json_response(report.status_code(), &body)?;
    resp.headers().set("Age", &(Date::now().as_millis().saturating_sub(probed_at) / 1000).to_string())?;
    if !report.healthy() {
        resp.headers().set("Retry-After", "10")?;
    }
    Ok(resp)
}

/// The deployment's admin token (compared in constant time); anything else is anonymous
/// here, without a 401: `/health` needs no authentication.
fn is_admin(req: &Request, ctx: &Ctx) -> bool {
    let Some(token) = super::auth::bearer(req).ok() else { return false };
    ctx.settings().is_ok_and(|s| constant_time_eq(token.as_bytes(), s.admin_token.as_bytes()))
}

async fn probe(env: &Env) -> HealthReport {
    let started = Date::now().as_millis();
    let (database, storage, progress, queue) =
        futures::join!(check_database(env), check_storage(env), check_progress(env), check_queue(env));
    let mut report = HealthReport::default();
    report.record("database", database);
    report.record("storage", storage);
    report.record("progress", progress);
    report.record("queue", queue);
    let ms = Date::now().as_millis().saturating_sub(started);
    crate::log::info("health_probed", json!({ "healthy": report.healthy(), "ms": ms }));
    if !report.healthy() {
        crate::log::warn("health_failed", report.to_admin_json());
    }
    report
}

type Check = Result<(), CheckFailure>;

fn fail(reason: &'static str) -> impl Fn(worker::Error) -> CheckFailure {
    move |e| CheckFailure::new(reason, e.to_string())
}

async fn check_database(env: &Env) -> Check {
    let settings = crate::settings::Settings::from_env(env).map_err(|m| CheckFailure::new("not configured", m))?;
    let db = Db::new(&settings).map_err(|e| database_failure(&e))?;
    // The migrations table proves both the connection and that the schema is in place.
    let r = db.query(&Query::new("SELECT count(*)::int AS applied FROM schema_migrations")).await.map_err(|e| database_failure(&e))?;
    let applied: i64 = r
        .first()
        .ok_or_else(|| CheckFailure::new("unexpected answer", "no row"))?
        .get("applied")
        .map_err(|e| CheckFailure::new("unexpected answer", e.to_string()))?;
    if applied == 0 {
        return Err(CheckFailure::new("no migrations applied", "schema_migrations is empty"));
    }
    Ok(())
}

async fn check_storage(env: &Env) -> Check {
    let bucket = env.bucket(AUDIO_BUCKET).map_err(fail("not configured"))?;
    let key = format!("health/{}", new_id());
    let payload = key.as_bytes().to_vec();
    bucket.put(&key, payload.clone()).execute().await.map_err(fail("write failed"))?;
    let got = bucket.get(&key).execute().await.map_err(fail("read failed"))?;
    let bytes = match got.as_ref().and_then(|o| o.body()) {
        Some(b) => b.bytes().await.map_err(fail("read failed"))?,
        None => return Err(CheckFailure::new("read failed", "object written but not found")),
    };
    bucket.delete(&key).await.map_err(fail("delete failed"))?;
    if bytes != payload {
        return Err(CheckFailure::new("read failed", "object read back differs from what was written"));
    }
    Ok(())
}

async fn check_progress(env: &Env) -> Check {
    let stub = ProgressStub::named(env, "health").map_err(fail("not configured"))?;
    let nonce = new_id();
    let written = stub.put(&json!({ "nonce": nonce }), None).await.map_err(fail("write failed"))?;
    let read = stub.get().await.map_err(fail("read failed"))?.ok_or_else(|| CheckFailure::new("read failed", "state written but not found"))?;
    if read.state["nonce"] != json!(nonce) || read.seq != written.seq {
        return Err(CheckFailure::new("read failed", "state read back differs from what was written"));
    }
    Ok(())
}

/// The probe it sends is consumed like any job: the consumer records it in a progress object
/// and in R2, so a stuck consumer shows up in `/api/v1/admin/probes/{id}`.
async fn check_queue(env: &Env) -> Check {
    let queue = env.queue(JOBS_QUEUE).map_err(fail("not configured"))?;
    queue.send(JobMessage::Probe { probe_id: new_id(), fail: false }).await.map_err(fail("send failed"))
}
