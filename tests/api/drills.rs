//! Drills at real size: chapters of 40–80 lines (the stand-in's default) and one of 300, a
//! killed Worker, a database outage, hung providers, a step that fails on every delivery, two
//! deliveries of one step, and a cancel in the middle of clip-making. Each asserts what
//! happened (counts from the stand-ins' request logs, the rows, the Worker's step logs), never
//! how fast; the figures they print are for the record.

use crate::helpers::TestStack;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(900);

/// A figure for the record: printed, and appended to target/drill-figures.txt, which
/// scripts/test.sh shows at the end (cargo keeps a passing test's output to itself).
pub fn record_figure(line: &str) {
    figure(line.to_string())
}

fn figure(line: String) {
    println!("drill: {line}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/drill-figures.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        use std::io::Write;
        let _ = writeln!(f, "{line}");
    }
}

fn sql(stack: &TestStack, query: &str) -> Vec<Value> {
    stack.sql(query, &[])
}

fn script_lines(stack: &TestStack, lines: Option<u32>) {
    stack.providers("POST", "script", Some(&json!({ "lines": lines })));
}

fn latency(stack: &TestStack, provider: &str, ms: u64) {
    stack.providers("POST", "latency", Some(&json!({ "provider": provider, "ms": ms })));
}

fn requests(stack: &TestStack, provider: &str) -> Vec<Value> {
    stack.providers("GET", &format!("requests?provider={provider}"), None)["requests"].as_array().unwrap().clone()
}

fn in_flight(stack: &TestStack, provider: &str) -> u64 {
    stack.providers("GET", "stats", None)[provider]["in_flight"].as_u64().unwrap()
}

