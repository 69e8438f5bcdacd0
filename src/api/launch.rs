//! Starting a recorded task: its progress object gets the first view (read in the same round
//! trip that created the task), and the queue gets the message for step 0. A failed send is
//! logged, not fatal: the task is recorded, and the sweeper starts any active task that makes
//! no progress.

use super::Ctx;
use crate::core::messages::JobMessage;
use crate::core::task::TaskView;
use crate::settings::JobSettings;
use serde_json::json;

pub async fn launch(ctx: &Ctx, task: &TaskView) {
    let ttl = JobSettings::from_env(&ctx.env).map(|j| j.progress_ttl_secs).unwrap_or(86_400);
    if let Err(e) = crate::progress::publish_view(&ctx.env, task, ttl).await {
        crate::log::warn("progress_publish_failed", json!({ "task_id": task.id, "error": e.to_string() }));
    }
    let message = JobMessage::step(&task.kind, task.id.clone(), 0);
    let sent = match ctx.env.queue(crate::platform::JOBS_QUEUE) {
        Ok(q) => q.send(message).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        crate::log::error("queue_send_failed", json!({ "task_id": task.id, "error": e.to_string() }));
    }
    let chapters: Vec<u32> = task.chapters.iter().map(|c| c.number).collect();
    crate::log::info("task_created", json!({ "task_id": task.id, "kind": task.kind, "story_id": task.story_id, "chapters": chapters }));
}

/// Puts a task in the active-task registry before its row is written, so that the sweeper,
/// which skips Neon while the registry is empty, always sees it. If the registry cannot be
/// told, the job is not started (nothing is recorded or enqueued) and the caller may retry.
pub async fn register(ctx: &Ctx, task_id: &str) -> Result<(), super::ApiError> {
    let registered = match crate::active_tasks::Registry::new(&ctx.env) {
        Ok(r) => r.register(task_id).await,
        Err(e) => Err(e),
    };
    registered.map_err(|e| {
        crate::log::error("registry_register_failed", json!({ "task_id": task_id, "error": e.to_string() }));
        super::ApiError::unavailable("the job could not be started; try again", 5)
    })
}
