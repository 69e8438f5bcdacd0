//! Neon round trips per route, against the table in docs/API.md ("Round trips per route"):
//! every route is called, and each may make at most the number of round trips the table
//! gives it. Two counts are compared: the local Neon server's own request counter, and what
//! the Worker logs for the request (`request_done` … `db_round_trips`). Both are exact while
//! no job runs; a job start sets a job going at once, whose steps also talk to Neon, so for
//! those two routes only the Worker's count is read. Job steps are measured too: round trips
//! per LLM call and per clip, printed with the drill figures.

use crate::helpers::TestStack;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(240);

/// `| `METHOD /path` | N | ... |` rows of the docs' table.
pub fn budget_table() -> BTreeMap<String, u64> {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    let start = docs.find("### Round trips per route").expect("docs/API.md has a 'Round trips per route' table");
    let mut table = BTreeMap::new();
    for line in docs[start..].lines().skip(1).take_while(|l| !l.starts_with('#')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 || !cells[1].starts_with('`') {
            continue;
        }
        let route = cells[1].trim_matches('`').to_string();
        let n: u64 = cells[2].parse().unwrap_or_else(|_| panic!("round trips for {route}: {:?}", cells[2]));
        table.insert(route, n);
    }
    assert!(table.len() >= 15, "the table lists every route: {table:?}");
    table
}

struct Meter<'a> {
    stack: &'a TestStack,
    key: String,
    seen: BTreeMap<String, (Option<u64>, u64)>,
}

impl Meter<'_> {
    /// The Worker's count for the last `request_done` of `method path`.
    fn worker_count(&self, method: &str, path: &str, before: usize) -> u64 {
        let events = self.stack.worker_events("request_done");
        let e = events[before..]
            .iter()
            .rev()
            .find(|e| e["method"] == method && e["path"] == path)
            .unwrap_or_else(|| panic!("no request_done for {method} {path}"));
        e["db_round_trips"].as_u64().unwrap()
    }

    /// Calls the route and records (Neon's count when `quiet`, the Worker's count).
    fn call(&mut self, route: &str, path: &str, body: Option<&Value>, auth: Option<&str>, quiet: bool) -> crate::helpers::Reply {
        let (method, _) = route.split_once(' ').unwrap();
        let before_events = self.stack.worker_events("request_done").len();
        let before = self.stack.neon_requests();
        let key = auth.map(String::from).unwrap_or_else(|| self.key.clone());
        let text = body.map(|b| b.to_string());
        let bearer = format!("Bearer {key}");
        let mut headers = vec![("Authorization", bearer.as_str())];
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let r = self.stack.request(method, path, text.as_deref(), &headers).unwrap();
        assert!(r.status < 300, "{route}: {} {}", r.status, String::from_utf8_lossy(&r.body));
        let neon = quiet.then(|| self.stack.neon_requests() - before);
        // The log line lands just after the answer.
        let worker = self.stack.wait_for(&format!("the log line of {route}"), Duration::from_secs(10), || {
            let events = self.stack.worker_events("request_done");
            events[before_events..].iter().any(|e| e["method"] == method && e["path"] == path.split('?').next().unwrap()).then_some(())
        });
        let _: () = worker;
        let worker = self.worker_count(method, path.split('?').next().unwrap(), before_events);
        if let Some(n) = neon {
            assert_eq!(n, worker, "{route}: the Neon server counted {n} requests, the Worker logged {worker}");
        }
        self.seen.insert(route.to_string(), (neon, worker));
        r
    }
}

impl Meter<'_> {
    /// `call` with a body that is not JSON (a cover image).
    fn call_raw(&mut self, route: &str, path: &str, body: &[u8], content_type: &str) {
        let (method, _) = route.split_once(' ').unwrap();
        let before_events = self.stack.worker_events("request_done").len();
        let before = self.stack.neon_requests();
        let bearer = format!("Bearer {}", self.key);
        let r = self.stack.request_bytes(method, path, body, &[("Authorization", &bearer), ("Content-Type", content_type)]).unwrap();
        assert!(r.status < 300, "{route}: {} {}", r.status, String::from_utf8_lossy(&r.body));
        let neon = self.stack.neon_requests() - before;
        self.stack.wait_for(&format!("the log line of {route}"), Duration::from_secs(10), || {
            self.stack.worker_events("request_done")[before_events..].iter().any(|e| e["method"] == method && e["path"] == path).then_some(())
        });
        let worker = self.worker_count(method, path, before_events);
        assert_eq!(neon, worker, "{route}: the Neon server counted {neon} requests, the Worker logged {worker}");
        self.seen.insert(route.to_string(), (Some(neon), worker));
    }
}

/// Neon requests from `neon_before` until the job logs its end, waiting on the Worker's log
/// rather than polling the API (a poll is a round trip too).
fn job_round_trips(stack: &TestStack, task: &str, neon_before: u64) -> u64 {
    stack.wait_for(&format!("task {task} to log its end"), LONG, || {
        stack.worker_events("task_completed").iter().any(|e| e["task_id"] == task).then_some(())
    });
    stack.neon_requests() - neon_before
}