fn new_story(stack: &TestStack, key: &str, chapters: u32, enhance: bool) -> String {
    let body = json!({ "title": "The Long Tide", "prompt": "A lighthouse keeper's daughter sails to find her brother.", "num_chapters": chapters, "enhance": enhance });
    let r = stack.call(key, "POST", "/api/v1/stories", Some(&body));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

fn start(stack: &TestStack, key: &str, path: String) -> String {
    let r = stack.call(key, "POST", &path, Some(&json!({})));
    assert_eq!(r.status, 202, "{path}: {}", String::from_utf8_lossy(&r.body));
    r.json()["task_id"].as_str().unwrap().to_string()
}

fn generate(stack: &TestStack, key: &str, story: &str) -> String {
    start(stack, key, format!("/api/v1/stories/{story}/generate"))
}

fn start_audio(stack: &TestStack, key: &str, story: &str) -> String {
    start(stack, key, format!("/api/v1/stories/{story}/audio"))
}

fn finished(stack: &TestStack, key: &str, task: &str) -> Value {
    stack.follow_task(key, task, LONG).pop().unwrap()
}

fn completed(stack: &TestStack, key: &str, task: &str) {
    let end = finished(stack, key, task);
    assert_eq!(end["status"], "completed", "{end}");
}

fn story_with_scripts(stack: &TestStack, key: &str, chapters: u32, enhance: bool) -> String {
    let story = new_story(stack, key, chapters, enhance);
    let task = generate(stack, key, &story);
    completed(stack, key, &task);
    story
}

fn chapter(stack: &TestStack, key: &str, story: &str, n: u32) -> Value {
    let r = stack.call(key, "GET", &format!("/api/v1/stories/{story}/chapters/{n}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn voiced_lines(c: &Value) -> usize {
    let script = if c["enhanced"].is_null() { &c["script"] } else { &c["enhanced"] };
    script["lines"].as_array().unwrap().len()
}

/// One MPEG-1 Layer III frame at 44.1 kHz.
const FRAME_MS: f64 = 1152.0 / 44.1;

/// Downloads chapter `n`'s MP3 and checks that ffprobe reads it and agrees with the recorded
/// `duration_ms` within one frame. Returns the duration in ms.
fn check_chapter_audio(stack: &TestStack, key: &str, story: &str, n: u32) -> f64 {
    let c = chapter(stack, key, story, n);
    let recorded = c["audio"]["duration_ms"].as_f64().unwrap_or_else(|| panic!("chapter {n} has no audio: {c}"));
    let r = stack.call(key, "GET", &format!("/api/v1/stories/{story}/chapters/{n}/audio"), None);
    assert_eq!(r.status, 200);
    let path = stack.work_dir.join(format!("chapter-{n}.mp3"));
    std::fs::write(&path, &r.body).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(&path)
        .output()
        .expect("ffprobe is installed by scripts/setup.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let probe: Value = serde_json::from_slice(&out.stdout).unwrap();
    let probed = probe["format"]["duration"].as_str().unwrap().parse::<f64>().unwrap() * 1000.0;
    assert!((probed - recorded).abs() <= FRAME_MS, "chapter {n}: ffprobe {probed} ms, recorded {recorded} ms");
    assert_eq!(probe["streams"][0]["codec_name"], "mp3");
    recorded
}

/// (text, voice) → how many TTS requests asked for it.
fn tts_counts(stack: &TestStack) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for r in requests(stack, "elevenlabs") {
        let text = r["body"]["text"].as_str().unwrap_or_default().to_string();
        let voice = r["voice_id"].as_str().unwrap_or_default().to_string();
        *counts.entry((text, voice)).or_insert(0) += 1;
    }
    counts
}

fn made_twice(stack: &TestStack) -> usize {
    tts_counts(stack).values().filter(|&&n| n > 1).map(|n| n - 1).sum()
}

/// Whether a task view is in a terminal state.
fn ended(v: &Value) -> bool {
    matches!(v["status"].as_str(), Some("completed" | "failed" | "cancelled"))
}

/// Resident memory (KiB) of the workerd processes of the stack's `wrangler dev` (they share
/// its process group).
fn workerd_rss_kib(stack: &TestStack) -> u64 {
    let group = stack.worker_process_group().to_string();
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
        let Some((comm, rest)) = stat.rsplit_once(')') else { continue };
        if !comm.contains("workerd") || rest.split_whitespace().nth(2) != Some(group.as_str()) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        if let Some(kib) = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse::<u64>().ok()) {
            total += kib;
        }
    }
    total
}

#[test]
fn real_size_chapters_get_audio_and_no_step_passes_the_subrequest_budget() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("wren");

    // Three default-size chapters, enhanced.
    let story = story_with_scripts(&stack, &key, 3, true);
    for n in 1..=3 {
        let lines = voiced_lines(&chapter(&stack, &key, &story, n));
        assert!((40..=80).contains(&lines), "chapter {n} has {lines} lines");
    }
    let task = start_audio(&stack, &key, &story);
    completed(&stack, &key, &task);
    for n in 1..=3 {
        let ms = check_chapter_audio(&stack, &key, &story, n);
        figure(format!("chapter {n} of the 3-chapter story: {:.1} min", ms / 60_000.0));
    }
    assert_eq!(made_twice(&stack), 0, "a clip was synthesised twice");

    // One 300-line chapter.
    script_lines(&stack, Some(300));
    let long = story_with_scripts(&stack, &key, 1, false);
    assert_eq!(voiced_lines(&chapter(&stack, &key, &long, 1)), 300);
    let before = workerd_rss_kib(&stack);
    let task = start_audio(&stack, &key, &long);
    let mut peak = before;
    stack.wait_for("the 300-line chapter's audio", LONG, || {
        peak = peak.max(workerd_rss_kib(&stack));
        let v = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
        ended(&v).then_some(v)
    });
    completed(&stack, &key, &task);
    let ms = check_chapter_audio(&stack, &key, &long, 1);
    let bytes = chapter(&stack, &key, &long, 1)["audio"]["bytes"].as_u64().unwrap_or(0);
    assert_eq!(made_twice(&stack), 0, "a clip was synthesised twice");

    // Every step logged its subrequests; the audio task took several bounded steps.
    let steps = stack.worker_events("step_done");
    let audio_steps: Vec<&Value> = steps.iter().filter(|s| s["task_id"] == task.as_str()).collect();
    assert!(audio_steps.len() >= 300 / 60 + 1, "{} steps for 300 clips", audio_steps.len());
    let largest = steps.iter().map(|s| s["subrequests"].as_u64().unwrap()).max().unwrap();
    let budget = steps[0]["max_subrequests"].as_u64().unwrap();
    assert!(largest <= budget, "a step made {largest} subrequests (budget {budget})");
    assert!(stack.worker_events("step_over_subrequest_budget").is_empty());
    let largest_audio = audio_steps.iter().map(|s| s["subrequests"].as_u64().unwrap()).max().unwrap();
    figure(format!("300-line chapter: {:.1} min, {:.1} MiB, {} steps; largest subrequests per step {largest} (audio {largest_audio}) of {budget}",
        ms / 60_000.0,
        bytes as f64 / 1048576.0,
        audio_steps.len()
    ));
    figure(format!("workerd RSS {:.0} MiB before the audio job, peak {:.0} MiB: grew {:.0} MiB ({:.2} x the chapter)",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak - before) as f64 / 1024.0,
        (peak - before) as f64 * 1024.0 / bytes.max(1) as f64
    ));
}

