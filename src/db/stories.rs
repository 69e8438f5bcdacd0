//! `stories`, and the chapter rows created with them.

use super::{time, Db};
use crate::core::domain::NewStory;
use crate::core::neon::{NeonError, Query, Row};
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
    /// Full precision, for page cursors.
    #[serde(skip)]
    pub created_at_exact: DateTime<Utc>,
}

const COLUMNS: &str = "id::text, title, prompt, num_chapters, enhance, config, status, created_at, updated_at";

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
        created_at_exact: r.get("created_at")?,
    })
}

pub async fn create(db: &Db, user_id: &str, id: &str, s: &NewStory) -> Result<Story, NeonError> {
    let results = db
        .transaction(
            &[
                Query::new(format!(
                    "INSERT INTO stories (id, user_id, title, prompt, num_chapters, enhance, config) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
                ))
                .bind(id)
                .bind(user_id)
                .bind(&s.title)
                .bind(&s.prompt)
                .bind(s.num_chapters)
                .bind(s.enhance)
                .bind(Value::Object(s.config.clone())),
                Query::new("INSERT INTO chapters (story_id, number) SELECT $1, n FROM generate_series(1, $2::int) AS n")
                    .bind(id)
                    .bind(s.num_chapters),
            ],
            None,
        )
        .await?;
    story(&results[0].first().ok_or_else(|| NeonError::Decode("INSERT returned no row".into()))?)
}

pub async fn get(db: &Db, user_id: &str, id: &str) -> Result<Option<Story>, NeonError> {
    let r = db
        .query(&Query::new(format!("SELECT {COLUMNS} FROM stories WHERE id = $1 AND user_id = $2")).bind(id).bind(user_id))
        .await?;
    r.first().map(|row| story(&row)).transpose()
}

/// One page, newest first; `after` is the last story of the previous page.
pub async fn list(db: &Db, user_id: &str, limit: u32, after: Option<(DateTime<Utc>, String)>) -> Result<Vec<Story>, NeonError> {
    let q = match after {
        None => Query::new(format!(
            "SELECT {COLUMNS} FROM stories WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit),
        Some((at, id)) => Query::new(format!(
            "SELECT {COLUMNS} FROM stories WHERE user_id = $1 AND (created_at, id) < ($3::timestamptz, $4::uuid) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .bind(at)
        .bind(id),
    };
    db.query(&q).await?.rows().map(|r| story(&r)).collect()
}

pub async fn update_title(db: &Db, user_id: &str, id: &str, title: &str) -> Result<Option<Story>, NeonError> {
    let r = db
        .query(
            &Query::new(format!(
                "UPDATE stories SET title = $3, updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
            ))
            .bind(id)
            .bind(user_id)
            .bind(title),
        )
        .await?;
    r.first().map(|row| story(&row)).transpose()
}

pub enum Deleted {
    Yes,
    NotFound,
    /// A job of the story is queued or running.
    Busy,
}

/// Chapters and tasks go with the story (foreign keys cascade); usage rows stay.
pub async fn delete(db: &Db, user_id: &str, id: &str) -> Result<Deleted, NeonError> {
    let r = db
        .query(
            &Query::new(
                "WITH target AS (SELECT id, EXISTS (SELECT 1 FROM tasks t WHERE t.story_id = s.id AND t.status IN ('queued', 'running')) AS busy \
                   FROM stories s WHERE s.id = $1 AND s.user_id = $2), \
                 gone AS (DELETE FROM stories WHERE id IN (SELECT id FROM target WHERE NOT busy) RETURNING id) \
                 SELECT (SELECT busy FROM target) AS busy, (SELECT count(*) FROM gone)::int AS deleted",
            )
            .bind(id)
            .bind(user_id),
        )
        .await?;
    let row = r.first().ok_or_else(|| NeonError::Decode("no row".into()))?;
    Ok(match (row.get::<Option<bool>>("busy")?, row.get::<i32>("deleted")?) {
        (None, _) => Deleted::NotFound,
        (_, 1) => Deleted::Yes,
        _ => Deleted::Busy,
    })
}
