//! The story job end to end: users, stories, generate, tasks (polling and SSE), the stand-in's
//! request log as the witness of what was asked of the LLM.

use crate::helpers::TestStack;
use serde_json::{json, Value};
use std::io::BufRead;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

fn new_story(stack: &TestStack, key: &str, chapters: u32, enhance: bool) -> String {
    let body = json!({"title": "The Lighthouse", "prompt": "A keeper finds a map in a bottle.", "num_chapters": chapters,
                      "enhance": enhance, "config": {"genre": "mystery", "audience": "teens"}});
    let r = stack.call(key, "POST", "/api/v1/stories", Some(&body));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["status"], "draft");
    assert_eq!(v["num_chapters"], chapters);
    v["id"].as_str().unwrap().to_string()
}

fn generate(stack: &TestStack, key: &str, story: &str, body: Value) -> String {
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&body));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.json()["task_id"].as_str().unwrap().to_string()
}

fn chapter(stack: &TestStack, key: &str, story: &str, n: u32) -> Value {
    let r = stack.call(key, "GET", &format!("/api/v1/stories/{story}/chapters/{n}"), None);
    assert_eq!(r.status, 200);
    r.json()
}

/// The user message of an OpenAI request from the stand-in's log.
fn prompt_of(req: &Value) -> String {
    req["body"]["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn is_summary_request(req: &Value) -> bool {
    req["body"]["response_format"].is_null()
}

/// Reads `/events` until the server closes it: (event ids, task views).
fn read_events(stack: &TestStack, key: &str, task: &str) -> (Vec<u64>, Vec<Value>) {
    let reader = stack.events(key, task, LONG);
    let (mut ids, mut views) = (Vec::new(), Vec::new());
    let mut event = String::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("id: ") {
            ids.push(id.parse().unwrap());
        } else if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            assert_eq!(event, "task");
            views.push(serde_json::from_str(d).unwrap());
        }
    }
    (ids, views)
}

fn assert_never_decreases(progress: &[u64]) {
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress went down: {progress:?}");
}

