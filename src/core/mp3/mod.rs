//! MP3 at the frame level: parse a TTS clip into its Layer III frames, join clips with silent
//! pauses (in memory, or planned from recorded facts and streamed), and write the Xing/Info
//! header that tells players the exact length.
//!
//! Why by hand and not with a crate: the decoder crates (minimp3, symphonia) decode to PCM, which
//! costs far more memory and wasm size than joining needs, and re-encoding would need an encoder
//! too. Joining MP3s only needs frame headers: a Layer III frame is self-describing (its header
//! gives its length), silence is a frame whose side information codes no audio, and the duration
//! is frames × samples per frame. The only cross-frame state, the bit reservoir, is kept intact
//! because every clip is copied whole and starts with an empty reservoir (see `Clip::parse`).

mod assemble;
mod clip;
pub mod frame;
mod join;
pub mod tags;
mod xing;

use std::fmt;

pub use assemble::{plan, Assembly, ClipFacts, Piece};
pub use clip::Clip;
pub use frame::samples_per_frame;
pub use join::{join, Joined};
pub use xing::{book_xing, read_xing, silent_frame, xing_frame, XingInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Mpeg1,
    Mpeg2,
    Mpeg25,
}

/// What must match for two streams of frames to be joined. The version follows from the sample
/// rate but is kept because it fixes the frame size and samples per frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    pub version: Version,
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u8,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.version {
            Version::Mpeg1 => "MPEG-1",
            Version::Mpeg2 => "MPEG-2",
            Version::Mpeg25 => "MPEG-2.5",
        };
        let ch = if self.channels == 1 { "mono" } else { "stereo" };
        write!(f, "{} Hz {ch} ({v})", self.sample_rate)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mp3Error {
    /// No audio bytes at all (nothing, or only tags and padding).
    Empty,
    /// Not MPEG Layer III audio; the text says what was found.
    NotMp3(String),
    FormatMismatch {
        expected: Format,
        found: Format,
    },
    /// The data stops inside a tag or a frame: a cut-short download.
    Truncated(String),
    /// Every frame is silence.
    Silent,
}

impl fmt::Display for Mp3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mp3Error::Empty => write!(f, "no audio data"),
            Mp3Error::NotMp3(why) => write!(f, "not MP3 audio: {why}"),
            Mp3Error::FormatMismatch { expected, found } => {
                write!(f, "audio format {found} differs from {expected}")
            }
            Mp3Error::Truncated(why) => write!(f, "MP3 cut short: {why}"),
            Mp3Error::Silent => write!(f, "audio is all silence"),
        }
    }
}

impl std::error::Error for Mp3Error {}

/// Duration of `frames` frames in milliseconds, rounded to the nearest.
pub fn duration_ms(format: Format, frames: u64) -> u64 {
    let samples = frames as u128 * samples_per_frame(format.version) as u128;
    ((samples * 1000 + format.sample_rate as u128 / 2) / format.sample_rate as u128) as u64
}

/// Duration of `frames` frames in microseconds, rounded to the nearest.
pub fn duration_us(format: Format, frames: u64) -> u64 {
    let samples = frames as u128 * samples_per_frame(format.version) as u128;
    ((samples * 1_000_000 + format.sample_rate as u128 / 2) / format.sample_rate as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let f = Format { version: Version::Mpeg1, sample_rate: 44100, channels: 1 };
        assert_eq!(duration_ms(f, 0), 0);
        assert_eq!(duration_ms(f, 40), 1045); // 46080 / 44100 = 1.04490 s
        assert_eq!(duration_us(f, 40), 1_044_898);
        let f = Format { version: Version::Mpeg2, sample_rate: 24000, channels: 2 };
        assert_eq!(duration_ms(f, 125), 3000);
        assert_eq!(duration_ms(f, u32::MAX as u64), 103_079_215_080);
    }

    #[test]
    fn error_texts_are_short_reasons() {
        let a = Format { version: Version::Mpeg2, sample_rate: 22050, channels: 1 };
        let b = Format { version: Version::Mpeg1, sample_rate: 44100, channels: 2 };
        let e = Mp3Error::FormatMismatch { expected: a, found: b };
        assert_eq!(e.to_string(), "audio format 44100 Hz stereo (MPEG-1) differs from 22050 Hz mono (MPEG-2)");
        assert_eq!(Mp3Error::Silent.to_string(), "audio is all silence");
        assert_eq!(Mp3Error::NotMp3("WAV audio".into()).to_string(), "not MP3 audio: WAV audio");
    }
}
