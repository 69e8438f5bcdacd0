//! `POST /api/v1/stories/{id}/generate`: records a story task and starts it.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::GenerateRequest;
use crate::core::task::chapters_to_generate;
use crate::db::{chapters, tasks};
use crate::platform::new_id;
use serde_json::json;
use worker::{Request, Response};

pub async fn generate(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, user, story) = super::stories::owned(req, ctx, id).await?;
    let id = story.id.clone();
    let r = GenerateRequest::parse(body::json(req, ctx).await?, story.num_chapters)?;
    let chosen = match r.chapters {
        Some(list) => list,
        None => chapters_to_generate(&chapters::statuses(&db, &id, None).await?, r.regenerate),
    };
    if chosen.is_empty() {
        return Err(ApiError::conflict("every chapter already has a script; send \"regenerate\": true to write them again"));
    }
    let task_id = new_id();
    super::launch::register(ctx, &task_id).await?;
    let task = match tasks::create_job(&db, "story", &task_id, &user.id, &id, &chosen, r.regenerate, vec![]).await? {
        tasks::Created::Yes(t) => t,
        tasks::Created::Busy => return Err(ApiError::conflict("a job of this story is queued or running")),
    };
    super::launch::launch(ctx, &db, &task).await;
    json_response(202, &json!({ "task_id": task.id }))
}
