//! The OpenAI and ElevenLabs stand-ins, driven over HTTP through a real `devstack serve` process
//! (their routes need no PostgreSQL). Each test starts its own server so logs and faults of one
//! test never leak into another.
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OPENAI_KEY: &str = "sk-devstack-test-key";
const ELEVEN_KEY: &str = "el-devstack-test-key";
const RACHEL: &str = "21m00Tcm4TlvDq8ikWAM";
const ADAM: &str = "pNInz6obpgDQGcFmaJgB";

struct Stack {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn content(&self) -> String {
        self.json()["choices"][0]["message"]["content"].as_str().expect("content string").to_string()
    }
}

impl Stack {
    fn start() -> Stack {
        Stack::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Stack {
        let mut child = Command::new(env!("CARGO_BIN_EXE_devstack"))
            .args([
                "serve",
                "--neon-addr",
                "127.0.0.1:0",
                "--providers-addr",
                "127.0.0.1:0",
                "--pg-addr",
                "127.0.0.1:5432",
            ])
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("ELEVENLABS_API_KEY", ELEVEN_KEY)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn devstack");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready: Value = serde_json::from_str(&lines.next().expect("ready line").unwrap()).expect("ready JSON");
        assert_eq!(ready["ready"], true);
        // Keep draining stdout so later output can never block or break the server.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Stack { child, base: format!("http://{}", ready["providers"].as_str().unwrap()), agent }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, ureq::Error> {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder.body(body.unwrap_or_default()).unwrap();
        let mut resp = self.agent.run(req)?;
        let status = resp.status().as_u16();
        let headers =
            resp.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
        let body = resp.body_mut().with_config().limit(64 << 20).read_to_vec()?;
        Ok(Resp { status, headers, body })
    }

    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Resp {
        let mut h = headers.to_vec();
        if body.is_some() {
            h.push(("content-type", "application/json"));
        }
        self.send(method, path, &h, body.map(|b| b.to_string().into_bytes())).expect("HTTP request")
    }

    fn chat(&self, body: &Value) -> Resp {
        self.req("POST", "/v1/chat/completions", &[("authorization", &format!("Bearer {OPENAI_KEY}"))], Some(body))
    }

    fn tts(&self, voice: &str, query: &str, body: &Value) -> Resp {
        self.req("POST", &format!("/v1/text-to-speech/{voice}{query}"), &[("xi-api-key", ELEVEN_KEY)], Some(body))
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.req(method, &format!("/__admin/{path}"), &[], body.as_ref())
    }

    fn fault(&self, spec: Value) -> u64 {
        let r = self.admin("POST", "faults", Some(spec));
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["id"].as_u64().unwrap()
    }

    fn log(&self, query: &str) -> Vec<Value> {
        self.admin("GET", &format!("requests{query}"), None).json()["requests"].as_array().unwrap().clone()
    }

    fn stats(&self) -> Value {
        self.admin("GET", "stats", None).json()
    }

    /// Polls `probe` until it returns Some. The deadline is only a failure timeout: a healthy
    /// server gets there in milliseconds, a broken one fails the test with `what` instead of
    /// hanging it.
    fn wait_for<T>(&self, what: &str, mut probe: impl FnMut(&Stack) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the log's `index`-th entry of `provider` exists and an injected fault has
    /// fired on it (for a hang: the request is being held); returns that entry.
    fn wait_for_fault(&self, provider: &str, index: usize) -> Value {
        self.wait_for(&format!("fault on {provider} request #{index}"), |s| {
            s.log(&format!("?provider={provider}")).get(index).filter(|e| e["fault"].is_u64()).cloned()
        })
    }

    /// Sends `body` to `path` in a thread with no client timeout; the thread yields the status.
    fn send_in_background(&self, path: &str, header: (&'static str, String), body: Value) -> std::thread::JoinHandle<u16> {
        let url = format!("{}{path}", self.base);
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut resp = agent.post(url).header(header.0, header.1).send(body.to_string()).expect("HTTP request");
            let _ = resp.body_mut().read_to_vec();
            resp.status().as_u16()
        })
    }

    /// Writes a whole chat request on a raw connection and leaves it open, so the test decides
    /// when the client gives up (by dropping the stream).
    fn open_raw_chat(&self, body: &Value) -> TcpStream {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect");
        let body = body.to_string();
        write!(
            stream,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {OPENAI_KEY}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("write request");
        stream
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user(prompt: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "You write audiobook scripts."}, {"role": "user", "content": prompt}], "temperature": 0.8})
}

fn script_schema() -> Value {
    json!({"type":"object","additionalProperties":false,"required":["title","lines","characters"],"properties":{
        "title":{"type":"string"},
        "characters":{"type":"array","items":{"type":"object","additionalProperties":false,"required":["name","description"],"properties":{"name":{"type":"string"},"description":{"type":"string"}}}},
        "lines":{"type":"array","minItems":1,"items":{"type":"object","additionalProperties":false,"required":["speaker","text","direction"],"properties":{"speaker":{"type":"string"},"text":{"type":"string"},"direction":{"type":["string","null"]}}}}}})
}

