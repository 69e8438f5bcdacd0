//! Budgets on the API side: the read that rides in a route's first batch, the 402 a job
//! start gets when its estimate does not fit, and the story job's estimate in USD.

use super::{ApiError, Ctx};
use crate::core::budget::{self, estimate, Amounts, Budget, Limits};
use crate::core::domain::UsageRange;
use crate::core::neon::{Query, QueryResult};
use crate::db::{budgets, stories, Owner};
use crate::settings::JobSettings;
use serde_json::json;
use worker::Request;

pub fn defaults(ctx: &Ctx) -> Result<Limits, ApiError> {
    crate::settings::budget_defaults(&ctx.env).map_err(|m| {
        crate::log::error("settings_invalid", json!({ "reason": m }));
        ApiError::unavailable("budgets are not configured correctly yet", 60)
    })
}

/// The statement that reads `owner`'s budget this month, for a route's batch.
pub fn read(owner: &Owner) -> (UsageRange, Query) {
    let period = budget::period(chrono::Utc::now());
    let q = budgets::state(owner, &period);
    (period, q)
}

/// The budget from `read`'s result.
pub fn decode(ctx: &Ctx, r: Option<&QueryResult>, period: UsageRange) -> Result<Budget, ApiError> {
    budgets::decode(r.ok_or_else(ApiError::internal)?, defaults(ctx)?, period)?.ok_or_else(|| ApiError::unauthorized("invalid API key"))
}

/// `stories::owned` for a job start: the caller's budget this month is read after `more`'s
/// statements, in the same round trip (so it is the last of `Owned::results`).
pub async fn owned_with_budget(
    req: &Request,
    ctx: &Ctx,
    id: &str,
    more: impl FnOnce(&str) -> Vec<Query>,
) -> Result<(super::stories::Owned, Budget), ApiError> {
    let mut period = None;
    let o = super::stories::owned(req, ctx, id, |id, me| {
        let (p, budget) = read(me);
        period = Some(p);
        let mut batch = more(id);
        batch.push(budget);
        batch
    })
    .await?;
    let budget = decode(ctx, o.results.last(), period.ok_or_else(ApiError::internal)?)?;
    Ok((o, budget))
}

/// 402 `budget_exceeded`, with the budget and the estimate, when `need` does not fit.
pub fn check(b: &Budget, need: &Amounts) -> Result<(), ApiError> {
    b.check(need).map_err(|e| {
        ApiError::budget_exceeded(e.start_message())
            .with("resource", json!(e.resource.name()))
            .with("budget", b.to_json())
            .with("estimate", need.to_json())
    })
}

/// The story job's upper bound (core::budget::estimate) in tokens and USD.
pub fn story_estimate(ctx: &Ctx, story: &stories::Story, chapters: &[u32]) -> Result<Amounts, ApiError> {
    let jobs = JobSettings::from_env(&ctx.env).map_err(|m| {
        crate::log::error("settings_missing", json!({ "reason": m }));
        ApiError::unavailable("story generation is not configured yet", 60)
    })?;
    let facts = estimate::StoryFacts {
        title: &story.title,
        prompt: &story.prompt,
        config: &story.config,
        num_chapters: story.num_chapters,
        enhance: story.enhance,
    };
    Ok(estimate::story_job(&jobs.llm, &facts, chapters).amounts(&jobs.prices, &jobs.llm.model))
}
