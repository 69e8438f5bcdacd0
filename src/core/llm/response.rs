//! Turning a chat-completions HTTP answer into a usable completion or an error whose kind
//! decides what the job does next: retry the call now (bad answer), retry later (transient),
//! or give up on the chapter (permanent).

use crate::core::provider_text::{clip, code_part, parse_retry_after, Kind, Provider, ProviderFailure};
use crate::core::script::{self, Script};
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: String,
    /// The model that answered, as OpenAI names it (often a dated snapshot); empty when absent.
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LlmError {
    /// The answer can't be used (cut off, refused, empty, not JSON, fails the schema): asking
    /// again may well give a good one, a few times.
    BadAnswer(String),
    /// The service is busy or failing, or the network is: try again later, after
    /// `retry_after_secs` when the service said so.
    Transient { failure: ProviderFailure, retry_after_secs: Option<u32> },
    /// The request itself is refused (bad key, bad model, bad request, no quota), or could not
    /// be made: retrying the same request cannot help.
    Permanent(ProviderFailure),
}

impl LlmError {
    /// For timeouts and network failures, which the caller observes before any status exists.
    pub fn no_answer(kind: Kind, detail: impl Into<String>) -> Self {
        LlmError::Transient { failure: ProviderFailure::without_answer(Provider::OpenAi, kind, detail), retry_after_secs: None }
    }

    /// A request that could not be made at all (a bad URL or header): nothing was sent.
    pub fn local(detail: impl Into<String>) -> Self {
        LlmError::Permanent(ProviderFailure::without_answer(Provider::OpenAi, Kind::Local, detail))
    }

    /// The `code` of the chapter's or task's `{code, message}` error.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::BadAnswer(_) => "bad_llm_answer",
            LlmError::Transient { .. } => "llm_unavailable",
            LlmError::Permanent(_) => "llm_rejected",
        }
    }

    /// The `message` of that error, for a person: short and plain, never the provider's own
    /// text (see `provider_text`). `retries`: how often the job tried again before this.
    pub fn message(&self, retries: u32) -> String {
        match self {
            LlmError::BadAnswer(r) => format!("The language model's answer could not be used: {r}"),
            LlmError::Transient { failure, .. } => failure.user_message(retries),
            LlmError::Permanent(failure) => failure.user_message(0),
        }
    }

    /// What went wrong in full, for logs: the provider's text (redacted) or the bad answer.
    pub fn reason(&self) -> &str {
        match self {
            LlmError::BadAnswer(r) => r,
            LlmError::Transient { failure, .. } | LlmError::Permanent(failure) => &failure.detail,
        }
    }

    /// The provider's side of the failure, when there is one (not for unusable answers).
    pub fn provider_failure(&self) -> Option<&ProviderFailure> {
        match self {
            LlmError::BadAnswer(_) => None,
            LlmError::Transient { failure, .. } | LlmError::Permanent(failure) => Some(failure),
        }
    }

    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            LlmError::Transient { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        }
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.reason())
    }
}

impl std::error::Error for LlmError {}

/// Classifies an HTTP answer from chat completions. `retry_after` is the `Retry-After` header.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> Result<Completion, LlmError> {
    match status {
        200..=299 => completion(body),
        _ => {
            let err = ApiError::from_body(body);
            // OpenAI answers 429 for an exhausted balance too; waiting does not refill it.
            let kind = if err.is("insufficient_quota") { Kind::OutOfQuota } else { Kind::of_status(status) };
            let failure = err.failure(status, kind);
            if kind.is_transient() {
                Err(LlmError::Transient { failure, retry_after_secs: parse_retry_after(retry_after) })
            } else {
                Err(LlmError::Permanent(failure))
            }
        }
    }
}

