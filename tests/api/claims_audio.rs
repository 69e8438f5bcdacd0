//! Claims of README / API.md about audio, voices and TTS that no other test checks.

use crate::helpers::TestStack;
use crate::support::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// USD per 1000 characters in these tests, by model; LLM calls cost nothing here, so the
/// usage cost is the TTS cost alone.
const PRICES: &str = r#"{"eleven_multilingual_v2": {"per_1k_chars": 2.5}, "eleven_flash_v2_5": {"per_1k_chars": 1.25}, "eleven_turbo_v2_5": {"per_1k_chars": 1.25}, "eleven_v3": {"per_1k_chars": 3.0}}"#;

fn price_of(model: &str) -> f64 {
    let table: HashMap<String, Value> = serde_json::from_str(PRICES).unwrap();
    table.get(model).unwrap_or_else(|| panic!("no test price for {model}"))["per_1k_chars"].as_f64().unwrap()
}

fn round_usd(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// (characters, cost) of the TTS requests that were answered with audio.
fn made(reqs: &[Value]) -> (u64, f64) {
    reqs.iter().filter(|r| r["status"] == 200).fold((0, 0.0), |(c, usd), r| {
        let n = text_chars(r);
        (c + n, usd + n as f64 * price_of(r["body"]["model_id"].as_str().unwrap()) / 1000.0)
    })
}

fn assert_usd(actual: &Value, expected: f64, what: &str) {
    let a = actual.as_f64().unwrap_or_else(|| panic!("{what}: not a number: {actual}"));
    assert!((a - round_usd(expected)).abs() < 2e-6, "{what}: {a} != {expected}");
}

/// The dry run's counts before, during and after audio exists; TTS usage rows priced from
/// TTS_PRICES; `tts_<status>` for a refused request; in flight never over TTS_CONCURRENCY.
#[test]
fn dry_run_counts_missing_clips_tts_usage_is_priced_and_concurrency_is_the_configured_one() {
    let stack = TestStack::start_with(&[("TTS_PRICES", PRICES), ("LLM_PRICES", "{}"), ("TTS_CONCURRENCY", "2")]);
    set_script_lines(&stack, 5);
    let (_, key) = stack.create_user("claims-c");
    let story = story_with_scripts(&stack, &key, 2);
    let lines: Vec<Value> = (1..=2).flat_map(|n| voiced_lines(&stack, &key, &story, n)).collect();
    let total: u64 = lines.iter().map(|l| l["text"].as_str().unwrap().chars().count() as u64).sum();
    let n = lines.len() as u64;
    assert!(n >= 4, "two chapters of at least two lines: {n}");
    assert_eq!(get_json(&stack, &key, "/api/v1/usage")["estimated_cost_usd"].as_f64(), Some(0.0), "LLM_PRICES is empty");

    let dry = dry_run(&stack, &key, &story);
    assert_eq!(dry["total_characters"], total, "{dry}");
    assert_eq!(dry["clips"], n, "{dry}");
    assert_eq!(dry["clips_cached"], 0, "{dry}");
    assert_eq!(dry["characters"], total, "nothing is made yet: {dry}");
    assert_eq!(dry["chapters"], json!([1, 2]));
    assert!(dry["estimated_cost_usd"].as_f64().unwrap() > 0.0, "{dry}");

    // Two clips are made, then ElevenLabs refuses the key.
    stack.providers("POST", "latency", Some(&json!({"provider": "elevenlabs", "ms": 400})));
    stack.providers("POST", "faults", Some(&json!({"provider": "elevenlabs", "kind": "status", "status": 401, "skip": 2, "times": null})));
    let last = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "tts_invalid_api_key", "ElevenLabs' detail.status in the code: {last}");
    assert!(last["error"]["message"].as_str().unwrap().contains("401"), "{last}");
    let failed = last["chapters"].as_array().unwrap().iter().find(|c| c["status"] == "failed").expect("a failed chapter").clone();
    let failed_n = failed["number"].as_u64().unwrap();
    assert_eq!(chapter(&stack, &key, &story, failed_n as u32)["error"]["code"], "tts_invalid_api_key");
    let reqs = tts_requests(&stack);
    assert!(reqs.iter().filter(|r| r["status"] == 401).count() >= 1, "{reqs:?}");
    assert_eq!(reqs.iter().filter(|r| r["status"] == 200).count(), 2, "{reqs:?}");
    let (chars_made, cost_made) = made(&reqs);

    // Usage: the characters of the clips made, at the configured price.
    let u = get_json(&stack, &key, "/api/v1/usage");
    assert_eq!(u["tts"]["characters"], chars_made, "{u}");
    assert_usd(&u["estimated_cost_usd"], cost_made, "usage after the failed run");

    // The dry run now counts the two clips as cached and prices only the rest.
    let dry = dry_run(&stack, &key, &story);
    assert_eq!(dry["total_characters"], total, "{dry}");
    assert_eq!(dry["clips"], n);
    assert_eq!(dry["clips_cached"], 2, "{dry}");
    assert_eq!(dry["characters"], total - chars_made, "only the missing clips: {dry}");

    // The rest, with two in flight at most.
    stack.providers("DELETE", "faults", None);
    let before = tts_requests(&stack).len();
    let last = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    let reqs = tts_requests(&stack);
    assert_eq!((reqs.len() - before) as u64, n - 2, "only the missing clips are made");
    let stats = stack.providers("GET", "stats", None);
    assert_eq!(stats["elevenlabs"]["max_in_flight"], 2, "TTS_CONCURRENCY=2 is both used and never exceeded: {stats}");

    let (chars_all, cost_all) = made(&reqs);
    assert_eq!(chars_all, total);
    let u = get_json(&stack, &key, "/api/v1/usage");
    assert_eq!(u["tts"]["characters"], total, "{u}");
    assert_usd(&u["estimated_cost_usd"], cost_all, "usage after the audio exists");
    let dry = dry_run(&stack, &key, &story);
    assert_eq!(dry["clips_cached"], n, "{dry}");
    assert_eq!(dry["characters"], 0, "{dry}");
    assert_eq!(dry["total_characters"], total);
    assert_eq!(dry["estimated_cost_usd"].as_f64(), Some(0.0));
}

