//! Users, keys, ownership, CRUD of stories, and the contract's answers to bad input.

use crate::helpers::TestStack;
use serde_json::{json, Value};

fn story_body() -> Value {
    json!({"prompt": "A fox learns to sail.", "num_chapters": 2})
}

#[test]
fn users_keys_and_story_crud_with_pages() {
    let stack = TestStack::start();
    let (id, key) = stack.create_user("Zoë");
    assert!(key.starts_with("tc_") && key.len() == 35);
    let me = stack.call(&key, "GET", "/api/v1/me", None).json();
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["name"], "Zoë");
    // A user's key is not an admin token.
    let r = stack.request("POST", "/api/v1/users", Some(r#"{"name":"x"}"#), &[("Authorization", &format!("Bearer {key}")), ("Content-Type", "application/json")]).unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "forbidden");

    let ids: Vec<String> = (0..5)
        .map(|i| {
            let r = stack.call(&key, "POST", "/api/v1/stories", Some(&json!({"title": format!("S{i}"), "prompt": "p", "num_chapters": 1})));
            assert_eq!(r.status, 201);
            r.json()["id"].as_str().unwrap().to_string()
        })
        .collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/stories?limit=2&cursor={c}"),
            None => "/api/v1/stories?limit=2".to_string(),
        };
        let page = stack.call(&key, "GET", &path, None).json();
        let items = page["stories"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let r = stack.call(&key, "PATCH", &format!("/api/v1/stories/{}", ids[0]), Some(&json!({"title": "Renamed"})));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["title"], "Renamed");
    let got = stack.call(&key, "GET", &format!("/api/v1/stories/{}", ids[0]), None).json();
    assert_eq!(got["title"], "Renamed");
    assert_eq!(got["chapters"], json!([{"number": 1, "title": null, "status": "pending", "error": null, "audio": null, "audio_stale": false}]));

    assert_eq!(stack.call(&key, "DELETE", &format!("/api/v1/stories/{}", ids[0]), None).status, 204);
    assert_eq!(stack.call(&key, "GET", &format!("/api/v1/stories/{}", ids[0]), None).status, 404);
    assert_eq!(stack.call(&key, "DELETE", &format!("/api/v1/stories/{}", ids[0]), None).status, 404);
}

#[test]
fn another_user_cannot_see_or_act_on_a_story_or_task() {
    let stack = TestStack::start();
    // Alice's job stays in its first call for the whole test: the checks below run while it runs.
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "hang", "hang_ms": 600_000})));
    let (_, alice) = stack.create_user("alice");
    let (_, bob) = stack.create_user("bob");
    let story = stack.call(&alice, "POST", "/api/v1/stories", Some(&story_body())).json()["id"].as_str().unwrap().to_string();
    let task = stack.call(&alice, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&json!({}))).json()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    stack.wait_for_held_step(&task, 0, std::time::Duration::from_secs(120));

    for (method, path, body) in [
        ("GET", format!("/api/v1/stories/{story}"), None),
        ("PATCH", format!("/api/v1/stories/{story}"), Some(json!({"title": "mine"}))),
        ("DELETE", format!("/api/v1/stories/{story}"), None),
        ("GET", format!("/api/v1/stories/{story}/chapters/1"), None),
        ("POST", format!("/api/v1/stories/{story}/generate"), Some(json!({}))),
        ("GET", format!("/api/v1/tasks/{task}"), None),
        ("GET", format!("/api/v1/tasks/{task}/events"), None),
        ("POST", format!("/api/v1/tasks/{task}/cancel"), None),
    ] {
        let r = stack.call(&bob, method, &path, body.as_ref());
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    assert_eq!(stack.call(&bob, "GET", "/api/v1/stories", None).json()["stories"], json!([]));

    // While Alice's job runs: a second job and a delete are conflicts; her task is untouched by Bob.
    let r = stack.call(&alice, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&json!({})));
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "conflict");
    assert_eq!(stack.call(&alice, "DELETE", &format!("/api/v1/stories/{story}"), None).status, 409);
    let v = stack.call(&alice, "GET", &format!("/api/v1/tasks/{task}"), None).json();
    assert_eq!(v["status"], "running", "{v}");
}

