//! No secret reaches a log: a full story job and audio job run, two providers fail with bodies
//! that name an organisation and echo the keys, and then every log the stack wrote (each
//! `wrangler dev`, devstack, PostgreSQL's) is searched for the database password, the admin
//! token, the provider keys and the user's API key. The providers' own words are in the
//! Worker's log (keys redacted) and never in what the API shows.

use crate::helpers::{TestStack, ELEVENLABS_KEY, OPENAI_KEY};
use crate::support::{chapter, new_story, run_job, story_id};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const ORG: &str = "org-secret123";

fn log_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            log_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "log") {
            out.push(p);
        }
    }
}

/// The task and the chapter as the API shows them: the short message only.
fn assert_shown_plainly(task: &Value, ch: &Value, code: &str, starts: &str) {
    assert_eq!(task["status"], "failed", "{task}");
    for (what, v) in [("task", task), ("chapter", ch)] {
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(starts), "{what}: {message}");
        let text = v.to_string();
        for leak in [ORG, "credits", OPENAI_KEY, ELEVENLABS_KEY] {
            assert!(!text.contains(leak), "{what} shows {leak:?}: {text}");
        }
    }
}

#[test]
fn no_log_holds_a_secret_and_provider_texts_stay_in_the_worker_log() {
    let stack = TestStack::start();
    stack.small_scripts(3);
    let (_, key) = stack.create_user("keeper");

    // A full story job and audio job.
    let a = story_id(&new_story(&stack, &key, &json!({"prompt": "A lighthouse keeper's last night.", "num_chapters": 1})));
    assert_eq!(run_job(&stack, &key, &a, "generate", &json!({}))["status"], "completed");
    assert_eq!(run_job(&stack, &key, &a, "audio", &json!({}))["status"], "completed");

    // ElevenLabs refuses the key, naming the organisation and echoing the key.
    let b = story_id(&new_story(&stack, &key, &json!({"prompt": "A ferry that runs once a year.", "num_chapters": 1})));
    assert_eq!(run_job(&stack, &key, &b, "generate", &json!({}))["status"], "completed");
    let body = json!({"detail": {"status": "invalid_api_key", "message": format!("Invalid API key {ELEVENLABS_KEY} for {ORG}: 34 credits remaining.")}});
    stack.providers("POST", "faults", Some(&json!({"provider": "elevenlabs", "kind": "status", "status": 401, "times": null, "body": body})));
    let task = run_job(&stack, &key, &b, "audio", &json!({}));
    assert_shown_plainly(&task, &chapter(&stack, &key, &b, 1), "tts_invalid_api_key", "ElevenLabs refused the request (HTTP 401");
    assert!(task["error"]["message"].as_str().unwrap().contains("ELEVENLABS_API_KEY"), "says what to check: {task}");

    // OpenAI does the same.
    stack.providers("POST", "reset", None);
    let body = json!({"error": {"message": format!("Incorrect API key provided: {OPENAI_KEY}. {ORG} has 5 credits left."), "type": "invalid_request_error", "code": "invalid_api_key"}});
    stack.providers("POST", "faults", Some(&json!({"provider": "openai", "kind": "status", "status": 401, "times": null, "body": body})));
    let task = run_job(&stack, &key, &a, "generate", &json!({"regenerate": true}));
    assert_shown_plainly(&task, &chapter(&stack, &key, &a, 1), "llm_rejected", "OpenAI refused the request (HTTP 401");

    // The providers' words are in the Worker's log, redacted.
    let failed = stack.worker_events("provider_failed");
    for provider in ["OpenAI", "ElevenLabs"] {
        let e = failed.iter().find(|e| e["provider"] == provider).unwrap_or_else(|| panic!("no provider_failed for {provider}: {failed:?}"));
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.contains(ORG) && detail.contains("[redacted]"), "{e}");
        assert_eq!(e["status"], 401, "{e}");
    }

    let db_password = stack.database_url.split_once("://").unwrap().1.split_once('@').unwrap().0.split_once(':').unwrap().1.to_string();
    let secrets = [
        ("the database password", db_password.as_str()),
        ("the admin token", stack.admin_token.as_str()),
        ("the link signing key", stack.link_signing_key.as_str()),
        ("the OpenAI key", OPENAI_KEY),
        ("the ElevenLabs key", ELEVENLABS_KEY),
        ("the user's API key", key.as_str()),
    ];
    let mut logs = Vec::new();
    log_files(&stack.work_dir, &mut logs);
    let names: Vec<String> = logs.iter().map(|p| p.strip_prefix(&stack.work_dir).unwrap().display().to_string()).collect();
    for expected in ["wrangler-1.log", "devstack.log", "pg/server.log"] {
        assert!(names.iter().any(|n| n == expected), "{expected} is not among the logs: {names:?}");
    }
    let texts: Vec<(String, String)> =
        logs.iter().map(|p| (p.display().to_string(), String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())).collect();
    // The search sees what the Worker logged: the organisation the providers named is there.
    assert!(texts.iter().any(|(_, t)| t.contains(ORG)), "the search reads the Worker's log");
    for (path, text) in &texts {
        for (what, secret) in secrets {
            assert!(secret.len() >= 12, "{what} is too short to search for");
            // Its first 16 characters: wrangler's tables cut long values short, and a cut
            // secret is still a leak.
            let probe = &secret[..secret.len().min(16)];
            if let Some(at) = text.find(probe) {
                let line = text[..at].rsplit('\n').next().unwrap_or("");
                panic!("{path} holds {what}: {line}…");
            }
        }
    }
    assert!(logs.iter().any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("(hidden)"))), "wrangler lists the secrets as hidden");
}