/// Cancelling an audio job stops its TTS calls and puts the chapter back; `"Narrator"` in
/// `PUT /voices` recasts the narrator; the same speaker spelled twice is a 422.
#[test]
fn cancelling_audio_narrator_recast_and_duplicate_speakers() {
    let stack = TestStack::start_with(&[("TTS_CONCURRENCY", "1")]);
    set_script_lines(&stack, 6);
    let (_, key) = stack.create_user("claims-d");
    let story = story_with_scripts(&stack, &key, 2);
    let clips = voiced_lines(&stack, &key, &story, 1).len();
    assert!(clips >= 2, "a chapter of at least two lines");

    // Cancel the first run while its first clip is being made (one at a time, slowly).
    stack.providers("POST", "latency", Some(&json!({"provider": "elevenlabs", "ms": 2000})));
    let task = start_job(&stack, &key, &story, "audio", &json!({}));
    stack.wait_for("a TTS call in flight", LONG, || (!tts_requests(&stack).is_empty()).then_some(()));
    let r = stack.call(&key, "POST", &format!("/api/v1/tasks/{task}/cancel"), None);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["status"], "cancelled");
    assert_eq!(
        v["chapters"],
        json!([{"number": 1, "status": "script_ready"}, {"number": 2, "status": "script_ready"}]),
        "the chapter goes back to what it was: {v}"
    );
    let at_cancel = tts_requests(&stack).len();
    assert!(at_cancel < clips);
    // The call in flight ends; then none starts for several clip lengths.
    stack.wait_for("the call in flight to end", LONG, || {
        (stack.providers("GET", "stats", None)["elevenlabs"]["in_flight"] == 0).then_some(())
    });
    let quiet_until = Instant::now() + Duration::from_secs(7);
    let mut after_cancel = None;
    while Instant::now() < quiet_until && after_cancel.is_none() {
        let now = tts_requests(&stack).len();
        if now > at_cancel {
            after_cancel = Some(format!("a TTS call started after the cancel: {at_cancel} at the cancel, then {now}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if after_cancel.is_some() {
        // Let the cancelled step run out (it makes every missing clip) before going on.
        stack.wait_for("the cancelled step's clips", LONG, || {
            (tts_requests(&stack).len() == clips && stack.providers("GET", "stats", None)["elevenlabs"]["in_flight"] == 0).then_some(())
        });
    }
    let t = get_json(&stack, &key, &format!("/api/v1/tasks/{task}"));
    assert_eq!(t["status"], "cancelled", "{t}");
    assert!(t["error"].is_null() && t["result"].is_null(), "{t}");
    let s = get_json(&stack, &key, &format!("/api/v1/stories/{story}"));
    assert_eq!(s["chapters"][0]["status"], "script_ready", "{s}");
    assert!(s["chapters"][0]["audio"].is_null(), "{s}");
    assert_eq!(s["chapters"][1]["status"], "script_ready", "{s}");
    assert_eq!(s["status"], "completed", "an audio cancel leaves the story's status");
    stack.providers("POST", "reset", None);

    let path = format!("/api/v1/stories/{story}/voices");
    let before = get_json(&stack, &key, &path);
    let speakers: BTreeMap<String, String> = serde_json::from_value(before["speakers"].clone()).unwrap();
    let narrator = before["narrator"].as_str().unwrap().to_string();
    let (name, voice) = speakers.iter().next().expect("a speaking character");
    assert_ne!(voice, &narrator);

    // The same speaker twice, differently spelled.
    let twice = json!({ name.as_str(): voice, format!(" {} ", name.to_lowercase()): voice });
    let r = stack.call(&key, "PUT", &path, Some(&twice));
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "validation_failed");
    assert_eq!(get_json(&stack, &key, &path), before, "a refused PUT changes nothing");

    // Recast the narrator with a character's voice.
    let r = stack.call(&key, "PUT", &path, Some(&json!({ "Narrator": voice })));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["narrator"], voice.as_str());
    assert_eq!(get_json(&stack, &key, &path)["narrator"], voice.as_str());
    let narration: Vec<String> = (1..=2)
        .flat_map(|n| voiced_lines(&stack, &key, &story, n))
        .filter(|l| l["speaker"].as_str().unwrap().eq_ignore_ascii_case("narrator"))
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect();
    assert!(!narration.is_empty(), "the scripts have narration");
    let last = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    let reqs = tts_requests(&stack);
    for text in &narration {
        let r = reqs.iter().find(|r| r["body"]["text"] == text.as_str()).expect("narration was voiced");
        assert_eq!(r["voice_id"], voice.as_str(), "narration uses the recast narrator");
    }
    assert!(reqs.iter().all(|r| r["voice_id"] != narrator.as_str()), "the old narrator voice is not used");
    assert_eq!(after_cancel, None, "no TTS call after an audio cancel");
}

