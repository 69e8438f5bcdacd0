//! Frames we write ourselves: silence, and the Xing/Info header frame.
//!
//! Without a Xing/Info frame a player must guess a joined file's length from its first frame's
//! bitrate, which is wrong for VBR clips and for pauses written at another bitrate. The header
//! holds the frame count (exact duration), the stream's byte count and a 100-entry seek table
//! (TOC: byte position of each percent of the duration, in 1/256ths of the stream). No LAME
//! extension is written: its encoder delay/padding would describe one encoding, while a joined
//! file holds many, so players must play every frame as it is.

use super::frame::{self, bitrates, default_style, encode_header, side_info_len, style_of, Header};
use super::{tags, Format, Mp3Error, Version};

const FLAG_FRAMES: u32 = 1;
const FLAG_BYTES: u32 = 2;
const FLAG_TOC: u32 = 4;

/// The nearest valid bitrate at or above `kbps` for the version (the highest if none).
fn valid_bitrate(v: Version, kbps: u32) -> u32 {
    let all = bitrates(v);
    all.iter().copied().find(|&b| b >= kbps).unwrap_or(all[all.len() - 1])
}

/// A frame that decodes to silence: valid header, zero side information (no audio data and no
/// reservoir use), zero-filled. `bitrate_kbps` is rounded up to a valid Layer III bitrate.
/// Stereo is written as joint stereo, as LAME does.
pub fn silent_frame(format: Format, bitrate_kbps: u32) -> Vec<u8> {
    styled_silent_frame(format, bitrate_kbps, default_style(format.channels))
}

/// `silent_frame` with header byte 3 from `frame::style_of` of the audio it goes with.
pub(crate) fn styled_silent_frame(format: Format, bitrate_kbps: u32, style: u8) -> Vec<u8> {
    let br = valid_bitrate(format.version, bitrate_kbps);
    let mut f = vec![0u8; frame::frame_len(format.version, format.sample_rate, br)];
    f[..4].copy_from_slice(&encode_header(format, br, style));
    f
}

pub(crate) enum Toc {
    None,
    /// Evenly spread: right for constant bitrate.
    Linear,
    /// Filled in later by the caller (`join` knows every frame's offset only while copying).
    Placeholder,
    Given([u8; 100]),
}

/// Offset of the TOC in a frame written by `build`.
pub(crate) fn toc_offset(format: Format) -> usize {
    4 + side_info_len(format.version, format.channels) + 16
}

/// Chooses the Xing frame's bitrate: CBR streams keep theirs so the whole file has one bitrate
/// (dropping the TOC if it does not fit: CBR seeks by arithmetic anyway); otherwise the smallest
/// frame that holds the header with its TOC.
fn pick_bitrate(format: Format, kbps: u32, cbr: bool, toc: bool) -> (u32, bool) {
    let len = |br| frame::frame_len(format.version, format.sample_rate, br);
    let need = |with_toc: bool| toc_offset(format) + if with_toc { 100 } else { 0 };
    let own = valid_bitrate(format.version, kbps);
    if cbr && len(own) >= need(toc) {
        return (own, toc);
    }
    if cbr && len(own) >= need(false) {
        return (own, false);
    }
    let fits = bitrates(format.version).iter().copied().find(|&b| len(b) >= need(toc));
    // The highest bitrate always holds the header with its TOC (480 bytes at the least).
    (fits.unwrap_or(bitrates(format.version)[bitrates(format.version).len() - 1]), toc)
}

/// A Xing/Info frame; `style` as from `frame::style_of` of the first audio frame.
pub(crate) struct XingSpec {
    pub format: Format,
    pub style: u8,
    pub kbps: u32,
    pub frames: u64,
    pub audio_bytes: u64,
    pub cbr: bool,
}

