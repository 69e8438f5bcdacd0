//! What every job step does around its own work: claim the task's step, check it is still
//! running before each paid call, publish progress, hand over to the next message, and end the
//! task (completed, failed, or waiting to retry). Story and audio jobs share it.

use super::Outcome;
use crate::core::messages::JobMessage;
use crate::core::neon::{NeonError, Query};
use crate::core::task::{ErrorInfo, TaskStatus};
use crate::db::{chapters, tasks, Db};
use crate::settings::{JobSettings, Settings};
use serde_json::{json, Value};
use worker::Env;

pub fn internal(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// The task was cancelled or ended while a step ran: stop quietly.
pub struct NotRunning;

pub struct StepCtx<'a> {
    pub env: &'a Env,
    pub db: Db,
    pub jobs: JobSettings,
    pub task: tasks::TaskRow,
    pub step: u32,
}

impl<'a> StepCtx<'a> {
    /// Claims `step` of the task, or None when another delivery holds or did it, or the task
    /// ended: then the message is a duplicate and nothing is done.
    pub async fn claim(env: &'a Env, task_id: &str, step: u32) -> worker::Result<Option<StepCtx<'a>>> {
        let db = Db::new(&Settings::from_env(env).map_err(internal)?).map_err(internal)?;
        let jobs = JobSettings::from_env(env).map_err(internal)?;
        let Some(task) = tasks::claim(&db, task_id, step, jobs.lease_secs).await.map_err(internal)? else {
            crate::log::info("step_skipped", json!({ "task_id": task_id, "step": step }));
            return Ok(None);
        };
        Ok(Some(StepCtx { env, db, jobs, task, step }))
    }

    pub async fn ensure_running(&self) -> Result<(), NotRunning> {
        match tasks::get(&self.db, &self.task.id).await {
            Ok(Some(t)) if t.status == TaskStatus::Running => Ok(()),
            _ => Err(NotRunning),
        }
    }

    /// The Durable Object's live view follows the rows; if it is unreachable the rows still
    /// hold the truth, so this only logs.
    pub async fn publish(&self) {
        if let Err(e) = crate::progress::publish_task(self.env, &self.db, &self.task.id, self.jobs.progress_ttl_secs).await {
            crate::log::warn("progress_publish_failed", json!({ "task_id": self.task.id, "error": e.to_string() }));
        }
    }

    /// Marks a chapter as being worked on and shows the step's message.
    pub async fn begin(&self, number: u32, status: Option<&str>, progress: u8, message: &str) -> Result<(), NeonError> {
        let mut batch = vec![tasks::progress(&self.task.id, progress, message)];
        if let Some(s) = status {
            batch.push(chapters::mark_working(&self.task.story_id, number, &self.task.id, s));
        }
        self.db.transaction(&batch, None).await?;
        self.publish().await;
        Ok(())
    }

    /// This step is done: the next message continues the task. If the send fails, the sweeper
    /// re-drives the task from the step recorded here.
    pub async fn hand_over(&self) -> Result<Outcome, NeonError> {
        self.db.query(&tasks::advance(&self.task.id, self.step)).await?;
        let next = JobMessage::step(&self.task.kind, self.task.id.clone(), self.step + 1);
        let sent = match self.env.queue(crate::platform::JOBS_QUEUE) {
            Ok(q) => q.send(next).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            crate::log::error("next_step_not_sent", json!({ "task_id": self.task.id, "error": e.to_string() }));
        }
        self.publish().await;
        Ok(Outcome::Done)
    }

    pub async fn complete(&self, result: Value, extra: Vec<Query>) -> Result<Outcome, NeonError> {
        let mut batch = vec![tasks::finish(&self.task.id, TaskStatus::Completed, "Done", Some(&result), None)];
        batch.extend(extra);
        self.db.transaction(&batch, None).await?;
        crate::log::info("task_completed", json!({ "task_id": self.task.id, "kind": self.task.kind }));
        self.publish().await;
        Ok(Outcome::Done)
    }

    /// The chapter and the task fail with the reason; chapters done before stay done. A story
    /// job's story fails with it; an audio job leaves the story as it is.
    pub async fn fail(&self, number: u32, error: &ErrorInfo) -> Result<Outcome, NeonError> {
        crate::log::error("chapter_failed", json!({ "task_id": self.task.id, "chapter": number, "code": error.code, "reason": error.message }));
        self.db
            .transaction(
                &[
                    chapters::mark_failed(&self.task.story_id, number, error),
                    tasks::finish(&self.task.id, TaskStatus::Failed, &format!("Chapter {number} failed"), None, Some(error)),
                    Query::new("UPDATE stories SET status = 'failed', updated_at = now() WHERE id = $1 AND $2 = 'story'")
                        .bind(&self.task.story_id)
                        .bind(&self.task.kind),
                ],
                None,
            )
            .await?;
        self.publish().await;
        Ok(Outcome::Done)
    }

    /// A transient provider failure: wait and retry the step, until `limit` in a row, then fail.
    pub async fn retry_or_fail(&self, number: u32, limit: u32, retry_after: Option<u32>, error: ErrorInfo) -> Result<Outcome, NeonError> {
        let failures = self.task.transient_failures + 1;
        if failures > limit {
            return self.fail(number, &error).await;
        }
        let delay = retry_after.unwrap_or_else(|| (crate::core::llm::backoff_ms(failures, 2_000, 60_000) / 1000) as u32).max(1);
        crate::log::warn("step_retry", json!({ "task_id": self.task.id, "chapter": number, "failures": failures, "retry_in_secs": delay, "reason": error.message }));
        self.release(failures, &format!("Chapter {number}: provider busy, retrying in {delay} s")).await?;
        self.publish().await;
        Ok(Outcome::RetryAfter(delay))
    }

    /// After a database or storage error nothing is lost: the step is freed at once so the
    /// queue's redelivery can take it (or, if even that write fails, when the lease runs out).
    pub async fn give_back<E>(&self, e: E) -> Result<Outcome, E> {
        self.release(self.task.transient_failures, "Waiting to retry after a storage error").await.ok();
        Err(e)
    }

    /// Lets the next delivery of the same step claim it.
    pub async fn release(&self, failures: u32, message: &str) -> Result<(), NeonError> {
        self.db.query(&tasks::release(&self.task.id, failures, message)).await.map(|_| ())
    }
}
