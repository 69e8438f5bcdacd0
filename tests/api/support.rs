//! Shared steps for the claims tests (stories, audio, ops), as free functions over `TestStack`.

use crate::helpers::TestStack;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub const LONG: Duration = Duration::from_secs(180);

/// Asks the OpenAI stand-in for chapters of `lines` lines when it has that knob
/// (`/__admin/script`); returns whether it had it.
pub fn set_script_lines(stack: &TestStack, lines: u32) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = format!("{}/__admin/script", stack.providers_url);
    let has = agent.get(&url).call().map(|r| r.status().as_u16() == 200).unwrap_or(false);
    if has {
        let r = agent.post(&url).header("Content-Type", "application/json").send(json!({ "lines": lines }).to_string()).unwrap();
        assert!(r.status().as_u16() < 300, "POST /__admin/script: {}", r.status());
    }
    has
}

pub fn new_story(stack: &TestStack, key: &str, body: &Value) -> Value {
    let r = stack.call(key, "POST", "/api/v1/stories", Some(body));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

pub fn story_id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Starts a job (`generate` or `audio`) and returns its task id.
pub fn start_job(stack: &TestStack, key: &str, story: &str, job: &str, body: &Value) -> String {
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/{job}"), Some(body));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.json()["task_id"].as_str().unwrap().to_string()
}

/// Runs a job to its end and returns the last task view.
pub fn run_job(stack: &TestStack, key: &str, story: &str, job: &str, body: &Value) -> Value {
    let task = start_job(stack, key, story, job, body);
    stack.follow_task(key, &task, LONG).pop().unwrap()
}

/// A story of `chapters` chapters whose scripts are written.
pub fn story_with_scripts(stack: &TestStack, key: &str, chapters: u32) -> String {
    let v = new_story(stack, key, &json!({"title": "Claims", "prompt": "Two cousins repair a clock tower.", "num_chapters": chapters}));
    let id = story_id(&v);
    let last = run_job(stack, key, &id, "generate", &json!({}));
    assert_eq!(last["status"], "completed", "{last}");
    id
}

pub fn get_json(stack: &TestStack, key: &str, path: &str) -> Value {
    let r = stack.call(key, "GET", path, None);
    assert_eq!(r.status, 200, "GET {path}: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

pub fn chapter(stack: &TestStack, key: &str, story: &str, n: u32) -> Value {
    get_json(stack, key, &format!("/api/v1/stories/{story}/chapters/{n}"))
}

pub fn dry_run(stack: &TestStack, key: &str, story: &str) -> Value {
    let r = stack.call(key, "POST", &format!("/api/v1/stories/{story}/audio"), Some(&json!({"dry_run": true})));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

pub fn tts_requests(stack: &TestStack) -> Vec<Value> {
    stack.providers("GET", "requests?provider=elevenlabs", None)["requests"].as_array().unwrap().clone()
}

pub fn text_chars(req: &Value) -> u64 {
    req["body"]["text"].as_str().unwrap().chars().count() as u64
}

/// The lines the audio job voices for a chapter (enhanced, else script).
pub fn voiced_lines(stack: &TestStack, key: &str, story: &str, n: u32) -> Vec<Value> {
    let c = chapter(stack, key, story, n);
    let script = if c["enhanced"].is_null() { &c["script"] } else { &c["enhanced"] };
    script["lines"].as_array().unwrap().clone()
}

pub fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        chrono::DateTime::parse_from_rfc3339(s).is_ok_and(|t| t.offset().local_minus_utc() == 0)
    })
}

pub fn parse_time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().with_timezone(&chrono::Utc)
}

pub fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
    })
}

// ---- The local R2 bucket as `wrangler dev` persists it (miniflare's layout) ----

fn r2_root(stack: &TestStack) -> PathBuf {
    stack.work_dir.join("wrangler-state/v3/r2")
}

/// The SQLite file holding the local R2 objects' metadata.
fn r2_metadata_db(stack: &TestStack) -> PathBuf {
    let dir = r2_root(stack).join("miniflare-R2BucketObject");
    let mut dbs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        // metadata.sqlite is the object's own bookkeeping; the bucket's file is named by a hash.
        .filter(|p| p.extension().is_some_and(|x| x == "sqlite") && !p.ends_with("metadata.sqlite"))
        .collect();
    assert_eq!(dbs.len(), 1, "one local R2 bucket expected in {}", dir.display());
    dbs.pop().unwrap()
}

