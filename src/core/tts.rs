//! ElevenLabs text-to-speech without the I/O: the request for one line, the R2 key its clip is
//! stored under, the checks made before any call, and the classification of error answers into
//! "wait and retry" and "give up now".

use crate::core::provider_text::{clip, code_part, parse_retry_after, Kind, Provider, ProviderFailure};
use crate::core::voices::Voice;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// Workers allow 6 simultaneous outgoing connections per invocation; more parallel calls would
/// only queue inside the runtime.
pub const MAX_CONCURRENCY: usize = 6;
/// The Starter plan's limit for multilingual v2; a higher plan raises it with `concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 3;
const _: () = assert!(DEFAULT_CONCURRENCY <= MAX_CONCURRENCY);
pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";
pub const DEFAULT_OUTPUT_FORMAT: &str = "mp3_44100_128";
/// Only MP3: clips are joined frame by frame into one chapter MP3. `mp3_44100_192` needs the
/// Creator plan or above.
pub const MP3_FORMATS: &[&str] =
    &["mp3_22050_32", "mp3_24000_48", "mp3_44100_32", "mp3_44100_64", "mp3_44100_96", "mp3_44100_128", "mp3_44100_192"];
/// How much of a neighbouring line goes into `previous_text` / `next_text`. A few sentences are
/// enough to steer intonation at the joins; whole long neighbours would only grow every request.
pub const CONTEXT_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct TtsSettings {
    /// Without a trailing slash, e.g. `https://api.elevenlabs.io` or a local stand-in.
    pub base_url: String,
    pub output_format: String,
    /// Parallel synthesis calls per invocation, 1..=MAX_CONCURRENCY.
    pub concurrency: usize,
}

