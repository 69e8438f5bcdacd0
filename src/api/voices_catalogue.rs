//! `GET /api/v1/voices`: the catalogue a voice picker offers, the voices `PUT .../voices`
//! accepts. It is configuration, not data, but only callers with a key may read it, so the
//! key lookup is still made (one round trip, nothing else in it).

use super::{auth, json_response, ApiError, Ctx};
use crate::core::voices::VoiceConfig;
use serde_json::json;
use worker::{Request, Response};

pub async fn get(req: &Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    auth::batch(&ctx.db()?, &caller, vec![]).await?;
    let config = VoiceConfig::bundled();
    let voices: Vec<_> = std::iter::once(&config.narrator)
        .chain(&config.pool)
        .map(|v| json!({ "id": v.voice_id, "name": v.name, "description": v.description }))
        .collect();
    json_response(200, &json!({ "narrator": config.narrator.voice_id, "voices": voices }))
}
