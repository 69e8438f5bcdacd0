//! The audio job end to end: voices, clips, joining, downloads with Range, the whole book with
//! chapter marks (checked with ffprobe), reuse of clips, resume after a TTS failure.

use crate::helpers::{assert_spoken, require_speech, TestStack};
use crate::support::ffprobe;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);

fn story_with_scripts(stack: &TestStack, key: &str, chapters: u32) -> String {
    // Short chapters keep the clip count (and the time) down where the stand-in can do that.
    stack.small_scripts(6);
    let body = json!({"title": "Tide Book", "prompt": "Two sisters sail to an island.", "num_chapters": chapters});
    let story = stack.call(key, "POST", "/api/v1/stories", Some(&body)).json()["id"].as_str().unwrap().to_string();
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&json!({})));
    assert_eq!(r.status, 202);
    let task = r.json()["task_id"].as_str().unwrap().to_string();
    assert_eq!(stack.follow_task(key, &task, LONG).pop().unwrap()["status"], "completed");
    story
}

fn start_audio(stack: &TestStack, key: &str, story: &str) -> Value {
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({})));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let task = r.json()["task_id"].as_str().unwrap().to_string();
    stack.follow_task(key, &task, LONG).pop().unwrap()
}

fn tts_requests(stack: &TestStack) -> Vec<Value> {
    stack.providers("GET", "requests?provider=elevenlabs", None)["requests"].as_array().unwrap().clone()
}

