//! The story job, one chapter per queue message: for the next unfinished chapter write the
//! script, enhance it (when asked), and summarise it, storing each result as it comes; then
//! hand over to the next message. Every write is conditional on the task still running, so a
//! cancel wins over a late answer.

use super::step::{Failure, StepCtx};
use super::Outcome;
use crate::core::budget::estimate as budget_estimate;
use crate::core::llm::{self, ChapterContext, Completion, LlmError};
use crate::core::clip_plan::{chapter_fingerprint, Inputs};
use crate::core::neon::{Query, QueryResult};
use crate::core::script::Script;
use crate::core::voices::VoiceConfig;
use crate::db::audio as audio_db;
use crate::settings::AudioSettings;
use crate::core::task::{step_message, ChapterWork, ErrorInfo, StoryPlan, StoryStep};
use crate::db::{chapters, stories, usage};
use crate::providers::openai;
use serde_json::json;
use worker::{Delay, Env};

pub async fn handle(env: &Env, task_id: &str, step: u32) -> worker::Result<Outcome> {
    let timeout = crate::settings::JobSettings::from_env(env).map(|j| j.llm_timeout_secs).unwrap_or(120);
    let Some(ctx) = StepCtx::claim(env, task_id, step, timeout).await? else { return Ok(Outcome::Done) };
    let result = run(&ctx).await;
    ctx.settle(result).await
}

async fn run(ctx: &StepCtx<'_>) -> Result<Outcome, Failure> {
    let owner = crate::db::Owner::Id(ctx.task.user_id.clone());
    let Some(story) = stories::from_result(&ctx.db.query(&stories::get(&owner, &ctx.task.story_id)).await?)? else {
        return Err(Failure::Stopped);
    };
    StoryRun { ctx, story: &story }.next_chapter().await
}

