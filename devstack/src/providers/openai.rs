//! `POST /v1/chat/completions`: validates the request as OpenAI does for the parts talecast
//! uses, then answers deterministically from (model, messages, response_format):
//! - `json_schema`: a schema-valid document. For the Worker's chapter script that is a
//!   realistic chapter (40–80 lines, 3–6 speakers with the Narrator, 40–300 characters a line;
//!   see `schema_fill`), or exactly N lines while `POST /__admin/script {"lines": N}` is set.
//! - The enhance pass (schema `enhanced_chapter_script`, or a prompt carrying "The draft script
//!   of chapter N (JSON):" as `src/core/llm/prompts.rs` builds it): the draft's speakers, line by
//!   line, and its line count and title, with new words.
//! - `json_object`: a small JSON object.
//! - Plain text: "Summary: " and 2–4 sentences naming every character of the transcript the
//!   Worker's summary prompt carries ("The chapter's script:" then `Speaker (direction): text`
//!   lines), then a `[s-xxxxxx]` tag that lets tests trace a summary into later prompts.
// An early answer travels as the Err of a Result; it is returned at once, so its size is moot.
#![allow(clippy::result_large_err)]
use super::faults::Kind;
use super::gate::raw;
use super::rng::{sha256_hex, Rng};
use super::schema_fill::{Draft, Plan};
use super::{prose, schema_check, schema_fill, App, Provider};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub async fn chat_completions(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut adm = app.admit(Provider::Openai, &method, &uri, &headers, &body, None).await;
    let resp = match adm.early.take() {
        Some(r) => r,
        None => complete(&body, app.knobs.script_lines()),
    };
    app.finish(adm, resp)
}

enum Output {
    Text,
    JsonObject,
    JsonSchema { name: String, schema: Value },
}

/// What the Worker's prompts put before a draft (enhance) and a transcript (summary).
const DRAFT_MARKER: &str = "The draft script of chapter";
const ENHANCE_SCHEMA: &str = "enhanced_chapter_script";
const TRANSCRIPT_MARKER: &str = "The chapter's script:\n";

struct Request {
    model: String,
    /// Every message's text, in order.
    prompt: String,
    output: Output,
    /// Canonical JSON of what determines the answer.
    seed: String,
}

/// `forced_lines`: the `/__admin/script` knob, the line count every script must have.
fn complete(body: &[u8], forced_lines: Option<usize>) -> Response {
    let req = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let hash = sha256_hex(req.seed.as_bytes());
    let mut rng = Rng::from_bytes(req.seed.as_bytes());
    let content = match &req.output {
        Output::Text => {
            let names = transcript_characters(&req.prompt);
            format!("Summary: {} [s-{}]", prose::summary(&mut rng, &names), &hash[..6])
        }
        Output::JsonObject => {
            json!({"result": prose::sentences(&mut rng, 2, 3), "tag": format!("j-{}", &hash[..6])}).to_string()
        }
        Output::JsonSchema { name, schema } => match schema_fill::fill_with(
            schema,
            req.seed.as_bytes(),
            &Plan { lines: forced_lines, draft: draft(name, &req.prompt) },
        ) {
            Ok(v) => v.to_string(),
            Err(e) => {
                return invalid(
                    &format!("Invalid schema for response_format '{name}': {e}."),
                    Some("response_format"),
                    None,
                )
            }
        },
    };
    Json(envelope(&hash, &req.model, &content, req.prompt.chars().count())).into_response()
}

/// The draft an enhance request carries, if this is one and the draft is a readable script.
fn draft(schema_name: &str, prompt: &str) -> Option<Draft> {
    let at = prompt.find(DRAFT_MARKER);
    if at.is_none() && schema_name != ENHANCE_SCHEMA {
        return None;
    }
    let from = at.unwrap_or(0);
    let json_at = from + prompt[from..].find("(JSON):")? + "(JSON):".len();
    // The draft is followed by more prose: read exactly one JSON value.
    let v: Value = serde_json::Deserializer::from_str(prompt[json_at..].trim_start()).into_iter().next()?.ok()?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(|s| s.trim().to_string());
    let speakers: Vec<String> =
        v.get("lines")?.as_array()?.iter().filter_map(|l| text(l, "speaker")).filter(|s| !s.is_empty()).collect();
    if speakers.is_empty() {
        return None;
    }
    let characters = v
        .get("characters")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| text(c, "name")).filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    Some(Draft { title: text(&v, "title").unwrap_or_default(), speakers, characters })
}

