//! The page in real Chromium (Debian's `chromium`, driven by playwright-core from npm): each
//! test starts a stack, makes a user and runs one script of tests/browser/, which prints its
//! steps and figures; the test fails when the script does. Screenshots and the downloaded book
//! land in target/browser/; the scripts' `figure:` lines join the drills' figures, which
//! scripts/test.sh prints at the end.

use crate::drills::record_figure;
use crate::helpers::{minute_with_room, require_speech, with_rate_limit, TestStack};
use std::path::PathBuf;
use std::process::Command;

fn run_script(stack: TestStack, script: &str, lines: u32) {
    stack.small_scripts(lines);
    let (user_id, key) = stack.create_user("browser reader");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(root.join("tests/browser").join(script))
        .current_dir(&root)
        .env("TALECAST_BASE_URL", &stack.base_url)
        .env("TALECAST_API_KEY", &key)
        .env("TALECAST_PROVIDERS_URL", &stack.providers_url)
        .env("TALECAST_USER_ID", &user_id)
        .env("TALECAST_ADMIN_TOKEN", &stack.admin_token)
        .env("TALECAST_BROWSER_OUT", root.join("target/browser"))
        .output()
        .expect("node runs (scripts/setup.sh installs playwright-core; chromium comes from Debian)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    for line in stdout.lines().filter_map(|l| l.strip_prefix("figure: ")) {
        record_figure(&format!("browser ({script}): {line}"));
    }
    assert!(out.status.success(), "tests/browser/{script} failed ({}):\n{stdout}\n{stderr}", out.status);
}

#[test]
fn browser_create_to_listen() {
    require_speech();
    run_script(TestStack::start(), "listen.mjs", 4);
}

#[test]
fn browser_edit_a_line_and_set_a_pronunciation() {
    require_speech();
    run_script(TestStack::start(), "edit.mjs", 6);
}

#[test]
fn browser_failures_in_plain_words() {
    // Four job starts a minute, so that the script meets a 429 after its other failures; it
    // makes about eight, in a few seconds that stay inside one window of the limiter.
    let stack = TestStack::start_with_config(&[], &|toml| with_rate_limit(toml, "RATE_LIMIT_JOB_STARTS", 4));
    minute_with_room(40);
    run_script(stack, "failures.mjs", 3);
}

/// The page's files come from static assets with their security headers, and every other path
/// still reaches the Worker (no asset can shadow a route).
#[test]
fn page_is_served_from_assets_and_routes_still_reach_the_worker() {
    let stack = TestStack::start();
    let page = stack.get("/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{:?}", page.headers);
    let body = String::from_utf8_lossy(&page.body);
    assert!(body.contains("<script type=\"module\" src=\"/js/app.js\">"), "{body}");
    assert!(!body.contains("<script>") && !body.contains("style="), "no inline script or style (the CSP forbids them)");
    let csp = page.header("content-security-policy").expect("CSP on the page");
    for part in ["default-src 'none'", "script-src 'self'", "media-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let js = stack.get("/js/app.js");
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").is_some_and(|t| t.contains("javascript")), "{:?}", js.headers);
    // _headers is configuration, never served.
    assert_ne!(stack.get("/_headers").status, 200);

    assert_eq!(stack.get("/health").status, 200);
    let unknown = stack.get("/no/such/page");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "not_found", "the Worker answers what no asset names");
    let api = stack.get("/api/v1/me");
    assert_eq!(api.status, 401, "the API is the Worker's, not a page");
}
