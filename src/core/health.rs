//! The `/health` report and its cache.
//!
//! Each dependency's check is `ok` or a failure with two texts: a short public reason ("query
//! failed") that anyone may see, and the detail (the error as it came, which may hold
//! PostgreSQL's text or internal names) for the admin token and the log only. The whole answers
//! 503 when any check failed.

use crate::core::neon::NeonError;
use serde_json::{json, Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct CheckFailure {
    /// A few words naming what failed; never carries a dependency's own text.
    pub reason: &'static str,
    pub detail: String,
}

impl CheckFailure {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        CheckFailure { reason, detail: detail.into() }
    }
}

#[derive(Clone, Debug, Default)]
pub struct HealthReport {
    checks: Vec<(&'static str, Result<(), CheckFailure>)>,
}

impl HealthReport {
    pub fn record(&mut self, name: &'static str, outcome: Result<(), CheckFailure>) {
        self.checks.push((name, outcome));
    }

    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|(_, r)| r.is_ok())
    }

    pub fn status_code(&self) -> u16 {
        if self.healthy() { 200 } else { 503 }
    }

    /// The anonymous answer: each check `ok` or its short reason.
    pub fn to_json(&self) -> Value {
        self.render(&|f| Value::String(f.reason.to_string()))
    }

    /// The admin's answer (and the log's): the detail next to each short reason.
    pub fn to_admin_json(&self) -> Value {
        self.render(&|f| json!({ "reason": f.reason, "detail": f.detail }))
    }

    // `&dyn` and inserts rather than a generic closure and `collect()`: each copy of a
    // collected map brings its own stable sort (~3 KiB of the Worker apiece).
    fn render(&self, failure: &dyn Fn(&CheckFailure) -> Value) -> Value {
        let mut checks = Map::new();
        for (n, r) in &self.checks {
            checks.insert(n.to_string(), r.as_ref().err().map(failure).unwrap_or_else(|| Value::String("ok".into())));
        }
        json!({ "status": if self.healthy() { "ok" } else { "unavailable" }, "checks": checks })
    }
}

/// The database check's failure: the short reason says which kind of trouble it is, the
/// detail keeps the error's text (PostgreSQL's message included) for the admin.
pub fn database_failure(e: &NeonError) -> CheckFailure {
    let reason = match e {
        NeonError::Config(_) => "not configured",
        // src/db/client.rs's words for an aborted round trip.
        NeonError::Transport(m) if m.contains("did not answer within") => "timed out",
        _ if e.is_transient() => "unreachable",
        NeonError::Decode(_) => "unexpected answer",
        NeonError::Db(_) | NeonError::Http { .. } | NeonError::Transport(_) => "query failed",
    };
    // The endpoint's own answer is kept out of the error's text (it reaches logs); the admin
    // may read it.
    let detail = match e {
        NeonError::Http { body, .. } if !body.is_empty() => format!("{e}: {}", body.chars().take(300).collect::<String>()),
        _ => e.to_string(),
    };
    CheckFailure::new(reason, detail)
}

/// What to answer a health call with.
#[derive(Debug, PartialEq)]
pub enum Lookup<T> {
    /// A result younger than the probe interval: answer it.
    Fresh { value: T, probed_at_ms: u64 },
    /// Another call of this isolate is probing now: answer the previous result rather than
    /// start a second probe.
    Probing { value: T, probed_at_ms: u64 },
    /// Probe, then `store` the result. The caller is now the one probing.
    Probe,
}

/// The last probe's result, per isolate: a flood of health calls costs one probe per
/// interval. Each isolate (and each Cloudflare location) probes on its own.
#[derive(Debug, Default)]
pub struct ProbeCache<T> {
    last: Option<(u64, T)>,
    probing_since_ms: Option<u64>,
}

/// A probe that has not stored its result after this long is taken for lost (its request
/// was cancelled), and the next call probes again.
const PROBE_LOST_AFTER_MS: u64 = 60_000;

impl<T: Clone> ProbeCache<T> {
    /// `max_age_secs` 0 means every call probes.
    pub fn lookup(&mut self, now_ms: u64, max_age_secs: u64) -> Lookup<T> {
        if max_age_secs == 0 {
            return Lookup::Probe;
        }
        if let Some((at, v)) = &self.last {
            if now_ms.saturating_sub(*at) < max_age_secs * 1000 {
                return Lookup::Fresh { value: v.clone(), probed_at_ms: *at };
            }
            if self.probing_since_ms.is_some_and(|s| now_ms.saturating_sub(s) < PROBE_LOST_AFTER_MS) {
                return Lookup::Probing { value: v.clone(), probed_at_ms: *at };
            }
        }
        self.probing_since_ms = Some(now_ms);
        Lookup::Probe
    }

