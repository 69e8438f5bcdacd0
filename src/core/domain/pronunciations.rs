use std::collections::BTreeMap;

use serde_json::Value;

use super::{check_not_blank, check_single_line};
use crate::core::validate::{check_length, FieldError};

pub const MAX_PRONUNCIATIONS: usize = 200;
pub const PHRASE_MAX_CHARS: usize = 100;
pub const REPLACEMENT_MAX_CHARS: usize = 200;

/// The body of `PUT /api/v1/stories/{id}/pronunciations`: phrase → what TTS is sent instead
/// (`core::pronounce`). An empty object clears them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pronunciations(pub BTreeMap<String, String>);

impl Pronunciations {
    /// Entries are checked in sorted order, so the error does not depend on the client's order.
    /// A phrase with spaces at its ends is refused: whole-word matching makes them meaningless.
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let Value::Object(map) = v else {
            return Err(FieldError::new("", "the body must be a JSON object of phrase to replacement"));
        };
        if map.len() > MAX_PRONUNCIATIONS {
            return Err(FieldError::new("", format!("must have at most {MAX_PRONUNCIATIONS} phrases, not {}", map.len())));
        }
        let sorted: BTreeMap<String, Value> = map.into_iter().collect();
        let mut out = BTreeMap::new();
        for (phrase, replacement) in sorted {
            let field: String = phrase.chars().take(PHRASE_MAX_CHARS).collect();
            if let Some(m) = check_length(&phrase, 1, PHRASE_MAX_CHARS) {
                return Err(FieldError::new(field, format!("phrase {m}")));
            }
            check_not_blank(&field, &phrase)?;
            check_single_line(&field, &phrase)?;
            if phrase.trim() != phrase {
                return Err(FieldError::new(field, "phrase must not start or end with spaces"));
            }
            let Value::String(replacement) = replacement else {
                return Err(FieldError::new(field, "must be a replacement (a string)"));
            };
            if let Some(m) = check_length(&replacement, 1, REPLACEMENT_MAX_CHARS) {
                return Err(FieldError::new(field, format!("replacement {m}")));
            }
            check_not_blank(&field, &replacement).map_err(|e| FieldError::new(e.field, "replacement must not be blank"))?;
            check_single_line(&field, &replacement)
                .map_err(|e| FieldError::new(e.field, "replacement must not contain control characters"))?;
            out.insert(phrase, replacement);
        }
        Ok(Pronunciations(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn field(v: Value) -> String {
        Pronunciations::parse(v).unwrap_err().field
    }

    #[test]
    fn valid_map() {
        let p = Pronunciations::parse(json!({"Mara": "MAH-rah", "Élodie": "ay-lo-dee", "New York": "Noo Yawk"})).unwrap();
        assert_eq!(p.0.len(), 3);
        assert_eq!(p.0["Élodie"], "ay-lo-dee");
        assert_eq!(Pronunciations::parse(json!({})).unwrap(), Pronunciations::default());
    }

    #[test]
    fn limits() {
        let many = |n: usize| Value::Object((0..n).map(|i| (format!("w{i}"), json!("x"))).collect::<Map<_, _>>());
        assert!(Pronunciations::parse(many(200)).is_ok());
        assert_eq!(field(many(201)), "");
        assert!(Pronunciations::parse(json!({"é".repeat(100): "é".repeat(200)})).is_ok());
        assert_eq!(field(json!({"x".repeat(101): "y"})), "x".repeat(100));
        assert_eq!(field(json!({"Mara": "y".repeat(201)})), "Mara");
        assert_eq!(field(json!({"Mara": ""})), "Mara");
        assert_eq!(field(json!({"Mara": "  "})), "Mara");
        assert_eq!(field(json!({"": "y"})), "");
        assert_eq!(field(json!({"  ": "y"})), "  ");
        assert_eq!(field(json!({" Mara": "y"})), " Mara");
        assert_eq!(field(json!({"a\nb": "y"})), "a\nb");
        assert_eq!(field(json!({"Mara": "a\nb"})), "Mara");
    }

    #[test]
    fn wrong_types() {
        assert_eq!(field(json!([])), "");
        assert_eq!(field(json!("Mara")), "");
        assert_eq!(field(json!({"Mara": 5})), "Mara");
        assert_eq!(field(json!({"Mara": null})), "Mara");
        assert_eq!(field(json!({"Mara": ["x"]})), "Mara");
    }
}
