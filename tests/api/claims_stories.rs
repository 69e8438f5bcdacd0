//! Claims of README / API.md about stories, tasks, usage and delete that no other test checks.

use crate::helpers::TestStack;
use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn assert_story_shape(v: &Value, title: &str, prompt: &str, chapters: u32, enhance: bool, config: &Value) {
    for k in ["id", "title", "prompt", "num_chapters", "enhance", "config", "status", "created_at", "updated_at"] {
        assert!(v.get(k).is_some(), "a story has {k}: {v}");
    }
    assert!(is_uuid(&v["id"]), "{v}");
    assert_eq!(v["title"], title);
    assert_eq!(v["prompt"], prompt);
    assert_eq!(v["num_chapters"], chapters);
    assert_eq!(v["enhance"], enhance);
    assert_eq!(&v["config"], config);
    assert!(is_rfc3339_utc(&v["created_at"]) && is_rfc3339_utc(&v["updated_at"]), "RFC 3339 UTC times: {v}");
    assert!(parse_time(&v["updated_at"]) >= parse_time(&v["created_at"]));
}

fn assert_task_shape(t: &Value, story: &str, kind: &str) {
    for k in ["id", "kind", "story_id", "status", "progress", "message", "chapters", "result", "error", "created_at", "updated_at"] {
        assert!(t.get(k).is_some(), "a task has {k}: {t}");
    }
    assert!(is_uuid(&t["id"]), "{t}");
    assert_eq!(t["kind"], kind);
    assert_eq!(t["story_id"], story);
    assert!(t["message"].is_string(), "{t}");
    assert!(t["progress"].as_u64().is_some_and(|p| p <= 100), "{t}");
    assert!(is_rfc3339_utc(&t["created_at"]) && is_rfc3339_utc(&t["updated_at"]), "RFC 3339 UTC times: {t}");
    assert!(parse_time(&t["updated_at"]) >= parse_time(&t["created_at"]));
}

fn usage(stack: &TestStack, key: &str, query: &str) -> Value {
    get_json(stack, key, &format!("/api/v1/usage{query}"))
}

