//! A chapter's layout decided from facts recorded when each clip was made, so a Worker can
//! stream the chapter into storage one clip at a time instead of holding it whole.
//!
//! The Xing/Info header comes first in the file but describes all of it (frame count, byte
//! count, seek table), so it must be known before the first audio byte is written. Everything
//! it needs follows from each clip's frame count, byte count and bitrate, which are cheap to
//! record at synthesis time and small enough for R2 custom metadata.
//!
//! The seek table (TOC) is exact where frame positions follow from the facts: in pauses, and in
//! clips whose frames all have one size. Inside other clips (VBR, or CBR with padding bytes)
//! a frame's position is interpolated linearly between the clip's start and end; a TOC entry is
//! 1/256 of the file, so the error is at most the clip's length and, for padded CBR, under a
//! byte — players only use the table to land near a position and then resync on frame headers.

use super::frame::{bitrates, frame_len, style_of, version_for_rate, Header};
use super::join::pause_frames;
use super::xing::{build, styled_silent_frame, toc_entry, Toc, XingSpec};
use super::{duration_ms, Clip, Format, Mp3Error};

/// What assembly needs of one stored clip, recorded when the clip is made (kept in R2 custom metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipFacts {
    pub format: Format,
    /// Header byte 3 style of its first frame (frame::style_of), for the Xing frame and pauses.
    pub style: u8,
    pub frames: u32,
    /// Length of the stored object: its audio frames only, contiguous.
    pub bytes: u64,
    /// The bitrate every frame has, None when it varies.
    pub kbps: Option<u32>,
    pub silent: bool,
}

// Keys are lowercase because R2 (like HTTP headers) may not keep their case.
const K_RATE: &str = "mp3-rate";
const K_CHANNELS: &str = "mp3-channels";
const K_STYLE: &str = "mp3-style";
const K_FRAMES: &str = "mp3-frames";
const K_BYTES: &str = "mp3-bytes";
const K_KBPS: &str = "mp3-kbps";
const K_SILENT: &str = "mp3-silent";
const VBR: &str = "vbr";

impl ClipFacts {
    pub fn of(clip: &Clip) -> ClipFacts {
        // `get`, not indexing: a hand-made Clip may hold ranges past its data, which `join`
        // reports as Truncated after planning.
        let first = clip.frames.first().and_then(|r| clip.data.get(r.clone())).unwrap_or(&[]);
        ClipFacts {
            format: clip.format,
            style: style_of(first),
            frames: clip.frame_count() as u32,
            bytes: clip.audio_bytes(),
            kbps: clip.bitrate_kbps(),
            silent: clip.is_silent(),
        }
    }

