//! `usage_log`: one row per provider call, and the sums `GET /usage` reports.

use super::Owner;
use crate::core::cost::round_usd;
use crate::core::neon::{NeonError, Query, QueryResult};
use chrono::{DateTime, Utc};

pub struct LlmCall<'a> {
    pub user_id: &'a str,
    pub story_id: &'a str,
    pub task_id: &'a str,
    pub model: &'a str,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub cost_usd: f64,
    /// Names the call, so a replayed write cannot log it twice.
    pub key: String,
}

pub fn log_llm(c: &LlmCall) -> Query {
    Query::new(
        "INSERT INTO usage_log (user_id, story_id, task_id, kind, model, prompt_tokens, completion_tokens, cost_usd, idempotency_key) \
         VALUES ($1, $2, $3, 'llm', $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(c.user_id)
    .bind(c.story_id)
    .bind(c.task_id)
    .bind(c.model)
    .bind(c.prompt_tokens)
    .bind(c.completion_tokens)
    .bind(round_usd(c.cost_usd))
    .bind(c.key.as_str())
}

pub struct Totals {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub characters: i64,
    pub cost_usd: f64,
}

pub fn totals(owner: &Owner, from: DateTime<Utc>, to: DateTime<Utc>) -> Query {
    Query::new(format!(
        "SELECT COALESCE(sum(prompt_tokens), 0)::bigint AS p, COALESCE(sum(completion_tokens), 0)::bigint AS c, \
           COALESCE(sum(characters), 0)::bigint AS ch, COALESCE(sum(cost_usd), 0)::numeric AS cost \
         FROM usage_log WHERE user_id = {} AND created_at >= $2 AND created_at < $3",
        owner.sql(1)
    ))
    .bind(owner.value())
    .bind(from)
    .bind(to)
}

pub fn totals_from(r: &QueryResult) -> Result<Totals, NeonError> {
    let row = r.first().ok_or_else(|| NeonError::Decode("no row".into()))?;
    Ok(Totals {
        prompt_tokens: row.get("p")?,
        completion_tokens: row.get("c")?,
        characters: row.get("ch")?,
        cost_usd: row.get("cost")?,
    })
}

pub fn log_tts(user_id: &str, story_id: &str, task_id: &str, model: &str, characters: u64, cost_usd: f64, key: String) -> Query {
    Query::new(
        "INSERT INTO usage_log (user_id, story_id, task_id, kind, model, characters, cost_usd, idempotency_key) \
         VALUES ($1, $2, $3, 'tts', $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(user_id)
    .bind(story_id)
    .bind(task_id)
    .bind(model)
    .bind(characters as i64)
    .bind(round_usd(cost_usd))
    .bind(key)
}
