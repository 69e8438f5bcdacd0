//! The page in real Chromium (Debian's `chromium`, driven by playwright-core from npm): each
//! test starts a stack, makes a user and runs one script of tests/browser/, which prints its
//! steps and figures; the test fails when the script does. Screenshots and the downloaded book
//! land in target/browser/; the scripts' `figure:` lines join the drills' figures, which
//! scripts/test.sh prints at the end.

use crate::drills::record_figure;
use crate::helpers::{require_speech, TestStack};
use std::path::PathBuf;
use std::process::Command;

fn run_script(script: &str, lines: u32) {
    let stack = TestStack::start();
    stack.small_scripts(lines);
    let (_, key) = stack.create_user("browser reader");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(root.join("tests/browser").join(script))
        .current_dir(&root)
        .env("TALECAST_BASE_URL", &stack.base_url)
        .env("TALECAST_API_KEY", &key)
        .env("TALECAST_PROVIDERS_URL", &stack.providers_url)
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
    run_script("listen.mjs", 4);
}

#[test]
fn browser_failures_in_plain_words() {
    run_script("failures.mjs", 3);
}
