//! The probe job: records its arrival in a progress object (which expires by alarm) and in an
//! R2 object (which the sweeper removes), proving queue → consumer → Durable Object → R2.

use super::Outcome;
use crate::progress::ProgressStub;
use serde_json::json;
use worker::Env;

/// Probe records are kept this long: long enough to inspect, short enough not to pile up.
pub const PROBE_TTL_SECS: u64 = 3600;

pub fn object_key(probe_id: &str) -> String {
    format!("probes/{probe_id}.json")
}

pub async fn handle(env: &Env, probe_id: &str, fail: bool) -> worker::Result<Outcome> {
    if fail {
        return Err(worker::Error::RustError("probe asked to fail".into()));
    }
    let consumed_at = chrono::Utc::now().to_rfc3339();
    let record = json!({ "probe_id": probe_id, "status": "consumed", "consumed_at": consumed_at });
    env.bucket(crate::platform::AUDIO_BUCKET)?.put(object_key(probe_id), record.to_string().into_bytes()).execute().await?;
    ProgressStub::named(env, &format!("probe:{probe_id}"))?.put(&record, Some(PROBE_TTL_SECS)).await?;
    crate::log::info("probe_consumed", json!({ "probe_id": probe_id }));
    Ok(Outcome::Done)
}
