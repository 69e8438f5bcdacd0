//! `user_budgets` (the admin's overrides) and the budget state read with them: limits and
//! this period's usage in one statement, so it can ride in any batch (a route's, or a job
//! step's lease renewal) without a round trip of its own.

use super::Owner;
use crate::core::budget::{Amounts, Budget, Limits, Overrides};
use crate::core::domain::UsageRange;
use crate::core::neon::{NeonError, Query, QueryResult};

/// The owner's overrides and usage in `period`: one row, or none when the owner names no user.
/// Placed after a batch's usage inserts, it counts them too (same transaction).
pub fn state(owner: &Owner, period: &UsageRange) -> Query {
    Query::new(format!(
        "SELECT COALESCE((SELECT b.overrides FROM user_budgets b WHERE b.user_id = u.id), '{{}}'::jsonb) AS overrides, \
           COALESCE(sum(l.prompt_tokens::bigint + l.completion_tokens), 0)::bigint AS llm_tokens, \
           COALESCE(sum(l.characters), 0)::bigint AS tts_characters, \
           COALESCE(sum(l.cost_usd), 0)::numeric AS usd \
         FROM users u LEFT JOIN usage_log l ON l.user_id = u.id AND l.created_at >= $2 AND l.created_at < $3 \
         WHERE u.id = {} GROUP BY u.id",
        owner.sql(1)
    ))
    .bind(owner.value())
    .bind(period.from)
    .bind(period.to)
}

/// The budget from `state`'s result, with `defaults` where nothing is overridden; None when
/// the owner named no user.
pub fn decode(r: &QueryResult, defaults: Limits, period: UsageRange) -> Result<Option<Budget>, NeonError> {
    let Some(row) = r.first() else { return Ok(None) };
    let overrides = Overrides::from_stored(&row.get::<serde_json::Value>("overrides")?);
    let used = Amounts {
        llm_tokens: row.get::<i64>("llm_tokens")?.max(0) as u64,
        tts_characters: row.get::<i64>("tts_characters")?.max(0) as u64,
        usd: row.get("usd")?,
    };
    Ok(Some(Budget { period, limits: defaults.with(&overrides), used }))
}

/// Replaces the user's overrides whole; no row for an unknown user.
pub fn set_overrides(user_id: &str, o: &Overrides) -> Query {
    Query::new(
        "INSERT INTO user_budgets (user_id, overrides) SELECT id, $2 FROM users WHERE id = $1::uuid \
         ON CONFLICT (user_id) DO UPDATE SET overrides = EXCLUDED.overrides, updated_at = now() RETURNING user_id::text",
    )
    .bind(user_id)
    .bind(o.to_json())
}
