//! Audio: start an audio job (or price it with `dry_run`), download a chapter (with Range, so
//! an `<audio>` element can seek), and stream the whole book as one MP3 with chapter marks.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::AudioRequest;
use crate::core::id3::{book_tag, ChapterMark};
use crate::core::mp3::{self, Format, Version};
use crate::core::http::range::{content_range, parse_range, RangeRequest};
use crate::core::tts;
use crate::core::voices::VoiceConfig;
use crate::db::audio::{self as audio_db, AudioSource, ChapterAudio};
use crate::db::tasks;
use crate::core::clip_plan;
use crate::jobs::audio::existing_clips;
use crate::platform::new_id;
use crate::settings::{AudioSettings, JobSettings};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use worker::{Conditional, FixedLengthStream, Range, Request, Response, ResponseBody};

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

/// The size and ETag come from the object being streamed, not from a separate HEAD, so the
/// headers always describe the bytes sent. The row's byte count only shapes the ranged R2
/// read; if the object turns out to have another size, the range is worked out again on it.
pub async fn chapter(req: &Request, ctx: &Ctx, id: &str, n: &str) -> Result<Response, ApiError> {
    let number: u32 = n.parse().map_err(|_| ApiError::not_found("no such chapter"))?;
    let o = super::stories::owned(req, ctx, id, |id, _| vec![audio_db::of_chapter(id, number)]).await?;
    let audio = audio_db::chapter_audio_from(&o.results[0])?.ok_or_else(|| ApiError::not_found("this chapter has no audio yet"))?;
    serve_chapter(req, ctx, &audio).await
}

/// A chapter's MP3 once the caller may have it (its owner, or a signed link): whole or by
/// `Range`, with `If-Range`.
pub async fn serve_chapter(req: &Request, ctx: &Ctx, audio: &ChapterAudio) -> Result<Response, ApiError> {
    let bucket = ctx.env.bucket(crate::platform::AUDIO_BUCKET)?;
    let gone = || ApiError::not_found("this chapter has no audio yet");
    let range_header = req.headers().get("Range")?;
    // RFC 9110 §13.1.5: only a strong tag can let a range through; a weak tag or a date
    // means the whole object.
    let if_range = req.headers().get("If-Range")?.map(|t| t.trim().to_string());
    let if_range_strong = if_range.as_deref().map(|t| t.starts_with('"') && t.ends_with('"') && t.len() >= 2);
    let mut len = audio.bytes;
    for _ in 0..2 {
        match parse_range(range_header.as_deref(), len) {
            RangeRequest::Partial { .. } if if_range_strong == Some(false) => break,
            RangeRequest::Partial { start, end_inclusive } => {
                let mut get = bucket.get(&audio.key).range(Range::OffsetWithLength { offset: start, length: end_inclusive - start + 1 });
                if let Some(tag) = &if_range {
                    // R2 answers without a body when the tag does not match.
                    get = get.only_if(Conditional { etag_matches: Some(tag.trim_matches('"').to_string()), ..Default::default() });
                }
                let obj = get.execute().await?.ok_or_else(gone)?;
                if obj.size() != len {
                    len = obj.size();
                    continue;
                }
                let tag_ok = if_range.as_deref().is_none_or(|t| crate::core::http::etag::if_range_hits(t, &obj.http_etag()));
                if obj.body().is_none() || !tag_ok {
                    break;
                }
                return stream(obj, Some((start, end_inclusive)));
            }
            RangeRequest::Full => break,
            RangeRequest::Unsatisfiable => {
                // Rare: a HEAD is enough to tell the length the 416 must name.
                let head = bucket.head(&audio.key).await?.ok_or_else(gone)?;
                if head.size() != len {
                    len = head.size();
                    continue;
                }
                let resp = ApiError::range_not_satisfiable(len).into_response();
                resp.headers().set("Content-Range", &format!("bytes */{len}"))?;
                return Ok(resp);
            }
        }
    }
    stream(bucket.get(&audio.key).execute().await?.ok_or_else(gone)?, None)
}

