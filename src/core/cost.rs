//! Estimated provider cost in USD, from price tables kept in configuration (prices change more
//! often than code). A model without a price costs 0.0: a missing price must never break a job,
//! and `knows_*` lets the caller log that the estimate is incomplete.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmPrice {
    pub prompt_per_1m: f64,
    pub completion_per_1m: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsPrice {
    pub per_1k_chars: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    llm: BTreeMap<String, LlmPrice>,
    tts: BTreeMap<String, TtsPrice>,
}

impl PriceTable {
    /// Parses `LLM_PRICES` (`{"gpt-4o-mini": {"prompt_per_1m": 0.15, "completion_per_1m": 0.6}}`)
    /// and `TTS_PRICES` (`{"eleven_multilingual_v2": {"per_1k_chars": 0.10}}`). Blank strings are
    /// empty tables; malformed JSON, unknown fields (a typo would silently price at 0) and
    /// negative or non-finite prices are errors, so a bad deploy is caught at start-up.
    pub fn from_json(llm: &str, tts: &str) -> Result<Self, String> {
        let llm: BTreeMap<String, LlmPrice> = parse_table("LLM prices", llm)?;
        for (model, p) in &llm {
            check_price("LLM prices", model, "prompt_per_1m", p.prompt_per_1m)?;
            check_price("LLM prices", model, "completion_per_1m", p.completion_per_1m)?;
        }
        let tts: BTreeMap<String, TtsPrice> = parse_table("TTS prices", tts)?;
        for (model, p) in &tts {
            check_price("TTS prices", model, "per_1k_chars", p.per_1k_chars)?;
        }
        Ok(PriceTable { llm, tts })
    }

    pub fn llm_price(&self, model: &str) -> Option<LlmPrice> {
        lookup(&self.llm, model).copied()
    }

    pub fn tts_price(&self, model: &str) -> Option<TtsPrice> {
        lookup(&self.tts, model).copied()
    }

    pub fn llm_cost(&self, model: &str, prompt_tokens: u32, completion_tokens: u32) -> f64 {
        self.llm_price(model).map_or(0.0, |p| {
            f64::from(prompt_tokens) * p.prompt_per_1m / 1e6 + f64::from(completion_tokens) * p.completion_per_1m / 1e6
        })
    }

    pub fn tts_cost(&self, model: &str, characters: u64) -> f64 {
        self.tts_price(model).map_or(0.0, |p| characters as f64 * p.per_1k_chars / 1e3)
    }

    pub fn knows_llm(&self, model: &str) -> bool {
        self.llm_price(model).is_some()
    }

    pub fn knows_tts(&self, model: &str) -> bool {
        self.tts_price(model).is_some()
    }
}

fn parse_table<T: for<'de> Deserialize<'de>>(what: &str, json: &str) -> Result<BTreeMap<String, T>, String> {
    if json.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let table: BTreeMap<String, T> = serde_json::from_str(json).map_err(|e| format!("{what}: {e}"))?;
    if table.keys().any(|k| k.trim().is_empty()) {
        return Err(format!("{what}: a model name is blank"));
    }
    Ok(table)
}

fn check_price(what: &str, model: &str, field: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!("{what}: {model}.{field} must be a non-negative number, got {value}"))
    }
}

/// The exact model, or else the longest priced name that the model extends with a snapshot
/// suffix: OpenAI answers with names like "gpt-4o-mini-2024-07-18" or "gpt-4-0613". The suffix
/// must be only digits and dashes so that "gpt-4o-mini" never falls back to the price of "gpt-4o".
fn lookup<'a, T>(table: &'a BTreeMap<String, T>, model: &str) -> Option<&'a T> {
    if let Some(p) = table.get(model) {
        return Some(p);
    }
    table
        .iter()
        .filter(|(name, _)| {
            model.strip_prefix(name.as_str()).and_then(|rest| rest.strip_prefix('-')).is_some_and(is_snapshot_suffix)
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, p)| p)
}

fn is_snapshot_suffix(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit()) && s.chars().all(|c| c.is_ascii_digit() || c == '-')
}

