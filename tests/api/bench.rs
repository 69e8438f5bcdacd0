//! The end-to-end half of `scripts/bench.sh`: figures, not a test. Ignored by the suite; the
//! script runs it (`cargo test --release --test api bench_stack -- --ignored --nocapture`) and
//! reads what it writes to `$TALECAST_BENCH_OUT` (default target/bench/stack.json).
//! `TALECAST_BENCH_SHORT=1` takes the same paths at tiny sizes (scripts/test.sh runs that).
//!
//! One stack, every rate limit raised (`with_rate_limits`: the figures are the API's, not the
//! limiter's), measured in this order:
//! - story job: wall (job start → its last event) ÷ LLM calls × the stand-in's latency;
//! - audio job: wall ÷ Σ over chapters of ceil(lines ÷ TTS_CONCURRENCY) × the TTS latency;
//! - progress latency: each live event of both jobs, from the commit of the transaction that
//!   wrote it (devstack's `GET /__admin/commits`) to its arrival here;
//! - status reads: `oha` against the task and story reads and a route that touches nothing,
//!   in turns;
//! - round trips: the pass of tests/api/round_trips.rs; idle: the sweeps of tests/api/idle.rs.

use crate::helpers::{with_rate_limits, TestStack};
use crate::support::{new_story, start_job, story_id, voiced_lines};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LONG: Duration = Duration::from_secs(900);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// What the bench is told to do: full size, or tiny (`TALECAST_BENCH_SHORT=1`).
struct Sizes {
    chapters: u32,
    /// Script lines per chapter; None keeps the stand-in's default (40–80).
    lines: Option<u32>,
    llm_ms: u64,
    tts_ms: u64,
    load_secs: u32,
    load_rounds: u32,
}

impl Sizes {
    fn from_env() -> Sizes {
        if std::env::var("TALECAST_BENCH_SHORT").is_ok_and(|v| v == "1") {
            Sizes { chapters: 1, lines: Some(6), llm_ms: 100, tts_ms: 50, load_secs: 1, load_rounds: 1 }
        } else {
            Sizes { chapters: 5, lines: None, llm_ms: 1000, tts_ms: 500, load_secs: 3, load_rounds: 3 }
        }
    }
}

/// A task event as it arrived: when (unix µs), and the task view it carried.
struct Arrived {
    at_us: u64,
    task: Value,
}