/// The characters (not the Narrator) of the transcript in a summary prompt, in order of
/// first appearance; empty when the prompt carries none.
fn transcript_characters(prompt: &str) -> Vec<String> {
    let Some(at) = prompt.find(TRANSCRIPT_MARKER) else { return Vec::new() };
    let mut names: Vec<String> = Vec::new();
    for line in prompt[at + TRANSCRIPT_MARKER.len()..].lines() {
        let Some((label, _)) = line.split_once(": ") else { continue };
        // "Speaker (direction)" or "Speaker".
        let name = label.split_once(" (").map_or(label, |(n, _)| n).trim();
        if name.is_empty() || name.eq_ignore_ascii_case("narrator") || name.chars().count() > 200 {
            continue;
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

fn envelope(hash: &str, model: &str, content: &str, prompt_chars: usize) -> Value {
    let prompt_tokens = prompt_chars.div_ceil(4);
    let completion_tokens = content.chars().count().div_ceil(4);
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    json!({
        "id": format!("chatcmpl-{}", &hash[..24]),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_devstack",
    })
}

fn parse(body: &[u8]) -> Result<Request, Response> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        invalid("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", None, None)
    })?;
    let obj = v.as_object().ok_or_else(|| invalid("The request body must be a JSON object.", None, None))?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        None | Some(Value::Null) => return Err(invalid("you must provide a model parameter", None, None)),
        Some(_) => {
            return Err(invalid("Invalid type for 'model': expected a string.", Some("model"), Some("invalid_type")))
        }
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err(invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        )),
        None | Some(Value::Null) => {
            return Err(invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ))
        }
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'messages': expected an array of objects.",
                Some("messages"),
                Some("invalid_type"),
            ))
        }
    };
    let mut prompt = String::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        if !matches!(role, Some("system" | "user" | "assistant" | "developer" | "tool" | "function")) {
            let got = m.get("role").map(Value::to_string).unwrap_or_else(|| "missing".into());
            return Err(invalid(
                &format!("Invalid value: {got}. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
        prompt.push_str(&content_text(m.get("content")).ok_or_else(|| {
            invalid(
                &format!("Invalid type for 'messages[{i}].content': expected a string or an array of content parts."),
                Some(&format!("messages[{i}].content")),
                Some("invalid_type"),
            )
        })?);
    }
    if let Some(t) = obj.get("temperature").filter(|t| !t.is_null()) {
        match t.as_f64() {
            Some(x) if (0.0..=2.0).contains(&x) => {}
            Some(x) if x > 2.0 => return Err(invalid(
                &format!(
                    "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got {x} instead."
                ),
                Some("temperature"),
                Some("decimal_above_max_value"),
            )),
            Some(x) => return Err(invalid(
                &format!(
                    "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got {x} instead."
                ),
                Some("temperature"),
                Some("decimal_below_min_value"),
            )),
            None => {
                return Err(invalid(
                    "Invalid type for 'temperature': expected a decimal.",
                    Some("temperature"),
                    Some("invalid_type"),
                ))
            }
        }
    }
    let rf = obj.get("response_format").filter(|r| !r.is_null());
    let output = parse_response_format(rf, &prompt)?;
    // Only what determines the answer goes into the seed: temperature, ids and the like don't.
    let seed = canonical(&json!({"model": model, "messages": messages, "response_format": rf}));
    Ok(Request { model, prompt, output, seed })
}

fn parse_response_format(rf: Option<&Value>, prompt: &str) -> Result<Output, Response> {
    let Some(rf) = rf else { return Ok(Output::Text) };
    let param = Some("response_format");
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Output::Text),
        Some("json_object") => {
            if !prompt.to_lowercase().contains("json") {
                return Err(invalid("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", Some("messages"), None));
            }
            Ok(Output::JsonObject)
        }
        Some("json_schema") => {
            let js = rf.get("json_schema").and_then(Value::as_object).ok_or_else(|| {
                invalid(
                    "Missing required parameter: 'response_format.json_schema'.",
                    Some("response_format.json_schema"),
                    Some("missing_required_parameter"),
                )
            })?;
            let name = js.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid(
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    Some("response_format.json_schema.name"),
                    Some("missing_required_parameter"),
                )
            })?;
            if name.is_empty()
                || name.len() > 64
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(&format!("Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters, but got '{name}'."), Some("response_format.json_schema.name"), Some("invalid_value")));
            }
            let schema = js.get("schema").filter(|s| s.is_object()).cloned().ok_or_else(|| {
                invalid(
                    &format!("Invalid schema for response_format '{name}': schema must be a JSON object."),
                    param,
                    None,
                )
            })?;
            schema_check::check_refs(name, &schema).map_err(|m| invalid(&m, param, None))?;
            if js.get("strict") == Some(&Value::Bool(true)) {
                schema_check::check_strict(name, &schema).map_err(|m| invalid(&m, param, None))?;
            }
            Ok(Output::JsonSchema { name: name.to_string(), schema })
        }
        other => Err(invalid(
            &format!(
                "Invalid value: {}. Supported values are: 'json_object', 'json_schema', and 'text'.",
                other.map_or("missing".into(), |o| format!("'{o}'"))
            ),
            Some("response_format.type"),
            Some("invalid_value"),
        )),
    }
}

