//! MPEG audio Layer III frame headers and the few side-information fields that joining needs.
//!
//! Only Layer III is accepted: every TTS provider and LAME produce it, and refusing Layers I/II
//! keeps a false sync in junk from being taken for audio.

use super::{Format, Version};

/// Layer III bitrates in kbit/s by bitrate index; index 0 (free format) and 15 are invalid.
const BITRATES_V1: [u32; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATES_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// The bitrates (kbit/s) a Layer III frame of this version may carry, lowest first.
pub fn bitrates(v: Version) -> &'static [u32] {
    match v {
        Version::Mpeg1 => &BITRATES_V1[1..],
        Version::Mpeg2 | Version::Mpeg25 => &BITRATES_V2[1..],
    }
}

fn sample_rates(v: Version) -> [u32; 3] {
    match v {
        Version::Mpeg1 => [44100, 48000, 32000],
        Version::Mpeg2 => [22050, 24000, 16000],
        Version::Mpeg25 => [11025, 12000, 8000],
    }
}

/// The MPEG version that carries this sample rate, if any.
pub fn version_for_rate(sample_rate: u32) -> Option<Version> {
    [Version::Mpeg1, Version::Mpeg2, Version::Mpeg25].into_iter().find(|v| sample_rates(*v).contains(&sample_rate))
}

/// Samples per channel in one Layer III frame.
pub fn samples_per_frame(v: Version) -> u32 {
    match v {
        Version::Mpeg1 => 1152,
        Version::Mpeg2 | Version::Mpeg25 => 576,
    }
}

/// Bytes of a frame (padding excluded); integer division as the standard defines it.
pub fn frame_len(v: Version, sample_rate: u32, bitrate_kbps: u32) -> usize {
    let coef = match v {
        Version::Mpeg1 => 144_000,
        Version::Mpeg2 | Version::Mpeg25 => 72_000,
    };
    (coef * bitrate_kbps / sample_rate) as usize
}

/// Bytes of side information after the header (and CRC).
pub fn side_info_len(v: Version, channels: u8) -> usize {
    match (v, channels) {
        (Version::Mpeg1, 1) => 17,
        (Version::Mpeg1, _) => 32,
        (_, 1) => 9,
        (_, _) => 17,
    }
}

/// A decoded 4-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: Format,
    pub bitrate_kbps: u32,
    pub padding: bool,
    /// A 16-bit CRC follows the header.
    pub crc: bool,
    /// Total bytes of the frame, header included.
    pub len: usize,
}

impl Header {
    /// The header at the start of `b`, if those four bytes are a valid Layer III header.
    pub fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = match (b[1] >> 3) & 3 {
            0 => Version::Mpeg25,
            2 => Version::Mpeg2,
            3 => Version::Mpeg1,
            _ => return None,
        };
        if (b[1] >> 1) & 3 != 1 {
            return None; // not Layer III
        }
        let crc = b[1] & 1 == 0;
        let br_index = (b[2] >> 4) as usize;
        if br_index == 0 || br_index == 15 {
            return None; // free format is legal but unused by encoders we meet; 15 is forbidden
        }
        let sr_index = ((b[2] >> 2) & 3) as usize;
        if sr_index == 3 {
            return None;
        }
        if b[3] & 3 == 2 {
            return None; // reserved emphasis: never written by encoders, a cheap false-sync filter
        }
        let bitrate_kbps = match version {
            Version::Mpeg1 => BITRATES_V1[br_index],
            _ => BITRATES_V2[br_index],
        };
        let sample_rate = sample_rates(version)[sr_index];
        let padding = (b[2] >> 1) & 1 == 1;
        let channels = if b[3] >> 6 == 3 { 1 } else { 2 };
        let len = frame_len(version, sample_rate, bitrate_kbps) + padding as usize;
        Some(Header { format: Format { version, sample_rate, channels }, bitrate_kbps, padding, crc, len })
    }

    /// Offset of the side information within the frame.
    pub fn side_info_start(&self) -> usize {
        4 + if self.crc { 2 } else { 0 }
    }

    pub fn side_info_len(&self) -> usize {
        side_info_len(self.format.version, self.format.channels)
    }

    /// Bytes after the side information: this frame's share of the bit reservoir.
    pub fn main_data_len(&self) -> usize {
        self.len.saturating_sub(self.side_info_start() + self.side_info_len())
    }
}

/// Byte 3 of a header without its mode extension: channel mode, copyright, original and
/// emphasis. Frames we write among audio frames (pauses, the Xing frame) copy these, as LAME's
/// Info frame does, so all headers of a file describe one stream.
pub fn style_of(header: &[u8]) -> u8 {
    header.get(3).map_or(0, |b| b & !0x30)
}