#[test]
fn bad_input_gets_its_4xx_and_changes_nothing() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("eve");
    let auth = format!("Bearer {key}");
    let send = |body: &str, ctype: &str| {
        stack.request("POST", "/api/v1/stories", Some(body), &[("Authorization", &auth), ("Content-Type", ctype)]).unwrap()
    };
    let expect = |r: crate::helpers::Reply, status: u16, code: &str, field: Option<&str>| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        let e = &r.json()["error"];
        assert_eq!(e["code"], code, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(f) = field {
            assert_eq!(e["field"], f, "{e}");
        }
    };

    expect(stack.request("GET", "/api/v1/stories", None, &[]).unwrap(), 401, "unauthorized", None);
    // Shaped like a key, but nobody's.
    let unknown = format!("Bearer tc_{}", "0".repeat(32));
    expect(stack.request("GET", "/api/v1/stories", None, &[("Authorization", &unknown)]).unwrap(), 401, "unauthorized", None);
    expect(send("{not json", "application/json"), 400, "bad_request", None);
    expect(send(&story_body().to_string(), "text/plain"), 415, "unsupported_media_type", None);
    let huge = json!({"prompt": "x".repeat(70_000), "num_chapters": 1}).to_string();
    expect(send(&huge, "application/json"), 413, "payload_too_large", None);
    expect(send(r#"{"prompt": "p", "num_chapters": 1, "colour": "red"}"#, "application/json"), 422, "validation_failed", Some("colour"));
    expect(send(r#"{"prompt": "p", "num_chapters": "2"}"#, "application/json"), 422, "validation_failed", Some("num_chapters"));
    expect(send(r#"{"prompt": "p", "num_chapters": 0}"#, "application/json"), 422, "validation_failed", Some("num_chapters"));
    expect(send(r#"{"prompt": "p", "num_chapters": 51}"#, "application/json"), 422, "validation_failed", Some("num_chapters"));
    expect(send(r#"{"prompt": "", "num_chapters": 1}"#, "application/json"), 422, "validation_failed", Some("prompt"));
    // 4000 characters is the limit whatever their size in bytes.
    let ok_prompt = json!({"prompt": "é".repeat(4000), "num_chapters": 1}).to_string();
    let long_prompt = json!({"prompt": "é".repeat(4001), "num_chapters": 1}).to_string();
    expect(send(&long_prompt, "application/json"), 422, "validation_failed", Some("prompt"));
    assert_eq!(stack.call(&key, "GET", "/api/v1/stories", None).json()["stories"], json!([]), "nothing was written");
    assert_eq!(send(&ok_prompt, "application/json").status, 201);

    let story = stack.call(&key, "POST", "/api/v1/stories", Some(&story_body())).json()["id"].as_str().unwrap().to_string();
    let gen = |body: Value| stack.call(&key, "POST", &format!("/api/v1/stories/{story}/generate"), Some(&body));
    expect(gen(json!({"chapters": [3]})), 422, "validation_failed", Some("chapters[0]"));
    expect(gen(json!({"chapters": []})), 422, "validation_failed", Some("chapters"));
    expect(gen(json!({"regenerate": "yes"})), 422, "validation_failed", Some("regenerate"));
    expect(stack.call(&key, "GET", "/api/v1/stories?limit=0", None), 422, "validation_failed", Some("limit"));
    expect(stack.call(&key, "GET", "/api/v1/stories?cursor=garbage", None), 422, "validation_failed", Some("cursor"));
    expect(stack.call(&key, "GET", "/api/v1/usage?from=yesterday", None), 422, "validation_failed", Some("from"));
    expect(stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/3"), None), 404, "not_found", None);
    expect(stack.call(&key, "GET", "/api/v1/stories/not-a-uuid", None), 404, "not_found", None);
    expect(stack.call(&key, "GET", "/api/v1/tasks/00000000-0000-4000-8000-000000000000", None), 404, "not_found", None);
    // Audio needs scripts, also for a dry run; and only known chapters.
    let audio = |body: Value| stack.call(&key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&body));
    expect(audio(json!({})), 409, "conflict", None);
    expect(audio(json!({"dry_run": true})), 409, "conflict", None);
    expect(audio(json!({"chapters": [1], "dry_run": true})), 409, "conflict", None);
    expect(audio(json!({"chapters": [9]})), 422, "validation_failed", Some("chapters[0]"));
    expect(stack.call(&key, "GET", &format!("/api/v1/stories/{story}/audio"), None), 409, "conflict", None);
    expect(stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/1/audio"), None), 404, "not_found", None);
    expect(stack.call(&key, "PUT", &format!("/api/v1/stories/{story}/voices"), Some(&json!({"Mara": 7}))), 422, "validation_failed", Some("Mara"));
    let v = stack.call(&key, "GET", &format!("/api/v1/stories/{story}"), None).json();
    assert_eq!(v["status"], "draft", "no job was started by the bad requests");
}

#[test]
fn cors_allows_configured_origins_only() {
    let stack = TestStack::start();
    let pre = |origin: &str| {
        stack
            .request("OPTIONS", "/api/v1/stories", None, &[("Origin", origin), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization, content-type")])
            .unwrap()
    };
    let r = pre("https://app.example");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    assert!(r.header("access-control-allow-methods").unwrap().contains("POST"));
    assert!(r.header("access-control-allow-headers").unwrap().to_lowercase().contains("authorization"));
    let r = pre("https://evil.example");
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());
    let r = stack.request("GET", "/health", None, &[("Origin", "https://app.example")]).unwrap();
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    let r = stack.request("GET", "/api/v1/me", None, &[("Origin", "https://app.example")]).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"), "errors carry CORS headers too");
}