/// An LLM failure of chapter `n` as the step settles it. A transient one fails the task only
/// after `transient_retries` retries in a row, so its message says so; OpenAI's own text goes
/// to the log alone.
fn llm_failure(ctx: &StepCtx<'_>, n: u32, e: LlmError) -> Failure {
    if let Some(p) = e.provider_failure() {
        super::provider_log::provider_failure(ctx, n, p, &[&ctx.jobs.openai_api_key]);
    }
    let error = ErrorInfo::new(e.code(), e.message(ctx.jobs.transient_retries));
    match e {
        LlmError::Transient { retry_after_secs, .. } => Failure::Transient { chapter: n, limit: ctx.jobs.transient_retries, retry_after: retry_after_secs, error },
        _ => Failure::Fatal { chapter: n, error },
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

    async fn next_chapter(&self) -> Result<Outcome, Failure> {
        let task = &self.ctx.task;
        let db = &self.ctx.db;
        let rows = chapters::for_job(db, &self.story.id, &task.chapters).await?;
        let mut works: Vec<_> = rows.iter().map(|r| r.work.clone()).collect();
        let Some((work, _)) = self.plan().next_chapter(&works) else {
            // Only while this step still holds the task: a cancelled task's late completion
            // must not mark a story that a newer job is working on.
            let done = Query::new(
                "UPDATE stories SET status = 'completed', updated_at = now() WHERE id = $1 AND status = 'generating' \
                 AND EXISTS (SELECT 1 FROM tasks WHERE id = $2 AND lease_token = $3 AND status = 'running')",
            )
            .bind(&self.story.id)
            .bind(&self.ctx.lease.task_id)
            .bind(&self.ctx.lease.token);
            return self.ctx.complete(json!({ "chapters": task.chapters }), vec![done]).await;
        };
        let number = work.number;
        let position = task.chapters.iter().position(|n| *n == number).unwrap_or(0);
        let index = works.iter().position(|w| w.number == number).expect("chapter row");
        let mut row = rows.into_iter().nth(index).expect("chapter row");
        let (earlier, cast) = chapters::earlier_summaries(db, &self.story.id, number).await?;
        let fingerprint = self.fingerprinter(&cast)?;
        loop {
            let step = self.plan().next_step(&row.work);
            if step == StoryStep::Done {
                break;
            }
            let message = step_message(position, task.chapters.len(), number, step);
            let working = step.working_status().map(|s| chapters::mark_working(&self.story.id, number, &self.ctx.lease, s));
            let cx = ChapterContext {
                story_title: &self.story.title,
                prompt: &self.story.prompt,
                config: &self.story.config,
                num_chapters: self.story.num_chapters,
                chapter: number,
                earlier_summaries: &earlier,
            };
            // Built before the progress write, which renews the lease and checks the budget
            // against this very request's bound.
            let body = match step {
                StoryStep::Script => llm::script_request(&self.ctx.jobs.llm, &cx),
                StoryStep::Enhance => {
                    let base = row.script.as_ref().ok_or_else(|| llm_failure(self.ctx, number, LlmError::local("no script to enhance")))?;
                    llm::enhance_request(&self.ctx.jobs.llm, &cx, base)
                }
                StoryStep::Summary => {
                    let script = row.best_script().ok_or_else(|| llm_failure(self.ctx, number, LlmError::local("no script to summarise")))?;
                    llm::summary_request(&self.ctx.jobs.llm, &cx, script)
                }
                StoryStep::Done => unreachable!("the loop stops at Done"),
            };
            self.ctx.record_progress_within(number, self.bound(&body), self.progress(&works), &message, working.into_iter().collect()).await?;
            // The progress object hears of the step while its call runs: nothing waits on it.
            let work = async { match step {
                StoryStep::Script => {
                    let (script, c) = self.call(number, step, &body, llm::parse_script).await?;
                    row.work.has_script = true;
                    row.work.has_enhanced = false;
                    row.work.has_summary = false;
                    row.work.script_task = Some(task.id.clone());
                    let q = chapters::store_script(&self.story.id, number, &self.ctx.lease, &script, &fingerprint(&script));
                    row.script = Some(script);
                    row.enhanced = None;
                    Ok::<_, Failure>((q, c))
                }
                StoryStep::Enhance => {
                    let (script, c) = self.call(number, step, &body, llm::parse_script).await?;
                    row.work.has_enhanced = true;
                    row.work.has_summary = false;
                    let q = chapters::store_enhanced(&self.story.id, number, &self.ctx.lease, &script, &fingerprint(&script));
                    row.enhanced = Some(script);
                    Ok((q, c))
                }
                StoryStep::Summary => {
                    let (summary, c) = self.call(number, step, &body, llm::parse_summary).await?;
                    row.work.has_summary = true;
                    Ok((chapters::store_summary(&self.story.id, number, &self.ctx.lease, &summary), c))
                }
                StoryStep::Done => unreachable!("the loop stops at Done"),
            } };
            let (_, done) = futures::join!(self.ctx.publish(), work);
            let (write, completion) = done?;
            works[index] = row.work.clone();
            let usage = self.usage(self.usage_key(number, step, "ok"), &completion);
            // Published with the next step's start or the hand-over, which follow at once.
            self.ctx.record_progress(self.progress(&works), &message, vec![write, usage]).await?;
        }
        self.ctx.hand_over().await
    }

    /// The fingerprint of a script this step stores (`core::clip_plan`), so `audio_stale` tells
    /// whether audio made before still matches. Voices come from the stored maps without a new
    /// assignment: a speaker without one yet is new to the story's audio, and any fingerprint
    /// with it differs from the audio's, which is all `audio_stale` needs; the next input write
    /// or audio job stores the exact one. Voices and pronunciations cannot change while the job
    /// runs (those writes answer 409).
    fn fingerprinter(&self, cast: &QueryResult) -> Result<impl Fn(&Script) -> String + '_, Failure> {
        let (overrides, assigned) = audio_db::voices_from(cast)?;
        let pronunciations = audio_db::pronunciations_from(cast)?;
        // Without a usable format no fingerprint matches the audio's: it reads as stale.
        let format = AudioSettings::output_format(self.ctx.env).unwrap_or_default();
        let story_id = self.story.id.clone();
        let config = VoiceConfig::bundled();
        Ok(move |script: &Script| {
            let inputs = Inputs { story_id: &story_id, output_format: &format, config: &config, overrides: &overrides, assigned: &assigned, pronunciations: &pronunciations };
            chapter_fingerprint(&inputs, script)
        })
    }

    /// One LLM call, with in-process retries of unusable answers, each after a lease renewal
    /// (a cancel or a take-over stops it before the next paid call). Every answer that arrived
    /// is logged as usage, the unusable ones too: they were paid for.
    async fn call<T>(&self, number: u32, step: StoryStep, body: &serde_json::Value, parse: fn(&Completion) -> Result<T, LlmError>) -> Result<(T, Completion), Failure> {
        let jobs = &self.ctx.jobs;
        let mut attempt = 0;
        loop {
            // The first attempt follows the progress write that renewed the lease and checked
            // the budget.
            if attempt > 0 {
                self.ctx.renew_within(number, self.bound(body), vec![]).await?;
            }
            let outcome = match openai::chat(jobs, body, &self.ctx.sub).await {
                Ok(c) => match parse(&c) {
                    Ok(v) => {
                        self.ctx.call_succeeded();
                        return Ok((v, c));
                    }
                    Err(e) => {
                        self.ctx.db.query(&self.usage(self.usage_key(number, step, &format!("bad{attempt}")), &c)).await?;
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
                }
                e => return Err(llm_failure(self.ctx, number, e)),
            }
        }
    }

    /// The most `body` can cost: its bytes of prompt, the answer's cap (see core::budget::estimate).
    fn bound(&self, body: &serde_json::Value) -> crate::core::budget::Amounts {
        let jobs = &self.ctx.jobs;
        budget_estimate::call(body, jobs.llm.max_completion_tokens).amounts(&jobs.prices, &jobs.llm.model)
    }

    /// Names one paid answer: the chapter, the sub-step (script, enhance, summary), which answer
    /// of it, and the delivery (lease token), so no two calls share a key and a replayed write
    /// of the same answer is logged once.
    fn usage_key(&self, number: u32, step: StoryStep, answer: &str) -> String {
        format!("{}:{}:{:?}:{}:{}", self.ctx.task.id, number, step, answer, self.ctx.lease.token)
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
