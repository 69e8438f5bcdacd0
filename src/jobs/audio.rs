//! The audio job, in bounded steps. A step of a chapter either makes up to
//! `TTS_CLIPS_PER_STEP` of the clips R2 does not have yet (at most `TTS_CONCURRENCY` at a time,
//! each stored with its frame facts as soon as it arrives, so a retry or a crash resumes from
//! there) and hands over to the next message, or, once every clip exists, assembles the
//! chapter: the MP3 is streamed into R2 from the clips, read one at a time, behind a Xing/Info
//! header computed beforehand from their facts, so memory stays near one clip whatever the
//! chapter's length.

use super::step::{Failure, StepCtx};
use super::Outcome;
use crate::core::budget::Amounts;
use crate::core::mp3::{self, Assembly, Clip, ClipFacts, Piece};
use crate::core::task::ErrorInfo;
use crate::core::tts::{self, TtsError};
use crate::core::clip_plan::{self, Line};
use crate::core::voices::VoiceConfig;
use crate::db::audio::{self as audio_db, AudioMeta, StoredAudio};
use crate::db::{chapters, usage};
use crate::platform::Subrequests;
use crate::providers::elevenlabs;
use crate::settings::AudioSettings;
use futures::StreamExt;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use worker::{Bucket, Env, FixedLengthStream, HttpMetadata, Include};

pub async fn handle(env: &Env, task_id: &str, step: u32) -> worker::Result<Outcome> {
    let settings = AudioSettings::from_env(env).map_err(super::step::internal)?;
    let Some(ctx) = StepCtx::claim(env, task_id, step, settings.tts_timeout_secs).await? else { return Ok(Outcome::Done) };
    let result = match env.bucket(crate::platform::AUDIO_BUCKET) {
        Ok(bucket) => AudioRun { ctx: &ctx, settings: &settings, bucket: &bucket }.next_step().await,
        Err(e) => Err(e.into()),
    };
    ctx.settle(result).await
}

fn audio_invalid(chapter: u32, message: impl Into<String>) -> Failure {
    Failure::Fatal { chapter, error: ErrorInfo::new("audio_invalid", message) }
}

/// A TTS failure of `chapter` as the step settles it. A transient one fails the task only
/// after `limit` retries in a row, so its message says so; ElevenLabs' own text goes to the
/// log alone.
fn tts_failure(ctx: &StepCtx<'_>, key: &str, chapter: u32, limit: u32, e: TtsError) -> Failure {
    if let Some(p) = e.provider_failure() {
        super::provider_log::provider_failure(ctx, chapter, p, &[key, &ctx.jobs.openai_api_key]);
    }
    let error = ErrorInfo::new(e.code(), e.message(limit));
    match e {
        TtsError::Transient { retry_after_secs, .. } => Failure::Transient { chapter, limit, retry_after: retry_after_secs, error },
        _ => Failure::Fatal { chapter, error },
    }
}

/// Why one clip was not made: ElevenLabs (or its answer), or storing it in R2, which is
/// storage trouble like any other (the step is given back for redelivery).
enum ClipError {
    Tts(TtsError),
    Storage(String),
}

impl ClipError {
    fn into_failure(self, ctx: &StepCtx<'_>, key: &str, chapter: u32, limit: u32) -> Failure {
        match self {
            ClipError::Tts(e) => tts_failure(ctx, key, chapter, limit, e),
            ClipError::Storage(reason) => Failure::Broken(reason),
        }
    }
}

/// Every usable clip already in R2 for the story, with its frame facts, from one listing (a
/// page per thousand clips) instead of a lookup per line. A clip without facts (stored before
/// they were recorded) counts as missing and is made again.
pub async fn existing_clips(bucket: &Bucket, story_id: &str, sub: &Subrequests) -> worker::Result<HashMap<String, ClipFacts>> {
    let mut clips = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = bucket.list().prefix(format!("stories/{story_id}/clips/")).include(vec![Include::CustomMetadata]);
        if let Some(c) = &cursor {
            list = list.cursor(c);
        }
        sub.add(1);
        let page = list.execute().await?;
        for o in page.objects() {
            let meta = o.custom_metadata().unwrap_or_default();
            if let Some(facts) = ClipFacts::from_metadata(|k| meta.get(k).cloned()).filter(|f| f.bytes == o.size()) {
                clips.insert(o.key(), facts);
            }
        }
        match (page.truncated(), page.cursor()) {
            (true, Some(c)) => cursor = Some(c),
            _ => return Ok(clips),
        }
    }
}

