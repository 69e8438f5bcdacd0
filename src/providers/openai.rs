//! OpenAI chat completions: sends a body that `core::llm` built and hands the answer back to
//! `core::llm::classify`, which decides between success, retry and failure.

use crate::core::llm::{classify, Completion, LlmError};
use crate::core::provider_text::Kind;
use crate::platform::{fetch_within, FetchFailure, Subrequests};
use crate::settings::JobSettings;
use serde_json::Value;
use std::time::Duration;
use worker::{Headers, Method, Request, RequestInit};

pub async fn chat(settings: &JobSettings, body: &Value, counter: &Subrequests) -> Result<Completion, LlmError> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| LlmError::local(format!("a request header could not be set: {e}")));
    set("Authorization", &format!("Bearer {}", settings.openai_api_key))?;
    set("Content-Type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.to_string().into()));
    let url = format!("{}/chat/completions", settings.openai_base_url);
    let req = Request::new_with_init(&url, &init).map_err(|e| LlmError::local(format!("bad OpenAI URL: {e}")))?;

    let secs = settings.llm_timeout_secs;
    match fetch_within(req, Duration::from_secs(secs), counter).await {
        Ok(r) => classify(r.status, r.retry_after.as_deref(), &String::from_utf8_lossy(&r.body)),
        Err(FetchFailure::TimedOut) => Err(LlmError::no_answer(Kind::TimedOut { secs }, format!("no answer within {secs} s"))),
        Err(FetchFailure::Failed(e)) => Err(LlmError::no_answer(Kind::Unreachable, format!("fetch failed: {e}"))),
    }
}