pub(crate) fn build(spec: &XingSpec, toc: Toc) -> Vec<u8> {
    let XingSpec { format, style, kbps, frames, audio_bytes, cbr } = *spec;
    let want_toc = !matches!(toc, Toc::None);
    let (br, with_toc) = pick_bitrate(format, kbps, cbr, want_toc);
    let mut f = styled_silent_frame(format, br, style);
    let stream = audio_bytes + f.len() as u64;
    let mut at = 4 + side_info_len(format.version, format.channels);
    let flags = FLAG_FRAMES | FLAG_BYTES | if with_toc { FLAG_TOC } else { 0 };
    for word in [if cbr { *b"Info" } else { *b"Xing" }, flags.to_be_bytes(), sat32(frames), sat32(stream)] {
        f[at..at + 4].copy_from_slice(&word);
        at += 4;
    }
    if with_toc {
        let table = match toc {
            Toc::Given(t) => t,
            Toc::Linear => {
                let head = f.len() as u64;
                std::array::from_fn(|i| toc_entry(head + audio_bytes * i as u64 / 100, stream))
            }
            Toc::None | Toc::Placeholder => [0; 100],
        };
        f[at..at + 100].copy_from_slice(&table);
    }
    f
}

fn sat32(n: u64) -> [u8; 4] {
    (n.min(u32::MAX as u64) as u32).to_be_bytes()
}

/// A position in the stream as a TOC entry.
pub(crate) fn toc_entry(pos: u64, stream_bytes: u64) -> u8 {
    (pos as u128 * 256 / stream_bytes.max(1) as u128).min(255) as u8
}

/// The Xing/Info frame for `frames` audio frames totalling `audio_bytes` that will follow it.
/// `cbr`: every audio frame has bitrate `bitrate_kbps`; the frame is then an "Info" frame at that
/// bitrate with an evenly spread seek table. Otherwise a "Xing" frame without one (only the
/// caller knows where the frames fall; `join` and `book_xing` write a real table). The header
/// says joint stereo (or mono) with LAME's flags; `join` and `book_xing` copy the audio's.
pub fn xing_frame(format: Format, bitrate_kbps: u32, frames: u64, audio_bytes: u64, cbr: bool) -> Vec<u8> {
    let style = default_style(format.channels);
    let spec = XingSpec { format, style, kbps: bitrate_kbps, frames, audio_bytes, cbr };
    build(&spec, if cbr { Toc::Linear } else { Toc::None })
}

/// What a Xing/Info header at the start of an MP3 says (after any ID3v2 tag is skipped by the
/// caller): enough to put several joined files behind one header without reading their frames.
#[derive(Debug, Clone, PartialEq)]
pub struct XingInfo {
    pub format: Format,
    /// Audio frames after the header frame.
    pub frames: u64,
    /// Bytes of the header frame itself.
    pub header_len: usize,
    /// Bytes of audio frames after the header frame.
    pub audio_bytes: u64,
    /// "Info": every audio frame has the same bitrate.
    pub cbr: bool,
    pub toc: Option<[u8; 100]>,
    /// The header frame's `frame::style_of` (channel mode and flags), copied from the audio.
    pub style: u8,
}

impl XingInfo {
    /// The audio frames' bitrate when CBR, from bytes per frame (the header frame itself may
    /// have another bitrate when the audio's is too small to hold it).
    pub fn cbr_kbps(&self) -> Option<u32> {
        if !self.cbr || self.frames == 0 {
            return None;
        }
        let spf = frame::samples_per_frame(self.format.version) as u64;
        let bps = self.audio_bytes * 8 * self.format.sample_rate as u64 / (self.frames * spf);
        let kbps = (bps + 500) / 1000;
        bitrates(self.format.version).iter().copied().min_by_key(|&b| (b as i64 - kbps as i64).abs())
    }

    pub fn duration_ms(&self) -> u64 {
        super::duration_ms(self.format, self.frames)
    }
}

