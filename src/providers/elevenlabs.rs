//! ElevenLabs text-to-speech: sends what `core::tts` built and classifies failures with it.

use crate::core::tts::{classify_error, TtsError};
use crate::settings::AudioSettings;
use futures::future::{select, Either};
use serde_json::Value;
use std::time::Duration;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};

/// The audio bytes of one clip (not yet checked to be MP3: the caller parses them).
pub async fn synthesize(settings: &AudioSettings, url: &str, body: &Value) -> Result<Vec<u8>, TtsError> {
    let headers = Headers::new();
    let bad = |e: worker::Error| TtsError::Permanent { code: "tts_request".into(), message: e.to_string() };
    headers.set("xi-api-key", &settings.elevenlabs_api_key).map_err(bad)?;
    headers.set("Content-Type", "application/json").map_err(bad)?;
    headers.set("Accept", "audio/mpeg").map_err(bad)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.to_string().into()));
    let req = Request::new_with_init(url, &init).map_err(bad)?;

    // Fetch has no timeout of its own; a hung provider must not hold the consumer.
    let call = Box::pin(async move {
        let mut resp = Fetch::Request(req).send().await.map_err(|e| TtsError::transient(format!("ElevenLabs unreachable: {e}")))?;
        let status = resp.status_code();
        if (200..300).contains(&status) {
            return resp.bytes().await.map_err(|e| TtsError::transient(format!("ElevenLabs audio cut off: {e}")));
        }
        let retry_after = resp.headers().get("Retry-After").ok().flatten();
        let text = resp.text().await.unwrap_or_default();
        Err(classify_error(status, retry_after.as_deref(), &text))
    });
    let timeout = Delay::from(Duration::from_secs(settings.tts_timeout_secs));
    match select(call, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(TtsError::transient(format!("ElevenLabs did not answer within {} s", settings.tts_timeout_secs))),
    }
}
