//! The writes that change an input of a story's clips (a chapter's edited script, the voices,
//! the pronunciations), each with the chapters' new fingerprints, as one guarded batch.
//!
//! The route reads the story first (its scripts, voice maps, pronunciations and
//! `inputs_token`), computes every chapter's fingerprint for the new state, and sends
//! [`claim`] first in its write batch: it changes the token only if nobody changed an input
//! since the read and no job of the story is queued or running. Every later statement of the
//! batch applies only under the new token, so a batch that lost the race changes nothing and
//! the route answers 409.

use super::chapters::int_array;
use crate::core::neon::{NeonError, Param, Query, QueryResult};
use crate::core::script::Script;
use std::collections::BTreeMap;

/// Statements after the claim apply only under the new token (`$2` of each).
const CLAIMED: &str = "EXISTS (SELECT 1 FROM stories WHERE id = $1 AND inputs_token = $2)";

/// Takes the story's inputs from `read_token` (as read) to `new_token`, unless a job of it
/// is queued or running. Returns a row when it did.
pub fn claim(story_id: &str, read_token: &str, new_token: &str) -> Query {
    Query::new(
        "UPDATE stories s SET inputs_token = $3, updated_at = now() WHERE id = $1 AND inputs_token = $2 \
           AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.story_id = s.id AND t.status IN ('queued', 'running')) RETURNING id",
    )
    .bind(story_id)
    .bind(read_token)
    .bind(new_token)
}

pub fn claimed(r: &QueryResult) -> bool {
    r.first().is_some()
}

/// The token as [`super::audio::voices`] read it.
pub fn token_from(r: &QueryResult) -> Result<(String, bool), NeonError> {
    let row = r.first().ok_or_else(|| NeonError::Decode("no story".into()))?;
    Ok((row.get("inputs_token")?, row.get("busy")?))
}

/// Sets chapter `number`'s edited script (`None`: back to the generated one); its title
/// follows the script voiced.
pub fn set_edited(story_id: &str, new_token: &str, number: u32, edited: Option<&Script>) -> Query {
    Query::new(format!(
        "UPDATE chapters SET edited = $4::jsonb, title = COALESCE($4::jsonb ->> 'title', enhanced ->> 'title', script ->> 'title', title), \
           updated_at = now() WHERE story_id = $1 AND number = $3 AND script IS NOT NULL AND {CLAIMED}"
    ))
    .bind(story_id)
    .bind(new_token)
    .bind(number)
    .bind(edited.map(|s| serde_json::to_value(s).unwrap_or_default()))
}

/// Every chapter's current fingerprint (chapters without a script: none).
pub fn set_fingerprints(story_id: &str, new_token: &str, fingerprints: &[(u32, String)]) -> Query {
    let numbers: Vec<u32> = fingerprints.iter().map(|(n, _)| *n).collect();
    let fps = Param::TextArray(fingerprints.iter().map(|(_, f)| Some(f.clone())).collect());
    Query::new(format!(
        "UPDATE chapters c SET script_fingerprint = u.fp FROM unnest($3::int[], $4::text[]) AS u(number, fp) \
         WHERE c.story_id = $1 AND c.number = u.number AND {CLAIMED}"
    ))
    .bind(story_id)
    .bind(new_token)
    .bind(int_array(&numbers))
    .bind(fps)
}

pub fn set_voices(story_id: &str, new_token: &str, overrides: &BTreeMap<String, String>) -> Query {
    Query::new(format!("UPDATE stories SET voices = $3 WHERE id = $1 AND {CLAIMED}"))
        .bind(story_id)
        .bind(new_token)
        .bind(serde_json::to_value(overrides).unwrap_or_default())
}

pub fn set_pronunciations(story_id: &str, new_token: &str, map: &BTreeMap<String, String>) -> Query {
    Query::new(format!("UPDATE stories SET pronunciations = $3 WHERE id = $1 AND {CLAIMED}"))
        .bind(story_id)
        .bind(new_token)
        .bind(serde_json::to_value(map).unwrap_or_default())
}

pub fn pronunciations(story_id: &str) -> Query {
    Query::new("SELECT pronunciations FROM stories WHERE id = $1").bind(story_id)
}