impl Default for TtsSettings {
    fn default() -> Self {
        TtsSettings {
            base_url: DEFAULT_BASE_URL.into(),
            output_format: DEFAULT_OUTPUT_FORMAT.into(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

impl TtsSettings {
    /// From configuration strings; blank or absent values take the defaults. An output format
    /// that is not MP3, or a concurrency that is not a positive number, is an error; a
    /// concurrency above [`MAX_CONCURRENCY`] is lowered to it.
    pub fn new(base_url: &str, output_format: Option<&str>, concurrency: Option<&str>) -> Result<Self, String> {
        let base = base_url.trim().trim_end_matches('/');
        let base = if base.is_empty() { DEFAULT_BASE_URL } else { base };
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("the ElevenLabs base URL must start with http:// or https://, got \"{base}\""));
        }
        let format = output_format.map(str::trim).filter(|f| !f.is_empty()).unwrap_or(DEFAULT_OUTPUT_FORMAT);
        if !MP3_FORMATS.contains(&format) {
            return Err(format!("output format \"{format}\" is not one of {}", MP3_FORMATS.join(", ")));
        }
        let concurrency = match concurrency.map(str::trim).filter(|c| !c.is_empty()) {
            None => DEFAULT_CONCURRENCY,
            Some(c) => match c.parse::<usize>() {
                Ok(n) if n >= 1 => n.min(MAX_CONCURRENCY),
                _ => {
                    return Err(format!(
                        "TTS concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got \"{c}\""
                    ))
                }
            },
        };
        Ok(TtsSettings { base_url: base.to_string(), output_format: format.to_string(), concurrency })
    }
}

/// One line to synthesise, with its neighbours' text for natural flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipSpec<'a> {
    pub text: &'a str,
    pub voice: &'a Voice,
    pub previous_text: Option<&'a str>,
    pub next_text: Option<&'a str>,
}

/// Everything but unreserved characters, so an id can never leave its path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `POST {base}/v1/text-to-speech/{voice_id}?output_format=...` and its JSON body. Neighbouring
/// text is sent as `previous_text` / `next_text` rather than request ids: request stitching is
/// documented for one voice's chunks, and lines here change voice.
pub fn request(s: &TtsSettings, clip: &ClipSpec) -> (String, Value) {
    let url = format!(
        "{}/v1/text-to-speech/{}?output_format={}",
        s.base_url.trim_end_matches('/'),
        utf8_percent_encode(&clip.voice.voice_id, PATH_SEGMENT),
        utf8_percent_encode(&s.output_format, PATH_SEGMENT),
    );
    let v = clip.voice;
    let mut body = Map::new();
    body.insert("text".into(), json!(clip.text));
    body.insert("model_id".into(), json!(v.model_id));
    body.insert(
        "voice_settings".into(),
        json!({
            "stability": v.settings.stability,
            "similarity_boost": v.settings.similarity_boost,
            "style": v.settings.style,
            "use_speaker_boost": v.settings.use_speaker_boost,
            "speed": v.settings.speed,
        }),
    );
    if let Some(p) = clip.previous_text.map(|t| tail(t, CONTEXT_CHARS)).filter(|t| !t.is_empty()) {
        body.insert("previous_text".into(), json!(p));
    }
    if let Some(n) = clip.next_text.map(|t| head(t, CONTEXT_CHARS)).filter(|t| !t.is_empty()) {
        body.insert("next_text".into(), json!(n));
    }
    (url, Value::Object(body))
}

/// The last `max` characters of `s`, starting at a word when one starts inside the window.
fn tail(s: &str, max: usize) -> &str {
    let s = s.trim();
    let n = s.chars().count();
    if n <= max {
        return s;
    }
    let (cut, _) = s.char_indices().nth(n - max).expect("n > max");
    let window = &s[cut..];
    if s[..cut].ends_with(char::is_whitespace) {
        return window.trim_start();
    }
    match window.find(char::is_whitespace) {
        Some(i) if i < window.len() / 2 => window[i..].trim_start(),
        _ => window,
    }
}

/// The first `max` characters of `s`, ending at a word when one ends inside the window.
fn head(s: &str, max: usize) -> &str {
    let s = s.trim();
    let Some((cut, _)) = s.char_indices().nth(max) else { return s };
    let window = &s[..cut];
    if s[cut..].starts_with(char::is_whitespace) {
        return window.trim_end();
    }
    match window.rfind(char::is_whitespace) {
        Some(i) if i > window.len() / 2 => window[..i].trim_end(),
        _ => window,
    }
}

/// The R2 key of a clip: `stories/{story_id}/clips/{sha256 hex}.mp3`.
///
/// The hash covers what decides the clip's audio: the text, the voice id, the model, the voice
/// settings and the output format. Re-running an audio job therefore reuses every clip whose line
/// and casting are unchanged, and a changed line or voice gets a new key (never a stale clip).
///
/// Not hashed: `previous_text` / `next_text`. They only smooth prosody at the joins; hashing them
/// would make editing one line re-synthesise (and re-bill) its neighbours too.
///
/// The hashed text is a fixed-order, versioned rendering, independent of serde_json's map
/// ordering features; bump `v` if what shapes a clip ever changes meaning.
pub fn clip_key(story_id: &str, output_format: &str, clip: &ClipSpec) -> String {
    let v = clip.voice;
    let st = &v.settings;
    let num = |x: f64| -> String { serde_json::to_string(&(x + 0.0)).unwrap_or_else(|_| "null".into()) };
    let string = |x: &str| -> String { Value::String(x.to_string()).to_string() };
    let canonical = format!(
        "{{\"format\":{},\"model_id\":{},\"settings\":{{\"similarity_boost\":{},\"speed\":{},\"stability\":{},\"style\":{},\"use_speaker_boost\":{}}},\"text\":{},\"v\":1,\"voice_id\":{}}}",
        string(output_format),
        string(&v.model_id),
        num(st.similarity_boost),
        num(st.speed),
        num(st.stability),
        num(st.style),
        st.use_speaker_boost,
        string(clip.text),
        string(&v.voice_id),
    );
    let hex = crate::core::hex::hex(&Sha256::digest(canonical.as_bytes()));
    format!("stories/{story_id}/clips/{hex}.mp3")
}

#[derive(Debug, Clone, PartialEq)]
pub enum TtsError {
    /// Busy, throttled, failing or unreachable (429 of any kind, 408, 5xx, timeouts, a broken
    /// audio body): back off, after `retry_after_secs` when the service said, and retry.
    Transient { failure: ProviderFailure, retry_after_secs: Option<u32> },
    /// ElevenLabs refused the request as it is (bad key, no quota, unknown voice, other 4xx):
    /// fail at once. `code` is `tts_` + ElevenLabs' `detail.status`.
    Refused { code: String, failure: ProviderFailure },
    /// Refused here before any call (blank or too long a line); `message` is ours.
    Permanent { code: String, message: String },
}

impl TtsError {
    /// For timeouts and network failures, which the caller observes before any status exists.
    pub fn no_answer(kind: Kind, detail: impl Into<String>) -> Self {
        TtsError::Transient { failure: ProviderFailure::without_answer(Provider::ElevenLabs, kind, detail), retry_after_secs: None }
    }

    /// A 2xx whose body is not usable audio: worth another try.
    pub fn broken(detail: impl Into<String>) -> Self {
        TtsError::no_answer(Kind::BrokenAnswer, detail)
    }

    /// The `code` of the chapter's or task's `{code, message}` error.
    pub fn code(&self) -> String {
        match self {
            TtsError::Transient { .. } => "tts_unavailable".into(),
            TtsError::Refused { code, .. } | TtsError::Permanent { code, .. } => code.clone(),
        }
    }