    /// Short ASCII key/value pairs for R2 customMetadata (keep the total small, < 200 bytes).
    pub fn to_metadata(&self) -> Vec<(String, String)> {
        [
            (K_RATE, self.format.sample_rate.to_string()),
            (K_CHANNELS, self.format.channels.to_string()),
            (K_STYLE, self.style.to_string()),
            (K_FRAMES, self.frames.to_string()),
            (K_BYTES, self.bytes.to_string()),
            (K_KBPS, self.kbps.map_or_else(|| VBR.to_string(), |k| k.to_string())),
            (K_SILENT, (self.silent as u8).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// None when a key is missing or malformed (e.g. a clip stored before facts existed).
    ///
    /// Malformed includes facts that no real clip could have (a byte count that frames of that
    /// bitrate cannot add up to, a style that contradicts the channel count): a header planned
    /// from them would misdescribe the file, so the caller should re-read the clip instead.
    pub fn from_metadata(get: impl Fn(&str) -> Option<String>) -> Option<ClipFacts> {
        fn num<T: std::str::FromStr>(s: String) -> Option<T> {
            // Digits only: FromStr would also take a sign, which no writer of ours produces.
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
        }
        let sample_rate: u32 = num(get(K_RATE)?)?;
        let version = version_for_rate(sample_rate)?;
        let channels: u8 = num(get(K_CHANNELS)?)?;
        let style: u8 = num(get(K_STYLE)?)?;
        let frames: u32 = num(get(K_FRAMES)?)?;
        let bytes: u64 = num(get(K_BYTES)?)?;
        let kbps = match get(K_KBPS)? {
            k if k == VBR => None,
            k => Some(num::<u32>(k).filter(|k| bitrates(version).contains(k))?),
        };
        let silent = match get(K_SILENT)?.as_str() {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let facts = ClipFacts { format: Format { version, sample_rate, channels }, style, frames, bytes, kbps, silent };
        facts.plausible().then_some(facts)
    }

    /// Whether a real clip could have these facts.
    fn plausible(&self) -> bool {
        let Format { version, sample_rate, channels } = self.format;
        let mono = self.style >> 6 == 3;
        let style_ok = self.style & 0x30 == 0 && self.style & 3 != 2 && (channels == 1) == mono;
        let len = |kbps| frame_len(version, sample_rate, kbps) as u64;
        let all = bitrates(version);
        // A padded frame is one byte longer.
        let (lo, hi) = match self.kbps {
            Some(k) => (len(k), len(k) + 1),
            None => (len(all[0]), len(all[all.len() - 1]) + 1),
        };
        let n = self.frames as u64;
        matches!(channels, 1 | 2) && style_ok && (n * lo..=n * hi).contains(&self.bytes)
    }

    /// Checks a stored object's length (known before its body is read) against the facts: a
    /// shorter or longer object would make the chapter disagree with its header.
    pub fn check_stored_len(&self, len: u64) -> Result<(), Mp3Error> {
        if len == self.bytes {
            return Ok(());
        }
        Err(Mp3Error::Truncated(format!("stored clip is {len} bytes, its facts say {}", self.bytes)))
    }

    /// Checks the first bytes of a stored object: they must be a frame of the recorded format,
    /// style and bitrate, not a tag or a clip stored whole by older code.
    pub fn check_stored_start(&self, head: &[u8]) -> Result<(), Mp3Error> {
        if self.frames == 0 {
            return Ok(());
        }
        let h = Header::parse(head).ok_or_else(|| Mp3Error::NotMp3("stored clip does not start with a frame".into()))?;
        if h.format != self.format {
            return Err(Mp3Error::FormatMismatch { expected: self.format, found: h.format });
        }
        if style_of(head) != self.style || self.kbps.is_some_and(|k| k != h.bitrate_kbps) {
            return Err(Mp3Error::NotMp3("stored clip's first frame differs from its facts".into()));
        }
        Ok(())
    }
}

impl Clip {
    /// The clip's audio frames only, contiguous (tags and info frames dropped): what is stored,
    /// so a chapter copies each stored object whole. ClipFacts::of(&clip).bytes == this.len().
    ///
    /// Compacts in place: the clip's buffer is reused, never doubled.
    pub fn into_frames_only(self) -> Vec<u8> {
        let Clip { frames, mut data, .. } = self;
        let mut end = 0;
        for r in frames {
            // Frames from `parse` are in order and inside `data`, so each moves forward or stays.
            if r.start >= end && r.end <= data.len() {
                data.copy_within(r.clone(), end);
                end += r.len();
            }
        }
        data.truncate(end);
        data
    }
}

/// One stretch of a chapter after its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// `frames` silent frames: `Assembly::pause_bytes(frames)`.
    Pause { frames: u64 },
    /// The stored object of clip `index` (into the facts given to `plan`), `bytes` long.
    Clip { index: usize, bytes: u64 },
}

/// The layout of a chapter MP3, decided before any audio byte is read.
#[derive(Debug, Clone)]
pub struct Assembly {
    /// The Xing/Info frame, TOC included.
    pub header: Vec<u8>,
    /// In order, after the header.
    pub pieces: Vec<Piece>,
    /// Header + every piece: the FixedLengthStream length.
    pub total_len: u64,
    pub format: Format,
    /// Audio frames, Xing excluded (as Joined::frames).
    pub frames: u64,
    pub duration_ms: u64,
    pub header_len: usize,
    /// 0 when it varies (as Joined).
    pub bitrate_kbps: u32,
    silence: Vec<u8>,
}

impl Assembly {
    /// The bytes of a pause piece (silent frames matching the stream's style/bitrate).
    pub fn pause_bytes(&self, frames: u64) -> Vec<u8> {
        self.silence.repeat(frames as usize)
    }

    /// One silent frame of the pauses, for writers that repeat it themselves.
    pub fn pause_frame(&self) -> &[u8] {
        &self.silence
    }

    /// Bytes of a piece in the stream.
    pub fn piece_len(&self, piece: &Piece) -> u64 {
        match *piece {
            Piece::Pause { frames } => frames * self.silence.len() as u64,
            Piece::Clip { bytes, .. } => bytes,
        }
    }
}

/// Plans a chapter: a Xing/Info frame, then each clip's stored frames in order, with `pause_ms`
/// of silent frames before clip `i` (i > 0) where `pause_before[i]` is true (missing entries
/// count as false).
///
/// Pauses use the clips' bitrate when all frames share one, so the file stays CBR ("Info");
/// otherwise the lowest bitrate, since a silent frame carries no audio data whatever its size.
/// The Xing frame and pauses copy the first audio frame's style, as LAME's own Info frame does,
/// so every header in the file describes the stream the same way.
///
/// Same refusals as join: Empty, Silent (all clips silent), FormatMismatch, etc.
pub fn plan(clips: &[ClipFacts], pause_before: &[bool], pause_ms: u32) -> Result<Assembly, Mp3Error> {
    let format = clips.first().ok_or(Mp3Error::Empty)?.format;
    if let Some(c) = clips.iter().find(|c| c.format != format) {
        return Err(Mp3Error::FormatMismatch { expected: format, found: c.format });
    }
    let clip_frames: u64 = clips.iter().map(|c| c.frames as u64).sum();
    if clip_frames == 0 {
        return Err(Mp3Error::Empty);
    }
    if clips.iter().all(|c| c.silent) {
        return Err(Mp3Error::Silent);
    }

    // A clip without frames has no bitrate, so it makes the file VBR, as it did in `join`.
    let rate = clips.iter().map(|c| if c.frames == 0 { None } else { c.kbps }).reduce(|a, b| if a == b { a } else { None }).flatten();
    let style = clips.iter().find(|c| c.frames > 0).map_or(0, |c| c.style);
    let silence = styled_silent_frame(format, rate.unwrap_or(bitrates(format.version)[0]), style);
    let per_pause = pause_frames(format, pause_ms);
    let mut pieces = Vec::with_capacity(clips.len() * 2);
    for (index, c) in clips.iter().enumerate() {
        if index > 0 && per_pause > 0 && pause_before.get(index).copied().unwrap_or(false) {
            pieces.push(Piece::Pause { frames: per_pause });
        }
        pieces.push(Piece::Clip { index, bytes: c.bytes });
    }
    let frames_of = |p: &Piece| match *p {
        Piece::Pause { frames } => frames,
        Piece::Clip { index, .. } => clips[index].frames as u64,
    };
    let frames: u64 = pieces.iter().map(frames_of).sum();
    let piece_len = |p: &Piece| match *p {
        Piece::Pause { frames } => frames * silence.len() as u64,
        Piece::Clip { bytes, .. } => bytes,
    };
    let audio_bytes: u64 = pieces.iter().map(piece_len).sum();

    let spec = XingSpec { format, style, kbps: rate.unwrap_or(0), frames, audio_bytes, cbr: rate.is_some() };
    // The header's length does not depend on its table's values, and the table needs it.
    let header_len = build(&spec, Toc::Placeholder).len();
    let stream = header_len as u64 + audio_bytes;

    // Entry i: where frame frames*i/100 starts, as a fraction of the stream.
    let mut toc = [0u8; 100];
    let mut pct = 0usize;
    let (mut frame0, mut byte0) = (0u64, header_len as u64);
    for p in &pieces {
        let (n, len) = (frames_of(p), piece_len(p));
        while pct < 100 && frames * pct as u64 / 100 < frame0 + n {
            let k = frames * pct as u64 / 100 - frame0;
            // u128: a clip's bytes times its frame count can pass u64 for long clips.
            let pos = byte0 + (len as u128 * k as u128 / n as u128) as u64;
            toc[pct] = toc_entry(pos, stream);
            pct += 1;
        }
        frame0 += n;
        byte0 += len;
    }
    let header = build(&spec, Toc::Given(toc));
    debug_assert_eq!(header.len(), header_len);
    Ok(Assembly {
        header,
        pieces,
        total_len: stream,
        format,
        frames,
        duration_ms: duration_ms(format, frames),
        header_len,
        bitrate_kbps: rate.unwrap_or(0),
        silence,
    })
}