/// What LAME writes: joint stereo (or mono), "original" set, no emphasis.
pub fn default_style(channels: u8) -> u8 {
    if channels == 1 {
        0xC4
    } else {
        0x44
    }
}

/// Encodes a header without CRC or padding. `bitrate_kbps` must be in `bitrates()`; `style` as
/// from `style_of` (its channel mode is corrected to match `format.channels`).
pub fn encode_header(format: Format, bitrate_kbps: u32, style: u8) -> [u8; 4] {
    let version_bits = match format.version {
        Version::Mpeg1 => 3,
        Version::Mpeg2 => 2,
        Version::Mpeg25 => 0,
    };
    let table = match format.version {
        Version::Mpeg1 => &BITRATES_V1,
        _ => &BITRATES_V2,
    };
    let br_index = table.iter().position(|&b| b == bitrate_kbps).unwrap_or(1) as u8;
    let sr_index = sample_rates(format.version).iter().position(|&r| r == format.sample_rate).unwrap_or(0) as u8;
    // No mode extension: zero side information decodes to silence in any stereo mode.
    let mut b3 = style & !0x30;
    let mono = b3 >> 6 == 3;
    if format.channels == 1 && !mono {
        b3 |= 0xC0;
    } else if format.channels != 1 && mono {
        b3 = (b3 & 0x3F) | 0x40;
    }
    if b3 & 3 == 2 {
        b3 &= !3; // reserved emphasis
    }
    [0xFF, 0xE0 | (version_bits << 3) | (1 << 1) | 1, (br_index << 4) | (sr_index << 2), b3]
}

/// Reads `n` bits (n <= 32) starting `bit` bits into `b`, most significant first; missing bytes
/// read as zero so a short frame cannot panic.
fn bits(b: &[u8], bit: usize, n: usize) -> u32 {
    let mut v = 0u32;
    for i in bit..bit + n {
        let byte = b.get(i / 8).copied().unwrap_or(0);
        v = (v << 1) | ((byte >> (7 - i % 8)) & 1) as u32;
    }
    v
}

/// `main_data_begin`: how many bytes before this frame's side information its audio data starts.
pub fn main_data_begin(frame: &[u8], h: &Header) -> usize {
    let side = frame.get(h.side_info_start()..).unwrap_or(&[]);
    match h.format.version {
        Version::Mpeg1 => bits(side, 0, 9) as usize,
        _ => bits(side, 0, 8) as usize,
    }
}

/// Whether every granule of every channel codes no audio at all (`part2_3_length` 0): the frame
/// decodes to exact silence whatever else it carries.
pub fn is_silent(frame: &[u8], h: &Header) -> bool {
    let side = frame.get(h.side_info_start()..).unwrap_or(&[]);
    let ch = h.format.channels as usize;
    // Where the first granule/channel block starts and how long each block is, in bits.
    let (first, block, granules) = match h.format.version {
        Version::Mpeg1 => (9 + if ch == 1 { 5 } else { 3 } + 4 * ch, 59, 2),
        _ => (8 + ch, 63, 1),
    };
    (0..granules * ch).all(|i| bits(side, first + i * block, 12) == 0)
}

/// The CRC-16 (polynomial 0x8005, initial value 0xFFFF) a protected frame carries over the last
/// two header bytes and the side information.
pub fn crc16(frame: &[u8], h: &Header) -> u16 {
    let side_end = h.side_info_start() + h.side_info_len();
    let mut crc: u16 = 0xFFFF;
    for &byte in frame[2..4].iter().chain(&frame[6..side_end.min(frame.len())]) {
        for i in (0..8).rev() {
            let top = (crc >> 15) & 1;
            crc <<= 1;
            if top ^ ((byte >> i) as u16 & 1) == 1 {
                crc ^= 0x8005;
            }
        }
    }
    crc
}

