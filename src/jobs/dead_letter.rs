//! Messages that ran out of retries. Each is recorded where its owner will look, then acked.

use super::Outcome;
use crate::core::messages::JobMessage;
use crate::core::task::{ErrorInfo, TaskStatus};
use crate::db::{tasks, Db};
use crate::progress::ProgressStub;
use crate::settings::{JobSettings, Settings};
use serde_json::json;
use worker::Env;

fn internal(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

pub async fn handle(env: &Env, job: &JobMessage) -> worker::Result<Outcome> {
    crate::log::error("dead_letter", json!({ "job": job.label() }));
    match job {
        JobMessage::Probe { probe_id, .. } => {
            let record = json!({ "probe_id": probe_id, "status": "dead_lettered" });
            ProgressStub::named(env, &format!("probe:{probe_id}"))?
                .put(&record, Some(super::probe::PROBE_TTL_SECS))
                .await?;
        }
        JobMessage::StoryStep { task_id, .. } | JobMessage::AudioStep { task_id, .. } => {
            let db = Db::new(&Settings::from_env(env).map_err(internal)?).map_err(internal)?;
            let ttl = JobSettings::from_env(env).map(|j| j.progress_ttl_secs).unwrap_or(86_400);
            if let Some(task) = tasks::get(&db, task_id).await.map_err(internal)? {
                if !task.status.is_terminal() {
                    let why = task.last_error.as_deref().map(|w| format!(" Last reason: {w}.")).unwrap_or_default();
                    let error = ErrorInfo::new("job_failed", format!("The job failed repeatedly and was given up.{why} Run it again to continue."));
                    db.query(&tasks::end_active(task_id, None, TaskStatus::Failed, "Failed", Some(&error), "failed")).await.map_err(internal)?;
                    crate::active_tasks::forget(env, task_id, None).await;
                    crate::progress::publish_task(env, &db, task_id, ttl).await?;
                }
            }
        }
    }
    Ok(Outcome::Done)
}
