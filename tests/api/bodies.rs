//! Request bodies are read with a cap: a chunked body (no Content-Length) is refused once it
//! passes MAX_BODY_BYTES, and one under the cap is served as usual.

use crate::helpers::TestStack;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends `body` with `Transfer-Encoding: chunked` in chunks of `chunk` bytes (no
/// Content-Length, so only reading tells its size); the answer's status and JSON body.
fn post_chunked(stack: &TestStack, key: &str, path: &str, body: &[u8], chunk: usize) -> (u16, Value) {
    let host = stack.base_url.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    for c in body.chunks(chunk) {
        // The server may answer and close before the whole body is sent: that is the point.
        if s.write_all(format!("{:x}\r\n", c.len()).as_bytes()).and_then(|_| s.write_all(c)).and_then(|_| s.write_all(b"\r\n")).is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status: u16 = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status: {text}"));
    let (headers, rest) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no body: {text}"));
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn a_chunked_body_over_the_cap_is_refused_and_one_under_it_is_served() {
    let stack = TestStack::start_with(&[("MAX_BODY_BYTES", "2048")]);
    let (user_id, key) = stack.create_user("dora");

    let small = json!({"prompt": "A short prompt.", "num_chapters": 1}).to_string();
    let (status, body) = post_chunked(&stack, &key, "/api/v1/stories", small.as_bytes(), 7);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["prompt"], "A short prompt.");

    // 64 KiB of JSON in 1 KiB chunks, against a cap of 2 KiB.
    let big = json!({"prompt": "x".repeat(64 * 1024), "num_chapters": 1}).to_string();
    let (status, body) = post_chunked(&stack, &key, "/api/v1/stories", big.as_bytes(), 1024);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    let n = stack.sql("SELECT count(*)::int AS n FROM stories WHERE user_id = $1", &[json!(user_id)])[0]["n"].as_i64().unwrap();
    assert_eq!(n, 1, "only the small story was created");
}
