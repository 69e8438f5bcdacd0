//! Configuration read from the Worker's environment: `[vars]` in wrangler.toml and secrets
//! (`.dev.vars` locally, `wrangler secret put` in production). Secret values stay inside these
//! structs and are never logged or returned.

use crate::core::budget::Limits;
use crate::core::cost::PriceTable;
use crate::core::llm::LlmSettings;
use crate::core::rate_limit::{Class, Limit};
use crate::core::tts::TtsSettings;
use worker::Env;

/// What every request needs: the database and the admin token.
pub struct Settings {
    pub database_url: String,
    /// Where Neon's SQL-over-HTTP endpoint is; empty means "derive it from DATABASE_URL".
    pub neon_http_endpoint: Option<String>,
    pub admin_token: String,
    /// A Neon round trip that takes longer is aborted.
    pub neon_timeout_secs: u64,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, String> {
        Ok(Settings {
            database_url: secret(env, "DATABASE_URL")?,
            neon_http_endpoint: var(env, "NEON_HTTP_ENDPOINT"),
            admin_token: secret(env, "ADMIN_TOKEN")?,
            neon_timeout_secs: number(env, "NEON_TIMEOUT_SECS", 30),
        })
    }
}

/// What the API layer tunes: request size, browser origins, rate limits, the health cache.
pub struct ApiSettings {
    pub max_body_bytes: usize,
    pub cors_origins: Vec<String>,
    /// `/health` probes at most once per this many seconds per isolate (0: every call).
    pub health_probe_secs: u64,
    /// Each class's limit as its binding is configured (the Worker cannot read a binding's
    /// own configuration), in `Class::ALL` order.
    rate_limits: [Limit; 5],
}

impl ApiSettings {
    pub fn from_env(env: &Env) -> Self {
        ApiSettings {
            max_body_bytes: number(env, "MAX_BODY_BYTES", 65_536),
            cors_origins: var(env, "CORS_ALLOWED_ORIGINS")
                .map(|s| s.split(',').map(|o| o.trim().trim_end_matches('/').to_string()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
            health_probe_secs: number(env, "HEALTH_PROBE_SECS", 30),
            rate_limits: Class::ALL.map(|c| match var(env, c.setting()).map(|s| Limit::parse(&s)) {
                Some(Ok(l)) => l,
                None => c.default_limit(),
                Some(Err(e)) => {
                    crate::log::error("setting_invalid", serde_json::json!({ "setting": c.setting(), "reason": e }));
                    c.default_limit()
                }
            }),
        }
    }

    pub fn rate_limit(&self, class: Class) -> Limit {
        let i = Class::ALL.iter().position(|c| *c == class).expect("every class is in ALL");
        self.rate_limits[i]
    }
}

/// What the story job needs: the LLM provider, retry limits, leases, prices.
pub struct JobSettings {
    pub openai_base_url: String,
    pub openai_api_key: String,
    pub llm: LlmSettings,
    pub llm_timeout_secs: u64,
    /// In-process retries of an unusable answer before the chapter fails.
    pub bad_answer_retries: u32,
    /// Transient failures (429, 5xx, timeouts) in a row before the task fails.
    pub transient_retries: u32,
    /// How long a consumer holds a task's step; a crashed holder frees it when this runs out.
    /// The holder renews it before every paid call.
    pub lease_secs: u64,
    /// Deliveries of one step that did not finish (errors, crashes, lost leases) before the
    /// task fails with `job_failed`.
    pub max_step_attempts: u32,
    /// Logged with each step; the clip batch size keeps a step far below it.
    pub max_subrequests_per_step: u32,
    /// The sweeper re-drives an active task with no progress for this long.
    pub stall_after_secs: u64,
    /// How long a finished task's progress object is kept.
    pub progress_ttl_secs: u64,
    pub prices: PriceTable,
    /// Every user's monthly limits unless the admin overrode them.
    pub budget: Limits,
}

impl JobSettings {
    pub fn from_env(env: &Env) -> Result<Self, String> {
        let prices = PriceTable::from_json(&var(env, "LLM_PRICES").unwrap_or_default(), &var(env, "TTS_PRICES").unwrap_or_default())
            .map_err(|e| format!("LLM_PRICES/TTS_PRICES: {e}"))?;
        Ok(JobSettings {
            openai_base_url: var(env, "OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into()).trim_end_matches('/').to_string(),
            openai_api_key: secret(env, "OPENAI_API_KEY")?,
            llm: LlmSettings {
                model: var(env, "OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
                temperature: var(env, "OPENAI_TEMPERATURE").and_then(|t| t.parse().ok()).unwrap_or(0.8),
                max_completion_tokens: number(env, "LLM_MAX_COMPLETION_TOKENS", 8000),
            },
            llm_timeout_secs: number(env, "LLM_TIMEOUT_SECS", 120),
            bad_answer_retries: number(env, "LLM_BAD_ANSWER_RETRIES", 2),
            transient_retries: number(env, "LLM_TRANSIENT_RETRIES", 4),
            lease_secs: number(env, "JOB_LEASE_SECS", 600),
            max_step_attempts: number(env, "MAX_STEP_ATTEMPTS", 5),
            max_subrequests_per_step: number(env, "MAX_SUBREQUESTS_PER_STEP", 1000),
            stall_after_secs: number(env, "STALL_AFTER_SECS", 300),
            progress_ttl_secs: number(env, "PROGRESS_TTL_SECS", 86_400),
            prices,
            budget: budget_defaults(env)?,
        })
    }
}

/// The default monthly budget (`BUDGET_LLM_TOKENS`, `BUDGET_TTS_CHARACTERS`, `BUDGET_USD`;
/// blank is unlimited). A malformed value is an error, never "unlimited".
pub fn budget_defaults(env: &Env) -> Result<Limits, String> {
    Limits::from_config(
        var(env, "BUDGET_LLM_TOKENS").as_deref(),
        var(env, "BUDGET_TTS_CHARACTERS").as_deref(),
        var(env, "BUDGET_USD").as_deref(),
    )
}

/// The signer of links for players and feeds, from the secret `LINK_SIGNING_KEY`. Rotating
/// the secret ends every link signed with the old one.
pub fn link_signer(env: &Env) -> Result<crate::core::links::Signer, String> {
    crate::core::links::Signer::new(&secret(env, "LINK_SIGNING_KEY")?)
}

fn secret(env: &Env, name: &str) -> Result<String, String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("secret {name} is not set (see .dev.vars.example)"))
}

pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|s| !s.trim().is_empty())
}

