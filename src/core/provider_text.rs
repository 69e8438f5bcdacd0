//! What a failed provider call tells each audience, shared by the OpenAI and ElevenLabs
//! classifiers. A user sees a short sentence on the task and chapter (`user_message`): which
//! provider, the HTTP status or failure kind, and what to do. The provider's own text, which
//! can name organisation ids or remaining credits, is kept apart (`detail`) for the logs only,
//! redacted of keys.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    ElevenLabs,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "OpenAI",
            Provider::ElevenLabs => "ElevenLabs",
        }
    }

    fn key_setting(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_API_KEY",
            Provider::ElevenLabs => "ELEVENLABS_API_KEY",
        }
    }

    fn url_setting(self) -> &'static str {
        match self {
            Provider::OpenAi => "OPENAI_BASE_URL",
            Provider::ElevenLabs => "ELEVENLABS_BASE_URL",
        }
    }

    /// What a 404 means for this provider's requests, and where to fix it.
    fn not_found_advice(self) -> &'static str {
        match self {
            Provider::OpenAi => "the model was not found; check OPENAI_MODEL",
            Provider::ElevenLabs => "a voice was not found; check the story's voices",
        }
    }
}

/// A failure as far as the person who sees it can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 401: the key is wrong or revoked.
    BadKey,
    /// 403: the key lacks a permission.
    NoPermission,
    /// The account's quota or credits are used up; waiting does not help.
    OutOfQuota,
    /// 404: the model or voice asked for does not exist.
    NotFound,
    /// Any other refusal of the request as it was sent.
    Refused,
    /// 429.
    RateLimited,
    /// 408, 409, 5xx.
    Failing,
    TimedOut { secs: u64 },
    Unreachable,
    /// A 2xx whose body cannot be used (not audio, silent).
    BrokenAnswer,
    /// The request could not even be built (a bad base URL): nothing was sent.
    Local,
}

impl Kind {
    /// The kind an HTTP status means when the body says nothing more specific.
    pub fn of_status(status: u16) -> Kind {
        match status {
            401 => Kind::BadKey,
            403 => Kind::NoPermission,
            404 => Kind::NotFound,
            429 => Kind::RateLimited,
            408 | 409 | 500..=599 => Kind::Failing,
            _ => Kind::Refused,
        }
    }

