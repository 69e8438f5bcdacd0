//! Tasks: read, follow live (SSE, served by the task's Durable Object), cancel.

use super::{auth, json_response, path_id, ApiError, Ctx};
use crate::core::task::TaskView;
use crate::db::{tasks, Db};
use crate::progress::{publish_task, ProgressStub};
use crate::settings::JobSettings;
use worker::{Request, Response};

fn ttl(ctx: &Ctx) -> u64 {
    JobSettings::from_env(&ctx.env).map(|j| j.progress_ttl_secs).unwrap_or(86_400)
}

/// The live view from the Durable Object, refreshed from the rows (which are the record and
/// outlive the object's expiry).
async fn current(ctx: &Ctx, db: &Db, id: &str) -> Result<TaskView, ApiError> {
    match publish_task(&ctx.env, db, id, ttl(ctx)).await? {
        Some(v) => Ok(v),
        None => Err(ApiError::not_found("no such task")),
    }
}

/// The caller's task named in the path, or 404 (also for another user's task).
async fn owned(req: &Request, ctx: &Ctx, id: &str) -> Result<(Db, tasks::TaskRow), ApiError> {
    let user = auth::user(req, ctx).await?;
    let id = path_id(id, "task")?;
    let db = ctx.db()?;
    let task = tasks::get_owned(&db, &user.id, &id).await?.ok_or_else(|| ApiError::not_found("no such task"))?;
    Ok((db, task))
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, task) = owned(req, ctx, id).await?;
    json_response(200, &current(ctx, &db, &task.id).await?)
}

pub async fn events(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, task) = owned(req, ctx, id).await?;
    // Makes sure the object holds the task before a subscriber asks it for the first event.
    current(ctx, &db, &task.id).await?;
    Ok(ProgressStub::for_task(&ctx.env, &task.id)?.events().await?)
}

pub async fn cancel(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, task) = owned(req, ctx, id).await?;
    if task.status.is_terminal() {
        return Err(ApiError::conflict(format!("the task is already {}", task.status.as_str())));
    }
    tasks::cancel(&db, &task).await?;
    crate::active_tasks::forget(&ctx.env, &task.id, None).await;
    crate::log::info("task_cancelled", serde_json::json!({ "task_id": task.id }));
    json_response(202, &current(ctx, &db, &task.id).await?)
}
