//! `stories`, and the chapter rows created with them.

use super::{time, Owner};
use crate::core::book_meta::CoverFacts;
use crate::core::domain::{NewStory, StoryPatch};
use crate::core::neon::{NeonError, Query, QueryResult, Row};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize)]
pub struct Story {
    pub id: String,
    pub title: String,
    pub prompt: String,
    pub num_chapters: u32,
    pub enhance: bool,
    pub config: Map<String, Value>,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    // Book metadata (migration 0009).
    pub author: Option<String>,
    pub cover: Option<CoverFacts>,
    /// Full precision, for page cursors.
    #[serde(skip)]
    pub created_at_exact: DateTime<Utc>,
}

const COLUMNS: &str = "id::text, title, prompt, num_chapters, enhance, config, status, created_at, updated_at, \
    author, cover_type, cover_bytes, cover_sha256";

fn story(r: &Row) -> Result<Story, NeonError> {
    let config = match r.get::<Value>("config")? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(Story {
        id: r.get("id")?,
        title: r.get("title")?,
        prompt: r.get("prompt")?,
        num_chapters: r.get::<i32>("num_chapters")? as u32,
        enhance: r.get("enhance")?,
        config,
        status: r.get("status")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
        author: r.get("author")?,
        cover: cover_from(r)?,
        created_at_exact: r.get("created_at")?,
    })
}

/// The cover columns of a row (all set or all null, a constraint of migration 0009).
pub fn cover_from(r: &Row) -> Result<Option<CoverFacts>, NeonError> {
    Ok(match (r.get::<Option<String>>("cover_type")?, r.get::<Option<i64>>("cover_bytes")?, r.get::<Option<String>>("cover_sha256")?) {
        (Some(content_type), Some(bytes), Some(sha256)) => Some(CoverFacts { content_type, bytes: bytes as u64, sha256 }),
        _ => None,
    })
}

/// The story with its chapter rows, for `owner`: two statements for one transaction (with
/// an unknown key the first inserts nothing, and so does the second).
pub fn create(owner: &Owner, id: &str, s: &NewStory) -> Vec<Query> {
    vec![
        Query::new(format!(
            "INSERT INTO stories (id, user_id, title, prompt, num_chapters, enhance, config, author) \
             SELECT $1, {user}, $3, $4, $5, $6, $7, $8 WHERE {user} IS NOT NULL RETURNING {COLUMNS}",
            user = owner.sql(2)
        ))
        .bind(id)
        .bind(owner.value())
        .bind(&s.title)
        .bind(&s.prompt)
        .bind(s.num_chapters)
        .bind(s.enhance)
        .bind(Value::Object(s.config.clone()))
        .bind(s.author.as_deref()),
        Query::new(
            "INSERT INTO chapters (story_id, number) SELECT $1, n FROM generate_series(1, $2::int) AS n \
             WHERE EXISTS (SELECT 1 FROM stories WHERE id = $1)",
        )
        .bind(id)
        .bind(s.num_chapters),
    ]
}

/// The story `id` if `owner` has it.
pub fn get(owner: &Owner, id: &str) -> Query {
    Query::new(format!("SELECT {COLUMNS} FROM stories WHERE id = $1 AND user_id = {}", owner.sql(2))).bind(id).bind(owner.value())
}

/// The story's book metadata, as its downloads' tags and its feed use it.
impl Story {
    pub fn album(&self) -> crate::core::book_meta::Album {
        crate::core::book_meta::Album { title: self.title.clone(), author: self.author.clone(), num_chapters: self.num_chapters, cover: self.cover.clone() }
    }
}

pub fn from_result(r: &QueryResult) -> Result<Option<Story>, NeonError> {
    r.first().map(|row| story(&row)).transpose()
}

