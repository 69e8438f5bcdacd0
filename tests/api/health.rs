use crate::helpers::TestStack;

/// Runs with HEALTH_PROBE_SECS=0 (every call probes) to see each change at once.
#[test]
fn health_is_ok_when_every_dependency_works_and_names_the_database_when_it_is_down() {
    let stack = TestStack::start_with(&[("HEALTH_PROBE_SECS", "0")]);

    let r = stack.get("/health");
    let body = r.json();
    assert_eq!(r.status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "checks": {"database": "ok", "storage": "ok", "progress": "ok", "queue": "ok"}})
    );
    assert!(r.header("content-type").unwrap().starts_with("application/json"));

    stack.stop_postgres();
    let r = stack.get("/health");
    let body = r.json();
    assert_eq!(r.status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    let db = body["checks"]["database"].as_str().unwrap();
    assert_ne!(db, "ok");
    assert!(!db.contains("postgres:postgres"), "the reason must not leak the connection string: {db}");
    assert!(["unreachable", "query failed", "timed out"].contains(&db), "a short reason, not PostgreSQL's text: {db}");
    for other in ["storage", "progress", "queue"] {
        assert_eq!(body["checks"][other], "ok", "{body}");
    }
    assert!(r.header("retry-after").is_some());

    // The admin token gets what went wrong, as the database layer saw it.
    let r = stack.admin("GET", "/health", None);
    let body = r.json();
    assert_eq!(r.status, 503, "{body}");
    let check = &body["checks"]["database"];
    assert!(["unreachable", "query failed", "timed out"].contains(&check["reason"].as_str().unwrap_or("")), "{body}");
    let detail = check["detail"].as_str().unwrap_or("");
    assert!(detail.len() > db.len() && detail.contains("database"), "the admin sees the details: {body}");
    assert!(!detail.contains("postgres:postgres"), "{detail}");
    assert!(body["probed_at"].is_string(), "{body}");
    println!("anonymous: {db:?}; admin: {detail:?}");

    stack.start_postgres();
    assert_eq!(stack.get("/health").status, 200, "healthy again once the database is back");
}

/// A flood of health calls costs one probe: the probe's one query shows on the local Neon
/// server's request counter and its `health_probed` log line; the calls in between answer
/// the cached result with its `Age`.
#[test]
fn a_flood_of_health_calls_makes_one_probe() {
    const N: usize = 50;
    let stack = TestStack::start_with(&[("HEALTH_PROBE_SECS", "20")]);
    // Outwait the probe the harness's readiness call made.
    let age: u64 = stack.get("/health").header("age").expect("Age").parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis((20 - age.min(20)) * 1000 + 500));
    let (neon_before, probes_before) = (stack.neon_requests(), stack.worker_events("health_probed").len());

    let started = std::time::Instant::now();
    let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..10)
            .map(|_| s.spawn(|| (0..N / 10).map(|_| { let r = stack.get("/health"); (r.status, r.json()) }).collect::<Vec<_>>()))
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    let took = started.elapsed();
    assert!(took.as_secs() < 20, "the flood outlasted the probe interval ({took:?}); the figure below would count two");
    assert_eq!(answers.len(), N);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["status"], "ok", "{body}");
    }
    let neon = stack.neon_requests() - neon_before;
    // The log is written as the Worker runs; wait for the line rather than race it.
    let probes = stack.wait_for("the probe's log line", std::time::Duration::from_secs(10), || {
        let n = stack.worker_events("health_probed").len() - probes_before;
        (n >= 1).then_some(n)
    });
    println!("{N} health calls in {took:?} -> {probes} probe(s), {neon} Neon request(s)");
    assert_eq!(probes, 1, "{N} health calls made {probes} probes");
    assert_eq!(neon, 1, "{N} health calls made {neon} Neon requests");
}

/// The progress and queue checks fail on their own, and /health names them: a Worker whose
/// deployment lacks the Durable Object binding and the queue producer (a broken
/// configuration, the way these fail in production) answers 503 with those two checks.
#[test]
fn health_names_a_missing_progress_object_and_queue() {
    let stack = TestStack::start_with_config(&[], &|toml| {
        let toml = toml.replacen("[[durable_objects.bindings]]\nname = \"TASK_PROGRESS\"\nclass_name = \"TaskProgress\"\n", "", 1);
        toml.replacen("[[queues.producers]]\nbinding = \"JOBS\"\nqueue = \"talecast-jobs\"\n", "", 1)
    });
    let r = stack.get("/health");
    let body = r.json();
    assert_eq!(r.status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["storage"], "ok", "{body}");
    for failing in ["progress", "queue"] {
        let reason = body["checks"][failing].as_str().unwrap();
        assert_ne!(reason, "ok", "{body}");
    }
    assert!(r.header("retry-after").is_some());
}