fn with_schema(mut body: Value, schema: Value) -> Value {
    body["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "chapter_script", "strict": true, "schema": schema}});
    body
}

/// A validator for the structured-outputs subset, independent of the generator under test.
fn validate(v: &Value, schema: &Value, root: &Value, path: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = root.pointer(r.trim_start_matches('#')).ok_or(format!("{path}: bad ref {r}"))?;
        return validate(v, target, root, path);
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        return if branches.iter().any(|b| validate(v, b, root, path).is_ok()) {
            Ok(())
        } else {
            Err(format!("{path}: no anyOf branch matches"))
        };
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return Err(format!("{path}: {v} not in enum"));
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let actual = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed = types.is_empty() || types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
    if !allowed {
        return Err(format!("{path}: expected {types:?}, got {actual}"));
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for req in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if !m.contains_key(req.as_str().unwrap()) {
                    return Err(format!("{path}: missing {req}"));
                }
            }
            for (k, val) in m {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => validate(val, s, root, &format!("{path}.{k}"))?,
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{path}: extra key {k}"))
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if schema.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m)
                || schema.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m)
            {
                return Err(format!("{path}: {n} items out of bounds"));
            }
            if let Some(item) = schema.get("items") {
                for (i, it) in items.iter().enumerate() {
                    validate(it, item, root, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::String(s) => {
            let n = s.chars().count() as u64;
            if schema.get("minLength").and_then(Value::as_u64).is_some_and(|m| n < m)
                || schema.get("maxLength").and_then(Value::as_u64).is_some_and(|m| n > m)
            {
                return Err(format!("{path}: length {n} out of bounds"));
            }
        }
        Value::Number(x) => {
            let x = x.as_f64().unwrap();
            if schema.get("minimum").and_then(Value::as_f64).is_some_and(|m| x < m)
                || schema.get("maximum").and_then(Value::as_f64).is_some_and(|m| x > m)
            {
                return Err(format!("{path}: {x} out of range"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_mp3(b: &[u8]) -> bool {
    b.starts_with(b"ID3") || (b.len() > 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0)
}

/// (duration seconds, sample rate, channels) as ffprobe reads them.
fn probe(mp3: &[u8]) -> (f64, u32, u32) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "devstack-probe-{}-{}.mp3",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::write(&path, mp3).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration:stream=sample_rate,channels", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe is installed by the project's setup");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stream = &v["streams"][0];
    (
        v["format"]["duration"].as_str().unwrap().parse().unwrap(),
        stream["sample_rate"].as_str().unwrap().parse().unwrap(),
        stream["channels"].as_u64().unwrap() as u32,
    )
}

/// Walks the MPEG-1 Layer III frames of a 44.1 kHz clip: (frame count, distinct bitrates in
/// kbit/s, every frame mono). Independent of ffprobe, which averages the bitrate.
fn mpeg1_frames(mp3: &[u8]) -> (usize, Vec<u32>, bool) {
    const KBPS: [u32; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    let (mut pos, mut frames, mut rates, mut mono) = (0, 0, Vec::new(), true);
    while pos + 4 <= mp3.len() {
        let h = &mp3[pos..pos + 4];
        assert!(h[0] == 0xFF && h[1] & 0xFE == 0xFA, "frame {frames} at {pos}: not an MPEG-1 Layer III header");
        assert_eq!((h[2] >> 2) & 3, 0, "44.1 kHz");
        let kbps = KBPS[(h[2] >> 4) as usize];
        if !rates.contains(&kbps) {
            rates.push(kbps);
        }
        mono &= h[3] >> 6 == 3;
        pos += (144_000 * kbps / 44_100) as usize + ((h[2] >> 1) & 1) as usize;
        frames += 1;
    }
    assert_eq!(pos, mp3.len(), "the clip ends on a frame boundary");
    (frames, rates, mono)
}

// ---------------------------------------------------------------- auth

#[test]
fn openai_rejects_missing_and_wrong_keys() {
    let s = Stack::start();
    for auth in [None, Some("Bearer sk-wrong"), Some(OPENAI_KEY)] {
        let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
        let r = s.req("POST", "/v1/chat/completions", &headers, Some(&user("hi")));
        assert_eq!(r.status, 401);
        let e = &r.json()["error"];
        assert_eq!(e["type"], "invalid_request_error");
        assert_eq!(e["code"], "invalid_api_key");
        assert!(e["param"].is_null() && e["message"].is_string());
    }
    assert_eq!(s.chat(&user("hi")).status, 200);
    let statuses: Vec<Value> = s.log("?provider=openai").iter().map(|e| e["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(401), json!(401), json!(401), json!(200)]);
}

#[test]
fn elevenlabs_rejects_missing_and_wrong_keys() {
    let s = Stack::start();
    let body = json!({"text": "Hello."});
    for headers in [vec![], vec![("xi-api-key", "wrong")], vec![("authorization", ELEVEN_KEY)]] {
        let r = s.req("POST", &format!("/v1/text-to-speech/{RACHEL}"), &headers, Some(&body));
        assert_eq!(r.status, 401);
        assert_eq!(r.json(), json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}));
    }
    assert_eq!(s.req("GET", "/v1/voices", &[], None).status, 401);
}

// ---------------------------------------------------------------- OpenAI

#[test]
fn script_schema_output_is_schema_valid_and_speakers_are_listed() {
    let s = Stack::start();
    let schema = script_schema();
    for i in 0..12 {
        let r = s.chat(&with_schema(user(&format!("A story about lighthouse number {i}")), schema.clone()));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let script: Value = serde_json::from_str(&r.content()).expect("content is JSON");
        validate(&script, &schema, &schema, "$").unwrap();
        let names: Vec<&str> =
            script["characters"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert!((2..=5).contains(&names.len()), "{names:?}");
        let lines = script["lines"].as_array().unwrap();
        assert!((40..=80).contains(&lines.len()));
        for line in lines {
            let speaker = line["speaker"].as_str().unwrap();
            assert!(speaker == "Narrator" || names.contains(&speaker), "speaker {speaker} not in {names:?}");
            let text = line["text"].as_str().unwrap();
            assert!((40..=300).contains(&text.chars().count()) && text.ends_with(['.', '?', '!']), "{text}");
        }
        assert!(!script["title"].as_str().unwrap().is_empty());
    }
}

#[test]
fn richer_schemas_with_refs_enums_and_bounds_are_satisfied() {
    let s = Stack::start();
    let schema = json!({
        "$defs": {"line": {"type":"object","additionalProperties":false,"required":["speaker","text","mood"],"properties":{
            "speaker":{"type":"string"},"text":{"type":"string","maxLength":80},"mood":{"type":"string","enum":["calm","tense"]}}}},
        "type":"object","additionalProperties":false,"required":["chapter","score","lines","note","flag"],"properties":{
            "chapter":{"type":"integer","minimum":1,"maximum":3},
            "score":{"type":"number","minimum":0,"maximum":1},
            "lines":{"type":"array","minItems":6,"maxItems":8,"items":{"$ref":"#/$defs/line"}},
            "note":{"anyOf":[{"type":"string","minLength":30},{"type":"null"}]},
            "flag":{"type":"boolean"}}});
    for i in 0..8 {
        let r = s.chat(&with_schema(user(&format!("variant {i}")), schema.clone()));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: Value = serde_json::from_str(&r.content()).unwrap();
        validate(&v, &schema, &schema, "$").unwrap();
    }
}

#[test]
fn strict_schemas_that_break_the_rules_are_rejected_like_openai() {
    let s = Stack::start();
    let mut schema = script_schema();
    schema["properties"]["lines"]["items"]["required"] = json!(["speaker", "text"]);
    let r = s.chat(&with_schema(user("x"), schema));
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(e["param"], "response_format");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("Invalid schema for response_format 'chapter_script'") && msg.contains("Missing 'direction'"),
        "{msg}"
    );
}

#[test]
fn completions_are_deterministic_per_request() {
    let s = Stack::start();
    let body = with_schema(user("A fox and a lantern"), script_schema());
    let a = s.chat(&body);
    let b = s.chat(&body);
    assert_eq!(a.content(), b.content());
    assert_eq!(a.json()["id"], b.json()["id"]);
    // Temperature is not part of what decides the answer; key order of the request is not either.
    let mut hotter = body.clone();
    hotter["temperature"] = json!(1.5);
    assert_eq!(s.chat(&hotter).content(), a.content());
    let other = s.chat(&with_schema(user("A fox and a lanterns"), script_schema()));
    assert_ne!(other.content(), a.content());
    assert_ne!(other.json()["id"], a.json()["id"]);
    // A fresh process gives the same answer: nothing depends on process state.
    let s2 = Stack::start();
    assert_eq!(s2.chat(&body).content(), a.content());
}

#[test]
fn plain_text_requests_get_a_tagged_summary_that_later_requests_can_be_traced_by() {
    let s = Stack::start();
    let first = s.chat(&user("Summarise chapter 1: the fox finds the lantern."));
    let summary = first.content();
    assert!(summary.starts_with("Summary: "), "{summary}");
    let tag_at = summary.find("[s-").expect("tag");
    let tag = &summary[tag_at..tag_at + 10];
    assert!(tag.ends_with(']') && tag[3..9].chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
    let again = s.chat(&user("Summarise chapter 1: the fox finds the lantern."));
    assert_eq!(again.content(), summary);
    let other = s.chat(&user("Summarise chapter 2: the lantern goes out."));
    assert!(!other.content().contains(tag));
    // The next chapter's prompt carries the summary; the log lets a test see that it did.
    s.chat(&with_schema(user(&format!("Earlier chapters: {summary}\nWrite chapter 2.")), script_schema()));
    let log = s.log("?provider=openai");
    let last = log.last().unwrap();
    assert!(last["body"]["messages"][1]["content"].as_str().unwrap().contains(tag));
}

#[test]
fn envelope_and_usage_follow_the_real_shape() {
    let s = Stack::start();
    let body = with_schema(user("Tokens please"), script_schema());
    let r = s.chat(&body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["refusal"].is_null());
    let prompt_chars = "You write audiobook scripts.".len() + "Tokens please".len();
    let content_chars = choice["message"]["content"].as_str().unwrap().chars().count();
    let u = &v["usage"];
    assert_eq!(u["prompt_tokens"], prompt_chars.div_ceil(4));
    assert_eq!(u["completion_tokens"], content_chars.div_ceil(4));
    assert_eq!(u["total_tokens"], prompt_chars.div_ceil(4) + content_chars.div_ceil(4));
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[test]
fn bad_openai_requests_are_400_with_openai_errors() {
    let s = Stack::start();
    let auth = format!("Bearer {OPENAI_KEY}");
    let r =
        s.send("POST", "/v1/chat/completions", &[("authorization", &auth)], Some(b"{not json".to_vec())).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = s.chat(&json!({"model": "gpt-4o-mini", "messages": []}));
    assert_eq!((r.status, r.json()["error"]["param"].clone()), (400, json!("messages")));
    let r = s.chat(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "yaml"}}));
    assert_eq!(r.status, 400);
}

// ---------------------------------------------------------------- chapter scripts, as the Worker asks

use talecast::core::llm::{self, ChapterContext, LlmSettings};
use talecast::core::script::{self, Script};

fn settings() -> LlmSettings {
    LlmSettings { model: "gpt-4o-mini".into(), temperature: 0.8, max_completion_tokens: 8000 }
}

fn story_config() -> serde_json::Map<String, Value> {
    json!({"genre": "mystery", "tone": "cosy"}).as_object().unwrap().clone()
}

/// The Worker's request for chapter `chapter` of a story told from `prompt`.
fn with_ctx(prompt: &str, chapter: u32, build: impl FnOnce(&ChapterContext) -> Value) -> Value {
    let cfg = story_config();
    let ctx = ChapterContext {
        story_title: "The Lighthouse",
        prompt,
        config: &cfg,
        num_chapters: 3,
        chapter,
        earlier_summaries: &[],
    };
    build(&ctx)
}

fn script_req(prompt: &str, chapter: u32) -> Value {
    with_ctx(prompt, chapter, |ctx| llm::script_request(&settings(), ctx))
}

fn enhance_req(prompt: &str, chapter: u32, draft: &Script) -> Value {
    with_ctx(prompt, chapter, |ctx| llm::enhance_request(&settings(), ctx, draft))
}

fn summary_req(prompt: &str, chapter: u32, s: &Script) -> Value {
    with_ctx(prompt, chapter, |ctx| llm::summary_request(&settings(), ctx, s))
}

const PROMPTS: &[&str] = &[
    "A fox and a lantern",
    "Two sisters sail to the edge of the map",
    "A clockmaker's last clock",
    "The dragon who could not fly",
    "Snow in the harbour town",
    "A letter arrives sixty years late",
];

impl Stack {
    /// Sends a Worker-built request and reads the answer the way the Worker does.
    fn worker_completion(&self, body: &Value) -> llm::Completion {
        let r = self.chat(body);
        llm::classify(r.status, r.header("retry-after"), &String::from_utf8_lossy(&r.body))
            .unwrap_or_else(|e| panic!("the Worker refuses the answer: {e:?}"))
    }

    /// A script the Worker accepts, also checked against the schema it sent.
    fn worker_script(&self, body: &Value) -> Script {
        let c = self.worker_completion(body);
        let schema = script::json_schema();
        validate(&serde_json::from_str(&c.content).unwrap(), &schema, &schema, "$").unwrap();
        llm::parse_script(&c).unwrap_or_else(|e| panic!("{e:?}"))
    }
}

fn character_names(s: &Script) -> Vec<String> {
    s.characters.iter().map(|c| c.name.clone()).collect()
}

/// Line texts are 40–300 characters of whole sentences, and speaker names stay short.
fn assert_lines_well_formed(s: &Script) {
    for (i, l) in s.lines.iter().enumerate() {
        let n = l.text.chars().count();
        assert!((40..=300).contains(&n), "line {i}: {n} characters: {:?}", l.text);
        assert!(l.text.ends_with(['.', '?', '!']), "line {i}: {:?}", l.text);
        assert!(!l.speaker.is_empty() && l.speaker.chars().count() <= 200);
    }
}

#[test]
fn chapter_scripts_have_a_realistic_size_by_default() {
    let s = Stack::start();
    let (mut min_lines, mut max_lines, mut sizes) = (usize::MAX, 0, Vec::new());
    for (i, prompt) in PROMPTS.iter().enumerate() {
        let script = s.worker_script(&script_req(prompt, 1 + i as u32 % 3));
        let n = script.lines.len();
        assert!((40..=80).contains(&n), "{prompt}: {n} lines");
        (min_lines, max_lines) = (min_lines.min(n), max_lines.max(n));
        let speakers = script.speakers();
        assert!((3..=6).contains(&speakers.len()), "{prompt}: {speakers:?}");
        assert_eq!(speakers[0], "Narrator");
        sizes.push(speakers.len());
        // The cast list is exactly the speakers besides the Narrator.
        let mut cast = character_names(&script);
        let mut others: Vec<String> = speakers.into_iter().filter(|s| s != "Narrator").collect();
        cast.sort();
        others.sort();
        assert_eq!(cast, others, "{prompt}");
        assert!(script.characters.iter().all(|c| !c.description.is_empty()));
        assert_lines_well_formed(&script);
        assert!(!script.title.is_empty());
        // Narration and dialogue alternate: nobody has the whole chapter.
        let narrated = script.lines.iter().filter(|l| l.speaker == "Narrator").count();
        assert!(narrated > n / 8 && narrated < n * 3 / 4, "{prompt}: {narrated} of {n} narrated");
    }
    assert!(max_lines > min_lines, "sizes vary between requests");
    sizes.sort();
    assert!(sizes.first() != sizes.last(), "cast sizes vary between requests: {sizes:?}");
}

#[test]
fn chapter_scripts_are_deterministic_per_request() {
    let s = Stack::start();
    let body = script_req("A fox and a lantern", 2);
    let a = s.worker_completion(&body).content;
    assert_eq!(s.worker_completion(&body).content, a);
    assert_eq!(Stack::start().worker_completion(&body).content, a, "a fresh process answers the same");
    assert_ne!(s.worker_completion(&script_req("A fox and a lantern", 3)).content, a);
}

#[test]
fn enhance_keeps_the_drafts_speakers_line_by_line_and_rewrites_the_words() {
    let s = Stack::start();
    for prompt in ["A fox and a lantern", "Snow in the harbour town", "The dragon who could not fly"] {
        let draft = s.worker_script(&script_req(prompt, 2));
        let body = enhance_req(prompt, 2, &draft);
        assert_eq!(body["response_format"]["json_schema"]["name"], "enhanced_chapter_script");
        let better = s.worker_script(&body);
        assert_eq!(better.lines.len(), draft.lines.len());
        let speakers = |sc: &Script| sc.lines.iter().map(|l| l.speaker.clone()).collect::<Vec<_>>();
        assert_eq!(speakers(&better), speakers(&draft));
        assert_eq!(better.speakers(), draft.speakers());
        assert_eq!(character_names(&better), character_names(&draft));
        assert_eq!(better.title, draft.title);
        let changed = better.lines.iter().zip(&draft.lines).filter(|(a, b)| a.text != b.text).count();
        assert!(changed * 10 >= draft.lines.len() * 9, "{changed} of {} lines rewritten", draft.lines.len());
        assert_lines_well_formed(&better);
        assert_eq!(s.worker_script(&body), better, "deterministic");
    }
}

#[test]
fn summaries_are_two_to_four_sentences_naming_the_chapters_characters() {
    let s = Stack::start();
    for (i, prompt) in PROMPTS[..3].iter().enumerate() {
        let script = s.worker_script(&script_req(prompt, 1 + i as u32));
        let c = s.worker_completion(&summary_req(prompt, 1 + i as u32, &script));
        let summary = llm::parse_summary(&c).unwrap();
        let body = summary.strip_prefix("Summary: ").expect("prefix");
        let body = &body[..body.rfind(" [s-").expect("tag")];
        let sentences = body.matches(['.', '?', '!']).count();
        assert!((2..=4).contains(&sentences), "{sentences}: {summary}");
        for name in character_names(&script) {
            assert!(body.contains(&name), "{name} missing from {summary}");
        }
        assert!(!body.contains("Narrator"), "{summary}");
    }
}

#[test]
fn the_script_knob_forces_every_script_and_enhance_to_n_lines() {
    let s = Stack::start();
    assert_eq!(s.admin("GET", "script", None).json(), json!({"lines": null}));
    let default = s.worker_script(&script_req("A fox and a lantern", 1));

    let r = s.admin("POST", "script", Some(json!({"lines": 300})));
    assert_eq!((r.status, r.json()), (200, json!({"lines": 300})));
    assert_eq!(s.admin("GET", "script", None).json(), json!({"lines": 300}));
    let long = s.worker_script(&script_req("A fox and a lantern", 1));
    assert_eq!(long.lines.len(), 300);
    assert_lines_well_formed(&long);
    let speakers = long.speakers();
    assert!((3..=6).contains(&speakers.len()) && speakers[0] == "Narrator", "{speakers:?}");
    let better = s.worker_script(&enhance_req("A fox and a lantern", 1, &long));
    assert_eq!(better.lines.len(), 300);
    assert_eq!(better.speakers(), long.speakers());

    // A forced count applies to enhancing a draft of another size too.
    let r = s.admin("POST", "script", Some(json!({"lines": 7})));
    assert_eq!(r.json(), json!({"lines": 7}));
    let short = s.worker_script(&enhance_req("A fox and a lantern", 1, &default));
    assert_eq!(short.lines.len(), 7);
    assert!(short.speakers().iter().all(|sp| default.speakers().contains(sp)));
    for n in [1, 2, 2000] {
        assert_eq!(s.admin("POST", "script", Some(json!({"lines": n}))).json(), json!({"lines": n}));
        let sc = s.worker_script(&script_req("Snow in the harbour town", 2));
        assert_eq!(sc.lines.len(), n);
        assert_lines_well_formed(&sc);
        let mut cast = character_names(&sc);
        let mut spoken: Vec<String> = sc.speakers().into_iter().filter(|s| s != "Narrator").collect();
        cast.sort();
        spoken.sort();
        assert_eq!(cast, spoken, "{n} lines: every listed character speaks");
    }

    let r = s.admin("POST", "script", Some(json!({"lines": null})));
    assert_eq!((r.status, r.json()), (200, json!({"lines": null})));
    assert_eq!(s.worker_script(&script_req("A fox and a lantern", 1)), default);

    let bad_specs = [
        json!({"lines": 0}),
        json!({"lines": 2001}),
        json!({"lines": "12"}),
        json!({"lines": 1.5}),
        json!({"lines": -3}),
        json!({}),
        json!([12]),
    ];
    for bad in bad_specs {
        let r = s.admin("POST", "script", Some(bad.clone()));
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].is_string(), "{bad}");
    }
    let not_json = Some(b"lines=3".to_vec());
    let r = s.send("POST", "/__admin/script", &[("content-type", "application/json")], not_json).unwrap();
    assert_eq!((r.status, r.json()["error"].is_string()), (400, true));
    assert_eq!(s.admin("GET", "script", None).json(), json!({"lines": null}), "bad input changes nothing");

    s.admin("POST", "script", Some(json!({"lines": 5})));
    assert_eq!(s.admin("POST", "reset", None).status, 204);
    assert_eq!(s.admin("GET", "script", None).json(), json!({"lines": null}));
    assert_eq!(s.worker_script(&script_req("A fox and a lantern", 1)), default);
}

// ---------------------------------------------------------------- ElevenLabs

#[test]
fn tts_returns_playable_mono_mp3_in_the_requested_format() {
    let s = Stack::start();
    let text = "Once upon a time, a lantern glowed in the old tower.";
    for (format, rate) in
        [("mp3_22050_32", 22050), ("mp3_24000_48", 24000), ("mp3_44100_128", 44100), ("mp3_44100_192", 44100)]
    {
        let r = s.tts(
            RACHEL,
            &format!("?output_format={format}"),
            &json!({"text": text, "model_id": "eleven_multilingual_v2"}),
        );
        assert_eq!(r.status, 200, "{format}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("audio/mpeg"));
        assert_eq!(r.header("character-cost"), Some(text.chars().count().to_string().as_str()));
        assert!(r.header("request-id").is_some_and(|id| id.len() >= 16));
        assert_eq!(r.header("x-standin-engine"), Some("espeak-ng"), "real speech, not the tone");
        assert!(is_mp3(&r.body), "{format}");
        let (duration, sample_rate, channels) = probe(&r.body);
        assert!(duration > 1.0, "{format}: {duration}");
        assert_eq!((sample_rate, channels), (rate, 1), "{format}");
    }
    // The default format is mp3_44100_128: 44.1 kHz, 128 kbit/s constant bitrate, mono.
    let r = s.tts(RACHEL, "", &json!({"text": text}));
    assert_eq!(probe(&r.body).1, 44100);
    let (frames, rates, mono) = mpeg1_frames(&r.body);
    assert!(frames > 30 && mono, "{frames} frames, mono {mono}");
    assert_eq!(rates, [128]);
    let explicit = s.tts(RACHEL, "?output_format=mp3_44100_128", &json!({"text": text}));
    assert_eq!(explicit.body, r.body);
    assert_eq!(mpeg1_frames(&s.tts(RACHEL, "?output_format=mp3_44100_64", &json!({"text": text})).body).1, [64]);
}

#[test]
fn tts_log_entries_say_which_engine_voiced_them_and_when_they_were_answered() {
    let s = Stack::start();
    s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "Real speech."}));
    s.tts("NoSuchVoice123", "", &json!({"text": "Never voiced."}));
    s.chat(&user("not audio"));
    let log = s.log("");
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["engine"], "espeak-ng");
    assert!(log[1].get("engine").is_none(), "a refused request made no audio: {}", log[1]);
    assert!(log[2].get("engine").is_none());
    for e in &log {
        let (at, answered) = (e["at"].as_u64().unwrap(), e["answered_at"].as_u64().unwrap());
        assert_eq!(answered, at + e["duration_ms"].as_u64().unwrap(), "{e}");
    }
    // An open request has no answer time yet; it gets one when it is answered.
    let id = s.fault(json!({"provider": "elevenlabs", "kind": "hang"}));
    let hung = s.send_in_background(
        &format!("/v1/text-to-speech/{RACHEL}"),
        ("xi-api-key", ELEVEN_KEY.to_string()),
        json!({"text": "Wait."}),
    );
    let open = s.wait_for_fault("elevenlabs", 2);
    assert_eq!(open["fault"], id);
    assert!(open["answered_at"].is_null() && open["status"].is_null() && open["duration_ms"].is_null(), "{open}");
    assert!(open.get("hang").is_none(), "{open}");
    assert_eq!(s.admin("DELETE", "faults", None).status, 204);
    assert_eq!(hung.join().unwrap(), 504);
    let closed = s.log("").pop().unwrap();
    assert_eq!((closed["seq"].clone(), closed["status"].clone(), closed["hang"].clone()), (open["seq"].clone(), json!(504), json!("released")));
    assert_eq!(closed["answered_at"].as_u64().unwrap(), closed["at"].as_u64().unwrap() + closed["duration_ms"].as_u64().unwrap());
}

#[test]
fn tts_is_deterministic_voices_differ_and_stream_matches() {
    let s = Stack::start();
    let body = json!({"text": "The fox crossed the bridge.", "previous_text": "Night fell.", "next_text": "It ran."});
    let a = s.tts(RACHEL, "?output_format=mp3_22050_32", &body);
    let b = s.tts(RACHEL, "?output_format=mp3_22050_32", &body);
    assert_eq!(a.body, b.body);
    assert_ne!(a.header("request-id"), b.header("request-id"), "each request gets its own id");
    let streamed = s.tts(&format!("{RACHEL}/stream"), "?output_format=mp3_22050_32", &body);
    assert_eq!(streamed.body, a.body);
    let adam = s.tts(ADAM, "?output_format=mp3_22050_32", &body);
    assert_ne!(adam.body, a.body);
    let log = s.log("?provider=elevenlabs");
    assert_eq!(log.len(), 4);
    assert_eq!(log[2]["voice_id"], RACHEL);
    assert_eq!(log[3]["voice_id"], ADAM);
    assert_eq!(log[0]["query"]["output_format"], "mp3_22050_32");
}

#[test]
fn tts_duration_grows_with_the_text() {
    let s = Stack::start();
    let short = s.tts(ADAM, "?output_format=mp3_22050_32", &json!({"text": "Hello."}));
    let long = s.tts(
        ADAM,
        "?output_format=mp3_22050_32",
        &json!({"text": "Hello. ".repeat(12) + "The lantern glowed in the tower all night long."}),
    );
    let (d_short, d_long) = (probe(&short.body).0, probe(&long.body).0);
    assert!(d_short > 0.0 && d_long > d_short * 3.0, "{d_short} vs {d_long}");
}

#[test]
fn tts_rejects_bad_requests_with_elevenlabs_errors() {
    let s = Stack::start();
    let r = s.tts("NoSuchVoice123", "", &json!({"text": "Hi."}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["detail"]["status"], "voice_not_found");
    assert!(r.json()["detail"]["message"].as_str().unwrap().contains("NoSuchVoice123"));
    let r = s.tts(RACHEL, "?output_format=wav_44100", &json!({"text": "Hi."}));
    assert_eq!((r.status, r.json()["detail"]["status"].clone()), (400, json!("invalid_output_format")));
    let r = s.tts(RACHEL, "", &json!({"text": "a".repeat(10_001)}));
    assert_eq!((r.status, r.json()["detail"]["status"].clone()), (400, json!("max_character_limit_exceeded")));
    assert_eq!(s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "a".repeat(10_000)})).status, 200);
    let r = s.tts(RACHEL, "", &json!({"model_id": "eleven_multilingual_v2"}));
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "text"]));
    assert_eq!(s.tts(RACHEL, "", &json!({"text": "  "})).status, 400);
    let r = s.tts(RACHEL, "", &json!({"text": "Hi.", "previous_request_ids": ["a", "b", "c", "d"]}));
    assert_eq!(r.status, 422);
}

