//! `POST /api/v1/stories/{id}/generate`: records a story task and starts it, once its token
//! estimate fits the caller's budget (or, with `dry_run`, only answers the estimate). Two
//! round trips: the key, story, chapter statuses and budget together, then the task.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::GenerateRequest;
use crate::core::task::chapters_to_generate;
use crate::db::{chapters, tasks};
use crate::platform::new_id;
use serde_json::json;
use worker::{Request, Response};

pub async fn generate(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (o, budget) = super::budget::owned_with_budget(req, ctx, id, |id| vec![chapters::statuses(id)]).await?;
    let (id, story) = (o.story.id.clone(), &o.story);
    let r = GenerateRequest::parse(body::json(req, ctx).await?, story.num_chapters)?;
    super::rate_limit::job_start(req, ctx, r.dry_run).await?;
    let chosen = match r.chapters {
        Some(list) => list,
        None => chapters_to_generate(&chapters::statuses_from(&o.results[0])?, r.regenerate),
    };
    if chosen.is_empty() {
        return Err(ApiError::conflict("every chapter already has a script; send \"regenerate\": true to write them again"));
    }
    let estimate = super::budget::story_estimate(ctx, story, &chosen)?;
    if r.dry_run {
        return json_response(
            200,
            &json!({
                "estimated_tokens": estimate.llm_tokens,
                "estimated_cost_usd": crate::core::cost::round_usd(estimate.usd),
                "budget": budget.to_json(),
                "chapters": chosen,
            }),
        );
    }
    super::budget::check(&budget, &estimate)?;
    let task_id = new_id();
    super::launch::register(ctx, &task_id).await?;
    let task = match tasks::create_job(&o.db, "story", &task_id, &o.user.id, &id, &chosen, r.regenerate, vec![]).await? {
        tasks::Created::Yes(t) => t,
        tasks::Created::Busy => return Err(ApiError::conflict("a job of this story is queued or running")),
    };
    super::launch::launch(ctx, &task).await;
    json_response(202, &json!({ "task_id": task.id }))
}
