//! Local stand-ins for the two paid APIs talecast calls: OpenAI chat completions and ElevenLabs
//! text-to-speech. They speak the real wire formats, answer deterministically (schema-valid
//! chapter scripts of realistic size, real MP3 speech), and expose `/__admin/` knobs for
//! latency, concurrency caps, injected faults and the script size, plus a request log that
//! tests read (the route list is in `admin.rs`).
mod admin;
mod elevenlabs;
mod faults;
mod gate;
mod knobs;
mod log;
mod openai;
mod prose;
mod rng;
mod schema_check;
mod schema_fill;
mod speech;
mod voices;
mod wav;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub struct Config {
    pub openai_key: String,
    pub elevenlabs_key: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Openai,
    Elevenlabs,
}

/// Everything the handlers share; cheap to clone into each request.
#[derive(Clone)]
pub struct App(Arc<Shared>);

pub struct Shared {
    cfg: Config,
    log: log::RequestLog,
    faults: faults::FaultBook,
    knobs: knobs::Knobs,
    speech: speech::Synth,
}

impl std::ops::Deref for App {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub fn router(cfg: Config) -> Router {
    let app = App(Arc::new(Shared {
        cfg,
        log: Default::default(),
        faults: Default::default(),
        knobs: Default::default(),
        speech: speech::Synth::from_env(),
    }));
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/text-to-speech/{voice_id}", post(elevenlabs::text_to_speech))
        .route("/v1/text-to-speech/{voice_id}/stream", post(elevenlabs::text_to_speech))
        .route("/v1/voices", get(elevenlabs::voices))
        .merge(admin::routes())
        .fallback(not_found)
        // Long prompts (earlier summaries, full scripts for the enhance pass) exceed axum's 2 MB default.
        .layer(DefaultBodyLimit::max(32 << 20))
        .with_state(app)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"error": format!("devstack providers: no route for {}", uri.path())})),
    )
        .into_response()
}
