//! Monthly budgets: `/me` shows them, the admin overrides them, job starts that do not fit
//! answer 402 and enqueue nothing, and running jobs stop before the paid call that could pass
//! a limit, then continue from there once the limit is raised.

use crate::helpers::TestStack;
use crate::support::{chapter, get_json, new_story, run_job, start_job, story_id, text_chars, voiced_lines, LONG};
use serde_json::{json, Value};

const VARS: &[(&str, &str)] = &[("BUDGET_LLM_TOKENS", "2000000"), ("BUDGET_TTS_CHARACTERS", "100000"), ("BUDGET_USD", "")];

fn put_budget(stack: &TestStack, user: &str, body: &Value) -> (u16, Value) {
    let r = stack.admin("PUT", &format!("/api/v1/admin/users/{user}/budget"), Some(&body.to_string()));
    (r.status, r.json())
}

fn budget(stack: &TestStack, key: &str) -> Value {
    get_json(stack, key, "/api/v1/me")["budget"].clone()
}

fn tasks_of(stack: &TestStack, story: &str) -> u64 {
    stack.sql("SELECT count(*)::int8::text AS n FROM tasks WHERE story_id = $1", &[json!(story)])[0]["n"].as_str().unwrap().parse().unwrap()
}

fn wait_for_call_in_flight(stack: &TestStack, provider: &str) {
    stack.wait_for(&format!("a {provider} call in flight"), LONG, || stack.provider_requests(provider).into_iter().find(|r| r["status"].is_null()));
}

