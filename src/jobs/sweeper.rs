//! The Cron Trigger's work: scheduled clean-up of what short-lived diagnostics leave in R2.

use serde_json::json;
use worker::Env;

/// Objects under these prefixes older than this are removed.
const DIAGNOSTIC_PREFIXES: [&str; 2] = ["health/", "probes/"];
const MAX_AGE_MS: u64 = 3600 * 1000;

pub async fn run(cron: String, env: Env) {
    match sweep_diagnostics(&env).await {
        Ok(removed) => crate::log::info("sweep_done", json!({ "cron": cron, "diagnostic_objects_removed": removed })),
        Err(e) => crate::log::error("sweep_failed", json!({ "cron": cron, "error": e.to_string() })),
    }
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
