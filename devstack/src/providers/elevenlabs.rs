//! `POST /v1/text-to-speech/{voice_id}` (and `/stream`, identical here) and `GET /v1/voices`.
//! Validates the request as ElevenLabs does for the parts talecast uses and answers with a real
//! MP3 of the text in the requested format. Besides ElevenLabs' own headers, a clip's answer
//! carries `x-standin-engine: espeak-ng|tone` (also in its request-log entry as `engine`), so a
//! test can tell real speech from the tone that stands in when espeak-ng is missing.
// An early answer travels as the Err of a Result; it is returned at once, so its size is moot.
#![allow(clippy::result_large_err)]
use super::faults::Kind;
use super::gate::raw;
use super::rng::{sha256_hex, Rng};
use super::speech::{self, SynthError};
use super::{voices, App, Provider};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The limit of eleven_multilingual_v2, the strictest of the models talecast may use.
pub const MAX_CHARS: usize = 10_000;
const DEFAULT_FORMAT: &str = "mp3_44100_128";

pub async fn text_to_speech(
    State(app): State<App>,
    Path(voice_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut adm = app.admit(Provider::Elevenlabs, &method, &uri, &headers, &body, Some(&voice_id)).await;
    let resp = match adm.early.take() {
        Some(r) => r,
        None => synthesise(&app, &voice_id, &uri, &body, adm.seq, adm.in_flight).await,
    };
    app.finish(adm, resp)
}

pub async fn voices(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let mut adm = app.admit(Provider::Elevenlabs, &method, &uri, &headers, b"", None).await;
    let resp = adm.early.take().unwrap_or_else(|| {
        let list: Vec<Value> =
            voices::VOICES.iter().map(|v| json!({"voice_id": v.id, "name": v.name, "category": "premade"})).collect();
        Json(json!({"voices": list})).into_response()
    });
    app.finish(adm, resp)
}

async fn synthesise(app: &App, voice_id: &str, uri: &Uri, body: &[u8], seq: u64, in_flight: usize) -> Response {
    let Some(voice) = voices::find(voice_id) else {
        return detail(
            StatusCode::BAD_REQUEST,
            "voice_not_found",
            &format!("A voice with the voice_id {voice_id} was not found."),
        );
    };
    let query: HashMap<String, String> = Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
    let format_name = query.get("output_format").map(String::as_str).unwrap_or(DEFAULT_FORMAT);
    let Some(fmt) = speech::format(format_name) else {
        let names: Vec<&str> = speech::FORMATS.iter().map(|f| f.name).collect();
        return detail(
            StatusCode::BAD_REQUEST,
            "invalid_output_format",
            &format!(
                "Output format '{format_name}' is not supported by this stand-in; use one of {}.",
                names.join(", ")
            ),
        );
    };
    let req = match parse(body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let clip = match app.speech.mp3(&req.text, voice, fmt, req.speed).await {
        Ok(c) => c,
        Err(e @ SynthError::LameMissing) | Err(e @ SynthError::Failed(_)) => {
            return detail(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error", &e.to_string())
        }
    };
    let engine = clip.engine.as_str();
    app.log.set_engine(seq, engine);
    let mut resp = Response::new(Body::from(clip.mp3));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("audio/mpeg"));
    h.insert("x-standin-engine", HeaderValue::from_static(engine));
    h.insert("character-cost", HeaderValue::from(req.text.chars().count()));
    let id = &sha256_hex(format!("{seq}\0{voice_id}\0{}", req.text).as_bytes())[..20];
    h.insert("request-id", HeaderValue::from_str(id).expect("hex is a valid header"));
    h.insert("current-concurrent-requests", HeaderValue::from(in_flight));
    if let Some(cap) = app.knobs.of(Provider::Elevenlabs).cap() {
        h.insert("maximum-concurrent-requests", HeaderValue::from(cap));
    }
    resp
}

struct TtsRequest {
    text: String,
    speed: f64,
}

fn parse(body: &[u8]) -> Result<TtsRequest, Response> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| validation("json_invalid", &["body"], &format!("JSON decode error: {e}"), Value::Null))?;
    let text = match v.get("text") {
        Some(Value::String(t)) => t.clone(),
        None | Some(Value::Null) => return Err(validation("missing", &["body", "text"], "Field required", v.clone())),
        Some(other) => {
            return Err(validation("string_type", &["body", "text"], "Input should be a valid string", other.clone()))
        }
    };
    if text.trim().is_empty() {
        return Err(detail(StatusCode::BAD_REQUEST, "empty_text", "The text must not be empty."));
    }
    let chars = text.chars().count();
    if chars > MAX_CHARS {
        return Err(detail(
            StatusCode::BAD_REQUEST,
            "max_character_limit_exceeded",
            &format!("You are trying to generate {chars} characters, but the maximum allowed per request is {MAX_CHARS} characters."),
        ));
    }
    if let Some(model) = v.get("model_id").filter(|m| !m.is_null()) {
        if !model.as_str().is_some_and(|m| m.starts_with("eleven_")) {
            return Err(detail(
                StatusCode::BAD_REQUEST,
                "model_not_found",
                &format!("A model with model ID {model} does not exist."),
            ));
        }
    }
    let speed = match v.pointer("/voice_settings/speed").filter(|s| !s.is_null()) {
        None => 1.0,
        Some(s) => match s.as_f64() {
            Some(x) if (0.7..=1.2).contains(&x) => x,
            _ => {
                return Err(detail(
                    StatusCode::BAD_REQUEST,
                    "invalid_voice_settings",
                    &format!("voice_settings.speed must be between 0.7 and 1.2, got {s}."),
                ))
            }
        },
    };
    for key in ["previous_request_ids", "next_request_ids"] {
        if let Some(Value::Array(ids)) = v.get(key) {
            if ids.len() > 3 {
                return Err(validation(
                    "too_long",
                    &["body", key],
                    &format!("List should have at most 3 items after validation, not {}", ids.len()),
                    v[key].clone(),
                ));
            }
        }
    }
    Ok(TtsRequest { text, speed })
}

fn detail(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"detail": {"status": code, "message": message}}))).into_response()
}

/// ElevenLabs is a FastAPI service: malformed bodies get pydantic's 422 shape.
fn validation(ty: &str, loc: &[&str], msg: &str, input: Value) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"detail": [{"type": ty, "loc": loc, "msg": msg, "input": input}]})))
        .into_response()
}

/// Answers for the broken-body faults.
pub fn broken_response(kind: Kind, seq: u64) -> Response {
    match kind {
        Kind::Empty => raw("audio/mpeg", Vec::new()),
        _ => {
            let mut rng = Rng::from_bytes(&seq.to_le_bytes());
            let mut noise: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
            // Never start like an MPEG frame or an ID3 tag, so a client's MP3 check must fail.
            noise[0] = 0x00;
            raw("audio/mpeg", noise)
        }
    }
}
