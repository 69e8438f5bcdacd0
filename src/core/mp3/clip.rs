use std::ops::Range;

use super::frame::{self, Header};
use super::{duration_us, tags, Format, Mp3Error, Version};

/// Most bytes skipped in one go to find the next frame: a little more than the largest Layer III
/// frame (1441 bytes), so one damaged frame can be stepped over but a file that is mostly
/// something else is refused.
const RESYNC_LIMIT: usize = 2048;

/// Junk skipped in total must stay under this fraction (1/N) of the audio kept.
const JUNK_RATIO: usize = 16;

/// One clip's audio frames, tags and encoder info frames removed.
#[derive(Debug, Clone)]
pub struct Clip {
    pub format: Format,
    /// Byte ranges of the Layer III audio frames in `data`, in order.
    pub frames: Vec<Range<usize>>,
    /// The bytes as received; frame ranges index into it (no copy is made).
    pub data: Vec<u8>,
}

impl Clip {
    /// Finds the audio frames of an MP3 file. A frame counts only when its header is valid and
    /// the next frame's header follows it, or it ends the audio, or less than a frame of
    /// trailing junk follows it; anything else is junk that must be small to be skipped.
    ///
    /// Leading frames whose bit-reservoir reference reaches before the clip (a stream cut from
    /// a longer one) are rewritten in place as silent frames: joined after another clip they
    /// would otherwise decode that clip's bytes as their own.
    pub fn parse(mut data: Vec<u8>) -> Result<Clip, Mp3Error> {
        if data.is_empty() {
            return Err(Mp3Error::Empty);
        }
        let start = tags::skip_id3v2(&data)?;
        let end = tags::audio_end(&data, start);
        // Zero padding after a tag is a common tagger habit, not junk.
        let first = start + data[start..end].iter().take_while(|&&b| b == 0).count();
        if first >= end {
            return Err(Mp3Error::Empty);
        }
        if Header::parse(&data[first..end]).is_none() {
            if let Some(kind) = tags::sniff_other(&data[first..end]) {
                return Err(Mp3Error::NotMp3(format!("{kind} instead")));
            }
        }
        let frames = scan(&data[..end], first)?;
        let format = Header::parse(&data[frames.first().ok_or(Mp3Error::Empty)?.start..])
            .map(|h| h.format)
            .ok_or(Mp3Error::Empty)?;
        empty_reservoir_at_start(&mut data, &frames, format.version);
        Ok(Clip { format, frames, data })
    }

    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    pub fn duration_us(&self) -> u64 {
        duration_us(self.format, self.frames.len() as u64)
    }

    /// Bytes of audio frames.
    pub fn audio_bytes(&self) -> u64 {
        self.frames.iter().map(|r| r.len() as u64).sum()
    }

    /// Whether every frame codes no audio (`part2_3_length` 0 in every granule and channel).
    pub fn is_silent(&self) -> bool {
        self.frame_headers().all(|(f, h)| h.is_some_and(|h| frame::is_silent(f, &h)))
    }

    /// The bitrate shared by every frame, or None when it varies (VBR).
    pub fn bitrate_kbps(&self) -> Option<u32> {
        let mut rates = self.frame_headers().map(|(_, h)| h.map(|h| h.bitrate_kbps));
        let first = rates.next()??;
        rates.all(|r| r == Some(first)).then_some(first)
    }

    fn frame_headers(&self) -> impl Iterator<Item = (&[u8], Option<Header>)> + '_ {
        self.frames.iter().map(|r| {
            let f = self.data.get(r.clone()).unwrap_or(&[]);
            (f, Header::parse(f))
        })
    }
}

/// The frame starting at `pos`, if it is one by the rule in `Clip::parse`.
fn frame_at(b: &[u8], pos: usize) -> Option<Header> {
    let h = Header::parse(&b[pos..])?;
    let next = pos + h.len;
    let ok = next == b.len() || (next < b.len() && (Header::parse(&b[next..]).is_some() || b.len() - next < h.len));
    ok.then_some(h)
}

