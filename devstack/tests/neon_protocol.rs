//! The Neon SQL-over-HTTP server over raw HTTP, against a real PostgreSQL.
//!
//! Each test starts its own `devstack serve` (port 0, ready line on stdout) and its own fresh
//! database, created through the server with the superuser URL in `TALECAST_PG_ADMIN_URL`
//! (set by scripts/test.sh) and dropped afterwards.

use std::io::BufReader;
use std::process::{Child, ChildStdout};

use serde_json::{json, Value};

mod common;
use common::*;

const ERROR_KEYS: [&str; 17] = [
    "message",
    "code",
    "detail",
    "hint",
    "position",
    "internalPosition",
    "internalQuery",
    "severity",
    "where",
    "table",
    "column",
    "schema",
    "dataType",
    "constraint",
    "file",
    "line",
    "routine",
];

/// Headers the official driver always sends.
const DRIVER: &[(&str, &str)] = &[
    ("Neon-Raw-Text-Output", "true"),
    ("Neon-Array-Mode", "true"),
];

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct TestApp {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    base: String,
    admin_url: String,
    db_name: Option<String>,
    db_url: String,
    agent: ureq::Agent,
}

/// A server plus a fresh database; `db_url` logs in to that database.
fn spawn_app() -> TestApp {
    let admin_url = admin_url();
    let (prefix, pg_addr) = split_url(&admin_url);
    let (child, stdout, base) = start_server(&pg_addr);
    let db_name = unique_name("neon_test");
    let mut app = TestApp {
        child,
        _stdout: stdout,
        base,
        db_url: format!("{prefix}/{db_name}"),
        admin_url,
        db_name: None,
        agent: agent(),
    };
    let r = app.query_as(
        &app.admin_url.clone(),
        &format!("CREATE DATABASE \"{db_name}\""),
        json!([]),
    );
    assert_eq!(r.status, 200, "create database: {}", r.text);
    app.db_name = Some(db_name);
    app
}

impl TestApp {
    fn endpoint(&self) -> String {
        format!("{}/sql", self.base)
    }