/// Message text: a string, an array of `{type:"text", text}` parts, or null (assistant tool calls).
fn content_text(content: Option<&Value>) -> Option<String> {
    match content {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => {
            parts.iter().map(|p| p.get("text").and_then(Value::as_str)).collect::<Option<Vec<_>>>().map(|v| v.concat())
        }
        Some(_) => None,
    }
}

/// JSON with object keys sorted, so the seed does not depend on the client's key order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[k.as_str()]))).collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}})),
    )
        .into_response()
}

/// Answers for the broken-body faults.
pub fn broken_response(kind: Kind, request: &[u8]) -> Response {
    let parsed: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    let model = parsed.get("model").and_then(Value::as_str).unwrap_or("gpt-4o-mini");
    let hash = sha256_hex(request);
    match kind {
        Kind::MalformedContent => Json(envelope(&hash, model, "{\"title\": \"The Unfinished", 0)).into_response(),
        Kind::Empty => Json(envelope(&hash, model, "", 0)).into_response(),
        // A response cut off mid-stream: JSON that never closes.
        _ => raw("application/json", format!("{{\"id\":\"chatcmpl-{}\",\"object\":\"chat.completion\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{{\\\"title\\\": \\\"The", &hash[..24]).into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(r: Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let b = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    #[test]
    fn canonical_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[1,{"d":0,"c":1}]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":[1,{"c":1,"d":0}],"y":2},"b":1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
    }

    #[tokio::test]
    async fn validation_errors_have_openai_shape() {
        for (body, param) in [
            (json!({"messages":[{"role":"user","content":"hi"}]}), Value::Null),
            (json!({"model":"m","messages":[]}), json!("messages")),
            (json!({"model":"m","messages":[{"role":"wizard","content":"hi"}]}), json!("messages[0].role")),
            (json!({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":3}), json!("temperature")),
            (
                json!({"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}),
                json!("messages"),
            ),
            (
                json!({"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}}}}}}),
                json!("response_format"),
            ),
        ] {
            let (status, v) = body_json(complete(body.to_string().as_bytes(), None)).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(v["error"]["type"], "invalid_request_error");
            assert_eq!(v["error"]["param"], param, "{v}");
        }
        let (status, _) = body_json(complete(b"{nope", None)).await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn content_parts_and_json_object() {
        let body = json!({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Reply in JSON"}]}],"response_format":{"type":"json_object"}});
        let (status, v) = body_json(complete(body.to_string().as_bytes(), None)).await;
        assert_eq!(status, 200);
        let content: Value = serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        assert!(content["result"].is_string());
        assert_eq!(v["usage"]["prompt_tokens"], 4); // 13 chars
    }

    #[tokio::test]
    async fn broken_bodies() {
        let r = broken_response(Kind::Malformed, br#"{"model":"x"}"#);
        let b = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
        assert!(serde_json::from_slice::<Value>(&b).is_err());
        let (_, v) = body_json(broken_response(Kind::MalformedContent, b"{}")).await;
        assert!(serde_json::from_str::<Value>(v["choices"][0]["message"]["content"].as_str().unwrap()).is_err());
    }
}
