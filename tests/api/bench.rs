//! Figures, not tests: how close the jobs run to the providers' own latency. Ignored by the
//! suite; run with `cargo test --test api bench_ -- --ignored --nocapture --test-threads=1`.
//! Each prints wall ÷ ideal, where ideal is the time the stand-ins' latency alone takes.

use crate::helpers::TestStack;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(900);

fn run(stack: &TestStack, key: &str, path: &str) -> Duration {
    let began = Instant::now();
    let r = stack.call(key, "POST", path, Some(&json!({})));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let task = r.json()["task_id"].as_str().unwrap().to_string();
    // Poll often: the figure is the job's wall time, not the poll's granularity.
    loop {
        let v: Value = stack.call(key, "GET", &format!("/api/v1/tasks/{task}"), None).json();
        match v["status"].as_str() {
            Some("completed") => return began.elapsed(),
            Some("failed" | "cancelled") => panic!("{v}"),
            _ => {}
        }
        assert!(began.elapsed() < LONG);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "benchmark: prints figures"]
fn bench_job_wall_time_against_provider_latency() {
    let stack = TestStack::start();
    let (_, key) = stack.create_user("bench");
    let chapters = 4u32;
    stack.providers("POST", "latency", Some(&json!({ "provider": "openai", "ms": 1000 })));
    let body = json!({ "prompt": "A clockmaker's apprentice outwits a storm.", "num_chapters": chapters, "enhance": true });
    let story = stack.call(&key, "POST", "/api/v1/stories", Some(&body)).json()["id"].as_str().unwrap().to_string();
    let wall = run(&stack, &key, &format!("/api/v1/stories/{story}/generate"));
    let calls = stack.openai_requests().len() as f64;
    let ideal = calls * 1.0;
    println!(
        "bench: story job, {chapters} chapters with enhance at 1 s LLM latency: {calls} calls, wall {:.1} s, ideal {ideal:.1} s, ratio {:.2}",
        wall.as_secs_f64(),
        wall.as_secs_f64() / ideal
    );

    stack.providers("POST", "latency", Some(&json!({ "provider": "elevenlabs", "ms": 500 })));
    let wall = run(&stack, &key, &format!("/api/v1/stories/{story}/audio"));
    let concurrency = 3.0;
    let mut ideal = 0.0;
    for n in 1..=chapters {
        let c = stack.call(&key, "GET", &format!("/api/v1/stories/{story}/chapters/{n}"), None).json();
        let lines = c["enhanced"]["lines"].as_array().unwrap().len() as f64;
        ideal += (lines / concurrency).ceil() * 0.5;
    }
    // The stand-in also spends CPU on each clip (espeak-ng + LAME) beyond the latency knob:
    // its own answer times, spread over the slots, are what the Worker could at best achieve.
    let answered: f64 = stack.providers("GET", "requests?provider=elevenlabs", None)["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["duration_ms"].as_f64())
        .sum::<f64>()
        / 1000.0
        / concurrency;
    println!(
        "bench: audio job, {chapters} chapters at 500 ms TTS latency, concurrency 3: wall {:.1} s, ideal {ideal:.1} s, ratio {:.2}; \
         the stand-in's own answer time per slot {answered:.1} s, ratio {:.2}",
        wall.as_secs_f64(),
        wall.as_secs_f64() / ideal,
        wall.as_secs_f64() / answered
    );
}
