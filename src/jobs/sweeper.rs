//! The Cron Trigger's work. Queue messages can be lost (local queues live in memory; a send can
//! fail after a step was recorded), so no task depends on one message: active tasks that made
//! no progress for a while are re-driven from their recorded step, which is safe because a step
//! is claimed by exactly one delivery. It also removes old diagnostic objects from R2.
//!
//! Idle must cost no Neon compute (any query wakes a suspended one), so the sweeper first asks
//! the active-task registry (`active_tasks`): empty and adopted means no task is queued or
//! running, and Neon is left alone. Otherwise one batch finds the stalled tasks and the state
//! of the registered ones, and the registry is brought in line (`core::active::reconcile`).

use crate::active_tasks::Registry;
use crate::core::active::reconcile;
use crate::core::messages::JobMessage;
use crate::db::{tasks, Db};
use crate::settings::{JobSettings, Settings};
use serde_json::json;
use std::collections::HashMap;
use worker::Env;

/// Objects under these prefixes older than this are removed.
const DIAGNOSTIC_PREFIXES: [&str; 2] = ["health/", "probes/"];
const MAX_AGE_MS: u64 = 3600 * 1000;

pub async fn run(cron: String, env: Env) {
    match redrive_stalled(&env).await {
        Ok(Some(n)) => crate::log::info("sweep_redrive", json!({ "cron": cron, "tasks_redriven": n })),
        Ok(None) => crate::log::info("sweep_idle", json!({ "cron": cron })),
        Err(e) => crate::log::error("sweep_redrive_failed", json!({ "cron": cron, "error": e.to_string() })),
    }
    match sweep_diagnostics(&env).await {
        Ok(removed) => crate::log::info("sweep_diagnostics", json!({ "cron": cron, "objects_removed": removed })),
        Err(e) => crate::log::error("sweep_diagnostics_failed", json!({ "cron": cron, "error": e.to_string() })),
    }
}

/// The number of tasks re-driven, or `None` when the registry says there is nothing to do.
async fn redrive_stalled(env: &Env) -> worker::Result<Option<usize>> {
    let err = |e: String| worker::Error::RustError(e);
    let read = match Registry::new(env) {
        Ok(r) => r.snapshot().await.map(|s| (r, s)),
        Err(e) => Err(e),
    };
    // A registry that does not answer proves nothing: ask Neon as if every task might be active.
    let registry = match read {
        Ok((_, s)) if !s.needs_neon() => return Ok(None),
        Ok(read) => Some(read),
        Err(e) => {
            crate::log::warn("registry_unavailable", json!({ "error": e.to_string() }));
            None
        }
    };
    let settings = Settings::from_env(env).map_err(err)?;
    let db = Db::new(&settings).map_err(|e| err(e.to_string()))?;
    let jobs = JobSettings::from_env(env).map_err(err)?;
    let registered = registry.as_ref().map(|(_, s)| s.task_ids()).unwrap_or_default();
    let (stalled, known) = tasks::sweep(&db, jobs.stall_after_secs, registered).await.map_err(|e| err(e.to_string()))?;
    let queue = env.queue(crate::platform::JOBS_QUEUE)?;
    for (task_id, kind, step) in &stalled {
        crate::log::warn("task_redriven", json!({ "task_id": task_id, "kind": kind, "step": step }));
        queue.send(JobMessage::step(kind, task_id.clone(), *step)).await?;
    }
    if let Some((registry, snapshot)) = registry {
        // A job start registers just before its one-statement insert; twice Neon's timeout is
        // far past the moment that row can still appear.
        let grace_ms = 2 * 1000 * settings.neon_timeout_secs as i64;
        let plan = reconcile(&snapshot, &known.into_iter().collect::<HashMap<_, _>>(), grace_ms);
        if !plan.remove.is_empty() || !plan.add.is_empty() || !snapshot.adopted {
            crate::log::info("registry_reconciled", json!({ "removed": plan.remove, "added": plan.add, "was_adopted": snapshot.adopted }));
            registry.reconcile(&plan).await?;
        }
    }
    Ok(Some(stalled.len()))
}

async fn sweep_diagnostics(env: &Env) -> worker::Result<usize> {
    let bucket = env.bucket(crate::platform::AUDIO_BUCKET)?;
    let now = chrono::Utc::now().timestamp_millis() as u64;
    let mut removed = 0;
    for prefix in DIAGNOSTIC_PREFIXES {
        let mut cursor: Option<String> = None;
        loop {
            let mut list = bucket.list().prefix(prefix);
            if let Some(c) = &cursor {
                list = list.cursor(c);
            }
            let page = list.execute().await?;
            let old: Vec<String> = page
                .objects()
                .iter()
                .filter(|o| now.saturating_sub(o.uploaded().as_millis()) > MAX_AGE_MS)
                .map(|o| o.key())
                .collect();
            removed += old.len();
            if !old.is_empty() {
                bucket.delete_multiple(old).await?;
            }
            match (page.truncated(), page.cursor()) {
                (true, Some(c)) => cursor = Some(c),
                _ => break,
            }
        }
    }
    Ok(removed)
}
