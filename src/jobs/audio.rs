//! The audio job, one chapter per queue message: give every line its speaker's voice, make the
//! clips that R2 does not have yet (in parallel, within the connection limit; each clip is
//! stored as soon as it arrives, so a retry or a crash resumes from there), join the clips into
//! the chapter MP3 with pauses between speakers, and record it.

use super::step::{internal, NotRunning, StepCtx};
use super::Outcome;
use crate::core::mp3::{self, Clip};
use crate::core::neon::NeonError;
use crate::core::script::Script;
use crate::core::task::ErrorInfo;
use crate::core::tts::{self, ClipSpec, TtsError};
use crate::core::voices::{self, VoiceConfig};
use crate::db::audio::{self as audio_db, AudioMeta, StoredAudio};
use crate::db::{tasks, usage};
use crate::providers::elevenlabs;
use crate::settings::AudioSettings;
use futures::StreamExt;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use worker::{Bucket, Env, HttpMetadata};

pub async fn handle(env: &Env, task_id: &str, step: u32) -> worker::Result<Outcome> {
    let Some(ctx) = StepCtx::claim(env, task_id, step).await? else { return Ok(Outcome::Done) };
    let settings = AudioSettings::from_env(env).map_err(internal)?;
    let bucket = env.bucket(crate::platform::AUDIO_BUCKET)?;
    let run = AudioRun { ctx: &ctx, settings: &settings, bucket: &bucket };
    let outcome = match run.next_chapter().await {
        Ok(o) => Ok(o),
        Err(Stop::Cancelled) => Ok(Outcome::Done),
        Err(Stop::Tts(n, TtsError::Transient { reason, retry_after_secs })) => {
            let error = ErrorInfo::new("tts_unavailable", reason);
            ctx.retry_or_fail(n, settings.transient_retries, retry_after_secs, error).await
        }
        Err(Stop::Tts(n, e)) => ctx.fail(n, &ErrorInfo::new(e.code(), e.message())).await,
        Err(Stop::Audio(n, message)) => ctx.fail(n, &ErrorInfo::new("audio_invalid", message)).await,
        Err(Stop::Platform(e)) => return ctx.give_back(e).await,
        Err(Stop::Db(e)) => ctx.give_back(e).await,
    };
    outcome.map_err(internal)
}

enum Stop {
    Cancelled,
    Tts(u32, TtsError),
    /// The audio cannot make a chapter (no script, no lines, clips that do not join).
    Audio(u32, String),
    Db(NeonError),
    Platform(worker::Error),
}

impl From<NeonError> for Stop {
    fn from(e: NeonError) -> Self {
        Stop::Db(e)
    }
}

impl From<NotRunning> for Stop {
    fn from(_: NotRunning) -> Self {
        Stop::Cancelled
    }
}

impl From<worker::Error> for Stop {
    fn from(e: worker::Error) -> Self {
        Stop::Platform(e)
    }
}

/// One line ready to synthesise: its speaker, text and voice.
pub struct Line<'a> {
    pub speaker: &'a str,
    pub spec: ClipSpec<'a>,
    pub key: String,
}

/// The lines of a script with their voices and clip keys, in order. Lines without text are
/// left out: there is nothing to say.
pub fn plan_lines<'a>(
    story_id: &str,
    output_format: &str,
    config: &'a VoiceConfig,
    script: &'a Script,
    overrides: &BTreeMap<String, String>,
    assigned: &BTreeMap<String, String>,
) -> Vec<Line<'a>> {
    let spoken: Vec<_> = script.lines.iter().filter(|l| !l.text.trim().is_empty()).collect();
    spoken
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let spec = ClipSpec {
                text: &l.text,
                voice: voices::voice_for(config, &l.speaker, overrides, assigned),
                previous_text: i.checked_sub(1).map(|p| spoken[p].text.as_str()),
                next_text: spoken.get(i + 1).map(|n| n.text.as_str()),
            };
            let key = tts::clip_key(story_id, output_format, &spec);
            Line { speaker: &l.speaker, spec, key }
        })
        .collect()
}

/// Every clip key already in R2 for the story (one listing instead of a lookup per line).
pub async fn existing_clips(bucket: &Bucket, story_id: &str) -> worker::Result<HashSet<String>> {
    let mut keys = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = bucket.list().prefix(format!("stories/{story_id}/clips/"));
        if let Some(c) = &cursor {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        keys.extend(page.objects().iter().map(|o| o.key()));
        match (page.truncated(), page.cursor()) {
            (true, Some(c)) => cursor = Some(c),
            _ => return Ok(keys),
        }
    }
}

struct AudioRun<'a> {
    ctx: &'a StepCtx<'a>,
    settings: &'a AudioSettings,
    bucket: &'a Bucket,
}