#[test]
fn a_three_chapter_story_with_enhance_completes_with_context_carried_forward() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("ada");
    let story = new_story(&stack, &key, 3, true);
    // Slow answers, so that the stream and the polls see the task move.
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 150})));
    let task = generate(&stack, &key, &story, json!({}));

    let events = std::thread::scope(|s| {
        let sse = s.spawn(|| read_events(&stack, &key, &task));
        let polled = stack.follow_task(&key, &task, LONG);
        (sse.join().unwrap(), polled)
    });
    let ((ids, streamed), polled) = events;

    let last = polled.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["progress"], 100);
    assert_eq!(last["kind"], "story");
    assert_eq!(last["chapters"], json!([{"number": 1, "status": "enhanced"}, {"number": 2, "status": "enhanced"}, {"number": 3, "status": "enhanced"}]));
    assert!(last["error"].is_null());
    assert_never_decreases(&polled.iter().map(|v| v["progress"].as_u64().unwrap()).collect::<Vec<_>>());

    assert!(streamed.len() >= 4, "the stream should show the task moving: {} events", streamed.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "event ids must increase: {ids:?}");
    assert_never_decreases(&streamed.iter().map(|v| v["progress"].as_u64().unwrap()).collect::<Vec<_>>());
    assert_eq!(streamed.last().unwrap()["status"], "completed", "the stream ends with the terminal state");
    assert!(streamed.iter().any(|v| v["status"] == "running" && v["progress"].as_u64().unwrap() > 0));

    let reqs = stack.openai_requests();
    assert_eq!(reqs.len(), 9, "script, enhance and summary for each of 3 chapters");
    let mut summaries = Vec::new();
    for n in 1..=3 {
        let c = chapter(&stack, &key, &story, n);
        assert_eq!(c["status"], "enhanced");
        assert!(!c["script"]["lines"].as_array().unwrap().is_empty());
        assert!(!c["enhanced"]["lines"].as_array().unwrap().is_empty());
        assert!(c["script"]["lines"][0]["speaker"].is_string());
        let summary = c["summary"].as_str().unwrap().to_string();
        assert!(!summary.is_empty());
        assert_eq!(c["title"], c["enhanced"]["title"]);
        summaries.push(summary);
    }
    // Each chapter's requests carry every earlier summary, in order; the first carries none.
    let script_reqs: Vec<&Value> = reqs.iter().filter(|r| !is_summary_request(r)).collect();
    for (i, r) in script_reqs.iter().enumerate() {
        let chapter_index = i / 2; // script then enhance
        let text = prompt_of(r);
        assert!(text.contains("mystery"), "the story config is in the prompt");
        assert!(text.contains("A keeper finds a map in a bottle."));
        for (j, s) in summaries.iter().enumerate() {
            assert_eq!(text.contains(s.as_str()), j < chapter_index, "request {i} and summary {j}");
        }
        if chapter_index == 2 {
            assert!(text.find(&summaries[0]).unwrap() < text.find(&summaries[1]).unwrap(), "summaries in chapter order");
        }
    }

    let story_v = stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json();
    assert_eq!(story_v["status"], "completed");
    assert_eq!(story_v["chapters"].as_array().unwrap().len(), 3);
    assert_eq!(story_v["chapters"][0]["status"], "enhanced");
    assert!(story_v["chapters"][0]["audio"].is_null());

    let usage = stack.call(&key, "GET", "/api/v1/usage", None).json();
    assert!(usage["llm"]["prompt_tokens"].as_i64().unwrap() > 0, "{usage}");
    assert!(usage["llm"]["completion_tokens"].as_i64().unwrap() > 0);
    assert!(usage["estimated_cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(usage["tts"]["characters"], 0);
}

#[test]
fn transient_faults_are_retried_and_a_persistent_one_fails_keeping_earlier_chapters() {
    let stack = TestStack::start_with(&[("LLM_TRANSIENT_RETRIES", "2")]);
    let (_, key) = stack.create_user("bo");

    // A 429 with Retry-After, then success; a malformed body, then success.
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "status", "status": 429, "retry_after": 1})));
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "malformed", "skip": 1})));
    let story = new_story(&stack, &key, 1, false);
    let task = generate(&stack, &key, &story, json!({}));
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    let statuses: Vec<u64> = stack.openai_requests().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![429, 200, 200, 200], "a 429, a malformed 200, then script and summary");

    // Chapter 1 goes through (2 calls), then the provider answers 500 for good.
    stack.providers("POST", "reset", None);
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "status", "status": 500, "skip": 2, "times": null})));
    let story = new_story(&stack, &key, 3, false);
    let task = generate(&stack, &key, &story, json!({}));
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "llm_unavailable");
    assert!(last["error"]["message"].as_str().unwrap().contains("500"), "{last}");
    assert_eq!(last["chapters"], json!([{"number": 1, "status": "script_ready"}, {"number": 2, "status": "failed"}, {"number": 3, "status": "pending"}]));
    let ch2 = chapter(&stack, &key, &story, 2);
    assert_eq!(ch2["error"]["code"], "llm_unavailable");
    let ch1_before = chapter(&stack, &key, &story, 1);
    assert!(ch1_before["summary"].is_string());
    let story_v = stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json();
    assert_eq!(story_v["status"], "failed");

    // The provider recovers; generating again does only what is missing.
    stack.providers("POST", "reset", None);
    let task = generate(&stack, &key, &story, json!({}));
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["chapters"], json!([{"number": 2, "status": "script_ready"}, {"number": 3, "status": "script_ready"}]));
    assert_eq!(stack.openai_requests().len(), 4, "script and summary for chapters 2 and 3 only");
    assert_eq!(chapter(&stack, &key, &story, 1), ch1_before, "chapter 1 untouched");
    assert!(chapter(&stack, &key, &story, 2)["error"].is_null());
}

