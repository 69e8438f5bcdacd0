//! Audio: start an audio job (or price it with `dry_run`), download a chapter (with Range, so
//! an `<audio>` element can seek), and stream the whole book as one MP3 with chapter marks.

use super::{body, json_response, ApiError, Ctx};
use crate::core::domain::AudioRequest;
use crate::core::id3::{book_tag, ChapterMark};
use crate::core::mp3::{self, Format, Version};
use crate::core::range::{content_range, parse_range, RangeRequest};
use crate::core::tts;
use crate::core::voices::VoiceConfig;
use crate::db::audio::{self as audio_db, AudioSource, ChapterAudio};
use crate::db::{tasks, Db};
use crate::jobs::audio::{existing_clips, plan_lines};
use crate::platform::new_id;
use crate::settings::{AudioSettings, JobSettings};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use worker::{FixedLengthStream, Range, Request, Response, ResponseBody};

fn audio_settings(ctx: &Ctx) -> Result<AudioSettings, ApiError> {
    AudioSettings::from_env(&ctx.env).map_err(|m| {
        crate::log::error("settings_missing", json!({ "reason": m }));
        ApiError::unavailable("audio is not configured yet", 60)
    })
}

pub async fn start(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, user, story) = super::stories::owned(req, ctx, id).await?;
    let id = story.id.clone();
    let r = AudioRequest::parse(body::json(req, ctx).await?, story.num_chapters)?;
    let all = audio_db::sources(&db, &id, r.chapters.as_deref()).await?;
    let chosen: Vec<AudioSource> = match &r.chapters {
        Some(_) => {
            if let Some(missing) = all.iter().find(|s| s.script.is_none()) {
                return Err(ApiError::conflict(format!("chapter {} has no script yet", missing.number)));
            }
            all
        }
        None => all.into_iter().filter(|s| s.script.is_some()).collect(),
    };
    if chosen.is_empty() {
        return Err(ApiError::conflict("no chapter has a script yet; generate the story first"));
    }
    let settings = audio_settings(ctx)?;
    let config = VoiceConfig::bundled();
    let (overrides, assigned) = audio_db::voices(&db, &id).await?;
    let assigned = crate::core::voices::assign(&config, &story_speakers(&db, &id).await?, &overrides, &assigned);

    if r.dry_run {
        // Clips made before are reused, so the estimate counts only the ones missing.
        let existing = existing_clips(&ctx.env.bucket(crate::platform::AUDIO_BUCKET)?, &id, &Default::default()).await?;
        let prices = JobSettings::from_env(&ctx.env).map(|j| j.prices).unwrap_or_default();
        let (mut characters, mut total, mut cost, mut clips, mut cached) = (0u64, 0u64, 0f64, 0usize, 0usize);
        let mut counted = std::collections::HashSet::new();
        for s in &chosen {
            let script = s.script.as_ref().expect("chosen chapters have scripts");
            for line in plan_lines(&id, &settings.tts.output_format, &config, script, &overrides, &assigned) {
                let chars = tts::characters(&[line.spec.text]);
                total += chars;
                clips += 1;
                if existing.contains_key(&line.key) || !counted.insert(line.key.clone()) {
                    cached += 1;
                    continue;
                }
                characters += chars;
                cost += prices.tts_cost(&line.spec.voice.model_id, chars);
            }
        }
        return json_response(
            200,
            &json!({
                "characters": characters,
                "estimated_cost_usd": crate::core::cost::round_usd(cost),
                "total_characters": total,
                "clips": clips,
                "clips_cached": cached,
                "chapters": chosen.iter().map(|s| s.number).collect::<Vec<_>>(),
            }),
        );
    }

    let numbers: Vec<u32> = chosen.iter().map(|s| s.number).collect();
    let task_id = new_id();
    super::launch::register(ctx, &task_id).await?;
    let extra = vec![audio_db::set_assigned(&id, &assigned)];
    let task = match tasks::create_job(&db, "audio", &task_id, &user.id, &id, &numbers, false, extra).await? {
        tasks::Created::Yes(t) => t,
        tasks::Created::Busy => return Err(ApiError::conflict("a job of this story is queued or running")),
    };
    super::launch::launch(ctx, &db, &task).await;
    json_response(202, &json!({ "task_id": task.id }))
}

/// Every speaker of the story's scripts, in order of first appearance (chapter, then line).
pub async fn story_speakers(db: &Db, story_id: &str) -> Result<Vec<String>, ApiError> {
    let mut speakers: Vec<String> = Vec::new();
    for s in audio_db::sources(db, story_id, None).await? {
        for name in s.script.map(|sc| sc.speakers()).unwrap_or_default() {
            if !speakers.iter().any(|k| k.trim().eq_ignore_ascii_case(name.trim())) {
                speakers.push(name);
            }
        }
    }
    Ok(speakers)
}

pub async fn chapter(req: &Request, ctx: &Ctx, id: &str, n: &str) -> Result<Response, ApiError> {
    let (db, _, story) = super::stories::owned(req, ctx, id).await?;
    let id = story.id;
    let number: u32 = n.parse().map_err(|_| ApiError::not_found("no such chapter"))?;
    let audio = audio_db::of_chapter(&db, &id, number).await?.ok_or_else(|| ApiError::not_found("this chapter has no audio yet"))?;
    let bucket = ctx.env.bucket(crate::platform::AUDIO_BUCKET)?;
    let head = bucket.head(&audio.key).await?.ok_or_else(|| ApiError::not_found("this chapter has no audio yet"))?;
    let len = head.size();
    let range = parse_range(req.headers().get("Range")?.as_deref(), len);
    let (status, get) = match range {
        RangeRequest::Unsatisfiable => {
            let resp = ApiError::range_not_satisfiable(len).into_response();
            resp.headers().set("Content-Range", &format!("bytes */{len}"))?;
            return Ok(resp);
        }
        RangeRequest::Full => (200, bucket.get(&audio.key)),
        RangeRequest::Partial { start, end_inclusive } => {
            (206, bucket.get(&audio.key).range(Range::OffsetWithLength { offset: start, length: end_inclusive - start + 1 }))
        }
    };
    let obj = get.execute().await?.ok_or_else(|| ApiError::not_found("this chapter has no audio yet"))?;
    let body = obj.body().ok_or_else(ApiError::internal)?.response_body()?;
    let resp = Response::from_body(body)?.with_status(status);
    let h = resp.headers();
    h.set("Content-Type", "audio/mpeg")?;
    h.set("Accept-Ranges", "bytes")?;
    h.set("ETag", &head.http_etag())?;
    h.set("Cache-Control", "private, max-age=300")?;
    match range {
        RangeRequest::Partial { start, end_inclusive } => {
            h.set("Content-Range", &content_range(start, end_inclusive, len))?;
            h.set("Content-Length", &(end_inclusive - start + 1).to_string())?;
        }
        _ => h.set("Content-Length", &len.to_string())?,
    }
    Ok(resp)
}

/// The book: an ID3v2 tag with a CTOC and a CHAP per chapter, one Xing/Info frame for the
/// whole length, then each chapter's frames (its own Xing frame skipped) streamed from R2
/// one after another, so the book is never held in memory.
pub async fn book(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, _, story) = super::stories::owned(req, ctx, id).await?;
    let id = story.id.clone();
    let chapters = audio_db::with_audio(&db, &id).await?;
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
    let mut head = book_tag(if story.title.is_empty() { "talecast" } else { &story.title }, &marks);
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
