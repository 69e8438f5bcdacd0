//! Book metadata end to end: author and cover on the story, the ID3 tags of chapter and book
//! downloads (read back with ffprobe, ranges across the tag/audio boundary checked against the
//! whole download), the podcast feed read with feedparser (as an app reads it) and its
//! enclosures fetched, revocation; and bad covers and authors that change nothing.

use crate::helpers::{Reply, TestStack};
use crate::support::{ffprobe, r2_forget, r2_keys};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

/// The length of the ID3v2 tag an MP3 starts with (0 when none): header, synchsafe size.
pub fn id3_len(mp3: &[u8]) -> usize {
    if mp3.len() < 10 || &mp3[..3] != b"ID3" {
        return 0;
    }
    10 + mp3[6..10].iter().fold(0usize, |a, &x| (a << 7) | x as usize)
}

/// A real image made by ffmpeg (the name's extension picks JPEG or PNG), so the test does not judge its own bytes.
pub fn image(dir: &Path, name: &str, colour: &str) -> Vec<u8> {
    let path = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("color=c={colour}:s=300x300"), "-frames:v", "1"])
        .arg(&path)
        .status()
        .expect("ffmpeg is installed by scripts/setup.sh");
    assert!(st.success());
    std::fs::read(&path).unwrap()
}

/// The attached picture stream ffprobe sees, if any: (codec, width, height).
fn attached_picture(probe: &Value) -> Option<(String, u64, u64)> {
    probe["streams"].as_array()?.iter().find(|s| s["disposition"]["attached_pic"] == 1).map(|s| {
        (s["codec_name"].as_str().unwrap_or_default().to_string(), s["width"].as_u64().unwrap_or(0), s["height"].as_u64().unwrap_or(0))
    })
}

fn tags(probe: &Value) -> &Value {
    &probe["format"]["tags"]
}

fn feedparser() -> PathBuf {
    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    assert!(py.exists(), "{} is missing: run scripts/setup.sh (it installs feedparser)", py.display());
    py
}

/// The feed as feedparser reads it, reduced to what an app uses.
fn parse_feed(xml: &[u8], dir: &Path) -> Value {
    let path = dir.join("feed.xml");
    std::fs::write(&path, xml).unwrap();
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({
  "bozo": bool(d.bozo), "problem": str(d.get("bozo_exception", "")), "version": d.version,
  "title": d.feed.get("title"), "author": d.feed.get("author"),
  "image": (d.feed.get("image") or {}).get("href"),
  "entries": [{
    "title": e.get("title"), "id": e.get("id"), "guidislink": e.get("guidislink"),
    "enclosures": [{"href": x.get("href"), "length": x.get("length"), "type": x.get("type")} for x in e.get("enclosures", [])],
    "duration": e.get("itunes_duration"), "episode": e.get("itunes_episode"),
  } for e in d.entries],
}))
"#;
    let out = Command::new(feedparser()).args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "feedparser: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bozo"], false, "feedparser found the feed malformed: {}: {}", v["problem"], String::from_utf8_lossy(xml));
    assert_eq!(v["version"], "rss20");
    v
}

/// `url` (absolute, made by the Worker) with no `Authorization`.
fn open(stack: &TestStack, method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let path = url.strip_prefix(&stack.base_url).unwrap_or_else(|| panic!("{url} is not on {}", stack.base_url));
    stack.request(method, path, None, headers).unwrap()
}

fn put_cover(stack: &TestStack, key: &str, story: &str, content_type: &str, body: &[u8]) -> Reply {
    let bearer = format!("Bearer {key}");
    stack.request_bytes("PUT", &format!("/api/v1/stories/{story}/cover"), body, &[("Authorization", &bearer), ("Content-Type", content_type)]).unwrap()
}

