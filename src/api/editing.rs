//! Editing: a person's script for a chapter (`PUT`/`DELETE .../chapters/{n}/script`) and the
//! story's pronunciations (`PUT`/`GET .../pronunciations`); `voices` PUT shares the write path.
//!
//! Each write is two round trips: the story's clip inputs travel with the key lookup, every
//! chapter's fingerprint is computed for the new state (`core::clip_plan`), and the write goes
//! with them in one batch guarded by `db::editing::claim` (409 when a job of the story is
//! queued or running, or another input write came first). Fingerprints are computed for all
//! chapters because a speaker's voice can depend on the speakers of other chapters
//! (`voices::assign` hands out pool voices in order of first appearance).

use super::stories::{owned, Owned};
use super::{body, json_response, ApiError, Ctx};
use crate::core::clip_plan::{self, Inputs};
use crate::core::domain::{EditedScript, Pronunciations};
use crate::core::neon::{Query, QueryResult};
use crate::core::script::Script;
use crate::core::voices::{assign, VoiceConfig};
use crate::db::audio::{self as audio_db, AudioSource, VoiceMap};
use crate::db::{chapters, editing};
use crate::platform::new_id;
use serde_json::{json, Value};
use worker::{Request, Response};

/// A story's clip inputs as read with the key lookup.
pub struct Read {
    pub o: Owned,
    pub sources: Vec<AudioSource>,
    pub overrides: VoiceMap,
    pub assigned: VoiceMap,
    pub pronunciations: VoiceMap,
    token: String,
}

pub async fn read(req: &Request, ctx: &Ctx, id: &str) -> Result<Read, ApiError> {
    let o = owned(req, ctx, id, |id, _| vec![audio_db::sources(id, None), audio_db::voices(id)]).await?;
    let sources = audio_db::sources_from(&o.results[0])?;
    let (overrides, assigned) = audio_db::voices_from(&o.results[1])?;
    let pronunciations = audio_db::pronunciations_from(&o.results[1])?;
    let (token, busy) = editing::token_from(&o.results[1])?;
    if busy {
        return Err(busy_error());
    }
    Ok(Read { o, sources, overrides, assigned, pronunciations, token })
}

fn busy_error() -> ApiError {
    ApiError::conflict("a job of this story is queued or running; wait for it or cancel it first")
}

impl Read {
    /// Every chapter's fingerprint with the inputs as they are in `self` (the caller puts the
    /// new state there first), voices resolved as the audio job resolves them.
    fn fingerprints(&self, ctx: &Ctx, config: &VoiceConfig) -> Result<Vec<(u32, String)>, ApiError> {
        let output_format = crate::settings::AudioSettings::output_format(&ctx.env).map_err(|m| {
            crate::log::error("settings_missing", json!({ "reason": m }));
            ApiError::unavailable("audio is not configured yet", 60)
        })?;
        let speakers = super::audio::speakers_of(&self.sources);
        let assigned = assign(config, &speakers, &self.overrides, &self.assigned);
        let inputs = Inputs {
            story_id: &self.o.story.id,
            output_format: &output_format,
            config,
            overrides: &self.overrides,
            assigned: &assigned,
            pronunciations: &self.pronunciations,
        };
        Ok(clip_plan::fingerprints(&inputs, self.sources.iter().filter_map(|s| s.script.as_ref().map(|sc| (s.number, sc)))))
    }

    /// Sends `writes` (built for the new token) with the claim and the fingerprints; 409 when
    /// the claim lost. Answers the results of `writes`, in order.
    async fn write(&self, ctx: &Ctx, writes: impl FnOnce(&str) -> Vec<Query>) -> Result<Vec<QueryResult>, ApiError> {
        let config = VoiceConfig::bundled();
        let fps = self.fingerprints(ctx, &config)?;
        let id = &self.o.story.id;
        let new_token = new_id();
        // The fingerprints before `writes`, so a read among them sees the new `audio_stale`.
        let mut batch = vec![editing::claim(id, &self.token, &new_token), editing::set_fingerprints(id, &new_token, &fps)];
        batch.extend(writes(&new_token));
        let mut results = self.o.db.transaction(&batch, None).await?;
        if !editing::claimed(&results[0]) {
            return Err(ApiError::conflict(
                "the story changed meanwhile (a job started, or another edit came first); read it again and retry",
            ));
        }
        Ok(results.split_off(2))
    }
}

