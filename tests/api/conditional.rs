//! Conditional requests: `ETag` and `If-None-Match` on a story, a chapter and a task (304 with
//! no body while nothing changed), and `If-Range` on chapter audio (a range only while the
//! tag is the object's own).

use crate::helpers::TestStack;
use serde_json::json;
use std::time::Duration;

fn get(stack: &TestStack, key: &str, path: &str, extra: &[(&str, &str)]) -> crate::helpers::Reply {
    let bearer = format!("Bearer {key}");
    let mut headers = vec![("Authorization", bearer.as_str())];
    headers.extend_from_slice(extra);
    stack.request("GET", path, None, &headers).unwrap()
}

/// A 200 with a tag, then a 304 with the same tag and no body.
fn revalidates(stack: &TestStack, key: &str, path: &str) -> String {
    let first = get(stack, key, path, &[]);
    assert_eq!(first.status, 200, "{path}");
    let tag = first.header("ETag").unwrap_or_else(|| panic!("{path} has no ETag")).to_string();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{path}: {tag}");
    let again = get(stack, key, path, &[("If-None-Match", &tag)]);
    assert_eq!(again.status, 304, "{path} with its own tag");
    assert!(again.body.is_empty(), "{path}: a 304 has no body");
    assert_eq!(again.header("ETag"), Some(tag.as_str()));
    let weak = format!("W/{tag}, \"something-else\"");
    assert_eq!(get(stack, key, path, &[("If-None-Match", &weak)]).status, 304, "{path}: weak comparison, lists");
    assert_eq!(get(stack, key, path, &[("If-None-Match", "\"stale\"")]).status, 200, "{path}: another tag gets the body");
    tag
}

#[test]
fn tags_revalidate_and_if_range_guards_audio_ranges() {
    let stack = TestStack::start();
    stack.small_scripts(5);
    let (_, key) = stack.create_user("poller");
    let story = stack.call(&key, "POST", "/api/v1/stories", Some(&json!({"prompt": "A fox and a crow.", "num_chapters": 1}))).json();
    let id = story["id"].as_str().unwrap().to_string();
    let task = stack.call(&key, "POST", &format!("/api/v1/stories/{id}/generate"), Some(&json!({}))).json()["task_id"].as_str().unwrap().to_string();
    assert_eq!(stack.follow_task(&key, &task, Duration::from_secs(180)).pop().unwrap()["status"], "completed");

    let story_tag = revalidates(&stack, &key, &format!("/api/v1/stories/{id}"));
    revalidates(&stack, &key, &format!("/api/v1/stories/{id}/chapters/1"));
    revalidates(&stack, &key, &format!("/api/v1/tasks/{task}"));

    // A change makes the old tag stale.
    assert_eq!(stack.call(&key, "PATCH", &format!("/api/v1/stories/{id}"), Some(&json!({"title": "Fables"}))).status, 200);
    let after = get(&stack, &key, &format!("/api/v1/stories/{id}"), &[("If-None-Match", &story_tag)]);
    assert_eq!(after.status, 200);
    assert_ne!(after.header("ETag"), Some(story_tag.as_str()));
    assert_eq!(after.json()["title"], "Fables");

    let audio = stack.call(&key, "POST", &format!("/api/v1/stories/{id}/audio"), Some(&json!({}))).json()["task_id"].as_str().unwrap().to_string();
    assert_eq!(stack.follow_task(&key, &audio, Duration::from_secs(180)).pop().unwrap()["status"], "completed");
    let path = format!("/api/v1/stories/{id}/chapters/1/audio");
    let full = get(&stack, &key, &path, &[]);
    assert_eq!(full.status, 200);
    let len = full.body.len();
    assert_eq!(full.header("Content-Length"), Some(len.to_string().as_str()));
    let tag = full.header("ETag").unwrap().to_string();

    let ranged = get(&stack, &key, &path, &[("Range", "bytes=100-199"), ("If-Range", &tag)]);
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, full.body[100..200]);
    assert_eq!(ranged.header("Content-Range"), Some(format!("bytes 100-199/{len}").as_str()));
    assert_eq!(ranged.header("ETag"), Some(tag.as_str()));
    for other in ["\"not-the-tag\"", &format!("W/{tag}"), "Tue, 01 Dec 2026 10:00:00 GMT"] {
        let r = get(&stack, &key, &path, &[("Range", "bytes=100-199"), ("If-Range", other)]);
        assert_eq!(r.status, 200, "If-Range {other} gets the whole object");
        assert_eq!(r.body, full.body, "If-Range {other}");
    }
    let r = get(&stack, &key, &path, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some(format!("bytes */{len}").as_str()));
}
