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
