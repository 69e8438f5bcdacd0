//! `POST /api/v1/admin/tasks/{id}/redrive` (admin): sends the message for an active task's
//! current step now, rather than waiting for the sweeper. Safe to call at any time: a step is
//! claimed by one delivery only, so an extra message does no work twice.

use super::{auth::require_admin, json_response, path_id, ApiError, Ctx};
use crate::core::messages::JobMessage;
use crate::core::neon::Query;
use worker::{Request, Response};

pub async fn redrive(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    require_admin(req, ctx).await?;
    let id = path_id(id, "task")?;
    let r = ctx.db()?.query(&Query::new("SELECT step, status, kind FROM tasks WHERE id = $1").bind(&id)).await?;
    let row = r.first().ok_or_else(|| ApiError::not_found("no such task"))?;
    let status: String = row.get("status")?;
    if !matches!(status.as_str(), "queued" | "running") {
        return Err(ApiError::conflict(format!("the task is {status}")));
    }
    let step = row.get::<i32>("step")? as u32;
    let kind: String = row.get("kind")?;
    super::launch::register(ctx, &id).await?;
    ctx.env.queue(crate::platform::JOBS_QUEUE)?.send(JobMessage::step(&kind, id.clone(), step)).await?;
    json_response(202, &serde_json::json!({ "task_id": id, "step": step }))
}

/// `GET /api/v1/admin/tasks/{id}/progress` (admin): what the task's Durable Object holds right
/// now (`null` once it expired), without refreshing it from the rows as `GET /tasks` does.
pub async fn progress(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    require_admin(req, ctx).await?;
    let id = path_id(id, "task")?;
    let doc = crate::progress::ProgressStub::for_task(&ctx.env, &id)?.get().await?;
    json_response(200, &serde_json::json!({ "task_id": id, "progress": doc }))
}