#[test]
fn budget_on_me_admin_overrides_dry_runs_and_402() {
    let stack = TestStack::start_with(VARS);
    let (user, key) = stack.create_user("budgeted");

    // GET /me: this calendar month, the configured limits, nothing used.
    let me = get_json(&stack, &key, "/api/v1/me");
    assert_eq!(me["id"], user.as_str());
    let b = &me["budget"];
    let now = chrono::Utc::now();
    let from = chrono::DateTime::parse_from_rfc3339(b["period"]["from"].as_str().unwrap()).unwrap();
    let to = chrono::DateTime::parse_from_rfc3339(b["period"]["to"].as_str().unwrap()).unwrap();
    assert!(from <= now && now < to && from.format("%d %H:%M:%S").to_string() == "01 00:00:00", "{b}");
    assert_eq!(b["llm_tokens"], json!({"used": 0, "limit": 2000000}));
    assert_eq!(b["tts_characters"], json!({"used": 0, "limit": 100000}));
    assert_eq!(b["usd"], json!({"used": 0.0, "limit": null}));

    // Admin overrides: null is unlimited, a left-out field keeps the default; {} clears all.
    let (status, b) = put_budget(&stack, &user, &json!({"llm_tokens": null, "usd": 1.5}));
    assert_eq!(status, 200, "{b}");
    assert_eq!((b["llm_tokens"]["limit"].clone(), b["tts_characters"]["limit"].clone(), b["usd"]["limit"].clone()), (Value::Null, json!(100000), json!(1.5)));
    assert_eq!(budget(&stack, &key), b);
    let (_, b) = put_budget(&stack, &user, &json!({}));
    assert_eq!((b["llm_tokens"]["limit"].clone(), b["usd"]["limit"].clone()), (json!(2000000), Value::Null));
    let (status, e) = put_budget(&stack, "00000000-0000-4000-8000-000000000000", &json!({"usd": 1}));
    assert_eq!((status, e["error"]["code"].clone()), (404, json!("not_found")));
    for (body, field) in [(json!({"usd": -1}), "usd"), (json!({"llm_tokens": 1.5}), "llm_tokens"), (json!({"tts_characters": "9"}), "tts_characters"), (json!({"tokens": 1}), "tokens")] {
        let (status, e) = put_budget(&stack, &user, &body);
        assert_eq!((status, e["error"]["code"].clone(), e["error"]["field"].clone()), (422, json!("validation_failed"), json!(field)), "{body}");
    }
    let r = stack.call(&key, "PUT", &format!("/api/v1/admin/users/{user}/budget"), Some(&json!({})));
    assert_eq!(r.status, 403);

    // generate's dry run: the estimate and the budget, and nothing starts.
    stack.small_scripts(6);
    let story = story_id(&new_story(&stack, &key, &json!({"title": "Budget", "prompt": "A fox learns to count.", "num_chapters": 2})));
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&json!({"dry_run": true})));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let dry = r.json();
    let estimate = dry["estimated_tokens"].as_u64().unwrap();
    // Two chapters of a script and a summary, each answer capped at 8000 tokens.
    assert!(estimate > 4 * 8000, "{dry}");
    assert!(dry["estimated_cost_usd"].as_f64().unwrap() > 0.0 && dry["budget"]["llm_tokens"]["limit"] == 2000000, "{dry}");
    assert_eq!(tasks_of(&stack, &story), 0);

    // One token short of the estimate: 402 with the budget and the estimate, no task.
    put_budget(&stack, &user, &json!({"llm_tokens": estimate - 1}));
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&json!({})));
    assert_eq!(r.status, 402, "{}", String::from_utf8_lossy(&r.body));
    let e = r.json()["error"].clone();
    println!("402 as a user sees it: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(e["code"], "budget_exceeded");
    assert_eq!(e["resource"], "llm_tokens");
    assert_eq!(e["budget"]["llm_tokens"], json!({"used": 0, "limit": estimate - 1}));
    assert_eq!(e["estimate"]["llm_tokens"], estimate);
    assert!(e["message"].as_str().unwrap().contains("LLM tokens"), "{e}");
    assert_eq!(tasks_of(&stack, &story), 0);

    // Exactly the estimate fits; the real run uses less than its upper bound.
    put_budget(&stack, &user, &json!({"llm_tokens": estimate}));
    let last = run_job(&stack, &key, &story, "generate", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    let used = budget(&stack, &key)["llm_tokens"]["used"].as_u64().unwrap();
    assert!(used > 0 && used <= estimate, "used {used}, estimate {estimate}");

    // The audio dry run carries the budget; one character short is a 402 and no audio task.
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({"dry_run": true})));
    assert_eq!(r.status, 200);
    let dry = r.json();
    let chars = dry["characters"].as_u64().unwrap();
    assert_eq!(dry["budget"]["tts_characters"], json!({"used": 0, "limit": 100000}));
    put_budget(&stack, &user, &json!({"tts_characters": chars - 1}));
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({})));
    assert_eq!(r.status, 402, "{}", String::from_utf8_lossy(&r.body));
    let e = r.json()["error"].clone();
    assert_eq!((e["resource"].clone(), e["estimate"]["tts_characters"].clone()), (json!("tts_characters"), json!(chars)));
    assert_eq!(e["budget"]["tts_characters"]["limit"], chars - 1);
    assert_eq!(tasks_of(&stack, &story), 1, "only the story job");
    assert!(stack.provider_requests("elevenlabs").is_empty());
}

