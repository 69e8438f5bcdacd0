//! One JSON object per log line, so `wrangler tail` and log search can filter by field.
//! Callers pass ids and reasons only: never secrets, keys or connection strings.

use serde_json::{json, Value};

fn emit(level: &str, event: &str, fields: Value) {
    let mut line = json!({ "ts": chrono::Utc::now().to_rfc3339(), "level": level, "event": event });
    if let (Some(obj), Value::Object(extra)) = (line.as_object_mut(), fields) {
        obj.extend(extra);
    }
    worker::console_log!("{line}");
}

pub fn info(event: &str, fields: Value) {
    emit("info", event, fields)
}

pub fn warn(event: &str, fields: Value) {
    emit("warn", event, fields)
}

pub fn error(event: &str, fields: Value) {
    emit("error", event, fields)
}
