//! What every job step does around its own work: claim the task's step under a lease token,
//! renew the lease before each paid call (which is also how a cancel or a take-over is seen),
//! publish progress, hand over to the next message, and settle the step: completed, failed,
//! waiting to retry, or given back. Story and audio jobs share it.
//!
//! Every write of a step names its lease token, so once another delivery took the step over,
//! nothing this one writes lands; every way out of a claimed step releases the lease or ends
//! the task, so no error strands it.

use super::Outcome;
use crate::core::budget::{self, Amounts};
use crate::core::messages::JobMessage;
use crate::core::neon::{NeonError, Query, QueryResult};
use crate::core::task::{retry_delay_secs, takeover_wait_ms, ErrorInfo, TaskStatus, TaskView};
use crate::db::tasks::{self, Lease};
use crate::db::Db;
use crate::platform::Subrequests;
use crate::settings::{JobSettings, Settings};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use worker::{Delay, Env};

pub fn internal(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// How long a step keeps retrying a database that does not answer before it gives up.
const DB_PATIENCE: Duration = Duration::from_secs(45);

/// Why a step stopped before finishing its work.
pub enum Failure {
    /// The task was cancelled or ended, or another delivery took the step over: stop quietly.
    Stopped,
    /// A transient provider failure in `chapter`: deliver again later, until `limit` in a row.
    Transient { chapter: u32, limit: u32, retry_after: Option<u32>, error: ErrorInfo },
    /// The chapter cannot be made: the task fails with this reason.
    Fatal { chapter: u32, error: ErrorInfo },
    /// Storage or database trouble: the step is given back for the queue's redelivery.
    Broken(String),
}

impl From<NeonError> for Failure {
    fn from(e: NeonError) -> Self {
        Failure::Broken(e.to_string())
    }
}

impl From<worker::Error> for Failure {
    fn from(e: worker::Error) -> Self {
        Failure::Broken(e.to_string())
    }
}

pub struct StepCtx<'a> {
    pub env: &'a Env,
    pub db: Db,
    pub jobs: JobSettings,
    pub task: tasks::TaskRow,
    pub lease: Lease,
    pub step: u32,
    /// Every subrequest of this step (Neon round trips count themselves through `db`).
    pub sub: Subrequests,
    /// Transient provider failures in a row: from the claim, back to 0 after a successful paid
    /// call; written with progress and releases, so a retry counts only failures with no
    /// success between them.
    failures: Cell<u32>,
    /// The task as the step's last write left it, read in that write's round trip: what the
    /// next `publish` sends, so telling the progress object costs no database read.
    written: RefCell<Option<TaskView>>,
}