fn scan(b: &[u8], mut pos: usize) -> Result<Vec<Range<usize>>, Mp3Error> {
    let end = b.len();
    let mut frames: Vec<Range<usize>> = Vec::with_capacity(end / 100);
    let mut format: Option<Format> = None;
    let mut junk = 0usize;
    while pos < end {
        if let Some(h) = frame_at(b, pos) {
            let range = pos..pos + h.len;
            pos = range.end;
            match format {
                Some(f) if f != h.format => return Err(Mp3Error::FormatMismatch { expected: f, found: h.format }),
                _ => format = Some(h.format),
            }
            if !tags::is_info_frame(&b[range.clone()], &h) {
                frames.push(range);
            }
            continue;
        }
        let rest = end - pos;
        if let Some(h) = Header::parse(&b[pos..]) {
            if h.len > rest && format.is_some_and(|f| f == h.format) {
                return Err(Mp3Error::Truncated(format!("last frame has {rest} of its {} bytes", h.len)));
            }
        }
        if let Some(last) = frames.last() {
            if rest < last.len() {
                break; // trailing junk shorter than a frame
            }
        }
        let limit = (pos + RESYNC_LIMIT).min(end);
        match (pos + 1..limit).find(|&q| b[q] == 0xFF && frame_at(b, q).is_some()) {
            Some(q) => {
                junk += q - pos;
                pos = q;
            }
            None if format.is_none() => {
                return Err(Mp3Error::NotMp3(format!("no MPEG Layer III frame in the first {} bytes", limit - pos)))
            }
            None => return Err(Mp3Error::NotMp3(format!("unreadable data at byte {pos}"))),
        }
    }
    let audio: usize = frames.iter().map(|r| r.len()).sum();
    if frames.is_empty() {
        return Err(Mp3Error::Empty);
    }
    if junk * JUNK_RATIO > audio {
        return Err(Mp3Error::NotMp3(format!("{junk} bytes of junk among {audio} bytes of frames")));
    }
    Ok(frames)
}

