//! The MP3 downloads, for their owner or a signed link: a chapter (whole or by `Range`, with
//! `If-Range`) and the whole book, each with its ID3v2 tag written in front of the stored audio
//! at download time (`core::book_meta`), so changing the title, author or cover never touches
//! the audio. The cover's bytes, which end the tag, are streamed from R2 like the audio.

use super::{ApiError, Ctx};
use crate::core::book_meta::id3::ChapterMark;
use crate::core::book_meta::splice::{self, Splice};
use crate::core::book_meta::{chapter_title, cover_key, Album};
use crate::core::http::range::{content_range, parse_range, RangeRequest};
use crate::core::mp3::{self, Format, Version};
use crate::db::audio::ChapterAudio;
use futures::stream::{LocalBoxStream, StreamExt, TryStreamExt};
use worker::{Bucket, Conditional, FixedLengthStream, Range, Request, Response, ResponseBody};

/// One piece of a streamed answer.
enum Source {
    Bytes(Vec<u8>),
    /// An object already read (its headers were needed first).
    Ready(worker::ByteStream),
    /// An object read when the stream reaches it, from `offset` (`Some(len)` bytes, or to the end).
    Fetch { key: String, offset: u64, len: Option<u64> },
}

/// The pieces one after another, never holding more than one chunk.
fn chain(bucket: Bucket, sources: Vec<Source>) -> impl futures::Stream<Item = worker::Result<Vec<u8>>> + 'static {
    futures::stream::iter(sources)
        .then(move |s| {
            let bucket = bucket.clone();
            async move {
                let s: LocalBoxStream<'static, worker::Result<Vec<u8>>> = match s {
                    Source::Bytes(b) => futures::stream::once(futures::future::ready(Ok(b))).boxed_local(),
                    Source::Ready(s) => s.boxed_local(),
                    Source::Fetch { key, offset, len } => {
                        let range = match len {
                            Some(length) => Range::OffsetWithLength { offset, length },
                            None => Range::OffsetToEnd { offset },
                        };
                        let obj = bucket.get(&key).range(range).execute().await?.ok_or_else(|| worker::Error::RustError(format!("{key} is missing")))?;
                        obj.body().ok_or_else(|| worker::Error::RustError("no body".into()))?.stream()?.boxed_local()
                    }
                };
                Ok::<_, worker::Error>(s)
            }
        })
        .try_flatten()
}

fn streamed(bucket: Bucket, sources: Vec<Source>, len: u64) -> Result<Response, ApiError> {
    let sized: worker::worker_sys::FixedLengthStream = FixedLengthStream::wrap(chain(bucket, sources), len).into();
    let resp = Response::from_body(ResponseBody::Stream(sized.readable()))?;
    resp.headers().set("Content-Type", "audio/mpeg")?;
    resp.headers().set("Content-Length", &len.to_string())?;
    Ok(resp)
}

/// A chapter's MP3 once the caller may have it: tag, then the stored object.
///
/// The size and ETag come from the object being streamed, not from a separate HEAD, so the
/// headers always describe the bytes sent. The row's byte count only shapes the ranged R2
/// read; if the object turns out to have another size, the range is worked out again on it.
/// The ETag joins the object's tag and a hash of the metadata (`splice::etag`), so an
/// `If-Range` can still be checked by R2 in the same read.
pub async fn serve_chapter(req: &Request, ctx: &Ctx, story_id: &str, album: &Album, audio: &ChapterAudio) -> Result<Response, ApiError> {
    let bucket = ctx.env.bucket(crate::platform::AUDIO_BUCKET)?;
    let gone = || ApiError::not_found("this chapter has no audio yet");
    let tag = album.chapter_tag(audio.number, &chapter_title(audio.number, audio.title.as_deref()));
    let cover_sha = album.cover.as_ref().map(|c| c.sha256.as_str());
    let cover = album.cover.as_ref().map(|c| cover_key(story_id, &c.sha256));
    let range_header = req.headers().get("Range")?;
    // RFC 9110 §13.1.5: only a strong tag of this very version lets a range through; a weak
    // tag, a date or a tag of other metadata means the whole download.
    let if_range = req.headers().get("If-Range")?.map(|t| splice::if_range_object_tag(&t, &tag.bytes, cover_sha));
    let mut whole = Splice { head: tag.bytes.len() as u64, cover: tag.tag_len - tag.bytes.len() as u64, audio: audio.bytes };
    for _ in 0..2 {
        match parse_range(range_header.as_deref(), whole.total()) {
            RangeRequest::Partial { .. } if matches!(if_range, Some(None)) => break,
            RangeRequest::Partial { start, end_inclusive } => {
                let parts = whole.parts(start, end_inclusive);
                let wanted = if_range.clone().flatten();
                // The audio's part; a range inside the tag needs only its size and tag.
                let (size, etag, body) = match parts.audio {
                    Some((offset, length)) => {
                        let mut get = bucket.get(&audio.key).range(Range::OffsetWithLength { offset, length });
                        if let Some(t) = &wanted {
                            // R2 answers without a body when the tag does not match.
                            get = get.only_if(Conditional { etag_matches: Some(t.clone()), ..Default::default() });
                        }
                        let obj = get.execute().await?.ok_or_else(gone)?;
                        let body = obj.body().map(|b| b.stream()).transpose()?;
                        (obj.size(), obj.http_etag(), body.map(Some))
                    }
                    None => {
                        let head = bucket.head(&audio.key).await?.ok_or_else(gone)?;
                        (head.size(), head.http_etag(), Some(None))
                    }
                };
                if size != whole.audio {
                    whole.audio = size;
                    continue;
                }
                let tag_ok = wanted.as_deref().is_none_or(|t| t == etag.trim_matches('"'));
                let Some(audio_body) = body.filter(|_| tag_ok) else { break };
                let mut sources = Vec::new();
                if let Some((o, l)) = parts.head {
                    sources.push(Source::Bytes(tag.bytes[o as usize..(o + l) as usize].to_vec()));
                }
                if let (Some((offset, len)), Some(key)) = (parts.cover, &cover) {
                    sources.push(Source::Fetch { key: key.clone(), offset, len: Some(len) });
                }
                sources.extend(audio_body.map(Source::Ready));
                let resp = streamed(bucket, sources, end_inclusive - start + 1)?.with_status(206);
                resp.headers().set("Content-Range", &content_range(start, end_inclusive, whole.total()))?;
                return chapter_headers(resp, &splice::etag(&etag, &tag.bytes, cover_sha));
            }
            RangeRequest::Full => break,
            RangeRequest::Unsatisfiable => {
                // Rare: a HEAD is enough to tell the length the 416 must name.
                let head = bucket.head(&audio.key).await?.ok_or_else(gone)?;
                if head.size() != whole.audio {
                    whole.audio = head.size();
                    continue;
                }
                let resp = ApiError::range_not_satisfiable(whole.total()).into_response();
                resp.headers().set("Content-Range", &format!("bytes */{}", whole.total()))?;
                return Ok(resp);
            }
        }
    }
    let obj = bucket.get(&audio.key).execute().await?.ok_or_else(gone)?;
    whole.audio = obj.size();
    let etag = splice::etag(&obj.http_etag(), &tag.bytes, cover_sha);
    let mut sources = vec![Source::Bytes(tag.bytes)];
    if let Some(key) = cover {
        sources.push(Source::Fetch { key, offset: 0, len: None });
    }
    sources.push(Source::Ready(obj.body().ok_or_else(ApiError::internal)?.stream()?));
    chapter_headers(streamed(bucket, sources, whole.total())?, &etag)
}

