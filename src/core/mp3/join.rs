use super::assemble::{plan, ClipFacts, Piece};
use super::frame::samples_per_frame;
use super::{Clip, Format, Mp3Error};

/// A joined MP3: one Xing/Info frame, then audio frames.
#[derive(Debug, Clone)]
pub struct Joined {
    pub bytes: Vec<u8>,
    pub format: Format,
    /// Audio frames, the Xing/Info frame excluded.
    pub frames: u64,
    pub duration_ms: u64,
    /// Bytes of the Xing/Info frame at the start.
    pub header_len: usize,
    /// The bitrate every audio frame has, pauses included ("Info" header); 0 when it varies.
    pub bitrate_kbps: u32,
}

/// Silent frames that make up `pause_ms`, rounded to whole frames.
pub fn pause_frames(format: Format, pause_ms: u32) -> u64 {
    let per_frame_x1000 = samples_per_frame(format.version) as u64 * 1000;
    (pause_ms as u64 * format.sample_rate as u64 + per_frame_x1000 / 2) / per_frame_x1000
}

/// Joins clips into one MP3 in memory: `plan` for the same clips, then every piece copied into
/// one allocation of the final size. Kept on top of `plan` so a chapter joined here and one
/// streamed from stored clips cannot come out different.
///
/// A Xing/Info frame (frame count, byte count, seek table), then each clip's frames in order,
/// with `pause_ms` of silent frames before clip `i` (i > 0) where `pause_before[i]` is true
/// (missing entries count as false); see `plan` for pauses' bitrate and the header's style.
pub fn join(clips: &[Clip], pause_before: &[bool], pause_ms: u32) -> Result<Joined, Mp3Error> {
    let facts: Vec<ClipFacts> = clips.iter().map(ClipFacts::of).collect();
    let a = plan(&facts, pause_before, pause_ms)?;
    for c in clips {
        if c.frames.iter().any(|r| r.start > r.end || r.end > c.data.len()) {
            return Err(Mp3Error::Truncated("a frame lies outside its clip's data".into()));
        }
    }
    let mut out = Vec::with_capacity(a.total_len as usize);
    out.extend_from_slice(&a.header);
    for p in &a.pieces {
        match *p {
            Piece::Pause { frames } => {
                for _ in 0..frames {
                    out.extend_from_slice(a.pause_frame());
                }
            }
            Piece::Clip { index, .. } => {
                let c = &clips[index];
                for r in &c.frames {
                    out.extend_from_slice(&c.data[r.clone()]);
                }
            }
        }
    }
    debug_assert_eq!(out.len() as u64, a.total_len);
    Ok(Joined {
        bytes: out,
        format: a.format,
        frames: a.frames,
        duration_ms: a.duration_ms,
        header_len: a.header_len,
        bitrate_kbps: a.bitrate_kbps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mp3::{frame::Header, read_xing, silent_frame, Version};

    const F: Format = Format { version: Version::Mpeg2, sample_rate: 24000, channels: 1 };

    /// A clip of `n` frames at `kbps` that code audio (part2_3_length set).
    fn clip(n: usize, kbps: u32) -> Clip {
        let mut one = silent_frame(F, kbps);
        one[4 + 1] = 0x40; // part2_3_length's top bit (bit 9 of MPEG-2 mono side info)
        Clip::parse(one.repeat(n)).unwrap()
    }

    #[test]
    fn pause_lengths_round_to_frames() {
        assert_eq!(pause_frames(F, 0), 0);
        assert_eq!(pause_frames(F, 11), 0); // 24 ms frames
        assert_eq!(pause_frames(F, 12), 1);
        assert_eq!(pause_frames(F, 500), 21); // 20.8
        let m1 = Format { version: Version::Mpeg1, sample_rate: 44100, channels: 2 };
        assert_eq!(pause_frames(m1, 1000), 38); // 38.28
    }

    #[test]
    fn joins_with_pauses_into_one_allocation() {
        let clips = [clip(10, 64), clip(5, 64), clip(7, 64)];
        let j = join(&clips, &[true, true, false], 240).unwrap();
        assert_eq!(j.frames, 10 + 10 + 5 + 7);
        assert_eq!(j.bitrate_kbps, 64);
        assert_eq!(j.bytes.len(), j.bytes.capacity());
        assert_eq!(j.header_len, 192);
        assert_eq!(j.bytes.len(), 192 * (1 + 32));
        assert_eq!(j.duration_ms, 768);
        let x = read_xing(&j.bytes).unwrap();
        assert_eq!((x.frames, x.audio_bytes, x.cbr), (32, 192 * 32, true));
        let toc = x.toc.unwrap();
        assert_eq!(toc[0], 7); // 192 / 6336 * 256
        assert!(toc.windows(2).all(|w| w[0] <= w[1]));
        // The pause sits between clip 0 and clip 1: frames 10..20 are silent.
        let silent: Vec<bool> = j.bytes[192..]
            .chunks(192)
            .map(|f| crate::core::mp3::frame::is_silent(f, &Header::parse(f).unwrap()))
            .collect();
        assert!(silent[..10].iter().all(|s| !s));
        assert!(silent[10..20].iter().all(|&s| s));
        assert!(silent[20..].iter().all(|s| !s));
        // Short pause_before: missing entries mean no pause.
        assert_eq!(join(&clips, &[], 240).unwrap().frames, 22);
    }

    #[test]
    fn mixed_bitrates_make_a_vbr_file_with_lowest_rate_pauses() {
        let j = join(&[clip(4, 64), clip(4, 32)], &[false, true], 48).unwrap();
        assert_eq!(j.bitrate_kbps, 0);
        let x = read_xing(&j.bytes).unwrap();
        assert!(!x.cbr && x.toc.is_some());
        let pause = &j.bytes[j.header_len + 4 * 192..][..24];
        assert_eq!(Header::parse(pause).unwrap().bitrate_kbps, 8);
        assert_eq!(j.bytes.len(), j.header_len + 4 * 192 + 2 * 24 + 4 * 96);
    }

    #[test]
    fn refusals() {
        assert_eq!(join(&[], &[], 100).unwrap_err(), Mp3Error::Empty);
        let quiet = Clip::parse(silent_frame(F, 64).repeat(3)).unwrap();
        assert_eq!(join(&[quiet.clone(), quiet.clone()], &[false, true], 100).unwrap_err(), Mp3Error::Silent);
        assert!(join(&[quiet, clip(2, 64)], &[false, true], 100).is_ok());
        let stereo = Format { channels: 2, ..F };
        let other = Clip::parse(silent_frame(stereo, 64).repeat(2)).unwrap();
        assert_eq!(
            join(&[clip(2, 64), other], &[false, false], 0).unwrap_err(),
            Mp3Error::FormatMismatch { expected: F, found: stereo }
        );
        let mut broken = clip(2, 64);
        broken.frames.push(10_000..10_192);
        assert!(matches!(join(&[broken], &[], 0), Err(Mp3Error::Truncated(_))));
        let empty = Clip { format: F, frames: vec![], data: vec![] };
        assert_eq!(join(&[empty], &[], 0).unwrap_err(), Mp3Error::Empty);
    }
}