fn wait_done(stack: &TestStack, key: &str, task: &str) -> Value {
    stack.follow_task(key, task, LONG).pop().unwrap()
}

/// What one pass over every route measured: per route (Neon's count when it is exact, the
/// Worker's count), and the jobs' round trips with their LLM calls and clips. The benchmark
/// (tests/api/bench.rs) reads the same pass.
pub struct Measured {
    pub routes: BTreeMap<String, (Option<u64>, u64)>,
    pub story_job: u64,
    pub llm_calls: u64,
    pub audio_job: u64,
    pub clips: u64,
}

/// Calls every route of the table once, on 6-line chapters (a 2-chapter story with enhance).
pub fn measure(stack: &TestStack) -> Measured {
    stack.small_scripts(6);
    let (user_id, key) = stack.create_user("counted");
    let admin = stack.admin_token.clone();
    let mut m = Meter { stack: &stack, key: key.clone(), seen: BTreeMap::new() };

    m.call("POST /api/v1/users", "/api/v1/users", Some(&json!({"name": "second"})), Some(&admin), true);
    m.call("GET /api/v1/me", "/api/v1/me", None, None, true);
    m.call("PUT /api/v1/admin/users/{id}/budget", &format!("/api/v1/admin/users/{user_id}/budget"), Some(&json!({})), Some(&admin), true);
    let story = m.call("POST /api/v1/stories", "/api/v1/stories", Some(&json!({"prompt": "A lighthouse keeper.", "num_chapters": 2, "enhance": true})), None, true).json();
    let id = story["id"].as_str().unwrap().to_string();
    m.call("GET /api/v1/stories", "/api/v1/stories?limit=5", None, None, true);

    m.call("POST /api/v1/stories/{id}/generate (dry run)", &format!("/api/v1/stories/{id}/generate"), Some(&json!({"dry_run": true})), None, true);
    // The story job: its steps' round trips per LLM call.
    let neon_before = stack.neon_requests();
    let llm_before = stack.openai_requests().len();
    let task = m.call("POST /api/v1/stories/{id}/generate", &format!("/api/v1/stories/{id}/generate"), Some(&json!({})), None, false).json();
    let task = task["task_id"].as_str().unwrap().to_string();
    let story_job = job_round_trips(&stack, &task, neon_before) - m.seen["POST /api/v1/stories/{id}/generate"].1;
    let llm_calls = (stack.openai_requests().len() - llm_before) as u64;
    assert_eq!(wait_done(&stack, &key, &task)["status"], "completed");

    m.call("GET /api/v1/tasks/{id}", &format!("/api/v1/tasks/{task}"), None, None, true);
    m.call("GET /api/v1/tasks/{id}/events", &format!("/api/v1/tasks/{task}/events"), None, None, true);
    m.call("GET /api/v1/stories/{id}", &format!("/api/v1/stories/{id}"), None, None, true);
    m.call("GET /api/v1/stories/{id}/chapters/{n}", &format!("/api/v1/stories/{id}/chapters/1"), None, None, true);
    m.call("PATCH /api/v1/stories/{id}", &format!("/api/v1/stories/{id}"), Some(&json!({"title": "Renamed"})), None, true);
    m.call("GET /api/v1/stories/{id}/voices", &format!("/api/v1/stories/{id}/voices"), None, None, true);
    m.call("PUT /api/v1/stories/{id}/voices", &format!("/api/v1/stories/{id}/voices"), Some(&json!({})), None, true);
    m.call("POST /api/v1/stories/{id}/audio (dry run)", &format!("/api/v1/stories/{id}/audio"), Some(&json!({"dry_run": true})), None, true);

    let neon_before = stack.neon_requests();
    let tts_before = stack.provider_requests("elevenlabs").len();
    let task = m.call("POST /api/v1/stories/{id}/audio", &format!("/api/v1/stories/{id}/audio"), Some(&json!({})), None, false).json();
    let task = task["task_id"].as_str().unwrap().to_string();
    let audio_job = job_round_trips(&stack, &task, neon_before) - m.seen["POST /api/v1/stories/{id}/audio"].1;
    let clips = (stack.provider_requests("elevenlabs").len() - tts_before) as u64;
    assert_eq!(wait_done(&stack, &key, &task)["status"], "completed");

    m.call("GET /api/v1/stories/{id}/chapters/{n}/audio", &format!("/api/v1/stories/{id}/chapters/1/audio"), None, None, true);
    m.call("GET /api/v1/stories/{id}/audio", &format!("/api/v1/stories/{id}/audio"), None, None, true);
    // Editing: input writes read, then write with every chapter's fingerprint.
    let chapter = stack.call(&key, "GET", &format!("/api/v1/stories/{id}/chapters/1"), None).json();
    let voiced = if chapter["enhanced"].is_null() { &chapter["script"] } else { &chapter["enhanced"] };
    let mut lines = voiced["lines"].as_array().unwrap().clone();
    lines[0]["text"] = json!("An edited first line.");
    let edit = json!({"title": voiced["title"], "lines": lines});
    m.call("PUT /api/v1/stories/{id}/chapters/{n}/script", &format!("/api/v1/stories/{id}/chapters/1/script"), Some(&edit), None, true);
    m.call("PUT /api/v1/stories/{id}/pronunciations", &format!("/api/v1/stories/{id}/pronunciations"), Some(&json!({"lighthouse": "light house"})), None, true);
    m.call("GET /api/v1/stories/{id}/pronunciations", &format!("/api/v1/stories/{id}/pronunciations"), None, None, true);
    m.call("DELETE /api/v1/stories/{id}/chapters/{n}/script", &format!("/api/v1/stories/{id}/chapters/1/script"), None, None, true);
    m.call("GET /api/v1/usage", "/api/v1/usage", None, None, true);
    m.call("GET /api/v1/voices", "/api/v1/voices", None, None, true);
    let links = m.call("POST /api/v1/stories/{id}/links", &format!("/api/v1/stories/{id}/links"), Some(&json!({})), None, true).json();
    // Signed links need no key; the one `call` sends is not what lets them through.
    let path = |url: &Value| url.as_str().unwrap().strip_prefix(&stack.base_url).unwrap().to_string();
    m.call("GET /l/{id}/chapters/{n}.mp3", &path(&links["chapters"][0]["url"]), None, None, true);
    m.call("GET /l/{id}/book.mp3", &path(&links["book"]), None, None, true);
    m.call("GET /api/v1/stories/{id}/feed.xml", &path(&links["feed"]), None, None, true);
    // Covers (book metadata): the image is a raw body, not JSON.
    let png = crate::book_meta::image(&stack.work_dir, "round-trips-cover.png", "red");
    m.call_raw("PUT /api/v1/stories/{id}/cover", &format!("/api/v1/stories/{id}/cover"), &png, "image/png");
    m.call("GET /api/v1/stories/{id}/cover", &format!("/api/v1/stories/{id}/cover"), None, None, true);
    let with_cover = m.call("POST /api/v1/stories/{id}/links", &format!("/api/v1/stories/{id}/links"), Some(&json!({})), None, true).json();
    m.call("GET /l/{id}/cover", &path(&with_cover["cover"]), None, None, true);
    m.call("DELETE /api/v1/stories/{id}/cover", &format!("/api/v1/stories/{id}/cover"), None, None, true);
    m.call("POST /api/v1/stories/{id}/links/revoke", &format!("/api/v1/stories/{id}/links/revoke"), None, None, true);

    // A job to cancel: the consumer may pick it up at once, so only the Worker counts.
    let task = m.call("POST /api/v1/stories/{id}/generate", &format!("/api/v1/stories/{id}/generate"), Some(&json!({"regenerate": true})), None, false).json();
    let task = task["task_id"].as_str().unwrap().to_string();
    m.call("POST /api/v1/tasks/{id}/cancel", &format!("/api/v1/tasks/{task}/cancel"), None, None, false);
    wait_done(&stack, &key, &task);
    m.call("DELETE /api/v1/stories/{id}", &format!("/api/v1/stories/{id}"), None, None, true);
    Measured { routes: m.seen, story_job, llm_calls, audio_job, clips }
}