fn get(stack: &TestStack, key: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let bearer = format!("Bearer {key}");
    let mut all = vec![("Authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    stack.request("GET", path, None, &all).unwrap()
}

fn run_job(stack: &TestStack, key: &str, story: &str, job: &str) {
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/{job}"), Some(&json!({})));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let task = r.json()["task_id"].as_str().unwrap().to_string();
    let last = stack.follow_task(key, &task, LONG).pop().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
}

#[test]
fn downloads_carry_tags_and_the_feed_serves_a_podcast_app() {
    let stack = TestStack::start();
    let dir = stack.work_dir.clone();
    let (_, key) = stack.create_user("author");
    let title = "Tide & \"Stone\"";
    let author = "Ada O'Neill & Co";
    let story = stack
        .call(&key, "POST", "/api/v1/stories", Some(&json!({"title": title, "prompt": "Two sisters sail to an island.", "num_chapters": 2, "author": author})))
        .json();
    let id = story["id"].as_str().unwrap().to_string();
    assert_eq!(story["author"], author);
    assert_eq!(story["cover"], Value::Null);
    // Real-size chapters (the stand-in writes 40–80 lines each).
    run_job(&stack, &key, &id, "generate");
    run_job(&stack, &key, &id, "audio");
    let summaries = stack.call(&key, "GET", &format!("/api/v1/stories/{id}"), None).json()["chapters"].clone();
    for c in summaries.as_array().unwrap() {
        let lines = stack.call(&key, "GET", &format!("/api/v1/stories/{id}/chapters/{}", c["number"]), None).json()["script"]["lines"].as_array().unwrap().len();
        assert!(lines >= 40, "chapter {} has {lines} lines", c["number"]);
    }

    let cover = image(&dir, "cover.jpg", "teal");
    let r = put_cover(&stack, &key, &id, "image/jpeg", &cover);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["cover"], json!({"content_type": "image/jpeg", "bytes": cover.len()}));
    assert_eq!(r.json()["author"], author);
    let got = get(&stack, &key, &format!("/api/v1/stories/{id}/cover"), &[]);
    assert_eq!((got.status, got.header("Content-Type")), (200, Some("image/jpeg")));
    assert_eq!(got.body, cover);

    // A chapter: tag (TIT2, TALB, TPE1, TRCK, APIC), then the stored audio, which is valid MP3.
    let ch1_title = summaries[0]["title"].as_str().unwrap().to_string();
    let stored = summaries[0]["audio"]["bytes"].as_u64().unwrap() as usize;
    let path = format!("/api/v1/stories/{id}/chapters/1/audio");
    let full = get(&stack, &key, &path, &[]);
    assert_eq!(full.status, 200);
    let body = full.body.clone();
    let tag_len = id3_len(&body);
    assert!(tag_len > cover.len(), "the tag holds the cover: {tag_len} bytes");
    assert_eq!(body.len(), tag_len + stored, "tag + the stored chapter");
    assert_eq!(full.header("Content-Length"), Some(body.len().to_string().as_str()));
    assert_eq!(&body[tag_len - cover.len()..tag_len], &cover[..], "the cover ends the tag");
    assert_eq!(body[tag_len], 0xFF, "an MPEG frame follows the tag");
    assert!(body[tag_len + 1] & 0xE0 == 0xE0);
    assert!(body[tag_len..tag_len + 200].windows(4).any(|w| w == b"Xing" || w == b"Info"), "the stored Xing/Info frame comes first");
    assert_eq!(id3_len(&body[tag_len..]), 0, "one tag only");
    let probe = ffprobe(&body, &dir, "ch1.mp3");
    let t = tags(&probe);
    assert_eq!((t["title"].as_str(), t["album"].as_str(), t["artist"].as_str(), t["track"].as_str()), (Some(ch1_title.as_str()), Some(title), Some(author), Some("1/2")), "{probe}");
    assert_eq!(attached_picture(&probe), Some(("mjpeg".to_string(), 300, 300)), "{probe}");
    let audio = probe["streams"].as_array().unwrap().iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(audio["codec_name"], "mp3");
    let probed_ms = probe["format"]["duration"].as_str().unwrap().parse::<f64>().unwrap() * 1000.0;
    let recorded = summaries[0]["audio"]["duration_ms"].as_f64().unwrap();
    assert!((probed_ms - recorded).abs() <= 1152.0 / 44.1, "ffprobe {probed_ms} ms, recorded {recorded} ms");
    let ch2 = get(&stack, &key, &format!("/api/v1/stories/{id}/chapters/2/audio"), &[]);
    assert_eq!(tags(&ffprobe(&ch2.body, &dir, "ch2.mp3"))["track"], "2/2");

    // Ranges over tag + audio: across the boundary, inside the head, inside the cover, past the tag.
    let etag = full.header("ETag").unwrap().to_string();
    let n = body.len();
    let head_end = tag_len - cover.len();
    for (from, to) in [(tag_len - 100, tag_len + 99), (0, 9), (head_end - 5, head_end + 5), (head_end + 10, head_end + 20), (tag_len, tag_len + 999), (n - 500, n - 1), (0, n - 1)] {
        let range = format!("bytes={from}-{to}");
        let r = get(&stack, &key, &path, &[("Range", &range)]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, body[from..=to], "{range}");
        assert_eq!(r.header("Content-Range"), Some(format!("bytes {from}-{to}/{n}").as_str()), "{range}");
        assert_eq!(r.header("Content-Length"), Some((to - from + 1).to_string().as_str()));
        assert_eq!(r.header("ETag"), Some(etag.as_str()), "{range}");
        let r = get(&stack, &key, &path, &[("Range", &range), ("If-Range", &etag)]);
        assert_eq!((r.status, r.body == body[from..=to]), (206, true), "If-Range {range}");
    }
    let r = get(&stack, &key, &path, &[("Range", "bytes=-300")]);
    assert_eq!(r.body, body[n - 300..]);
    let r = get(&stack, &key, &path, &[("Range", &format!("bytes={n}-"))]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some(format!("bytes */{n}").as_str()));

    // The book: its tag, the cover, and the chapter marks still read.
    let book = get(&stack, &key, &format!("/api/v1/stories/{id}/audio"), &[]);
    assert_eq!(book.status, 200);
    assert_eq!(book.header("Content-Length"), Some(book.body.len().to_string().as_str()));
    let probe = ffprobe(&book.body, &dir, "book.mp3");
    let t = tags(&probe);
    assert_eq!((t["title"].as_str(), t["album"].as_str(), t["artist"].as_str()), (Some(title), Some(title), Some(author)), "{probe}");
    assert_eq!(attached_picture(&probe), Some(("mjpeg".to_string(), 300, 300)));
    let marks = probe["chapters"].as_array().unwrap();
    assert_eq!(marks.len(), 2, "{probe}");
    assert_eq!(marks[0]["tags"]["title"].as_str(), Some(ch1_title.as_str()));
    let end = marks[0]["end_time"].as_str().unwrap().parse::<f64>().unwrap() * 1000.0;
    assert!((end - recorded).abs() <= 1.0, "chapter 1 ends at {end} ms, lasts {recorded} ms");

    // Changing the metadata changes the tag and the ETag, not the audio; the old ETag's
    // If-Range gets the whole new download.
    let renamed = "Ada Lovelace";
    assert_eq!(stack.call(&key, "PATCH", &format!("/api/v1/stories/{id}"), Some(&json!({"author": renamed}))).status, 200);
    let after = get(&stack, &key, &path, &[("Range", "bytes=0-99"), ("If-Range", &etag)]);
    assert_eq!(after.status, 200, "a stale If-Range gets everything");
    assert_ne!(after.header("ETag"), Some(etag.as_str()));
    let new_tag = id3_len(&after.body);
    assert_eq!(after.body[new_tag..], body[tag_len..], "the audio is the same bytes");
    assert_eq!(tags(&ffprobe(&after.body, &dir, "renamed.mp3"))["artist"], renamed);

    // Signed links: a chapter, its HEAD, the cover, the feed.
    let links = stack.call(&key, "POST", &format!("/api/v1/stories/{id}/links"), Some(&json!({}))).json();
    let feed_url = links["feed"].as_str().unwrap().to_string();
    assert!(feed_url.starts_with(&format!("{}/api/v1/stories/{id}/feed.xml?exp=", stack.base_url)), "{feed_url}");
    let cover_url = links["cover"].as_str().unwrap().to_string();
    let linked = open(&stack, "GET", &cover_url, &[]);
    assert_eq!((linked.status, linked.header("Content-Type"), linked.body == cover), (200, Some("image/jpeg"), true));
    let ch1_url = links["chapters"][0]["url"].as_str().unwrap().to_string();
    let head = open(&stack, "HEAD", &ch1_url, &[]);
    assert_eq!(head.header("Content-Length"), Some(after.body.len().to_string().as_str()));
    let r = open(&stack, "GET", &ch1_url, &[("Range", &format!("bytes={}-{}", new_tag - 50, new_tag + 49))]);
    assert_eq!(r.body, after.body[new_tag - 50..new_tag + 50]);

    let feed = open(&stack, "GET", &feed_url, &[]);
    assert_eq!(feed.status, 200);
    assert_eq!(feed.header("Content-Type"), Some("application/rss+xml; charset=utf-8"));
    let f = parse_feed(&feed.body, &dir);
    assert_eq!((f["title"].as_str(), f["author"].as_str()), (Some(title), Some(renamed)), "{f}");
    let image_url = f["image"].as_str().unwrap();
    assert_eq!(open(&stack, "GET", image_url, &[]).body, cover, "itunes:image fetches the cover without a key");
    let entries = f["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{f}");
    for (i, e) in entries.iter().enumerate() {
        let c = &summaries[i];
        assert_eq!(e["title"], c["title"], "{e}");
        assert_eq!(e["episode"].as_str(), Some((i + 1).to_string().as_str()));
        let secs: f64 = e["duration"].as_str().unwrap().parse().unwrap();
        assert!((secs * 1000.0 - c["audio"]["duration_ms"].as_f64().unwrap()).abs() <= 500.0, "{e}");
        assert_eq!(e["guidislink"], false);
        let enclosure = &e["enclosures"][0];
        assert_eq!(enclosure["type"], "audio/mpeg");
        let length: usize = enclosure["length"].as_str().unwrap().parse().unwrap();
        let got = open(&stack, "GET", enclosure["href"].as_str().unwrap(), &[]);
        assert_eq!(got.status, 200);
        assert_eq!(got.body.len(), length, "enclosure {}: the stated length is what the link serves", i + 1);
        assert!(id3_len(&got.body) > 0);
    }
    // Stable guids: the same in a second fetch and through a new link.
    let again = links_feed(&stack, &key, &id, &dir);
    let guids = |f: &Value| f["entries"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(guids(&parse_feed(&open(&stack, "GET", &feed_url, &[]).body, &dir)), guids(&f));
    assert_eq!(guids(&again), guids(&f));
    assert_eq!(guids(&f).iter().collect::<std::collections::BTreeSet<_>>().len(), 2);

    // An altered signature, and a revoked feed, are refused.
    let at = feed_url.find("sig=").unwrap() + 10;
    let mut altered = feed_url.clone().into_bytes();
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let r = open(&stack, "GET", &String::from_utf8(altered).unwrap(), &[]);
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(stack.call(&key, "POST", &format!("/api/v1/stories/{id}/links/revoke"), None).status, 204);
    for url in [&feed_url, &cover_url, &ch1_url] {
        let r = open(&stack, "GET", url, &[]);
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (403, Some("forbidden")), "revoked {url}");
    }
    // A range that does not reach the cover never reads it: with the cover's object gone from
    // storage (reading it would fail the answer), such ranges still answer.
    assert_eq!(r2_forget(&stack, &format!("stories/{id}/cover/")), 1);
    for (from, to) in [(new_tag, new_tag + 999), (0, 9)] {
        let r = get(&stack, &key, &path, &[("Range", &format!("bytes={from}-{to}"))]);
        assert_eq!((r.status, r.body == after.body[from..=to]), (206, true), "bytes={from}-{to} without the cover");
    }
    // The old home of the feed is gone.
    assert_eq!(open(&stack, "GET", &feed_url.replace(&format!("/api/v1/stories/{id}/feed.xml"), &format!("/l/{id}/feed.xml")), &[]).status, 404);
}

fn links_feed(stack: &TestStack, key: &str, id: &str, dir: &Path) -> Value {
    let l = stack.call(key, "POST", &format!("/api/v1/stories/{id}/links"), Some(&json!({}))).json();
    parse_feed(&open(stack, "GET", l["feed"].as_str().unwrap(), &[]).body, dir)
}

#[test]
fn bad_covers_and_authors_change_nothing() {
    let stack = TestStack::start();
    let dir = stack.work_dir.clone();
    let (_, key) = stack.create_user("owner");
    let (_, other) = stack.create_user("stranger");
    let long = "a".repeat(201);
    let r = stack.call(&key, "POST", "/api/v1/stories", Some(&json!({"prompt": "A fox.", "num_chapters": 1, "author": long})));
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("author")));
    let id = stack.call(&key, "POST", "/api/v1/stories", Some(&json!({"prompt": "A fox.", "num_chapters": 1, "author": "Ada"}))).json()["id"].as_str().unwrap().to_string();
    let png = image(&dir, "cover.png", "red");
    let r = put_cover(&stack, &key, &id, "image/png", &png);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["cover"], json!({"content_type": "image/png", "bytes": png.len()}));
    let story_path = format!("/api/v1/stories/{id}");
    let before = stack.call(&key, "GET", &story_path, None).json();
    let prefix = format!("stories/{id}/cover/");
    let objects = r2_keys(&stack, &prefix);
    assert_eq!(objects.len(), 1, "{objects:?}");

    let mut too_big = png.clone();
    too_big.resize(2 * 1024 * 1024 + 1, 0);
    let mut fits = png.clone();
    fits.resize(2 * 1024 * 1024, 0);
    let jpeg = image(&dir, "cover.jpg", "blue");
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("text as PNG", "image/png", b"this is not an image".to_vec(), 422, "validation_failed"),
        ("a JPEG declared PNG", "image/png", jpeg.clone(), 422, "validation_failed"),
        ("a PNG declared JPEG", "image/jpeg", png.clone(), 422, "validation_failed"),
        ("a cut-short PNG", "image/png", png[..20].to_vec(), 422, "validation_failed"),
        ("an empty body", "image/jpeg", Vec::new(), 422, "validation_failed"),
        ("a GIF type", "image/gif", png.clone(), 415, "unsupported_media_type"),
        ("JSON", "application/json", b"{}".to_vec(), 415, "unsupported_media_type"),
        ("2 MiB + 1 byte", "image/png", too_big, 413, "payload_too_large"),
    ];
    for (what, content_type, body, status, code) in cases {
        let r = put_cover(&stack, &key, &id, content_type, &body);
        assert_eq!(r.status, status, "{what}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["error"]["code"], code, "{what}");
        assert_eq!(stack.call(&key, "GET", &story_path, None).json(), before, "{what} changed the story");
        assert_eq!(get(&stack, &key, &format!("{story_path}/cover"), &[]).body, png, "{what} changed the cover");
        assert_eq!(r2_keys(&stack, &prefix), objects, "{what} changed R2");
    }
    // Authors over the limit, blank, or on another user's story.
    for bad in [json!({"author": long}), json!({"author": ""}), json!({"author": "two\nlines"}), json!({"author": 5})] {
        let r = stack.call(&key, "PATCH", &story_path, Some(&bad));
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("author")), "{bad}");
    }
    assert_eq!(stack.call(&key, "GET", &story_path, None).json(), before);
    assert_eq!(put_cover(&stack, &other, &id, "image/jpeg", &jpeg).status, 404);
    assert_eq!(get(&stack, &other, &format!("{story_path}/cover"), &[]).status, 404);
    assert_eq!(stack.call(&other, "DELETE", &format!("{story_path}/cover"), None).status, 404);
    assert_eq!(stack.call(&other, "PATCH", &story_path, Some(&json!({"author": "Mallory"}))).status, 404);
    assert_eq!(stack.call(&key, "GET", &story_path, None).json(), before, "another user changed nothing");
    assert_eq!(r2_keys(&stack, &prefix), objects);

    // Exactly 2 MiB fits; a new cover replaces the old object; DELETE removes it; author null clears.
    let r = put_cover(&stack, &key, &id, "image/png", &fits);
    assert_eq!((r.status, r.json()["cover"]["bytes"].as_u64()), (200, Some(2 * 1024 * 1024)));
    let r = put_cover(&stack, &key, &id, "image/jpeg; charset=binary", &jpeg);
    assert_eq!(r.json()["cover"], json!({"content_type": "image/jpeg", "bytes": jpeg.len()}));
    let now = r2_keys(&stack, &prefix);
    assert_eq!(now.len(), 1, "the replaced cover's object is gone: {now:?}");
    assert_ne!(now, objects);
    assert_eq!(stack.call(&key, "DELETE", &format!("{story_path}/cover"), None).status, 204);
    assert_eq!(stack.call(&key, "GET", &story_path, None).json()["cover"], Value::Null);
    assert_eq!(get(&stack, &key, &format!("{story_path}/cover"), &[]).status, 404);
    assert!(r2_keys(&stack, &prefix).is_empty());
    assert_eq!(stack.call(&key, "DELETE", &format!("{story_path}/cover"), None).status, 204, "removing no cover is fine");
    let r = stack.call(&key, "PATCH", &story_path, Some(&json!({"author": null})));
    assert_eq!((r.status, r.json()["author"].clone(), r.json()["title"].clone()), (200, Value::Null, before["title"].clone()));

    // Deleting the story removes its cover with it.
    assert_eq!(put_cover(&stack, &key, &id, "image/png", &png).status, 200);
    assert_eq!(stack.call(&key, "DELETE", &story_path, None).status, 204);
    assert!(r2_keys(&stack, &format!("stories/{id}/")).is_empty());
}
