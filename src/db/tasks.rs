//! `tasks`: the durable record of each job, and the step claim that makes a queue message's
//! work happen once.

use super::{chapters, time, Db, Owner};
use crate::core::neon::{NeonError, Query, QueryResult, Row};
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
    /// Deliveries that claimed the current step.
    pub attempts: u32,
    /// Why the last delivery of the current step did not finish.
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id::text, user_id::text, story_id::text, kind, status, chapters, regenerate, progress, message, \
                       result, error, transient_failures, attempts, last_error, created_at, updated_at";

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
        attempts: r.get::<i32>("attempts")? as u32,
        last_error: r.get("last_error")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn one(r: crate::core::neon::QueryResult) -> Result<Option<TaskRow>, NeonError> {
    r.first().map(|row| task(&row)).transpose()
}

impl TaskRow {
    /// The API's view of the task, given its chapters' current statuses.
    pub fn view_with(&self, statuses: &[(u32, String)]) -> TaskView {
        TaskView {
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
        }
    }
}

/// The task and its chapters' statuses in one statement: what the API answers and the
/// progress object holds. At the end of a step's write batch it reads what the batch wrote,
/// so publishing costs no round trip of its own. With `owner`, another user's task is no row.
pub fn view(owner: Option<&Owner>, id: &str) -> Query {
    let mine = owner.map(|o| format!(" AND user_id = {}", o.sql(2))).unwrap_or_default();
    let q = Query::new(format!(
        "SELECT {COLUMNS}, (SELECT COALESCE(json_agg(json_build_array(c.number, c.status)), '[]'::json) FROM chapters c \
           WHERE c.story_id = tasks.story_id AND c.number = ANY(tasks.chapters)) AS chapter_statuses \
         FROM tasks WHERE id = $1{mine}"
    ))
    .bind(id);
    match owner {
        Some(o) => q.bind(o.value()),
        None => q,
    }
}

pub fn view_from(r: &QueryResult) -> Result<Option<(TaskRow, TaskView)>, NeonError> {
    let Some(row) = r.first() else { return Ok(None) };
    let t = task(&row)?;
    let statuses: Vec<(u32, String)> =
        serde_json::from_value(row.get::<Value>("chapter_statuses")?).map_err(|e| NeonError::Decode(format!("chapter statuses: {e}")))?;
    let v = t.view_with(&statuses);
    Ok(Some((t, v)))
}

pub enum Created {
    Yes(TaskView),
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
    batch.push(view(None, id));
    let result = db.transaction(&batch, None).await;
    match result {
        Ok(rs) => Ok(Created::Yes(view_from(&rs.last().cloned().unwrap_or_default())?.ok_or_else(|| NeonError::Decode("no row".into()))?.1)),
        Err(e) if e.is_unique_violation() => Ok(Created::Busy),
        Err(e) => Err(e),
    }
}

pub async fn get(db: &Db, id: &str) -> Result<Option<TaskRow>, NeonError> {
    one(db.query(&Query::new(format!("SELECT {COLUMNS} FROM tasks WHERE id = $1")).bind(id)).await?)
}

/// The claim on one step: every write the step makes names `token`, so once another
/// delivery has taken the step over, this one's writes match no row.
#[derive(Debug, Clone)]
pub struct Lease {
    pub task_id: String,
    pub token: String,
}

pub struct Claimed {
    pub task: TaskRow,
    pub lease: Lease,
    /// When the claim took over a lease that was never given back: how long ago it ran out.
    pub expired_ms_ago: Option<i64>,
}