/// Rounds to 6 decimal places, the scale of the `usage_log` cost column (numeric(12,6)).
/// Non-finite input becomes 0.0 so that it can always be stored.
pub fn round_usd(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    // `+ 0.0` turns a rounded -0.0 into 0.0.
    (x * 1e6).round() / 1e6 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLM: &str = r#"{
        "gpt-4o-mini": {"prompt_per_1m": 0.15, "completion_per_1m": 0.6},
        "gpt-4o": {"prompt_per_1m": 2.5, "completion_per_1m": 10},
        "gpt-4": {"prompt_per_1m": 30, "completion_per_1m": 60}
    }"#;
    const TTS: &str =
        r#"{"eleven_multilingual_v2": {"per_1k_chars": 0.10}, "eleven_flash_v2_5": {"per_1k_chars": 0.05}}"#;

    fn table() -> PriceTable {
        PriceTable::from_json(LLM, TTS).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn parses_both_tables() {
        let t = table();
        assert_eq!(t.llm_price("gpt-4o-mini"), Some(LlmPrice { prompt_per_1m: 0.15, completion_per_1m: 0.6 }));
        assert_eq!(t.llm_price("gpt-4o"), Some(LlmPrice { prompt_per_1m: 2.5, completion_per_1m: 10.0 }));
        assert_eq!(t.tts_price("eleven_flash_v2_5"), Some(TtsPrice { per_1k_chars: 0.05 }));
        assert!(t.knows_llm("gpt-4") && t.knows_tts("eleven_multilingual_v2"));
        assert!(!t.knows_llm("eleven_multilingual_v2") && !t.knows_tts("gpt-4o"));
    }

    #[test]
    fn blank_strings_are_empty_tables() {
        let t = PriceTable::from_json("", "  \n").unwrap();
        assert_eq!(t, PriceTable::default());
        assert_eq!(t.llm_cost("gpt-4o-mini", 1_000_000, 1_000_000), 0.0);
        assert!(PriceTable::from_json("{}", "{}").unwrap().llm.is_empty());
    }

    #[test]
    fn bad_tables_are_errors() {
        for (llm, tts) in [
            ("not json", ""),
            ("[]", ""),
            (r#"{"m": {"prompt_per_1m": 1}}"#, ""),
            (r#"{"m": {"prompt_per_1m": 1, "completion_per_1m": 2, "cached_per_1m": 0.5}}"#, ""),
            (r#"{"m": {"prompt_per_1m": -1, "completion_per_1m": 2}}"#, ""),
            (r#"{"m": {"prompt_per_1m": "1", "completion_per_1m": 2}}"#, ""),
            (r#"{"": {"prompt_per_1m": 1, "completion_per_1m": 2}}"#, ""),
            ("", r#"{"v2": {"per_1k_chars": -0.1}}"#),
            ("", r#"{"v2": {"per_1k": 0.1}}"#),
            ("", r#"{"v2": 0.1}"#),
        ] {
            assert!(PriceTable::from_json(llm, tts).is_err(), "{llm} / {tts}");
        }
        let e = PriceTable::from_json(r#"{"m": {"prompt_per_1m": -1, "completion_per_1m": 2}}"#, "").unwrap_err();
        assert_eq!(e, "LLM prices: m.prompt_per_1m must be a non-negative number, got -1");
        let free = PriceTable::from_json(r#"{"m": {"prompt_per_1m": 0, "completion_per_1m": 0}}"#, "").unwrap();
        assert!(free.knows_llm("m"));
    }

    #[test]
    fn llm_and_tts_costs() {
        let t = table();
        assert!(close(t.llm_cost("gpt-4o-mini", 1_000_000, 0), 0.15));
        assert!(close(t.llm_cost("gpt-4o-mini", 0, 1_000_000), 0.6));
        assert!(close(t.llm_cost("gpt-4o-mini", 2000, 1000), 0.0003 + 0.0006));
        assert!(close(t.llm_cost("gpt-4o", u32::MAX, 0), f64::from(u32::MAX) * 2.5 / 1e6));
        assert!(close(t.tts_cost("eleven_multilingual_v2", 1000), 0.10));
        assert!(close(t.tts_cost("eleven_flash_v2_5", 12_345), 0.61725));
        assert_eq!(t.tts_cost("eleven_multilingual_v2", 0), 0.0);
    }

    #[test]
    fn dated_snapshots_match_their_model() {
        let t = table();
        assert!(close(t.llm_cost("gpt-4o-mini-2024-07-18", 1_000_000, 0), 0.15));
        assert!(close(t.llm_cost("gpt-4o-2024-08-06", 1_000_000, 0), 2.5));
        assert!(close(t.llm_cost("gpt-4-0613", 1_000_000, 0), 30.0));
        assert!(t.knows_llm("gpt-4o-mini-2024-07-18"));
        // Longest match wins even though "gpt-4" and "gpt-4o" are also prefixes.
        assert_eq!(t.llm_price("gpt-4o-mini-2024-07-18"), t.llm_price("gpt-4o-mini"));
    }

    #[test]
    fn other_extensions_and_near_names_are_unknown() {
        let t = PriceTable::from_json(r#"{"gpt-4o": {"prompt_per_1m": 2.5, "completion_per_1m": 10}}"#, "").unwrap();
        for m in [
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "gpt-4o-audio-preview",
            "gpt-4o2",
            "gpt-4",
            "GPT-4O",
            "",
            "gpt-4o-",
        ] {
            assert!(!t.knows_llm(m), "{m}");
            assert_eq!(t.llm_cost(m, 1000, 1000), 0.0, "{m}");
        }
        assert_eq!(table().tts_cost("eleven_v3", 1000), 0.0);
        assert!(!table().knows_tts("eleven_v3"));
    }

    #[test]
    fn rounding_to_six_places() {
        assert_eq!(round_usd(0.000_000_4), 0.0);
        assert_eq!(round_usd(0.000_000_6), 0.000_001);
        assert_eq!(round_usd(1.234_567_89), 1.234_568);
        assert_eq!(round_usd(0.15), 0.15);
        assert_eq!(round_usd(0.0003 + 0.0006), 0.0009);
        assert_eq!(round_usd(123_456.000_000_2), 123_456.0);
        assert_eq!(round_usd(-0.000_000_1).to_bits(), 0.0f64.to_bits());
        assert_eq!(round_usd(f64::NAN), 0.0);
        assert_eq!(round_usd(f64::INFINITY), 0.0);
    }
}