#[test]
fn voices_lists_the_premade_catalogue() {
    let s = Stack::start();
    let r = s.req("GET", "/v1/voices", &[("xi-api-key", ELEVEN_KEY)], None);
    assert_eq!(r.status, 200);
    let voices = r.json()["voices"].as_array().unwrap().clone();
    assert!(voices.len() >= 10);
    let rachel = voices.iter().find(|v| v["voice_id"] == RACHEL).unwrap();
    assert_eq!((rachel["name"].as_str(), rachel["category"].as_str()), (Some("Rachel"), Some("premade")));
}

#[test]
fn tone_stands_in_when_espeak_is_missing() {
    let s = Stack::start_with(&[("DEVSTACK_ESPEAK", "/nonexistent/espeak-ng")]);
    let text = "Twenty characters!!!";
    let r = s.tts(RACHEL, "?output_format=mp3_44100_64", &json!({"text": text}));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-standin-engine"), Some("tone"));
    assert_eq!(s.log("?provider=elevenlabs")[0]["engine"], "tone");
    let (duration, rate, _) = probe(&r.body);
    assert_eq!(rate, 44100);
    assert!((1.1..1.4).contains(&duration), "60 ms a character: {duration}");
}

#[test]
fn missing_lame_is_a_clear_500() {
    let s = Stack::start_with(&[("DEVSTACK_LAME", "/nonexistent/lame")]);
    let r = s.tts(RACHEL, "", &json!({"text": "Hello."}));
    assert_eq!(r.status, 500);
    let msg = r.json()["detail"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("lame") && msg.contains("installs"), "{msg}");
}