/// Turns a frame into silence in place: zero side information (no audio data, no reservoir
/// reference), with the CRC recomputed when the frame carries one.
pub fn silence_in_place(frame: &mut [u8], h: &Header) {
    let start = h.side_info_start();
    let end = (start + h.side_info_len()).min(frame.len());
    frame[start..end].fill(0);
    if h.crc && frame.len() >= 6 {
        let crc = crc16(frame, h);
        frame[4..6].copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lame_headers() {
        // 64 kbit/s MPEG-1 44.1 kHz mono, as written by `lame -b 64` (no CRC).
        let h = Header::parse(&[0xFF, 0xFB, 0x50, 0xC4]).unwrap();
        assert_eq!(h.format, Format { version: Version::Mpeg1, sample_rate: 44100, channels: 1 });
        assert_eq!(h.bitrate_kbps, 64);
        assert_eq!(h.len, 208);
        assert!(!h.crc && !h.padding);
        // Same with padding: one byte more.
        assert_eq!(Header::parse(&[0xFF, 0xFB, 0x52, 0xC4]).unwrap().len, 209);
        // 32 kbit/s MPEG-2 22.05 kHz joint stereo.
        let h = Header::parse(&[0xFF, 0xF3, 0x40, 0x44]).unwrap();
        assert_eq!(h.format, Format { version: Version::Mpeg2, sample_rate: 22050, channels: 2 });
        assert_eq!(h.bitrate_kbps, 32);
        assert_eq!(h.len, 104);
        // MPEG-2.5 8 kHz at 8 kbit/s.
        let h = Header::parse(&[0xFF, 0xE3, 0x18, 0xC4]).unwrap();
        assert_eq!(h.format.version, Version::Mpeg25);
        assert_eq!(h.format.sample_rate, 8000);
        assert_eq!(h.len, 72);
    }

    #[test]
    fn rejects_invalid_headers() {
        for b in [
            [0xFF, 0xFB, 0x00, 0xC4], // free format
            [0xFF, 0xFB, 0xF0, 0xC4], // bitrate index 15
            [0xFF, 0xFB, 0x5C, 0xC4], // sample rate index 3
            [0xFF, 0xEB, 0x50, 0xC4], // reserved version
            [0xFF, 0xFD, 0x50, 0xC4], // layer II
            [0xFF, 0xFF, 0x50, 0xC4], // layer I
            [0xFF, 0xFB, 0x50, 0xC6], // reserved emphasis
            [0xFE, 0xFB, 0x50, 0xC4], // no sync
        ] {
            assert_eq!(Header::parse(&b), None, "{b:02x?}");
        }
        assert_eq!(Header::parse(&[0xFF, 0xFB, 0x50]), None);
    }

    #[test]
    fn encoded_headers_round_trip() {
        for (v, rates) in [
            (Version::Mpeg1, [44100, 48000, 32000]),
            (Version::Mpeg2, [22050, 24000, 16000]),
            (Version::Mpeg25, [11025, 12000, 8000]),
        ] {
            for sample_rate in rates {
                assert_eq!(version_for_rate(sample_rate), Some(v));
                for channels in [1, 2] {
                    for &br in bitrates(v) {
                        let f = Format { version: v, sample_rate, channels };
                        for style in [0x00, 0x44, 0x84, 0xC4, 0xCF, 0x0B, 0x7E] {
                            let b = encode_header(f, br, style);
                            let h = Header::parse(&b).unwrap();
                            assert_eq!((h.format, h.bitrate_kbps, h.crc, h.padding), (f, br, false, false));
                            assert_eq!(b[3] & 0x30, 0);
                            if (style >> 6 == 3) == (channels == 1) && style & 3 != 2 {
                                assert_eq!(style_of(&b), style & !0x30);
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(version_for_rate(44000), None);
    }

    #[test]
    fn side_info_fields() {
        let h = Header::parse(&[0xFF, 0xFB, 0x50, 0xC4]).unwrap();
        let mut f = vec![0u8; h.len];
        f[..4].copy_from_slice(&[0xFF, 0xFB, 0x50, 0xC4]);
        assert!(is_silent(&f, &h));
        assert_eq!(main_data_begin(&f, &h), 0);
        f[4] = 0x80; // main_data_begin's top bit: 256
        assert_eq!(main_data_begin(&f, &h), 256);
        // part2_3_length of granule 1 (mono MPEG-1: bits 18 + 59 .. +12).
        let bit = 18 + 59;
        f[4 + bit / 8] |= 0x80 >> (bit % 8);
        assert!(!is_silent(&f, &h));
        silence_in_place(&mut f, &h);
        assert!(is_silent(&f, &h));
        assert_eq!(main_data_begin(&f, &h), 0);
    }

    #[test]
    fn silencing_a_protected_frame_rewrites_its_crc() {
        // crc16 itself is checked against LAME's `-p` frames in tests/mp3.rs.
        let hdr = [0xFF, 0xFA, 0x50, 0xC4];
        let h = Header::parse(&hdr).unwrap();
        assert!(h.crc);
        let mut f = vec![0x55u8; h.len];
        f[..4].copy_from_slice(&hdr);
        silence_in_place(&mut f, &h);
        let stored = u16::from_be_bytes([f[4], f[5]]);
        assert_eq!(stored, crc16(&f, &h));
        assert!(f[6..6 + 17].iter().all(|&b| b == 0));
    }
}