fn chapter_headers(resp: Response, etag: &str) -> Result<Response, ApiError> {
    let h = resp.headers();
    h.set("Accept-Ranges", "bytes")?;
    h.set("ETag", etag)?;
    h.set("Cache-Control", "private, max-age=300")?;
    Ok(resp)
}

/// The bytes `GET` of a chapter serves: its tag and its stored audio (the feed's enclosure
/// length), from the row alone.
pub fn chapter_len(album: &Album, audio: &ChapterAudio) -> u64 {
    album.chapter_tag(audio.number, &chapter_title(audio.number, audio.title.as_deref())).tag_len + audio.bytes
}

/// The book of `chapters` (those with audio, in order): an ID3v2 tag with a CTOC and a CHAP
/// per chapter (and the cover), one Xing/Info frame for the whole length, then each
/// chapter's frames (its own Xing frame skipped) streamed from R2 one after another, so the
/// book is never held in memory.
pub fn serve_book(ctx: &Ctx, story_id: &str, album: &Album, chapters: Vec<ChapterAudio>) -> Result<Response, ApiError> {
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
        marks.push(ChapterMark { id: format!("ch{}", c.number), title: chapter_title(c.number, c.title.as_deref()), start_ms: at_ms as u32, end_ms: end as u32 });
        at_ms = end;
    }
    let frames: u64 = chapters.iter().map(|c| c.meta.frames).sum();
    let audio_bytes: u64 = chapters.iter().map(|c| c.bytes - c.meta.header_len).sum();
    let cbr = chapters.iter().all(|c| c.meta.bitrate_kbps == first.meta.bitrate_kbps && c.meta.bitrate_kbps > 0);
    let bitrate = if first.meta.bitrate_kbps > 0 { first.meta.bitrate_kbps } else { 128 };
    let tag = album.book_tag(&marks);
    let xing = mp3::xing_frame(format, bitrate, frames, audio_bytes, cbr);
    let total = tag.tag_len + xing.len() as u64 + audio_bytes;

    let mut sources = vec![Source::Bytes(tag.bytes)];
    if let Some(c) = &album.cover {
        sources.push(Source::Fetch { key: cover_key(story_id, &c.sha256), offset: 0, len: None });
    }
    sources.push(Source::Bytes(xing));
    sources.extend(chapters.into_iter().map(|c| Source::Fetch { key: c.key, offset: c.meta.header_len, len: None }));
    let resp = streamed(ctx.env.bucket(crate::platform::AUDIO_BUCKET)?, sources, total)?;
    resp.headers().set("Content-Disposition", "inline; filename=\"book.mp3\"")?;
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

/// A chapter's length in whole seconds, from its frame count (the feed's `itunes:duration`).
pub fn chapter_secs(c: &ChapterAudio) -> Option<u64> {
    format_of(c).ok().map(|f| (mp3::duration_ms(f, c.meta.frames) + 500) / 1000)
}