fn completion(body: &str) -> Result<Completion, LlmError> {
    let bad = |r: &str| LlmError::BadAnswer(r.to_string());
    let v: Value = serde_json::from_str(body).map_err(|_| bad("the response body is not JSON"))?;
    let choice = v.get("choices").and_then(|c| c.get(0)).ok_or_else(|| bad("the response has no choices"))?;
    let message = choice.get("message").ok_or_else(|| bad("the response has no message"))?;
    match message.get("refusal") {
        None | Some(Value::Null) => {}
        Some(Value::String(r)) => {
            return Err(LlmError::BadAnswer(format!("the model refused: {}", clip(&redact(r), 200))))
        }
        Some(_) => return Err(bad("the model refused")),
    }
    match choice.get("finish_reason").and_then(Value::as_str) {
        Some("stop") => {}
        Some("length") => return Err(bad("the answer was cut off at the token limit (finish_reason \"length\")")),
        Some("content_filter") => return Err(bad("the answer was withheld by the content filter")),
        Some(other) => return Err(LlmError::BadAnswer(format!("unexpected finish_reason \"{}\"", clip(other, 40)))),
        None => return Err(bad("the answer has no finish_reason")),
    }
    let content = match message.get("content") {
        Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
        Some(Value::String(_)) => return Err(bad("the answer's content is empty")),
        _ => return Err(bad("the answer has no content")),
    };
    let usage = v.get("usage");
    let tokens = |k: &str| {
        usage.and_then(|u| u.get(k)).and_then(Value::as_u64).map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Ok(Completion {
        content,
        model: v.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
    })
}

/// The chapter script in a completion; a script that fails the checks is a bad answer.
pub fn parse_script(c: &Completion) -> Result<Script, LlmError> {
    script::parse(&c.content).map_err(LlmError::BadAnswer)
}

/// The chapter summary in a completion, trimmed.
pub fn parse_summary(c: &Completion) -> Result<String, LlmError> {
    let s = c.content.trim();
    if s.is_empty() {
        return Err(LlmError::BadAnswer("the summary is empty".into()));
    }
    Ok(s.to_string())
}

/// OpenAI's error body `{"error": {"message", "type", "code", "param"}}`, or whatever else a
/// gateway in between answered.
struct ApiError {
    message: String,
    code: Option<String>,
    kind: Option<String>,
}

impl ApiError {
    fn from_body(body: &str) -> Self {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        let field = |k: &str| err.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_string);
        match err.and_then(|e| e.get("message")).and_then(Value::as_str) {
            Some(m) => ApiError { message: m.to_string(), code: field("code"), kind: field("type") },
            None => {
                let collapsed = body.split_whitespace().collect::<Vec<_>>().join(" ");
                let message = if collapsed.is_empty() { "(empty body)".to_string() } else { collapsed };
                ApiError { message, code: field("code"), kind: field("type") }
            }
        }
    }

    fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code) || self.kind.as_deref() == Some(code)
    }

    /// OpenAI's code and its message with anything key-like removed (OpenAI echoes a masked
    /// key in 401 messages); the message is for logs only.
    fn failure(&self, status: u16, kind: Kind) -> ProviderFailure {
        ProviderFailure {
            provider: Provider::OpenAi,
            kind,
            status: Some(status),
            code: self.code.as_deref().and_then(code_part),
            detail: clip(&redact(&self.message), 300),
        }
    }
}

/// Replaces OpenAI-style secret keys (`sk-...`) and bearer tokens with `[redacted]`.
fn redact(s: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*');
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let sk = find_word(rest, "sk-").map(|i| (i, i));
        let bearer = find_word(rest, "Bearer ").map(|i| (i, i + "Bearer ".len()));
        let Some((_, token_start)) = [sk, bearer].into_iter().flatten().min() else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..token_start]);
        let after = &rest[token_start..];
        let end = after.find(|c: char| !is_key_char(c)).unwrap_or(after.len());
        out.push_str("[redacted]");
        rest = &after[end..];
    }
}