/// Takes step `step` of an active task for `lease_secs` under a fresh `token`, counting the
/// attempt: only one delivery of a message gets it, and a holder that dies frees it when the
/// lease runs out. A queued task starts running.
pub async fn claim(db: &Db, id: &str, step: u32, lease_secs: u64, token: &str) -> Result<Option<Claimed>, NeonError> {
    let r = db
        .query(
            &Query::new(format!(
                "WITH prev AS (SELECT id AS prev_id, lease_token AS prev_token, lease_until AS prev_until FROM tasks WHERE id = $1 FOR UPDATE) \
                 UPDATE tasks SET lease_until = now() + make_interval(secs => $3), lease_token = $4, attempts = attempts + 1, \
                   status = 'running', updated_at = now() \
                 FROM prev WHERE id = prev_id AND step = $2 AND status IN ('queued', 'running') \
                   AND (lease_until IS NULL OR lease_until < now() OR lease_token = $4) \
                 RETURNING {COLUMNS}, \
                   CASE WHEN prev_token IS NULL OR prev_token = $4 THEN NULL ELSE (EXTRACT(EPOCH FROM now() - prev_until) * 1000)::bigint END AS expired_ms_ago"
            ))
            .bind(id)
            .bind(step)
            .bind(lease_secs as i64)
            .bind(token),
        )
        .await?;
    let Some(row) = r.first() else { return Ok(None) };
    Ok(Some(Claimed {
        task: task(&row)?,
        lease: Lease { task_id: id.to_string(), token: token.to_string() },
        expired_ms_ago: row.get("expired_ms_ago")?,
    }))
}

/// `WHERE` for a write of the step that holds `lease`: task `$1`, token `$2`.
const HELD: &str = "id = $1 AND lease_token = $2 AND status = 'running'";

/// Extends the lease; answers no row once the task was cancelled or the step taken over, which
/// is how a step learns it must stop before its next paid call.
pub fn renew(l: &Lease, lease_secs: u64) -> Query {
    Query::new(format!("UPDATE tasks SET lease_until = now() + make_interval(secs => $3) WHERE {HELD} RETURNING 1 AS held"))
        .bind(&l.task_id)
        .bind(&l.token)
        .bind(lease_secs as i64)
}

/// Lets the next delivery of the same step claim it at once; `reason` says why this one did
/// not finish (shown if the task runs out of attempts).
pub fn release(l: &Lease, transient_failures: u32, message: &str, reason: Option<&str>) -> Query {
    Query::new(format!(
        "UPDATE tasks SET lease_until = NULL, lease_token = NULL, transient_failures = $3, message = $4, \
           last_error = COALESCE($5, last_error), updated_at = now() WHERE {HELD}"
    ))
    .bind(&l.task_id)
    .bind(&l.token)
    .bind(transient_failures)
    .bind(message)
    .bind(reason)
}

/// Progress while running (it never goes down), with the step's count of transient failures
/// in a row; renews the lease too.
pub fn progress(l: &Lease, progress: u8, message: &str, lease_secs: u64, transient_failures: u32) -> Query {
    Query::new(format!(
        "UPDATE tasks SET progress = GREATEST(progress, $3), message = $4, transient_failures = $6, \
           lease_until = now() + make_interval(secs => $5), updated_at = now() WHERE {HELD} RETURNING 1 AS held"
    ))
    .bind(&l.task_id)
    .bind(&l.token)
    .bind(progress as i32)
    .bind(message)
    .bind(lease_secs as i64)
    .bind(transient_failures)
}

/// Hands the task to the next step's message, whose attempts start from zero.
pub fn advance(l: &Lease, step: u32) -> Query {
    Query::new(format!(
        "UPDATE tasks SET step = $3 + 1, lease_until = NULL, lease_token = NULL, attempts = 0, last_error = NULL, transient_failures = 0, \
           updated_at = now() WHERE {HELD} AND step = $3 RETURNING 1 AS held"
    ))
    .bind(&l.task_id)
    .bind(&l.token)
    .bind(step)
}

/// Ends the task the step holds (completed or failed).
pub fn finish(l: &Lease, status: TaskStatus, message: &str, result: Option<&Value>, error: Option<&ErrorInfo>) -> Query {
    Query::new(format!(
        "UPDATE tasks SET status = $3, message = $4, result = $5, error = $6, lease_until = NULL, lease_token = NULL, \
           progress = CASE WHEN $3 = 'completed' THEN 100 ELSE progress END, updated_at = now() WHERE {HELD} RETURNING 1 AS held"
    ))
    .bind(&l.task_id)
    .bind(&l.token)
    .bind(status.as_str())
    .bind(message)
    .bind(result.cloned())
    .bind(error.map(error_json))
}

fn error_json(e: &ErrorInfo) -> Value {
    serde_json::to_value(e).unwrap_or_default()
}

