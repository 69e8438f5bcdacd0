//! Admin diagnostics: send a probe through the job queue and see what the consumer made of it
//! (its progress object and its R2 object). Used by operators and by the end-to-end tests.

use super::{auth::require_admin, json_response, ApiError, Ctx};
use crate::core::ids::is_uuid;
use crate::core::messages::JobMessage;
use crate::jobs::probe::object_key;
use crate::platform::{new_id, AUDIO_BUCKET, JOBS_QUEUE};
use crate::progress::ProgressStub;
use serde_json::json;
use worker::{Request, Response};

/// Body (optional): `{"fail": true}` sends a probe whose every delivery fails, to watch it
/// reach the dead-letter queue.
pub async fn create(req: &mut Request, ctx: &Ctx) -> Result<Response, ApiError> {
    require_admin(req, ctx)?;
    let body = req.text().await?;
    let fail = if body.trim().is_empty() {
        false
    } else {
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
        match v.get("fail") {
            None => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::validation("fail", "must be a boolean")),
        }
    };
    let probe_id = new_id();
    ctx.env.queue(JOBS_QUEUE)?.send(JobMessage::Probe { probe_id: probe_id.clone(), fail }).await?;
    json_response(202, &json!({ "probe_id": probe_id }))
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    require_admin(req, ctx)?;
    if !is_uuid(id) {
        return Err(ApiError::not_found("no such probe"));
    }
    let progress = ProgressStub::named(&ctx.env, &format!("probe:{id}"))?.get().await?;
    let object = ctx.env.bucket(AUDIO_BUCKET)?.head(object_key(id)).await?;
    json_response(
        200,
        &json!({
            "probe_id": id,
            "consumed": progress.is_some() && object.is_some(),
            "progress": progress,
            "object": object.map(|o| json!({ "key": o.key(), "size": o.size() })),
        }),
    )
}