fn number<T: std::str::FromStr>(env: &Env, name: &str, default: T) -> T {
    var(env, name).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// What the audio job needs: the TTS provider, its limits, and the joining.
pub struct AudioSettings {
    pub elevenlabs_api_key: String,
    pub tts: TtsSettings,
    pub tts_timeout_secs: u64,
    /// Transient TTS failures (429, 5xx, timeouts, broken audio) in a row before the task fails.
    pub transient_retries: u32,
    /// Silence between lines of different speakers.
    pub pause_ms: u32,
    /// Clips one step makes before handing over to the next message of the same chapter.
    pub clips_per_step: usize,
}

impl AudioSettings {
    pub fn from_env(env: &Env) -> Result<Self, String> {
        Ok(AudioSettings {
            elevenlabs_api_key: secret(env, "ELEVENLABS_API_KEY")?,
            // Checks the format is MP3 and caps concurrency at the 6 connections a Worker may open.
            tts: TtsSettings::new(
                &var(env, "ELEVENLABS_BASE_URL").unwrap_or_default(),
                var(env, "TTS_OUTPUT_FORMAT").as_deref(),
                var(env, "TTS_CONCURRENCY").as_deref(),
            )?,
            tts_timeout_secs: number(env, "TTS_TIMEOUT_SECS", 60),
            transient_retries: number(env, "TTS_TRANSIENT_RETRIES", 4),
            pause_ms: number(env, "AUDIO_PAUSE_MS", 400),
            clips_per_step: number(env, "TTS_CLIPS_PER_STEP", 60usize).max(1),
        })
    }

    /// The clips' output format alone (it is in every clip key), for routes that compute clip
    /// keys without calling ElevenLabs: they need no API key.
    pub fn output_format(env: &Env) -> Result<String, String> {
        Ok(TtsSettings::new("", var(env, "TTS_OUTPUT_FORMAT").as_deref(), None)?.output_format)
    }
}
