//! Messages that ran out of retries. Each is recorded where its owner will look, then acked.

use super::Outcome;
use crate::core::messages::JobMessage;
use crate::progress::ProgressStub;
use serde_json::json;
use worker::Env;

pub async fn handle(env: &Env, job: &JobMessage) -> worker::Result<Outcome> {
    crate::log::error("dead_letter", json!({ "job": job.label() }));
    match job {
        JobMessage::Probe { probe_id, .. } => {
            let record = json!({ "probe_id": probe_id, "status": "dead_lettered" });
            ProgressStub::named(env, &format!("probe:{probe_id}"))?
                .put(&record, Some(super::probe::PROBE_TTL_SECS))
                .await?;
        }
    }
    Ok(Outcome::Done)
}
