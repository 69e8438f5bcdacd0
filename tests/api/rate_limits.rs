//! Rate limits through `wrangler dev`'s emulation of the Rate Limiting binding (miniflare's
//! ratelimit plugin: a fixed window aligned to the wall clock, counted in a local Durable
//! Object per namespace): each class on its own, per user or per client IP.

use crate::helpers::{minute_with_room, with_rate_limit, Reply, TestStack};
use serde_json::{json, Value};

fn story_body() -> Value {
    json!({"title": "Limits", "prompt": "A lighthouse keeper counts the ships.", "num_chapters": 1})
}

fn assert_limited(r: &Reply, limit: &str) {
    let body = r.json();
    assert_eq!(r.status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let retry: u32 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.header("x-ratelimit-limit"), Some(limit), "{body}");
}

fn count(stack: &TestStack, table: &str, user: &str) -> i64 {
    stack.sql(&format!("SELECT count(*)::int AS n FROM {table} WHERE user_id = $1"), &[json!(user)])[0]["n"].as_i64().unwrap()
}

/// Writes over their limit answer 429 and create nothing, while reads and another user's
/// writes still pass; job starts have their own limit, and a dry run counts as a write.
#[test]
fn each_class_is_limited_per_user_on_its_own_and_a_refused_request_does_nothing() {
    let stack = TestStack::start_with_config(&[], &|toml| {
        let toml = with_rate_limit(toml, "RATE_LIMIT_WRITES", 3);
        with_rate_limit(&toml, "RATE_LIMIT_JOB_STARTS", 2)
    });
    stack.small_scripts(3);
    let (alice_id, alice) = stack.create_user("alice");
    let (bob_id, bob) = stack.create_user("bob");
    minute_with_room(40);

    let mut stories = Vec::new();
    for _ in 0..3 {
        let r = stack.call(&alice, "POST", "/api/v1/stories", Some(&story_body()));
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("x-ratelimit-limit"), Some("3;w=60"));
        stories.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let r = stack.call(&alice, "POST", "/api/v1/stories", Some(&story_body()));
    assert_limited(&r, "3;w=60");
    println!("429 as a user sees it: Retry-After {:?}, X-RateLimit-Limit {:?}, {}", r.header("retry-after"), r.header("x-ratelimit-limit"), r.json());
    assert_eq!(count(&stack, "stories", &alice_id), 3, "the refused write created no story");
    let r = stack.call(&alice, "PATCH", &format!("/api/v1/stories/{}", stories[0]), Some(&json!({"title": "Renamed"})));
    assert_limited(&r, "3;w=60");
    let title = stack.sql("SELECT title FROM stories WHERE id = $1", &[json!(stories[0])])[0]["title"].clone();
    assert_eq!(title, "Limits", "the refused rename changed nothing");
    // A dry run starts nothing, so it is a write (and writes are used up).
    let r = stack.call(&alice, "POST", &format!("/api/v1/stories/{}/audio", stories[0]), Some(&json!({"dry_run": true})));
    assert_limited(&r, "3;w=60");

    // Reads have their own limit.
    let r = stack.call(&alice, "GET", "/api/v1/stories", None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-ratelimit-limit"), Some("600;w=60"));
    // So do job starts: Alice's used-up writes do not stop her first one.
    let r = stack.call(&alice, "POST", &format!("/api/v1/stories/{}/generate", stories[0]), Some(&json!({})));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-ratelimit-limit"), Some("2;w=60"));

    // Another user's writes are counted on their own.
    let mut bobs = Vec::new();
    for _ in 0..2 {
        let r = stack.call(&bob, "POST", "/api/v1/stories", Some(&story_body()));
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        bobs.push(r.json()["id"].as_str().unwrap().to_string());
    }
    for s in &bobs {
        let r = stack.call(&bob, "POST", &format!("/api/v1/stories/{s}/generate"), Some(&json!({})));
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = stack.call(&bob, "POST", "/api/v1/stories", Some(&story_body()));
    assert_eq!(r.status, 201, "Bob's third write is within his limit: {}", String::from_utf8_lossy(&r.body));
    let third = r.json()["id"].as_str().unwrap().to_string();
    let r = stack.call(&bob, "POST", &format!("/api/v1/stories/{third}/generate"), Some(&json!({})));
    assert_limited(&r, "2;w=60");
    assert_eq!(count(&stack, "tasks", &bob_id), 2, "the refused job start made no task");
}

/// Failed authentication is counted per client IP; once over, that IP is refused before any
/// query, even with a valid key, while other IPs are served. `wrangler dev` keeps a
/// `CF-Connecting-IP` the client sends (and sets it from the socket otherwise), which is how
/// this test plays several clients; Cloudflare sets the header itself.
#[test]
fn failed_authentication_is_limited_per_ip_and_a_blocked_ip_costs_no_query() {
    let stack = TestStack::start_with_config(&[], &|toml| with_rate_limit(toml, "RATE_LIMIT_FAILED_AUTH", 3));
    let (_, key) = stack.create_user("carol");
    let good = format!("Bearer {key}");
    let unknown = format!("Bearer tc_{}", "0".repeat(32));
    minute_with_room(30);

    let from = |ip: &str, auth: &str| stack.request("GET", "/api/v1/me", None, &[("Authorization", auth), ("CF-Connecting-IP", ip)]).unwrap();
    for _ in 0..3 {
        let r = from("203.0.113.7", &unknown);
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = from("203.0.113.7", &unknown);
    assert_limited(&r, "3;w=60");

    let before = stack.neon_requests();
    let r = from("203.0.113.7", &good);
    assert_limited(&r, "3;w=60");
    assert_eq!(stack.neon_requests(), before, "a blocked IP is refused before any Neon query");

    let r = from("198.51.100.9", &good);
    assert_eq!(r.status, 200, "another IP is served: {}", String::from_utf8_lossy(&r.body));
    assert!(stack.neon_requests() > before);

    // Without the header, `wrangler dev` names the socket's address.
    for _ in 0..4 {
        stack.request("GET", "/api/v1/me", None, &[("Authorization", &unknown)]).unwrap();
    }
    let blocked: Vec<String> = stack.worker_events("failed_auth_blocked").iter().map(|e| e["ip"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(blocked, ["203.0.113.7", "127.0.0.1"], "the IPs blocked, as the Worker saw them");
}

/// `/health` is limited per client IP, on its own limiter.
#[test]
fn health_is_limited_per_ip() {
    let stack = TestStack::start_with_config(&[], &|toml| with_rate_limit(toml, "RATE_LIMIT_HEALTH", 3));
    minute_with_room(20);
    let from = |ip: &str| stack.request("GET", "/health", None, &[("CF-Connecting-IP", ip)]).unwrap();
    for _ in 0..3 {
        let r = from("192.0.2.50");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("x-ratelimit-limit"), Some("3;w=60"));
    }
    assert_limited(&from("192.0.2.50"), "3;w=60");
    assert_eq!(from("192.0.2.51").status, 200, "another IP is served");
}
