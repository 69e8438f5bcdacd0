//! The story job end to end: users, stories, generate, tasks (polling and SSE), the stand-in's
//! request log as the witness of what was asked of the LLM.

use crate::helpers::TestStack;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
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
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(LONG)).build().into();
    let resp = agent
        .get(format!("{}/api/v1/tasks/{task}/events", stack.base_url))
        .header("Authorization", format!("Bearer {key}"))
        .call()
        .unwrap();
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let reader = BufReader::new(resp.into_body().into_reader());
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
    let stack = TestStack::start();
    let (_, key) = stack.create_user("cy");
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 700})));
    let story = new_story(&stack, &key, 2, false);
    let task = generate(&stack, &key, &story, json!({}));
    // While step 0 is being worked on, its message is delivered twice more.
    std::thread::sleep(Duration::from_millis(400));
    for _ in 0..2 {
        let r = stack.admin("POST", &format!("/api/v1/admin/tasks/{task}/redrive"), None);
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    }
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed");
    assert_eq!(stack.openai_requests().len(), 4, "two calls per chapter, none twice");
    // A late duplicate of a finished task does nothing either.
    let r = stack.admin("POST", &format!("/api/v1/admin/tasks/{task}/redrive"), None);
    assert_eq!(r.status, 409);
}

#[test]
fn cancel_stops_the_job_and_regenerate_redoes_one_chapter() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("di");
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 800})));
    let story = new_story(&stack, &key, 3, false);
    let task = generate(&stack, &key, &story, json!({}));
    stack.wait_for("chapter 1 to be done", LONG, || {
        let v = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
        (v["chapters"][0]["status"] == "script_ready" && v["chapters"][1]["status"] == "generating_script").then_some(())
    });
    let r = stack.call(&key, "POST", &format!("/api/v1/tasks/{task}/cancel"), None);
    assert_eq!(r.status, 202);
    let v = r.json();
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["chapters"], json!([{"number": 1, "status": "script_ready"}, {"number": 2, "status": "pending"}, {"number": 3, "status": "pending"}]));
    let calls = stack.openai_requests().len();
    std::thread::sleep(Duration::from_secs(3));
    assert!(stack.openai_requests().len() <= calls + 1, "at most the call in flight finishes; no new ones");
    let after = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["chapters"][1]["status"], "pending", "a late answer must not overwrite the cancel");
    assert_eq!(stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json()["status"], "cancelled");
    assert_eq!(stack.call(&key, "POST", &format!("/api/v1/tasks/{task}/cancel"), None).status, 409);

    // Finish the rest, then regenerate chapter 2 alone.
    stack.providers("POST", "reset", None);
    let task = generate(&stack, &key, &story, json!({}));
    assert_eq!(stack.follow_task(&key, &task, LONG).pop().unwrap()["status"], "completed");
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
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 1500})));
    let story = new_story(&stack, &key, 2, false);
    let task = generate(&stack, &key, &story, json!({}));
    std::thread::sleep(Duration::from_millis(800));
    stack.restart_worker(); // the message in flight is gone with it
    std::thread::sleep(Duration::from_secs(4)); // the dead consumer's lease runs out
    stack.run_scheduled();
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["progress"], 100);
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
