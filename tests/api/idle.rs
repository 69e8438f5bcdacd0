//! Idle is free: while no task is queued or running the sweeper makes no Neon request (a query
//! would wake a suspended Neon compute, billed while awake). The witness is the local Neon
//! server's own request count.

use crate::helpers::TestStack;
use crate::support::{new_story, run_job, start_job, story_id, LONG};
use serde_json::{json, Value};
use std::time::Duration;

/// Printed, and appended to target/drill-figures.txt with the drills' figures.
fn figure(line: String) {
    println!("idle: {line}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/drill-figures.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        use std::io::Write;
        let _ = writeln!(f, "{line}");
    }
}

/// SQL-over-HTTP requests the local Neon server has answered so far.
fn neon_requests(stack: &TestStack) -> u64 {
    let url = format!("{}/__admin/requests", stack.neon_url.strip_suffix("/sql").expect("neon_url ends in /sql"));
    let v: Value = serde_json::from_str(&ureq::get(&url).call().unwrap().into_body().read_to_string().unwrap()).unwrap();
    v["requests"].as_u64().expect("a request count")
}

/// Sweeps that ended idle (asked nothing of Neon) and those that asked it.
fn sweep_counts(stack: &TestStack) -> (usize, usize) {
    let asked = stack.worker_events("sweep_redrive").len() + stack.worker_events("sweep_redrive_failed").len();
    (stack.worker_events("sweep_idle").len(), asked)
}

/// Fires the Cron Trigger `n` times and waits until each sweep has logged how it ended: the
/// Neon requests made meanwhile (by anything: only an idle stack isolates the sweeps'), and
/// how many of the sweeps asked Neon.
pub fn sweeps(stack: &TestStack, n: usize) -> (u64, usize) {
    let (requests, (idle, asked)) = (neon_requests(stack), sweep_counts(stack));
    for _ in 0..n {
        stack.run_scheduled();
    }
    let now = stack.wait_for("every sweep to end", Duration::from_secs(30), || {
        let c = sweep_counts(stack);
        (c.0 + c.1 >= idle + asked + n).then_some(c)
    });
    (neon_requests(stack) - requests, now.1 - asked)
}

fn story(stack: &TestStack, key: &str) -> String {
    story_id(&new_story(stack, key, &json!({"title": "Idle", "prompt": "A lamplighter on the last night of gas lamps.", "num_chapters": 1})))
}

#[test]
fn an_idle_service_makes_no_neon_request_on_its_cron() {
    let stack = TestStack::start();
    // A new registry cannot know tasks started before it (a first deploy), so its first sweep
    // asks Neon once and adopts whatever is active; that is the only time an empty one asks.
    assert_eq!(sweeps(&stack, 1), (1, 1), "the new registry's one-off reconciliation is one round trip");
    assert_eq!(stack.worker_events("registry_reconciled").len(), 1);
    let (idle, asked) = sweeps(&stack, 20);
    figure(format!("20 scheduled runs → {idle} Neon requests"));
    assert_eq!((idle, asked), (0, 0), "an idle sweep asked Neon");
}

#[test]
fn after_jobs_end_at_most_one_sweep_asks_neon_then_none() {
    let stack = TestStack::start();
    sweeps(&stack, 1);
    let (_, key) = stack.create_user("ida");

    // A completed task leaves the registry as it ends.
    let done = run_job(&stack, &key, &story(&stack, &key), "generate", &json!({}));
    assert_eq!(done["status"], "completed", "{done}");
    assert!(sweeps(&stack, 1).0 <= 1);
    assert_eq!(sweeps(&stack, 20), (0, 0), "sweeps after a completed job asked Neon");

    // A failed one stays registered (it ends in a step whose writes may not all land); one
    // sweep learns from Neon that it ended and forgets it.
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "status", "status": 401, "times": null})));
    let task = start_job(&stack, &key, &story(&stack, &key), "generate", &json!({}));
    let failed = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(sweeps(&stack, 1), (1, 1), "the registry still named the failed task");
    let forgot = stack.worker_events("registry_reconciled");
    assert!(forgot.last().is_some_and(|e| e["removed"] == json!([task])), "{forgot:?}");
    assert_eq!(sweeps(&stack, 20), (0, 0), "sweeps after a failed job asked Neon");
}

#[test]
fn a_task_active_before_the_registry_existed_is_adopted_and_redriven() {
    let stack = TestStack::start();
    let (user, key) = stack.create_user("ada");
    let story = story(&stack, &key);
    // As on the first deploy with the registry: a task row, queued long ago, that no
    // registration ever named and whose message is gone.
    let rows = stack.sql(
        "INSERT INTO tasks (id, user_id, story_id, kind, chapters, updated_at) \
         VALUES (gen_random_uuid(), $1, $2, 'story', '{1}', now() - interval '1 hour') RETURNING id::text AS id",
        &[Value::from(user.as_str()), Value::from(story.as_str())],
    );
    let task = rows[0]["id"].as_str().unwrap().to_string();
    assert_eq!(sweeps(&stack, 1).1, 1);
    assert!(stack.worker_events("task_redriven").iter().any(|e| e["task_id"] == task.as_str()));
    let adopted = stack.worker_events("registry_reconciled");
    assert_eq!(adopted[0]["added"], json!([task]), "{adopted:?}");
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    // Known from then on, and forgotten as it completed: idle again.
    assert_eq!(sweeps(&stack, 20), (0, 0));
}

#[test]
fn a_sweep_while_a_job_runs_asks_neon() {
    let stack = TestStack::start();
    sweeps(&stack, 1);
    let (_, key) = stack.create_user("iris");
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 3000})));
    let task = start_job(&stack, &key, &story(&stack, &key), "generate", &json!({}));
    assert_eq!(sweeps(&stack, 1).1, 1, "the registry named the running task");
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(sweeps(&stack, 20), (0, 0));
}

#[test]
fn without_the_registry_a_job_start_records_nothing_and_sweeps_ask_neon() {
    let binding = "[[durable_objects.bindings]]\nname = \"ACTIVE_TASKS\"\nclass_name = \"ActiveTasks\"\n";
    let stack = TestStack::start_with_config(&[], &|toml| {
        assert!(toml.contains(binding), "wrangler.toml binds the registry");
        toml.replacen(binding, "", 1)
    });
    let (_, key) = stack.create_user("ivo");
    let story = story(&stack, &key);
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&json!({})));
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "unavailable");
    assert!(r.header("retry-after").is_some());
    assert!(stack.sql("SELECT id FROM tasks", &[]).is_empty(), "a task the registry never heard of was recorded");
    assert!(stack.openai_requests().is_empty());
    // A sweep that cannot read the registry cannot know there is nothing to do.
    assert_eq!(sweeps(&stack, 1), (1, 1));
    assert_eq!(stack.worker_events("sweep_redrive").len(), 1, "the sweep asked Neon as before");
    assert!(!stack.worker_events("registry_unavailable").is_empty());
}
