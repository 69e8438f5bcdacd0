use crate::helpers::TestStack;

#[test]
fn health_is_ok_when_every_dependency_works_and_names_the_database_when_it_is_down() {
    let stack = TestStack::start();

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
    for other in ["storage", "progress", "queue"] {
        assert_eq!(body["checks"][other], "ok", "{body}");
    }
    assert!(r.header("retry-after").is_some());
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
