//! The story job, one chapter per queue message: for the next unfinished chapter write the
//! script, enhance it (when asked), and summarise it, storing each result as it comes; then
//! hand over to the next message. Every write is conditional on the task still running, so a
//! cancel wins over a late answer.

use super::step::{internal, NotRunning, StepCtx};
use super::Outcome;
use crate::core::llm::{self, ChapterContext, Completion, LlmError};
use crate::core::neon::{NeonError, Query};
use crate::core::task::{step_message, ChapterWork, ErrorInfo, StoryPlan, StoryStep};
use crate::db::{chapters, stories, usage};
use crate::providers::openai;
use serde_json::json;
use worker::{Delay, Env};

pub async fn handle(env: &Env, task_id: &str, step: u32) -> worker::Result<Outcome> {
    let Some(ctx) = StepCtx::claim(env, task_id, step).await? else { return Ok(Outcome::Done) };
    let Some(story) = stories::get(&ctx.db, &ctx.task.user_id, &ctx.task.story_id).await.map_err(internal)? else {
        return Ok(Outcome::Done);
    };
    let run = StoryRun { ctx: &ctx, story: &story };
    let outcome = match run.next_chapter().await {
        Ok(o) => Ok(o),
        Err(Stop::Cancelled) => Ok(Outcome::Done),
        Err(Stop::Llm(n, e)) => match e {
            LlmError::Transient { .. } => {
                let error = ErrorInfo::new(e.code(), e.message());
                ctx.retry_or_fail(n, ctx.jobs.transient_retries, e.retry_after_secs(), error).await
            }
            _ => ctx.fail(n, &ErrorInfo::new(e.code(), e.message())).await,
        },
        Err(Stop::Db(e)) => ctx.give_back(e).await,
    };
    outcome.map_err(internal)
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

impl From<NotRunning> for Stop {
    fn from(_: NotRunning) -> Self {
        Stop::Cancelled
    }
}

struct StoryRun<'a> {
    ctx: &'a StepCtx<'a>,
    story: &'a stories::Story,
}

