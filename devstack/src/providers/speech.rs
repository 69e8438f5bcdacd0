//! Real, playable MP3 for a line of text: espeak-ng speaks it (or, where espeak-ng is missing,
//! a tone stands in) and lame encodes it at the requested rate and bitrate, CBR, mono, with no
//! LAME info tag, so clips are bare MPEG frames that concatenate the way ElevenLabs clips do.
//! Each clip says which engine voiced it ([`Engine`]), so tests can refuse tone-only audio.
//!
//! Cost: the e2e tests voice chapters of hundreds of lines, so a line must stay cheap. Both tools
//! run over pipes (no temp files, no per-sample work here: devstack runs as a debug build, where
//! touching every sample in Rust costs as much as lame's optimised resampler), and lame uses its
//! fast algorithm (`-q 7`; its default `-q 5` costs ~40% more CPU for no audible gain on
//! synthetic speech). A 200-character line (~10 s of audio) at mp3_44100_128 takes ~35 ms of
//! espeak-ng and ~105 ms of lame CPU. Clips are cached by (voice, format, speed, text), so
//! retries and re-runs cost nothing.
use super::voices::Voice;
use super::wav;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub struct Format {
    pub name: &'static str,
    pub sample_rate: u32,
    pub kbps: u32,
}

pub const FORMATS: &[Format] = &[
    Format { name: "mp3_22050_32", sample_rate: 22050, kbps: 32 },
    Format { name: "mp3_24000_48", sample_rate: 24000, kbps: 48 },
    Format { name: "mp3_44100_32", sample_rate: 44100, kbps: 32 },
    Format { name: "mp3_44100_64", sample_rate: 44100, kbps: 64 },
    Format { name: "mp3_44100_96", sample_rate: 44100, kbps: 96 },
    Format { name: "mp3_44100_128", sample_rate: 44100, kbps: 128 },
    Format { name: "mp3_44100_192", sample_rate: 44100, kbps: 192 },
];

pub fn format(name: &str) -> Option<&'static Format> {
    FORMATS.iter().find(|f| f.name == name)
}

/// What voiced a clip: real speech, or the hum that stands in when espeak-ng is not installed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum Engine {
    #[serde(rename = "espeak-ng")]
    Espeak,
    #[serde(rename = "tone")]
    Tone,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Espeak => "espeak-ng",
            Engine::Tone => "tone",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Clip {
    pub mp3: Bytes,
    pub engine: Engine,
}

#[derive(Debug)]
pub enum SynthError {
    LameMissing,
    Failed(String),
}

impl std::fmt::Display for SynthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SynthError::LameMissing => write!(
                f,
                "devstack: the `lame` MP3 encoder is not installed; the project's setup installs it (apt-get install -y lame)"
            ),
            SynthError::Failed(m) => write!(f, "devstack: speech synthesis failed: {m}"),
        }
    }
}

/// Clips are deterministic, so repeated lines (retries, re-runs of a test) reuse the bytes.
const CACHE_BUDGET: usize = 64 << 20;
const MIN_MS: usize = 300;
/// lame's algorithm quality, 0 (best, slowest) to 9; 7 is its `-f` fast mode, plenty for
/// synthetic speech at the bitrates ElevenLabs offers.
const LAME_QUALITY: &str = "7";

pub struct Synth {
    espeak: String,
    lame: String,
    cache: Mutex<(HashMap<[u8; 32], Clip>, usize)>,
}

impl Synth {
    /// DEVSTACK_ESPEAK / DEVSTACK_LAME name other binaries, which also lets tests exercise the
    /// tone fallback and the missing-encoder error on a machine that has both.
    pub fn from_env() -> Self {
        Synth::with_tools(
            std::env::var("DEVSTACK_ESPEAK").unwrap_or_else(|_| "espeak-ng".into()),
            std::env::var("DEVSTACK_LAME").unwrap_or_else(|_| "lame".into()),
        )
    }

    fn with_tools(espeak: String, lame: String) -> Self {
        Synth { espeak, lame, cache: Mutex::new((HashMap::new(), 0)) }
    }