/// Whether line `i` follows another speaker's line (a pause goes before it).
fn pause_before(lines: &[Line<'_>]) -> Vec<bool> {
    lines.iter().enumerate().map(|(i, l)| i > 0 && !l.speaker.trim().eq_ignore_ascii_case(lines[i - 1].speaker.trim())).collect()
}

struct AudioRun<'a> {
    ctx: &'a StepCtx<'a>,
    settings: &'a AudioSettings,
    bucket: &'a Bucket,
}

/// The clip calls of one batch, shared by its concurrent clips: the first failure stops the
/// calls not yet started; clips answered but not logged yet; and the cost of calls past their
/// budget check and not answered yet, which every later check counts (the budget read cannot).
#[derive(Clone, Copy)]
struct Calls<'a> {
    stop: &'a Cell<bool>,
    unlogged: &'a RefCell<Vec<Made>>,
    in_flight: &'a Cell<Amounts>,
}

/// A clip made in this step whose characters are not in `usage_log` yet.
struct Made {
    model: String,
    characters: u64,
    key: String,
}

impl AudioRun<'_> {
    async fn next_step(&self) -> Result<Outcome, Failure> {
        let task = &self.ctx.task;
        let db = &self.ctx.db;
        let story_id = &task.story_id;
        // The chapters and the story's voices in one round trip.
        let read = db.transaction(&[audio_db::sources(story_id, Some(&task.chapters)), audio_db::voices(story_id)], None).await?;
        let sources = audio_db::sources_from(&read[0])?;
        let pending: Vec<_> = task
            .chapters
            .iter()
            .filter_map(|n| sources.iter().find(|s| s.number == *n))
            .filter(|s| s.audio_task.as_deref() != Some(task.id.as_str()))
            .collect();
        let done = task.chapters.len() - pending.len();
        let Some(source) = pending.first() else {
            return self.ctx.complete(json!({ "chapters": task.chapters }), vec![]).await;
        };
        let number = source.number;
        let total = task.chapters.len();
        let script = source.script.as_ref().ok_or_else(|| audio_invalid(number, "the chapter has no script"))?;
        let (overrides, assigned) = audio_db::voices_from(&read[1])?;
        let pronunciations = audio_db::pronunciations_from(&read[1])?;
        let config = VoiceConfig::bundled();
        let spoken = clip_plan::spoken(script, &pronunciations);
        let lines = clip_plan::plan_lines(story_id, &self.settings.tts.output_format, &config, &spoken, &overrides, &assigned);
        if lines.is_empty() {
            return Err(audio_invalid(number, "the script has no spoken lines"));
        }
        for l in &lines {
            tts::check_text(&l.spec.voice.model_id, l.spec.text).map_err(|e| tts_failure(self.ctx, &self.settings.elevenlabs_api_key, number, 0, e))?;
        }

        let existing = existing_clips(self.bucket, story_id, &self.ctx.sub).await?;
        let mut seen = HashSet::new();
        let missing: Vec<&Line> = lines.iter().filter(|l| !existing.contains_key(&l.key) && seen.insert(l.key.as_str())).collect();
        let unique = lines.iter().map(|l| l.key.as_str()).collect::<HashSet<_>>().len();
        // Clips are 95 % of a chapter's share of the progress; assembly is the rest.
        let share = |made: usize| (done * 100 + (unique - missing.len() + made) * 95 / unique) / total;
        let progress = |p: usize| p.min(99) as u8;
        let label = format!("Chapter {number} ({} of {total})", done + 1);
        let working = chapters::mark_working(story_id, number, &self.ctx.lease, "generating_audio");

        if !missing.is_empty() {
            let batch = &missing[..missing.len().min(self.settings.clips_per_step)];
            let message = format!("{label}: making the clips ({} of {unique} ready)", unique - missing.len());
            self.ctx.progress(progress(share(0)), &message, vec![working]).await?;
            self.make_clips(number, batch).await?;
            let message = format!("{label}: making the clips ({} of {unique} ready)", unique - missing.len() + batch.len());
            self.ctx.progress(progress(share(batch.len())), &message, vec![]).await?;
            // The next step (a new invocation, with its own limits) continues the chapter.
            return self.ctx.hand_over().await;
        }

        let message = format!("{label}: joining the clips");
        self.ctx.progress(progress(share(0)), &message, vec![working]).await?;
        let facts: Vec<ClipFacts> = lines.iter().map(|l| existing[&l.key].clone()).collect();
        let plan = mp3::plan(&facts, &pause_before(&lines), self.settings.pause_ms).map_err(|e| audio_invalid(number, format!("the clips do not join: {e}")))?;
        // Each task writes its own object: a cancelled or taken-over job must not overwrite
        // the MP3 the chapter's row (with its lengths) still points at.
        let key = format!("stories/{story_id}/chapters/{number}-{}.mp3", task.id);
        let meta = AudioMeta {
            frames: plan.frames,
            header_len: plan.header_len as u64,
            sample_rate: plan.format.sample_rate,
            channels: plan.format.channels,
            mpeg_version: format!("{:?}", plan.format.version),
            bitrate_kbps: plan.bitrate_kbps,
        };
        let (bytes, duration_ms) = (plan.total_len, plan.duration_ms);
        let keys: Vec<String> = lines.iter().map(|l| l.key.clone()).collect();
        // What the audio is made of, so `audio_stale` can tell when its inputs change.
        let fingerprint = clip_plan::fingerprint(keys.iter().map(String::as_str));
        self.stream_chapter(number, &key, plan, keys, facts).await?;
        let characters = tts::characters(&lines.iter().map(|l| l.spec.text).collect::<Vec<_>>());
        let stored = StoredAudio { key: &key, duration_ms, bytes, characters, meta: &meta, fingerprint: &fingerprint };
        let recorded = self.ctx.progress(progress((done + 1) * 100 / total), &message, vec![audio_db::store(story_id, number, &self.ctx.lease, &stored)]).await;
        // Whichever object the row does not point at is removed (best effort: it is only space).
        let unused = if recorded.is_ok() { source.audio_key.clone().filter(|k| *k != key) } else { Some(key.clone()) };
        if let Some(old) = unused {
            self.ctx.sub.add(1);
            self.bucket.delete(&old).await.ok();
        }
        recorded?;
        crate::log::info("chapter_audio_ready", json!({ "task_id": task.id, "chapter": number, "duration_ms": duration_ms, "bytes": bytes }));
        self.ctx.hand_over().await
    }

    /// Makes `batch`'s clips, at most `concurrency` at a time. Before each paid call the lease
    /// is renewed in the same round trip that logs the clips made since (so a cancel is seen
    /// before the next call, and a crash loses no billed characters); the first failure stops
    /// the calls not yet started.
    async fn make_clips(&self, number: u32, batch: &[&Line<'_>]) -> Result<(), Failure> {
        let stop: Cell<bool> = Cell::new(false);
        let unlogged: RefCell<Vec<Made>> = RefCell::new(Vec::new());
        let in_flight: Cell<Amounts> = Cell::default();
        let calls = Calls { stop: &stop, unlogged: &unlogged, in_flight: &in_flight };
        let results: Vec<Result<(), Failure>> = futures::stream::iter(batch.iter().map(|l| self.make_clip(number, l, &calls)))
            .buffer_unordered(self.settings.tts.concurrency)
            .collect()
            .await;
        let rest = self.usage_rows(&unlogged.borrow());
        if !rest.is_empty() {
            if let Err(e) = self.ctx.db.transaction(&rest, None).await {
                // The database stayed away past the step's patience: the characters are still
                // on record in the log, for reconciliation.
                let chars: u64 = unlogged.borrow().iter().map(|m| m.characters).sum();
                crate::log::error("tts_usage_not_logged", json!({ "task_id": self.ctx.task.id, "clips": rest.len(), "characters": chars }));
                return Err(e.into());
            }
        }
        // A cancel or take-over first, then the provider's answer, then storage trouble.
        let rank = |f: &Failure| match f {
            Failure::Stopped => 0,
            Failure::Fatal { .. } => 1,
            Failure::Transient { .. } => 2,
            Failure::Broken(_) => 3,
        };
        match results.into_iter().filter_map(Result::err).min_by_key(rank) {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    async fn make_clip(&self, number: u32, line: &Line<'_>, calls: &Calls<'_>) -> Result<(), Failure> {
        let Calls { stop, unlogged, in_flight } = *calls;
        if stop.get() {
            return Ok(());
        }
        // Rows are taken off the list only once written; a concurrent clip may send the same
        // rows meanwhile, which their keys make harmless.
        let pending: Vec<String> = unlogged.borrow().iter().map(|m| m.key.clone()).collect();
        let rows = self.usage_rows(&unlogged.borrow());
        // Reserved before the renewal is sent, so a concurrent clip's check counts this one.
        let cost = self.cost(line);
        in_flight.set(in_flight.get().plus(cost));
        if let Err(f) = self.ctx.renew_within(number, in_flight.get(), rows).await {
            in_flight.set(in_flight.get().minus(cost));
            stop.set(true);
            return Err(f);
        }
        unlogged.borrow_mut().retain(|m| !pending.contains(&m.key));
        // Another clip may have failed while this one waited for the renewal.
        if stop.get() {
            in_flight.set(in_flight.get().minus(cost));
            return Ok(());
        }
        match self.synthesize_and_store(line, unlogged, || in_flight.set(in_flight.get().minus(cost))).await {
            Ok(()) => {
                self.ctx.call_succeeded();
                Ok(())
            }
            Err(e) => {
                stop.set(true);
                Err(e.into_failure(self.ctx, &self.settings.elevenlabs_api_key, number, self.settings.transient_retries))
            }
        }
    }

    /// One clip: a paid call, then the clip stored with its facts. The characters are owed
    /// from the moment the provider answered, usable or not, so they are queued for the usage
    /// log before anything else can fail.
    /// `answered` runs as the call returns, answered or not: from then on the clip's cost is
    /// in `unlogged` (or was never owed), no longer in flight.
    async fn synthesize_and_store(&self, line: &Line<'_>, unlogged: &RefCell<Vec<Made>>, answered: impl FnOnce()) -> Result<(), ClipError> {
        let (url, body) = tts::request(&self.settings.tts, &line.spec);
        let answer = elevenlabs::synthesize(self.settings, &url, &body, &self.ctx.sub).await;
        answered();
        let bytes = answer.map_err(ClipError::Tts)?;
        let characters = tts::characters(&[line.spec.text]);
        unlogged.borrow_mut().push(Made { model: line.spec.voice.model_id.clone(), characters, key: line.key.clone() });
        // A 200 that is not usable MP3 is the provider's hiccup: never stored, retried.
        let clip = match Clip::parse(bytes) {
            Ok(c) if !c.is_silent() => c,
            Ok(_) => return Err(ClipError::Tts(TtsError::broken("the audio is silent"))),
            Err(e) => return Err(ClipError::Tts(TtsError::broken(format!("the audio is not usable: {e}")))),
        };
        let facts = ClipFacts::of(&clip);
        let metadata: HashMap<String, String> = facts.to_metadata().into_iter().collect();
        self.ctx.sub.add(1);
        self.bucket
            .put(&line.key, clip.into_frames_only())
            .http_metadata(HttpMetadata { content_type: Some("audio/mpeg".into()), ..Default::default() })
            .custom_metadata(metadata)
            .execute()
            .await
            .map_err(|e| ClipError::Storage(format!("storing the clip failed: {e}")))?;
        Ok(())
    }

    /// What one clip costs: its characters, exactly, and their price.
    fn cost(&self, line: &Line<'_>) -> Amounts {
        let characters = tts::characters(&[line.spec.text]);
        Amounts::tts(characters, self.ctx.jobs.prices.tts_cost(&line.spec.voice.model_id, characters))
    }

    /// The `usage_log` rows of clips made and not logged yet, one per clip: keyed by the clip
    /// and this delivery's lease, so a replayed write logs a clip once, while a clip a later
    /// delivery had to make again (it was in flight at a crash) is logged again, as it was
    /// paid again.
    fn usage_rows(&self, unlogged: &[Made]) -> Vec<crate::core::neon::Query> {
        let task = &self.ctx.task;
        unlogged
            .iter()
            .map(|m| {
                let cost = self.ctx.jobs.prices.tts_cost(&m.model, m.characters);
                let key = format!("{}:{}:{}", task.id, m.key, self.ctx.lease.token);
                usage::log_tts(&task.user_id, &task.story_id, &task.id, &m.model, m.characters, cost, key)
            })
            .collect()
    }

    /// Streams the chapter into R2: the header, then each piece — silence, or a clip read
    /// from R2 only when the upload asks for it — so one clip is held at a time. R2 needs the
    /// length up front (`FixedLengthStream`), which the plan knows from the facts alone. A
    /// stored clip that does not match its facts (damaged in storage) fails the chapter with
    /// `audio_invalid` and is removed, so the next run makes it again.
    async fn stream_chapter(&self, number: u32, key: &str, plan: Assembly, keys: Vec<String>, facts: Vec<ClipFacts>) -> Result<(), Failure> {
        let plan = Rc::new(plan);
        let total = plan.total_len;
        let header = futures::stream::once(futures::future::ready(Ok(plan.header.clone())));
        let bad: Rc<RefCell<Option<(String, String)>>> = Rc::default();
        let source = Rc::new(ClipSource { bucket: self.bucket.clone(), sub: self.ctx.sub.clone(), keys, facts, bad: bad.clone() });
        let pieces = (0..plan.pieces.len()).map(move |i| (i, plan.clone(), source.clone()));
        let body = header.chain(futures::stream::iter(pieces).then(|(i, plan, source)| async move {
            match plan.pieces[i] {
                Piece::Pause { frames } => Ok(plan.pause_bytes(frames)),
                Piece::Clip { index, .. } => source.read(index).await,
            }
        }));
        self.ctx.sub.add(1);
        let put = self
            .bucket
            .put(key, FixedLengthStream::wrap(body, total))
            .http_metadata(HttpMetadata { content_type: Some("audio/mpeg".into()), ..Default::default() })
            .execute()
            .await;
        let damaged = bad.borrow_mut().take();
        if let Some((clip, reason)) = damaged {
            self.ctx.sub.add(1);
            self.bucket.delete(&clip).await.ok();
            return Err(audio_invalid(number, format!("a stored clip is not usable audio ({reason}); it was removed and is made again on the next run")));
        }
        put?;
        Ok(())
    }
}

/// The clips of a chapter being streamed, read one at a time as the upload asks.
struct ClipSource {
    bucket: Bucket,
    sub: Subrequests,
    keys: Vec<String>,
    facts: Vec<ClipFacts>,
    /// The first clip found not to match its facts: (key, why).
    bad: Rc<RefCell<Option<(String, String)>>>,
}

impl ClipSource {
    async fn read(&self, index: usize) -> worker::Result<Vec<u8>> {
        let key = &self.keys[index];
        self.sub.add(1);
        let obj = self.bucket.get(key).execute().await?.ok_or_else(|| worker::Error::RustError("a clip vanished from storage".into()))?;
        let data = obj.body().ok_or_else(|| worker::Error::RustError("a clip has no body".into()))?.bytes().await?;
        let facts = &self.facts[index];
        if let Err(e) = facts.check_stored_len(data.len() as u64).and_then(|_| facts.check_stored_start(&data)) {
            *self.bad.borrow_mut() = Some((key.clone(), e.to_string()));
            return Err(worker::Error::RustError(e.to_string()));
        }
        Ok(data)
    }
}