    /// Whether trying again later can help.
    pub fn is_transient(self) -> bool {
        matches!(self, Kind::RateLimited | Kind::Failing | Kind::TimedOut { .. } | Kind::Unreachable | Kind::BrokenAnswer)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::BadKey => "bad_key",
            Kind::NoPermission => "no_permission",
            Kind::OutOfQuota => "out_of_quota",
            Kind::NotFound => "not_found",
            Kind::Refused => "refused",
            Kind::RateLimited => "rate_limited",
            Kind::Failing => "failing",
            Kind::TimedOut { .. } => "timed_out",
            Kind::Unreachable => "unreachable",
            Kind::BrokenAnswer => "broken_answer",
            Kind::Local => "local",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderFailure {
    pub provider: Provider,
    pub kind: Kind,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The provider's own code word (`invalid_api_key`, `voice_not_found`), made an identifier.
    pub code: Option<String>,
    /// What the provider said, or what failed on the way: key-like strings redacted, clipped.
    /// For logs only.
    pub detail: String,
}

impl ProviderFailure {
    /// A failure with no HTTP answer (timeout, network, a request that could not be built).
    pub fn without_answer(provider: Provider, kind: Kind, detail: impl Into<String>) -> Self {
        ProviderFailure { provider, kind, status: None, code: None, detail: detail.into() }
    }

    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }

    /// The sentence for the task's and chapter's `error.message`. `retries` is how many times
    /// the job tried again before giving up (said only when it did).
    pub fn user_message(&self, retries: u32) -> String {
        let p = self.provider.name();
        let what = match (self.status, &self.code) {
            (Some(s), Some(c)) => format!("HTTP {s}, {c}"),
            (Some(s), None) => format!("HTTP {s}"),
            (None, Some(c)) => c.clone(),
            (None, None) => String::new(),
        };
        let paren = if what.is_empty() { String::new() } else { format!(" ({what})") };
        let retried = match retries {
            0 => String::new(),
            1 => "; the job retried once".to_string(),
            n => format!("; the job retried {n} times"),
        };
        match self.kind {
            Kind::BadKey => format!("{p} refused the request{paren}: check {}.", self.provider.key_setting()),
            Kind::NoPermission => {
                format!("{p} refused the request{paren}: the key lacks a permission this needs; check {}.", self.provider.key_setting())
            }
            Kind::OutOfQuota => {
                format!("{p} refused the request{paren}: the account's quota or credits are used up; check its plan and billing.")
            }
            Kind::NotFound => format!("{p} refused the request{paren}: {}.", self.provider.not_found_advice()),
            Kind::Refused => format!("{p} refused the request{paren}; the service's log has {p}'s reason."),
            Kind::RateLimited => format!("{p} is rate limiting{paren}{retried}; try again later."),
            Kind::Failing => format!("{p} is failing{paren}{retried}; try again later."),
            Kind::TimedOut { secs } => format!("{p} did not answer within {secs} s{retried}; try again later."),
            Kind::Unreachable => {
                format!("{p} could not be reached{retried}; check {} or try again later.", self.provider.url_setting())
            }
            Kind::BrokenAnswer => format!("{p} sent an answer that could not be used{paren}{retried}; try again later."),
            Kind::Local => format!("The request to {p} could not be made; the service's log has the reason."),
        }
    }

    /// The fields of the log line that keeps what the provider said, with every `known`
    /// secret (the configured keys) removed on top of the key-like strings already gone.
    pub fn log_fields(&self, known: &[&str]) -> Value {
        json!({
            "provider": self.provider.name(),
            "kind": self.kind.name(),
            "status": self.status,
            "code": self.code,
            "detail": scrub(&self.detail, known),
        })
    }
}

/// `text` with every occurrence of each known secret replaced (empty or very short values are
/// skipped: they would blank ordinary words).
pub fn scrub(text: &str, known: &[&str]) -> String {
    let mut out = text.to_string();
    for k in known.iter().filter(|k| k.len() >= 6) {
        out = out.replace(k, "[redacted]");
    }
    out
}

/// A provider's status word as part of an error code: lowercase letters, digits and `_`, short.
pub fn code_part(s: &str) -> Option<String> {
    let c: String = s
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(60)
        .collect();
    let c = c.trim_matches('_').to_string();
    (!c.is_empty()).then_some(c)
}

/// Seconds only: both providers send delta-seconds, and an HTTP date would need a clock here.
pub fn parse_retry_after(h: Option<&str>) -> Option<u32> {
    let h = h?.trim();
    if let Ok(n) = h.parse::<u64>() {
        return Some(u32::try_from(n).unwrap_or(u32::MAX));
    }
    let f = h.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0)?;
    Some(f.ceil().min(u32::MAX as f64) as u32)
}

