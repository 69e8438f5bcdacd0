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
//! a frame's position is interpolated linearly between the clip's start and end. A TOC entry is
//! 1/256 of the file, so an entry is off by at most the clip's share of the file (about 2 steps
//! for a VBR chapter of 150 lines) and, for padded CBR, by under a byte, which moves an entry
//! only where it straddles a step. Players use the table only to land near a position and then
//! resync on frame headers, so this is enough; a finer table would need per-clip frame sizes.

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
    let rate = clips
        .iter()
        .map(|c| if c.frames == 0 { None } else { c.kbps })
        .reduce(|a, b| if a == b { a } else { None })
        .flatten();
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::core::mp3::{join, read_xing, silent_frame, xing_frame, Version};

    const F: Format = Format { version: Version::Mpeg2, sample_rate: 24000, channels: 1 };
    const M1: Format = Format { version: Version::Mpeg1, sample_rate: 44100, channels: 1 };

    /// A frame that codes audio (part2_3_length set), optionally with its padding byte.
    fn loud(format: Format, kbps: u32, padded: bool) -> Vec<u8> {
        let mut f = silent_frame(format, kbps);
        match format.version {
            Version::Mpeg1 => f[6] |= 0x20,
            _ => f[5] = 0x40,
        }
        if padded {
            f[2] |= 2;
            f.push(0);
        }
        f
    }

    fn clip_of(frames: &[Vec<u8>]) -> Clip {
        Clip::parse(frames.concat()).unwrap()
    }

    fn cbr(n: usize, kbps: u32) -> Clip {
        clip_of(&vec![loud(F, kbps, false); n])
    }

    /// MPEG-1 at 44.1 kHz as LAME pads it: a padding byte whenever the running remainder of
    /// 144000 * kbps / 44100 passes a whole byte.
    fn padded_cbr(n: usize, kbps: u32) -> Clip {
        let (num, den) = (144_000 * kbps as u64, 44_100u64);
        let frames: Vec<Vec<u8>> = (0..n as u64)
            .map(|i| loud(M1, kbps, (i + 1) * num / den - i * num / den > num / den))
            .collect();
        clip_of(&frames)
    }

    /// VBR: the bitrate changes every frame.
    fn vbr(n: usize) -> Clip {
        let rates = [32, 64, 160, 128, 80];
        clip_of(&(0..n).map(|i| loud(F, rates[i % rates.len()], false)).collect::<Vec<_>>())
    }

    /// What the Worker writes: the header, then each piece, clips read from their stored form.
    fn stream(a: &Assembly, stored: &[Vec<u8>]) -> Vec<u8> {
        let mut out = a.header.clone();
        for p in &a.pieces {
            match *p {
                Piece::Pause { frames } => out.extend(a.pause_bytes(frames)),
                Piece::Clip { index, bytes } => {
                    assert_eq!(stored[index].len() as u64, bytes);
                    out.extend_from_slice(&stored[index]);
                }
            }
        }
        assert_eq!(out.len() as u64, a.total_len);
        out
    }

    fn planned(clips: &[Clip], pause_before: &[bool], pause_ms: u32) -> (Assembly, Vec<u8>) {
        let facts: Vec<ClipFacts> = clips.iter().map(ClipFacts::of).collect();
        let a = plan(&facts, pause_before, pause_ms).unwrap();
        let stored: Vec<Vec<u8>> = clips.iter().cloned().map(Clip::into_frames_only).collect();
        for (f, s) in facts.iter().zip(&stored) {
            assert_eq!(f.bytes, s.len() as u64);
        }
        let bytes = stream(&a, &stored);
        (a, bytes)
    }

    /// The table from the real frame positions, found by walking the written file.
    fn exact_toc(bytes: &[u8], header_len: usize, frames: u64) -> [u8; 100] {
        let mut starts = Vec::new();
        let mut at = header_len;
        while at < bytes.len() {
            starts.push(at as u64);
            at += Header::parse(&bytes[at..]).unwrap().len;
        }
        assert_eq!(starts.len() as u64, frames);
        std::array::from_fn(|i| toc_entry(starts[(frames * i as u64 / 100) as usize], bytes.len() as u64))
    }

    fn as_map(facts: &ClipFacts) -> HashMap<String, String> {
        facts.to_metadata().into_iter().collect()
    }

    #[test]
    fn metadata_round_trips() {
        let stereo = Format { channels: 2, ..M1 };
        let quiet = Clip::parse(silent_frame(F, 32).repeat(4)).unwrap();
        let joint = Clip::parse([silent_frame(stereo, 128), loud(stereo, 320, true)].concat()).unwrap();
        for clip in [cbr(7, 64), padded_cbr(50, 128), vbr(9), quiet, joint] {
            let facts = ClipFacts::of(&clip);
            let pairs = facts.to_metadata();
            let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert!(size < 200, "{size} bytes");
            assert!(pairs.iter().all(|(k, v)| k.is_ascii() && v.is_ascii()));
            let map = as_map(&facts);
            assert_eq!(ClipFacts::from_metadata(|k| map.get(k).cloned()), Some(facts));
        }
        let f = ClipFacts::of(&vbr(5));
        assert_eq!((f.kbps, f.silent, f.frames), (None, false, 5));
        assert_eq!(as_map(&f)["mp3-kbps"], "vbr");
    }

    #[test]
    fn from_metadata_refuses_missing_and_malformed() {
        let facts = ClipFacts::of(&cbr(10, 64));
        let good = as_map(&facts);
        for key in good.keys() {
            let mut m = good.clone();
            m.remove(key);
            assert_eq!(ClipFacts::from_metadata(|k| m.get(k).cloned()), None, "without {key}");
        }
        let bad = [
            ("mp3-rate", "44000"),    // no MPEG version has it
            ("mp3-rate", "+24000"),   // only our own digits
            ("mp3-channels", "3"),
            ("mp3-channels", "2"),    // the style says mono
            ("mp3-style", "256"),
            ("mp3-style", "244"),     // mode extension bits: style_of never keeps them
            ("mp3-style", "68"),      // joint stereo for a mono clip
            ("mp3-frames", "ten"),
            ("mp3-frames", "-1"),
            ("mp3-bytes", "1919"),    // ten 64 kbit/s frames are 1920..=1930 bytes
            ("mp3-bytes", "1931"),
            ("mp3-bytes", ""),
            ("mp3-kbps", "100"),      // not a bitrate
            ("mp3-kbps", "320"),      // MPEG-2 stops at 160
            ("mp3-kbps", "VBR"),
            ("mp3-silent", "true"),
        ];
        for (key, value) in bad {
            let mut m = good.clone();
            m.insert(key.into(), value.into());
            assert_eq!(ClipFacts::from_metadata(|k| m.get(k).cloned()), None, "{key}={value}");
        }
        let mut m = good.clone();
        m.insert("mp3-bytes".into(), "1930".into()); // every frame padded: possible
        assert!(ClipFacts::from_metadata(|k| m.get(k).cloned()).is_some());
        // Unrelated keys (other metadata of the object) do not matter.
        let mut m = good;
        m.insert("voice".into(), "x".into());
        assert_eq!(ClipFacts::from_metadata(|k| m.get(k).cloned()), Some(facts));
    }

    #[test]
    fn plan_refuses_what_join_refuses() {
        assert_eq!(plan(&[], &[], 100).unwrap_err(), Mp3Error::Empty);
        let quiet = ClipFacts::of(&Clip::parse(silent_frame(F, 64).repeat(3)).unwrap());
        assert_eq!(plan(&[quiet.clone(), quiet.clone()], &[false, true], 100).unwrap_err(), Mp3Error::Silent);
        let loud = ClipFacts::of(&cbr(2, 64));
        assert!(plan(&[quiet, loud.clone()], &[false, true], 100).is_ok());
        let stereo = Format { channels: 2, ..F };
        let other = ClipFacts::of(&Clip::parse(silent_frame(stereo, 64).repeat(2)).unwrap());
        assert_eq!(
            plan(&[loud, other], &[false, false], 0).unwrap_err(),
            Mp3Error::FormatMismatch { expected: F, found: stereo }
        );
        let empty = ClipFacts { format: F, style: 0xC4, frames: 0, bytes: 0, kbps: None, silent: false };
        assert_eq!(plan(&[empty.clone(), empty], &[], 0).unwrap_err(), Mp3Error::Empty);
    }

    #[test]
    fn pauses_go_before_flagged_clips_only() {
        let facts: Vec<ClipFacts> = [cbr(10, 64), cbr(5, 64), cbr(7, 64), cbr(3, 64)].iter().map(ClipFacts::of).collect();
        // Clip 0's flag never makes a pause; clip 3 has no entry.
        let a = plan(&facts, &[true, true, false], 240).unwrap();
        assert_eq!(
            a.pieces,
            vec![
                Piece::Clip { index: 0, bytes: 1920 },
                Piece::Pause { frames: 10 },
                Piece::Clip { index: 1, bytes: 960 },
                Piece::Clip { index: 2, bytes: 1344 },
                Piece::Clip { index: 3, bytes: 576 },
            ]
        );
        assert_eq!(a.frames, 10 + 10 + 5 + 7 + 3);
        assert_eq!(a.duration_ms, 35 * 24);
        assert_eq!((a.header_len, a.bitrate_kbps), (192, 64));
        assert_eq!(a.total_len, 192 * 36);
        assert_eq!(a.total_len, a.header_len as u64 + a.pieces.iter().map(|p| a.piece_len(p)).sum::<u64>());
        assert_eq!(a.pause_bytes(10), silent_frame(F, 64).repeat(10));
        let x = read_xing(&a.header).unwrap();
        assert_eq!((x.frames, x.audio_bytes, x.cbr), (35, 192 * 35, true));
        // A pause that rounds to no frame leaves no piece.
        let a = plan(&facts, &[true, true, true, true], 11).unwrap();
        assert!(a.pieces.iter().all(|p| matches!(p, Piece::Clip { .. })));
        assert_eq!(a.frames, 25);
    }

    #[test]
    fn cbr_stream_is_join_byte_for_byte() {
        // Clips as received: tags and an encoder info frame around the frames.
        let with_tags = |c: Clip| {
            let mut b = b"ID3\x03\x00\x00\x00\x00\x00\x05hello".to_vec();
            b.extend(xing_frame(F, 64, c.frame_count() as u64, c.audio_bytes(), true));
            b.extend(c.into_frames_only());
            b.extend(b"TAG");
            b.resize(b.len() + 125, b' ');
            Clip::parse(b).unwrap()
        };
        let clips = [with_tags(cbr(30, 64)), with_tags(cbr(1, 64)), with_tags(cbr(77, 64))];
        let (a, bytes) = planned(&clips, &[false, true, true], 500);
        let j = join(&clips, &[false, true, true], 500).unwrap();
        assert_eq!(bytes, j.bytes);
        assert_eq!((a.frames, a.duration_ms, a.header_len, a.bitrate_kbps), (j.frames, j.duration_ms, j.header_len, 64));
        assert_eq!(read_xing(&bytes).unwrap().toc, Some(exact_toc(&bytes, a.header_len, a.frames)));
        // A header too small for a table (32 kbit/s at 24 kHz) is written without one.
        let small = [cbr(40, 32), cbr(40, 32)];
        let (a, bytes) = planned(&small, &[false, true], 300);
        assert_eq!(bytes, join(&small, &[false, true], 300).unwrap().bytes);
        assert_eq!((a.header_len, read_xing(&bytes).unwrap().toc), (96, None));
    }

    #[test]
    fn padded_cbr_table_is_within_one() {
        let clips = [padded_cbr(200, 128), padded_cbr(333, 128), padded_cbr(41, 128)];
        assert!(clips[1].frames.iter().any(|r| r.len() == 418) && clips[1].frames.iter().any(|r| r.len() == 417));
        let (a, bytes) = planned(&clips, &[false, true, true], 700);
        assert_eq!(bytes, join(&clips, &[false, true, true], 700).unwrap().bytes);
        let x = read_xing(&bytes).unwrap();
        assert!(x.cbr);
        let (toc, exact) = (x.toc.unwrap(), exact_toc(&bytes, a.header_len, a.frames));
        assert!(toc.iter().zip(exact).all(|(&t, e)| t.abs_diff(e) <= 1), "{toc:?}\n{exact:?}");
    }

    #[test]
    fn vbr_table_rises_within_each_clip() {
        let clips = [vbr(120), cbr(60, 64), vbr(301), vbr(17)];
        let (a, bytes) = planned(&clips, &[false, true, false, true], 300);
        assert_eq!(bytes, join(&clips, &[false, true, false, true], 300).unwrap().bytes);
        assert_eq!(a.bitrate_kbps, 0);
        let x = read_xing(&bytes).unwrap();
        assert!(!x.cbr);
        let toc = x.toc.unwrap();
        assert!(toc.windows(2).all(|w| w[0] <= w[1]), "{toc:?}");
        assert_eq!(toc[0], toc_entry(a.header_len as u64, a.total_len));
        // Each entry lies between the entries of the start and end of the piece holding its
        // frame, and so within that piece's span of the exact table.
        let exact = exact_toc(&bytes, a.header_len, a.frames);
        let (mut frame0, mut byte0) = (0u64, a.header_len as u64);
        for p in &a.pieces {
            let n = match *p {
                Piece::Pause { frames } => frames,
                Piece::Clip { index, .. } => clips[index].frame_count() as u64,
            };
            let (lo, hi) = (toc_entry(byte0, a.total_len), toc_entry(byte0 + a.piece_len(p), a.total_len));
            for i in (0..100).filter(|&i| (frame0..frame0 + n).contains(&(a.frames * i / 100))) {
                let t = toc[i as usize];
                assert!((lo..=hi).contains(&t), "entry {i}: {t} outside {lo}..={hi}");
                assert!((lo..=hi).contains(&exact[i as usize]));
            }
            frame0 += n;
            byte0 += a.piece_len(p);
        }
        // Interpolation lands close here: frame sizes repeat in a short cycle.
        assert!(toc.iter().zip(exact).all(|(&t, e)| t.abs_diff(e) <= 1), "{toc:?}\n{exact:?}");
    }

    #[test]
    fn frames_only_is_what_the_facts_count() {
        let mut b = b"ID3\x03\x00\x00\x00\x00\x00\x03abc".to_vec();
        b.extend(xing_frame(M1, 128, 3, 3 * 418, true));
        let frames = [loud(M1, 128, true), loud(M1, 64, false), loud(M1, 128, true)];
        b.extend(frames.concat());
        b.extend([0u8; 10]);
        let clip = Clip::parse(b).unwrap();
        let facts = ClipFacts::of(&clip);
        let stored = clip.into_frames_only();
        assert_eq!(stored, frames.concat());
        assert_eq!(facts.bytes, stored.len() as u64);
        assert_eq!(Clip::parse(stored.clone()).map(|c| ClipFacts::of(&c)), Ok(facts.clone()));

        assert_eq!(facts.check_stored_len(stored.len() as u64), Ok(()));
        let short = facts.check_stored_len(stored.len() as u64 - 1).unwrap_err();
        assert_eq!(short.to_string(), "MP3 cut short: stored clip is 1043 bytes, its facts say 1044");
        assert_eq!(facts.check_stored_start(&stored[..4]), Ok(()));
        assert!(matches!(facts.check_stored_start(b"ID3\x03"), Err(Mp3Error::NotMp3(_))));
        let stereo = silent_frame(Format { channels: 2, ..M1 }, 128);
        assert!(matches!(facts.check_stored_start(&stereo), Err(Mp3Error::FormatMismatch { .. })));
        let cbr_facts = ClipFacts::of(&padded_cbr(5, 128));
        assert!(cbr_facts.check_stored_start(&silent_frame(M1, 64)).is_err());
        assert_eq!(cbr_facts.check_stored_start(&silent_frame(M1, 128)), Ok(()));
    }
}