impl AudioRun<'_> {
    async fn next_chapter(&self) -> Result<Outcome, Stop> {
        let task = &self.ctx.task;
        let db = &self.ctx.db;
        let story_id = &task.story_id;
        let sources = audio_db::sources(db, story_id, Some(&task.chapters)).await?;
        let pending: Vec<_> = task
            .chapters
            .iter()
            .filter_map(|n| sources.iter().find(|s| s.number == *n))
            .filter(|s| s.audio_task.as_deref() != Some(task.id.as_str()))
            .collect();
        let done = task.chapters.len() - pending.len();
        let Some(source) = pending.first() else {
            return Ok(self.ctx.complete(json!({ "chapters": task.chapters }), vec![]).await?);
        };
        let number = source.number;
        let total = task.chapters.len();
        let progress = |stage: usize| ((done * 2 + stage) * 100 / (total * 2)).min(99) as u8;
        self.ctx.ensure_running().await?;
        let message = format!("Chapter {number} ({} of {total}): making the clips", done + 1);
        self.ctx.begin(number, Some("generating_audio"), progress(0), &message).await?;

        let script = source.script.as_ref().ok_or_else(|| Stop::Audio(number, "the chapter has no script".into()))?;
        let (overrides, assigned) = audio_db::voices(db, story_id).await?;
        let config = VoiceConfig::bundled();
        let lines = plan_lines(story_id, &self.settings.tts.output_format, &config, script, &overrides, &assigned);
        if lines.is_empty() {
            return Err(Stop::Audio(number, "the script has no spoken lines".into()));
        }
        for l in &lines {
            tts::check_text(&l.spec.voice.model_id, l.spec.text).map_err(|e| Stop::Tts(number, e))?;
        }

        self.make_missing_clips(number, &lines).await?;
        self.ctx.ensure_running().await?;
        let message = format!("Chapter {number} ({} of {total}): joining the clips", done + 1);
        db.query(&tasks::progress(&task.id, progress(1), &message)).await?;
        self.ctx.publish().await;

        let joined = self.join(number, &lines).await?;
        let key = format!("stories/{story_id}/chapters/{number}.mp3");
        let meta = AudioMeta {
            frames: joined.frames,
            header_len: joined.header_len as u64,
            sample_rate: joined.format.sample_rate,
            channels: joined.format.channels,
            mpeg_version: format!("{:?}", joined.format.version),
            bitrate_kbps: joined.bitrate_kbps,
        };
        let bytes = joined.bytes.len() as u64;
        let duration_ms = joined.duration_ms;
        self.bucket
            .put(&key, joined.bytes)
            .http_metadata(HttpMetadata { content_type: Some("audio/mpeg".into()), ..Default::default() })
            .execute()
            .await?;
        let characters = tts::characters(&lines.iter().map(|l| l.spec.text).collect::<Vec<_>>());
        let stored = StoredAudio { key: &key, duration_ms, bytes, characters, meta: &meta };
        db.transaction(&[audio_db::store(story_id, number, &task.id, &stored), tasks::progress(&task.id, progress(2), &message)], None).await?;
        crate::log::info("chapter_audio_ready", json!({ "task_id": task.id, "chapter": number, "duration_ms": duration_ms, "bytes": bytes }));
        Ok(self.ctx.hand_over().await?)
    }

    /// Synthesises the clips R2 lacks, at most `concurrency` at a time, storing each as it
    /// arrives; logs the characters of those made (they are paid for even if another fails).
    async fn make_missing_clips(&self, number: u32, lines: &[Line<'_>]) -> Result<(), Stop> {
        let task = &self.ctx.task;
        let existing = existing_clips(self.bucket, &task.story_id).await?;
        let mut seen = HashSet::new();
        let missing: Vec<&Line> = lines.iter().filter(|l| !existing.contains(&l.key) && seen.insert(l.key.clone())).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let results: Vec<Result<(String, u64), TtsError>> = futures::stream::iter(missing.iter().map(|l| self.make_clip(l)))
            .buffer_unordered(self.settings.tts.concurrency)
            .collect()
            .await;
        let mut by_model: BTreeMap<String, u64> = BTreeMap::new();
        let mut first_error = None;
        for r in results {
            match r {
                Ok((model, chars)) => *by_model.entry(model).or_default() += chars,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        for (model, chars) in &by_model {
            let key = format!("{}:{}:{}:tts:{}:{}", task.id, number, self.ctx.step, model, crate::platform::new_id());
            let cost = self.ctx.jobs.prices.tts_cost(model, *chars);
            self.ctx.db.query(&usage::log_tts(&task.user_id, &task.story_id, &task.id, model, *chars, cost, key)).await?;
        }
        match first_error {
            Some(e) => Err(Stop::Tts(number, e)),
            None => Ok(()),
        }
    }

    async fn make_clip(&self, line: &Line<'_>) -> Result<(String, u64), TtsError> {
        let (url, body) = tts::request(&self.settings.tts, &line.spec);
        let bytes = elevenlabs::synthesize(self.settings, &url, &body).await?;
        // A 200 that is not usable MP3 is the provider's hiccup: never stored, retried.
        let clip = Clip::parse(bytes).map_err(|e| TtsError::transient(format!("the TTS answer is not usable audio: {e}")))?;
        if clip.is_silent() {
            return Err(TtsError::transient("the TTS answer is silent"));
        }
        self.bucket
            .put(&line.key, clip.data)
            .http_metadata(HttpMetadata { content_type: Some("audio/mpeg".into()), ..Default::default() })
            .execute()
            .await
            .map_err(|e| TtsError::transient(format!("storing the clip failed: {e}")))?;
        Ok((line.spec.voice.model_id.clone(), tts::characters(&[line.spec.text])))
    }

    /// Reads the chapter's clips from R2 in order and joins them; memory stays near the size of
    /// this chapter.
    async fn join(&self, number: u32, lines: &[Line<'_>]) -> Result<mp3::Joined, Stop> {
        let mut clips = Vec::with_capacity(lines.len());
        for l in lines {
            let obj = self.bucket.get(&l.key).execute().await?.ok_or_else(|| Stop::Audio(number, "a clip vanished from storage".into()))?;
            let bytes = obj.body().ok_or_else(|| Stop::Audio(number, "a clip has no body".into()))?.bytes().await?;
            clips.push(Clip::parse(bytes).map_err(|e| Stop::Audio(number, format!("a stored clip is not usable: {e}")))?);
        }
        let pause_before: Vec<bool> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| i > 0 && !l.speaker.trim().eq_ignore_ascii_case(lines[i - 1].speaker.trim()))
            .collect();
        mp3::join(&clips, &pause_before, self.settings.pause_ms).map_err(|e| Stop::Audio(number, format!("the clips do not join: {e}")))
    }
}
