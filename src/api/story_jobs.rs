//! `POST /api/v1/stories/{id}/generate`: records a story task and starts it. Two round trips:
//! the key, story and chapter statuses together, then the task.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::GenerateRequest;
use crate::core::task::chapters_to_generate;
use crate::db::{chapters, tasks};
use crate::platform::new_id;
use serde_json::json;
use worker::{Request, Response};

pub async fn generate(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = super::stories::owned(req, ctx, id, |id| vec![chapters::statuses(id)]).await?;
    let id = o.story.id.clone();
    let r = GenerateRequest::parse(body::json(req, ctx).await?, o.story.num_chapters)?;
    // With budgets, generate gains `dry_run` (a write, not a job start): pass it here.
    super::rate_limit::job_start(req, ctx, false).await?;
    let chosen = match r.chapters {
        Some(list) => list,
        None => chapters_to_generate(&chapters::statuses_from(&o.results[0])?, r.regenerate),
    };
    if chosen.is_empty() {
        return Err(ApiError::conflict("every chapter already has a script; send \"regenerate\": true to write them again"));
    }
    let task_id = new_id();
    let task = match tasks::create_job(&o.db, "story", &task_id, &o.user.id, &id, &chosen, r.regenerate, vec![]).await? {
        tasks::Created::Yes(t) => t,
        tasks::Created::Busy => return Err(ApiError::conflict("a job of this story is queued or running")),
    };
    super::launch::launch(ctx, &task).await;
    json_response(202, &json!({ "task_id": task.id }))
}