#[test]
fn a_duplicated_message_makes_no_second_llm_call() {
    let mut stack = TestStack::start();
    // Duplicates arrive through a second Worker on the same state: one local queue delivers one
    // batch at a time (max_batch_size = 1), while Cloudflare runs consumers side by side.
    let second = stack.start_second_worker();
    let auth = format!("Bearer {}", stack.admin_token);
    let (_, key) = stack.create_user("cy");
    // Slow calls, so that the first delivery holds step 0 for a while.
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 3000})));
    let story = new_story(&stack, &key, 2, false);
    let task = generate(&stack, &key, &story, json!({}));
    stack.wait_for_held_step(&task, 0, LONG);
    // While step 0 is being worked on, its message is delivered five more times.
    for _ in 0..5 {
        let r = stack.request_at(&second, "POST", &format!("/api/v1/admin/tasks/{task}/redrive"), None, &[("Authorization", &auth)]).unwrap();
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["step"], 0);
    }
    let skipped = |stack: &TestStack| stack.worker_events("step_skipped").into_iter().filter(|e| e["task_id"] == task.as_str() && e["step"] == 0).count();
    stack.wait_for("the duplicates to be delivered and turned away", LONG, || (skipped(&stack) >= 5).then_some(()));
    // The first delivery held the step from before the duplicates were sent until now, so they
    // were turned away while it held it: still step 0, still leased, nothing asked twice.
    let row = stack.task_row(&task);
    assert_eq!((row["step"].as_u64(), &row["leased"]), (Some(0), &json!(true)), "{row}");
    let reqs = stack.openai_requests();
    assert_eq!(reqs.iter().filter(|r| !is_summary_request(r)).count(), 1, "one script call so far: {reqs:?}");
    assert_eq!(skipped(&stack), 5);
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 0})));
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed");
    assert_eq!(stack.openai_requests().len(), 4, "two calls per chapter, none twice");
    // A late duplicate of a finished task does nothing either.
    let r = stack.admin("POST", &format!("/api/v1/admin/tasks/{task}/redrive"), None);
    assert_eq!(r.status, 409);
}

/// The task's usage rows: one per LLM answer that the Worker received and recorded.
fn usage_rows(stack: &TestStack, task: &str) -> usize {
    stack.sql("SELECT id FROM usage_log WHERE task_id = $1", &[json!(task)]).len()
}

#[test]
fn cancel_stops_the_job_and_regenerate_redoes_one_chapter() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("di");
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 1500})));
    let story = new_story(&stack, &key, 3, false);
    let task = generate(&stack, &key, &story, json!({}));
    stack.wait_for("chapter 2's script call to be in flight", LONG, || {
        let v = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
        let working = v["chapters"][0]["status"] == "script_ready" && v["chapters"][1]["status"] == "generating_script";
        (working && stack.openai_requests().iter().any(|r| r["status"].is_null())).then_some(())
    });
    // Any call that arrives after this moment started after the cancel was asked for.
    let cancelled_at = crate::helpers::now_ms();
    let r = stack.call(&key, "POST", &format!("/api/v1/tasks/{task}/cancel"), None);
    assert_eq!(r.status, 202);
    let v = r.json();
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["chapters"], json!([{"number": 1, "status": "script_ready"}, {"number": 2, "status": "pending"}, {"number": 3, "status": "pending"}]));
    // The call in flight at the cancel is answered, and the Worker records what it was paid for
    // (its usage row), which it does in the same transaction as the (refused) script write.
    let in_flight = stack.openai_requests().len();
    stack.wait_for("the call in flight to be answered and recorded", LONG, || {
        (stack.openai_requests().iter().all(|r| !r["status"].is_null()) && usage_rows(&stack, &task) == in_flight).then_some(())
    });
    let after = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["chapters"][1]["status"], "pending", "a late answer must not overwrite the cancel");
    assert!(chapter(&stack, &key, &story, 2)["script"].is_null(), "the late script was not stored");
    assert_eq!(stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json()["status"], "cancelled");
    assert_eq!(stack.call(&key, "POST", &format!("/api/v1/tasks/{task}/cancel"), None).status, 409);

    // Finish the rest (the log is kept: calls that started after the cancel are counted below).
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 0})));
    let resumed_at = crate::helpers::now_ms();
    let task2 = generate(&stack, &key, &story, json!({}));
    assert_eq!(stack.follow_task(&key, &task2, LONG).pop().unwrap()["status"], "completed");
    let started = |from: u64, to: u64| stack.openai_requests().iter().filter(|r| (from..to).contains(&r["at"].as_u64().unwrap())).count();
    assert_eq!(started(cancelled_at, resumed_at), 0, "no call started between the cancel and the next job");
    assert_eq!(started(cancelled_at, u64::MAX), 4, "after the cancel only the next job's calls: script and summary of chapters 2 and 3");
    assert_eq!(usage_rows(&stack, &task), in_flight, "the cancelled task recorded nothing more");

    // Regenerate chapter 2 alone.
    let ch1 = chapter(&stack, &key, &story, 1);
    let ch3 = chapter(&stack, &key, &story, 3);
    stack.providers("DELETE", "requests", None);
    let task = generate(&stack, &key, &story, json!({"chapters": [2], "regenerate": true}));
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed");
    assert_eq!(last["chapters"], json!([{"number": 2, "status": "script_ready"}]));
    let reqs = stack.openai_requests();
    assert_eq!(reqs.len(), 2, "script and summary of chapter 2");
    assert!(prompt_of(&reqs[0]).contains(ch1["summary"].as_str().unwrap()));
    assert_eq!(chapter(&stack, &key, &story, 1), ch1);
    assert_eq!(chapter(&stack, &key, &story, 3), ch3);
    // Without regenerate there is nothing left to do.
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&json!({})));
    assert_eq!(r.status, 409);
}