/// The chapter's source: every chapter has one (chapter rows are made with the story), so a
/// number past the story's chapters is a 404 here.
fn source<'r>(r: &'r mut Read, number: u32) -> Result<&'r mut AudioSource, ApiError> {
    let s = r.sources.iter_mut().find(|s| s.number == number).ok_or_else(|| ApiError::not_found("no such chapter"))?;
    if s.script.is_none() {
        return Err(ApiError::conflict(format!("chapter {number} has no script yet; generate it first")));
    }
    Ok(s)
}

pub async fn put_script(req: &mut Request, ctx: &Ctx, id: &str, n: &str) -> Result<Response, ApiError> {
    let number = super::chapter_number(n)?;
    let edited = EditedScript::parse(body::json(req, ctx).await?)?;
    let mut r = read(req, ctx, id).await?;
    let s = source(&mut r, number)?;
    // The character descriptions stay those of the script the edit replaces.
    let characters = s.script.as_ref().map(|sc| sc.characters.clone()).unwrap_or_default();
    let script: Script = edited.into_script(characters);
    s.script = Some(script.clone());
    let story_id = r.o.story.id.clone();
    let results = r
        .write(ctx, |token| vec![editing::set_edited(&story_id, token, number, Some(&script)), chapters::detail(&story_id, number)])
        .await?;
    chapter_answer(&story_id, &results[1])
}

/// Back to the generated script (the enhanced one when there is one); 204 also when there was
/// no edit (then nothing is written).
pub async fn delete_script(req: &Request, ctx: &Ctx, id: &str, n: &str) -> Result<Response, ApiError> {
    let number = super::chapter_number(n)?;
    let mut r = read(req, ctx, id).await?;
    let s = source(&mut r, number)?;
    let Some(generated) = s.generated.take() else {
        return Ok(Response::empty()?.with_status(204));
    };
    s.script = Some(generated);
    let story_id = r.o.story.id.clone();
    r.write(ctx, |token| vec![editing::set_edited(&story_id, token, number, None)]).await?;
    Ok(Response::empty()?.with_status(204))
}

fn chapter_answer(story_id: &str, r: &QueryResult) -> Result<Response, ApiError> {
    let detail = chapters::detail_from(r)?.ok_or_else(ApiError::internal)?;
    let mut v: Value = detail.to_json();
    v["story_id"] = json!(story_id);
    json_response(200, &v)
}

pub async fn put_pronunciations(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let p = Pronunciations::parse(body::json(req, ctx).await?)?;
    let mut r = read(req, ctx, id).await?;
    r.pronunciations = p.0;
    let story_id = r.o.story.id.clone();
    r.write(ctx, |token| vec![editing::set_pronunciations(&story_id, token, &r.pronunciations)]).await?;
    json_response(200, &json!({ "pronunciations": r.pronunciations }))
}

pub async fn get_pronunciations(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = owned(req, ctx, id, |id, _| vec![editing::pronunciations(id)]).await?;
    let row = o.results[0].first().ok_or_else(|| ApiError::not_found("no such story"))?;
    let map: VoiceMap = serde_json::from_value(row.get::<Value>("pronunciations")?).map_err(|_| ApiError::internal())?;
    json_response(200, &json!({ "pronunciations": map }))
}

/// `voices` PUT: the new overrides with every chapter's fingerprint; answers the overrides and
/// the story's voice maps as read, for the cast view.
pub async fn set_voices(req: &Request, ctx: &Ctx, id: &str, overrides: VoiceMap) -> Result<Read, ApiError> {
    let mut r = read(req, ctx, id).await?;
    r.overrides = overrides;
    let story_id = r.o.story.id.clone();
    r.write(ctx, |token| vec![editing::set_voices(&story_id, token, &r.overrides)]).await?;
    Ok(r)
}
