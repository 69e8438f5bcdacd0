//! Audio: start an audio job (or price it with `dry_run`), download a chapter (with Range, so
//! an `<audio>` element can seek), and stream the whole book as one MP3 with chapter marks
//! (both served by `download`).

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::AudioRequest;
use crate::core::tts;
use crate::core::voices::VoiceConfig;
use crate::db::audio::{self as audio_db, AudioSource};
use crate::db::tasks;
use crate::core::clip_plan;
use crate::jobs::audio::existing_clips;
use crate::platform::new_id;
use crate::settings::{AudioSettings, JobSettings};
use serde_json::json;
use worker::{Request, Response};

fn audio_settings(ctx: &Ctx) -> Result<AudioSettings, ApiError> {
    AudioSettings::from_env(&ctx.env).map_err(|m| {
        crate::log::error("settings_missing", json!({ "reason": m }));
        ApiError::unavailable("audio is not configured yet", 60)
    })
}

pub async fn start(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    // Every chapter's script travels with the lookup: the chosen ones are priced and voiced,
    // and all of them name the story's speakers. The caller's budget comes along too.
    let (o, budget) = super::budget::owned_with_budget(req, ctx, id, |id| vec![audio_db::sources(id, None), audio_db::voices(id)]).await?;
    let id = o.story.id.clone();
    let r = AudioRequest::parse(body::json(req, ctx).await?, o.story.num_chapters)?;
    let all = audio_db::sources_from(&o.results[0])?;
    super::rate_limit::job_start(req, ctx, r.dry_run).await?;
    let speakers = speakers_of(&all);
    let chosen: Vec<AudioSource> = match &r.chapters {
        Some(wanted) => {
            let chosen: Vec<AudioSource> = all.into_iter().filter(|s| wanted.contains(&s.number)).collect();
            if let Some(missing) = chosen.iter().find(|s| s.script.is_none()) {
                return Err(ApiError::conflict(format!("chapter {} has no script yet", missing.number)));
            }
            chosen
        }
        None => all.into_iter().filter(|s| s.script.is_some()).collect(),
    };
    if chosen.is_empty() {
        return Err(ApiError::conflict("no chapter has a script yet; generate the story first"));
    }
    let settings = audio_settings(ctx)?;
    let config = VoiceConfig::bundled();
    let (overrides, assigned) = audio_db::voices_from(&o.results[1])?;
    let assigned = crate::core::voices::assign(&config, &speakers, &overrides, &assigned);

    let pronunciations = audio_db::pronunciations_from(&o.results[1])?;
    let cast = Cast { config: &config, overrides: &overrides, assigned: &assigned, pronunciations: &pronunciations };
    let price = price(ctx, &id, &chosen, &settings, &cast).await?;
    let estimate = crate::core::budget::Amounts::tts(price.characters, price.cost);
    if r.dry_run {
        return json_response(
            200,
            &json!({
                "characters": price.characters,
                "lines": price.lines,
                "estimated_cost_usd": crate::core::cost::round_usd(price.cost),
                "total_characters": price.total,
                "clips": price.clips,
                "clips_cached": price.cached,
                "chapters": chosen.iter().map(|s| s.number).collect::<Vec<_>>(),
                "budget": budget.to_json(),
            }),
        );
    }
    super::budget::check(&budget, &estimate)?;

    let numbers: Vec<u32> = chosen.iter().map(|s| s.number).collect();
    let task_id = new_id();
    super::launch::register(ctx, &task_id).await?;
    let extra = vec![audio_db::set_assigned(&id, &assigned)];
    let task = match tasks::create_job(&o.db, "audio", &task_id, &o.user.id, &id, &numbers, false, extra).await? {
        tasks::Created::Yes(t) => t,
        tasks::Created::Busy => return Err(ApiError::conflict("a job of this story is queued or running")),
    };
    super::launch::launch(ctx, &task).await;
    json_response(202, &json!({ "task_id": task.id }))
}

/// What decides the story's clips besides the scripts.
struct Cast<'a> {
    config: &'a VoiceConfig,
    overrides: &'a std::collections::BTreeMap<String, String>,
    assigned: &'a std::collections::BTreeMap<String, String>,
    pronunciations: &'a std::collections::BTreeMap<String, String>,
}

/// What the chosen chapters' audio costs: exactly the characters of the clips not made yet,
/// and how many lines those are.
struct Price {
    characters: u64,
    lines: usize,
    cost: f64,
    total: u64,
    clips: usize,
    cached: usize,
}

async fn price(
    ctx: &Ctx,
    id: &str,
    chosen: &[AudioSource],
    settings: &AudioSettings,
    cast: &Cast<'_>,
) -> Result<Price, ApiError> {
    // Clips made before are reused, so the estimate counts only the ones missing.
    let existing = existing_clips(&ctx.env.bucket(crate::platform::AUDIO_BUCKET)?, id, &Default::default()).await?;
    let prices = JobSettings::from_env(&ctx.env).map(|j| j.prices).unwrap_or_default();
    let mut p = Price { characters: 0, lines: 0, cost: 0.0, total: 0, clips: 0, cached: 0 };
    let mut counted = std::collections::HashSet::new();
    for s in chosen {
        let script = s.script.as_ref().expect("chosen chapters have scripts");
        let spoken = clip_plan::spoken(script, cast.pronunciations);
        for line in clip_plan::plan_lines(id, &settings.tts.output_format, cast.config, &spoken, cast.overrides, cast.assigned) {
            let chars = tts::characters(&[line.spec.text]);
            p.total += chars;
            p.clips += 1;
            if existing.contains_key(&line.key) || !counted.insert(line.key.clone()) {
                p.cached += 1;
                continue;
            }
            p.characters += chars;
            p.lines += 1;
            p.cost += prices.tts_cost(&line.spec.voice.model_id, chars);
        }
    }
    Ok(p)
}

/// Every speaker of the story's scripts, in order of first appearance (chapter, then line).
pub fn speakers_of(sources: &[AudioSource]) -> Vec<String> {
    let mut speakers: Vec<String> = Vec::new();
    for s in sources {
        for name in s.script.as_ref().map(|sc| sc.speakers()).unwrap_or_default() {
            if !speakers.iter().any(|k| k.trim().eq_ignore_ascii_case(name.trim())) {
                speakers.push(name);
            }
        }
    }
    speakers
}

/// A chapter's MP3 with its tag (`download::serve_chapter`).
pub async fn chapter(req: &Request, ctx: &Ctx, id: &str, n: &str) -> Result<Response, ApiError> {
    let number = super::chapter_number(n)?;
    let o = super::stories::owned(req, ctx, id, |id, _| vec![audio_db::of_chapter(id, number)]).await?;
    let audio = audio_db::chapter_audio_from(&o.results[0])?.ok_or_else(|| ApiError::not_found("this chapter has no audio yet"))?;
    super::download::serve_chapter(req, ctx, &o.story.id, &o.story.album(), &audio).await
}

/// The whole book as one MP3 with chapter marks (`download::serve_book`).
pub async fn book(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = super::stories::owned(req, ctx, id, |id, _| vec![audio_db::with_audio(id)]).await?;
    super::download::serve_book(ctx, &o.story.id, &o.story.album(), audio_db::with_audio_from(&o.results[0])?)
}
