use std::collections::BTreeMap;

use serde_json::Value;

use super::{check_not_blank, check_single_line};
use crate::core::validate::{check_length, FieldError};

pub const MAX_OVERRIDES: usize = 100;
pub const SPEAKER_MAX_CHARS: usize = 100;
pub const VOICE_ID_MAX_CHARS: usize = 64;

/// The body of `PUT /api/v1/stories/{id}/voices`: speaker name → voice id, every id from the
/// configured catalogue. An empty object is valid and clears the overrides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoiceOverrides(pub BTreeMap<String, String>);

impl VoiceOverrides {
    /// Errors name the speaker whose entry is wrong; entries are checked in sorted order so the
    /// answer does not depend on the order the client wrote them in.
    pub fn parse(v: Value, catalogue: &[&str]) -> Result<Self, FieldError> {
        let Value::Object(map) = v else {
            return Err(FieldError::new("", "the body must be a JSON object of speaker name to voice id"));
        };
        if map.len() > MAX_OVERRIDES {
            return Err(FieldError::new("", format!("must have at most {MAX_OVERRIDES} speakers")));
        }
        // Inserts, not `collect()`: a collected map brings its own copy of the stable sort.
        let mut sorted = BTreeMap::new();
        for (speaker, voice) in map {
            sorted.insert(speaker, voice);
        }
        let mut out = BTreeMap::new();
        for (speaker, voice) in sorted {
            let field = speaker_field(&speaker);
            if speaker.is_empty() {
                return Err(FieldError::new("", "speaker names must not be empty"));
            }
            if let Some(m) = check_length(&speaker, 1, SPEAKER_MAX_CHARS) {
                return Err(FieldError::new(field, format!("speaker name {m}")));
            }
            check_not_blank(&field, &speaker)
                .map_err(|e| FieldError::new(e.field, "speaker name must not be blank"))?;
            check_single_line(&field, &speaker)
                .map_err(|e| FieldError::new(e.field, "speaker name must not contain control characters"))?;
            let Value::String(voice) = voice else {
                return Err(FieldError::new(field, "must be a voice id (a string)"));
            };
            if let Some(m) = check_length(&voice, 1, VOICE_ID_MAX_CHARS) {
                return Err(FieldError::new(field, format!("voice id {m}")));
            }
            if !catalogue.contains(&voice.as_str()) {
                return Err(FieldError::new(
                    field,
                    format!("unknown voice id \"{voice}\"; it is not in the voice catalogue"),
                ));
            }
            out.insert(speaker, voice);
        }
        Ok(VoiceOverrides(out))
    }
}

/// The field that names a speaker's entry; cut short so an over-long name does not flood the
/// error body.
fn speaker_field(speaker: &str) -> String {
    if speaker.chars().count() <= SPEAKER_MAX_CHARS {
        speaker.to_string()
    } else {
        let mut s: String = speaker.chars().take(SPEAKER_MAX_CHARS).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    const CATALOGUE: &[&str] = &["alloy", "echo", "nova"];

    fn err(field: &str, message: &str) -> Result<VoiceOverrides, FieldError> {
        Err(FieldError::new(field, message))
    }

    fn parse(v: Value) -> Result<VoiceOverrides, FieldError> {
        VoiceOverrides::parse(v, CATALOGUE)
    }

    #[test]
    fn valid_overrides() {
        let o = parse(json!({"Narrator": "alloy", "Fox": "nova", "Élodie 🦊": "echo"})).unwrap();
        assert_eq!(o.0.len(), 3);
        assert_eq!(o.0["Élodie 🦊"], "echo");
    }

    #[test]
    fn empty_object_clears() {
        assert_eq!(parse(json!({})), Ok(VoiceOverrides::default()));
    }

    #[test]
    fn unknown_voice_names_the_speaker() {
        assert_eq!(
            parse(json!({"Fox": "nova", "Owl": "shimmer"})),
            err("Owl", "unknown voice id \"shimmer\"; it is not in the voice catalogue")
        );
        // Catalogue ids are matched exactly.
        assert_eq!(
            parse(json!({"Owl": "Nova"})),
            err("Owl", "unknown voice id \"Nova\"; it is not in the voice catalogue")
        );
    }

    #[test]
    fn first_bad_entry_in_sorted_order() {
        assert_eq!(
            parse(json!({"Zed": "x", "Abe": "y"})),
            err("Abe", "unknown voice id \"y\"; it is not in the voice catalogue")
        );
    }

    #[test]
    fn voice_must_be_a_string_of_sane_length() {
        assert_eq!(parse(json!({"Fox": 1})), err("Fox", "must be a voice id (a string)"));
        assert_eq!(parse(json!({"Fox": null})), err("Fox", "must be a voice id (a string)"));
        assert_eq!(parse(json!({"Fox": ""})), err("Fox", "voice id must not be empty"));
        assert_eq!(parse(json!({"Fox": "v".repeat(65)})), err("Fox", "voice id must be at most 64 characters"));
        let long_id = "v".repeat(64);
        assert!(VoiceOverrides::parse(json!({ "Fox": long_id }), &[long_id.as_str()]).is_ok());
    }

    #[test]
    fn speaker_name_boundaries() {
        assert_eq!(parse(json!({"": "nova"})), err("", "speaker names must not be empty"));
        assert!(parse(json!({ "é".repeat(100): "nova" })).is_ok());
        let long = "é".repeat(101);
        let field = "é".repeat(100) + "…";
        assert_eq!(parse(json!({ long: "nova" })), err(&field, "speaker name must be at most 100 characters"));
        assert_eq!(parse(json!({"  ": "nova"})), err("  ", "speaker name must not be blank"));
        assert_eq!(parse(json!({"a\nb": "nova"})), err("a\nb", "speaker name must not contain control characters"));
    }

    #[test]
    fn at_most_100_entries() {
        let mut m = Map::new();
        for i in 0..100 {
            m.insert(format!("s{i}"), json!("echo"));
        }
        assert!(parse(Value::Object(m.clone())).is_ok());
        m.insert("one more".into(), json!("echo"));
        assert_eq!(parse(Value::Object(m)), err("", "must have at most 100 speakers"));
    }

    #[test]
    fn body_must_be_an_object() {
        assert_eq!(
            parse(json!([["Fox", "nova"]])),
            err("", "the body must be a JSON object of speaker name to voice id")
        );
    }
}