    /// The `message` of that error, for a person: short and plain, never ElevenLabs' own text
    /// (see `provider_text`). `retries`: how often the job tried again before this.
    pub fn message(&self, retries: u32) -> String {
        match self {
            TtsError::Transient { failure, .. } => failure.user_message(retries),
            TtsError::Refused { failure, .. } => failure.user_message(0),
            TtsError::Permanent { message, .. } => message.clone(),
        }
    }

    /// ElevenLabs' side of the failure, when there is one.
    pub fn provider_failure(&self) -> Option<&ProviderFailure> {
        match self {
            TtsError::Transient { failure, .. } | TtsError::Refused { failure, .. } => Some(failure),
            TtsError::Permanent { .. } => None,
        }
    }

    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            TtsError::Transient { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, TtsError::Transient { .. })
    }
}

impl fmt::Display for TtsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.provider_failure() {
            Some(p) => write!(f, "{}: {}", self.code(), p.detail),
            None => write!(f, "{}: {}", self.code(), self.message(0)),
        }
    }
}

impl std::error::Error for TtsError {}

/// Classifies a non-2xx answer: its status, its `Retry-After` header and its body.
pub fn classify_error(status: u16, retry_after: Option<&str>, body: &str) -> TtsError {
    let d = Detail::from_body(body);
    // An exhausted quota stays exhausted however long we wait, whatever status carries it.
    let kind = match (d.status.as_deref(), status) {
        (Some("quota_exceeded"), _) => Kind::OutOfQuota,
        (Some("invalid_api_key"), _) => Kind::BadKey,
        (Some("missing_permissions"), _) => Kind::NoPermission,
        (Some("voice_not_found"), _) => Kind::NotFound,
        // ElevenLabs throttles with 429 only; a 409 is a refusal there.
        (_, 409) => Kind::Refused,
        (_, s) => Kind::of_status(s),
    };
    let failure = ProviderFailure {
        provider: Provider::ElevenLabs,
        kind,
        status: Some(status),
        code: d.status.clone(),
        detail: clip(&redact(&d.message), 300),
    };
    if kind.is_transient() {
        return TtsError::Transient { failure, retry_after_secs: parse_retry_after(retry_after) };
    }
    let code = match (&d.status, d.validation) {
        (Some(s), _) => format!("tts_{s}"),
        (None, true) => "tts_invalid_request".to_string(),
        (None, false) => "tts_rejected".to_string(),
    };
    TtsError::Refused { code, failure }
}

/// Max characters of text per request for a model. `eleven_v3` (and its previews) is taken at
/// 3,000, the figure in ElevenLabs' model docs when its limit was lowered from 10,000; later
/// third-party pages say 5,000, and refusing a little early is cheaper than a failed call.
/// Unknown models get 5,000 to be safe.
pub fn max_chars(model_id: &str) -> usize {
    match model_id {
        "eleven_v3" => 3_000,
        m if m.starts_with("eleven_v3_preview") => 3_000,
        "eleven_multilingual_v2" | "eleven_multilingual_v1" => 10_000,
        "eleven_flash_v2_5" | "eleven_turbo_v2_5" => 40_000,
        "eleven_flash_v2" | "eleven_turbo_v2" => 30_000,
        _ => 5_000,
    }
}

/// Refuses, before any call, a line ElevenLabs would refuse: blank, or longer than the model's
/// limit (counted in Unicode characters, as ElevenLabs counts).
pub fn check_text(model_id: &str, text: &str) -> Result<(), TtsError> {
    if text.trim().is_empty() {
        return Err(TtsError::Permanent {
            code: "tts_empty_text".into(),
            message: "A line has no text to speak.".into(),
        });
    }
    let n = text.chars().count();
    let max = max_chars(model_id);
    if n > max {
        return Err(TtsError::Permanent {
            code: "tts_text_too_long".into(),
            message: format!("A line has {n} characters; {model_id} accepts at most {max} per request."),
        });
    }
    Ok(())
}

/// The characters a script costs: Unicode characters of each line's text as sent.
pub fn characters(texts: &[&str]) -> u64 {
    texts.iter().map(|t| t.chars().count() as u64).sum()
}

/// A cheap look at a 2xx body before it is stored: it must be non-empty and start like MP3 (an
/// ID3 tag or an MPEG frame sync). Anything else is a broken answer, worth another try.
pub fn check_audio(body: &[u8]) -> Result<(), TtsError> {
    match body {
        [] => Err(TtsError::broken("the audio body is empty")),
        [b'I', b'D', b'3', ..] => Ok(()),
        [0xFF, b, ..] if b & 0xE0 == 0xE0 => Ok(()),
        _ => Err(TtsError::broken("the audio body is not MP3")),
    }
}