/// `tts_<status>` for a 400, and `audio_invalid` when stored clips are not usable audio.
#[test]
fn a_refused_tts_request_and_unusable_stored_clips_fail_with_their_codes() {
    let stack = TestStack::start();
    set_script_lines(&stack, 3);
    let (_, key) = stack.create_user("claims-e");
    let story = story_with_scripts(&stack, &key, 1);

    stack.providers(
        "POST",
        "faults",
        Some(&json!({"provider": "elevenlabs", "kind": "status", "status": 400, "times": null,
                     "body": {"detail": {"status": "voice_not_found", "message": "A voice with the voice_id x was not found."}}})),
    );
    let last = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "tts_voice_not_found", "{last}");
    assert!(last["error"]["message"].as_str().unwrap().contains("not found"), "{last}");
    assert_eq!(last["chapters"], json!([{"number": 1, "status": "failed"}]));
    assert!(tts_requests(&stack).iter().any(|r| r["status"] == 400), "the refused request is logged");

    stack.providers("POST", "reset", None);
    let last = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    let made = tts_requests(&stack).len();

    // The stored clips are damaged: the next run reuses them and cannot join them.
    let damaged = r2_zero_out(&stack, &format!("stories/{story}/clips/"));
    assert!(damaged > 0);
    let last = run_job(&stack, &key, &story, "audio", &json!({}));
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "audio_invalid", "{last}");
    assert!(last["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(tts_requests(&stack).len(), made, "stored clips are reused, not remade");
    assert_eq!(chapter(&stack, &key, &story, 1)["error"]["code"], "audio_invalid");
}
