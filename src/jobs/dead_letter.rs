//! Messages that ran out of retries. Each is recorded where its owner will look, then acked.

use super::Outcome;
use crate::core::messages::JobMessage;
use crate::core::neon::Query;
use crate::core::task::{ErrorInfo, TaskStatus};
use crate::db::{chapters, tasks, Db};
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
                    let error = ErrorInfo::new("job_failed", "the job failed repeatedly and was given up; run it again to continue");
                    db.transaction(
                        &[
                            tasks::finish(task_id, TaskStatus::Failed, "Failed", None, Some(&error)),
                            chapters::restore_working(&task.story_id, &task.chapters),
                            // A story follows its last story job; audio jobs leave it as it is.
                            Query::new("UPDATE stories SET status = 'failed', updated_at = now() WHERE id = $1 AND $2 = 'story'")
                                .bind(&task.story_id)
                                .bind(&task.kind),
                        ],
                        None,
                    )
                    .await
                    .map_err(internal)?;
                    crate::progress::publish_task(env, &db, task_id, ttl).await?;
                }
            }
        }
    }
    Ok(Outcome::Done)
}