    pub fn store(&mut self, now_ms: u64, value: T) {
        self.last = Some((now_ms, value));
        self.probing_since_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::neon::DbError;

    #[test]
    fn all_ok_is_200() {
        let mut r = HealthReport::default();
        r.record("database", Ok(()));
        r.record("storage", Ok(()));
        assert_eq!(r.status_code(), 200);
        assert_eq!(r.to_json(), json!({"status": "ok", "checks": {"database": "ok", "storage": "ok"}}));
        assert_eq!(r.to_admin_json(), r.to_json());
    }

    #[test]
    fn one_failure_is_503_naming_it_with_the_detail_for_the_admin_only() {
        let mut r = HealthReport::default();
        r.record("database", Err(CheckFailure::new("query failed", "ERROR: relation \"schema_migrations\" does not exist")));
        r.record("queue", Ok(()));
        assert_eq!(r.status_code(), 503);
        let j = r.to_json();
        assert_eq!(j, json!({"status": "unavailable", "checks": {"database": "query failed", "queue": "ok"}}));
        let a = r.to_admin_json();
        assert_eq!(a["status"], "unavailable");
        assert_eq!(a["checks"]["database"]["reason"], "query failed");
        assert!(a["checks"]["database"]["detail"].as_str().unwrap().contains("does not exist"));
        assert_eq!(a["checks"]["queue"], "ok");
    }

    #[test]
    fn database_failures_have_short_reasons_and_keep_postgres_text_in_the_detail() {
        let pg = |code: &str, message: &str| NeonError::Db(DbError { code: code.into(), message: message.into(), ..Default::default() });
        let cases = [
            (pg("08006", "connection to server on socket \"/tmp/x/.s.PGSQL.5432\" failed: No such file"), "unreachable"),
            (pg("42P01", "relation \"schema_migrations\" does not exist"), "query failed"),
            (NeonError::Http { status: 502, body: "upstream".into() }, "unreachable"),
            (NeonError::Http { status: 404, body: "no such endpoint".into() }, "query failed"),
            (NeonError::Transport("connection refused".into()), "unreachable"),
            (NeonError::Transport("the database did not answer within 30 s".into()), "timed out"),
            (NeonError::Decode("missing column".into()), "unexpected answer"),
            (NeonError::Config("bad url".into()), "not configured"),
        ];
        for (e, reason) in cases {
            let f = database_failure(&e);
            assert_eq!(f.reason, reason, "{e}");
            assert!(f.detail.starts_with(&e.to_string()), "{}", f.detail);
        }
        let f = database_failure(&pg("42P01", "relation \"schema_migrations\" does not exist"));
        let mut r = HealthReport::default();
        r.record("database", Err(f));
        assert!(!r.to_json().to_string().contains("schema_migrations"), "PostgreSQL's text stays out of the public answer");
        assert!(r.to_admin_json().to_string().contains("schema_migrations"));
    }

    #[test]
    fn a_result_is_reused_until_it_is_older_than_the_interval() {
        let mut c = ProbeCache::default();
        assert_eq!(c.lookup(1_000, 30), Lookup::Probe);
        c.store(1_500, "ok");
        assert_eq!(c.lookup(2_000, 30), Lookup::Fresh { value: "ok", probed_at_ms: 1_500 });
        assert_eq!(c.lookup(31_499, 30), Lookup::Fresh { value: "ok", probed_at_ms: 1_500 });
        assert_eq!(c.lookup(31_500, 30), Lookup::Probe, "30 s after the probe, a new one");
        c.store(32_000, "down");
        assert_eq!(c.lookup(33_000, 30), Lookup::Fresh { value: "down", probed_at_ms: 32_000 }, "failures are cached too");
    }

    #[test]
    fn while_one_call_probes_the_others_answer_the_previous_result() {
        let mut c = ProbeCache::default();
        assert_eq!(c.lookup(0, 30), Lookup::Probe);
        // No previous result yet: a concurrent call on a cold isolate probes too.
        assert_eq!(c.lookup(10, 30), Lookup::Probe);
        c.store(100, 1);
        assert_eq!(c.lookup(40_000, 30), Lookup::Probe);
        assert_eq!(c.lookup(40_001, 30), Lookup::Probing { value: 1, probed_at_ms: 100 });
        // A probe that never stored (its request was cancelled) does not block forever.
        assert_eq!(c.lookup(40_000 + PROBE_LOST_AFTER_MS, 30), Lookup::Probe);
        c.store(100_100, 2);
        assert_eq!(c.lookup(100_200, 30), Lookup::Fresh { value: 2, probed_at_ms: 100_100 });
    }

    #[test]
    fn an_interval_of_zero_probes_every_time() {
        let mut c = ProbeCache::default();
        c.store(0, 1);
        assert_eq!(c.lookup(1, 0), Lookup::Probe);
        assert_eq!(c.lookup(2, 0), Lookup::Probe);
    }
}