    fn post(&self, conn: Option<&str>, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Reply {
        let mut req = self.agent.post(self.endpoint());
        if let Some(c) = conn {
            req = req.header("Neon-Connection-String", c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        reply(req.send(body.as_ref()).expect("HTTP request"))
    }

    /// A single query as the driver sends it (raw text, array mode).
    fn query_as(&self, conn: &str, sql: &str, params: Value) -> Reply {
        self.post(
            Some(conn),
            DRIVER,
            json!({"query": sql, "params": params}).to_string(),
        )
    }

    fn query(&self, sql: &str, params: Value) -> Reply {
        self.query_as(&self.db_url, sql, params)
    }

    fn ok(&self, sql: &str, params: Value) -> Value {
        let r = self.query(sql, params);
        assert_eq!(r.status, 200, "{sql}: {}", r.text);
        r.json()
    }

    fn batch(&self, headers: &[(&str, &str)], queries: Value) -> Reply {
        let mut all = DRIVER.to_vec();
        all.extend_from_slice(headers);
        self.post(
            Some(&self.db_url),
            &all,
            json!({ "queries": queries }).to_string(),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(db) = self.db_name.take() {
            let _ = self.query_as(
                &self.admin_url.clone(),
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
                json!([]),
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reply(mut res: ureq::http::Response<ureq::Body>) -> Reply {
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = res
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .expect("read body");
    Reply {
        status,
        headers,
        text,
    }
}

fn assert_error_body(r: &Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = ERROR_KEYS.to_vec();
    expected.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, expected, "exactly the 17 error keys");
    let positions: Vec<usize> = ERROR_KEYS
        .iter()
        .map(|k| r.text.find(&format!("\"{k}\":")).expect("key present"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "error keys in Neon's order: {}",
        r.text
    );
    v
}

#[test]
fn raw_array_mode_round_trips_typed_values() {
    let app = spawn_app();
    app.ok(
        "CREATE TABLE t (i4 int4, i8 int8, num numeric, b bool, txt text, doc jsonb, ts timestamptz, \
         id uuid, raw bytea, tags text[], missing text)",
        json!([]),
    );
    let ins = app.ok(
        "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        json!([
            42, "9007199254740993", "12.50", true, "héllo \"q\"", {"k": [1, "x"]}, "2024-05-06T07:08:09.123Z",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\\x0102ff", ["a", "b\"c", null], null
        ]),
    );
    assert_eq!(ins["command"], "INSERT");
    assert_eq!(ins["rowCount"], 1);
    assert_eq!(ins["fields"], json!([]));

    // TimeZone comes from the connection string's startup options, like any other parameter.
    let utc = format!("{}?sslmode=require&options=-c%20TimeZone%3DUTC", app.db_url);
    let r = app.query_as(&utc, "SELECT * FROM t", json!([]));
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["rows"],
        json!([[
            "42",
            "9007199254740993",
            "12.50",
            "t",
            "héllo \"q\"",
            "{\"k\": [1, \"x\"]}",
            "2024-05-06 07:08:09.123+00",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "\\x0102ff",
            "{a,\"b\\\"c\",NULL}",
            null
        ]])
    );
    let types: Vec<i64> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["dataTypeID"].as_i64().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![23, 20, 1700, 16, 25, 3802, 1184, 2950, 17, 1009, 25]
    );
    let f0 = &v["fields"][0];
    assert_eq!(f0["name"], "i4");
    assert!(f0["tableID"].as_i64().unwrap() > 0);
    assert_eq!(f0["columnID"], 1);
    assert_eq!(f0["dataTypeSize"], 4);
    assert_eq!(f0["dataTypeModifier"], -1);
    assert_eq!(f0["format"], "text");
    assert_eq!(v["command"], "SELECT");
    assert_eq!(v["rowCount"], 1);
    assert_eq!(v["rowAsArray"], true);
    let field_keys: Vec<usize> = [
        "name",
        "dataTypeID",
        "tableID",
        "columnID",
        "dataTypeSize",
        "dataTypeModifier",
        "format",
    ]
    .iter()
    .map(|k| r.text.find(&format!("\"{k}\":")).unwrap())
    .collect();
    assert!(
        field_keys.windows(2).all(|w| w[0] < w[1]),
        "field keys in Neon's order"
    );
}

#[test]
fn non_raw_mode_gives_json_types() {
    let app = spawn_app();
    let r = app.post(
        Some(&app.db_url),
        &[],
        json!({"query": "SELECT 7::int4 AS i4, 8::int2 AS i2, 9::int8 AS i8, 1.25::float8 AS f, 'NaN'::float8 AS nan, \
                 2.50::numeric AS num, true AS b, $1::jsonb AS doc, ARRAY[1, NULL]::int4[] AS arr, \
                 ARRAY['x y', NULL]::text[] AS words, NULL::text AS nothing, 'plain' AS txt",
               "params": [{"a": [1, {"b": null}]}]})
        .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["rowAsArray"], false);
    assert_eq!(
        v["rows"],
        json!([{
            "i4": 7, "i2": 8, "i8": "9", "f": 1.25, "nan": "NaN", "num": "2.50", "b": true,
            "doc": {"a": [1, {"b": null}]}, "arr": [1, null], "words": ["x y", null], "nothing": null, "txt": "plain"
        }])
    );
    assert!(
        r.text.find("\"i4\":").unwrap() < r.text.find("\"txt\":").unwrap(),
        "object rows keep column order"
    );

    // A per-query arrayMode overrides the header.
    let r = app.post(
        Some(&app.db_url),
        DRIVER,
        json!({"query": "SELECT 1 AS one", "arrayMode": false}).to_string(),
    );
    assert_eq!(r.json()["rows"], json!([{"one": "1"}]));
}

#[test]
fn batch_commits_all_statements() {
    let app = spawn_app();
    app.ok("CREATE TABLE items (name text PRIMARY KEY)", json!([]));
    let r = app.batch(
        &[],
        json!([
            {"query": "INSERT INTO items VALUES ($1), ($2)", "params": ["a", "b"]},
            {"query": "SELECT count(*) FROM items", "params": []}
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["results"][0]["command"], "INSERT");
    assert_eq!(v["results"][0]["rowCount"], 2);
    assert_eq!(v["results"][1]["rows"], json!([["2"]]));
    assert_eq!(v["results"][1]["fields"][0]["dataTypeID"], 20);
    assert_eq!(
        app.ok("SELECT name FROM items ORDER BY name", json!([]))["rows"],
        json!([["a"], ["b"]])
    );
}

#[test]
fn batch_rolls_back_on_error() {
    let app = spawn_app();
    app.ok("CREATE TABLE items (name text PRIMARY KEY)", json!([]));
    let r = app.batch(
        &[],
        json!([
            {"query": "INSERT INTO items VALUES ($1)", "params": ["doomed"]},
            {"query": "SELECT 1 / 0", "params": []}
        ]),
    );
    let e = assert_error_body(&r, 400);
    assert_eq!(e["code"], "22012");
    assert_eq!(
        app.ok("SELECT count(*) FROM items", json!([]))["rows"],
        json!([["0"]]),
        "insert was rolled back"
    );
    assert_outside_transaction(&app);
}

#[test]
fn batch_isolation_headers_are_applied_and_echoed() {
    let app = spawn_app();
    let r = app.batch(
        &[("Neon-Batch-Isolation-Level", "Serializable"), ("Neon-Batch-Read-Only", "true")],
        json!([{"query": "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')"}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["results"][0]["rows"],
        json!([["serializable", "on"]])
    );
    assert_eq!(r.header("neon-batch-isolation-level"), Some("Serializable"));
    assert_eq!(r.header("neon-batch-read-only"), Some("true"));

    let r = app.batch(
        &[("Neon-Batch-Isolation-Level", "serializable")],
        json!([{"query": "SELECT 1"}]),
    );
    let e = assert_error_body(&r, 400);
    assert_eq!(e["message"], "invalid isolation level");
    assert_eq!(e["code"], "");
    assert_eq!(e["severity"], "");
}

#[test]
fn syntax_error_has_the_17_key_body() {
    let app = spawn_app();
    let e = assert_error_body(&app.query("SELEC 1", json!([])), 400);
    assert_eq!(e["message"], "syntax error at or near \"SELEC\"");
    assert_eq!(e["code"], "42601");
    assert_eq!(e["severity"], "ERROR");
    assert_eq!(e["position"], "1", "position is a string");
    assert!(e["line"].is_string(), "line is a string");
    assert_eq!(e["routine"], "scanner_yyerror");
    assert_eq!(e["detail"], Value::Null);
    assert_eq!(e["internalPosition"], Value::Null);
}

#[test]
fn unique_violation_reports_constraint() {
    let app = spawn_app();
    app.ok(
        "CREATE TABLE users (email text CONSTRAINT users_email_key UNIQUE)",
        json!([]),
    );
    app.ok("INSERT INTO users VALUES ($1)", json!(["a@example.com"]));
    let e = assert_error_body(
        &app.query("INSERT INTO users VALUES ($1)", json!(["a@example.com"])),
        400,
    );
    assert_eq!(e["code"], "23505");
    assert_eq!(e["constraint"], "users_email_key");
    assert_eq!(e["table"], "users");
    assert_eq!(e["schema"], "public");
    assert!(e["detail"].as_str().unwrap().contains("already exists"));
}

#[test]
fn several_statements_in_one_query_are_rejected() {
    let app = spawn_app();
    let e = assert_error_body(&app.query("SELECT 1; SELECT 2", json!([])), 400);
    assert_eq!(e["code"], "42601");
    assert_eq!(
        e["message"],
        "cannot insert multiple commands into a prepared statement"
    );
}

#[test]
fn wrong_password_and_unknown_database_are_400() {
    let app = spawn_app();
    let (prefix, _) = split_url(&app.db_url);
    let after_scheme = prefix.find("://").unwrap() + 3;
    let at = prefix.rfind('@').unwrap();
    let user = prefix[after_scheme..at].split(':').next().unwrap();
    let bad_pw = format!(
        "postgresql://{user}:wrong-password@{}/{}",
        &prefix[at + 1..],
        app.db_name.as_ref().unwrap()
    );
    let e = assert_error_body(&app.query_as(&bad_pw, "SELECT 1", json!([])), 400);
    assert_eq!(e["code"], "28P01");

    let no_db = format!("{prefix}/{}", unique_name("missing_db"));
    let e = assert_error_body(&app.query_as(&no_db, "SELECT 1", json!([])), 400);
    assert_eq!(e["code"], "3D000");
}

#[test]
fn connection_string_is_checked_like_the_proxy() {
    let app = spawn_app();
    let (prefix, _) = split_url(&app.db_url);
    let after_scheme = prefix.find("://").unwrap() + 3;
    let at = prefix.rfind('@').unwrap();
    let user = prefix[after_scheme..at].split(':').next().unwrap();
    let cases = [
        (
            Some(format!("postgresql://{user}@{}/db", &prefix[at + 1..])),
            "missing authentication credentials: required password",
        ),
        (
            Some("mysql://u:p@localhost/db".to_owned()),
            "incorrect scheme",
        ),
        (
            Some("postgresql://u:p@localhost".to_owned()),
            "missing database name",
        ),
        (
            Some("postgresql://:p@localhost/db".to_owned()),
            "missing username",
        ),
        (None, "invalid header: neon-connection-string"),
    ];
    for (conn, message) in cases {
        let r = app.post(
            conn.as_deref(),
            DRIVER,
            json!({"query": "SELECT 1"}).to_string(),
        );
        let e = assert_error_body(&r, 400);
        assert_eq!(e["message"], message);
        assert_eq!(e["code"], "");
    }
    let r = app.post(Some(&app.db_url), DRIVER, "not json");
    let e = assert_error_body(&r, 400);
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("could not parse the HTTP request body: "));
}

#[test]
fn startup_params_pass_through_and_client_only_ones_are_dropped() {
    let app = spawn_app();
    let url = format!(
        "{}?sslmode=require&application_name=conformance%20run&channel_binding=require",
        app.db_url
    );
    let r = app.query_as(
        &url,
        "SELECT current_setting('application_name')",
        json!([]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["rows"], json!([["conformance run"]]));
}

#[test]
fn open_transactions_do_not_leak_through_the_pool() {
    let app = spawn_app();
    for _ in 0..3 {
        app.ok("BEGIN", json!([]));
        assert_outside_transaction(&app);
    }
}

/// PostgreSQL refuses SAVEPOINT outside a transaction block (25P01). Had a connection gone back
/// to the pool with an earlier request's BEGIN still open, the savepoint would be accepted.
fn assert_outside_transaction(app: &TestApp) {
    let e = assert_error_body(&app.query("SAVEPOINT leak_probe", json!([])), 400);
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (
            Some("25P01"),
            Some("SAVEPOINT can only be used in transaction blocks")
        ),
        "a later request ran inside an earlier request's transaction"
    );
}

#[test]
fn other_paths_and_methods_are_not_supported() {
    let app = spawn_app();
    let res = app
        .agent
        .post(format!("{}/other", app.base))
        .send("{}")
        .expect("request");
    let r = reply(res);
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!("query is not supported"));
    let r = reply(app.agent.get(app.endpoint()).call().expect("request"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!("query is not supported"));
}

/// A browser's preflight gets no CORS allowance, so no web page can send SQL here; no other
/// answer carries one either.
#[test]
fn no_cors_allowance_on_preflights_or_answers() {
    let app = spawn_app();
    let preflight = app
        .agent
        .options(app.endpoint())
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "neon-connection-string")
        .call()
        .expect("request");
    let r = reply(preflight);
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!("query is not supported"));
    let ok = app.query("SELECT 1 AS one", json!([]));
    assert_eq!(ok.status, 200, "{}", ok.text);
    let refused = app.query("SELEC 1", json!([]));
    assert_eq!(refused.status, 400, "{}", refused.text);
    for (what, r) in [("preflight", &r), ("answer", &ok), ("error", &refused)] {
        let cors: Vec<_> = r.headers.iter().filter(|(k, _)| k.to_ascii_lowercase().starts_with("access-control-")).collect();
        assert!(cors.is_empty(), "{what} carries CORS headers: {cors:?}");
    }
}

#[test]
fn request_over_10_mib_is_413() {
    let app = spawn_app();
    let filler = "x".repeat(10 * 1024 * 1024);
    let body = json!({"query": "SELECT $1::text IS NOT NULL", "params": [filler]}).to_string();
    assert!(body.len() > 10 * 1024 * 1024);
    let e = assert_error_body(&app.post(Some(&app.db_url), DRIVER, body), 413);
    assert_eq!(e["message"], "request is too large (max is 10485760 bytes)");
}

#[test]
fn response_over_10_mib_is_507() {
    let app = spawn_app();
    let e = assert_error_body(
        &app.query(
            "SELECT repeat('x', 1000000) FROM generate_series(1, 11)",
            json!([]),
        ),
        507,
    );
    assert_eq!(
        e["message"],
        "response is too large (max is 10485760 bytes)"
    );
    assert_eq!(
        app.ok("SELECT 1", json!([]))["rows"],
        json!([["1"]]),
        "server still serves after a 507"
    );
}

#[test]
fn unreachable_postgres_is_a_prompt_500() {
    // Port 1 on loopback refuses connections; the ready line does not need PostgreSQL.
    // "Prompt" is shown by the cause: the refusal itself is reported, not a connect timeout.
    let (mut child, _stdout, base) = start_server("127.0.0.1:1");
    let res = agent()
        .post(format!("{base}/sql"))
        .header("Neon-Connection-String", "postgresql://u:p@localhost/db")
        .send("{\"query\":\"SELECT 1\"}")
        .expect("request");
    let r = reply(res);
    let _ = child.kill();
    let _ = child.wait();
    let e = assert_error_body(&r, 500);
    assert_eq!(e["code"], "");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with("could not connect to PostgreSQL at 127.0.0.1:1: ")
            && message.contains("refused"),
        "{message}"
    );
    assert!(!message.contains("timed out"), "{message}");
}

#[test]
fn copy_from_stdin_fails_without_hanging_and_the_connection_stays_usable() {
    let app = spawn_app();
    app.ok("CREATE TABLE c (a int)", json!([]));
    for _ in 0..2 {
        let e = assert_error_body(&app.query("COPY c FROM STDIN", json!([])), 400);
        assert_eq!(e["code"], "57014");
    }
    assert_eq!(app.ok("SELECT 2", json!([]))["rows"], json!([["2"]]));
    let empty = app.ok("", json!([]));
    assert_eq!(empty["command"], "");
    assert_eq!(empty["rowCount"], Value::Null);
}

#[test]
fn admin_counts_every_sql_request() {
    let app = spawn_app();
    let count = || {
        let r = reply(app.agent.get(format!("{}/__admin/requests", app.base)).call().expect("request"));
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["requests"].as_u64().unwrap()
    };
    let before = count();
    app.ok("SELECT 1", json!([]));
    app.ok("SELECT 2", json!([]));
    // A refused request is a round trip too.
    assert_eq!(app.query("SELEC nonsense", json!([])).status, 400);
    let r = app.batch(&[], json!([{"query": "SELECT 1", "params": []}, {"query": "SELECT 2", "params": []}]));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(count() - before, 4);
    // Reading the count is not a round trip.
    assert_eq!(count() - before, 4);
}

#[test]
fn admin_commits_bracket_each_transactions_now() {
    let app = spawn_app();
    let r = app.batch(&[], json!([{"query": "SELECT (extract(epoch FROM now()) * 1000000)::int8::text AS us", "params": []}]));
    assert_eq!(r.status, 200, "{}", r.text);
    let row = r.json()["results"][0]["rows"][0].clone();
    // The driver's headers may ask for rows as arrays.
    let now: u64 = row.get("us").or(row.get(0)).and_then(Value::as_str).unwrap_or_else(|| panic!("{}", r.text)).parse().unwrap();
    // A failed batch commits nothing and so is not listed.
    assert_eq!(app.batch(&[], json!([{"query": "SELEC nonsense", "params": []}])).status, 400);
    let c = reply(app.agent.get(format!("{}/__admin/commits", app.base)).call().expect("request"));
    assert_eq!(c.status, 200, "{}", c.text);
    let commits = c.json()["commits"].as_array().unwrap().clone();
    let last = commits.last().expect("the batch is listed");
    let (began, committed) = (last["began_us"].as_u64().unwrap(), last["committed_us"].as_u64().unwrap());
    assert!(began <= now && now <= committed, "now() {now} outside [{began}, {committed}]");
}
