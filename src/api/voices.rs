//! A story's voices: `PUT` replaces the user's overrides (speaker → voice id from the
//! catalogue); `GET` shows the voice of every speaker, whether overridden, assigned before, or
//! assigned now by the same rule the audio job uses. `GET` is one round trip; `PUT` two, as
//! every input write (`editing`): voices decide clips, so it stores every chapter's new
//! fingerprint, and it answers 409 while a job of the story is queued or running.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::VoiceOverrides;
use crate::core::validate::FieldError;
use crate::core::voices::{assign, narrator_voice, normalize_overrides, speaker_voices, VoiceConfig};
use crate::db::audio::{self as audio_db, AudioSource, VoiceMap};
use serde_json::json;
use worker::{Request, Response};

pub async fn put(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let config = VoiceConfig::bundled();
    let overrides = VoiceOverrides::parse(body::json(req, ctx).await?, &config.catalogue())?;
    // Same speaker spelled twice ("Mara", "mara ") is one speaker: refused, not stored twice.
    let overrides = normalize_overrides(&config, &overrides.0).map_err(|m| FieldError::new("", m))?;
    // Voices are an input of the clips: the write recomputes every chapter's fingerprint.
    let r = super::editing::set_voices(req, ctx, id, overrides).await?;
    view(&r.sources, &r.overrides, &r.assigned, &config)
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = super::stories::owned(req, ctx, id, |id, _| vec![audio_db::sources(id, None), audio_db::voices(id)]).await?;
    let (overrides, assigned) = audio_db::voices_from(&o.results[1])?;
    view(&audio_db::sources_from(&o.results[0])?, &overrides, &assigned, &VoiceConfig::bundled())
}

fn view(sources: &[AudioSource], overrides: &VoiceMap, assigned: &VoiceMap, config: &VoiceConfig) -> Result<Response, ApiError> {
    let mut speakers = super::audio::speakers_of(sources);
    let assigned = assign(config, &speakers, overrides, assigned);
    speakers.extend(overrides.keys().chain(assigned.keys()).cloned());
    json_response(
        200,
        &json!({
            "narrator": narrator_voice(config, overrides).voice_id,
            "speakers": speaker_voices(config, &speakers, overrides, &assigned),
        }),
    )
}
