//! Editing end to end: a person's script for a chapter, pronunciations, and `audio_stale`; the
//! next audio job pays for exactly the lines whose sent text changed (the TTS stand-in's log).

use crate::helpers::{require_speech, TestStack};
use crate::support::{chapter, dry_run, get_json, new_story, run_job, set_script_lines, story_id, tts_requests, LONG};
use serde_json::{json, Map, Value};

fn story_chapter(stack: &TestStack, key: &str, story: &str, n: usize) -> Value {
    get_json(stack, key, &format!("/api/v1/stories/{story}"))["chapters"][n - 1].clone()
}

fn put_script(stack: &TestStack, key: &str, story: &str, n: u32, body: &Value) -> crate::helpers::Reply {
    stack.call(key, "PUT", &format!("/api/v1/stories/{story}/chapters/{n}/script"), Some(body))
}

fn audio(stack: &TestStack, key: &str, story: &str) -> Vec<Value> {
    let before = tts_requests(stack).len();
    let last = run_job(stack, key, story, "audio", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    tts_requests(stack)[before..].to_vec()
}

fn sent_text(req: &Value) -> &str {
    req["body"]["text"].as_str().unwrap()
}

/// The script as a PUT body: title and lines.
fn body_of(script: &Value) -> Value {
    json!({"title": script["title"], "lines": script["lines"]})
}

#[test]
fn an_edited_line_or_a_pronunciation_remakes_only_the_clips_it_changes() {
    require_speech();
    let stack = TestStack::start();
    assert!(set_script_lines(&stack, 60), "the OpenAI stand-in writes 60-line chapters");
    let (_, key) = stack.create_user("editor");
    let story = story_id(&new_story(&stack, &key, &json!({"prompt": "A ferry pilot and a storm.", "num_chapters": 1})));
    assert_eq!(run_job(&stack, &key, &story, "generate", &json!({}))["status"], "completed");
    let generated = chapter(&stack, &key, &story, 1);
    let script = generated["script"].clone();
    assert_eq!(script["lines"].as_array().unwrap().len(), 60);
    assert!(generated["edited"].is_null());
    assert_eq!(story_chapter(&stack, &key, &story, 1)["audio_stale"], false, "no audio yet");

    let first = audio(&stack, &key, &story);
    let made = first.len();
    assert!(made >= 55, "the first run voices the chapter: {made} clips");
    let before = story_chapter(&stack, &key, &story, 1);
    assert_eq!(before["audio_stale"], false);
    let duration_before = before["audio"]["duration_ms"].as_u64().unwrap();

    // Edit line 30: its neighbours' text goes to TTS as context, but their clips are reused.
    let mut edit = body_of(&script);
    let new_text = "Then, against every chart she owned, the pilot turned the ferry north into the dark.";
    edit["lines"][29]["text"] = json!(new_text);
    let r = put_script(&stack, &key, &story, 1, &edit);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["edited"]["lines"][29]["text"], new_text);
    assert_eq!(v["script"], script, "the generated script is kept");
    assert_eq!(v["audio_stale"], true);
    assert_eq!(story_chapter(&stack, &key, &story, 1)["audio_stale"], true);
    assert_eq!(chapter(&stack, &key, &story, 1)["edited"]["lines"][29]["text"], new_text);

    let d = dry_run(&stack, &key, &story);
    assert_eq!((d["lines"].as_u64(), d["characters"].as_u64()), (Some(1), Some(new_text.chars().count() as u64)), "{d}");
    let second = audio(&stack, &key, &story);
    assert_eq!(second.len(), 1, "one TTS request for one edited line: {second:?}");
    assert_eq!(sent_text(&second[0]), new_text);
    assert_eq!(second[0]["body"]["previous_text"], script["lines"][28]["text"], "the neighbours are its context");
    let after = story_chapter(&stack, &key, &story, 1);
    assert_eq!(after["audio_stale"], false);
    let duration_after = after["audio"]["duration_ms"].as_u64().unwrap();
    assert_ne!(duration_after, duration_before, "the new audio's duration is recorded");
    let row = stack.sql("SELECT audio_duration_ms::int AS ms FROM chapters WHERE story_id = $1 AND number = 1", &[json!(story)]);
    assert_eq!(row[0]["ms"].as_u64(), Some(duration_after));
    let mp3 = stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/1/audio"), None);
    let tag = crate::book_meta::id3_len(&mp3.body) as u64;
    assert_eq!(mp3.body.len() as u64 - tag, after["audio"]["bytes"].as_u64().unwrap(), "the stored audio, after the download's tag");

    // Back to the generated script: its clips are all still there, so nothing is paid.
    let r = stack.call(&key, "DELETE", &format!("/api/v1/stories/{story}/chapters/1/script"), None);
    assert_eq!(r.status, 204);
    let c = chapter(&stack, &key, &story, 1);
    assert!(c["edited"].is_null());
    assert_eq!(c["script"], script);
    assert_eq!(c["audio_stale"], true, "the audio came from the edit");
    let d = dry_run(&stack, &key, &story);
    assert_eq!((d["lines"].as_u64(), d["characters"].as_u64()), (Some(0), Some(0)), "{d}");
    assert!(audio(&stack, &key, &story).is_empty(), "every clip of the generated script is reused");
    let c = story_chapter(&stack, &key, &story, 1);
    assert_eq!(c["audio_stale"], false);
    assert_eq!(c["audio"]["duration_ms"].as_u64(), Some(duration_before));

    // A name in exactly three lines, then a pronunciation for it: three new clips each time.
    let mut edit = body_of(&script);
    for i in [4, 20, 41] {
        let t = edit["lines"][i]["text"].as_str().unwrap().to_string();
        edit["lines"][i]["text"] = json!(format!("{t} Quillon saw it too."));
    }
    // A longer word that contains it is not a match.
    edit["lines"][50]["text"] = json!("Quillons are not a name.");
    assert_eq!(put_script(&stack, &key, &story, 1, &edit).status, 200);
    assert_eq!(audio(&stack, &key, &story).len(), 4);

    let pron = json!({"Quillon": "Kee-yon"});
    let r = stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/pronunciations"), Some(&pron));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"pronunciations": pron}));
    assert_eq!(get_json(&stack, &key, &format!("/api/v1/stories/{story}/pronunciations")), json!({"pronunciations": pron}));
    assert_eq!(story_chapter(&stack, &key, &story, 1)["audio_stale"], true);
    let d = dry_run(&stack, &key, &story);
    assert_eq!(d["lines"].as_u64(), Some(3), "{d}");
    let third = audio(&stack, &key, &story);
    assert_eq!(third.len(), 3, "{third:?}");
    for req in &third {
        assert!(sent_text(req).contains("Kee-yon saw it too.") && !sent_text(req).contains("Quillon"), "{}", sent_text(req));
    }
    let c = chapter(&stack, &key, &story, 1);
    assert_eq!(c["audio_stale"], false);
    assert!(c["edited"]["lines"][4]["text"].as_str().unwrap().ends_with("Quillon saw it too."), "the stored script is unchanged");

    // A pronunciation no line contains changes no clip, so the audio is not stale.
    let more = json!({"Quillon": "Kee-yon", "Zzyzx": "zizix"});
    assert_eq!(stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/pronunciations"), Some(&more)).status, 200);
    assert_eq!(story_chapter(&stack, &key, &story, 1)["audio_stale"], false);
    assert_eq!(dry_run(&stack, &key, &story)["lines"].as_u64(), Some(0));
    // A voice change is an input too: the recast speaker's lines are stale.
    let voices = get_json(&stack, &key, &format!("/api/v1/stories/{story}/voices"));
    let catalogue = get_json(&stack, &key, "/api/v1/voices");
    let other = catalogue["voices"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).find(|id| *id != voices["narrator"]).unwrap();
    assert_eq!(stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/voices"), Some(&json!({"Narrator": other}))).status, 200);
    assert_eq!(story_chapter(&stack, &key, &story, 1)["audio_stale"], true);
    assert_eq!(stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/voices"), Some(&json!({}))).status, 200);
    assert_eq!(story_chapter(&stack, &key, &story, 1)["audio_stale"], false, "back to the voices the audio was made with");
}

/// 422 cases for the script: (body, field named).
fn bad_scripts(script: &Value) -> Vec<(Value, &'static str)> {
    let line = |text: Value| json!({"speaker": "Narrator", "text": text, "direction": null});
    let many: Vec<Value> = (0..1001).map(|i| line(json!(format!("L{i}")))).collect();
    let mut long_text = body_of(script);
    long_text["lines"][3]["text"] = json!("x".repeat(5001));
    let mut typed = body_of(script);
    typed["lines"][2]["text"] = json!(5);
    let mut direction = body_of(script);
    direction["lines"][1]["direction"] = json!("d".repeat(501));
    let mut unknown = body_of(script);
    unknown["lines"][0]["mood"] = json!("sad");
    vec![
        (json!({"title": "t", "lines": many}), "lines"),
        (long_text, "lines[3].text"),
        (json!({"title": "", "lines": script["lines"]}), "title"),
        (json!({"title": "x".repeat(201), "lines": script["lines"]}), "title"),
        (json!({"title": "t", "lines": []}), "lines"),
        (json!({"title": "t", "lines": "x"}), "lines"),
        (json!({"title": 5, "lines": script["lines"]}), "title"),
        (typed, "lines[2].text"),
        (direction, "lines[1].direction"),
        (unknown, "lines[0].mood"),
        (json!({"title": "t", "lines": script["lines"], "extra": true}), "extra"),
    ]
}

fn bad_pronunciations() -> Vec<(Value, &'static str)> {
    let many: Map<String, Value> = (0..201).map(|i| (format!("w{i}"), json!("x"))).collect();
    vec![
        (Value::Object(many), ""),
        (json!({"p".repeat(101): "x"}), "p"),
        (json!({"Mara": ""}), "Mara"),
        (json!({"Mara": "r".repeat(201)}), "Mara"),
        (json!({"Mara": 5}), "Mara"),
        (json!({" Mara": "x"}), " Mara"),
        (json!(["Mara"]), ""),
    ]
}

#[test]
fn bad_edits_change_nothing() {
    let stack = TestStack::start();
    stack.small_scripts(8);
    let (_, key) = stack.create_user("careful");
    let (_, other) = stack.create_user("other");
    let story = story_id(&new_story(&stack, &key, &json!({"prompt": "Two beekeepers.", "num_chapters": 2})));
    assert_eq!(run_job(&stack, &key, &story, "generate", &json!({"chapters": [1]}))["status"], "completed");
    let script = chapter(&stack, &key, &story, 1)["script"].clone();
    let ok_pron = json!({"Mara": "MAH-rah"});
    assert_eq!(stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/pronunciations"), Some(&ok_pron)).status, 200);
    let story_before = get_json(&stack, &key, &format!("/api/v1/stories/{story}"));
    let chapter_before = chapter(&stack, &key, &story, 1);

    for (body, field) in bad_scripts(&script) {
        let r = put_script(&stack, &key, &story, 1, &body);
        assert_eq!(r.status, 422, "{field}: {}", String::from_utf8_lossy(&r.body));
        let e = r.json()["error"].clone();
        assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("validation_failed"), Some(field)), "{e}");
    }
    for (body, field) in bad_pronunciations() {
        let r = stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/pronunciations"), Some(&body));
        assert_eq!(r.status, 422, "{field}: {}", String::from_utf8_lossy(&r.body));
        assert!(r.json()["error"]["field"].as_str().unwrap().starts_with(field), "{}", r.json());
    }
    let r = stack.request("PUT", &format!("/api/v1/stories/{story}/pronunciations"), Some("{\"Mara\": "), &[("Authorization", &format!("Bearer {key}")), ("Content-Type", "application/json")]).unwrap();
    assert_eq!(r.status, 400);

    // No script yet, no such chapter, another user's story.
    let r = put_script(&stack, &key, &story, 2, &body_of(&script));
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (409, Some("conflict")));
    assert_eq!(stack.call(&key, "DELETE", &format!("/api/v1/stories/{story}/chapters/2/script"), None).status, 409);
    assert_eq!(put_script(&stack, &key, &story, 3, &body_of(&script)).status, 404);
    assert_eq!(put_script(&stack, &other, &story, 1, &body_of(&script)).status, 404);
    assert_eq!(stack.call(&other, "DELETE", &format!("/api/v1/stories/{story}/chapters/1/script"), None).status, 404);
    assert_eq!(stack.call(&other, "PUT", &format!("/api/v1/stories/{story}/pronunciations"), Some(&json!({"a": "b"}))).status, 404);
    assert_eq!(stack.call(&other, "GET", &format!("/api/v1/stories/{story}/pronunciations"), None).status, 404);

    // While a job runs, every input write is refused.
    stack.providers("POST", "latency", Some(&json!({"provider": "elevenlabs", "ms": 4000})));
    let r = stack.call(&key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({})));
    assert_eq!(r.status, 202);
    let task = r.json()["task_id"].as_str().unwrap().to_string();
    stack.wait_for("a TTS call in flight", LONG, || tts_requests(&stack).iter().any(|r| r["status"].is_null()).then_some(()));
    let busy = [
        put_script(&stack, &key, &story, 1, &body_of(&script)),
        stack.call(&key, "DELETE", &format!("/api/v1/stories/{story}/chapters/1/script"), None),
        stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/pronunciations"), Some(&json!({}))),
        stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/voices"), Some(&json!({}))),
    ];
    for r in busy {
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (409, Some("conflict")), "{}", String::from_utf8_lossy(&r.body));
    }
    stack.providers("POST", "latency", Some(&json!({"provider": "elevenlabs", "ms": 0})));
    assert_eq!(stack.follow_task(&key, &task, LONG).pop().unwrap()["status"], "completed");

    // Nothing changed but what the audio job made.
    let after = chapter(&stack, &key, &story, 1);
    assert_eq!((&after["script"], &after["edited"]), (&chapter_before["script"], &chapter_before["edited"]));
    assert!(after["edited"].is_null());
    assert_eq!(get_json(&stack, &key, &format!("/api/v1/stories/{story}/pronunciations")), json!({"pronunciations": ok_pron}));
    let story_after = get_json(&stack, &key, &format!("/api/v1/stories/{story}"));
    assert_eq!(story_after["updated_at"], story_before["updated_at"]);
    assert_eq!(story_after["chapters"][1], story_before["chapters"][1]);
    assert_eq!(story_after["chapters"][0]["audio_stale"], false);

    // And a good edit works afterwards (the 409s left no claim behind).
    let mut edit = body_of(&script);
    edit["lines"][0]["text"] = json!("A first line, rewritten.");
    let r = put_script(&stack, &key, &story, 1, &edit);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["audio_stale"], true);

    // A regenerated script replaces the edit; the audio is stale exactly when its lines differ
    // from the ones the audio was made from.
    assert_eq!(run_job(&stack, &key, &story, "generate", &json!({"chapters": [1], "regenerate": true}))["status"], "completed");
    let c = chapter(&stack, &key, &story, 1);
    assert!(c["edited"].is_null(), "the edit belonged to the old script");
    let voiced = if c["enhanced"].is_null() { &c["script"] } else { &c["enhanced"] };
    assert_eq!(c["audio_stale"], json!(voiced["lines"] != script["lines"]), "{}", voiced["lines"]);
}
