//! Monthly budgets per user: LLM tokens, TTS characters and USD over a calendar month (UTC).
//! Limits come from configuration, each replaceable per user by the admin; `None` is unlimited.
//!
//! The one rule, used both when a job starts and before each paid call of a running job: a
//! spend is refused when `used + need > limit` for any limited resource, where `need` is an
//! upper bound of what it can cost. Reaching a limit exactly is allowed.

pub mod estimate;
mod overrides;

pub use overrides::Overrides;

use crate::core::domain::UsageRange;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde_json::{json, Value};

/// An amount of each resource: what was used, what a job or call needs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Amounts {
    pub llm_tokens: u64,
    pub tts_characters: u64,
    pub usd: f64,
}

impl Amounts {
    pub fn llm(tokens: u64, usd: f64) -> Self {
        Amounts { llm_tokens: tokens, usd, ..Default::default() }
    }

    pub fn tts(characters: u64, usd: f64) -> Self {
        Amounts { tts_characters: characters, usd, ..Default::default() }
    }

    pub fn plus(self, o: Amounts) -> Amounts {
        Amounts {
            llm_tokens: self.llm_tokens.saturating_add(o.llm_tokens),
            tts_characters: self.tts_characters.saturating_add(o.tts_characters),
            usd: self.usd + o.usd,
        }
    }

    /// `self - o`, never below zero (for taking a finished call off what is in flight).
    pub fn minus(self, o: Amounts) -> Amounts {
        Amounts {
            llm_tokens: self.llm_tokens.saturating_sub(o.llm_tokens),
            tts_characters: self.tts_characters.saturating_sub(o.tts_characters),
            usd: (self.usd - o.usd).max(0.0),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "llm_tokens": self.llm_tokens, "tts_characters": self.tts_characters, "usd": crate::core::cost::round_usd(self.usd) })
    }
}

/// The limits in force for a user; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub llm_tokens: Option<u64>,
    pub tts_characters: Option<u64>,
    pub usd: Option<f64>,
}

impl Limits {
    /// The defaults from configuration (`BUDGET_LLM_TOKENS`, `BUDGET_TTS_CHARACTERS`,
    /// `BUDGET_USD`): a blank or missing value is unlimited; anything else must be a
    /// non-negative number, so a typo fails loudly instead of lifting the limit.
    pub fn from_config(llm_tokens: Option<&str>, tts_characters: Option<&str>, usd: Option<&str>) -> Result<Self, String> {
        fn count(name: &str, v: Option<&str>) -> Result<Option<u64>, String> {
            match v.map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => s.parse().map(Some).map_err(|_| format!("{name} must be a whole number of at least 0 or blank for unlimited, got {s:?}")),
            }
        }
        let usd = match usd.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match s.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
                _ => return Err(format!("BUDGET_USD must be a number of at least 0 or blank for unlimited, got {s:?}")),
            },
        };
        Ok(Limits {
            llm_tokens: count("BUDGET_LLM_TOKENS", llm_tokens)?,
            tts_characters: count("BUDGET_TTS_CHARACTERS", tts_characters)?,
            usd,
        })
    }

    /// The user's limits: each overridden field replaces the default, the others keep it.
    pub fn with(self, o: &Overrides) -> Limits {
        Limits {
            llm_tokens: o.llm_tokens.unwrap_or(self.llm_tokens),
            tts_characters: o.tts_characters.unwrap_or(self.tts_characters),
            usd: o.usd.unwrap_or(self.usd),
        }
    }
}

/// The budget period containing `now`: its calendar month, UTC, `[from, to)`.
pub fn period(now: DateTime<Utc>) -> UsageRange {
    UsageRange::month_containing(now)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    LlmTokens,
    TtsCharacters,
    Usd,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::LlmTokens => "llm_tokens",
            Resource::TtsCharacters => "tts_characters",
            Resource::Usd => "usd",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Resource::LlmTokens => "LLM tokens",
            Resource::TtsCharacters => "TTS characters",
            Resource::Usd => "USD",
        }
    }
}

/// A user's budget this period: limits and what was used.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub period: UsageRange,
    pub limits: Limits,
    pub used: Amounts,
}

/// Why a spend was refused: the first resource it would take past its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    pub resource: Resource,
    pub used: f64,
    pub limit: f64,
    pub need: f64,
    /// When the period ends and the budget starts afresh.
    pub renews_at: DateTime<Utc>,
}