/// At most `max` characters, marked when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after(Some(" 7 ")), Some(7));
        assert_eq!(parse_retry_after(Some("1.2")), Some(2));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(None), None);
    }

    fn failure(provider: Provider, kind: Kind, status: Option<u16>, code: Option<&str>) -> ProviderFailure {
        ProviderFailure { provider, kind, status, code: code.map(str::to_string), detail: "org-secret123 has 5 credits".into() }
    }

    #[test]
    fn user_messages_name_provider_status_and_what_to_do() {
        use Provider::*;
        let cases = [
            (failure(ElevenLabs, Kind::BadKey, Some(401), None), 0, "ElevenLabs refused the request (HTTP 401): check ELEVENLABS_API_KEY."),
            (
                failure(OpenAi, Kind::BadKey, Some(401), Some("invalid_api_key")),
                0,
                "OpenAI refused the request (HTTP 401, invalid_api_key): check OPENAI_API_KEY.",
            ),
            (failure(OpenAi, Kind::RateLimited, Some(429), None), 4, "OpenAI is rate limiting (HTTP 429); the job retried 4 times; try again later."),
            (failure(OpenAi, Kind::Failing, Some(500), None), 1, "OpenAI is failing (HTTP 500); the job retried once; try again later."),
            (
                failure(OpenAi, Kind::OutOfQuota, Some(429), Some("insufficient_quota")),
                3,
                "OpenAI refused the request (HTTP 429, insufficient_quota): the account's quota or credits are used up; check its plan and billing.",
            ),
            (
                failure(ElevenLabs, Kind::NotFound, Some(400), Some("voice_not_found")),
                0,
                "ElevenLabs refused the request (HTTP 400, voice_not_found): a voice was not found; check the story's voices.",
            ),
            (failure(OpenAi, Kind::NotFound, Some(404), None), 0, "OpenAI refused the request (HTTP 404): the model was not found; check OPENAI_MODEL."),
            (
                failure(ElevenLabs, Kind::NoPermission, Some(403), Some("missing_permissions")),
                0,
                "ElevenLabs refused the request (HTTP 403, missing_permissions): the key lacks a permission this needs; check ELEVENLABS_API_KEY.",
            ),
            (failure(OpenAi, Kind::Refused, Some(400), None), 0, "OpenAI refused the request (HTTP 400); the service's log has OpenAI's reason."),
            (failure(ElevenLabs, Kind::TimedOut { secs: 60 }, None, None), 2, "ElevenLabs did not answer within 60 s; the job retried 2 times; try again later."),
            (
                failure(ElevenLabs, Kind::Unreachable, None, None),
                2,
                "ElevenLabs could not be reached; the job retried 2 times; check ELEVENLABS_BASE_URL or try again later.",
            ),
            (failure(ElevenLabs, Kind::BrokenAnswer, None, None), 0, "ElevenLabs sent an answer that could not be used; try again later."),
            (failure(OpenAi, Kind::Local, None, None), 0, "The request to OpenAI could not be made; the service's log has the reason."),
        ];
        for (f, retries, want) in cases {
            let got = f.user_message(retries);
            assert_eq!(got, want);
            assert!(!got.contains("org-secret123") && !got.contains("credits left"), "{got}");
        }
    }

    #[test]
    fn kinds_of_statuses() {
        assert_eq!(Kind::of_status(401), Kind::BadKey);
        assert_eq!(Kind::of_status(403), Kind::NoPermission);
        assert_eq!(Kind::of_status(404), Kind::NotFound);
        assert_eq!(Kind::of_status(429), Kind::RateLimited);
        for s in [408, 409, 500, 503, 599] {
            assert_eq!(Kind::of_status(s), Kind::Failing, "{s}");
        }
        for s in [302, 400, 413, 422] {
            assert_eq!(Kind::of_status(s), Kind::Refused, "{s}");
        }
        assert!(Kind::RateLimited.is_transient() && Kind::BrokenAnswer.is_transient() && Kind::TimedOut { secs: 1 }.is_transient());
        assert!(!Kind::BadKey.is_transient() && !Kind::OutOfQuota.is_transient() && !Kind::Local.is_transient());
    }

    #[test]
    fn log_fields_keep_the_detail_without_known_secrets() {
        let mut f = failure(Provider::OpenAi, Kind::BadKey, Some(401), Some("invalid_api_key"));
        f.detail = "key xi-test-elevenlabs of org-secret123 is wrong".into();
        let v = f.log_fields(&["xi-test-elevenlabs", ""]);
        assert_eq!(v["detail"], "key [redacted] of org-secret123 is wrong");
        assert_eq!((v["provider"].as_str(), v["kind"].as_str(), v["status"].as_u64()), (Some("OpenAI"), Some("bad_key"), Some(401)));
        assert_eq!(scrub("a bc abc", &["bc"]), "a bc abc", "short values are not secrets worth blanking words for");
    }

    #[test]
    fn code_parts_are_identifiers() {
        assert_eq!(code_part(" Bad Thing!! ").as_deref(), Some("bad_thing"));
        assert_eq!(code_part("--"), None);
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hi", 2), "hi");
    }
}