// ---------------------------------------------------------------- faults

#[test]
fn a_429_with_retry_after_fires_after_skip_and_only_times_times() {
    let s = Stack::start();
    let id = s.fault(json!({"provider": "openai", "kind": "status", "status": 429, "retry_after": 7, "skip": 1}));
    assert_eq!(s.chat(&user("one")).status, 200);
    let limited = s.chat(&user("two"));
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert_eq!(limited.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(s.chat(&user("two")).status, 200);
    let faults = s.admin("GET", "faults", None).json();
    assert_eq!(faults["faults"][0]["id"], id);
    assert_eq!(faults["faults"][0]["remaining"], 0);
    assert_eq!(faults["faults"][0]["fired"], 1);
    let log = s.log("?provider=openai");
    assert_eq!(log[1]["status"], 429);
    assert_eq!(log[1]["fault"], id);
    assert!(log[2]["fault"].is_null());

    // ElevenLabs: the default 429 body is system_busy; `times` fires more than once.
    s.fault(json!({"provider": "elevenlabs", "status": 429, "times": 2}));
    for _ in 0..2 {
        let r = s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "Hi."}));
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["detail"]["status"], "system_busy");
        assert!(r.header("retry-after").is_none());
    }
    assert_eq!(s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "Hi."})).status, 200);
}