fn secs(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Bodies of a story and a task in full; the usage window's `from`/`to`; and `DELETE` of a
/// story with audio: chapters, tasks and R2 objects go, usage stays.
#[test]
fn story_and_task_bodies_usage_windows_and_delete_keeping_usage() {
    let stack = TestStack::start();
    set_script_lines(&stack, 4);
    let (_, key) = stack.create_user("claims-a");
    let config = json!({"genre": "fable", "audience": "children", "tone": {"warmth": 3}});
    let prompt = "A heron teaches a frog to count the stars.";
    let created = new_story(&stack, &key, &json!({"title": "Heron", "prompt": prompt, "num_chapters": 2, "enhance": false, "config": config}));
    assert_story_shape(&created, "Heron", prompt, 2, false, &config);
    assert_eq!(created["status"], "draft");
    let story = story_id(&created);
    let got = get_json(&stack, &key, &format!("/api/v1/stories/{story}"));
    assert_story_shape(&got, "Heron", prompt, 2, false, &config);
    assert_eq!(got["created_at"], created["created_at"]);
    // enhance defaults to false; config defaults to an empty object.
    let bare = new_story(&stack, &key, &json!({"prompt": "p", "num_chapters": 1}));
    assert_eq!(bare["enhance"], false);
    assert_eq!(bare["config"], json!({}), "{bare}");

    // Slow answers, so the polls see the task running with its message.
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 300})));
    let task = start_job(&stack, &key, &story, "generate", &json!({}));
    let seen = stack.follow_task(&key, &task, LONG);
    for v in &seen {
        assert_task_shape(v, &story, "story");
    }
    let running: Vec<&Value> = seen.iter().filter(|v| v["status"] == "running").collect();
    assert!(
        running.iter().any(|v| v["message"].as_str().unwrap().starts_with("Chapter 1 (1 of 2): ")),
        "a running task says what runs: {:?}",
        running.iter().map(|v| &v["message"]).collect::<Vec<_>>()
    );
    assert!(running.iter().all(|v| v["result"].is_null() && v["error"].is_null()));
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["result"], json!({"chapters": [1, 2]}));
    assert!(last["error"].is_null());
    assert_eq!(last["created_at"], seen[0]["created_at"], "created_at does not move");
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 0})));

    // The usage window: the default is the current calendar month, echoed back.
    let now = chrono::Utc::now();
    let month = usage(&stack, &key, "");
    let from = parse_time(&month["from"]);
    let to = parse_time(&month["to"]);
    assert!(from <= now && now < to, "{month}");
    assert_eq!(secs(from), format!("{}-01T00:00:00Z", now.format("%Y-%m")), "{month}");
    assert_eq!(chrono::Datelike::day(&to), 1);
    assert!(month["llm"]["prompt_tokens"].as_u64().unwrap() > 0, "{month}");
    // A window around now holds the same totals; windows before and after hold nothing.
    let (a, b) = (secs(now - chrono::Duration::hours(1)), secs(now + chrono::Duration::hours(1)));
    let around = usage(&stack, &key, &format!("?from={a}&to={b}"));
    assert_eq!(around["from"], a.as_str(), "from is echoed");
    assert_eq!(around["to"], b.as_str(), "to is echoed");
    assert_eq!(around["llm"], month["llm"]);
    assert_eq!(around["estimated_cost_usd"], month["estimated_cost_usd"]);
    let story_start = parse_time(&created["created_at"]) - chrono::Duration::seconds(1);
    let before = usage(&stack, &key, &format!("?from=2000-01-01T00:00:00Z&to={}", secs(story_start)));
    assert_eq!(before["llm"], json!({"prompt_tokens": 0, "completion_tokens": 0}), "{before}");
    assert_eq!(before["tts"]["characters"], 0);
    assert_eq!(before["estimated_cost_usd"].as_f64(), Some(0.0));
    let later = usage(&stack, &key, &format!("?from={b}&to={}", secs(now + chrono::Duration::hours(2))));
    assert_eq!(later["llm"]["prompt_tokens"], 0, "{later}");
    // Only from: up to the end of the default window, so it still holds everything.
    let open = usage(&stack, &key, &format!("?from={a}"));
    assert_eq!(open["llm"], month["llm"], "{open}");
    assert_eq!(open["from"], a.as_str());

    // Audio, so the story has objects in R2.
    let audio = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(audio["status"], "completed", "{audio}");
    assert_task_shape(&audio, &story, "audio");
    assert_eq!(audio["result"], json!({"chapters": [1, 2]}));
    let audio_task = audio["id"].as_str().unwrap().to_string();
    let objects = r2_keys(&stack, &format!("stories/{story}/"));
    assert!(objects.contains(&format!("stories/{story}/chapters/1-{audio_task}.mp3")), "{objects:?}");
    assert!(objects.iter().any(|k| k.contains("/clips/")), "{objects:?}");
    let usage_before = usage(&stack, &key, "");
    assert!(usage_before["tts"]["characters"].as_u64().unwrap() > 0, "{usage_before}");

    assert_eq!(stack.call(&key, "DELETE", &format!("/api/v1/stories/{story}"), None).status, 204);
    for path in [
        format!("/api/v1/stories/{story}"),
        format!("/api/v1/stories/{story}/chapters/1"),
        format!("/api/v1/stories/{story}/chapters/1/audio"),
        format!("/api/v1/stories/{story}/audio"),
        format!("/api/v1/tasks/{task}"),
        format!("/api/v1/tasks/{audio_task}"),
    ] {
        let r = stack.call(&key, "GET", &path, None);
        assert_eq!(r.status, 404, "GET {path} after the delete: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(r2_keys(&stack, &format!("stories/{story}/")), Vec::<String>::new(), "the story's R2 objects are removed");
    let listed: BTreeSet<String> = get_json(&stack, &key, "/api/v1/stories")["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, BTreeSet::from([story_id(&bare)]));
    let usage_after = usage(&stack, &key, "");
    assert_eq!(usage_after["llm"], usage_before["llm"], "usage stays after the delete");
    assert_eq!(usage_after["tts"], usage_before["tts"]);
    assert_eq!(usage_after["estimated_cost_usd"], usage_before["estimated_cost_usd"]);
}

fn prompt_of(req: &Value) -> String {
    req["body"]["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn is_summary_request(req: &Value) -> bool {
    req["body"]["response_format"].is_null()
}

/// `bad_llm_answer` past LLM_BAD_ANSWER_RETRIES, `llm_rejected` on a 401 with no retry, and
/// explicit `chapters` without `regenerate` reusing what is stored.
#[test]
fn llm_error_codes_and_explicit_chapters_reuse_stored_work() {
    let stack = TestStack::start_with(&[("LLM_BAD_ANSWER_RETRIES", "1")]);
    set_script_lines(&stack, 4);
    let (_, key) = stack.create_user("claims-b");
    let story = story_id(&new_story(
        &stack,
        &key,
        &json!({"title": "Orchard", "prompt": "An orchard that grows clocks.", "num_chapters": 2, "enhance": true}),
    ));

    // Chapter 1's script goes through; every answer after it is cut-off JSON.
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "malformed_content", "skip": 1, "times": null})));
    let last = run_job(&stack, &key, &story, "generate", &json!({}));
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "bad_llm_answer", "{last}");
    assert!(last["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    let reqs = stack.openai_requests();
    assert_eq!(reqs.len(), 3, "the script, then the enhance asked 1 + LLM_BAD_ANSWER_RETRIES times");
    assert!(reqs[1..].iter().all(|r| r["status"] == 200 && r["fault"].is_number()));
    let ch1 = chapter(&stack, &key, &story, 1);
    assert_eq!(ch1["error"]["code"], "bad_llm_answer", "{ch1}");
    assert!(ch1["script"].is_object() && ch1["enhanced"].is_null(), "the script stays stored: {ch1}");
    let script1 = ch1["script"].clone();
    let first_line = script1["lines"][0]["text"].as_str().unwrap().to_string();

    // A 401: rejected at once, no retry.
    stack.providers("POST", "reset", None);
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "status", "status": 401, "times": null})));
    let last = run_job(&stack, &key, &story, "generate", &json!({"chapters": [1]}));
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "llm_rejected", "{last}");
    assert!(last["error"]["message"].as_str().unwrap().contains("401"), "{last}");
    let reqs = stack.openai_requests();
    assert_eq!(reqs.len(), 1, "a rejection is not retried");
    assert!(prompt_of(&reqs[0]).contains(&first_line), "the stored script was sent to be enhanced, not rewritten");

    // Explicit chapters, no regenerate: chapter 1 continues from its stored script.
    stack.providers("POST", "reset", None);
    let last = run_job(&stack, &key, &story, "generate", &json!({"chapters": [1, 2]}));
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["chapters"], json!([{"number": 1, "status": "enhanced"}, {"number": 2, "status": "enhanced"}]));
    let reqs = stack.openai_requests();
    assert_eq!(reqs.len(), 5, "chapter 1: enhance and summary; chapter 2: script, enhance, summary");
    assert!(prompt_of(&reqs[0]).contains(&first_line), "the first call enhances the stored script");
    assert!(is_summary_request(&reqs[1]));
    let ch1 = chapter(&stack, &key, &story, 1);
    assert_eq!(ch1["script"], script1, "the stored script was reused");
    assert!(ch1["error"].is_null());

    // Everything stored: explicit chapters without regenerate ask the LLM nothing.
    stack.providers("DELETE", "requests", None);
    let ch2 = chapter(&stack, &key, &story, 2);
    let last = run_job(&stack, &key, &story, "generate", &json!({"chapters": [2, 1]}));
    assert_eq!(last["status"], "completed", "{last}");
    assert!(stack.openai_requests().is_empty(), "no LLM call for stored work: {:?}", stack.openai_requests());
    assert_eq!(chapter(&stack, &key, &story, 1), ch1);
    assert_eq!(chapter(&stack, &key, &story, 2), ch2);
}
