use crate::helpers::TestStack;
use serde_json::Value;
use std::time::Duration;

fn probe(stack: &TestStack, body: &str) -> String {
    let r = stack.admin("POST", "/api/v1/admin/probes", Some(body));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.json()["probe_id"].as_str().unwrap().to_string()
}

fn state(stack: &TestStack, id: &str) -> Value {
    let r = stack.admin("GET", &format!("/api/v1/admin/probes/{id}"), None);
    assert_eq!(r.status, 200);
    r.json()
}

#[test]
fn a_queue_message_becomes_a_durable_object_update_and_an_r2_object() {
    let stack = TestStack::start();
    let id = probe(&stack, "{}");

    let seen = stack.wait_for("the probe to be consumed", Duration::from_secs(30), || {
        let s = state(&stack, &id);
        (s["consumed"] == true).then_some(s)
    });
    assert_eq!(seen["progress"]["state"]["status"], "consumed");
    assert_eq!(seen["progress"]["state"]["probe_id"], id.as_str());
    assert_eq!(seen["progress"]["seq"], 1);
    assert_eq!(seen["object"]["key"], format!("probes/{id}.json"));
    assert!(seen["object"]["size"].as_u64().unwrap() > 0);

    // A probe that was never sent has neither record.
    let never = state(&stack, "00000000-0000-4000-8000-000000000000");
    assert_eq!(never["consumed"], false);
    assert!(never["progress"].is_null() && never["object"].is_null());
}

#[test]
fn a_message_that_keeps_failing_reaches_the_dead_letter_consumer() {
    let stack = TestStack::start();
    let id = probe(&stack, r#"{"fail": true}"#);

    // max_retries = 3 with retry_delay = 2 s in wrangler.toml.
    let seen = stack.wait_for("the probe to be dead-lettered", Duration::from_secs(60), || {
        let s = state(&stack, &id);
        (s["progress"]["state"]["status"] == "dead_lettered").then_some(s)
    });
    assert!(seen["object"].is_null(), "a failing probe must not have written its object: {seen}");
}
