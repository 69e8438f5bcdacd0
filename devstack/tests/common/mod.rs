//! Shared by devstack's integration tests: the superuser URL from scripts/test.sh, a
//! `devstack serve` on free ports, unique names.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn admin_url() -> String {
    std::env::var("TALECAST_PG_ADMIN_URL").unwrap_or_else(|_| {
        panic!(
            "TALECAST_PG_ADMIN_URL is not set: run the tests with scripts/test.sh, which starts \
             PostgreSQL and sets it to a superuser connection string"
        )
    })
}

/// Splits `scheme://userinfo@host:port/db?...` into (`scheme://userinfo@host:port`, `host:port`).
pub fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").expect("connection string has a scheme") + 3;
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let authority = &url[after_scheme..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    (url[..end].to_owned(), host)
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn start_server(pg_addr: &str) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args([
            "serve",
            "--neon-addr",
            "127.0.0.1:0",
            "--providers-addr",
            "127.0.0.1:0",
            "--pg-addr",
            pg_addr,
        ])
        .env("OPENAI_API_KEY", "test-openai-key")
        .env("ELEVENLABS_API_KEY", "test-elevenlabs-key")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn devstack serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the ready line");
    let ready: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"));
    assert_eq!(ready["ready"], true);
    let base = format!(
        "http://{}",
        ready["neon"].as_str().expect("neon address in ready line")
    );
    (child, stdout, base)
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

