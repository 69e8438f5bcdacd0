//! ElevenLabs text-to-speech: sends what `core::tts` built and classifies failures with it.

use crate::core::provider_text::Kind;
use crate::core::tts::{classify_error, TtsError};
use crate::platform::{fetch_within, FetchFailure, Subrequests};
use crate::settings::AudioSettings;
use serde_json::Value;
use std::time::Duration;
use worker::{Headers, Method, Request, RequestInit};

/// The audio bytes of one clip (not yet checked to be MP3: the caller parses them).
pub async fn synthesize(settings: &AudioSettings, url: &str, body: &Value, counter: &Subrequests) -> Result<Vec<u8>, TtsError> {
    let headers = Headers::new();
    let bad = |e: worker::Error| TtsError::Permanent { code: "tts_request".into(), message: e.to_string() };
    headers.set("xi-api-key", &settings.elevenlabs_api_key).map_err(bad)?;
    headers.set("Content-Type", "application/json").map_err(bad)?;
    headers.set("Accept", "audio/mpeg").map_err(bad)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.to_string().into()));
    let req = Request::new_with_init(url, &init).map_err(bad)?;

    let secs = settings.tts_timeout_secs;
    match fetch_within(req, Duration::from_secs(secs), counter).await {
        Ok(r) if (200..300).contains(&r.status) => Ok(r.body),
        Ok(r) => Err(classify_error(r.status, r.retry_after.as_deref(), &String::from_utf8_lossy(&r.body))),
        Err(FetchFailure::TimedOut) => Err(TtsError::no_answer(Kind::TimedOut { secs }, format!("no answer within {secs} s"))),
        Err(FetchFailure::Failed(e)) => Err(TtsError::no_answer(Kind::Unreachable, format!("fetch failed: {e}"))),
    }
}