    pub async fn mp3(&self, text: &str, voice: &Voice, fmt: &Format, speed: f64) -> Result<Clip, SynthError> {
        let key: [u8; 32] =
            Sha256::digest(format!("{}\0{}\0{}\0{speed}\0{text}", voice.id, fmt.name, self.espeak)).into();
        if let Some(hit) = self.cache.lock().unwrap().0.get(&key) {
            return Ok(hit.clone());
        }
        let (wav_bytes, engine) = self.speak(text, voice, speed).await?;
        let clip = Clip { mp3: self.encode(wav_bytes, fmt).await?, engine };
        let mut cache = self.cache.lock().unwrap();
        if cache.1 + clip.mp3.len() > CACHE_BUDGET {
            *cache = (HashMap::new(), 0);
        }
        cache.1 += clip.mp3.len();
        cache.0.insert(key, clip.clone());
        Ok(clip)
    }

    /// A WAV at [`wav::RATE`] and what voiced it. espeak-ng's bytes go to lame untouched (only
    /// the header is repaired): decoding and re-encoding every sample costs more than lame's work.
    async fn speak(&self, text: &str, voice: &Voice, speed: f64) -> Result<(Vec<u8>, Engine), SynthError> {
        let wpm = ((voice.wpm as f64) * speed).round().clamp(80.0, 450.0) as u32;
        let mut cmd = Command::new(&self.espeak);
        cmd.args(["-m", "-b", "1", "-v", voice.espeak, "-p", &voice.pitch.to_string(), "-s", &wpm.to_string()])
            .args(["--stdin", "--stdout"]);
        let min = MIN_MS * wav::RATE as usize / 1000;
        match piped(&mut cmd, to_espeak_markup(text).into_bytes()).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut samples = wav::tone(text.chars().count(), voice.tone_hz, speed);
                samples.resize(samples.len().max(min), 0);
                Ok((wav::encode(&samples, wav::RATE), Engine::Tone))
            }
            Err(e) => Err(SynthError::Failed(format!("espeak-ng: {e}"))),
            Ok(out) if !out.status.success() => {
                Err(SynthError::Failed(format!("espeak-ng: {}", String::from_utf8_lossy(&out.stderr).trim())))
            }
            Ok(out) => {
                let mut bytes = out.stdout;
                let (rate, n) = wav::fix_sizes(&mut bytes)
                    .ok_or_else(|| SynthError::Failed("espeak-ng wrote no usable WAV".into()))?;
                if rate != wav::RATE {
                    return Err(SynthError::Failed(format!("espeak-ng wrote {rate} Hz, expected {}", wav::RATE)));
                }
                // Punctuation-only text makes espeak-ng silent; a real service still returns audio.
                if n < min {
                    let (_, mut samples) = wav::decode(&bytes).expect("fix_sizes checked it");
                    samples.resize(min, 0);
                    bytes = wav::encode(&samples, wav::RATE);
                }
                Ok((bytes, Engine::Espeak))
            }
        }
    }

    async fn encode(&self, wav_bytes: Vec<u8>, fmt: &Format) -> Result<Bytes, SynthError> {
        let khz = match fmt.sample_rate {
            22050 => "22.05".to_string(),
            44100 => "44.1".to_string(),
            r => (r / 1000).to_string(),
        };
        let mut cmd = Command::new(&self.lame);
        cmd.args(["--quiet", "-t", "-m", "m", "-q", LAME_QUALITY, "--resample", &khz, "-b", &fmt.kbps.to_string()])
            .args(["-", "-"]);
        let out = match piped(&mut cmd, wav_bytes).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SynthError::LameMissing),
            Err(e) => return Err(SynthError::Failed(format!("lame: {e}"))),
            Ok(out) if !out.status.success() => {
                return Err(SynthError::Failed(format!("lame: {}", String::from_utf8_lossy(&out.stderr).trim())))
            }
            Ok(out) => out,
        };
        if out.stdout.is_empty() {
            return Err(SynthError::Failed("lame produced no audio".into()));
        }
        Ok(Bytes::from(out.stdout))
    }
}

/// Runs a tool with `input` on stdin, collecting stdout and stderr; killed if the request is
/// dropped (the client went away).
async fn piped(cmd: &mut Command, input: Vec<u8>) -> std::io::Result<std::process::Output> {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let feed = async move {
        let r = stdin.write_all(&input).await;
        drop(stdin);
        r
    };
    let (fed, out) = tokio::join!(feed, child.wait_with_output());
    let out = out?;
    // A tool that exits early breaks the pipe; its status and stderr tell the real story.
    match fed {
        Err(e) if out.status.success() && e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(out),
    }
}

