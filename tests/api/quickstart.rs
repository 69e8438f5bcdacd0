//! README's quickstart, run as it stands: the ```sh block between `<!-- quickstart -->` and
//! `<!-- /quickstart -->` runs with `bash -euo pipefail` in a folder holding a `.dev.vars`
//! with the stack's admin token, as a newcomer's repository root holds one, and `BASE` set to
//! the stack. It must end with status 0 and leave real MP3s behind, so the quickstart cannot
//! rot.

use crate::helpers::TestStack;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

fn quickstart_block() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (open, close) = ("<!-- quickstart -->", "<!-- /quickstart -->");
    assert_eq!(readme.matches(open).count(), 1, "README.md must have one {open}");
    assert_eq!(readme.matches(close).count(), 1, "README.md must have one {close}");
    let inner = &readme[readme.find(open).unwrap() + open.len()..readme.find(close).expect(close)];
    let body = inner.trim().strip_prefix("```sh\n").expect("the quickstart is one ```sh block");
    let body = body.strip_suffix("```").expect("the quickstart's block ends at its closing marker");
    assert!(!body.contains("```"), "the quickstart is one block");
    body.to_string()
}

/// Runs the block; (exit status, stdout, stderr). Killed (and failed) past `BLOCK_TIMEOUT`.
fn run_block(block: &str, dir: &Path, base: &str) -> (Option<i32>, String, String) {
    let (out, err) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(dir)
        .env("BASE", base)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("bash");
    let deadline = Instant::now() + BLOCK_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    (status, std::fs::read_to_string(out).unwrap(), std::fs::read_to_string(err).unwrap())
}

fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-show_chapters"])
        .arg(path)
        .output()
        .expect("ffprobe is installed by scripts/setup.sh");
    assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn mp3s(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp3"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_readme_quickstart_runs_as_written_and_downloads_a_chapter_and_the_book() {
    let block = quickstart_block();
    let stack = TestStack::start();
    // Short chapters keep the clips (and the minutes) down; the block is otherwise unchanged.
    stack.small_scripts(4);
    let dir = stack.work_dir.join("quickstart");
    std::fs::create_dir_all(&dir).unwrap();
    // What scripts/dev.sh leaves in a newcomer's repository root, as far as the block reads it.
    std::fs::write(dir.join(".dev.vars"), format!("ADMIN_TOKEN={}\n", stack.admin_token)).unwrap();

    let (status, stdout, stderr) = run_block(&block, &dir, &stack.base_url);
    eprintln!("quickstart stdout:\n{stdout}\nquickstart stderr:\n{stderr}");
    assert_eq!(status, Some(0), "the quickstart failed (None: it ran past {BLOCK_TIMEOUT:?}); stderr:\n{stderr}");

    // Each follow ends once its task is done, and the task did finish.
    assert_eq!(stdout.matches(r#""status":"completed""#).count(), 2, "both jobs end completed:\n{stdout}");
    let stories = stack.sql("SELECT count(*)::int AS n FROM stories", &[]);
    assert_eq!(stories[0]["n"], 1, "the block made one story");
    let chapters = stack.sql("SELECT number, status FROM chapters ORDER BY number", &[]);
    assert!(chapters.len() >= 2 && chapters.iter().all(|c| c["status"] == "audio_ready"), "{chapters:?}");

    let files = mp3s(&dir);
    assert!(files.len() >= 2, "a chapter and the book: {files:?}");
    let mut most_marks = 0;
    for f in &files {
        let probe = ffprobe(f);
        assert_eq!(probe["format"]["format_name"], "mp3", "{}: {probe}", f.display());
        assert_eq!(probe["streams"][0]["codec_name"], "mp3", "{}: {probe}", f.display());
        let secs: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!(secs > 1.0, "{}: {secs} s", f.display());
        most_marks = most_marks.max(probe["chapters"].as_array().map_or(0, Vec::len));
    }
    assert_eq!(most_marks, chapters.len(), "the book has a chapter mark per chapter");
}