/// The object's bytes: all of them (200), or the range it was read with (206).
fn stream(obj: worker::Object, range: Option<(u64, u64)>) -> Result<Response, ApiError> {
    let (etag, len) = (obj.http_etag(), obj.size());
    let body = obj.body().ok_or_else(ApiError::internal)?.response_body()?;
    let resp = Response::from_body(body)?.with_status(if range.is_some() { 206 } else { 200 });
    let h = resp.headers();
    h.set("Content-Type", "audio/mpeg")?;
    h.set("Accept-Ranges", "bytes")?;
    h.set("ETag", &etag)?;
    h.set("Cache-Control", "private, max-age=300")?;
    match range {
        Some((start, end_inclusive)) => {
            h.set("Content-Range", &content_range(start, end_inclusive, len))?;
            h.set("Content-Length", &(end_inclusive - start + 1).to_string())?;
        }
        None => h.set("Content-Length", &len.to_string())?,
    }
    Ok(resp)
}

/// The book: an ID3v2 tag with a CTOC and a CHAP per chapter, one Xing/Info frame for the
/// whole length, then each chapter's frames (its own Xing frame skipped) streamed from R2
/// one after another, so the book is never held in memory.
pub async fn book(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = super::stories::owned(req, ctx, id, |id, _| vec![audio_db::with_audio(id)]).await?;
    serve_book(ctx, &o.story.title, audio_db::with_audio_from(&o.results[0])?)
}

/// The book of `chapters` (those with audio, in order) once the caller may have it.
pub fn serve_book(ctx: &Ctx, title: &str, chapters: Vec<ChapterAudio>) -> Result<Response, ApiError> {
    let Some(first) = chapters.first() else {
        return Err(ApiError::conflict("no chapter has audio yet"));
    };
    let format = format_of(first)?;
    if chapters.iter().any(|c| format_of(c).ok() != Some(format)) {
        return Err(ApiError::conflict("the chapters' audio formats differ; make the audio again with one format"));
    }
    let mut marks = Vec::new();
    let mut at_ms = 0u64;
    for c in &chapters {
        let end = at_ms + mp3::duration_ms(format, c.meta.frames);
        marks.push(ChapterMark {
            id: format!("ch{}", c.number),
            title: c.title.clone().unwrap_or_else(|| format!("Chapter {}", c.number)),
            start_ms: at_ms as u32,
            end_ms: end as u32,
        });
        at_ms = end;
    }
    let frames: u64 = chapters.iter().map(|c| c.meta.frames).sum();
    let audio_bytes: u64 = chapters.iter().map(|c| c.bytes - c.meta.header_len).sum();
    let cbr = chapters.iter().all(|c| c.meta.bitrate_kbps == first.meta.bitrate_kbps && c.meta.bitrate_kbps > 0);
    let bitrate = if first.meta.bitrate_kbps > 0 { first.meta.bitrate_kbps } else { 128 };
    let mut head = book_tag(if title.is_empty() { "talecast" } else { title }, &marks);
    head.extend(mp3::xing_frame(format, bitrate, frames, audio_bytes, cbr));
    let total = head.len() as u64 + audio_bytes;

    let bucket = ctx.env.bucket(crate::platform::AUDIO_BUCKET)?;
    let parts = futures::stream::iter(chapters.into_iter().map(move |c| {
        let bucket = bucket.clone();
        async move {
            let obj = bucket
                .get(&c.key)
                .range(Range::OffsetToEnd { offset: c.meta.header_len })
                .execute()
                .await?
                .ok_or_else(|| worker::Error::RustError(format!("chapter {} audio is missing", c.number)))?;
            obj.body().ok_or_else(|| worker::Error::RustError("no body".into()))?.stream()
        }
    }))
    .then(|f| f)
    .try_flatten();
    let stream = futures::stream::once(async move { Ok::<Vec<u8>, worker::Error>(head) }).chain(parts);
    let sized: worker::worker_sys::FixedLengthStream = FixedLengthStream::wrap(stream, total).into();
    let resp = Response::from_body(ResponseBody::Stream(sized.readable()))?;
    let h = resp.headers();
    h.set("Content-Type", "audio/mpeg")?;
    h.set("Content-Length", &total.to_string())?;
    h.set("Content-Disposition", "inline; filename=\"book.mp3\"")?;
    Ok(resp)
}

fn format_of(c: &ChapterAudio) -> Result<Format, ApiError> {
    let version = match c.meta.mpeg_version.as_str() {
        "Mpeg1" => Version::Mpeg1,
        "Mpeg2" => Version::Mpeg2,
        "Mpeg25" => Version::Mpeg25,
        _ => return Err(ApiError::internal()),
    };
    Ok(Format { version, sample_rate: c.meta.sample_rate, channels: c.meta.channels })
}
