//! `chapters`: the record of each chapter's work.

use super::{tasks::Lease, Db};
use crate::core::neon::{NeonError, Param, Query, QueryResult, Row};
use crate::core::script::Script;
use crate::core::task::ChapterWork;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct ChapterSummary {
    pub number: u32,
    pub title: Option<String>,
    pub status: String,
    pub error: Option<Value>,
    pub audio: Option<Value>,
    /// The voiced script, the voices or the pronunciations changed since the audio was made.
    pub audio_stale: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChapterDetail {
    #[serde(flatten)]
    pub summary: ChapterSummary,
    pub script: Option<Value>,
    pub enhanced: Option<Value>,
    pub edited: Option<Value>,
    pub summary_text: Option<String>,
}

impl ChapterDetail {
    /// The contract calls the summary text `summary`; the struct cannot, as it flattens the
    /// chapter summary object.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            let text = o.remove("summary_text").unwrap_or(Value::Null);
            o.insert("summary".into(), text);
        }
        v
    }
}

/// `audio_stale` compares two stored fingerprints (migration 0008), so a status poll reads no
/// script.
const SUMMARY_COLUMNS: &str = "number, title, status, error, audio_duration_ms, audio_bytes, \
     (audio_key IS NOT NULL AND script_fingerprint IS DISTINCT FROM audio_fingerprint) AS audio_stale";

fn summary(r: &Row) -> Result<ChapterSummary, NeonError> {
    let audio = match (r.get::<Option<i64>>("audio_duration_ms")?, r.get::<Option<i64>>("audio_bytes")?) {
        (Some(ms), Some(bytes)) => Some(json!({ "duration_ms": ms, "bytes": bytes })),
        _ => None,
    };
    Ok(ChapterSummary {
        number: r.get::<i32>("number")? as u32,
        title: r.get("title")?,
        status: r.get("status")?,
        error: r.get("error")?,
        audio,
        audio_stale: r.get("audio_stale")?,
    })
}

pub fn summaries(story_id: &str) -> Query {
    Query::new(format!("SELECT {SUMMARY_COLUMNS} FROM chapters WHERE story_id = $1 ORDER BY number")).bind(story_id)
}

pub fn summaries_from(r: &QueryResult) -> Result<Vec<ChapterSummary>, NeonError> {
    r.rows().map(|r| summary(&r)).collect()
}

pub fn detail(story_id: &str, number: u32) -> Query {
    Query::new(format!("SELECT {SUMMARY_COLUMNS}, script, enhanced, edited, summary FROM chapters WHERE story_id = $1 AND number = $2"))
        .bind(story_id)
        .bind(number)
}

pub fn detail_from(r: &QueryResult) -> Result<Option<ChapterDetail>, NeonError> {
    r.first()
        .map(|row| {
            Ok(ChapterDetail {
                summary: summary(&row)?,
                script: row.get("script")?,
                enhanced: row.get("enhanced")?,
                edited: row.get("edited")?,
                summary_text: row.get("summary")?,
            })
        })
        .transpose()
}

/// `(number, status)` of every chapter of the story, in chapter order.
pub fn statuses(story_id: &str) -> Query {
    Query::new("SELECT number, status FROM chapters WHERE story_id = $1 ORDER BY number").bind(story_id)
}

pub fn statuses_from(r: &QueryResult) -> Result<Vec<(u32, String)>, NeonError> {
    r.rows().map(|r| Ok((r.get::<i32>("number")? as u32, r.get("status")?))).collect()
}

pub fn int_array(ns: &[u32]) -> Param {
    Param::TextArray(ns.iter().map(|n| Some(n.to_string())).collect())
}

/// A chapter as the story job sees it.
#[derive(Debug, Clone)]
pub struct ChapterRow {
    pub work: ChapterWork,
    pub script: Option<Script>,
    pub enhanced: Option<Script>,
}

impl ChapterRow {
    /// The enhanced script when there is one: it is what the chapter is from then on.
    pub fn best_script(&self) -> Option<&Script> {
        self.enhanced.as_ref().or(self.script.as_ref())
    }
}

pub async fn for_job(db: &Db, story_id: &str, numbers: &[u32]) -> Result<Vec<ChapterRow>, NeonError> {
    let r = db
        .query(
            &Query::new(
                "SELECT number, script, enhanced, summary IS NOT NULL AS has_summary, task_id::text AS task_id \
                 FROM chapters WHERE story_id = $1 AND number = ANY($2)",
            )
            .bind(story_id)
            .bind(int_array(numbers)),
        )
        .await?;
    let mut rows: Vec<ChapterRow> = r
        .rows()
        .map(|row| {
            let script: Option<Script> = row.get::<Option<Value>>("script")?.and_then(|v| serde_json::from_value(v).ok());
            let enhanced: Option<Script> = row.get::<Option<Value>>("enhanced")?.and_then(|v| serde_json::from_value(v).ok());
            Ok(ChapterRow {
                work: ChapterWork {
                    number: row.get::<i32>("number")? as u32,
                    has_script: script.is_some(),
                    has_enhanced: enhanced.is_some(),
                    has_summary: row.get("has_summary")?,
                    script_task: row.get("task_id")?,
                },
                script,
                enhanced,
            })
        })
        .collect::<Result<_, NeonError>>()?;
    // The task's order, not the table's.
    rows.sort_by_key(|c| numbers.iter().position(|n| *n == c.work.number));
    Ok(rows)
}