impl Budget {
    /// Ok when `need` fits in every limit it uses (`used + need <= limit`); else the first
    /// resource (tokens, characters, USD) it does not fit.
    pub fn check(&self, need: &Amounts) -> Result<(), Exceeded> {
        // A resource the spend does not use never refuses it, even when a lowered limit is
        // already passed (an audio job is not stopped by spent LLM tokens).
        let over = |resource, used: f64, need: f64, limit: Option<f64>| {
            limit.filter(|l| need > 0.0 && used + need > *l).map(|limit| Exceeded { resource, used, limit, need, renews_at: self.period.to })
        };
        let (l, u) = (&self.limits, &self.used);
        let first = over(Resource::LlmTokens, u.llm_tokens as f64, need.llm_tokens as f64, l.llm_tokens.map(|x| x as f64))
            .or_else(|| over(Resource::TtsCharacters, u.tts_characters as f64, need.tts_characters as f64, l.tts_characters.map(|x| x as f64)))
            // USD sums are kept to 6 places; half a micro-dollar of float noise is not "over".
            .or_else(|| over(Resource::Usd, u.usd, need.usd - 5e-7, l.usd).map(|e| Exceeded { need: need.usd, ..e }));
        first.map_or(Ok(()), Err)
    }

    /// The contract's budget object: `{"period": {"from", "to"}, "<resource>": {"used", "limit"}}`.
    pub fn to_json(&self) -> Value {
        let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
        let round = crate::core::cost::round_usd;
        json!({
            "period": { "from": t(self.period.from), "to": t(self.period.to) },
            "llm_tokens": { "used": self.used.llm_tokens, "limit": self.limits.llm_tokens },
            "tts_characters": { "used": self.used.tts_characters, "limit": self.limits.tts_characters },
            "usd": { "used": round(self.used.usd), "limit": self.limits.usd.map(round) },
        })
    }
}

impl Exceeded {
    fn figures(&self) -> String {
        let n = |x: f64| match self.resource {
            Resource::Usd => format!("{:.2}", x),
            _ => format!("{}", x as u64),
        };
        format!("{} of {} used, {} needed", n(self.used), n(self.limit), n(self.need))
    }

    fn renews(&self) -> String {
        // Not `format("%Y-%m-%d")`: chrono parses that pattern at run time, and its strftime
        // parser is ~8 KiB of the Worker for this one date.
        let d = self.renews_at.date_naive();
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    }

    /// For a job start refused with 402.
    pub fn start_message(&self) -> String {
        format!(
            "this job could need more than is left of your monthly budget of {} ({}); it renews on {} (UTC), \
             or ask the administrator to raise the limit",
            self.resource.words(),
            self.figures(),
            self.renews()
        )
    }