/// ElevenLabs reads `<break time="1.5s"/>` as a pause; espeak-ng's SSML mode does too. Any other
/// tag is dropped (its inner text stays) and the rest is escaped, so stray `<` or `&` in a story
/// cannot break espeak-ng's markup parser.
pub fn to_espeak_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        push_escaped(&mut out, &rest[..start]);
        let after = &rest[start..];
        let is_tag = after[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        match after.find('>') {
            Some(end) if is_tag => {
                if let Some(ms) = break_ms(&after[..=end]) {
                    out.push_str(&format!("<break time=\"{ms}ms\"/>"));
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("&lt;");
                rest = &after[1..];
            }
        }
    }
    push_escaped(&mut out, rest);
    out
}

fn break_ms(tag: &str) -> Option<u64> {
    let inner = tag.strip_prefix("<break")?;
    let t = inner.split("time=").nth(1)?.trim_start_matches(['"', '\'']);
    let num: String = t.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let value: f64 = num.parse().ok()?;
    let unit = &t[num.len()..];
    let ms = if unit.starts_with("ms") {
        value
    } else if unit.starts_with('s') {
        value * 1000.0
    } else {
        return None;
    };
    // ElevenLabs caps a break at 3 s.
    Some(ms.clamp(0.0, 3000.0) as u64)
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::voices;

    #[test]
    fn markup_keeps_breaks_and_escapes_the_rest() {
        assert_eq!(to_espeak_markup("a & b"), "a &amp; b");
        assert_eq!(to_espeak_markup("wait <break time=\"1.5s\" /> go"), "wait <break time=\"1500ms\"/> go");
        assert_eq!(to_espeak_markup("x <break time=\"9s\"/>"), "x <break time=\"3000ms\"/>");
        assert_eq!(to_espeak_markup("<emphasis>hi</emphasis> 3 < 4"), "hi 3 &lt; 4");
    }

    fn is_mp3(b: &[u8]) -> bool {
        b.starts_with(b"ID3") || (b.len() > 1 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0)
    }

    #[tokio::test]
    async fn tone_fallback_and_missing_lame() {
        let voice = voices::find("21m00Tcm4TlvDq8ikWAM").unwrap();
        let fmt = format("mp3_22050_32").unwrap();
        let tone = Synth::with_tools("/nonexistent/espeak".into(), "lame".into());
        let clip = tone.mp3("Hello there", voice, fmt, 1.0).await.unwrap();
        assert_eq!(clip.engine, Engine::Tone);
        let a = clip.mp3;
        assert!(is_mp3(&a));
        // 11 chars * 60 ms = 660 ms at 32 kbit/s is about 2.6 kB; allow for frame rounding.
        assert!((2000..4000).contains(&a.len()), "{}", a.len());
        let no_lame = Synth::with_tools("espeak-ng".into(), "/nonexistent/lame".into());
        let e = no_lame.mp3("Hello", voice, fmt, 1.0).await.unwrap_err();
        assert!(e.to_string().contains("apt-get install -y lame"), "{e}");
    }

    #[tokio::test]
    async fn espeak_output_is_deterministic_and_voices_differ() {
        let s = Synth::from_env();
        let fmt = format("mp3_44100_64").unwrap();
        let rachel = voices::find("21m00Tcm4TlvDq8ikWAM").unwrap();
        let adam = voices::find("pNInz6obpgDQGcFmaJgB").unwrap();
        let clip = s.mp3("The lantern glowed.", rachel, fmt, 1.0).await.unwrap();
        assert_eq!(clip.engine, Engine::Espeak);
        let a = clip.mp3;
        let fresh = Synth::from_env();
        assert_eq!(a, fresh.mp3("The lantern glowed.", rachel, fmt, 1.0).await.unwrap().mp3);
        assert_ne!(a, s.mp3("The lantern glowed.", adam, fmt, 1.0).await.unwrap().mp3);
        assert!(is_mp3(&a));
    }
}