/// Summaries of every chapter before `number`, in order, for the next prompt's context; and,
/// in the same round trip, the story's voice maps and pronunciations (`audio::voices`), for
/// the fingerprint of a script the step stores.
pub async fn earlier_summaries(db: &Db, story_id: &str, number: u32) -> Result<(Vec<(u32, String)>, QueryResult), NeonError> {
    let mut r = db
        .transaction(
            &[
                Query::new("SELECT number, summary FROM chapters WHERE story_id = $1 AND number < $2 AND summary IS NOT NULL ORDER BY number")
                    .bind(story_id)
                    .bind(number),
                super::audio::voices(story_id),
            ],
            None,
        )
        .await?;
    let cast = r.pop().ok_or_else(|| NeonError::Decode("no voices".into()))?;
    let summaries = r[0].rows().map(|r| Ok((r.get::<i32>("number")? as u32, r.get("summary")?))).collect::<Result<_, NeonError>>()?;
    Ok((summaries, cast))
}

/// Statements below change a chapter only while the step holding `lease` still holds it, so
/// a cancelled task's or a taken-over delivery's late answer is dropped instead of
/// overwriting what came after. Task id is `$3`; `token` is the token's parameter.
fn held(token: u8) -> String {
    format!("EXISTS (SELECT 1 FROM tasks WHERE id = $3 AND lease_token = ${token} AND status = 'running')")
}

pub fn mark_working(story_id: &str, number: u32, lease: &Lease, status: &str) -> Query {
    Query::new(format!(
        "UPDATE chapters SET previous_status = CASE WHEN status IN ('generating_script', 'enhancing', 'generating_audio') \
           THEN previous_status ELSE status END, status = $4, error = NULL, updated_at = now() \
         WHERE story_id = $1 AND number = $2 AND {}",
        held(5)
    ))
    .bind(story_id)
    .bind(number)
    .bind(&lease.task_id)
    .bind(status)
    .bind(&lease.token)
}

/// A new script replaces the chapter's later work: the enhanced script, a person's edit and the
/// summary belonged to the old one. `fingerprint` is the new script's (`core::clip_plan`).
pub fn store_script(story_id: &str, number: u32, lease: &Lease, script: &Script, fingerprint: &str) -> Query {
    Query::new(format!(
        "UPDATE chapters SET script = $4, title = $5, enhanced = NULL, edited = NULL, \
           script_fingerprint = $7, summary = NULL, task_id = $3, status = 'script_ready', \
           previous_status = NULL, error = NULL, updated_at = now() \
         WHERE story_id = $1 AND number = $2 AND {}",
        held(6)
    ))
    .bind(story_id)
    .bind(number)
    .bind(&lease.task_id)
    .bind(serde_json::to_value(script).unwrap_or_default())
    .bind(&script.title)
    .bind(&lease.token)
    .bind(fingerprint)
}

/// The enhanced script is voiced from now on unless a person's edit is (then nothing voiced
/// changed); `fingerprint` is the enhanced script's.
pub fn store_enhanced(story_id: &str, number: u32, lease: &Lease, script: &Script, fingerprint: &str) -> Query {
    Query::new(format!(
        "UPDATE chapters SET enhanced = $4, title = CASE WHEN edited IS NULL THEN $5 ELSE title END, \
           script_fingerprint = CASE WHEN edited IS NULL THEN $7 ELSE script_fingerprint END, summary = NULL, status = 'enhanced', previous_status = NULL, \
           error = NULL, updated_at = now() \
         WHERE story_id = $1 AND number = $2 AND {}",
        held(6)
    ))
    .bind(story_id)
    .bind(number)
    .bind(&lease.task_id)
    .bind(serde_json::to_value(script).unwrap_or_default())
    .bind(&script.title)
    .bind(&lease.token)
    .bind(fingerprint)
}

pub fn store_summary(story_id: &str, number: u32, lease: &Lease, summary: &str) -> Query {
    Query::new(format!(
        "UPDATE chapters SET summary = $4, updated_at = now() WHERE story_id = $1 AND number = $2 AND {}",
        held(5)
    ))
    .bind(story_id)
    .bind(number)
    .bind(&lease.task_id)
    .bind(summary)
    .bind(&lease.token)
}