/// Runs a statement on the local R2 metadata with Python's sqlite3 (python3 is already a
/// requirement of scripts/test.sh); returns its rows as JSON arrays.
fn r2_sql(stack: &TestStack, sql: &str, params: &[&str]) -> Vec<Value> {
    let script = r#"
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=30)
cur = con.execute(sys.argv[2], sys.argv[3:])
rows = cur.fetchall()
con.commit()
print(json.dumps(rows))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(r2_metadata_db(stack))
        .arg(sql)
        .args(params)
        .output()
        .expect("python3");
    assert!(out.status.success(), "sqlite: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Keys of the local R2 objects under `prefix`.
pub fn r2_keys(stack: &TestStack, prefix: &str) -> Vec<String> {
    r2_sql(stack, "SELECT key FROM _mf_objects WHERE substr(key, 1, length(?)) = ? ORDER BY key", &[prefix, prefix])
        .into_iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect()
}

/// Makes the objects under `prefix` look `secs` older than they are.
pub fn r2_age(stack: &TestStack, prefix: &str, secs: u64) {
    let ms = (secs * 1000).to_string();
    r2_sql(stack, "UPDATE _mf_objects SET uploaded = uploaded - ? WHERE substr(key, 1, length(?)) = ?", &[&ms, prefix, prefix]);
}

/// Overwrites the stored bytes of every object under `prefix` with zeros of the same length,
/// as a damaged disk would.
pub fn r2_zero_out(stack: &TestStack, prefix: &str) -> usize {
    let rows = r2_sql(stack, "SELECT blob_id FROM _mf_objects WHERE substr(key, 1, length(?)) = ?", &[prefix, prefix]);
    let blobs = r2_root(stack).join("talecast-audio/blobs");
    for r in &rows {
        let path = blobs.join(r[0].as_str().unwrap());
        let len = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).len();
        std::fs::write(&path, vec![0u8; len as usize]).unwrap();
    }
    rows.len()
}

/// Makes the local bucket unable to store object bodies (its blob folder becomes a file);
/// the returned function puts it back.
pub fn r2_break_writes(stack: &TestStack) -> impl FnOnce() {
    let blobs = r2_root(stack).join("talecast-audio/blobs");
    let aside = r2_root(stack).join("talecast-audio/blobs.aside");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::rename(&blobs, &aside).unwrap();
    std::fs::write(&blobs, b"not a folder").unwrap();
    move || {
        std::fs::remove_file(&blobs).unwrap();
        std::fs::rename(&aside, &blobs).unwrap();
    }
}

/// Forgets the objects under `prefix`, as if they had been deleted behind the Worker's back.
pub fn r2_forget(stack: &TestStack, prefix: &str) -> usize {
    r2_sql(stack, "DELETE FROM _mf_objects WHERE substr(key, 1, length(?)) = ? RETURNING key", &[prefix, prefix]).len()
}

/// Records an empty object under `key`, uploaded `age_secs` ago, as a diagnostic check that
/// died between its put and its delete would leave behind.
pub fn r2_plant_empty(stack: &TestStack, key: &str, age_secs: u64) {
    let uploaded = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64)
        .saturating_sub(age_secs * 1000)
        .to_string();
    r2_sql(
        stack,
        "INSERT INTO _mf_objects (key, blob_id, version, size, etag, uploaded, checksums, http_metadata, custom_metadata) \
         VALUES (?, NULL, lower(hex(randomblob(16))), 0, 'd41d8cd98f00b204e9800998ecf8427e', ?, '{}', '{}', '{}')",
        &[key, &uploaded],
    );
}

/// ffprobe's JSON (format, streams, chapters) of an MP3 written to `dir/name`.
pub fn ffprobe(bytes: &[u8], dir: &std::path::Path, name: &str) -> Value {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-show_chapters"])
        .arg(&path)
        .output()
        .expect("ffprobe is installed by scripts/setup.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