#[test]
fn a_worker_killed_mid_audio_resumes_and_remakes_only_clips_in_flight() {
    let mut stack = TestStack::start_with(&[("JOB_LEASE_SECS", "8"), ("TTS_TIMEOUT_SECS", "5"), ("STALL_AFTER_SECS", "2")]);
    let (_, key) = stack.create_user("kit");
    script_lines(&stack, Some(90));
    let story = story_with_scripts(&stack, &key, 1, false);
    latency(&stack, "elevenlabs", 150);
    let task = start_audio(&stack, &key, &story);

    // Kill while a step holds the lease with calls in flight.
    stack.wait_for("clips under way", LONG, || {
        let answered = requests(&stack, "elevenlabs").iter().filter(|r| !r["status"].is_null()).count();
        (answered >= 30 && in_flight(&stack, "elevenlabs") > 0).then_some(())
    });
    let held = stack.task_row(&task);
    assert!(held["token"].is_string(), "the step holds a lease: {held}");
    stack.restart_worker();
    let at_kill = requests(&stack, "elevenlabs").len();

    // Local queues lost the messages; the sweeper re-drives once the dead holder's lease ran out.
    stack.wait_for("the task to end", LONG, || {
        stack.run_scheduled();
        let v = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
        ended(&v).then_some(())
    });
    completed(&stack, &key, &task);
    check_chapter_audio(&stack, &key, &story, 1);
    let twice = made_twice(&stack);
    figure(format!("killed after {at_kill} TTS requests; {twice} clip(s) made again (at most TTS_CONCURRENCY = 3)"));
    assert!(twice <= 3, "{twice} clips were made twice");
    assert!(stack.worker_events("task_redriven").iter().any(|e| e["task_id"] == task.as_str()));
    assert_eq!(tts_counts(&stack).len(), 90, "every line voiced");
}

#[test]
fn postgres_stopped_for_20_s_mid_story_job_loses_and_repeats_nothing() {
    let stack = TestStack::start_with(&[("STALL_AFTER_SECS", "5")]);
    let (_, key) = stack.create_user("ivy");
    latency(&stack, "openai", 1000);
    let story = new_story(&stack, &key, 3, true);
    let task = generate(&stack, &key, &story);
    stack.wait_for("chapter 1 under way", LONG, || (requests(&stack, "openai").len() >= 2).then_some(()));
    stack.stop_postgres();
    std::thread::sleep(Duration::from_secs(20)); // the outage itself
    stack.start_postgres();
    stack.wait_for("the task to end", LONG, || {
        let r = stack.call(&key, "GET", &format!("/api/v1/tasks/{task}"), None);
        if r.status != 200 {
            return None;
        }
        stack.run_scheduled();
        ended(&r.json()).then_some(())
    });
    completed(&stack, &key, &task);
    let rows = sql(&stack, &format!(
        "SELECT number, script IS NOT NULL AS s, enhanced IS NOT NULL AS e, summary IS NOT NULL AS m FROM chapters WHERE story_id = '{story}' ORDER BY number"
    ));
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["s"] == true && r["e"] == true && r["m"] == true), "{rows:?}");
    // Script, enhance and summary per chapter: nothing asked twice.
    let calls = requests(&stack, "openai").len();
    figure(format!("database down 20 s mid-job; {calls} LLM calls for 3 chapters with enhance"));
    assert_eq!(calls, 9);
}

