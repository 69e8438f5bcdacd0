//! The story job, one chapter per queue message: claim the task's step, then for the next
//! unfinished chapter write the script, enhance it (when asked), and summarise it, storing each
//! result as it comes; then hand over to the next message. Every write is conditional on the
//! task still running, so a cancel wins over a late answer.

use super::Outcome;
use crate::core::llm::{self, ChapterContext, Completion, LlmError};
use crate::core::messages::JobMessage;
use crate::core::neon::{NeonError, Query};
use crate::core::task::{step_message, ErrorInfo, StoryPlan, StoryStep, TaskStatus};
use crate::db::{chapters, stories, tasks, usage, Db};
use crate::providers::openai;
use crate::settings::{JobSettings, Settings};
use serde_json::json;
use worker::{Delay, Env};

fn internal(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

pub async fn handle(env: &Env, task_id: &str, step: u32) -> worker::Result<Outcome> {
    let db = Db::new(&Settings::from_env(env).map_err(internal)?).map_err(internal)?;
    let jobs = JobSettings::from_env(env).map_err(internal)?;
    let Some(task) = tasks::claim(&db, task_id, step, jobs.lease_secs).await.map_err(internal)? else {
        // Another delivery holds or already did this step, or the task ended.
        crate::log::info("story_step_skipped", json!({ "task_id": task_id, "step": step }));
        return Ok(Outcome::Done);
    };
    let Some(story) = stories::get(&db, &task.user_id, &task.story_id).await.map_err(internal)? else {
        return Ok(Outcome::Done);
    };
    let run = StoryRun { env, db: &db, jobs: &jobs, task: &task, story: &story, step };
    match run.next_chapter().await {
        Ok(outcome) => Ok(outcome),
        Err(Stop::Cancelled) => Ok(Outcome::Done),
        Err(Stop::Llm(chapter, e)) => run.on_llm_error(chapter, e).await,
        Err(Stop::Db(e)) => {
            // Nothing is lost: the lease runs out and the step is retried.
            run.release(task.transient_failures, "Waiting to retry after a database error").await.ok();
            Err(internal(e))
        }
    }
}

enum Stop {
    Cancelled,
    Llm(u32, LlmError),
    Db(NeonError),
}

impl From<NeonError> for Stop {
    fn from(e: NeonError) -> Self {
        Stop::Db(e)
    }
}

struct StoryRun<'a> {
    env: &'a Env,
    db: &'a Db,
    jobs: &'a JobSettings,
    task: &'a tasks::TaskRow,
    story: &'a stories::Story,
    step: u32,
}