/// An audio job whose TTS-character limit is lowered while it runs makes the clips that fit,
/// stops with `budget_exceeded` before the one that does not, and a new job after the limit
/// is raised makes only the rest.
#[test]
fn audio_job_stops_at_the_character_limit_and_resumes() {
    let stack = TestStack::start_with(&[VARS[0], VARS[1], ("TTS_CONCURRENCY", "1")]);
    let (user, key) = stack.create_user("voiced");
    stack.small_scripts(10);
    let story = story_id(&new_story(&stack, &key, &json!({"title": "Clips", "prompt": "A lighthouse keeper's last night.", "num_chapters": 1})));
    assert_eq!(run_job(&stack, &key, &story, "generate", &json!({}))["status"], "completed");
    let lines: Vec<u64> = voiced_lines(&stack, &key, &story, 1)
        .iter()
        .filter_map(|l| l["text"].as_str().filter(|t| !t.trim().is_empty()).map(|t| t.chars().count() as u64))
        .collect();
    assert!(lines.len() >= 8, "{lines:?}");
    // Room for the first `k` clips and not the next one (one clip at a time, in order).
    let k = lines.len() / 2;
    let limit = lines[..k].iter().sum::<u64>() + lines[k] - 1;

    // Slow clips, so the limit is lowered while the first one is in flight.
    stack.providers("POST", "latency", Some(&json!({"provider": "elevenlabs", "ms": 2500})));
    let task = start_job(&stack, &key, &story, "audio", &json!({}));
    wait_for_call_in_flight(&stack, "elevenlabs");
    assert_eq!(put_budget(&stack, &user, &json!({"tts_characters": limit})).0, 200);
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "budget_exceeded", "{last}");
    println!("task error: {}", last["error"]);
    let calls = stack.provider_requests("elevenlabs");
    let billed: u64 = calls.iter().map(text_chars).sum();
    assert_eq!(calls.len(), k, "paid calls");
    assert!(billed <= limit, "billed {billed} > limit {limit}");
    assert_eq!(budget(&stack, &key)["tts_characters"]["used"], billed);
    let ch = chapter(&stack, &key, &story, 1);
    assert_eq!((ch["status"].clone(), ch["error"]["code"].clone()), (json!("failed"), json!("budget_exceeded")), "{ch}");

    // Still over: a new start is refused at once.
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({})));
    assert_eq!(r.status, 402);

    // Raised: the new job reuses the clips made and pays only for the rest.
    stack.providers("POST", "latency", Some(&json!({"provider": "elevenlabs", "ms": 0})));
    put_budget(&stack, &user, &json!({}));
    let dry = get_dry(&stack, &key, &story);
    assert_eq!((dry["clips_cached"].as_u64(), dry["characters"].as_u64()), (Some(k as u64), Some(lines.iter().sum::<u64>() - billed)), "{dry}");
    let last = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(stack.provider_requests("elevenlabs").len(), lines.len(), "paid calls only for the rest");
    assert_eq!(chapter(&stack, &key, &story, 1)["status"], "audio_ready");
}

fn get_dry(stack: &TestStack, key: &str, story: &str) -> Value {
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({"dry_run": true})));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// A story job whose token limit is cut while its first call runs keeps that chapter's script,
/// stops with `budget_exceeded` before the next call, and a later job continues from there.
#[test]
fn story_job_stops_at_the_token_limit_and_resumes() {
    let stack = TestStack::start_with(VARS);
    let (user, key) = stack.create_user("writer");
    stack.small_scripts(4);
    let story = story_id(&new_story(&stack, &key, &json!({"title": "Tokens", "prompt": "A kite that will not fly.", "num_chapters": 3})));
    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 2500})));
    let task = start_job(&stack, &key, &story, "generate", &json!({}));
    wait_for_call_in_flight(&stack, "openai");
    assert_eq!(put_budget(&stack, &user, &json!({"llm_tokens": 1})).0, 200);
    let last = stack.follow_task(&key, &task, LONG).pop().unwrap();
    assert_eq!((last["status"].clone(), last["error"]["code"].clone()), (json!("failed"), json!("budget_exceeded")), "{last}");
    assert!(last["error"]["message"].as_str().unwrap().contains("work done so far is kept"), "{last}");
    assert_eq!(stack.openai_requests().len(), 1, "no call after the limit");
    let ch = chapter(&stack, &key, &story, 1);
    assert!(!ch["script"].is_null() && ch["summary"].is_null(), "{ch}");
    assert_eq!(ch["error"]["code"], "budget_exceeded");
    let used = budget(&stack, &key)["llm_tokens"]["used"].as_u64().unwrap();
    assert!(used > 1, "the call in flight was paid and logged: {used}");

    stack.providers("POST", "latency", Some(&json!({"provider": "openai", "ms": 0})));
    put_budget(&stack, &user, &json!({}));
    let last = run_job(&stack, &key, &story, "generate", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    // Chapter 1's summary, then a script and a summary for chapters 2 and 3: no script again.
    let calls = stack.openai_requests();
    assert_eq!(calls.len(), 6);
    assert!(calls[1]["body"].get("response_format").is_none(), "the first new call is chapter 1's summary");
    for n in 1..=3 {
        assert!(!chapter(&stack, &key, &story, n)["summary"].is_null());
    }
}
