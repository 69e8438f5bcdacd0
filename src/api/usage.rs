//! `GET /api/v1/usage`: the caller's token, character and cost totals over a time range.

use super::{auth, json_response, query_pairs, ApiError, Ctx};
use crate::core::cost::round_usd;
use crate::core::domain::UsageRange;
use crate::db::usage;
use serde_json::json;
use worker::{Request, Response};

pub async fn get(req: &Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    let range = UsageRange::from_query(&query_pairs(req)?, chrono::Utc::now())?;
    let (_, results) = auth::batch(&ctx.db()?, &caller, vec![usage::totals(&caller.owner(), range.from, range.to)]).await?;
    let t = usage::totals_from(&results[0])?;
    json_response(
        200,
        &json!({
            "llm": { "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens },
            "tts": { "characters": t.characters },
            "estimated_cost_usd": round_usd(t.cost_usd),
            "from": range.from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "to": range.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    )
}
