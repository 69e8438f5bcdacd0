//! OpenAI chat completions: sends a body that `core::llm` built and hands the answer back to
//! `core::llm::classify`, which decides between success, retry and failure.

use crate::core::llm::{classify, Completion, LlmError};
use crate::settings::JobSettings;
use futures::future::{select, Either};
use serde_json::Value;
use std::time::Duration;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};

pub async fn chat(settings: &JobSettings, body: &Value) -> Result<Completion, LlmError> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| LlmError::Permanent(e.to_string()));
    set("Authorization", &format!("Bearer {}", settings.openai_api_key))?;
    set("Content-Type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.to_string().into()));
    let url = format!("{}/chat/completions", settings.openai_base_url);
    let req = Request::new_with_init(&url, &init).map_err(|e| LlmError::Permanent(format!("bad OpenAI URL: {e}")))?;

    // Fetch has no timeout of its own; a hung provider must not hold the consumer.
    let call = Box::pin(async move {
        let mut resp = Fetch::Request(req).send().await.map_err(|e| LlmError::transient(format!("OpenAI unreachable: {e}")))?;
        let retry_after = resp.headers().get("Retry-After").ok().flatten();
        let text = resp.text().await.map_err(|e| LlmError::transient(format!("OpenAI answer cut off: {e}")))?;
        classify(resp.status_code(), retry_after.as_deref(), &text)
    });
    let timeout = Delay::from(Duration::from_secs(settings.llm_timeout_secs));
    match select(call, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(LlmError::transient(format!("OpenAI did not answer within {} s", settings.llm_timeout_secs))),
    }
}
