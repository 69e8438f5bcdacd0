//! Tasks: read, follow live (SSE, served by the task's Durable Object), cancel. The rows are
//! the record: a read is one round trip (the key lookup and the task with its chapters'
//! statuses together) and touches no Durable Object.

use super::auth::{self, Caller};
use super::{json_response, json_tagged, path_id, ApiError, Ctx};
use crate::core::task::TaskView;
use crate::db::{tasks, Db};
use crate::progress::{publish_view, ProgressStub};
use crate::settings::JobSettings;
use worker::{Request, Response};

fn ttl(ctx: &Ctx) -> u64 {
    JobSettings::from_env(&ctx.env).map(|j| j.progress_ttl_secs).unwrap_or(86_400)
}

/// The caller's task named in the path, or 404 (also for another user's task).
async fn owned(req: &Request, ctx: &Ctx, id: &str) -> Result<(Db, Caller, tasks::TaskRow, TaskView), ApiError> {
    let caller = auth::caller(req)?;
    let id = path_id(id, "task")?;
    let db = ctx.db()?;
    let (_, results) = auth::batch(&db, &caller, vec![tasks::view(Some(&caller.owner()), &id)]).await?;
    let (row, view) = tasks::view_from(&results[0])?.ok_or_else(|| ApiError::not_found("no such task"))?;
    Ok((db, caller, row, view))
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (_, _, _, view) = owned(req, ctx, id).await?;
    json_tagged(req, &view)
}

pub async fn events(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (_, _, _, view) = owned(req, ctx, id).await?;
    // The object gets the recorded state before the subscriber asks it for the first event
    // (it may have expired, or a publish may have been lost).
    let stub = ProgressStub::for_task(&ctx.env, &view.id)?;
    stub.put_task(&view, ttl(ctx)).await?;
    Ok(stub.events().await?)
}

pub async fn cancel(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, caller, row, view) = owned(req, ctx, id).await?;
    if row.status.is_terminal() {
        return Err(ApiError::conflict(format!("the task is already {}", row.status.as_str())));
    }
    let results = db.transaction(&[tasks::cancel(&row.id), tasks::view(Some(&caller.owner()), &row.id)], None).await?;
    let now = tasks::view_from(&results[1])?.map(|(_, v)| v).unwrap_or(view);
    crate::active_tasks::forget(&ctx.env, &row.id, None).await;
    crate::log::info("task_cancelled", serde_json::json!({ "task_id": now.id }));
    let shown = match publish_view(&ctx.env, &now, ttl(ctx)).await {
        Ok(v) => v,
        Err(e) => {
            crate::log::warn("progress_publish_failed", serde_json::json!({ "task_id": now.id, "error": e.to_string() }));
            now
        }
    };
    json_response(202, &shown)
}
