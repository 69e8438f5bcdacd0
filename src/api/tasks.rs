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

async fn owned(req: &Request, ctx: &Ctx, id: &str) -> Result<(Db, String), ApiError> {
    let user = auth::user(req, ctx).await?;
    let id = path_id(id, "task")?;
    let db = ctx.db()?;
    tasks::get_owned(&db, &user.id, &id).await?.ok_or_else(|| ApiError::not_found("no such task"))?;
    Ok((db, id))
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, id) = owned(req, ctx, id).await?;
    json_response(200, &current(ctx, &db, &id).await?)
}

pub async fn events(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, id) = owned(req, ctx, id).await?;
    // Makes sure the object holds the task before a subscriber asks it for the first event.
    current(ctx, &db, &id).await?;
    Ok(ProgressStub::for_task(&ctx.env, &id)?.events().await?)
}

pub async fn cancel(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, id) = owned(req, ctx, id).await?;
    let user = auth::user(req, ctx).await?;
    let before = tasks::get_owned(&db, &user.id, &id).await?.ok_or_else(|| ApiError::not_found("no such task"))?;
    if before.status.is_terminal() {
        return Err(ApiError::conflict(format!("the task is already {}", before.status.as_str())));
    }
    tasks::cancel(&db, &user.id, &id).await?;
    crate::log::info("task_cancelled", serde_json::json!({ "task_id": id }));
    json_response(202, &current(ctx, &db, &id).await?)
}