/// p50, p95 and the largest of `ms`, and how many there are.
fn spread(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms.get(((ms.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied();
    json!({ "events": ms.len(), "p50_ms": pct(0.50), "p95_ms": pct(0.95), "max_ms": ms.last() })
}

/// Starts `job` and follows its events until the server closes the stream: the wall time from
/// the start to the last event, the task id and the events after the first (which replays
/// the stored state when the stream opens, so it is not a live change).
fn timed_job(stack: &TestStack, key: &str, story: &str, job: &str) -> (Duration, String, Vec<Arrived>) {
    let began = Instant::now();
    let task = start_job(stack, key, story, job, &json!({}));
    let mut events = Vec::new();
    let mut last: Option<Value> = None;
    for line in stack.events(key, &task, LONG).lines() {
        let line = line.expect("the event stream reads");
        if let Some(data) = line.strip_prefix("data: ") {
            let at_us = now_us();
            let task: Value = serde_json::from_str(data).expect("an event's data is JSON");
            last = Some(task.clone());
            events.push(Arrived { at_us, task });
        }
    }
    let wall = began.elapsed();
    let last = last.expect("the stream carried events");
    assert_eq!(last["status"], "completed", "the {job} job did not complete: {last}");
    events.remove(0);
    (wall, task, events)
}

fn latency(stack: &TestStack, provider: &str, ms: u64) {
    stack.providers("POST", "latency", Some(&json!({ "provider": provider, "ms": ms })));
}

fn ratio(wall: Duration, ideal_secs: f64) -> Value {
    json!({ "wall_s": wall.as_secs_f64(), "ideal_s": ideal_secs, "ratio": wall.as_secs_f64() / ideal_secs })
}

/// `TTS_CONCURRENCY` of wrangler.toml's [vars]: what the Worker runs with here.
fn tts_concurrency() -> u64 {
    let text = std::fs::read_to_string(root().join("wrangler.toml")).unwrap();
    let cfg: toml::Table = toml::from_str(&text).unwrap();
    cfg["vars"]["TTS_CONCURRENCY"].as_str().unwrap().parse().unwrap()
}

/// Each event matched to the transaction that wrote its state: the one whose span (from just
/// before BEGIN to COMMIT's answer, as devstack's Neon server logs them) holds the event's
/// `updated_at` (PostgreSQL's `now()` of that transaction, to the millisecond). Where spans of
/// concurrent transactions overlap, the earliest commit is taken: the figure errs long.
fn progress_latency(stack: &TestStack, events: &[Arrived]) -> Value {
    let url = stack.neon_url.trim_end_matches("/sql").to_string() + "/__admin/commits";
    let text = ureq::get(&url).call().unwrap().into_body().with_config().limit(64 << 20).read_to_string().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let commits: Vec<(u64, u64)> = v["commits"]
        .as_array()
        .expect("devstack lists its commits (GET /__admin/commits)")
        .iter()
        .map(|c| (c["began_us"].as_u64().unwrap(), c["committed_us"].as_u64().unwrap()))
        .collect();
    let mut ms: Vec<(String, f64)> = Vec::new();
    let mut slowest: Vec<(f64, Value)> = Vec::new();
    let (mut unmatched, mut ambiguous) = (0, 0);
    for e in events {
        let at = crate::support::parse_time(&e.task["updated_at"]);
        let t_ms = at.timestamp_millis() as u64;
        let candidates: Vec<u64> = commits
            .iter()
            .filter(|(b, c)| b / 1000 <= t_ms && t_ms <= c.div_ceil(1000) && *c <= e.at_us)
            .map(|(_, c)| *c)
            .collect();
        match candidates.iter().min() {
            Some(c) => {
                ambiguous += usize::from(candidates.len() > 1);
                let took = (e.at_us - c) as f64 / 1000.0;
                ms.push((e.task["kind"].as_str().unwrap_or("?").to_string(), took));
                slowest.push((took, json!({ "ms": took, "kind": e.task["kind"], "progress": e.task["progress"], "message": e.task["message"] })));
            }
            None => unmatched += 1,
        }
    }
    let of = |kind: &str| spread(ms.iter().filter(|(k, _)| k == kind).map(|(_, v)| *v).collect());
    let mut all = spread(ms.iter().map(|(_, v)| *v).collect());
    all["unmatched"] = json!(unmatched);
    all["ambiguous"] = json!(ambiguous);
    all["story_job"] = of("story");
    all["audio_job"] = of("audio");
    // Which states were slow to arrive: where to look when the tail is long.
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    all["slowest"] = slowest.into_iter().take(5).map(|(_, v)| v).collect();
    all
}

/// `oha` (pinned by scripts/setup.sh) against `path` for `secs` seconds, 8 connections.
fn load(stack: &TestStack, key: &str, path: &str, secs: u32, expect: u16) -> Value {
    let oha = root().join(".tools/bin/oha");
    assert!(oha.exists(), "{} is missing: run scripts/setup.sh", oha.display());
    let out = Command::new(&oha)
        .args(["-z", &format!("{secs}s"), "-c", "8", "--no-tui", "--output-format", "json"])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .arg(format!("{}{path}", stack.base_url))
        .output()
        .expect("oha runs");
    assert!(out.status.success(), "oha: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("oha's JSON");
    let codes = v["statusCodeDistribution"].as_object().cloned().unwrap_or_default();
    let other: u64 = codes.iter().filter(|(c, _)| **c != expect.to_string()).map(|(_, n)| n.as_u64().unwrap_or(0)).sum();
    assert_eq!(other, 0, "{path}: answers other than {expect}: {codes:?}");
    let ms = |p: &str| v["latencyPercentiles"][p].as_f64().map(|s| s * 1000.0);
    json!({
        "path": path,
        "requests": codes.get(&expect.to_string()).and_then(Value::as_u64).unwrap_or(0),
        "rps": v["summary"]["requestsPerSec"],
        "p50_ms": ms("p50"),
        "p99_ms": ms("p99"),
    })
}

/// One route's rounds together: the mean requests per second (the rounds last as long as one
/// another) and the median round's p50 and p99.
fn rounds_summary(path: &str, rounds: &[Value]) -> Value {
    let median = |key: &str| {
        let mut v: Vec<f64> = rounds.iter().filter_map(|r| r[key].as_f64()).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let rps = rounds.iter().filter_map(|r| r["rps"].as_f64()).sum::<f64>() / rounds.len() as f64;
    let requests: u64 = rounds.iter().filter_map(|r| r["requests"].as_u64()).sum();
    json!({ "path": path, "requests": requests, "rps": rps, "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"), "rounds": rounds })
}

#[test]
#[ignore = "benchmark: run by scripts/bench.sh"]
fn bench_stack() {
    let sizes = Sizes::from_env();
    let stack = TestStack::start_with_config(&[], &|toml| with_rate_limits(toml, 1_000_000));
    let (_, key) = stack.create_user("bench");
    if let Some(n) = sizes.lines {
        stack.small_scripts(n);
    }

    latency(&stack, "openai", sizes.llm_ms);
    let body = json!({ "title": "Bench", "prompt": "A clockmaker's apprentice outwits a storm.", "num_chapters": sizes.chapters, "enhance": true });
    let story = story_id(&new_story(&stack, &key, &body));
    let calls_before = stack.openai_requests().len();
    let (wall, task, mut events) = timed_job(&stack, &key, &story, "generate");
    let calls = stack.openai_requests().len() - calls_before;
    let mut story_job = ratio(wall, calls as f64 * sizes.llm_ms as f64 / 1000.0);
    story_job["llm_calls"] = json!(calls);
    story_job["latency_ms"] = json!(sizes.llm_ms);
    story_job["chapters"] = json!(sizes.chapters);
    println!("bench: story job {story_job}");

    latency(&stack, "elevenlabs", sizes.tts_ms);
    let concurrency = tts_concurrency();
    let tts_before = stack.provider_requests("elevenlabs").len();
    let (wall, _, audio_events) = timed_job(&stack, &key, &story, "audio");
    let mut ideal = 0.0;
    let mut lines = 0;
    for n in 1..=sizes.chapters {
        let l = voiced_lines(&stack, &key, &story, n).len() as u64;
        lines += l;
        ideal += l.div_ceil(concurrency) as f64 * sizes.tts_ms as f64 / 1000.0;
    }
    // The stand-in spends CPU on each clip (espeak-ng + LAME) beyond the latency knob: its own
    // answer times, spread over the slots, are what the Worker could at best achieve.
    let tts = stack.provider_requests("elevenlabs");
    let answered: f64 = tts[tts_before..].iter().filter_map(|r| r["duration_ms"].as_f64()).sum::<f64>() / 1000.0 / concurrency as f64;
    let mut audio_job = ratio(wall, ideal);
    audio_job["lines"] = json!(lines);
    audio_job["clips"] = json!(tts.len() - tts_before);
    audio_job["concurrency"] = json!(concurrency);
    audio_job["latency_ms"] = json!(sizes.tts_ms);
    audio_job["stand_in_s"] = json!(answered);
    audio_job["ratio_to_stand_in"] = json!(wall.as_secs_f64() / answered);
    println!("bench: audio job {audio_job}");

    events.extend(audio_events);
    // Those jobs publish a few events per chapter step; story jobs on 6-line chapters without
    // provider latency top the sample up to the 100 events the figure is taken over (one
    // 1-chapter job in the short form, so the path runs).
    latency(&stack, "openai", 0);
    stack.small_scripts(6);
    let (want, chapters) = if sizes.lines.is_some() { (events.len() + 1, 1) } else { (100, 10) };
    for _ in 0..5 {
        if events.len() >= want {
            break;
        }
        let body = json!({ "title": "Events", "prompt": "A ferry crosses at night.", "num_chapters": chapters, "enhance": true });
        let more = story_id(&new_story(&stack, &key, &body));
        events.extend(timed_job(&stack, &key, &more, "generate").2);
    }
    let progress = progress_latency(&stack, &events);
    println!("bench: progress latency {progress}");

    latency(&stack, "elevenlabs", 0);
    // Rounds that take the three routes in turn, so a neighbour's burst on this shared machine
    // falls on all of them rather than on one.
    let routes = [("baseline", "/api/bench-nothing".to_string(), 404), ("task", format!("/api/v1/tasks/{task}"), 200), ("story", format!("/api/v1/stories/{story}"), 200)];
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(); routes.len()];
    for _ in 0..sizes.load_rounds {
        for (i, (_, path, expect)) in routes.iter().enumerate() {
            runs[i].push(load(&stack, &key, path, sizes.load_secs, *expect));
        }
    }
    let mut status = json!({ "rounds": sizes.load_rounds, "secs_per_round": sizes.load_secs, "connections": 8 });
    for ((name, path, _), rounds) in routes.iter().zip(runs) {
        status[*name] = rounds_summary(path, &rounds);
    }
    println!("bench: status reads {status}");

    let m = crate::round_trips::measure(&stack);
    let table = crate::round_trips::budget_table();
    let routes: serde_json::Map<String, Value> = m
        .routes
        .iter()
        .map(|(r, (neon, worker))| (r.clone(), json!({ "worker": worker, "neon": neon, "budget": table.get(r) })))
        .collect();
    let round_trips = json!({
        "routes": routes,
        "story_job": m.story_job, "llm_calls": m.llm_calls, "per_llm_call": m.story_job as f64 / m.llm_calls as f64,
        "audio_job": m.audio_job, "clips": m.clips, "per_clip": m.audio_job as f64 / m.clips as f64,
    });
    println!("bench: round trips {round_trips}");

    // After every job has ended at most one sweep asks Neon (it learns the registry is empty).
    let settle = crate::idle::sweeps(&stack, 1).0;
    let (requests, asked) = crate::idle::sweeps(&stack, 20);
    let idle = json!({ "runs": 20, "neon_requests": requests, "sweeps_that_asked": asked, "settling_sweep_requests": settle });
    println!("bench: idle {idle}");

    let out = std::env::var("TALECAST_BENCH_OUT").map(PathBuf::from).unwrap_or_else(|_| root().join("target/bench/stack.json"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let all = json!({
        "short": sizes.lines.is_some(),
        "story_job": story_job, "audio_job": audio_job, "progress_latency": progress,
        "status_reads": status, "round_trips": round_trips, "idle": idle,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&all).unwrap()).unwrap();
}