#[test]
fn hung_provider_calls_are_aborted_at_their_timeout_and_retried() {
    let stack = TestStack::start_with(&[("LLM_TIMEOUT_SECS", "3"), ("TTS_TIMEOUT_SECS", "3")]);
    let (_, key) = stack.create_user("ash");
    stack.providers("POST", "faults", Some(&json!({ "provider": "openai", "kind": "hang", "hang_ms": 120000 })));
    let story = story_with_scripts(&stack, &key, 1, false);
    stack.providers("POST", "faults", Some(&json!({ "provider": "elevenlabs", "kind": "hang", "hang_ms": 120000 })));
    let task = start_audio(&stack, &key, &story);
    completed(&stack, &key, &task);
    check_chapter_audio(&stack, &key, &story, 1);
    for provider in ["openai", "elevenlabs"] {
        let log = requests(&stack, provider);
        // The hung request was abandoned by the Worker (never answered, not waited out), and
        // nothing is still open at the stand-in although its hang had minutes left.
        assert!(log[0]["status"].is_null(), "{provider}: {}", log[0]);
        assert!(log[1..].iter().all(|r| r["status"] == 200), "{provider} retried and succeeded");
        assert_eq!(in_flight(&stack, provider), 0, "{provider}: the hung call's connection is closed");
    }
}

#[test]
fn a_step_that_fails_on_every_delivery_ends_the_task_in_bounded_time() {
    // A TTS base URL that refuses connections: a transient failure on every call.
    let stack = TestStack::start_with(&[("ELEVENLABS_BASE_URL", "http://127.0.0.1:9")]);
    let (_, key) = stack.create_user("oak");
    script_lines(&stack, Some(12));
    let story = story_with_scripts(&stack, &key, 1, false);
    let began = Instant::now();
    let task = start_audio(&stack, &key, &story);
    let end = finished(&stack, &key, &task);
    let took = began.elapsed();
    assert_eq!(end["status"], "failed", "{end}");
    assert_eq!(end["error"]["code"], "tts_unavailable");
    assert!(end["error"]["message"].as_str().unwrap().contains("ElevenLabs could not be reached"), "{end}");
    let c = chapter(&stack, &key, &story, 1);
    assert_eq!(c["status"], "failed");
    assert_eq!(c["error"]["code"], "tts_unavailable");
    figure(format!("unreachable TTS: the task failed after {:.1} s: {}", took.as_secs_f64(), end["error"]["message"]));
    // The story takes a new job afterwards.
    let again = start_audio(&stack, &key, &story);
    assert_ne!(again, task);

}

#[test]
fn a_step_broken_after_its_claim_on_every_delivery_gives_up_after_max_attempts() {
    let stack = TestStack::start_with(&[("TTS_CLIPS_PER_STEP", "3")]);
    let (_, key) = stack.create_user("fir");
    script_lines(&stack, Some(12));
    // A step that breaks after its claim on every delivery: once the first step is making its
    // clips, the story's voice map is made undecodable, so every later delivery fails after its
    // claim. Each gives the lease back with its reason, and the task gives up after
    // MAX_STEP_ATTEMPTS with job_failed and that reason.
    let story2 = story_with_scripts(&stack, &key, 1, false);
    latency(&stack, "elevenlabs", 1500);
    let began = Instant::now();
    let task2 = start_audio(&stack, &key, &story2);
    stack.wait_for("the first step's clips", LONG, || (in_flight(&stack, "elevenlabs") > 0).then_some(()));
    sql(&stack, &format!("UPDATE stories SET assigned_voices = '{{\"Mira\": 7}}' WHERE id = '{story2}'"));
    let end = finished(&stack, &key, &task2);
    let took = began.elapsed();
    assert_eq!(end["status"], "failed", "{end}");
    assert_eq!(end["error"]["code"], "job_failed");
    let msg = end["error"]["message"].as_str().unwrap();
    assert!(msg.contains("5 tries") && msg.contains("Last reason"), "{msg}");
    let row = stack.task_row(&task2);
    assert_eq!(row["attempts"], 6, "five tries, then the claim that gave up: {row}");
    assert_eq!(row["step"], 1, "the first step finished; the second is the broken one: {row}");
    assert_eq!(chapter(&stack, &key, &story2, 1)["error"]["code"], "job_failed");
    figure(format!("a step broken on every delivery: failed after {:.1} s: {msg}", took.as_secs_f64()));
}

