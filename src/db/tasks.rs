//! `tasks`: the durable record of each job, and the step claim that makes a queue message's
//! work happen once.

use super::{chapters, time, Db};
use crate::core::neon::{NeonError, Query, Row};
use crate::core::task::{ErrorInfo, TaskChapter, TaskStatus, TaskView};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: String,
    pub user_id: String,
    pub story_id: String,
    pub kind: String,
    pub status: TaskStatus,
    pub chapters: Vec<u32>,
    pub regenerate: bool,
    pub progress: u8,
    pub message: String,
    pub result: Option<Value>,
    pub error: Option<ErrorInfo>,
    pub transient_failures: u32,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id::text, user_id::text, story_id::text, kind, status, chapters, regenerate, progress, message, \
                       result, error, transient_failures, created_at, updated_at";

fn task(r: &Row) -> Result<TaskRow, NeonError> {
    let status: String = r.get("status")?;
    Ok(TaskRow {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        story_id: r.get("story_id")?,
        kind: r.get("kind")?,
        status: TaskStatus::parse(&status).ok_or_else(|| NeonError::Decode(format!("task status {status}")))?,
        chapters: r.get::<Vec<i64>>("chapters")?.into_iter().map(|n| n as u32).collect(),
        regenerate: r.get("regenerate")?,
        progress: r.get::<i32>("progress")? as u8,
        message: r.get("message")?,
        result: r.get("result")?,
        error: r.get::<Option<Value>>("error")?.and_then(|v| serde_json::from_value(v).ok()),
        transient_failures: r.get::<i32>("transient_failures")? as u32,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn one(r: crate::core::neon::QueryResult) -> Result<Option<TaskRow>, NeonError> {
    r.first().map(|row| task(&row)).transpose()
}

impl TaskRow {
    /// The API's view of the task, with its chapters' current statuses.
    pub async fn view(&self, db: &Db) -> Result<TaskView, NeonError> {
        let statuses = chapters::statuses(db, &self.story_id, Some(&self.chapters)).await?;
        Ok(TaskView {
            id: self.id.clone(),
            kind: self.kind.clone(),
            story_id: self.story_id.clone(),
            status: self.status,
            progress: self.progress,
            message: self.message.clone(),
            chapters: self
                .chapters
                .iter()
                .map(|n| TaskChapter {
                    number: *n,
                    status: statuses.iter().find(|(m, _)| m == n).map(|(_, s)| s.clone()).unwrap_or_default(),
                })
                .collect(),
            result: self.result.clone(),
            error: self.error.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        })
    }
}

pub enum Created {
    Yes(TaskRow),
    /// Another job of the story is queued or running (the partial unique index said so).
    Busy,
}

/// A new job: the task row and, for a story job, the story marked `generating`, in one
/// transaction. `extra` runs in the same transaction (e.g. the audio job's voice assignments).
pub async fn create_job(
    db: &Db,
    kind: &str,
    id: &str,
    user_id: &str,
    story_id: &str,
    chapters_: &[u32],
    regenerate: bool,
    extra: Vec<Query>,
) -> Result<Created, NeonError> {
    let mut batch = vec![
        Query::new(format!(
            "INSERT INTO tasks (id, user_id, story_id, kind, chapters, regenerate) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(user_id)
        .bind(story_id)
        .bind(kind)
        .bind(chapters::int_array(chapters_))
        .bind(regenerate),
        Query::new("UPDATE stories SET status = 'generating', updated_at = now() WHERE id = $1 AND $2 = 'story'").bind(story_id).bind(kind),
    ];
    batch.extend(extra);
    let result = db.transaction(&batch, None).await;
    match result {
        Ok(rs) => Ok(Created::Yes(one(rs.into_iter().next().unwrap_or_else(empty))?.ok_or_else(|| NeonError::Decode("no row".into()))?)),
        Err(e) if e.is_unique_violation() => Ok(Created::Busy),
        Err(e) => Err(e),
    }
}

fn empty() -> crate::core::neon::QueryResult {
    crate::core::neon::QueryResult { fields: vec![], rows: vec![], command: String::new(), row_count: None }
}

pub async fn get_owned(db: &Db, user_id: &str, id: &str) -> Result<Option<TaskRow>, NeonError> {
    one(db.query(&Query::new(format!("SELECT {COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2")).bind(id).bind(user_id)).await?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<TaskRow>, NeonError> {
    one(db.query(&Query::new(format!("SELECT {COLUMNS} FROM tasks WHERE id = $1")).bind(id)).await?)
}

/// Takes step `step` of an active task for `lease_secs`: only one delivery of a message gets
/// it, and a holder that dies frees it when the lease runs out. A queued task starts running.
pub async fn claim(db: &Db, id: &str, step: u32, lease_secs: u64) -> Result<Option<TaskRow>, NeonError> {
    one(db
        .query(
            &Query::new(format!(
                "UPDATE tasks SET lease_until = now() + make_interval(secs => $3), status = 'running', updated_at = now() \
                 WHERE id = $1 AND step = $2 AND status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now()) \
                 RETURNING {COLUMNS}"
            ))
            .bind(id)
            .bind(step)
            .bind(lease_secs as i64),
        )
        .await?)
}

/// Lets the next delivery of the same step claim it (after a transient failure).
pub fn release(id: &str, transient_failures: u32, message: &str) -> Query {
    Query::new("UPDATE tasks SET lease_until = NULL, transient_failures = $2, message = $3, updated_at = now() WHERE id = $1 AND status = 'running'")
        .bind(id)
        .bind(transient_failures)
        .bind(message)
}

/// Progress while running; it never goes down.
pub fn progress(id: &str, progress: u8, message: &str) -> Query {
    Query::new(
        "UPDATE tasks SET progress = GREATEST(progress, $2), message = $3, transient_failures = 0, updated_at = now() \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .bind(progress as i32)
    .bind(message)
}

/// Hands the task to the next step's message.
pub fn advance(id: &str, step: u32) -> Query {
    Query::new("UPDATE tasks SET step = $2 + 1, lease_until = NULL, updated_at = now() WHERE id = $1 AND step = $2 AND status = 'running'")
        .bind(id)
        .bind(step)
}

pub fn finish(id: &str, status: TaskStatus, message: &str, result: Option<&Value>, error: Option<&ErrorInfo>) -> Query {
    Query::new(
        "UPDATE tasks SET status = $2, message = $3, result = $4, error = $5, lease_until = NULL, \
           progress = CASE WHEN $2 = 'completed' THEN 100 ELSE progress END, updated_at = now() \
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(message)
    .bind(result.cloned())
    .bind(error.map(|e| serde_json::to_value(e).unwrap_or_default()))
}

/// Cancels an active task: it ends `cancelled`, the chapter it was working on returns to its
/// earlier status, and a story job's story becomes `cancelled`. A task that already ended is
/// left as it is (the conditions are in the statements).
pub async fn cancel(db: &Db, t: &TaskRow) -> Result<(), NeonError> {
    let story_status = if t.kind == "story" { Some("cancelled") } else { None };
    db.transaction(
        &[
            finish(&t.id, TaskStatus::Cancelled, "Cancelled", None, None),
            chapters::restore_working(&t.story_id, &t.chapters),
            Query::new("UPDATE stories SET status = COALESCE($2, status), updated_at = now() WHERE id = $1")
                .bind(&t.story_id)
                .bind(story_status),
        ],
        None,
    )
    .await
    .map(|_| ())
}

/// Active tasks whose step nobody holds and that made no progress for `stall_secs`, marked
/// as re-driven now so the next sweep leaves them alone for another while: (id, kind, step).
pub async fn stalled(db: &Db, stall_secs: u64) -> Result<Vec<(String, String, u32)>, NeonError> {
    db.query(
        &Query::new(
            "UPDATE tasks SET updated_at = now() WHERE id IN ( \
               SELECT id FROM tasks WHERE status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now()) \
               AND updated_at < now() - make_interval(secs => $1) LIMIT 100) \
             RETURNING id::text, kind, step",
        )
        .bind(stall_secs as i64),
    )
    .await?
    .rows()
    .map(|r| Ok((r.get("id")?, r.get("kind")?, r.get::<i32>("step")? as u32)))
    .collect()
}