#[test]
fn a_task_survives_a_worker_restart_through_the_sweeper() {
    let mut stack = TestStack::start_with(&[("JOB_LEASE_SECS", "3"), ("STALL_AFTER_SECS", "1")]);
    let (_, key) = stack.create_user("ed");
    // Slow calls, so that the consumer is killed in the middle of one.
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 30_000})));
    let story = new_story(&stack, &key, 2, false);
    let task = generate(&stack, &key, &story, json!({}));
    let held = stack.wait_for_held_step(&task, 0, LONG);
    stack.restart_worker(); // kills the consumer holding step 0; its message is gone with it
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 0})));

    // The dead holder's lease runs out; until the sweeper runs, nobody takes the step again.
    stack.wait_for("the dead consumer's lease to run out", LONG, || (stack.task_row(&task)["lease_expired"] == true).then_some(()));
    let row = stack.task_row(&task);
    assert_eq!((row["status"].as_str(), row["step"].as_u64()), (Some("running"), Some(0)), "{row}");
    assert_eq!(stack.openai_requests().len(), 1, "only the killed consumer's call so far");

    stack.run_scheduled();
    stack.wait_for("the sweeper to re-drive step 0", LONG, || {
        stack.worker_events("task_redriven").iter().any(|e| e["task_id"] == task.as_str() && e["step"] == 0).then_some(())
    });
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["progress"], 100);
    let reqs = stack.openai_requests();
    assert_eq!(reqs.len(), 5, "the killed call, then script and summary of both chapters");
    assert_eq!(prompt_of(&reqs[1]), prompt_of(&held), "step 0 was taken again from its start: {reqs:?}");
}

#[test]
fn a_message_lost_while_no_one_holds_the_step_is_recovered_by_the_sweeper() {
    let mut stack = TestStack::start_with(&[("STALL_AFTER_SECS", "1")]);
    let (_, key) = stack.create_user("eli");
    // A 429 asking for a 10-minute wait: the step gives its lease back and its message is to be
    // delivered again much later than this test lasts.
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "status", "status": 429, "retry_after": 600})));
    let story = new_story(&stack, &key, 1, false);
    let task = generate(&stack, &key, &story, json!({}));
    stack.wait_for("the step to give its lease back after the 429", LONG, || {
        let row = stack.task_row(&task);
        (row["transient_failures"] == 1 && row["leased"] == false && row["lease_expired"] == false).then_some(())
    });
    stack.restart_worker(); // the waiting message is lost with the local queue
    assert_eq!(stack.openai_requests().len(), 1);

    // Once the task counts as stalled (no progress for STALL_AFTER_SECS), the sweeper re-drives it.
    stack.wait_for("the task to count as stalled", LONG, || (stack.task_row(&task)["stalled_for_ms"].as_str()?.parse::<u64>().ok()? > 1000).then_some(()));
    stack.run_scheduled();
    stack.wait_for("the sweeper to re-drive the task", LONG, || {
        stack.worker_events("task_redriven").iter().any(|e| e["task_id"] == task.as_str()).then_some(())
    });
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    let statuses: Vec<u64> = stack.openai_requests().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![429, 200, 200], "the 429, then script and summary");
}

#[test]
fn a_finished_tasks_progress_object_expires_and_the_task_row_stays() {
    let stack = TestStack::start_with(&[("PROGRESS_TTL_SECS", "2")]);
    let (_, key) = stack.create_user("flo");
    let story = new_story(&stack, &key, 1, false);
    let task = generate(&stack, &key, &story, json!({}));
    assert_eq!(stack.follow_task(&key, &task, LONG).pop().unwrap()["status"], "completed");
    let live = stack.admin("GET", &format!("/api/v1/admin/tasks/{task}/progress"), None).json();
    assert_eq!(live["progress"]["state"]["status"], "completed", "{live}");
    stack.wait_for("the progress object to expire", Duration::from_secs(30), || {
        let v = stack.admin("GET", &format!("/api/v1/admin/tasks/{task}/progress"), None).json();
        v["progress"].is_null().then_some(())
    });
    // The record outlives the live view.
    let v = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["progress"], 100);
}