impl<'a> StepCtx<'a> {
    /// Claims `step` of the task, or None when another delivery holds or did it, or the task
    /// ended (a duplicate message: nothing is done), or the step ran out of attempts (the task
    /// is failed here). `call_timeout_secs` is the longest paid call the step makes.
    pub async fn claim(env: &'a Env, task_id: &str, step: u32, call_timeout_secs: u64) -> worker::Result<Option<StepCtx<'a>>> {
        let sub = Subrequests::default();
        let db = Db::counted(&Settings::from_env(env).map_err(internal)?, sub.clone()).map_err(internal)?.patient(DB_PATIENCE);
        let jobs = JobSettings::from_env(env).map_err(internal)?;
        let token = crate::platform::new_id();
        let Some(claimed) = tasks::claim(&db, task_id, step, jobs.lease_secs, &token).await.map_err(internal)? else {
            crate::log::info("step_skipped", json!({ "task_id": task_id, "step": step, "subrequests": sub.get() }));
            return Ok(None);
        };
        let failures = Cell::new(claimed.task.transient_failures);
        let ctx = StepCtx { env, db, jobs, task: claimed.task, lease: claimed.lease, step, sub, failures, written: RefCell::new(None) };
        if ctx.task.attempts > ctx.jobs.max_step_attempts {
            if let Err(e) = ctx.give_up().await {
                // Free the step so a redelivery can try the give-up again.
                let _ = ctx.db.query(&tasks::release(&ctx.lease, ctx.failures.get(), "Waiting to retry after a storage error", Some(&e.to_string()))).await;
                return Err(internal(e));
            }
            return Ok(None);
        }
        let wait = takeover_wait_ms(claimed.expired_ms_ago, call_timeout_secs, ctx.jobs.lease_secs);
        if wait > 0 {
            crate::log::warn("step_takeover_wait", json!({ "task_id": task_id, "step": step, "wait_ms": wait }));
            // The first paid call renews the lease, and stops if the step was taken meanwhile.
            Delay::from(Duration::from_millis(wait)).await;
        }
        Ok(Some(ctx))
    }

    /// The step was delivered `attempts` times without finishing: the task fails with the last
    /// reason, and the chapter it was working on shows it.
    async fn give_up(&self) -> Result<(), NeonError> {
        let n = self.task.attempts - 1;
        let why = self.task.last_error.as_deref().unwrap_or("it stopped without a reason (the Worker may have crashed or timed out)");
        let error = ErrorInfo::new("job_failed", format!("The job stopped after {n} tries of the same step. Last reason: {why}. Start it again to continue from there."));
        crate::log::error("step_attempts_exhausted", json!({ "task_id": self.task.id, "step": self.step, "attempts": n }));
        let story_status = "failed";
        let end = tasks::end_active(&self.task.id, Some(&self.lease.token), TaskStatus::Failed, "Failed", Some(&error), story_status);
        self.write(vec![end]).await?;
        self.publish().await;
        Ok(())
    }

    /// Extends the lease before a paid call in `chapter`, with `batch` in the same transaction:
    /// Err(Stopped) once the task was cancelled or the step taken over (then nothing in the
    /// batch is meant to land: its statements check the token), so no new call starts after
    /// that. The call is refused (the task fails with `budget_exceeded`) when `need` does not
    /// fit the user's monthly budget: `used + need > limit`. `need`
    /// is an upper bound of that call plus this step's calls still in flight, whose usage is
    /// not logged yet. The budget is read last in the same transaction, so it counts the usage
    /// rows `batch` flushes and costs no round trip of its own.
    pub async fn renew_within(&self, chapter: u32, need: Amounts, batch: Vec<Query>) -> Result<(), Failure> {
        self.renewal(tasks::renew(&self.lease, self.jobs.lease_secs), batch, (chapter, need)).await
    }

    /// `record_progress` before a paid call, with `renew_within`'s budget check.
    pub async fn record_progress_within(&self, chapter: u32, need: Amounts, progress: u8, message: &str, extra: Vec<Query>) -> Result<(), Failure> {
        let first = tasks::progress(&self.lease, progress, message, self.jobs.lease_secs, self.failures.get());
        self.renewal(first, extra, (chapter, need)).await
    }

    async fn renewal(&self, first: Query, batch: Vec<Query>, (chapter, need): (u32, Amounts)) -> Result<(), Failure> {
        let period = budget::period(chrono::Utc::now());
        let mut all = vec![first];
        all.extend(batch);
        all.push(crate::db::budgets::state(&crate::db::Owner::Id(self.task.user_id.clone()), &period));
        let mut results = self.db.transaction(&all, None).await?;
        let state = results.pop().unwrap_or_default();
        held(results.into_iter().next().unwrap_or_default())?;
        // A user removed meanwhile has no budget left to spend.
        let Some(b) = crate::db::budgets::decode(&state, self.jobs.budget, period)? else { return Err(Failure::Stopped) };
        b.check(&need).map_err(|e| {
            crate::log::warn("budget_stop", json!({ "task_id": self.task.id, "chapter": chapter, "resource": e.resource.name(), "used": e.used, "limit": e.limit, "need": e.need }));
            Failure::Fatal { chapter, error: ErrorInfo::new("budget_exceeded", e.job_message()) }
        })
    }

    /// Records progress (renewing the lease) with `extra` in the same transaction, then
    /// tells the progress object.
    pub async fn progress(&self, progress: u8, message: &str, extra: Vec<Query>) -> Result<(), Failure> {
        self.record_progress(progress, message, extra).await?;
        self.publish().await;
        Ok(())
    }

    /// `progress` without telling the progress object (the caller publishes alongside its
    /// next call).
    pub async fn record_progress(&self, progress: u8, message: &str, extra: Vec<Query>) -> Result<(), Failure> {
        let mut all = vec![tasks::progress(&self.lease, progress, message, self.jobs.lease_secs, self.failures.get())];
        all.extend(extra);
        let results = self.write(all).await?;
        held(results.into_iter().next().unwrap_or_default())
    }

    /// Runs `batch` in one transaction followed by a read of the task's view, which it keeps
    /// for the next `publish`; the batch's own results, in order.
    async fn write(&self, mut batch: Vec<Query>) -> Result<Vec<QueryResult>, NeonError> {
        batch.push(tasks::view(None, &self.task.id));
        let mut results = self.db.transaction(&batch, None).await?;
        let view = results.pop().unwrap_or_default();
        *self.written.borrow_mut() = tasks::view_from(&view)?.map(|(_, v)| v);
        Ok(results)
    }

    /// A paid call succeeded: transient failures are no longer "in a row".
    pub fn call_succeeded(&self) {
        self.failures.set(0);
    }

    /// Tells the progress object what the step's last write left. The Durable Object's live
    /// view follows the rows; if it is unreachable the rows still hold the truth, so this only
    /// logs.
    pub async fn publish(&self) {
        let Some(view) = self.written.borrow_mut().take() else { return };
        self.sub.add(1);
        if let Err(e) = crate::progress::publish_view(self.env, &view, self.jobs.progress_ttl_secs).await {
            crate::log::warn("progress_publish_failed", json!({ "task_id": self.task.id, "error": e.to_string() }));
        }
    }

    /// This step is done: the next message continues the task. If the send fails, the sweeper
    /// re-drives the task from the step recorded here.
    pub async fn hand_over(&self) -> Result<Outcome, Failure> {
        // A delivery that lost its lease meanwhile hands nothing over.
        held(self.write(vec![tasks::advance(&self.lease, self.step)]).await?.pop().unwrap_or_default())?;
        let next = JobMessage::step(&self.task.kind, self.task.id.clone(), self.step + 1);
        self.sub.add(1);
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

    /// Ends the task completed; `extra` runs first in the same transaction, while the task is
    /// still running, so it can be conditional on this step's lease.
    pub async fn complete(&self, result: Value, extra: Vec<Query>) -> Result<Outcome, Failure> {
        let mut batch = extra;
        batch.push(tasks::finish(&self.lease, TaskStatus::Completed, "Done", Some(&result), None));
        held(self.write(batch).await?.pop().unwrap_or_default())?;
        crate::log::info("task_completed", json!({ "task_id": self.task.id, "kind": self.task.kind }));
        crate::active_tasks::forget(self.env, &self.task.id, Some(&self.sub)).await;
        self.publish().await;
        Ok(Outcome::Done)
    }

    /// Ends the step however it went, and logs what it cost in subrequests. Every way out
    /// releases the lease or ends the task.
    pub async fn settle(self, result: Result<Outcome, Failure>) -> worker::Result<Outcome> {
        let settled = match result {
            Ok(o) => Ok(o),
            Err(Failure::Stopped) => {
                crate::log::info("step_stopped", json!({ "task_id": self.task.id, "step": self.step, "reason": "the task ended or another delivery took the step over" }));
                Ok(Outcome::Done)
            }
            Err(Failure::Transient { chapter, limit, retry_after, error }) => self.retry_or_fail(chapter, limit, retry_after, error).await,
            Err(Failure::Fatal { chapter, error }) => self.fail(chapter, &error).await,
            Err(Failure::Broken(reason)) => Err(reason),
        };
        let outcome = match settled {
            Ok(o) => Ok(o),
            Err(reason) => {
                // Freed at once so the queue's redelivery can take it (or, if even this write
                // fails, when the lease runs out); the reason is kept for the give-up message.
                let release = tasks::release(&self.lease, self.failures.get(), "Waiting to retry after a storage error", Some(&reason));
                if let Err(e) = self.db.query(&release).await {
                    crate::log::error("lease_not_released", json!({ "task_id": self.task.id, "error": e.to_string() }));
                }
                Err(internal(reason))
            }
        };
        let used = self.sub.get();
        let fields = json!({
            "task_id": self.task.id, "kind": self.task.kind, "step": self.step, "attempt": self.task.attempts,
            "subrequests": used, "max_subrequests": self.jobs.max_subrequests_per_step, "ok": outcome.is_ok(),
        });
        if used > self.jobs.max_subrequests_per_step {
            crate::log::error("step_over_subrequest_budget", fields);
        } else {
            crate::log::info("step_done", fields);
        }
        outcome
    }

    /// The chapter and the task fail with the reason; chapters done before stay done. A story
    /// job's story fails with it; an audio job leaves the story as it is.
    async fn fail(&self, number: u32, error: &ErrorInfo) -> Result<Outcome, String> {
        crate::log::error("chapter_failed", json!({ "task_id": self.task.id, "chapter": number, "code": error.code, "reason": error.message }));
        self.write(vec![tasks::fail_chapter(&self.lease, number, error)]).await.map_err(|e| e.to_string())?;
        self.publish().await;
        Ok(Outcome::Done)
    }

    /// A transient provider failure: wait and retry the step, until `limit` in a row, then fail.
    async fn retry_or_fail(&self, number: u32, limit: u32, retry_after: Option<u32>, error: ErrorInfo) -> Result<Outcome, String> {
        let failures = self.failures.get() + 1;
        if failures > limit {
            return self.fail(number, &error).await;
        }
        let delay = retry_delay_secs(retry_after, failures, self.jobs.stall_after_secs);
        crate::log::warn("step_retry", json!({ "task_id": self.task.id, "chapter": number, "failures": failures, "retry_in_secs": delay, "reason": error.message }));
        let message = format!("Chapter {number}: provider busy, retrying in {delay} s");
        self.write(vec![tasks::release(&self.lease, failures, &message, Some(&error.message))]).await.map_err(|e| e.to_string())?;
        self.publish().await;
        Ok(Outcome::RetryAfter(delay))
    }
}


/// A renewal's answer: one row while the lease is held.
fn held(r: QueryResult) -> Result<(), Failure> {
    if r.rows.is_empty() {
        Err(Failure::Stopped)
    } else {
        Ok(())
    }
}