#[test]
fn a_500_forever_lasts_until_faults_are_cleared() {
    let s = Stack::start();
    s.fault(json!({"provider": "elevenlabs", "status": 500, "times": null}));
    for _ in 0..4 {
        let r = s.tts(RACHEL, "", &json!({"text": "Hi."}));
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["detail"]["status"], "internal_server_error");
    }
    assert_eq!(s.chat(&user("other provider is untouched")).status, 200);
    let listed = s.admin("GET", "faults", None).json();
    assert!(listed["faults"][0]["remaining"].is_null());
    assert_eq!(listed["faults"][0]["fired"], 4);
    assert_eq!(s.admin("DELETE", "faults", None).status, 204);
    assert_eq!(s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "Hi."})).status, 200);
}

#[test]
fn custom_fault_bodies_are_returned_verbatim() {
    let s = Stack::start();
    let body = json!({"detail": {"status": "too_many_concurrent_requests", "message": "slow down"}});
    s.fault(json!({"provider": "elevenlabs", "status": 429, "body": body}));
    let r = s.tts(RACHEL, "", &json!({"text": "Hi."}));
    assert_eq!((r.status, r.json()), (429, body));
}

#[test]
fn malformed_faults_break_the_body_but_not_the_status() {
    let s = Stack::start();
    s.fault(json!({"provider": "openai", "kind": "malformed"}));
    let r = s.chat(&user("x"));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    s.fault(json!({"provider": "openai", "kind": "malformed_content"}));
    let r = s.chat(&with_schema(user("x"), script_schema()));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.content()).is_err());
    s.fault(json!({"provider": "openai", "kind": "empty"}));
    assert_eq!(s.chat(&user("x")).content(), "");

    s.fault(json!({"provider": "elevenlabs", "kind": "malformed"}));
    let r = s.tts(RACHEL, "", &json!({"text": "Hi."}));
    assert_eq!((r.status, r.header("content-type")), (200, Some("audio/mpeg")));
    assert!(!r.body.is_empty() && !is_mp3(&r.body));
    s.fault(json!({"provider": "elevenlabs", "kind": "empty"}));
    let r = s.tts(RACHEL, "", &json!({"text": "Hi."}));
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert!(is_mp3(&s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "Hi."})).body));
}

