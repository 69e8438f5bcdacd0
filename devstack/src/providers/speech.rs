//! Real, playable MP3 for a line of text: espeak-ng speaks it (or, where espeak-ng is missing,
//! a tone stands in) and lame encodes it at the requested rate and bitrate, mono, with no LAME
//! info tag, so clips are bare MPEG frames that concatenate the way ElevenLabs clips do.
use super::voices::Voice;
use super::wav;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
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

pub struct Synth {
    espeak: String,
    lame: String,
    cache: Mutex<(HashMap<[u8; 32], Bytes>, usize)>,
}

impl Synth {
    /// DEVSTACK_ESPEAK / DEVSTACK_LAME name other binaries, which also lets tests exercise the
    /// tone fallback and the missing-encoder error on a machine that has both.
    pub fn from_env() -> Self {
        Synth {
            espeak: std::env::var("DEVSTACK_ESPEAK").unwrap_or_else(|_| "espeak-ng".into()),
            lame: std::env::var("DEVSTACK_LAME").unwrap_or_else(|_| "lame".into()),
            cache: Mutex::new((HashMap::new(), 0)),
        }
    }

    pub async fn mp3(&self, text: &str, voice: &Voice, fmt: &Format, speed: f64) -> Result<Bytes, SynthError> {
        let key: [u8; 32] =
            Sha256::digest(format!("{}\0{}\0{}\0{speed}\0{text}", voice.id, fmt.name, self.espeak)).into();
        if let Some(hit) = self.cache.lock().unwrap().0.get(&key) {
            return Ok(hit.clone());
        }
        let dir = TempDir::new().map_err(|e| SynthError::Failed(format!("temp dir: {e}")))?;
        let samples = self.speak(text, voice, speed, dir.path()).await?;
        let mp3 = self.encode(&samples, fmt, dir.path()).await?;
        let mut cache = self.cache.lock().unwrap();
        if cache.1 + mp3.len() > CACHE_BUDGET {
            *cache = (HashMap::new(), 0);
        }
        cache.1 += mp3.len();
        cache.0.insert(key, mp3.clone());
        Ok(mp3)
    }

    async fn speak(&self, text: &str, voice: &Voice, speed: f64, dir: &Path) -> Result<Vec<i16>, SynthError> {
        let text_path = dir.join("text.txt");
        let wav_path = dir.join("speech.wav");
        std::fs::write(&text_path, to_espeak_markup(text)).map_err(|e| SynthError::Failed(e.to_string()))?;
        let wpm = ((voice.wpm as f64) * speed).round().clamp(80.0, 450.0) as u32;
        let run = Command::new(&self.espeak)
            .args(["-m", "-b", "1", "-v", voice.espeak, "-p", &voice.pitch.to_string(), "-s", &wpm.to_string(), "-w"])
            .arg(&wav_path)
            .arg("-f")
            .arg(&text_path)
            .kill_on_drop(true)
            .output()
            .await;
        let mut samples = match run {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => wav::tone(text.chars().count(), voice.tone_hz, speed),
            Err(e) => return Err(SynthError::Failed(format!("espeak-ng: {e}"))),
            Ok(out) if !out.status.success() => {
                return Err(SynthError::Failed(format!("espeak-ng: {}", String::from_utf8_lossy(&out.stderr).trim())))
            }
            Ok(_) => {
                let bytes =
                    std::fs::read(&wav_path).map_err(|e| SynthError::Failed(format!("espeak-ng output: {e}")))?;
                let (rate, s) =
                    wav::decode(&bytes).ok_or_else(|| SynthError::Failed("espeak-ng wrote no usable WAV".into()))?;
                if rate != wav::RATE {
                    return Err(SynthError::Failed(format!("espeak-ng wrote {rate} Hz, expected {}", wav::RATE)));
                }
                s
            }
        };
        // Punctuation-only text makes espeak-ng silent; a real service still returns audio.
        let min = MIN_MS * wav::RATE as usize / 1000;
        if samples.len() < min {
            samples.resize(min, 0);
        }
        Ok(samples)
    }

    async fn encode(&self, samples: &[i16], fmt: &Format, dir: &Path) -> Result<Bytes, SynthError> {
        let wav_path = dir.join("in.wav");
        let mp3_path = dir.join("out.mp3");
        std::fs::write(&wav_path, wav::encode(samples, wav::RATE)).map_err(|e| SynthError::Failed(e.to_string()))?;
        let khz = match fmt.sample_rate {
            22050 => "22.05".to_string(),
            44100 => "44.1".to_string(),
            r => (r / 1000).to_string(),
        };
        let run = Command::new(&self.lame)
            .args(["--quiet", "-t", "-m", "m", "--resample", &khz, "-b", &fmt.kbps.to_string()])
            .arg(&wav_path)
            .arg(&mp3_path)
            .kill_on_drop(true)
            .output()
            .await;
        match run {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SynthError::LameMissing),
            Err(e) => return Err(SynthError::Failed(format!("lame: {e}"))),
            Ok(out) if !out.status.success() => {
                return Err(SynthError::Failed(format!("lame: {}", String::from_utf8_lossy(&out.stderr).trim())))
            }
            Ok(_) => {}
        }
        let mp3 = std::fs::read(&mp3_path).map_err(|e| SynthError::Failed(format!("lame output: {e}")))?;
        if mp3.is_empty() {
            return Err(SynthError::Failed("lame produced an empty file".into()));
        }
        Ok(Bytes::from(mp3))
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

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A per-request scratch directory, removed on drop (including when the client goes away).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "devstack-tts-{}-{}-{nanos}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
        let tone =
            Synth { espeak: "/nonexistent/espeak".into(), lame: "lame".into(), cache: Mutex::new((HashMap::new(), 0)) };
        let a = tone.mp3("Hello there", voice, fmt, 1.0).await.unwrap();
        assert!(is_mp3(&a));
        // 11 chars * 60 ms = 660 ms at 32 kbit/s is about 2.6 kB; allow for frame rounding.
        assert!((2000..4000).contains(&a.len()), "{}", a.len());
        let no_lame = Synth {
            espeak: "espeak-ng".into(),
            lame: "/nonexistent/lame".into(),
            cache: Mutex::new((HashMap::new(), 0)),
        };
        let e = no_lame.mp3("Hello", voice, fmt, 1.0).await.unwrap_err();
        assert!(e.to_string().contains("apt-get install -y lame"), "{e}");
    }

    #[tokio::test]
    async fn espeak_output_is_deterministic_and_voices_differ() {
        let s = Synth::from_env();
        let fmt = format("mp3_44100_64").unwrap();
        let rachel = voices::find("21m00Tcm4TlvDq8ikWAM").unwrap();
        let adam = voices::find("pNInz6obpgDQGcFmaJgB").unwrap();
        let a = s.mp3("The lantern glowed.", rachel, fmt, 1.0).await.unwrap();
        let fresh = Synth::from_env();
        assert_eq!(a, fresh.mp3("The lantern glowed.", rachel, fmt, 1.0).await.unwrap());
        assert_ne!(a, s.mp3("The lantern glowed.", adam, fmt, 1.0).await.unwrap());
        assert!(is_mp3(&a));
    }
}
