//! The voices catalogue, and signed links for players and feeds: made by the owner, used
//! without `Authorization` (GET, HEAD, Range, the book, the feed and its enclosures), refused
//! with 403 when altered, moved to another resource, revoked, or signed with a rotated key.

use crate::helpers::{random_secret, Reply, TestStack};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);

/// `url` (absolute, made by the Worker) with no `Authorization`.
fn open(stack: &TestStack, method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let path = url.strip_prefix(&stack.base_url).unwrap_or_else(|| panic!("{url} is not on the Worker's own origin {}", stack.base_url));
    stack.request(method, path, None, headers).unwrap()
}

fn assert_forbidden(r: &Reply, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "forbidden", "{what}");
}

/// `url` with one character of its signature changed.
fn altered_signature(url: &str) -> String {
    let at = url.find("sig=").unwrap() + 4 + 10;
    let mut bytes = url.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn links(stack: &TestStack, key: &str, story: &str, body: Value) -> Value {
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/links"), Some(&body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    r.json()
}

fn ffprobe_chapters(bytes: &[u8], dir: &std::path::Path) -> Vec<Value> {
    let path = dir.join("linked-book.mp3");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_chapters"])
        .arg(&path)
        .output()
        .expect("ffprobe is installed by scripts/setup.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["chapters"].as_array().unwrap().clone()
}

/// (channel title, [(enclosure url, length, type)]) of an RSS 2.0 document.
fn parse_feed(xml: &str) -> (String, Vec<(String, u64, String)>) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("the feed is not XML ({e}): {xml}"));
    let rss = doc.root_element();
    assert_eq!(rss.tag_name().name(), "rss");
    assert_eq!(rss.attribute("version"), Some("2.0"));
    let channel = rss.children().find(|n| n.has_tag_name("channel")).expect("a channel");
    let text = |n: roxmltree::Node, tag: &str| n.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text()).unwrap_or_default().to_string();
    let items = channel
        .children()
        .filter(|n| n.has_tag_name("item"))
        .map(|item| {
            assert!(!text(item, "title").is_empty() && !text(item, "guid").is_empty());
            let e = item.children().find(|c| c.has_tag_name("enclosure")).expect("an enclosure");
            (e.attribute("url").unwrap().to_string(), e.attribute("length").unwrap().parse().unwrap(), e.attribute("type").unwrap().to_string())
        })
        .collect();
    (text(channel, "title"), items)
}

#[test]
fn the_voices_catalogue_needs_a_key() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("picker");
    let r = stack.call(&key, "GET", "/api/v1/voices", None);
    assert_eq!(r.status, 200);
    let v = r.json();
    let voices = v["voices"].as_array().unwrap();
    assert!(voices.len() >= 8, "{v}");
    assert!(voices.iter().any(|x| x["id"] == v["narrator"]), "the narrator is in the catalogue: {v}");
    for x in voices {
        assert!(x["id"].is_string() && x["name"].is_string(), "{x}");
        assert!(x["description"].is_null() || x["description"].is_string(), "{x}");
        assert_eq!(x.as_object().unwrap().len(), 3, "{x}");
    }
    // Every voice it lists is one PUT .../voices accepts.
    let story = stack.call(&key, "POST", "/api/v1/stories", Some(&json!({"prompt": "A heron.", "num_chapters": 1}))).json();
    let pick = voices.last().unwrap()["id"].as_str().unwrap();
    let put = stack.call(&key, "PUT", &format!("/api/v1/stories/{}/voices", story["id"].as_str().unwrap()), Some(&json!({"Heron": pick})));
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));

    let anonymous = stack.request("GET", "/api/v1/voices", None, &[]).unwrap();
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"]["code"], "unauthorized");
    assert_eq!(stack.call("tc_not_a_real_key_000000000000000000000000", "GET", "/api/v1/voices", None).status, 401);
    assert_eq!(stack.call(&key, "POST", "/api/v1/voices", None).status, 405);
}