fn seconds(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

/// One MPEG-1 Layer III frame at 44.1 kHz lasts 1152 / 44100 s.
const FRAME_MS: f64 = 1152.0 / 44.1;

/// Each line's expected voice: (text, voice id) for every spoken line of the story.
fn expected_voices(stack: &TestStack, key: &str, story: &str, chapters: u32) -> Vec<(String, String)> {
    let voices = stack.call(key, "GET", &format!("/api/v1/stories/{story}/voices"), None).json();
    let narrator = voices["narrator"].as_str().unwrap().to_string();
    let speakers: BTreeMap<String, String> = serde_json::from_value(voices["speakers"].clone()).unwrap();
    let mut out = Vec::new();
    for n in 1..=chapters {
        let c = stack.call(key, "GET", &format!("/api/v1/stories/{story}/chapters/{n}"), None).json();
        let script = if c["enhanced"].is_null() { &c["script"] } else { &c["enhanced"] };
        for line in script["lines"].as_array().unwrap() {
            let speaker = line["speaker"].as_str().unwrap();
            let voice = if speaker.eq_ignore_ascii_case("narrator") { narrator.clone() } else { speakers[speaker].clone() };
            out.push((line["text"].as_str().unwrap().to_string(), voice));
        }
    }
    out
}

#[test]
fn a_two_chapter_story_gets_audio_that_players_read_and_can_seek() {
    require_speech();
    let stack = TestStack::start();
    let (_, key) = stack.create_user("fay");
    let story = story_with_scripts(&stack, &key, 2);

    // dry_run prices the job and starts nothing.
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({"dry_run": true})));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let dry = r.json();
    assert!(dry["characters"].as_u64().unwrap() > 0);
    assert!(dry["estimated_cost_usd"].as_f64().unwrap() > 0.0);
    assert!(tts_requests(&stack).is_empty(), "a dry run makes no TTS call");
    let v = stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json();
    assert!(v["chapters"].as_array().unwrap().iter().all(|c| c["status"] == "script_ready"), "{v}");

    let last = start_audio(&stack, &key, &story);
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["kind"], "audio");
    assert_eq!(last["chapters"], json!([{"number": 1, "status": "audio_ready"}, {"number": 2, "status": "audio_ready"}]));
    let v = stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json();
    assert_eq!(v["status"], "completed", "an audio job leaves the story's status as it was");

    // Each speaker's lines went to its voice.
    let expected = expected_voices(&stack, &key, &story, 2);
    let reqs = tts_requests(&stack);
    assert_spoken(&reqs);
    let distinct: HashSet<&(String, String)> = expected.iter().collect();
    assert_eq!(reqs.len(), distinct.len(), "one request per distinct clip");
    for r in &reqs {
        let text = r["body"]["text"].as_str().unwrap();
        let voice = r["voice_id"].as_str().unwrap();
        assert!(expected.iter().any(|(t, v)| t == text && v == voice), "{text:?} went to {voice}");
        assert_eq!(r["query"]["output_format"], "mp3_44100_128");
    }
    assert_eq!(dry["characters"].as_u64().unwrap(), reqs.iter().map(|r| r["body"]["text"].as_str().unwrap().chars().count() as u64).sum::<u64>());

    let dir = stack.work_dir.join("audio");
    std::fs::create_dir_all(&dir).unwrap();
    let chapters = stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json()["chapters"].clone();
    let mut total_ms = 0u64;
    let mut full_ch1 = Vec::new();
    for c in chapters.as_array().unwrap() {
        let n = c["number"].as_u64().unwrap();
        let r = stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/{n}/audio"), None);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("audio/mpeg"));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert!(r.header("etag").is_some());
        // The download is the ID3 tag written in front of the stored chapter (`audio.bytes`).
        let tag = crate::book_meta::id3_len(&r.body) as u64;
        assert!(tag > 0, "chapter {n} has no ID3 tag");
        assert_eq!(r.body.len() as u64, tag + c["audio"]["bytes"].as_u64().unwrap());
        let probe = ffprobe(&r.body, &dir, &format!("ch{n}.mp3"));
        let ms = c["audio"]["duration_ms"].as_u64().unwrap();
        let probed = seconds(&probe["format"]["duration"]) * 1000.0;
        assert!((probed - ms as f64).abs() <= FRAME_MS, "chapter {n}: ffprobe {probed} ms, recorded {ms} ms");
        assert_eq!(probe["streams"][0]["sample_rate"], "44100");
        total_ms += ms;
        if n == 1 {
            full_ch1 = r.body.clone();
        }
    }

    // Range requests return the right bytes.
    let len = full_ch1.len();
    let ranged = |h: &str| {
        stack.request("GET", &format!("/api/v1/stories/{story}/chapters/1/audio"), None, &[("Authorization", &format!("Bearer {key}")), ("Range", h)]).unwrap()
    };
    let r = ranged("bytes=0-99");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some(format!("bytes 0-99/{len}").as_str()));
    assert_eq!(r.body, full_ch1[..100]);
    let r = ranged("bytes=100-");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, full_ch1[100..]);
    let r = ranged("bytes=-50");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, full_ch1[len - 50..]);
    let r = ranged(&format!("bytes={len}-"));
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some(format!("bytes */{len}").as_str()));
    assert_eq!(r.json()["error"]["code"], "range_not_satisfiable");

    // The whole book: chapter marks and length that ffprobe reads.
    let r = stack.call(&key, "GET", &format!("/api/v1/stories/{story}/audio"), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    let probe = ffprobe(&r.body, &dir, "book.mp3");
    let marks = probe["chapters"].as_array().unwrap();
    assert_eq!(marks.len(), 2, "{probe}");
    let ch1_ms = chapters[0]["audio"]["duration_ms"].as_u64().unwrap() as f64;
    assert!((seconds(&marks[0]["start_time"])).abs() < 0.001);
    assert!((seconds(&marks[0]["end_time"]) * 1000.0 - ch1_ms).abs() <= 1.0, "{marks:?}");
    assert!((seconds(&marks[1]["start_time"]) * 1000.0 - ch1_ms).abs() <= 1.0);
    assert!((seconds(&marks[1]["end_time"]) * 1000.0 - total_ms as f64).abs() <= 1.0);
    let book_ms = seconds(&probe["format"]["duration"]) * 1000.0;
    assert!((book_ms - total_ms as f64).abs() <= FRAME_MS, "book {book_ms} ms, chapters {total_ms} ms");

    // A second run reuses every clip: no new TTS call.
    let last = start_audio(&stack, &key, &story);
    assert_eq!(last["status"], "completed");
    assert_eq!(tts_requests(&stack).len(), reqs.len(), "a re-run makes no new TTS calls");
    let stats = stack.providers("GET", "stats", None);
    assert!(stats["elevenlabs"]["max_in_flight"].as_u64().unwrap() <= 6, "{stats}");
}

