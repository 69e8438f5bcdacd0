//! The local stack is no open door on a developer's machine: the Worker logs in to PostgreSQL
//! as a role that is no superuser, with a password of its own (the well-known one gets nobody
//! in), and the local Neon server gives web pages no CORS allowance.

use crate::helpers::TestStack;
use serde_json::{json, Value};

fn neon_post(stack: &TestStack, conn: &str, query: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let resp = agent
        .post(&stack.neon_url)
        .header("Neon-Connection-String", conn)
        .header("Content-Type", "application/json")
        .send(json!({ "query": query, "params": [] }).to_string())
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().read_to_string().unwrap())
}

#[test]
fn the_workers_database_role_is_no_superuser_and_no_web_page_may_send_sql() {
    let stack = TestStack::start();

    // `sql` logs in with the Worker's own DATABASE_URL.
    let rows = stack.sql(
        "SELECT current_user AS who, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls \
         FROM pg_roles WHERE rolname = current_user",
        &[],
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let role = &rows[0];
    assert_eq!(role["who"], "talecast", "{role}");
    for attr in ["rolsuper", "rolcreatedb", "rolcreaterole", "rolreplication", "rolbypassrls"] {
        assert_eq!(role[attr], Value::Bool(false), "the Worker's role must not have {attr}: {role}");
    }
    // It owns its database, which is how the migrations (run with the same URL) made the tables.
    let owner = stack.sql("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()", &[]);
    assert_eq!(owner[0]["owner"], "talecast");
    let tables = stack.sql("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'talecast'", &[]);
    assert!(tables[0]["n"].as_i64().unwrap() >= 6, "{tables:?}");
    // Superuser-only powers are refused.
    let (status, body) = neon_post(&stack, &stack.database_url, "COPY (SELECT 1) TO PROGRAM 'true'");
    assert_eq!(status, 400, "{body}");

    // The password was generated: the old well-known logins get nobody in.
    for conn in [
        "postgresql://postgres:postgres@127.0.0.1:5432/postgres",
        "postgresql://talecast:postgres@127.0.0.1:5432/talecast",
    ] {
        let (status, body) = neon_post(&stack, conn, "SELECT 1");
        assert_eq!(status, 400, "{conn} must not log in: {body}");
        assert!(body.contains("password authentication failed"), "{body}");
    }

    // A browser's preflight from any page: no allowance, so the page's request is never sent.
    let r = stack
        .request_at(
            stack.neon_url.trim_end_matches("/sql"),
            "OPTIONS",
            "/sql",
            None,
            &[("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "neon-connection-string")],
        )
        .unwrap();
    assert!(r.status >= 400, "preflight answered {}", r.status);
    let cors: Vec<_> = r.headers.iter().filter(|(k, _)| k.to_ascii_lowercase().starts_with("access-control-")).collect();
    assert!(cors.is_empty(), "CORS headers on the local Neon server: {cors:?}");
}