#[test]
fn match_limits_a_fault_to_requests_containing_the_substring() {
    let s = Stack::start();
    s.fault(json!({"provider": "openai", "status": 500, "match": "chapter 3", "times": null}));
    assert_eq!(s.chat(&user("write chapter 2")).status, 200);
    assert_eq!(s.chat(&user("write chapter 3")).status, 500);
    assert_eq!(s.chat(&user("write chapter 3 again")).status, 500);
    assert_eq!(s.chat(&user("write chapter 4")).status, 200);
    s.fault(json!({"provider": "elevenlabs", "status": 503, "match": "dragon"}));
    assert_eq!(s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "A fox."})).status, 200);
    assert_eq!(s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "A dragon."})).status, 503);
}

#[test]
fn a_hang_holds_the_request_until_faults_are_cleared_or_the_client_leaves() {
    let s = Stack::start();
    // No hang_ms: the default hold (ten minutes) outlasts any test, so only a release ends it.
    let id = s.fault(json!({"provider": "openai", "kind": "hang", "times": 2}));
    // A client that gives up: the server notices and stops counting it in flight.
    let client = s.open_raw_chat(&user("x"));
    let held = s.wait_for_fault("openai", 0);
    assert_eq!(held["fault"], id);
    assert_eq!(s.stats()["openai"]["in_flight"], 1);
    drop(client);
    s.wait_for("the abandoned request to leave in_flight", |s| (s.stats()["openai"]["in_flight"] == 0).then_some(()));
    let first = &s.log("?provider=openai")[0];
    assert!(first["status"].is_null() && first["answered_at"].is_null() && first["fault"] == id, "{first}");
    assert!(first.get("hang").is_none(), "an abandoned hang never ended: {first}");

    // A patient client is held until the faults are cleared, then released with a 504.
    let waiter = s.send_in_background("/v1/chat/completions", ("authorization", format!("Bearer {OPENAI_KEY}")), user("y"));
    let held = s.wait_for_fault("openai", 1);
    assert!(held["status"].is_null() && held.get("hang").is_none(), "{held}");
    assert_eq!(s.stats()["openai"]["in_flight"], 1);
    assert!(!waiter.is_finished(), "the hang answered before it was released");
    assert_eq!(s.admin("DELETE", "faults", None).status, 204);
    assert_eq!(waiter.join().unwrap(), 504);
    let released = &s.log("?provider=openai")[1];
    assert_eq!((released["status"].clone(), released["fault"].clone()), (json!(504), json!(id)));
    assert_eq!(released["hang"], "released", "cleared faults ended the hang, not its hang_ms: {released}");
    assert_eq!(s.stats()["openai"]["in_flight"], 0);
}