/// Fails the task the step holds, with chapter `number` failed for the same reason and a story
/// job's story failed; the chapter and story change only if the task did (one statement).
pub fn fail_chapter(l: &Lease, number: u32, error: &ErrorInfo) -> Query {
    Query::new(format!(
        "WITH t AS (UPDATE tasks SET status = 'failed', message = $4, error = $5, lease_until = NULL, lease_token = NULL, \
             updated_at = now() WHERE {HELD} RETURNING story_id, kind), \
         c AS (UPDATE chapters SET status = 'failed', previous_status = NULL, error = $5, updated_at = now() \
             FROM t WHERE chapters.story_id = t.story_id AND chapters.number = $3 RETURNING 1) \
         UPDATE stories SET status = 'failed', updated_at = now() FROM t WHERE stories.id = t.story_id AND t.kind = 'story'"
    ))
    .bind(&l.task_id)
    .bind(&l.token)
    .bind(number)
    .bind(format!("Chapter {number} failed"))
    .bind(error_json(error))
}

/// Ends an active task from outside its steps (a cancel, the dead-letter queue, or a claim
/// that found the step out of attempts: then `token` is that claim's). Chapters the task was
/// working on return to their earlier status, or fail with `chapter_error`; a story job's
/// story becomes `story_status`. Chapters and story change only if the task did, so a cancel
/// that races with completion leaves the completed task and story as they are.
pub fn end_active(id: &str, token: Option<&str>, status: TaskStatus, message: &str, error: Option<&ErrorInfo>, story_status: &str) -> Query {
    Query::new(
        "WITH t AS (UPDATE tasks SET status = $3, message = $4, error = $5, lease_until = NULL, lease_token = NULL, updated_at = now() \
             WHERE id = $1 AND status IN ('queued', 'running') AND ($2::uuid IS NULL OR lease_token = $2::uuid) \
             RETURNING story_id, kind, chapters), \
         c AS (UPDATE chapters SET \
               status = CASE WHEN $5::jsonb IS NULL THEN COALESCE(previous_status, 'pending') ELSE 'failed' END, \
               error = COALESCE($5::jsonb, error), previous_status = NULL, updated_at = now() \
             FROM t WHERE chapters.story_id = t.story_id AND chapters.number = ANY(t.chapters) \
               AND chapters.status IN ('generating_script', 'enhancing', 'generating_audio') RETURNING 1) \
         UPDATE stories SET status = $6, updated_at = now() FROM t WHERE stories.id = t.story_id AND t.kind = 'story'",
    )
    .bind(id)
    .bind(token)
    .bind(status.as_str())
    .bind(message)
    .bind(error.map(error_json))
    .bind(story_status)
}

/// Cancels an active task (see `end_active`); a task that already ended is left as it is.
pub fn cancel(id: &str) -> Query {
    end_active(id, None, TaskStatus::Cancelled, "Cancelled", None, "cancelled")
}

/// What a sweep needs from Neon, in one round trip: the active tasks whose step nobody holds
/// and that made no progress for `stall_secs`, as (id, kind, step), marked as re-driven now so
/// the next sweep leaves them alone for another while; and, for every task that is active or
/// is one of `registered`, whether it is active.
pub async fn sweep(db: &Db, stall_secs: u64, registered: Vec<String>) -> Result<(Vec<(String, String, u32)>, Vec<(String, bool)>), NeonError> {
    let stalled = Query::new(
        "UPDATE tasks SET updated_at = now() WHERE id IN ( \
           SELECT id FROM tasks WHERE status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now()) \
           AND updated_at < now() - make_interval(secs => $1) LIMIT 100) \
         RETURNING id::text, kind, step",
    )
    .bind(stall_secs as i64);
    let known = Query::new(
        "SELECT id::text, status IN ('queued', 'running') AS active FROM tasks \
         WHERE status IN ('queued', 'running') OR id::text = ANY($1::text[])",
    )
    .bind(registered);
    let results = db.transaction(&[stalled, known], None).await?;
    let (Some(stalled), Some(known)) = (results.first(), results.get(1)) else {
        return Err(NeonError::Decode("a sweep batch answered fewer than two results".into()));
    };
    let stalled = stalled.rows().map(|r| Ok((r.get("id")?, r.get("kind")?, r.get::<i32>("step")? as u32))).collect::<Result<_, NeonError>>()?;
    let known = known.rows().map(|r| Ok((r.get("id")?, r.get("active")?))).collect::<Result<_, NeonError>>()?;
    Ok((stalled, known))
}