/// The `character-cost` response header, which ElevenLabs sends with each clip.
pub fn parse_character_cost(header: Option<&str>) -> Option<u64> {
    header?.trim().parse().ok()
}

/// ElevenLabs' error body: `{"detail": {"status", "message"}}`, FastAPI's `{"detail": "..."}`,
/// pydantic's `{"detail": [{"loc", "msg", ...}]}` for a 422, or whatever a gateway answered.
struct Detail {
    status: Option<String>,
    message: String,
    validation: bool,
}

impl Detail {
    fn from_body(body: &str) -> Self {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let detail = parsed.as_ref().and_then(|v| v.get("detail"));
        match detail {
            Some(Value::Object(d)) => Detail {
                status: d.get("status").and_then(Value::as_str).and_then(code_part),
                message: d.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| collapse(body)),
                validation: false,
            },
            Some(Value::String(s)) => Detail { status: None, message: s.clone(), validation: false },
            Some(Value::Array(items)) if !items.is_empty() => {
                let parts: Vec<String> = items.iter().take(3).map(validation_item).collect();
                let more = items.len().saturating_sub(3);
                let mut message = parts.join("; ");
                if more > 0 {
                    message.push_str(&format!(" (and {more} more)"));
                }
                Detail { status: None, message, validation: true }
            }
            _ => Detail { status: None, message: collapse(body), validation: false },
        }
    }
}

/// `body.text: Field required` from one pydantic error.
fn validation_item(item: &Value) -> String {
    let loc: Vec<String> = item
        .get("loc")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string)).collect())
        .unwrap_or_default();
    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
    if loc.is_empty() {
        msg.to_string()
    } else {
        format!("{}: {msg}", loc.join("."))
    }
}

fn collapse(body: &str) -> String {
    let c = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if c.is_empty() {
        "(empty body)".into()
    } else {
        c
    }
}

