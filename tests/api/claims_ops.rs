//! Claims of README / API.md about operations — health, admin auth, the sweeper, SSE, the
//! dead-letter path — that no other test checks.

use crate::helpers::TestStack;
use crate::support::*;
use serde_json::{json, Value};
use std::io::BufRead;
use std::time::Duration;

fn probe(stack: &TestStack) -> String {
    let r = stack.admin("POST", "/api/v1/admin/probes", Some("{}"));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.json()["probe_id"].as_str().unwrap().to_string()
}

fn probe_state(stack: &TestStack, id: &str) -> Value {
    let r = stack.admin("GET", &format!("/api/v1/admin/probes/{id}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn consumed_probe(stack: &TestStack) -> String {
    let id = probe(stack);
    stack.wait_for("the probe to be consumed", Duration::from_secs(30), || (probe_state(stack, &id)["consumed"] == true).then_some(()));
    id
}

/// Admin routes: 401 for a token that is not the admin token and not a user's key (malformed
/// or unknown), 403 for a real user's key. The sweeper removes diagnostic objects older than
/// an hour and keeps recent ones. `/health` names a failing storage with 503.
#[test]
fn admin_tokens_the_diagnostics_sweep_and_a_storage_failure_in_health() {
    // Every health call probes, so the storage failure shows at once.
    let stack = TestStack::start_with(&[("HEALTH_PROBE_SECS", "0")]);
    let (_, user_key) = stack.create_user("claims-f");
    let task = "00000000-0000-4000-8000-000000000000";
    let routes = [
        ("POST", "/api/v1/users".to_string(), Some(r#"{"name": "x"}"#)),
        ("POST", "/api/v1/admin/probes".to_string(), Some("{}")),
        ("GET", format!("/api/v1/admin/probes/{task}"), None),
        ("POST", format!("/api/v1/admin/tasks/{task}/redrive"), None),
        ("GET", format!("/api/v1/admin/tasks/{task}/progress"), None),
    ];
    let unknown_key = format!("tc_{}", "0".repeat(32));
    let wrong_admin = format!("{}x", stack.admin_token);
    let mut wrong = Vec::new();
    for (method, path, body) in &routes {
        for (token, status, code) in [
            ("garbage", 401, "unauthorized"),
            (wrong_admin.as_str(), 401, "unauthorized"),
            ("tc_not_a_key", 401, "unauthorized"),
            (unknown_key.as_str(), 401, "unauthorized"),
            (user_key.as_str(), 403, "forbidden"),
        ] {
            let auth = format!("Bearer {token}");
            let r = stack.request(method, path, *body, &[("Authorization", &auth), ("Content-Type", "application/json")]).unwrap();
            if r.status != status || r.json()["error"]["code"] != code {
                wrong.push(format!("{method} {path} with {token:?}: {} {}", r.status, String::from_utf8_lossy(&r.body)));
            }
        }
    }

    // The sweeper: an old probe object goes, a recent one stays.
    let old = consumed_probe(&stack);
    let recent = consumed_probe(&stack);
    assert_eq!(r2_keys(&stack, &format!("probes/{old}")), vec![format!("probes/{old}.json")]);
    r2_age(&stack, &format!("probes/{old}"), 2 * 3600);
    // Health checks delete their own object; these two were left behind, one long ago.
    r2_plant_empty(&stack, "health/left-long-ago", 2 * 3600);
    r2_plant_empty(&stack, "health/left-just-now", 60);
    assert_eq!(r2_keys(&stack, "health/"), ["health/left-just-now", "health/left-long-ago"]);
    stack.run_scheduled();
    stack.wait_for("the old probe object to be removed", Duration::from_secs(30), || {
        probe_state(&stack, &old)["object"].is_null().then_some(())
    });
    let kept = probe_state(&stack, &recent);
    assert_eq!(kept["object"]["key"], format!("probes/{recent}.json"), "a recent diagnostic object stays: {kept}");
    assert!(r2_keys(&stack, &format!("probes/{old}")).is_empty());
    assert_eq!(r2_keys(&stack, "health/"), ["health/left-just-now"], "the old health object goes, the recent one stays");
    assert_eq!(stack.get("/health").status, 200);
    assert_eq!(r2_keys(&stack, "health/"), ["health/left-just-now"], "a health check leaves no object of its own");

    // Storage that cannot be written: 503 naming storage, the other checks ok.
    let restore = r2_break_writes(&stack);
    let r = stack.get("/health");
    let body = r.json();
    assert_eq!(r.status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["checks"]["storage"], "ok", "{body}");
    assert!(body["checks"]["storage"].as_str().is_some_and(|s| !s.is_empty()));
    for other in ["database", "progress", "queue"] {
        assert_eq!(body["checks"][other], "ok", "{body}");
    }
    assert!(r.header("retry-after").is_some());
    restore();
    assert_eq!(stack.get("/health").status, 200, "healthy again once storage works");

    assert!(wrong.is_empty(), "admin routes answered wrongly (want 401 unauthorized for anything but a user's key, 403 forbidden for it):\n{}", wrong.join("\n"));
}

/// Reads `/events` of a task held running by a slow LLM: the current state at once, a
/// `: keep-alive` comment while nothing changes, and the end after the cancel's terminal event.
#[test]
fn a_quiet_running_task_stream_gets_keep_alive_comments() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("claims-g");
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 45_000})));
    let story = story_id(&new_story(&stack, &key, &json!({"prompt": "A lighthouse that hums.", "num_chapters": 1})));
    let task = start_job(&stack, &key, &story, "generate", &json!({}));
    stack.wait_for("the LLM call to start", LONG, || (!stack.openai_requests().is_empty()).then_some(()));

    let reader = stack.events(&key, &task, Duration::from_secs(120));
    let (mut views, mut keep_alive_after, mut cancelled) = (Vec::<Value>::new(), None, false);
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(d) = line.strip_prefix("data: ") {
            views.push(serde_json::from_str(d).unwrap());
        } else if line == ": keep-alive" {
            keep_alive_after.get_or_insert(views.len());
            if !cancelled {
                let r = stack.call(&key, "POST", &format!("/api/v1/tasks/{task}/cancel"), None);
                assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
                cancelled = true;
            }
        }
    }
    let n = keep_alive_after.expect("a keep-alive comment on the quiet stream");
    assert!(n >= 1, "the current state comes at once, before any keep-alive");
    assert!(views[..n].iter().all(|v| v["status"] == "running" || v["status"] == "queued"), "{views:?}");
    assert_eq!(views.last().unwrap()["status"], "cancelled", "the stream ends after the terminal event");
}

