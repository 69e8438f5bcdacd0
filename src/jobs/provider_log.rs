//! The one place a provider's own words are kept: a `provider_failed` log line with what it
//! answered (redacted of key-like strings in core, and of the configured keys here), while the
//! task and chapter get only the short message.

use super::step::StepCtx;
use crate::core::provider_text::ProviderFailure;
use serde_json::json;

pub fn provider_failure(ctx: &StepCtx<'_>, chapter: u32, failure: &ProviderFailure, keys: &[&str]) {
    let mut fields = failure.log_fields(keys);
    if let Some(obj) = fields.as_object_mut() {
        obj.insert("task_id".into(), json!(ctx.task.id));
        obj.insert("chapter".into(), json!(chapter));
    }
    if failure.is_transient() {
        crate::log::warn("provider_failed", fields);
    } else {
        crate::log::error("provider_failed", fields);
    }
}
