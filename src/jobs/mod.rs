//! The queue consumer: one batch may hold messages from the jobs queue or from its dead-letter
//! queue; each message is parsed, handled, and acked or retried on its own, so one bad message
//! never holds back the others.

pub mod dead_letter;
pub mod audio;
pub mod probe;
mod provider_log;
mod step;
pub mod story;
pub mod sweeper;

use crate::core::messages::{is_dead_letter_queue, JobMessage};
use serde_json::json;
use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

/// How a handler wants its message settled; an `Err` from a handler retries with the
/// queue's own `retry_delay`.
pub enum Outcome {
    Done,
    /// A transient failure whose wait is known (a provider's Retry-After): deliver again then.
    RetryAfter(u32),
}

pub async fn consume(batch: MessageBatch<serde_json::Value>, env: Env) -> worker::Result<()> {
    let dead = is_dead_letter_queue(&batch.queue());
    for msg in batch.messages()? {
        let parsed: Result<JobMessage, _> = serde_json::from_value(msg.body().clone());
        let job = match parsed {
            Ok(j) => j,
            Err(e) => {
                // Retrying cannot make a malformed message valid: drop it, loudly.
                crate::log::error("message_malformed", json!({ "message_id": msg.id(), "error": e.to_string() }));
                msg.ack();
                continue;
            }
        };
        let outcome = if dead {
            dead_letter::handle(&env, &job).await
        } else {
            handle(&env, &job).await
        };
        match outcome {
            Ok(Outcome::Done) => msg.ack(),
            Ok(Outcome::RetryAfter(s)) => msg.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(s).build()),
            Err(e) => {
                crate::log::error("job_failed", json!({ "job": job.label(), "message_id": msg.id(), "error": e.to_string() }));
                msg.retry();
            }
        }
    }
    Ok(())
}

async fn handle(env: &Env, job: &JobMessage) -> worker::Result<Outcome> {
    match job {
        JobMessage::Probe { probe_id, fail } => probe::handle(env, probe_id, *fail).await,
        JobMessage::StoryStep { task_id, step } => story::handle(env, task_id, *step).await,
        JobMessage::AudioStep { task_id, step } => audio::handle(env, task_id, *step).await,
    }
}