impl StoryRun<'_> {
    fn plan(&self) -> StoryPlan<'_> {
        StoryPlan { task_id: &self.ctx.task.id, enhance: self.story.enhance, regenerate: self.ctx.task.regenerate }
    }

    async fn next_chapter(&self) -> Result<Outcome, Stop> {
        let task = &self.ctx.task;
        let db = &self.ctx.db;
        let rows = chapters::for_job(db, &self.story.id, &task.chapters).await?;
        let mut works: Vec<_> = rows.iter().map(|r| r.work.clone()).collect();
        let Some((work, _)) = self.plan().next_chapter(&works) else {
            let done = Query::new("UPDATE stories SET status = 'completed', updated_at = now() WHERE id = $1 AND status = 'generating'")
                .bind(&self.story.id);
            return Ok(self.ctx.complete(json!({ "chapters": task.chapters }), vec![done]).await?);
        };
        let number = work.number;
        let position = task.chapters.iter().position(|n| *n == number).unwrap_or(0);
        let index = works.iter().position(|w| w.number == number).expect("chapter row");
        let mut row = rows.into_iter().nth(index).expect("chapter row");
        loop {
            let step = self.plan().next_step(&row.work);
            if step == StoryStep::Done {
                break;
            }
            self.ctx.ensure_running().await?;
            let message = step_message(position, task.chapters.len(), number, step);
            self.ctx.begin(number, step.working_status(), self.progress(&works), &message).await?;

            let earlier = chapters::earlier_summaries(db, &self.story.id, number).await?;
            let cx = ChapterContext {
                story_title: &self.story.title,
                prompt: &self.story.prompt,
                config: &self.story.config,
                num_chapters: self.story.num_chapters,
                chapter: number,
                earlier_summaries: &earlier,
            };
            let (write, completion) = match step {
                StoryStep::Script => {
                    let (script, c) = self.call(number, &llm::script_request(&self.ctx.jobs.llm, &cx), llm::parse_script).await?;
                    row.work.has_script = true;
                    row.work.has_enhanced = false;
                    row.work.has_summary = false;
                    row.work.script_task = Some(task.id.clone());
                    let q = chapters::store_script(&self.story.id, number, &task.id, &script);
                    row.script = Some(script);
                    row.enhanced = None;
                    (q, c)
                }
                StoryStep::Enhance => {
                    let base = row.script.clone().ok_or(Stop::Llm(number, LlmError::Permanent("no script to enhance".into())))?;
                    let body = llm::enhance_request(&self.ctx.jobs.llm, &cx, &base);
                    let (script, c) = self.call(number, &body, llm::parse_script).await?;
                    row.work.has_enhanced = true;
                    row.work.has_summary = false;
                    let q = chapters::store_enhanced(&self.story.id, number, &task.id, &script);
                    row.enhanced = Some(script);
                    (q, c)
                }
                StoryStep::Summary => {
                    let script = row.best_script().cloned().ok_or(Stop::Llm(number, LlmError::Permanent("no script to summarise".into())))?;
                    let body = llm::summary_request(&self.ctx.jobs.llm, &cx, &script);
                    let (summary, c) = self.call(number, &body, llm::parse_summary).await?;
                    row.work.has_summary = true;
                    (chapters::store_summary(&self.story.id, number, &task.id, &summary), c)
                }
                StoryStep::Done => unreachable!("the loop stops at Done"),
            };
            works[index] = row.work.clone();
            let usage = self.usage(format!("{}:{}:{}:{:?}", task.id, number, self.ctx.step, step), &completion);
            db.transaction(&[write, usage, crate::db::tasks::progress(&task.id, self.progress(&works), &message)], None).await?;
            self.ctx.publish().await;
        }
        Ok(self.ctx.hand_over().await?)
    }

    /// One LLM call, with in-process retries of unusable answers. Every answer that arrived is
    /// logged as usage, the unusable ones too: they were paid for.
    async fn call<T>(&self, number: u32, body: &serde_json::Value, parse: fn(&Completion) -> Result<T, LlmError>) -> Result<(T, Completion), Stop> {
        let jobs = &self.ctx.jobs;
        let mut attempt = 0;
        loop {
            let outcome = match openai::chat(jobs, body).await {
                Ok(c) => match parse(&c) {
                    Ok(v) => return Ok((v, c)),
                    Err(e) => {
                        let key = format!("{}:{}:{}:bad{}", self.ctx.task.id, number, self.ctx.step, attempt);
                        self.ctx.db.query(&self.usage(key, &c)).await?;
                        e
                    }
                },
                Err(e) => e,
            };
            match outcome {
                LlmError::BadAnswer(reason) if attempt < jobs.bad_answer_retries => {
                    attempt += 1;
                    crate::log::warn("llm_bad_answer", json!({ "task_id": self.ctx.task.id, "chapter": number, "attempt": attempt, "reason": reason }));
                    Delay::from(std::time::Duration::from_millis(llm::backoff_ms(attempt, 500, 8_000))).await;
                    self.ctx.ensure_running().await?;
                }
                e => return Err(Stop::Llm(number, e)),
            }
        }
    }

    fn usage(&self, key: String, c: &Completion) -> Query {
        let jobs = &self.ctx.jobs;
        let model = if c.model.is_empty() { jobs.llm.model.as_str() } else { c.model.as_str() };
        usage::log_llm(&usage::LlmCall {
            user_id: &self.ctx.task.user_id,
            story_id: &self.story.id,
            task_id: &self.ctx.task.id,
            model,
            prompt_tokens: c.prompt_tokens,
            completion_tokens: c.completion_tokens,
            cost_usd: jobs.prices.llm_cost(model, c.prompt_tokens, c.completion_tokens),
            key,
        })
    }

    /// From the chapters as this step knows them (it is the only writer while it holds the
    /// lease), so no query; 100 is kept for the moment the task completes.
    fn progress(&self, works: &[ChapterWork]) -> u8 {
        self.plan().progress(works).min(99)
    }
}
