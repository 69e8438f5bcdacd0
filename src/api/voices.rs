//! A story's voices: `PUT` replaces the user's overrides (speaker → voice id from the
//! catalogue); `GET` shows the voice of every speaker, whether overridden, assigned before, or
//! assigned now by the same rule the audio job uses.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::VoiceOverrides;
use crate::core::validate::FieldError;
use crate::core::voices::{assign, narrator_voice, normalize_overrides, speaker_voices, VoiceConfig};
use crate::db::{audio as audio_db, Db};
use serde_json::json;
use worker::{Request, Response};

async fn owned(req: &Request, ctx: &Ctx, id: &str) -> Result<(Db, String), ApiError> {
    let (db, _, story) = super::stories::owned(req, ctx, id).await?;
    Ok((db, story.id))
}

pub async fn put(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, id) = owned(req, ctx, id).await?;
    let config = VoiceConfig::bundled();
    let overrides = VoiceOverrides::parse(body::json(req, ctx).await?, &config.catalogue())?;
    // Same speaker spelled twice ("Mara", "mara ") is one speaker: refused, not stored twice.
    let overrides = normalize_overrides(&config, &overrides.0).map_err(|m| FieldError::new("", m))?;
    db.query(&audio_db::set_overrides(&id, &overrides)).await?;
    view(&db, &id, &config).await
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, id) = owned(req, ctx, id).await?;
    view(&db, &id, &VoiceConfig::bundled()).await
}

async fn view(db: &Db, id: &str, config: &VoiceConfig) -> Result<Response, ApiError> {
    let (overrides, assigned) = audio_db::voices(db, id).await?;
    let mut speakers = super::audio::story_speakers(db, id).await?;
    let assigned = assign(config, &speakers, &overrides, &assigned);
    speakers.extend(overrides.keys().chain(assigned.keys()).cloned());
    json_response(
        200,
        &json!({
            "narrator": narrator_voice(config, &overrides).voice_id,
            "speakers": speaker_voices(config, &speakers, &overrides, &assigned),
        }),
    )
}