/// Reads the Xing/Info header frame at the start of `bytes` (the first frame of a `join` result;
/// the first 1.5 KB suffice). None when there is none or it lacks the frame or byte count.
pub fn read_xing(bytes: &[u8]) -> Option<XingInfo> {
    let h = Header::parse(bytes)?;
    let f = bytes.get(..h.len)?;
    if !tags::is_info_frame(f, &h) {
        return None;
    }
    let at = 4 + h.side_info_len();
    let at = if matches!(f.get(at..at + 4), Some(b"Xing") | Some(b"Info")) { at } else { at + 2 };
    let word = |o: usize| f.get(o..o + 4).map(|w| u32::from_be_bytes(w.try_into().unwrap()));
    let cbr = f.get(at..at + 4)? == b"Info";
    let flags = word(at + 4)?;
    if flags & (FLAG_FRAMES | FLAG_BYTES) != FLAG_FRAMES | FLAG_BYTES {
        return None;
    }
    let frames = word(at + 8)? as u64;
    let stream = word(at + 12)? as u64;
    let toc = if flags & FLAG_TOC != 0 { f.get(at + 16..at + 116)?.try_into().ok() } else { None };
    Some(XingInfo {
        format: h.format,
        frames,
        header_len: h.len,
        audio_bytes: stream.checked_sub(h.len as u64)?,
        cbr,
        toc,
        style: style_of(f),
    })
}