// ---------------------------------------------------------------- log, latency, caps, reset

#[test]
fn the_request_log_records_requests_but_never_keys() {
    let s = Stack::start();
    s.chat(&user("log me"));
    s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "Log me too."}));
    s.req("POST", "/v1/chat/completions", &[("authorization", "Bearer sk-leaked-wrong-key")], Some(&user("bad key")));
    let raw = s.admin("GET", "requests", None);
    let text = String::from_utf8_lossy(&raw.body);
    for secret in [OPENAI_KEY, ELEVEN_KEY, "sk-leaked-wrong-key", "authorization", "xi-api-key"] {
        assert!(!text.to_lowercase().contains(&secret.to_lowercase()), "log leaks {secret}");
    }
    let all = raw.json()["requests"].as_array().unwrap().clone();
    assert_eq!(all.len(), 3);
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let o = &all[0];
    assert_eq!(
        (o["provider"].as_str(), o["method"].as_str(), o["path"].as_str()),
        (Some("openai"), Some("POST"), Some("/v1/chat/completions"))
    );
    assert_eq!(o["body"]["messages"][1]["content"], "log me");
    assert_eq!(o["status"], 200);
    assert!(o["at"].as_u64().unwrap() > 1_600_000_000_000);
    let e = &all[1];
    assert_eq!((e["provider"].as_str(), e["voice_id"].as_str()), (Some("elevenlabs"), Some(RACHEL)));
    assert_eq!(e["body"]["text"], "Log me too.");
    assert_eq!(s.log("?provider=elevenlabs").len(), 1);
    assert_eq!(s.log(&format!("?since={}", seqs[1])).len(), 1);
    assert_eq!(s.admin("DELETE", "requests", None).status, 204);
    assert!(s.log("").is_empty());
    s.chat(&user("after clear"));
    assert!(s.log("")[0]["seq"].as_u64().unwrap() > seqs[2], "sequence numbers keep growing");
}

