//! The audio columns of `chapters`, and the story's voice maps.

use super::{chapters::int_array, tasks::Lease};
use crate::core::neon::{NeonError, Query, QueryResult, Row};
use crate::core::script::Script;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Frame facts of a chapter MP3, stored with it so the book's header needs no audio read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioMeta {
    pub frames: u64,
    pub header_len: u64,
    pub sample_rate: u32,
    pub channels: u8,
    pub mpeg_version: String,
    pub bitrate_kbps: u32,
}

/// A chapter as the audio job and the dry run see it.
#[derive(Debug, Clone)]
pub struct AudioSource {
    pub number: u32,
    /// The script the audio job voices: the edited one, else the enhanced one, else the script.
    pub script: Option<Script>,
    /// While a person's edit is voiced: the generated script it replaced (enhanced, else the
    /// script), which `DELETE .../script` returns to.
    pub generated: Option<Script>,
    pub audio_task: Option<String>,
    /// The chapter MP3 it has now, if any.
    pub audio_key: Option<String>,
}

pub fn sources(story_id: &str, numbers: Option<&[u32]>) -> Query {
    match numbers {
        Some(ns) => Query::new(
            "SELECT number, COALESCE(edited, enhanced, script) AS best, \
               CASE WHEN edited IS NOT NULL THEN COALESCE(enhanced, script) END AS generated, audio_task_id::text AS audio_task, audio_key \
             FROM chapters WHERE story_id = $1 AND number = ANY($2) ORDER BY number",
        )
        .bind(story_id)
        .bind(int_array(ns)),
        None => Query::new(
            "SELECT number, COALESCE(edited, enhanced, script) AS best, \
               CASE WHEN edited IS NOT NULL THEN COALESCE(enhanced, script) END AS generated, audio_task_id::text AS audio_task, audio_key \
             FROM chapters WHERE story_id = $1 ORDER BY number",
        )
        .bind(story_id),
    }
}

pub fn sources_from(r: &QueryResult) -> Result<Vec<AudioSource>, NeonError> {
    r.rows()
        .map(|r| {
            Ok(AudioSource {
                number: r.get::<i32>("number")? as u32,
                script: r.get::<Option<Value>>("best")?.and_then(|v| serde_json::from_value(v).ok()),
                generated: r.get::<Option<Value>>("generated")?.and_then(|v| serde_json::from_value(v).ok()),
                audio_task: r.get("audio_task")?,
                audio_key: r.get("audio_key")?,
            })
        })
        .collect()
}

pub struct StoredAudio<'a> {
    pub key: &'a str,
    pub duration_ms: u64,
    pub bytes: u64,
    pub characters: u64,
    pub meta: &'a AudioMeta,
    /// `core::clip_plan::fingerprint` of the clips it was made from.
    pub fingerprint: &'a str,
}

/// Records a chapter's MP3, only while the step still holds its lease (a cancelled task's or
/// a taken-over delivery's late write is dropped). The chapter's current fingerprint becomes the
/// audio's: no input can change while the job runs (those writes answer 409 then).
pub fn store(story_id: &str, number: u32, lease: &Lease, a: &StoredAudio) -> Query {
    Query::new(
        "UPDATE chapters SET audio_key = $4, audio_duration_ms = $5, audio_bytes = $6, audio_characters = $7, audio_meta = $8, \
           audio_task_id = $3, audio_fingerprint = $10, script_fingerprint = $10, status = 'audio_ready', previous_status = NULL, error = NULL, updated_at = now() \
         WHERE story_id = $1 AND number = $2 AND EXISTS (SELECT 1 FROM tasks WHERE id = $3 AND lease_token = $9 AND status = 'running')",
    )
    .bind(story_id)
    .bind(number)
    .bind(&lease.task_id)
    .bind(a.key)
    .bind(a.duration_ms as i64)
    .bind(a.bytes as i64)
    .bind(a.characters as i64)
    .bind(serde_json::to_value(a.meta).unwrap_or_default())
    .bind(&lease.token)
    .bind(a.fingerprint)
}

#[derive(Debug, Clone)]
pub struct ChapterAudio {
    pub number: u32,
    pub title: Option<String>,
    pub key: String,
    pub bytes: u64,
    pub meta: AudioMeta,
}

fn chapter_audio(r: &Row) -> Result<ChapterAudio, NeonError> {
    Ok(ChapterAudio {
        number: r.get::<i32>("number")? as u32,
        title: r.get("title")?,
        key: r.get("audio_key")?,
        bytes: r.get::<i64>("audio_bytes")? as u64,
        meta: serde_json::from_value(r.get::<Value>("audio_meta")?).map_err(|e| NeonError::Decode(e.to_string()))?,
    })
}

const AUDIO_COLUMNS: &str = "number, title, audio_key, audio_bytes, audio_meta";

/// Chapters that have audio, in order.
pub fn with_audio(story_id: &str) -> Query {
    Query::new(format!(
        "SELECT {AUDIO_COLUMNS} FROM chapters WHERE story_id = $1 AND audio_key IS NOT NULL AND audio_meta IS NOT NULL ORDER BY number"
    ))
    .bind(story_id)
}

pub fn with_audio_from(r: &QueryResult) -> Result<Vec<ChapterAudio>, NeonError> {
    r.rows().map(|r| chapter_audio(&r)).collect()
}

pub fn of_chapter(story_id: &str, number: u32) -> Query {
    Query::new(format!(
        "SELECT {AUDIO_COLUMNS} FROM chapters WHERE story_id = $1 AND number = $2 AND audio_key IS NOT NULL AND audio_meta IS NOT NULL"
    ))
    .bind(story_id)
    .bind(number)
}

pub fn chapter_audio_from(r: &QueryResult) -> Result<Option<ChapterAudio>, NeonError> {
    r.first().map(|row| chapter_audio(&row)).transpose()
}

pub type VoiceMap = BTreeMap<String, String>;

/// The story's overrides and assigned voices, its pronunciations, the token of its last input
/// change (`db::editing`) and whether a job of it is queued or running.
pub fn voices(story_id: &str) -> Query {
    Query::new(
        "SELECT voices, assigned_voices, pronunciations, inputs_token, \
           EXISTS (SELECT 1 FROM tasks t WHERE t.story_id = s.id AND t.status IN ('queued', 'running')) AS busy \
         FROM stories s WHERE id = $1",
    )
    .bind(story_id)
}

/// The pronunciations from the result of [`voices`].
pub fn pronunciations_from(r: &QueryResult) -> Result<VoiceMap, NeonError> {
    let row = r.first().ok_or_else(|| NeonError::Decode("no story".into()))?;
    serde_json::from_value::<VoiceMap>(row.get("pronunciations")?).map_err(|e| NeonError::Decode(e.to_string()))
}

pub fn voices_from(r: &QueryResult) -> Result<(VoiceMap, VoiceMap), NeonError> {
    let row = r.first().ok_or_else(|| NeonError::Decode("no story".into()))?;
    let map = |v: Value| serde_json::from_value::<VoiceMap>(v).map_err(|e| NeonError::Decode(e.to_string()));
    Ok((map(row.get("voices")?)?, map(row.get("assigned_voices")?)?))
}

pub fn set_assigned(story_id: &str, assigned: &VoiceMap) -> Query {
    Query::new("UPDATE stories SET assigned_voices = $2 WHERE id = $1").bind(story_id).bind(serde_json::to_value(assigned).unwrap_or_default())
}
