//! A story's voices: `PUT` replaces the user's overrides (speaker → voice id from the
//! catalogue); `GET` shows the voice of every speaker, whether overridden, assigned before, or
//! assigned now by the same rule the audio job uses. Each is one round trip: the write and
//! the reads that follow it travel with the key lookup.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::VoiceOverrides;
use crate::core::neon::QueryResult;
use crate::core::validate::FieldError;
use crate::core::voices::{assign, narrator_voice, normalize_overrides, speaker_voices, VoiceConfig};
use crate::db::audio as audio_db;
use serde_json::json;
use worker::{Request, Response};

pub async fn put(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let caller = super::auth::caller(req)?;
    let config = VoiceConfig::bundled();
    let overrides = VoiceOverrides::parse(body::json(req, ctx).await?, &config.catalogue())?;
    // Same speaker spelled twice ("Mara", "mara ") is one speaker: refused, not stored twice.
    let overrides = normalize_overrides(&config, &overrides.0).map_err(|m| FieldError::new("", m))?;
    let owner = caller.owner();
    let o = super::stories::owned(req, ctx, id, |id, _| {
        vec![audio_db::set_overrides(&owner, id, &overrides), audio_db::sources(id, None), audio_db::voices(id)]
    })
    .await?;
    view(&o.results[1..], &config)
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = super::stories::owned(req, ctx, id, |id, _| vec![audio_db::sources(id, None), audio_db::voices(id)]).await?;
    view(&o.results, &VoiceConfig::bundled())
}

/// From the results of `sources` and `voices`, in that order.
fn view(results: &[QueryResult], config: &VoiceConfig) -> Result<Response, ApiError> {
    let mut speakers = super::audio::speakers_of(&audio_db::sources_from(&results[0])?);
    let (overrides, assigned) = audio_db::voices_from(&results[1])?;
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
