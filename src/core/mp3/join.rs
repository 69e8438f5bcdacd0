use super::frame::{bitrates, samples_per_frame, style_of};
use super::xing::{build, styled_silent_frame, toc_entry, toc_offset, Toc, XingSpec};
use super::{duration_ms, Clip, Format, Mp3Error};

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

/// Joins clips into one MP3: a Xing/Info frame (frame count, byte count, seek table), then each
/// clip's frames in order, with `pause_ms` of silent frames before clip `i` (i > 0) where
/// `pause_before[i]` is true (missing entries count as false).
///
/// The output is allocated once at its final size. Pauses use the clips' bitrate when all
/// frames share one, so the file stays CBR ("Info"); otherwise the lowest bitrate, since a
/// silent frame carries no audio data whatever its size.
/// The Xing frame and pauses copy the first audio frame's channel mode and flags, as LAME's own
/// Info frame does, so every header in the file describes the stream the same way.
pub fn join(clips: &[Clip], pause_before: &[bool], pause_ms: u32) -> Result<Joined, Mp3Error> {
    let format = clips.first().ok_or(Mp3Error::Empty)?.format;
    if let Some(c) = clips.iter().find(|c| c.format != format) {
        return Err(Mp3Error::FormatMismatch { expected: format, found: c.format });
    }
    let clip_frames: u64 = clips.iter().map(|c| c.frame_count() as u64).sum();
    if clip_frames == 0 {
        return Err(Mp3Error::Empty);
    }
    if clips.iter().all(|c| c.is_silent()) {
        return Err(Mp3Error::Silent);
    }
    for c in clips {
        if c.frames.iter().any(|r| r.start > r.end || r.end > c.data.len()) {
            return Err(Mp3Error::Truncated("a frame lies outside its clip's data".into()));
        }
    }

    let rate = clips.iter().map(Clip::bitrate_kbps).reduce(|a, b| if a == b { a } else { None }).flatten();
    let first_frame = clips.iter().find_map(|c| c.frames.first().map(|r| &c.data[r.clone()]));
    let style = style_of(first_frame.unwrap_or(&[]));
    let silence = styled_silent_frame(format, rate.unwrap_or(bitrates(format.version)[0]), style);
    let pauses = (1..clips.len()).filter(|&i| pause_before.get(i).copied().unwrap_or(false)).count() as u64;
    let per_pause = pause_frames(format, pause_ms);
    let frames = clip_frames + pauses * per_pause;
    let audio_bytes: u64 = clips.iter().map(Clip::audio_bytes).sum::<u64>() + pauses * per_pause * silence.len() as u64;

    let spec = XingSpec { format, style, kbps: rate.unwrap_or(0), frames, audio_bytes, cbr: rate.is_some() };
    let header = build(&spec, Toc::Placeholder);
    let header_len = header.len();
    let stream = header_len as u64 + audio_bytes;
    let mut out = Vec::with_capacity(stream as usize);
    out.extend_from_slice(&header);

    // The seek table needs each percent's frame offset, known only while copying.
    let mut toc = [0u8; 100];
    let mut next_pct = 0usize;
    let mut index = 0u64;
    let mut push = |out: &mut Vec<u8>, f: &[u8]| {
        while next_pct < 100 && frames * next_pct as u64 / 100 <= index {
            toc[next_pct] = toc_entry(out.len() as u64, stream);
            next_pct += 1;
        }
        out.extend_from_slice(f);
        index += 1;
    };
    for (i, clip) in clips.iter().enumerate() {
        if i > 0 && pause_before.get(i).copied().unwrap_or(false) {
            for _ in 0..per_pause {
                push(&mut out, &silence);
            }
        }
        for r in &clip.frames {
            push(&mut out, &clip.data[r.clone()]);
        }
    }
    // A Xing frame too small for a table (small CBR frames) was written without one.
    let at = toc_offset(format);
    if header_has_toc(&header, at) {
        out[at..at + 100].copy_from_slice(&toc);
    }
    debug_assert_eq!(out.len() as u64, stream);
    Ok(Joined {
        bytes: out,
        format,
        frames,
        duration_ms: duration_ms(format, frames),
        header_len,
        bitrate_kbps: rate.unwrap_or(0),
    })
}

/// Whether the header's flags (12 bytes before the table's place) announce a table.
fn header_has_toc(header: &[u8], at: usize) -> bool {
    header.get(at - 12..at - 8).is_some_and(|f| u32::from_be_bytes(f.try_into().unwrap()) & 4 != 0)
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