/// A step that fails on every delivery (here: a price table the consumer cannot read) ends in
/// the dead-letter path: the task fails with `job_failed` and a readable message.
#[test]
fn a_step_that_fails_every_delivery_fails_the_task_with_job_failed() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("claims-h");
    let story = story_id(&new_story(&stack, &key, &json!({"prompt": "A map drawn in salt.", "num_chapters": 2})));
    // Every delivery's first write (the chapter marked as being written) fails with a database
    // error that is not transient, so each one gives the step back; the job start, which
    // writes no chapter, goes through.
    stack.sql(
        "CREATE FUNCTION refuse_chapter_work() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'chapter rows are read-only in this test'; END $$",
        &[],
    );
    stack.sql("CREATE TRIGGER refuse_chapter_work BEFORE UPDATE ON chapters FOR EACH ROW EXECUTE FUNCTION refuse_chapter_work()", &[]);
    let last = run_job(&stack, &key, &story, "generate", &json!({}));
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "job_failed", "{last}");
    let message = last["error"]["message"].as_str().unwrap();
    assert!(message.len() > 10 && message.contains(' '), "a sentence for a person: {message:?}");
    assert!(!message.contains("RustError"), "no internals: {message:?}");
    assert!(stack.openai_requests().is_empty(), "the step never got as far as the LLM");
    let s = get_json(&stack, &key, &format!("/api/v1/stories/{story}"));
    assert_eq!(s["status"], "failed", "{s}");
    assert!(s["chapters"].as_array().unwrap().iter().all(|c| c["status"] == "pending"), "{s}");
    // The record is final: a later delivery changes nothing, and a redrive is refused.
    let r = stack.admin("POST", &format!("/api/v1/admin/tasks/{}/redrive", last["id"].as_str().unwrap()), None);
    assert_eq!(r.status, 409);
}
