//! Admin diagnostics: send a probe through the job queue and see what the consumer made of it
//! (its progress object and its R2 object). Used by operators and by the end-to-end tests.

use super::{auth::require_admin, json_response, ApiError, Ctx};
use crate::core::ids::is_uuid;
use crate::core::validate::ObjectReader;
use crate::core::messages::JobMessage;
use crate::jobs::probe::object_key;
use crate::platform::{new_id, AUDIO_BUCKET, JOBS_QUEUE};
use crate::progress::ProgressStub;
use serde_json::json;
use worker::{Request, Response};

/// Body (optional): `{"fail": true}` sends a probe whose every delivery fails, to watch it
/// reach the dead-letter queue.
pub async fn create(req: &mut Request, ctx: &Ctx) -> Result<Response, ApiError> {
    require_admin(req, ctx).await?;
    let mut body = ObjectReader::new(super::body::json(req, ctx).await?)?;
    let fail = body.optional_bool("fail")?.unwrap_or(false);
    body.finish()?;
    let probe_id = new_id();
    ctx.env.queue(JOBS_QUEUE)?.send(JobMessage::Probe { probe_id: probe_id.clone(), fail }).await?;
    json_response(202, &json!({ "probe_id": probe_id }))
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    require_admin(req, ctx).await?;
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