#[test]
fn two_deliveries_of_one_step_pay_no_clip_twice_and_the_stale_one_writes_nothing() {
    let mut stack = TestStack::start_with(&[("JOB_LEASE_SECS", "2"), ("TTS_TIMEOUT_SECS", "8")]);
    // The second delivery comes through a second Worker on the same state, whose consumer runs
    // side by side with the first's (one local queue delivers one batch at a time).
    let second = stack.start_second_worker();
    let (_, key) = stack.create_user("elm");
    script_lines(&stack, Some(40));
    let story = story_with_scripts(&stack, &key, 1, false);
    latency(&stack, "elevenlabs", 3000);
    let task = start_audio(&stack, &key, &story);
    // The first delivery is making clips, and its lease has run out while it waits on them.
    stack.wait_for("the first delivery past its lease with calls in flight", LONG, || {
        let row = stack.task_row(&task);
        (in_flight(&stack, "elevenlabs") > 0 && row["lease_expired"] == true).then_some(())
    });
    let first = stack.task_row(&task);
    let auth = format!("Bearer {}", stack.admin_token);
    let r = stack.request_at(&second, "POST", &format!("/api/v1/admin/tasks/{task}/redrive"), None, &[("Authorization", &auth)]).unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    // The second delivery takes the step over while the first still waits on its calls.
    stack.wait_for("the second delivery to take over", LONG, || {
        stack.worker_events("step_takeover_wait").into_iter().find(|e| e["task_id"] == task.as_str())
    });
    latency(&stack, "elevenlabs", 100);
    // Followed through the second Worker only: two local workerd processes reading one
    // task's Durable Object storage at once can find its SQLite file locked.
    let bearer = format!("Bearer {key}");
    let end = stack.wait_for("the task to end", LONG, || {
        let r = stack.request_at(&second, "GET", &format!("/api/v1/tasks/{task}"), None, &[("Authorization", &bearer)]).ok()?;
        let v = (r.status == 200).then(|| r.json())?;
        ended(&v).then_some(v)
    });
    assert_eq!(end["status"], "completed", "{end}");
    check_chapter_audio(&stack, &key, &story, 1);
    assert_eq!(made_twice(&stack), 0, "a clip was paid twice");
    // The second delivery took over and waited out the first's calls; the first, finding its
    // lease gone at its next renewal, stopped.
    assert!(stack.worker_events("step_stopped").iter().any(|e| e["task_id"] == task.as_str()));
    let tokens = sql(&stack, &format!("SELECT count(DISTINCT split_part(idempotency_key, ':', 3)) AS n FROM usage_log WHERE task_id = '{task}'"));
    figure(format!("two deliveries of one step (first token {}): clips paid twice: 0; deliveries that logged usage: {}", first["token"], tokens[0]["n"]));
}

#[test]
fn a_cancel_mid_clips_starts_no_tts_request_after_it() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("yew");
    script_lines(&stack, Some(60));
    let story = story_with_scripts(&stack, &key, 1, false);
    latency(&stack, "elevenlabs", 300);
    let task = start_audio(&stack, &key, &story);
    stack.wait_for("clips under way", LONG, || (requests(&stack, "elevenlabs").len() >= 6).then_some(()));
    let r = stack.call(&key, "POST", &format!("/api/v1/tasks/{task}/cancel"), None);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let cancelled_at = crate::helpers::now_ms();
    let end = finished(&stack, &key, &task);
    assert_eq!(end["status"], "cancelled");
    stack.wait_for("the calls in flight to end", LONG, || (in_flight(&stack, "elevenlabs") == 0).then_some(()));
    // Let a step that missed the cancel show itself: the next step's message would be sent now.
    stack.wait_for("the stopped step's log", LONG, || (!stack.worker_events("step_stopped").is_empty()).then_some(()));
    let log = requests(&stack, "elevenlabs");
    let after: Vec<&Value> = log.iter().filter(|r| r["at"].as_u64().unwrap() > cancelled_at).collect();
    figure(format!("cancel after {} TTS requests; {} started after the cancel", log.len(), after.len()));
    assert!(after.is_empty(), "TTS requests started after the cancel: {after:?}");
    assert_ne!(chapter(&stack, &key, &story, 1)["status"], "generating_audio");
}