#[test]
fn latency_delays_only_its_provider() {
    let s = Stack::start();
    let r = s.admin("POST", "latency", Some(json!({"provider": "openai", "ms": 400})));
    assert_eq!(r.status, 200);
    assert_eq!(s.admin("GET", "latency", None).json(), json!({"openai": 400, "elevenlabs": 0}));
    assert_eq!(s.stats()["openai"]["latency_ms"], 400);
    // Each log entry records the delay the request actually waited out.
    assert_eq!(s.chat(&user("slow")).status, 200);
    // Auth failures are delayed too: the gate runs before any answer.
    assert_eq!(s.req("POST", "/v1/chat/completions", &[], Some(&user("x"))).status, 401);
    assert_eq!(s.req("GET", "/v1/voices", &[("xi-api-key", ELEVEN_KEY)], None).status, 200);
    assert_eq!(s.admin("POST", "latency", Some(json!({"provider": "openai", "ms": 0}))).status, 200);
    assert_eq!(s.chat(&user("fast")).status, 200);
    let applied: Vec<(Value, Value, Value)> =
        s.log("").iter().map(|e| (e["provider"].clone(), e["status"].clone(), e["latency_ms"].clone())).collect();
    assert_eq!(
        applied,
        [
            (json!("openai"), json!(200), json!(400)),
            (json!("openai"), json!(401), json!(400)),
            (json!("elevenlabs"), json!(200), json!(0)),
            (json!("openai"), json!(200), json!(0)),
        ]
    );
}

#[test]
fn a_concurrency_cap_answers_over_limit_requests_with_429_and_stats_show_the_peak() {
    let s = Stack::start();
    s.admin("POST", "concurrency", Some(json!({"provider": "elevenlabs", "max": 2})));
    // Two requests within the cap are held open by a hang, so the overlap is a fact, not a race.
    let hang = s.fault(json!({"provider": "elevenlabs", "kind": "hang", "match": "Held", "times": null}));
    let tts = format!("/v1/text-to-speech/{RACHEL}?output_format=mp3_22050_32");
    let held: Vec<_> = (0..2)
        .map(|i| s.send_in_background(&tts, ("xi-api-key", ELEVEN_KEY.to_string()), json!({"text": format!("Held {i}.")})))
        .collect();
    s.wait_for_fault("elevenlabs", 1);
    assert_eq!(s.stats()["elevenlabs"]["in_flight"], 2);
    // Every request beyond the cap is answered at once with ElevenLabs' 429.
    for i in 0..2 {
        let r = s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": format!("Over {i}.")}));
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["detail"]["status"], "too_many_concurrent_requests");
    }
    let stats = s.stats();
    assert_eq!(stats["elevenlabs"]["max_in_flight"], 3, "two held plus one over the cap: {stats}");
    assert_eq!(stats["elevenlabs"]["in_flight"], 2);
    // Once the held requests leave, one within the cap is served.
    assert_eq!(s.admin("DELETE", "faults", None).status, 204);
    for h in held {
        assert_eq!(h.join().unwrap(), 504);
    }
    let r = s.tts(RACHEL, "?output_format=mp3_22050_32", &json!({"text": "Now there is room."}));
    assert_eq!(r.status, 200);
    assert!(is_mp3(&r.body));
    let answered: Vec<(Value, Value)> =
        s.log("?provider=elevenlabs").iter().map(|e| (e["status"].clone(), e["fault"].clone())).collect();
    assert_eq!(answered.iter().filter(|a| **a == (json!(504), json!(hang))).count(), 2);
    assert_eq!(answered[2..], [(json!(429), Value::Null), (json!(429), Value::Null), (json!(200), Value::Null)]);
    let stats = s.stats();
    assert_eq!(stats["elevenlabs"]["max_in_flight"], 3);
    assert_eq!(stats["elevenlabs"]["total"], 5);
    assert_eq!(stats["elevenlabs"]["in_flight"], 0);
    assert_eq!(stats["elevenlabs"]["max_concurrent"], 2);
}

#[test]
fn reset_clears_log_faults_latency_and_caps() {
    let s = Stack::start();
    s.fault(json!({"provider": "openai", "status": 500, "times": null}));
    s.admin("POST", "latency", Some(json!({"provider": "elevenlabs", "ms": 300})));
    s.admin("POST", "concurrency", Some(json!({"provider": "elevenlabs", "max": 1})));
    s.chat(&user("x"));
    assert_eq!(s.admin("POST", "reset", None).status, 204);
    assert!(s.log("").is_empty());
    assert_eq!(s.admin("GET", "faults", None).json(), json!({"faults": []}));
    assert_eq!(s.admin("GET", "latency", None).json(), json!({"openai": 0, "elevenlabs": 0}));
    assert!(s.admin("GET", "stats", None).json()["elevenlabs"]["max_concurrent"].is_null());
    assert_eq!(s.chat(&user("x")).status, 200);
}

#[test]
fn admin_rejects_bad_input() {
    let s = Stack::start();
    for spec in [
        json!({"provider": "azure"}),
        json!({"provider": "openai", "kind": "explode"}),
        json!({"provider": "openai", "times": -1}),
    ] {
        let r = s.admin("POST", "faults", Some(spec));
        assert_eq!(r.status, 400);
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(s.admin("POST", "latency", Some(json!({"provider": "openai"}))).status, 400);
    assert_eq!(s.admin("DELETE", "faults/999", None).status, 404);
    let id = s.fault(json!({"provider": "openai"}));
    assert_eq!(s.admin("DELETE", &format!("faults/{id}"), None).status, 204);
    assert_eq!(s.chat(&user("x")).status, 200);
}