/// Silences leading frames that refer to reservoir bytes before the clip's first frame.
fn empty_reservoir_at_start(data: &mut [u8], frames: &[Range<usize>], v: Version) {
    // main_data_begin is 9 bits in MPEG-1, 8 in MPEG-2/2.5: once this much is available, every
    // later reference stays inside the clip.
    let max_back = if v == Version::Mpeg1 { 511 } else { 255 };
    let mut available = 0usize;
    for r in frames {
        if available >= max_back {
            break;
        }
        let f = &mut data[r.clone()];
        let Some(h) = Header::parse(f) else { break };
        if frame::main_data_begin(f, &h) > available {
            frame::silence_in_place(f, &h);
        }
        available += h.main_data_len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mp3::{silent_frame, xing_frame};

    const F: Format = Format { version: Version::Mpeg1, sample_rate: 44100, channels: 1 };

    /// A "sounding" frame: valid header, part2_3_length set in both granules.
    fn loud_frame(mdb: u16) -> Vec<u8> {
        let mut f = silent_frame(F, 64);
        f[4] = (mdb >> 1) as u8;
        f[5] = ((mdb & 1) << 7) as u8;
        // part2_3_length of granule 0 starts at bit 18: set its top bit.
        f[6] |= 0x20;
        f[20] = 0xAB;
        f
    }

    fn frames(n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| loud_frame(0)).collect()
    }

    #[test]
    fn parses_plain_frames() {
        let c = Clip::parse(frames(10)).unwrap();
        assert_eq!(c.format, F);
        assert_eq!(c.frame_count(), 10);
        assert_eq!(c.frames[1], 208..416);
        assert_eq!(c.duration_us(), 261_224);
        assert_eq!(c.bitrate_kbps(), Some(64));
        assert!(!c.is_silent());
    }

    #[test]
    fn drops_info_frame_and_tags() {
        let mut b = b"ID3\x03\x00\x00\x00\x00\x00\x05hello\0\0\0".to_vec();
        b.extend(xing_frame(F, 64, 10, 2080, true));
        b.extend(frames(10));
        b.extend(b"TAG");
        b.resize(b.len() + 125, b' ');
        let c = Clip::parse(b).unwrap();
        assert_eq!(c.frame_count(), 10);
        assert_eq!(c.frames[0].start, 18 + 208);
    }

    #[test]
    fn silent_frames_are_silent() {
        let b: Vec<u8> = (0..5).flat_map(|_| silent_frame(F, 32)).collect();
        let c = Clip::parse(b).unwrap();
        assert!(c.is_silent());
        assert_eq!(c.bitrate_kbps(), Some(32));
    }

    #[test]
    fn trailing_junk_and_truncation() {
        let mut b = frames(4);
        b.extend([1, 2, 3, 4, 5]);
        assert_eq!(Clip::parse(b).unwrap().frame_count(), 4);
        let b = frames(4);
        let cut = b[..b.len() - 20].to_vec();
        assert!(matches!(Clip::parse(cut), Err(Mp3Error::Truncated(_))));
        // More than a frame of junk at the end is refused.
        let mut b = frames(4);
        b.extend(vec![7u8; 600]);
        assert!(matches!(Clip::parse(b), Err(Mp3Error::NotMp3(_))));
    }

    #[test]
    fn resyncs_over_a_little_junk_only() {
        let mut b = frames(40);
        b.splice(208 * 20..208 * 20, [9u8; 100]);
        let c = Clip::parse(b).unwrap();
        // The frame before the junk is not followed by a header, so it is dropped too.
        assert_eq!(c.frame_count(), 39);
        let mut b = frames(3);
        b.splice(208..208, [9u8; 300]);
        assert!(matches!(Clip::parse(b), Err(Mp3Error::NotMp3(_))));
        let mut b = vec![9u8; 3000];
        b.extend(frames(40));
        assert!(matches!(Clip::parse(b), Err(Mp3Error::NotMp3(_))));
    }

    #[test]
    fn refuses_mixed_formats() {
        let mut b = frames(3);
        b.extend(silent_frame(Format { channels: 2, ..F }, 64));
        b.extend(frames(3));
        assert_eq!(
            Clip::parse(b).unwrap_err(),
            Mp3Error::FormatMismatch { expected: F, found: Format { channels: 2, ..F } }
        );
    }

    #[test]
    fn refuses_non_audio() {
        assert_eq!(Clip::parse(vec![]).unwrap_err(), Mp3Error::Empty);
        assert_eq!(Clip::parse(vec![0; 100]).unwrap_err(), Mp3Error::Empty);
        assert_eq!(
            Clip::parse(br#"{"detail":"quota"}"#.to_vec()).unwrap_err(),
            Mp3Error::NotMp3("JSON text instead".into())
        );
        assert!(matches!(Clip::parse(vec![0xFF; 5000]), Err(Mp3Error::NotMp3(_))));
        // Only an info frame: no audio.
        assert_eq!(Clip::parse(xing_frame(F, 64, 0, 0, true)).unwrap_err(), Mp3Error::Empty);
    }

    #[test]
    fn leading_reservoir_reference_is_silenced() {
        let mut b = loud_frame(100);
        b.extend(loud_frame(150));
        b.extend(loud_frame(50));
        b.extend(frames(3));
        let c = Clip::parse(b).unwrap();
        let mdb = |i: usize| {
            let f = &c.data[c.frames[i].clone()];
            let h = Header::parse(f).unwrap();
            (frame::main_data_begin(f, &h), frame::is_silent(f, &h))
        };
        // Frame 0 reaches 100 bytes back with nothing there; frame 1 reaches 150 bytes back
        // with 208 - 4 - 17 = 187 available: kept.
        assert_eq!(mdb(0), (0, true));
        assert_eq!(mdb(1), (150, false));
        assert_eq!(mdb(2), (50, false));
    }
}