#[test]
fn signed_links_serve_players_and_feeds_until_revoked_or_rotated() {
    let mut stack = TestStack::start();
    stack.small_scripts(3);
    let (_, key) = stack.create_user("listener");
    let (_, other) = stack.create_user("stranger");
    let story = stack.call(&key, "POST", "/api/v1/stories", Some(&json!({"title": "Tide & Stone", "prompt": "Two sisters sail to an island.", "num_chapters": 2}))).json();
    let id = story["id"].as_str().unwrap().to_string();
    let task = stack.call(&key, "POST", &format!("/api/v1/stories/{id}/generate"), Some(&json!({}))).json()["task_id"].as_str().unwrap().to_string();
    assert_eq!(stack.follow_task(&key, &task, LONG).pop().unwrap()["status"], "completed");

    // Before any audio: no book, no chapters, a feed with no episodes.
    let none = links(&stack, &key, &id, json!({}));
    assert!(none["book"].is_null(), "{none}");
    assert_eq!(none["chapters"], json!([]));
    let feed = open(&stack, "GET", none["feed"].as_str().unwrap(), &[]);
    assert_eq!(feed.status, 200);
    assert_eq!(parse_feed(&String::from_utf8(feed.body).unwrap()), ("Tide & Stone".to_string(), vec![]));

    let audio = stack.call(&key, "POST", &format!("/api/v1/stories/{id}/audio"), Some(&json!({}))).json()["task_id"].as_str().unwrap().to_string();
    assert_eq!(stack.follow_task(&key, &audio, LONG).pop().unwrap()["status"], "completed");

    // Bodies: the default lifetime, bounds, unknown fields; another user's story is not found.
    let made_at = chrono::Utc::now();
    let l = links(&stack, &key, &id, json!({}));
    let expires: chrono::DateTime<chrono::Utc> = l["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires - made_at - chrono::Duration::seconds(86_400)).num_seconds().abs() <= 5, "{l}");
    let short = links(&stack, &key, &id, json!({"ttl_secs": 60}));
    let expires: chrono::DateTime<chrono::Utc> = short["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires - made_at - chrono::Duration::seconds(60)).num_seconds().abs() <= 5, "{short}");
    for bad in [json!({"ttl_secs": 59}), json!({"ttl_secs": 604_801}), json!({"ttl": 60})] {
        assert_eq!(stack.call(&key, "POST", &format!("/api/v1/stories/{id}/links"), Some(&bad)).status, 422, "{bad}");
    }
    assert_eq!(stack.call(&other, "POST", &format!("/api/v1/stories/{id}/links"), Some(&json!({}))).status, 404);
    assert_eq!(stack.call(&other, "POST", &format!("/api/v1/stories/{id}/links/revoke"), None).status, 404);
    assert_eq!(stack.request("POST", &format!("/api/v1/stories/{id}/links"), Some("{}"), &[("Content-Type", "application/json")]).unwrap().status, 401);

    let chapters = l["chapters"].as_array().unwrap();
    assert_eq!(chapters.iter().map(|c| c["number"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 2], "{l}");
    let ch1 = chapters[0]["url"].as_str().unwrap().to_string();
    let ch2 = chapters[1]["url"].as_str().unwrap().to_string();
    assert!(ch1.starts_with(&format!("{}/l/{id}/chapters/1.mp3?exp=", stack.base_url)), "{ch1}");

    // A chapter: the same bytes and headers as the authenticated route, with no key.
    let bearer = format!("Bearer {key}");
    let authed = stack.request("GET", &format!("/api/v1/stories/{id}/chapters/1/audio"), None, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(authed.status, 200);
    let got = open(&stack, "GET", &ch1, &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, authed.body);
    for h in ["Content-Type", "Content-Length", "ETag", "Accept-Ranges", "Cache-Control"] {
        assert!(authed.header(h).is_some(), "{h}");
        assert_eq!(got.header(h), authed.header(h), "{h}");
    }
    let head = open(&stack, "HEAD", &ch1, &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for h in ["Content-Type", "Content-Length", "ETag", "Accept-Ranges"] {
        assert_eq!(head.header(h), authed.header(h), "HEAD {h}");
    }
    let len = authed.body.len();
    let ranged = open(&stack, "GET", &ch1, &[("Range", "bytes=100-299")]);
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, authed.body[100..300]);
    assert_eq!(ranged.header("Content-Range"), Some(format!("bytes 100-299/{len}").as_str()));
    assert_eq!(open(&stack, "GET", &ch1, &[("Range", &format!("bytes={len}-"))]).status, 416);

    // The book: one MP3 with a chapter mark per chapter.
    let book = open(&stack, "GET", l["book"].as_str().unwrap(), &[]);
    assert_eq!(book.status, 200);
    assert_eq!(book.header("Content-Type"), Some("audio/mpeg"));
    assert_eq!(book.header("Content-Length"), Some(book.body.len().to_string().as_str()));
    assert_eq!(ffprobe_chapters(&book.body, &stack.work_dir).len(), 2);
    assert_eq!(open(&stack, "HEAD", l["book"].as_str().unwrap(), &[]).status, 200);

    // The feed: RSS whose enclosures are working chapter links of the right length.
    let feed = open(&stack, "GET", l["feed"].as_str().unwrap(), &[]);
    assert_eq!(feed.status, 200);
    assert_eq!(feed.header("Content-Type"), Some("application/rss+xml; charset=utf-8"));
    let (title, items) = parse_feed(&String::from_utf8(feed.body).unwrap());
    assert_eq!(title, "Tide & Stone");
    assert_eq!(items.len(), 2);
    for (n, (url, length, kind)) in items.iter().enumerate() {
        assert_eq!(kind, "audio/mpeg");
        let r = open(&stack, "GET", url, &[]);
        assert_eq!(r.status, 200, "enclosure {}", n + 1);
        assert_eq!(r.body.len() as u64, *length, "enclosure {}", n + 1);
    }
    assert_eq!(items[0].1, len as u64);

    // Altered, moved or stretched links are refused, and say so in JSON.
    assert_forbidden(&open(&stack, "GET", &altered_signature(&ch1), &[]), "a changed signature");
    assert_forbidden(&open(&stack, "GET", &ch1.replace("/chapters/1.mp3", "/chapters/2.mp3"), &[]), "chapter 1's link on chapter 2");
    assert_forbidden(&open(&stack, "GET", &ch1.replace("/chapters/1.mp3", "/book.mp3"), &[]), "a chapter's link on the book");
    let exp: u64 = ch1.split("exp=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
    assert_forbidden(&open(&stack, "GET", &ch1.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600)), &[]), "a later exp");
    assert_forbidden(&open(&stack, "GET", &ch1.replace(&format!("exp={exp}"), "exp=1000000000"), &[]), "an exp in the past");
    assert_forbidden(&open(&stack, "GET", ch1.split('?').next().unwrap(), &[]), "no signature");
    assert_eq!(open(&stack, "POST", &ch1, &[]).status, 405);
    assert_eq!(open(&stack, "GET", &ch1.replace("/chapters/1.mp3", "/chapters/one.mp3"), &[]).status, 404);

    // Revoking ends every link made before; links made after work.
    assert_eq!(stack.call(&key, "POST", &format!("/api/v1/stories/{id}/links/revoke"), None).status, 204);
    for (what, url) in [("chapter 1", &ch1), ("chapter 2", &ch2), ("book", &l["book"].as_str().unwrap().to_string()), ("feed", &l["feed"].as_str().unwrap().to_string()), ("an enclosure", &items[1].0)] {
        assert_forbidden(&open(&stack, "GET", url, &[]), &format!("revoked {what}"));
    }
    let fresh = links(&stack, &key, &id, json!({}));
    let fresh_ch1 = fresh["chapters"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(open(&stack, "GET", &fresh_ch1, &[]).body, authed.body);

    // A new signing key ends every link of every story.
    let old_origin = stack.base_url.clone();
    stack.restart_worker_with_secret("LINK_SIGNING_KEY", &format!("rotated-{}", random_secret()));
    let moved = fresh_ch1.replacen(&old_origin, &stack.base_url, 1);
    assert_forbidden(&open(&stack, "GET", &moved, &[]), "a link signed with the old key");
    let after = links(&stack, &key, &id, json!({}));
    let r = open(&stack, "GET", after["chapters"][0]["url"].as_str().unwrap(), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, authed.body);
}
