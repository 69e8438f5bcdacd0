//! 16-bit mono PCM WAV: repairing the header espeak-ng writes to a pipe, reading short clips (to
//! guarantee a minimum length), and writing those or the tone used when espeak-ng is absent.

pub const RATE: u32 = 22050;

pub fn encode(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Sample rate and samples of a 16-bit mono WAV; None if it is anything else.
pub fn decode(bytes: &[u8]) -> Option<(u32, Vec<i16>)> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut rate = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let declared = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = &bytes[pos + 8..];
        // Streaming writers leave the data size as a placeholder; the file end is the truth.
        let len = declared.min(body.len());
        if id == b"fmt " && len >= 16 {
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            if channels != 1 || bits != 16 {
                return None;
            }
            rate = Some(u32::from_le_bytes(body[4..8].try_into().ok()?));
        } else if id == b"data" {
            let samples = body[..len & !1].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
            return Some((rate?, samples));
        }
        pos += 8 + len + (len & 1);
    }
    None
}

/// Makes a WAV written to a pipe (sizes left as placeholders) self-consistent, in place and
/// without touching the samples: the RIFF and data sizes are set from where the file ends.
/// Returns the sample rate and the number of samples; None unless it is 16-bit mono PCM.
pub fn fix_sizes(bytes: &mut Vec<u8>) -> Option<(u32, usize)> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut rate = None;
    while pos + 8 <= bytes.len() {
        let declared = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body_len = bytes.len() - pos - 8;
        if &bytes[pos..pos + 4] == b"fmt " && declared >= 16 && body_len >= 16 {
            let b = &bytes[pos + 8..];
            if u16::from_le_bytes([b[2], b[3]]) != 1 || u16::from_le_bytes([b[14], b[15]]) != 16 {
                return None;
            }
            rate = Some(u32::from_le_bytes(b[4..8].try_into().ok()?));
        } else if &bytes[pos..pos + 4] == b"data" {
            let len = body_len & !1;
            bytes.truncate(pos + 8 + len);
            bytes[pos + 4..pos + 8].copy_from_slice(&(len as u32).to_le_bytes());
            let riff = (bytes.len() - 8) as u32;
            bytes[4..8].copy_from_slice(&riff.to_le_bytes());
            return Some((rate?, len / 2));
        }
        pos += 8 + declared.min(body_len) + (declared & 1);
    }
    None
}

/// A voiced-sounding hum: a fundamental with a few harmonics, shaped into ~4 syllables a second,
/// 60 ms per character (at least 300 ms), so clip length still tracks the text.
pub fn tone(text_chars: usize, base_hz: f64, speed: f64) -> Vec<i16> {
    let ms = ((text_chars as f64 * 60.0).max(300.0) / speed.max(0.1)) as usize;
    let n = ms * RATE as usize / 1000;
    let r = RATE as f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / r;
            let wave = (2.0 * std::f64::consts::PI * base_hz * t).sin()
                + 0.5 * (4.0 * std::f64::consts::PI * base_hz * t).sin()
                + 0.25 * (6.0 * std::f64::consts::PI * base_hz * t).sin();
            let syllable = (std::f64::consts::PI * 4.0 * t).sin().abs();
            let fade = (t * 50.0).min(1.0).min((n - i) as f64 / r * 50.0);
            (wave / 1.75 * syllable * fade * 12000.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_tone_length() {
        let t = tone(10, 220.0, 1.0);
        assert_eq!(t.len(), 600 * RATE as usize / 1000);
        assert!(t.iter().any(|s| s.abs() > 1000));
        let (rate, back) = decode(&encode(&t, RATE)).unwrap();
        assert_eq!((rate, back), (RATE, t));
        assert_eq!(tone(1, 220.0, 1.0).len(), 300 * RATE as usize / 1000);
        assert!(decode(b"not a wav").is_none());
    }

    #[test]
    fn fix_sizes_repairs_a_streamed_header() {
        let t = tone(10, 220.0, 1.0);
        let mut w = encode(&t, RATE);
        w[4..8].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        w[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        w.push(0); // an odd trailing byte is not a sample
        assert_eq!(fix_sizes(&mut w), Some((RATE, t.len())));
        assert_eq!(w, encode(&t, RATE));
        assert!(fix_sizes(&mut b"RIFF0000WAVE".to_vec()).is_none());
    }
}