/// One Xing/Info frame for several files joined end to end (each without its own header frame):
/// the whole book's frame count, bytes and a seek table merged from theirs, so players show the
/// book's length and seek within it.
pub fn book_xing(parts: &[XingInfo]) -> Result<Vec<u8>, Mp3Error> {
    let first = parts.first().ok_or(Mp3Error::Empty)?;
    if let Some(p) = parts.iter().find(|p| p.format != first.format) {
        return Err(Mp3Error::FormatMismatch { expected: first.format, found: p.format });
    }
    let frames: u64 = parts.iter().map(|p| p.frames).sum();
    let audio: u64 = parts.iter().map(|p| p.audio_bytes).sum();
    if frames == 0 {
        return Err(Mp3Error::Empty);
    }
    let rate = first.cbr_kbps().filter(|&r| parts.iter().all(|p| p.cbr_kbps() == Some(r)));
    let spec = XingSpec {
        format: first.format,
        style: first.style,
        kbps: rate.unwrap_or(0),
        frames,
        audio_bytes: audio,
        cbr: rate.is_some(),
    };
    // The header's own length is needed for the table; it does not depend on the table's values.
    let head = build(&spec, Toc::Placeholder).len() as u64;
    let stream = head + audio;
    let toc = std::array::from_fn(|i| {
        let target = frames * i as u64 / 100; // frame index at i percent
        let (mut frame0, mut byte0) = (0u64, head);
        for p in parts {
            if target < frame0 + p.frames {
                // Where `target` falls within this part, interpolated in the part's own table
                // (or evenly when it has none).
                let part_stream = p.audio_bytes + p.header_len as u64;
                let at_pct = |pct: usize| match &p.toc {
                    Some(t) if pct < 100 => t[pct] as u64 * part_stream / 256,
                    Some(_) => part_stream,
                    None => p.header_len as u64 + p.audio_bytes * pct as u64 / 100,
                };
                let scaled = (target - frame0) * 100;
                let pct = (scaled / p.frames) as usize;
                let (lo, hi) = (at_pct(pct), at_pct(pct + 1).max(at_pct(pct)));
                let pos = lo + (hi - lo) * (scaled % p.frames) / p.frames;
                return toc_entry(byte0 + pos.saturating_sub(p.header_len as u64), stream);
            }
            frame0 += p.frames;
            byte0 += p.audio_bytes;
        }
        toc_entry(byte0, stream)
    });
    Ok(build(&spec, Toc::Given(toc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M1: Format = Format { version: Version::Mpeg1, sample_rate: 44100, channels: 2 };
    const M2: Format = Format { version: Version::Mpeg2, sample_rate: 24000, channels: 1 };

    #[test]
    fn silent_frames_have_the_right_size() {
        let f = silent_frame(M1, 128);
        assert_eq!(f.len(), 417);
        let h = Header::parse(&f).unwrap();
        assert_eq!((h.format, h.bitrate_kbps), (M1, 128));
        assert!(frame::is_silent(&f, &h));
        // 100 is not a Layer III bitrate: rounded up.
        assert_eq!(Header::parse(&silent_frame(M1, 100)).unwrap().bitrate_kbps, 112);
        assert_eq!(Header::parse(&silent_frame(M2, 1000)).unwrap().bitrate_kbps, 160);
    }

    #[test]
    fn info_frame_round_trips() {
        let f = xing_frame(M1, 128, 1000, 417_000, true);
        assert_eq!(f.len(), 417);
        let x = read_xing(&f).unwrap();
        assert_eq!(x.format, M1);
        assert_eq!((x.frames, x.header_len, x.audio_bytes, x.cbr), (1000, 417, 417_000, true));
        let toc = x.toc.unwrap();
        assert_eq!(toc[0], 0);
        assert_eq!(toc[50], 128);
        assert_eq!(x.cbr_kbps(), Some(128));
        assert_eq!(x.duration_ms(), 26_122);
        assert!(tags::is_info_frame(&f, &Header::parse(&f).unwrap()));
    }

    #[test]
    fn small_cbr_frames_drop_the_toc_or_grow() {
        // 32 kbit/s at 24 kHz: 96-byte frames hold the header (4 + 9 + 16) but not the TOC.
        let f = xing_frame(M2, 32, 10, 960, true);
        assert_eq!(f.len(), 96);
        assert_eq!(read_xing(&f).unwrap().toc, None);
        // 8 kbit/s: 24 bytes hold nothing; a larger frame is used.
        let f = xing_frame(M2, 8, 10, 240, true);
        let x = read_xing(&f).unwrap();
        assert!(x.toc.is_some() && x.cbr);
        assert_eq!(x.cbr_kbps(), Some(8));
        // VBR: the smallest frame that holds the header, here without a table.
        let f = xing_frame(M1, 0, 10, 4000, false);
        let x = read_xing(&f).unwrap();
        assert!(!x.cbr && x.toc.is_none());
        assert_eq!(Header::parse(&f).unwrap().bitrate_kbps, 32);
        // With a table: 156 bytes hold 4 + 32 + 16 + 100.
        let spec = XingSpec { format: M1, style: 0x04, kbps: 0, frames: 10, audio_bytes: 4000, cbr: false };
        let f = build(&spec, Toc::Placeholder);
        assert_eq!(f[3], 0x04); // the style given: plain stereo
        assert_eq!(Header::parse(&f).unwrap().bitrate_kbps, 48);
        assert!(read_xing(&f).unwrap().toc.is_some());
    }

    #[test]
    fn book_header_merges_parts() {
        let a = read_xing(&xing_frame(M1, 128, 1000, 417_000, true)).unwrap();
        let b = read_xing(&xing_frame(M1, 128, 3000, 1_251_000, true)).unwrap();
        let h = book_xing(&[a.clone(), b.clone()]).unwrap();
        let x = read_xing(&h).unwrap();
        assert_eq!((x.frames, x.audio_bytes, x.cbr), (4000, 1_668_000, true));
        let toc = x.toc.unwrap();
        assert!(toc.windows(2).all(|w| w[0] <= w[1]));
        assert!((toc[25] as i32 - 64).abs() <= 1, "{}", toc[25]);
        assert!((toc[75] as i32 - 192).abs() <= 1, "{}", toc[75]);
        let v = read_xing(&xing_frame(M1, 0, 500, 100_000, false)).unwrap();
        let x = read_xing(&book_xing(&[a.clone(), v]).unwrap()).unwrap();
        assert!(!x.cbr && x.toc.is_some());
        assert_eq!(x.frames, 1500);
        let other = read_xing(&xing_frame(M2, 32, 10, 960, true)).unwrap();
        assert!(matches!(book_xing(&[a, other]), Err(Mp3Error::FormatMismatch { .. })));
        assert_eq!(book_xing(&[]), Err(Mp3Error::Empty));
    }

    #[test]
    fn read_xing_rejects_other_frames() {
        assert_eq!(read_xing(&silent_frame(M1, 128)), None);
        assert_eq!(read_xing(b"ID3"), None);
        let f = xing_frame(M1, 128, 10, 4170, true);
        assert_eq!(read_xing(&f[..40]), None);
    }
}