/// Replaces anything shaped like an ElevenLabs key: `sk_...` tokens and the older 32-hex keys.
fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex_key = word.len() >= 32 && word.chars().all(|c| c.is_ascii_hexdigit());
        if word.starts_with("sk_") || hex_key {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::voices::{VoiceConfig, VoiceSettings};

    fn voice() -> Voice {
        Voice {
            voice_id: "JBFqnCBsd6RMkjVDRZzb".into(),
            name: "George".into(),
            description: None,
            model_id: "eleven_multilingual_v2".into(),
            settings: VoiceSettings {
                stability: 0.65,
                similarity_boost: 0.75,
                style: 0.0,
                use_speaker_boost: true,
                speed: 1.0,
            },
        }
    }

    fn settings() -> TtsSettings {
        TtsSettings::new("http://127.0.0.1:8790/", None, None).unwrap()
    }

    /// (code, message) of our own refusals; (code, ElevenLabs' detail) of its refusals.
    fn permanent(e: TtsError) -> (String, String) {
        match e {
            TtsError::Permanent { code, message } => (code, message),
            TtsError::Refused { code, failure } => (code, failure.detail),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn detail(status: &str, message: &str) -> String {
        json!({"detail": {"status": status, "message": message}}).to_string()
    }

    #[test]
    fn settings_defaults_and_checks() {
        let s = settings();
        assert_eq!(
            s,
            TtsSettings {
                base_url: "http://127.0.0.1:8790".into(),
                output_format: "mp3_44100_128".into(),
                concurrency: DEFAULT_CONCURRENCY
            }
        );
        assert_eq!(TtsSettings::new(" ", Some(""), Some(" ")).unwrap(), TtsSettings::default());
        let s = TtsSettings::new("https://api.elevenlabs.io", Some("mp3_22050_32"), Some("2")).unwrap();
        assert_eq!((s.output_format.as_str(), s.concurrency), ("mp3_22050_32", 2));
        assert_eq!(TtsSettings::new("https://x", None, Some("50")).unwrap().concurrency, MAX_CONCURRENCY);
        assert!(TtsSettings::new("https://x", Some("pcm_44100"), None).unwrap_err().contains("not one of"));
        assert!(TtsSettings::new("https://x", None, Some("0")).is_err());
        assert!(TtsSettings::new("https://x", None, Some("many")).is_err());
        assert!(TtsSettings::new("ftp://x", None, None).is_err());
    }

    #[test]
    fn request_url_and_body() {
        let v = voice();
        let clip = ClipSpec { text: "Hello there.", voice: &v, previous_text: None, next_text: None };
        let (url, body) = request(&settings(), &clip);
        assert_eq!(url, "http://127.0.0.1:8790/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb?output_format=mp3_44100_128");
        assert_eq!(
            body,
            json!({
                "text": "Hello there.",
                "model_id": "eleven_multilingual_v2",
                "voice_settings": {"stability": 0.65, "similarity_boost": 0.75, "style": 0.0,
                                   "use_speaker_boost": true, "speed": 1.0}
            })
        );
        assert!(body.get("previous_text").is_none() && body.get("next_text").is_none());

        let clip = ClipSpec { previous_text: Some("Before."), next_text: Some("After."), ..clip };
        let (_, body) = request(&settings(), &clip);
        assert_eq!(body["previous_text"], "Before.");
        assert_eq!(body["next_text"], "After.");
        let clip = ClipSpec { previous_text: None, next_text: Some("After."), ..clip };
        let (_, body) = request(&settings(), &clip);
        assert!(body.get("previous_text").is_none());
        assert_eq!(body["next_text"], "After.");
        let clip = ClipSpec { previous_text: Some("  "), next_text: None, ..clip };
        assert!(request(&settings(), &clip).1.get("previous_text").is_none());
    }

    #[test]
    fn request_escapes_the_voice_id() {
        let mut v = voice();
        v.voice_id = "../admin?x=1".into();
        let clip = ClipSpec { text: "x", voice: &v, previous_text: None, next_text: None };
        let (url, _) = request(&settings(), &clip);
        assert_eq!(url, "http://127.0.0.1:8790/v1/text-to-speech/..%2Fadmin%3Fx%3D1?output_format=mp3_44100_128");
    }

    #[test]
    fn request_trims_long_context_at_word_boundaries() {
        let v = voice();
        let long: String = (0..400).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        let clip = ClipSpec { text: "x", voice: &v, previous_text: Some(&long), next_text: Some(&long) };
        let (_, body) = request(&settings(), &clip);
        let prev = body["previous_text"].as_str().unwrap();
        let next = body["next_text"].as_str().unwrap();
        assert!(prev.chars().count() <= CONTEXT_CHARS && prev.chars().count() > CONTEXT_CHARS - 10, "{prev}");
        assert!(next.chars().count() <= CONTEXT_CHARS && next.chars().count() > CONTEXT_CHARS - 10, "{next}");
        assert!(long.ends_with(prev) && long.starts_with(next));
        // Whole words at the cut: the neighbour's text around the cut is a space.
        assert!(long[..long.len() - prev.len()].ends_with(' '), "{prev}");
        assert!(long[next.len()..].starts_with(' '), "{next}");
        // Multibyte text is cut on character boundaries; one long word is cut inside.
        let wide = "é".repeat(CONTEXT_CHARS * 2);
        assert_eq!(tail(&wide, CONTEXT_CHARS).chars().count(), CONTEXT_CHARS);
        assert_eq!(head(&wide, CONTEXT_CHARS).chars().count(), CONTEXT_CHARS);
        assert_eq!(head("short", 10), "short");
        assert_eq!(tail(" short ", 10), "short");
        assert_eq!(head("ab cd", 3), "ab");
        assert_eq!(head("ab cd", 2), "ab");
        assert_eq!(tail("ab cd", 3), "cd");
    }

    #[test]
    fn clip_key_covers_what_shapes_the_audio() {
        let v = voice();
        let base = ClipSpec { text: "Hello.", voice: &v, previous_text: None, next_text: None };
        let k = clip_key("s1", "mp3_44100_128", &base);
        assert!(k.starts_with("stories/s1/clips/") && k.ends_with(".mp3"), "{k}");
        let hex = &k["stories/s1/clips/".len()..k.len() - 4];
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(clip_key("s1", "mp3_44100_128", &base), k, "deterministic");

        let with_context = ClipSpec { previous_text: Some("Before."), next_text: Some("After."), ..base };
        assert_eq!(clip_key("s1", "mp3_44100_128", &with_context), k, "context is not hashed");

        let mut changed = Vec::new();
        changed.push(clip_key("s1", "mp3_44100_128", &ClipSpec { text: "Hello!", ..base }));
        changed.push(clip_key("s1", "mp3_44100_64", &base));
        let mut variants = Vec::new();
        let mut x = v.clone();
        x.voice_id = "FGY2WhTYpPnrIDTdsKH5".into();
        variants.push(x);
        let mut x = v.clone();
        x.model_id = "eleven_v3".into();
        variants.push(x);
        let mut x = v.clone();
        x.name = "renamed".into();
        let renamed = x;
        for f in [
            |s: &mut VoiceSettings| s.stability = 0.5,
            |s: &mut VoiceSettings| s.similarity_boost = 0.8,
            |s: &mut VoiceSettings| s.style = 0.1,
            |s: &mut VoiceSettings| s.use_speaker_boost = false,
            |s: &mut VoiceSettings| s.speed = 1.1,
        ] {
            let mut x = v.clone();
            f(&mut x.settings);
            variants.push(x);
        }
        for x in &variants {
            changed.push(clip_key("s1", "mp3_44100_128", &ClipSpec { voice: x, ..base }));
        }
        for c in &changed {
            assert_ne!(c, &k);
        }
        let distinct: std::collections::BTreeSet<&String> = changed.iter().collect();
        assert_eq!(distinct.len(), changed.len());
        // The display name is not sent, so it does not shape the audio.
        assert_eq!(clip_key("s1", "mp3_44100_128", &ClipSpec { voice: &renamed, ..base }), k);
        // Another story stores its own copy.
        assert_eq!(clip_key("s2", "mp3_44100_128", &base).replace("s2", "s1"), k);
        // -0.0 and 0.0 are the same setting.
        let mut neg = v.clone();
        neg.settings.style = -0.0;
        assert_eq!(clip_key("s1", "mp3_44100_128", &ClipSpec { voice: &neg, ..base }), k);
    }

    #[test]
    fn clip_key_is_pinned() {
        // A changed rendering would orphan every stored clip and re-bill them: change it on purpose only.
        let v = voice();
        let clip = ClipSpec { text: "Hello.", voice: &v, previous_text: None, next_text: None };
        let canonical = r#"{"format":"mp3_44100_128","model_id":"eleven_multilingual_v2","settings":{"similarity_boost":0.75,"speed":1.0,"stability":0.65,"style":0.0,"use_speaker_boost":true},"text":"Hello.","v":1,"voice_id":"JBFqnCBsd6RMkjVDRZzb"}"#;
        let hex: String = Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(clip_key("s", "mp3_44100_128", &clip), format!("stories/s/clips/{hex}.mp3"));
    }

    #[test]
    fn rate_limits_are_transient_with_retry_after() {
        for status in ["too_many_concurrent_requests", "system_busy"] {
            let body = detail(status, "Please slow down.");
            let e = classify_error(429, Some("3"), &body);
            assert_eq!(
                e,
                TtsError::Transient {
                    failure: ProviderFailure {
                        provider: Provider::ElevenLabs,
                        kind: Kind::RateLimited,
                        status: Some(429),
                        code: Some(status.into()),
                        detail: "Please slow down.".into()
                    },
                    retry_after_secs: Some(3)
                }
            );
            assert_eq!(e.message(2), format!("ElevenLabs is rate limiting (HTTP 429, {status}); the job retried 2 times; try again later."));
            assert_eq!(e.code(), "tts_unavailable");
            assert_eq!(e.retry_after_secs(), Some(3));
            assert!(e.is_transient());
            assert_eq!(classify_error(429, None, &body).retry_after_secs(), None);
        }
        assert!(classify_error(429, None, "").is_transient());
        assert_eq!(classify_error(429, Some(" 1.5 "), "").retry_after_secs(), Some(2));
        assert_eq!(classify_error(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), "").retry_after_secs(), None);
        assert_eq!(classify_error(429, Some("-1"), "").retry_after_secs(), None);
        assert_eq!(classify_error(429, Some("99999999999"), "").retry_after_secs(), Some(u32::MAX));
    }

    #[test]
    fn server_errors_and_timeouts_are_transient() {
        let e = classify_error(500, None, &detail("internal_server_error", "An internal server error occurred."));
        assert!(e.is_transient());
        assert_eq!(e.provider_failure().unwrap().detail, "An internal server error occurred.");
        assert_eq!(e.message(0), "ElevenLabs is failing (HTTP 500, internal_server_error); try again later.");
        let e =
            classify_error(503, Some("10"), &detail("service_unavailable", "The service is temporarily unavailable."));
        assert!(e.is_transient());
        assert_eq!(e.retry_after_secs(), Some(10));
        for status in [408, 502, 504, 520, 599] {
            assert!(classify_error(status, None, "").is_transient(), "{status}");
        }
        let t = TtsError::no_answer(Kind::TimedOut { secs: 60 }, "no answer within 60 s");
        assert!(t.is_transient());
        assert_eq!(t.message(3), "ElevenLabs did not answer within 60 s; the job retried 3 times; try again later.");
        assert_eq!(t.to_string(), "tts_unavailable: no answer within 60 s");
    }

    #[test]
    fn refusals_are_permanent_with_elevenlabs_status_and_message() {
        let cases = [
            (401, "invalid_api_key", "Invalid API key", "tts_invalid_api_key", "check ELEVENLABS_API_KEY."),
            (400, "voice_not_found", "A voice with the voice_id abc was not found.", "tts_voice_not_found", "a voice was not found; check the story's voices."),
            (
                401,
                "quota_exceeded",
                "This request exceeds your quota of 10000. You have 34 credits remaining, while 120 credits are required for this request.",
                "tts_quota_exceeded",
                "the account's quota or credits are used up; check its plan and billing.",
            ),
            (
                400,
                "max_character_limit_exceeded",
                "You are trying to generate 12000 characters, but the maximum allowed per request is 10000 characters.",
                "tts_max_character_limit_exceeded",
                "",
            ),
            (400, "empty_text", "The text must not be empty.", "tts_empty_text", ""),
            (
                403,
                "missing_permissions",
                "The API key is missing the permission text_to_speech.",
                "tts_missing_permissions",
                "the key lacks a permission this needs; check ELEVENLABS_API_KEY.",
            ),
        ];
        for (status, word, msg, code, advice) in cases {
            let e = classify_error(status, Some("5"), &detail(word, msg));
            assert_eq!(e.retry_after_secs(), None);
            assert_eq!(e.code(), code);
            let shown = e.message(0);
            let want = if advice.is_empty() {
                format!("ElevenLabs refused the request (HTTP {status}, {word}); the service's log has ElevenLabs's reason.")
            } else {
                format!("ElevenLabs refused the request (HTTP {status}, {word}): {advice}")
            };
            assert_eq!(shown, want);
            assert!(!shown.contains(msg), "ElevenLabs' own text stays in the logs: {shown}");
            let (c, m) = permanent(e);
            assert_eq!(c, code);
            assert_eq!(m, msg);
        }
        // However it arrives, an exhausted quota does not come back by waiting.
        let (c, _) = permanent(classify_error(429, Some("1"), &detail("quota_exceeded", "Out of credits.")));
        assert_eq!(c, "tts_quota_exceeded");
        // A status word that is not a clean identifier is made into one.
        let (c, _) = permanent(classify_error(400, None, &detail(" Bad Thing!! ", "x")));
        assert_eq!(c, "tts_bad_thing");
    }

    #[test]
    fn validation_list_bodies() {
        let body = json!({"detail": [
            {"type": "missing", "loc": ["body", "text"], "msg": "Field required", "input": {}},
            {"type": "too_long", "loc": ["body", "previous_request_ids"], "msg": "List should have at most 3 items after validation, not 4", "input": []},
            {"type": "x", "loc": ["body", 0], "msg": "third"},
            {"type": "x", "loc": [], "msg": "fourth"}
        ]})
        .to_string();
        let (code, message) = permanent(classify_error(422, None, &body));
        assert_eq!(code, "tts_invalid_request");
        assert_eq!(
            message,
            "body.text: Field required; body.previous_request_ids: List should have at most 3 items after validation, not 4; body.0: third (and 1 more)"
        );
        let (_, message) = permanent(classify_error(422, None, r#"{"detail": [{"msg": "bad"}]}"#));
        assert_eq!(message, "bad");
    }

    #[test]
    fn odd_bodies() {
        let (code, message) = permanent(classify_error(404, None, "<html>\n <body>Not   Found</body>\n</html>"));
        assert_eq!(code, "tts_rejected");
        assert_eq!(message, "<html> <body>Not Found</body> </html>");
        let (code, message) = permanent(classify_error(404, None, r#"{"detail": "Not Found"}"#));
        assert_eq!((code.as_str(), message.as_str()), ("tts_rejected", "Not Found"));
        let (_, message) = permanent(classify_error(400, None, ""));
        assert_eq!(message, "(empty body)");
        let e = classify_error(502, None, "Bad gateway");
        assert_eq!(e.message(0), "ElevenLabs is failing (HTTP 502); try again later.");
        assert!(!classify_error(409, None, "").is_transient(), "ElevenLabs throttles with 429 only");
        // A detail object without a message keeps the raw body as the reason.
        let (code, message) = permanent(classify_error(400, None, r#"{"detail": {"status": "odd"}}"#));
        assert_eq!(code, "tts_odd");
        assert!(message.ends_with(r#"{"detail": {"status": "odd"}}"#), "{message}");
        let long = detail("bad_request", &"x".repeat(5000));
        let (_, message) = permanent(classify_error(400, None, &long));
        assert!(message.chars().count() <= 301 && message.ends_with('…'));
        assert!(matches!(classify_error(302, None, ""), TtsError::Refused { .. }));
    }

    #[test]
    fn keys_never_reach_messages() {
        let key = format!("sk_{}", "0123456789abcdef".repeat(3));
        let legacy = "0123456789abcdef0123456789abcdef";
        let body = detail("invalid_api_key", &format!("Invalid API key: {key} (was {legacy})."));
        let e = classify_error(401, None, &body);
        let logged = e.provider_failure().unwrap().detail.clone();
        assert!(!logged.contains(&key) && !logged.contains(legacy), "{logged}");
        assert_eq!(logged, "Invalid API key: [redacted] (was [redacted]).");
        assert_eq!(e.message(0), "ElevenLabs refused the request (HTTP 401, invalid_api_key): check ELEVENLABS_API_KEY.");
        let e = classify_error(503, None, &detail("busy", &format!("key {key}")));
        assert!(!e.provider_failure().unwrap().detail.contains(&key) && !e.to_string().contains(&key));
        // Voice ids and ordinary words are left alone.
        assert_eq!(redact("voice_id JBFqnCBsd6RMkjVDRZzb task_sk_x"), "voice_id JBFqnCBsd6RMkjVDRZzb task_sk_x");
    }

    #[test]
    fn max_chars_per_model() {
        assert_eq!(max_chars("eleven_v3"), 3_000);
        assert_eq!(max_chars("eleven_v3_preview_2025_06_03"), 3_000);
        assert_eq!(max_chars("eleven_multilingual_v2"), 10_000);
        assert_eq!(max_chars("eleven_flash_v2_5"), 40_000);
        assert_eq!(max_chars("eleven_turbo_v2_5"), 40_000);
        assert_eq!(max_chars("eleven_flash_v2"), 30_000);
        assert_eq!(max_chars("eleven_turbo_v2"), 30_000);
        assert_eq!(max_chars("something_new"), 5_000);
        assert_eq!(max_chars(""), 5_000);
    }

    #[test]
    fn check_text_counts_characters_not_bytes() {
        assert_eq!(check_text("eleven_multilingual_v2", "Hello."), Ok(()));
        let at_limit = "é".repeat(10_000);
        assert_eq!(check_text("eleven_multilingual_v2", &at_limit), Ok(()));
        let over = "é".repeat(10_001);
        let (code, message) = permanent(check_text("eleven_multilingual_v2", &over).unwrap_err());
        assert_eq!(code, "tts_text_too_long");
        assert_eq!(message, "A line has 10001 characters; eleven_multilingual_v2 accepts at most 10000 per request.");
        assert!(check_text("eleven_v3", &"a".repeat(3_001)).is_err());
        assert!(check_text("eleven_flash_v2_5", &"a".repeat(3_001)).is_ok());
        let (code, _) = permanent(check_text("eleven_multilingual_v2", " \n").unwrap_err());
        assert_eq!(code, "tts_empty_text");
    }

    #[test]
    fn characters_are_unicode_scalars() {
        assert_eq!(characters(&[]), 0);
        assert_eq!(characters(&["Hello.", "Ça va? 你好", "🙂"]), 6 + 9 + 1);
        assert_eq!(characters(&["naïve"]), 5);
    }

    #[test]
    fn audio_body_sniffing() {
        assert_eq!(check_audio(b""), Err(TtsError::broken("the audio body is empty")));
        assert_eq!(check_audio(b"ID3\x04\x00"), Ok(()));
        assert_eq!(check_audio(&[0xFF, 0xFB, 0x90, 0x64]), Ok(()));
        assert_eq!(check_audio(&[0xFF, 0xF3, 0x00]), Ok(()));
        assert_eq!(check_audio(&[0x00, 0xFF, 0xFB]), Err(TtsError::broken("the audio body is not MP3")));
        assert!(check_audio(br#"{"detail": "x"}"#).is_err());
        assert!(check_audio(&[0xFF]).is_err());
    }

    #[test]
    fn character_cost_header() {
        assert_eq!(parse_character_cost(Some(" 42 ")), Some(42));
        assert_eq!(parse_character_cost(Some("x")), None);
        assert_eq!(parse_character_cost(None), None);
    }

    #[test]
    fn bundled_voices_make_requests_the_stand_in_accepts() {
        let c = VoiceConfig::bundled();
        for v in std::iter::once(&c.narrator).chain(&c.pool) {
            let clip = ClipSpec { text: "Hi.", voice: v, previous_text: Some("a"), next_text: None };
            let (url, body) = request(&settings(), &clip);
            assert!(url.contains(&format!("/v1/text-to-speech/{}?", v.voice_id)));
            assert!(body["model_id"].as_str().unwrap().starts_with("eleven_"));
            let speed = body["voice_settings"]["speed"].as_f64().unwrap();
            assert!((0.7..=1.2).contains(&speed));
            assert!(check_text(&v.model_id, "Hi.").is_ok());
        }
    }
}