#[test]
fn every_route_stays_within_its_round_trips() {
    let stack = TestStack::start();
    let table = budget_table();
    let Measured { routes, story_job, llm_calls, audio_job, clips } = measure(&stack);
    let figures = format!(
        "round trips of job steps: story job {story_job} for {llm_calls} LLM calls ({:.2} per call); audio job {audio_job} for {clips} clips ({:.2} per clip)",
        story_job as f64 / llm_calls as f64,
        audio_job as f64 / clips as f64
    );
    // Per LLM call: the claim, the progress write before the call, the write after it, the
    // hand-over; per clip: the renewal that also logs usage, plus its chapter's share of the
    // claim, reads, assembly and hand-over (6-line chapters here, so that share is large).
    // Each publish used to cost two more.
    assert!(story_job <= 5 * llm_calls, "{figures}");
    assert!(audio_job <= 4 * clips, "{figures}");
    println!("{figures}");
    crate::drills::record_figure(&figures);

    let mut over = Vec::new();
    for (route, (neon, worker)) in &routes {
        let budget = *table.get(route).unwrap_or_else(|| panic!("docs/API.md's table has no row for {route}"));
        println!("{route}: {worker} round trips (Neon counted {neon:?}), budget {budget}");
        if *worker > budget {
            over.push(format!("{route}: {worker} > {budget}"));
        }
    }
    assert!(over.is_empty(), "routes over their round-trip budget: {over:?}");
    let unmeasured: Vec<&String> = table.keys().filter(|r| !routes.contains_key(*r) && !r.starts_with("GET /health")).collect();
    assert!(unmeasured.is_empty(), "routes in the table that this test does not call: {unmeasured:?}");
}