    /// For a running job stopped before its next paid call (the task's and chapter's error).
    pub fn job_message(&self) -> String {
        format!(
            "Stopped before the next paid call: it could pass your monthly budget of {} ({} by that call). \
             The work done so far is kept; start the job again once the budget allows (it renews on {} UTC, \
             or the administrator raises the limit) and it continues from there.",
            self.resource.words(),
            self.figures(),
            self.renews()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn budget(limits: Limits, used: Amounts) -> Budget {
        Budget { period: period(Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap()), limits, used }
    }

    #[test]
    fn period_is_the_utc_calendar_month() {
        let p = period(Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap());
        assert_eq!(p.from, Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(p.to, Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let p = period(Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap());
        assert_eq!((p.from.to_rfc3339(), p.to.to_rfc3339()), ("2024-02-01T00:00:00+00:00".into(), "2024-03-01T00:00:00+00:00".into()));
    }

    #[test]
    fn config_limits() {
        assert_eq!(Limits::from_config(None, Some(""), Some("  ")), Ok(Limits::default()));
        assert_eq!(
            Limits::from_config(Some("2000000"), Some(" 500000 "), Some("25.5")),
            Ok(Limits { llm_tokens: Some(2_000_000), tts_characters: Some(500_000), usd: Some(25.5) })
        );
        assert_eq!(Limits::from_config(Some("0"), None, Some("0")).unwrap(), Limits { llm_tokens: Some(0), usd: Some(0.0), ..Default::default() });
        for (l, t, u) in [(Some("-1"), None, None), (Some("1e6"), None, None), (None, Some("lots"), None), (None, None, Some("-2")), (None, None, Some("inf")), (None, None, Some("NaN"))] {
            assert!(Limits::from_config(l, t, u).is_err(), "{l:?} {t:?} {u:?}");
        }
        assert_eq!(Limits::from_config(Some("x"), None, None).unwrap_err(), "BUDGET_LLM_TOKENS must be a whole number of at least 0 or blank for unlimited, got \"x\"");
    }

    #[test]
    fn overrides_replace_only_their_fields() {
        let d = Limits { llm_tokens: Some(100), tts_characters: Some(50), usd: Some(1.0) };
        let o = Overrides { llm_tokens: Some(None), tts_characters: Some(Some(7)), usd: None };
        assert_eq!(d.with(&o), Limits { llm_tokens: None, tts_characters: Some(7), usd: Some(1.0) });
        assert_eq!(d.with(&Overrides::default()), d);
    }

    #[test]
    fn check_allows_up_to_the_limit_exactly() {
        let b = budget(Limits { tts_characters: Some(1000), ..Default::default() }, Amounts { tts_characters: 600, ..Default::default() });
        assert_eq!(b.check(&Amounts::tts(400, 0.0)), Ok(()));
        let e = b.check(&Amounts::tts(401, 0.0)).unwrap_err();
        assert_eq!((e.resource, e.used, e.limit, e.need), (Resource::TtsCharacters, 600.0, 1000.0, 401.0));
        assert_eq!(e.renews_at, Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        // Unlimited resources never refuse; a zero need always fits, even at the limit.
        assert_eq!(b.check(&Amounts::llm(u64::MAX, 1e9)), Ok(()));
        let full = budget(Limits { llm_tokens: Some(10), ..Default::default() }, Amounts { llm_tokens: 10, ..Default::default() });
        assert_eq!(full.check(&Amounts::tts(5, 0.0)), Ok(()));
        assert_eq!(full.check(&Amounts::llm(1, 0.0)).unwrap_err().resource, Resource::LlmTokens);
        // A limit lowered below what was used refuses only spends of that resource.
        let lowered = budget(Limits { llm_tokens: Some(10), usd: Some(1.0), ..Default::default() }, Amounts { llm_tokens: 50, usd: 2.0, ..Default::default() });
        assert_eq!(lowered.check(&Amounts::tts(5, 0.0)), Ok(()));
        assert_eq!(lowered.check(&Amounts::tts(5, 0.01)).unwrap_err().resource, Resource::Usd);
    }

    #[test]
    fn check_names_the_first_resource_over_and_tolerates_usd_rounding() {
        let b = budget(Limits { llm_tokens: Some(10), tts_characters: Some(10), usd: Some(0.3) }, Amounts { llm_tokens: 5, tts_characters: 5, usd: 0.1 });
        assert_eq!(b.check(&Amounts { llm_tokens: 6, tts_characters: 6, usd: 1.0 }).unwrap_err().resource, Resource::LlmTokens);
        assert_eq!(b.check(&Amounts { llm_tokens: 5, tts_characters: 6, usd: 1.0 }).unwrap_err().resource, Resource::TtsCharacters);
        let e = b.check(&Amounts { llm_tokens: 5, tts_characters: 5, usd: 0.200_01 }).unwrap_err();
        assert_eq!((e.resource, e.need), (Resource::Usd, 0.200_01));
        // 0.1 + 0.2 is 0.30000000000000004 in floating point: still within 0.3.
        assert_eq!(b.check(&Amounts { usd: 0.2, ..Default::default() }), Ok(()));
        let zero = budget(Limits { usd: Some(0.0), ..Default::default() }, Amounts::default());
        assert!(zero.check(&Amounts::tts(1, 0.000_1)).is_err());
        assert_eq!(zero.check(&Amounts::tts(1, 0.0)), Ok(()));
    }

    #[test]
    fn json_shape_and_messages() {
        let b = budget(Limits { llm_tokens: None, tts_characters: Some(1500), usd: Some(2.5) }, Amounts { llm_tokens: 42, tts_characters: 1200, usd: 0.123_456_7 });
        assert_eq!(
            b.to_json(),
            json!({
                "period": {"from": "2025-12-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
                "llm_tokens": {"used": 42, "limit": null},
                "tts_characters": {"used": 1200, "limit": 1500},
                "usd": {"used": 0.123457, "limit": 2.5},
            })
        );
        let e = b.check(&Amounts::tts(420, 0.04)).unwrap_err();
        assert_eq!(
            e.start_message(),
            "this job could need more than is left of your monthly budget of TTS characters (1200 of 1500 used, 420 needed); \
             it renews on 2026-01-01 (UTC), or ask the administrator to raise the limit"
        );
        assert!(e.job_message().starts_with("Stopped before the next paid call: it could pass your monthly budget of TTS characters (1200 of 1500 used, 420 needed by that call)."), "{}", e.job_message());
        let e = b.check(&Amounts::tts(0, 3.0)).unwrap_err();
        assert!(e.start_message().contains("USD (0.12 of 2.50 used, 3.00 needed)"), "{}", e.start_message());
        assert_eq!(Amounts::tts(3, 0.000_000_4).to_json(), json!({"llm_tokens": 0, "tts_characters": 3, "usd": 0.0}));
        assert_eq!(Amounts::tts(3, 1.0).minus(Amounts::tts(5, 2.0)), Amounts::default());
    }
}