#[test]
fn a_tts_failure_in_chapter_2_then_a_retry_synthesises_only_the_missing_clips() {
    let stack = TestStack::start_with(&[("TTS_TRANSIENT_RETRIES", "1"), ("TTS_CONCURRENCY", "2")]);
    let (_, key) = stack.create_user("gil");
    let story = story_with_scripts(&stack, &key, 2);
    let expected = expected_voices(&stack, &key, &story, 2);
    let distinct: HashSet<&(String, String)> = expected.iter().collect();
    let ch1_lines = stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/1"), None).json()["script"]["lines"].as_array().unwrap().len();

    // Chapter 1 and two clips of chapter 2 go through, then the provider fails for good.
    stack.providers("POST", "faults", Some(&json!({"provider": "elevenlabs", "kind": "status", "status": 500, "skip": ch1_lines + 2, "times": null})));
    let last = start_audio(&stack, &key, &story);
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "tts_unavailable");
    assert_eq!(last["chapters"], json!([{"number": 1, "status": "audio_ready"}, {"number": 2, "status": "failed"}]));
    let made: usize = tts_requests(&stack).iter().filter(|r| r["status"] == 200).count();
    assert!(made >= ch1_lines.min(distinct.len()) && made < distinct.len(), "made {made} of {}", distinct.len());
    let r = stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/2/audio"), None);
    assert_eq!(r.status, 404, "a failed chapter has no audio");

    stack.providers("POST", "reset", None);
    let last = start_audio(&stack, &key, &story);
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(tts_requests(&stack).len(), distinct.len() - made, "only the missing clips are synthesised");
}

#[test]
fn voice_overrides_are_checked_shown_and_used() {
    require_speech();
    let stack = TestStack::start();
    let (_, key) = stack.create_user("hal");
    let story = story_with_scripts(&stack, &key, 1);
    let path = format!("/api/v1/stories/{story}/voices");
    let before = stack.call(&key, "GET", &path, None).json();
    let speakers: BTreeMap<String, String> = serde_json::from_value(before["speakers"].clone()).unwrap();
    assert!(!speakers.is_empty(), "every speaker of the script has a voice: {before}");
    let distinct: HashSet<&String> = speakers.values().collect();
    assert_eq!(distinct.len(), speakers.len(), "main characters get distinct voices: {before}");
    let (name, old_voice) = speakers.iter().next().unwrap();

    let r = stack.call(&key, "PUT", &path, Some(&json!({ name.as_str(): "not-a-voice" })));
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["code"], "validation_failed");
    assert_eq!(stack.call(&key, "GET", &path, None).json(), before, "a refused PUT changes nothing");

    // The narrator's voice is in the catalogue and is not any character's.
    let new_voice = before["narrator"].as_str().unwrap();
    assert_ne!(new_voice, old_voice);
    let r = stack.call(&key, "PUT", &path, Some(&json!({ name.as_str(): new_voice })));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["speakers"][name.as_str()], new_voice);
    assert_eq!(stack.call(&key, "GET", &path, None).json()["speakers"][name.as_str()], new_voice);

    assert_eq!(start_audio(&stack, &key, &story)["status"], "completed");
    let lines = stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/1"), None).json()["script"]["lines"].clone();
    let texts: HashSet<&str> = lines.as_array().unwrap().iter().filter(|l| l["speaker"] == name.as_str()).map(|l| l["text"].as_str().unwrap()).collect();
    let reqs = tts_requests(&stack);
    assert_spoken(&reqs);
    for r in reqs.iter().filter(|r| texts.contains(r["body"]["text"].as_str().unwrap())) {
        assert_eq!(r["voice_id"], new_voice, "{name}'s lines use the override");
    }
    assert!(reqs.iter().any(|r| r["voice_id"] == new_voice));
}