/// The first occurrence of `needle` that starts a word.
fn find_word(hay: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let at = from + i;
        let starts_word =
            hay[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
        if starts_word {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok_body(content: Value, finish: &str, refusal: Value) -> String {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish
            }],
            "usage": {"prompt_tokens": 1234, "completion_tokens": 567, "total_tokens": 1801,
                      "prompt_tokens_details": {"cached_tokens": 0}}
        })
        .to_string()
    }

    fn script_json() -> String {
        json!({"title": "T", "lines": [{"speaker": "Narrator", "text": "Once.", "direction": null}], "characters": []})
            .to_string()
    }

    fn bad_reason(r: Result<Completion, LlmError>) -> String {
        match r {
            Err(LlmError::BadAnswer(reason)) => reason,
            other => panic!("expected BadAnswer, got {other:?}"),
        }
    }

    #[test]
    fn success_reads_content_model_and_usage() {
        let c = classify(200, None, &ok_body(json!(script_json()), "stop", Value::Null)).unwrap();
        assert_eq!(
            c,
            Completion {
                content: script_json(),
                model: "gpt-4o-mini-2024-07-18".into(),
                prompt_tokens: 1234,
                completion_tokens: 567
            }
        );
        assert_eq!(parse_script(&c).unwrap().lines[0].text, "Once.");
    }

    #[test]
    fn missing_usage_and_model_are_zero_and_empty() {
        let body = json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}).to_string();
        let c = classify(200, None, &body).unwrap();
        assert_eq!((c.prompt_tokens, c.completion_tokens, c.model.as_str()), (0, 0, ""));
        let huge = json!({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 1u64 << 40, "completion_tokens": "7"}})
        .to_string();
        let c = classify(200, None, &huge).unwrap();
        assert_eq!((c.prompt_tokens, c.completion_tokens), (u32::MAX, 0));
    }

    #[test]
    fn cut_off_answer_is_bad() {
        let r = bad_reason(classify(200, None, &ok_body(json!("{\"title\": \"T\", \"li"), "length", Value::Null)));
        assert!(r.contains("length"), "{r}");
        let r = bad_reason(classify(200, None, &ok_body(json!("x"), "content_filter", Value::Null)));
        assert!(r.contains("content filter"), "{r}");
        let r = bad_reason(classify(200, None, &ok_body(json!("x"), "tool_calls", Value::Null)));
        assert!(r.contains("tool_calls"), "{r}");
    }

    #[test]
    fn refusal_is_bad() {
        let r = bad_reason(classify(200, None, &ok_body(Value::Null, "stop", json!("I can't help with that."))));
        assert_eq!(r, "the model refused: I can't help with that.");
    }

    #[test]
    fn empty_or_missing_content_is_bad() {
        assert_eq!(
            bad_reason(classify(200, None, &ok_body(json!(""), "stop", Value::Null))),
            "the answer's content is empty"
        );
        assert_eq!(
            bad_reason(classify(200, None, &ok_body(json!("  \n"), "stop", Value::Null))),
            "the answer's content is empty"
        );
        assert_eq!(
            bad_reason(classify(200, None, &ok_body(Value::Null, "stop", Value::Null))),
            "the answer has no content"
        );
        assert_eq!(bad_reason(classify(200, None, r#"{"choices": []}"#)), "the response has no choices");
        assert_eq!(bad_reason(classify(200, None, r#"{"object": "chat.completion"}"#)), "the response has no choices");
    }

    #[test]
    fn non_json_2xx_body_is_bad() {
        assert_eq!(bad_reason(classify(200, None, "<html>oops</html>")), "the response body is not JSON");
        assert_eq!(bad_reason(classify(200, None, "")), "the response body is not JSON");
        assert_eq!(bad_reason(classify(201, None, "{\"choices\": [")), "the response body is not JSON");
    }

    #[test]
    fn rate_limit_is_transient_with_retry_after() {
        let body = json!({"error": {"message": "Rate limit reached for gpt-4o-mini.", "type": "requests", "code": "rate_limit_exceeded"}}).to_string();
        let e = classify(429, Some("7"), &body).unwrap_err();
        let LlmError::Transient { failure, retry_after_secs: Some(7) } = &e else { panic!("{e:?}") };
        assert_eq!((failure.kind, failure.status, failure.code.as_deref()), (Kind::RateLimited, Some(429), Some("rate_limit_exceeded")));
        assert_eq!(e.reason(), "Rate limit reached for gpt-4o-mini.");
        assert_eq!(e.message(4), "OpenAI is rate limiting (HTTP 429, rate_limit_exceeded); the job retried 4 times; try again later.");
        assert_eq!(e.code(), "llm_unavailable");
        assert_eq!(e.retry_after_secs(), Some(7));
        assert_eq!(classify(429, None, &body).unwrap_err().retry_after_secs(), None);
        assert!(matches!(classify(429, None, "").unwrap_err(), LlmError::Transient { retry_after_secs: None, .. }));
        assert_eq!(classify(429, Some(" 1.2 "), &body).unwrap_err().retry_after_secs(), Some(2));
        assert_eq!(classify(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), &body).unwrap_err().retry_after_secs(), None);
        assert_eq!(classify(429, Some("-3"), &body).unwrap_err().retry_after_secs(), None);
        assert_eq!(classify(429, Some("99999999999"), &body).unwrap_err().retry_after_secs(), Some(u32::MAX));
    }

    #[test]
    fn exhausted_quota_is_permanent() {
        let body =
            json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                                    "type": "insufficient_quota", "code": "insufficient_quota"}})
            .to_string();
        let e = classify(429, Some("1"), &body).unwrap_err();
        assert!(matches!(&e, LlmError::Permanent(f) if f.kind == Kind::OutOfQuota && f.detail.contains("exceeded your current quota")), "{e:?}");
        assert_eq!(e.code(), "llm_rejected");
        assert!(!e.message(0).contains("exceeded your current quota"), "the provider's text stays in the logs");
    }

    #[test]
    fn server_errors_timeouts_and_conflicts_are_transient() {
        for status in [500, 502, 503, 504, 408, 409, 520, 529] {
            let e = classify(status, None, "upstream connect error").unwrap_err();
            match e {
                LlmError::Transient { failure, retry_after_secs: None } => {
                    assert_eq!((failure.kind, failure.status, failure.detail.as_str()), (Kind::Failing, Some(status), "upstream connect error"))
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        assert_eq!(classify(503, Some("30"), "").unwrap_err().retry_after_secs(), Some(30));
        let e = classify(500, None, "<html>\n  <body>Bad   gateway</body>\n</html>").unwrap_err();
        assert_eq!(e.reason(), "<html> <body>Bad gateway</body> </html>");
        assert_eq!(e.message(2), "OpenAI is failing (HTTP 500); the job retried 2 times; try again later.");
        assert_eq!(classify(502, None, "").unwrap_err().reason(), "(empty body)");
    }

    #[test]
    fn unauthorized_is_permanent_without_the_key() {
        let body = json!({"error": {
            "message": "Incorrect API key provided: sk-proj-abc123********************************wxyz. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
        .to_string();
        let e = classify(401, None, &body).unwrap_err();
        let LlmError::Permanent(failure) = &e else { panic!("{e:?}") };
        assert_eq!(
            failure.detail,
            "Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys."
        );
        assert_eq!(failure.kind, Kind::BadKey);
        assert_eq!(e.code(), "llm_rejected");
        assert_eq!(e.message(0), "OpenAI refused the request (HTTP 401, invalid_api_key): check OPENAI_API_KEY.");
    }

    #[test]
    fn other_client_errors_are_permanent() {
        let body = json!({"error": {"message": "Invalid schema for response_format 'chapter_script': In context=(), 'required' is required.",
                                    "type": "invalid_request_error", "param": "response_format", "code": null}})
        .to_string();
        let e = classify(400, None, &body).unwrap_err();
        assert_eq!(
            e,
            LlmError::Permanent(ProviderFailure {
                provider: Provider::OpenAi,
                kind: Kind::Refused,
                status: Some(400),
                code: None,
                detail: "Invalid schema for response_format 'chapter_script': In context=(), 'required' is required.".into(),
            })
        );
        assert_eq!(e.message(0), "OpenAI refused the request (HTTP 400); the service's log has OpenAI's reason.");
        assert!(matches!(classify(404, None, "{}").unwrap_err(), LlmError::Permanent(f) if f.kind == Kind::NotFound));
        for status in [403, 404, 413, 422] {
            assert!(matches!(classify(status, Some("5"), "{}").unwrap_err(), LlmError::Permanent(_)), "{status}");
        }
        assert!(matches!(classify(302, None, "").unwrap_err(), LlmError::Permanent(_)));
    }

    #[test]
    fn long_error_messages_are_clipped() {
        let body = json!({"error": {"message": "x".repeat(5000)}}).to_string();
        let r = classify(400, None, &body).unwrap_err().reason().to_string();
        assert!(r.chars().count() <= 301 && r.ends_with('…'), "{}", r.len());
    }

    #[test]
    fn redaction_covers_keys_and_bearer_tokens_only() {
        assert_eq!(redact("key sk-abc_DEF-123 was bad"), "key [redacted] was bad");
        assert_eq!(redact("(sk-x) and sk-y."), "([redacted]) and [redacted].");
        assert_eq!(redact("Authorization: Bearer tc_secret-token, then"), "Authorization: Bearer [redacted], then");
        assert_eq!(redact("task-sk-note and risk-free desk-top"), "task-sk-note and risk-free desk-top");
        assert_eq!(redact("no secrets here"), "no secrets here");
    }

    #[test]
    fn parse_script_failure_is_bad_answer() {
        let c = Completion {
            content: r#"{"title": "T", "lines": []}"#.into(),
            model: "m".into(),
            prompt_tokens: 1,
            completion_tokens: 1,
        };
        let e = parse_script(&c).unwrap_err();
        assert!(matches!(&e, LlmError::BadAnswer(r) if r.contains("missing field `characters`")), "{e:?}");
        assert_eq!(e.code(), "bad_llm_answer");
        let c = Completion { content: r#"{"title": "T", "lines": [], "characters": []}"#.into(), ..c };
        assert_eq!(parse_script(&c).unwrap_err(), LlmError::BadAnswer("the script has no lines".into()));
        let c = Completion { content: "Sure! Here's the script.".into(), ..c };
        assert!(
            matches!(parse_script(&c).unwrap_err(), LlmError::BadAnswer(r) if r.starts_with("the answer is not JSON"))
        );
    }

    #[test]
    fn summary_is_trimmed_and_must_not_be_blank() {
        let c = Completion {
            content: "\n  Mira finds the lamp dark.  \n".into(),
            model: "m".into(),
            prompt_tokens: 0,
            completion_tokens: 0,
        };
        assert_eq!(parse_summary(&c).unwrap(), "Mira finds the lamp dark.");
        let blank = Completion { content: " \t\n".into(), ..c };
        assert_eq!(parse_summary(&blank).unwrap_err(), LlmError::BadAnswer("the summary is empty".into()));
    }

    #[test]
    fn error_codes_and_messages() {
        let b = LlmError::BadAnswer("the script has no lines".into());
        assert_eq!(b.code(), "bad_llm_answer");
        assert_eq!(b.message(3), "The language model's answer could not be used: the script has no lines");
        assert!(b.provider_failure().is_none());
        let t = LlmError::no_answer(Kind::TimedOut { secs: 60 }, "no answer within 60 s");
        assert_eq!(t.code(), "llm_unavailable");
        assert_eq!(t.message(2), "OpenAI did not answer within 60 s; the job retried 2 times; try again later.");
        assert_eq!(t.to_string(), "llm_unavailable: no answer within 60 s");
        let l = LlmError::local("bad OpenAI URL: relative URL without a base");
        assert_eq!((l.code(), l.message(0).as_str()), ("llm_rejected", "The request to OpenAI could not be made; the service's log has the reason."));
    }
}
