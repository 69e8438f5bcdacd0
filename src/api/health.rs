//! `GET /health`: each dependency is really exercised (a query, an R2 round trip, a Durable
//! Object round trip, a queue send), concurrently, and reported by name.

use super::{json_response, ApiError, Ctx};
use crate::core::health::HealthReport;
use crate::core::messages::JobMessage;
use crate::core::neon::Query;
use crate::db::Db;
use crate::platform::{new_id, AUDIO_BUCKET, JOBS_QUEUE};
use crate::progress::ProgressStub;
use serde_json::json;
use worker::{Env, Response};

pub async fn get(ctx: &Ctx) -> Result<Response, ApiError> {
    let env = &ctx.env;
    let (database, storage, progress, queue) =
        futures::join!(check_database(env), check_storage(env), check_progress(env), check_queue(env));
    let mut report = HealthReport::default();
    report.record("database", database);
    report.record("storage", storage);
    report.record("progress", progress);
    report.record("queue", queue);
    if !report.healthy() {
        crate::log::warn("health_failed", report.to_json());
    }
    let resp = json_response(report.status_code(), &report.to_json())?;
    if !report.healthy() {
        resp.headers().set("Retry-After", "10")?;
    }
    Ok(resp)
}

async fn check_database(env: &Env) -> Result<(), String> {
    let settings = crate::settings::Settings::from_env(env)?;
    let db = Db::new(&settings).map_err(|e| e.to_string())?;
    // The migrations table proves both the connection and that the schema is in place.
    let r = db
        .query(&Query::new("SELECT count(*)::int AS applied FROM schema_migrations"))
        .await
        .map_err(|e| e.to_string())?;
    let applied: i64 = r.first().ok_or("no row")?.get("applied").map_err(|e| e.to_string())?;
    if applied == 0 {
        return Err("no migrations applied".into());
    }
    Ok(())
}

async fn check_storage(env: &Env) -> Result<(), String> {
    let bucket = env.bucket(AUDIO_BUCKET).map_err(|e| e.to_string())?;
    let key = format!("health/{}", new_id());
    let payload = key.as_bytes().to_vec();
    bucket.put(&key, payload.clone()).execute().await.map_err(|e| format!("put: {e}"))?;
    let got = bucket.get(&key).execute().await.map_err(|e| format!("get: {e}"))?;
    let bytes = match got.as_ref().and_then(|o| o.body()) {
        Some(b) => b.bytes().await.map_err(|e| format!("read: {e}"))?,
        None => return Err("object written but not found".into()),
    };
    bucket.delete(&key).await.map_err(|e| format!("delete: {e}"))?;
    if bytes != payload {
        return Err("object read back differs from what was written".into());
    }
    Ok(())
}

async fn check_progress(env: &Env) -> Result<(), String> {
    let stub = ProgressStub::named(env, "health").map_err(|e| e.to_string())?;
    let nonce = new_id();
    let written = stub.put(&json!({ "nonce": nonce }), None).await.map_err(|e| e.to_string())?;
    let read = stub.get().await.map_err(|e| e.to_string())?.ok_or("state written but not found")?;
    if read.state["nonce"] != json!(nonce) || read.seq != written.seq {
        return Err("state read back differs from what was written".into());
    }
    Ok(())
}

/// The probe it sends is consumed like any job: the consumer records it in a progress object
/// and in R2, so a stuck consumer shows up in `/api/v1/admin/probes/{id}`.
async fn check_queue(env: &Env) -> Result<(), String> {
    let queue = env.queue(JOBS_QUEUE).map_err(|e| e.to_string())?;
    queue.send(JobMessage::Probe { probe_id: new_id(), fail: false }).await.map_err(|e| e.to_string())
}