/// One page, newest first; `after` is the last story of the previous page.
pub fn list(owner: &Owner, limit: u32, after: Option<(DateTime<Utc>, String)>) -> Query {
    let user = owner.sql(1);
    match after {
        None => Query::new(format!("SELECT {COLUMNS} FROM stories WHERE user_id = {user} ORDER BY created_at DESC, id DESC LIMIT $2"))
            .bind(owner.value())
            .bind(limit),
        Some((at, id)) => Query::new(format!(
            "SELECT {COLUMNS} FROM stories WHERE user_id = {user} AND (created_at, id) < ($3::timestamptz, $4::uuid) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(owner.value())
        .bind(limit)
        .bind(at)
        .bind(id),
    }
}

pub fn list_from(r: &QueryResult) -> Result<Vec<Story>, NeonError> {
    r.rows().map(|r| story(&r)).collect()
}

/// A PATCH: the title when given ($3 null keeps it), the author when `$4` (set or removed).
pub fn update(owner: &Owner, id: &str, p: &StoryPatch) -> Query {
    Query::new(format!(
        "UPDATE stories SET title = COALESCE($3::text, title), author = CASE WHEN $4::boolean THEN $5::text ELSE author END, updated_at = now() \
         WHERE id = $1 AND user_id = {} RETURNING {COLUMNS}",
        owner.sql(2)
    ))
    .bind(id)
    .bind(owner.value())
    .bind(p.title.as_deref())
    .bind(p.author.is_some())
    .bind(p.author.clone().flatten())
}

// Covers (migration 0009): the row names the object by its hash.

/// Records `owner`'s story's cover; the answer is the story.
pub fn set_cover(owner: &Owner, id: &str, content_type: &str, bytes: u64, sha256: &str) -> Query {
    Query::new(format!(
        "UPDATE stories SET cover_type = $3, cover_bytes = $4, cover_sha256 = $5, updated_at = now() \
         WHERE id = $1 AND user_id = {} RETURNING {COLUMNS}",
        owner.sql(2)
    ))
    .bind(id)
    .bind(owner.value())
    .bind(content_type)
    .bind(bytes as i64)
    .bind(sha256)
}

/// Removes `owner`'s story's cover: one row (`old`, the hash it had or null) when the story
/// is theirs, none otherwise. `old` is read from the row as it was before the update.
pub fn clear_cover(owner: &Owner, id: &str) -> Query {
    Query::new(format!(
        "UPDATE stories s SET cover_type = NULL, cover_bytes = NULL, cover_sha256 = NULL, \
           updated_at = CASE WHEN before.cover_sha256 IS NULL THEN s.updated_at ELSE now() END \
         FROM stories before WHERE before.id = s.id AND s.id = $1 AND s.user_id = {} RETURNING before.cover_sha256 AS old",
        owner.sql(2)
    ))
    .bind(id)
    .bind(owner.value())
}

/// `Some(old hash)` when the story was the caller's.
pub fn cleared_from(r: &QueryResult) -> Result<Option<Option<String>>, NeonError> {
    r.first().map(|row| row.get::<Option<String>>("old")).transpose()
}

pub enum Deleted {
    /// Deleted, or (`deletable`) free to delete.
    Yes,
    NotFound,
    /// A job of the story is queued or running.
    Busy,
}

/// Whether `owner` has story `id` and whether a job of it is active: one row, `busy` null
/// when the story is not theirs.
pub fn deletable(owner: &Owner, id: &str) -> Query {
    Query::new(format!(
        "SELECT (SELECT EXISTS (SELECT 1 FROM tasks t WHERE t.story_id = s.id AND t.status IN ('queued', 'running')) \
           FROM stories s WHERE s.id = $1 AND s.user_id = {}) AS busy",
        owner.sql(2)
    ))
    .bind(id)
    .bind(owner.value())
}

/// Chapters and tasks go with the story (foreign keys cascade); usage rows stay. Not while a
/// job of it is active.
pub fn delete(owner: &Owner, id: &str) -> Query {
    Query::new(format!(
        "WITH target AS (SELECT id, EXISTS (SELECT 1 FROM tasks t WHERE t.story_id = s.id AND t.status IN ('queued', 'running')) AS busy \
           FROM stories s WHERE s.id = $1 AND s.user_id = {}), \
         gone AS (DELETE FROM stories WHERE id IN (SELECT id FROM target WHERE NOT busy) RETURNING id) \
         SELECT (SELECT busy FROM target) AS busy, (SELECT count(*) FROM gone)::int AS deleted",
        owner.sql(2)
    ))
    .bind(id)
    .bind(owner.value())
}

pub fn deletable_from(r: &QueryResult) -> Result<Deleted, NeonError> {
    let row = r.first().ok_or_else(|| NeonError::Decode("no row".into()))?;
    Ok(match row.get::<Option<bool>>("busy")? {
        None => Deleted::NotFound,
        Some(true) => Deleted::Busy,
        Some(false) => Deleted::Yes,
    })
}

pub fn deleted_from(r: &QueryResult) -> Result<Deleted, NeonError> {
    let row = r.first().ok_or_else(|| NeonError::Decode("no row".into()))?;
    Ok(match (row.get::<Option<bool>>("busy")?, row.get::<i32>("deleted")?) {
        (None, _) => Deleted::NotFound,
        (_, 1) => Deleted::Yes,
        _ => Deleted::Busy,
    })
}
