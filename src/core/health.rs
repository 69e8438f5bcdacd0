//! The `/health` report: each dependency's check is `ok` or the reason it failed, and the
//! whole answers 503 when any check failed.

use serde_json::{json, Map, Value};

#[derive(Debug, Default)]
pub struct HealthReport {
    checks: Vec<(&'static str, Result<(), String>)>,
}

impl HealthReport {
    pub fn record(&mut self, name: &'static str, outcome: Result<(), String>) {
        self.checks.push((name, outcome));
    }

    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|(_, r)| r.is_ok())
    }

    pub fn status_code(&self) -> u16 {
        if self.healthy() { 200 } else { 503 }
    }

    pub fn to_json(&self) -> Value {
        let checks: Map<String, Value> = self
            .checks
            .iter()
            .map(|(n, r)| (n.to_string(), Value::String(r.as_ref().err().cloned().unwrap_or_else(|| "ok".into()))))
            .collect();
        json!({ "status": if self.healthy() { "ok" } else { "unavailable" }, "checks": checks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ok_is_200() {
        let mut r = HealthReport::default();
        r.record("database", Ok(()));
        r.record("storage", Ok(()));
        assert_eq!(r.status_code(), 200);
        assert_eq!(r.to_json(), json!({"status": "ok", "checks": {"database": "ok", "storage": "ok"}}));
    }

    #[test]
    fn one_failure_is_503_naming_it() {
        let mut r = HealthReport::default();
        r.record("database", Err("database unreachable: connection refused".into()));
        r.record("queue", Ok(()));
        assert_eq!(r.status_code(), 503);
        let j = r.to_json();
        assert_eq!(j["status"], "unavailable");
        assert_eq!(j["checks"]["database"], "database unreachable: connection refused");
        assert_eq!(j["checks"]["queue"], "ok");
    }
}