impl StoryRun<'_> {
    fn plan(&self) -> StoryPlan<'_> {
        StoryPlan { task_id: &self.task.id, enhance: self.story.enhance, regenerate: self.task.regenerate }
    }

    async fn next_chapter(&self) -> Result<Outcome, Stop> {
        let rows = chapters::for_job(self.db, &self.story.id, &self.task.chapters).await?;
        let works: Vec<_> = rows.iter().map(|r| r.work.clone()).collect();
        let Some((work, _)) = self.plan().next_chapter(&works) else {
            self.complete().await?;
            return Ok(Outcome::Done);
        };
        let number = work.number;
        let position = self.task.chapters.iter().position(|n| *n == number).unwrap_or(0);
        let mut row = rows.into_iter().find(|r| r.work.number == number).expect("chapter row");
        loop {
            let step = self.plan().next_step(&row.work);
            if step == StoryStep::Done {
                break;
            }
            self.ensure_running().await?;
            let message = step_message(position, self.task.chapters.len(), number, step);
            let mut before = vec![tasks::progress(&self.task.id, self.progress().await?, &message)];
            if let Some(status) = step.working_status() {
                before.push(chapters::mark_working(&self.story.id, number, &self.task.id, status));
            }
            self.db.transaction(&before, None).await?;
            self.publish().await;

            let earlier = chapters::earlier_summaries(self.db, &self.story.id, number).await?;
            let ctx = ChapterContext {
                story_title: &self.story.title,
                prompt: &self.story.prompt,
                config: &self.story.config,
                num_chapters: self.story.num_chapters,
                chapter: number,
                earlier_summaries: &earlier,
            };
            let (write, completion) = match step {
                StoryStep::Script => {
                    let body = llm::script_request(&self.jobs.llm, &ctx);
                    let (script, c) = self.call(number, &body, llm::parse_script).await?;
                    row.work.has_script = true;
                    row.work.has_enhanced = false;
                    row.work.has_summary = false;
                    row.work.script_task = Some(self.task.id.clone());
                    let q = chapters::store_script(&self.story.id, number, &self.task.id, &script);
                    row.script = Some(script);
                    row.enhanced = None;
                    (q, c)
                }
                StoryStep::Enhance => {
                    let base = row.script.clone().ok_or(Stop::Llm(number, LlmError::Permanent("no script to enhance".into())))?;
                    let body = llm::enhance_request(&self.jobs.llm, &ctx, &base);
                    let (script, c) = self.call(number, &body, llm::parse_script).await?;
                    row.work.has_enhanced = true;
                    row.work.has_summary = false;
                    let q = chapters::store_enhanced(&self.story.id, number, &self.task.id, &script);
                    row.enhanced = Some(script);
                    (q, c)
                }
                StoryStep::Summary => {
                    let script = row.best_script().cloned().ok_or(Stop::Llm(number, LlmError::Permanent("no script to summarise".into())))?;
                    let body = llm::summary_request(&self.jobs.llm, &ctx, &script);
                    let (summary, c) = self.call(number, &body, llm::parse_summary).await?;
                    row.work.has_summary = true;
                    (chapters::store_summary(&self.story.id, number, &self.task.id, &summary), c)
                }
                StoryStep::Done => unreachable!("the loop stops at Done"),
            };
            let usage = self.usage(number, step, &completion);
            self.db.transaction(&[write, usage, tasks::progress(&self.task.id, self.progress().await?, &message)], None).await?;
            self.publish().await;
        }
        // The chapter is done: the next message continues with the next chapter.
        self.db.query(&tasks::advance(&self.task.id, self.step)).await?;
        let next = JobMessage::StoryStep { task_id: self.task.id.clone(), step: self.step + 1 };
        let sent = match self.env.queue(crate::platform::JOBS_QUEUE) {
            Ok(q) => q.send(next).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            // The sweeper re-drives the task from its recorded step.
            crate::log::error("next_step_not_sent", json!({ "task_id": self.task.id, "error": e.to_string() }));
        }
        self.publish().await;
        Ok(Outcome::Done)
    }

    /// One LLM call, with in-process retries of unusable answers. Every answer that arrived is
    /// logged as usage, the unusable ones too: they were paid for.
    async fn call<T>(&self, number: u32, body: &serde_json::Value, parse: fn(&Completion) -> Result<T, LlmError>) -> Result<(T, Completion), Stop> {
        let mut attempt = 0;
        loop {
            let outcome = match openai::chat(self.jobs, body).await {
                Ok(c) => match parse(&c) {
                    Ok(v) => return Ok((v, c)),
                    Err(e) => {
                        let key = format!("{}:{}:{}:bad{}", self.task.id, number, self.step, attempt);
                        self.db.query(&self.usage_with_key(&c, key)).await?;
                        e
                    }
                },
                Err(e) => e,
            };
            match outcome {
                LlmError::BadAnswer(reason) if attempt < self.jobs.bad_answer_retries => {
                    attempt += 1;
                    crate::log::warn("llm_bad_answer", json!({ "task_id": self.task.id, "chapter": number, "attempt": attempt, "reason": reason }));
                    Delay::from(std::time::Duration::from_millis(llm::backoff_ms(attempt, 500, 8_000))).await;
                    self.ensure_running().await?;
                }
                e => return Err(Stop::Llm(number, e)),
            }
        }
    }

    fn usage(&self, number: u32, step: StoryStep, c: &Completion) -> Query {
        self.usage_with_key(c, format!("{}:{}:{:?}:{}", self.task.id, number, step, c.content.len()))
    }

    fn usage_with_key(&self, c: &Completion, key: String) -> Query {
        let model = if c.model.is_empty() { self.jobs.llm.model.as_str() } else { c.model.as_str() };
        usage::log_llm(&usage::LlmCall {
            user_id: &self.task.user_id,
            story_id: &self.story.id,
            task_id: &self.task.id,
            model,
            prompt_tokens: c.prompt_tokens,
            completion_tokens: c.completion_tokens,
            cost_usd: self.jobs.prices.llm_cost(model, c.prompt_tokens, c.completion_tokens),
            key,
        })
    }

    /// Stops before the next LLM call when the task was cancelled (or ended otherwise).
    async fn ensure_running(&self) -> Result<(), Stop> {
        match tasks::get(self.db, &self.task.id).await? {
            Some(t) if t.status == TaskStatus::Running => Ok(()),
            _ => Err(Stop::Cancelled),
        }
    }

    async fn progress(&self) -> Result<u8, NeonError> {
        let rows = chapters::for_job(self.db, &self.story.id, &self.task.chapters).await?;
        let works: Vec<_> = rows.into_iter().map(|r| r.work).collect();
        // 100 is kept for the moment the task completes.
        Ok(self.plan().progress(&works).min(99))
    }

    async fn complete(&self) -> Result<(), NeonError> {
        let result = json!({ "chapters": self.task.chapters });
        self.db
            .transaction(
                &[
                    tasks::finish(&self.task.id, TaskStatus::Completed, "Done", Some(&result), None),
                    Query::new("UPDATE stories SET status = 'completed', updated_at = now() WHERE id = $1 AND status = 'generating'")
                        .bind(&self.story.id),
                ],
                None,
            )
            .await?;
        crate::log::info("story_task_completed", json!({ "task_id": self.task.id }));
        self.publish().await;
        Ok(())
    }

    async fn on_llm_error(&self, number: u32, e: LlmError) -> worker::Result<Outcome> {
        if let LlmError::Transient { .. } = e {
            let failures = self.task.transient_failures + 1;
            if failures <= self.jobs.transient_retries {
                let delay = e.retry_after_secs().unwrap_or_else(|| (llm::backoff_ms(failures, 2_000, 60_000) / 1000) as u32);
                crate::log::warn("llm_transient", json!({ "task_id": self.task.id, "chapter": number, "failures": failures, "retry_in_secs": delay, "reason": e.reason() }));
                self.release(failures, &format!("Chapter {number}: provider busy, retrying in {delay} s")).await.map_err(internal)?;
                self.publish().await;
                return Ok(Outcome::RetryAfter(delay.max(1)));
            }
        }
        let error = ErrorInfo::new(e.code(), e.message());
        crate::log::error("story_chapter_failed", json!({ "task_id": self.task.id, "chapter": number, "code": error.code, "reason": error.message }));
        self.db
            .transaction(
                &[
                    chapters::mark_failed(&self.story.id, number, &error),
                    tasks::finish(&self.task.id, TaskStatus::Failed, &format!("Chapter {number} failed"), None, Some(&error)),
                    Query::new("UPDATE stories SET status = 'failed', updated_at = now() WHERE id = $1").bind(&self.story.id),
                ],
                None,
            )
            .await
            .map_err(internal)?;
        self.publish().await;
        Ok(Outcome::Done)
    }

    async fn release(&self, failures: u32, message: &str) -> Result<(), NeonError> {
        self.db.query(&tasks::release(&self.task.id, failures, message)).await.map(|_| ())
    }

    /// The Durable Object's live view follows the rows; if it is unreachable the rows still
    /// hold the truth, so this only logs.
    async fn publish(&self) {
        if let Err(e) = crate::progress::publish_task(self.env, self.db, &self.task.id, self.jobs.progress_ttl_secs).await {
            crate::log::warn("progress_publish_failed", json!({ "task_id": self.task.id, "error": e.to_string() }));
        }
    }
}
