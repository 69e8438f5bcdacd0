//! The admin's per-user limits. Each field has three states, kept apart in storage as in the
//! request: absent (the configured default applies), `null` (unlimited) or a number. They are
//! stored as the same JSON object (`user_budgets.overrides`), so a key that is missing means
//! "not overridden" and a key holding null means "overridden to unlimited".

use crate::core::validate::FieldError;
use serde_json::{Map, Value};

const FIELDS: [&str; 3] = ["llm_tokens", "tts_characters", "usd"];

/// Outer `None`: not overridden; `Some(None)`: unlimited; `Some(Some(n))`: this limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub llm_tokens: Option<Option<u64>>,
    pub tts_characters: Option<Option<u64>>,
    pub usd: Option<Option<f64>>,
}

impl Overrides {
    /// The body of `PUT /admin/users/{id}/budget`, which replaces the user's overrides whole:
    /// a field left out returns to the default.
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let Value::Object(m) = v else { return Err(FieldError::new("", "the body must be a JSON object")) };
        if let Some(k) = m.keys().filter(|k| !FIELDS.contains(&k.as_str())).min() {
            return Err(FieldError::new(k.clone(), "unknown field"));
        }
        Ok(Overrides { llm_tokens: count(&m, "llm_tokens")?, tts_characters: count(&m, "tts_characters")?, usd: usd(&m)? })
    }

    /// What `user_budgets.overrides` holds; it was written by `to_json` from a parsed body, so
    /// anything unreadable is treated as not overridden rather than failing every request.
    pub fn from_stored(v: &Value) -> Self {
        let m = v.as_object().cloned().unwrap_or_default();
        Overrides {
            llm_tokens: count(&m, "llm_tokens").ok().flatten(),
            tts_characters: count(&m, "tts_characters").ok().flatten(),
            usd: usd(&m).ok().flatten(),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(v) = self.llm_tokens {
            m.insert("llm_tokens".into(), v.into());
        }
        if let Some(v) = self.tts_characters {
            m.insert("tts_characters".into(), v.into());
        }
        if let Some(v) = self.usd {
            m.insert("usd".into(), v.into());
        }
        Value::Object(m)
    }
}

fn count(m: &Map<String, Value>, key: &str) -> Result<Option<Option<u64>>, FieldError> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        // Stored as bigint-sized sums are compared against it: keep it within i64.
        Some(Value::Number(n)) => match n.as_u64().filter(|n| *n <= i64::MAX as u64) {
            Some(n) => Ok(Some(Some(n))),
            None if n.is_f64() => Err(FieldError::new(key, "must be a whole number, or null for unlimited")),
            None => Err(FieldError::new(key, format!("must be between 0 and {}, or null for unlimited", i64::MAX))),
        },
        Some(_) => Err(FieldError::new(key, "must be an integer, or null for unlimited")),
    }
}

fn usd(m: &Map<String, Value>) -> Result<Option<Option<f64>>, FieldError> {
    match m.get("usd") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => match n.as_f64().filter(|x| x.is_finite() && *x >= 0.0 && *x <= 1e9) {
            Some(x) => Ok(Some(Some(x))),
            None => Err(FieldError::new("usd", "must be between 0 and 1000000000, or null for unlimited")),
        },
        Some(_) => Err(FieldError::new("usd", "must be a number, or null for unlimited")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_null_and_numbers_are_three_states() {
        assert_eq!(Overrides::parse(json!({})), Ok(Overrides::default()));
        let o = Overrides::parse(json!({"llm_tokens": null, "tts_characters": 1500, "usd": 2})).unwrap();
        assert_eq!(o, Overrides { llm_tokens: Some(None), tts_characters: Some(Some(1500)), usd: Some(Some(2.0)) });
        assert_eq!(o.to_json(), json!({"llm_tokens": null, "tts_characters": 1500, "usd": 2.0}));
        assert_eq!(Overrides::from_stored(&o.to_json()), o);
        assert_eq!(Overrides::parse(json!({"usd": 0.5})).unwrap().to_json(), json!({"usd": 0.5}));
        assert_eq!(Overrides::from_stored(&json!({})), Overrides::default());
        assert_eq!(Overrides::from_stored(&json!("junk")), Overrides::default());
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let err = |v: Value| Overrides::parse(v).unwrap_err();
        assert_eq!(err(json!([])), FieldError::new("", "the body must be a JSON object"));
        assert_eq!(err(json!({"tokens": 5})), FieldError::new("tokens", "unknown field"));
        assert_eq!(err(json!({"llm_tokens": -1})), FieldError::new("llm_tokens", format!("must be between 0 and {}, or null for unlimited", i64::MAX)));
        assert_eq!(err(json!({"llm_tokens": 1.5})), FieldError::new("llm_tokens", "must be a whole number, or null for unlimited"));
        assert_eq!(err(json!({"tts_characters": "10"})), FieldError::new("tts_characters", "must be an integer, or null for unlimited"));
        assert_eq!(err(json!({"usd": -0.01})), FieldError::new("usd", "must be between 0 and 1000000000, or null for unlimited"));
        assert_eq!(err(json!({"usd": true})), FieldError::new("usd", "must be a number, or null for unlimited"));
    }
}
