//! A chapter script as the LLM writes it: the JSON Schema sent with the request, and the checks
//! its answer must pass before anything is stored. A script that passes is safe to voice: it has
//! a title, at least one line, and every line has a speaker and something to say.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

/// The speaker name the prompts ask the model to use for narration, so the narrator's voice can
/// be told apart from the characters'.
pub const NARRATOR: &str = "Narrator";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub title: String,
    pub lines: Vec<Line>,
    pub characters: Vec<Character>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub speaker: String,
    pub text: String,
    /// Required but nullable, as in the schema: serde would otherwise accept a missing key.
    #[serde(deserialize_with = "required_nullable")]
    pub direction: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Character {
    pub name: String,
    pub description: String,
}

fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// The JSON Schema sent as `response_format.json_schema.schema`. It follows the strict
/// structured-outputs subset: every property required, `additionalProperties: false` on every
/// object, optional values as a `null` union.
pub fn json_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["title", "lines", "characters"],
        "properties": {
            "title": {
                "type": "string",
                "description": "The chapter's title, without the word 'Chapter' or its number."
            },
            "lines": {
                "type": "array",
                "minItems": 1,
                "description": "The chapter in reading order: narration and dialogue, one speaker per line.",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["speaker", "text", "direction"],
                    "properties": {
                        "speaker": {
                            "type": "string",
                            "description": "Who speaks: 'Narrator' for narration, otherwise the character's name exactly as in 'characters'."
                        },
                        "text": {
                            "type": "string",
                            "description": "Exactly the words read aloud, with no stage directions or speaker labels."
                        },
                        "direction": {
                            "type": ["string", "null"],
                            "description": "A short delivery note for the voice actor (e.g. 'whispering'), or null."
                        }
                    }
                }
            },
            "characters": {
                "type": "array",
                "description": "Every character who speaks in this chapter, except the Narrator.",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "description"],
                    "properties": {
                        "name": { "type": "string" },
                        "description": {
                            "type": "string",
                            "description": "Who they are and how they sound (age, manner, accent), for casting a voice."
                        }
                    }
                }
            }
        }
    })
}

/// Parses and checks a model's JSON answer. Surrounding whitespace is trimmed from every string
/// (speaker names key voices and clip hashes, so "Mira " must be "Mira"), a blank direction
/// becomes `None`, and characters without a name are dropped since they can't be cast.
/// The error is a short reason fit for logs and a chapter's error message.
pub fn parse(content: &str) -> Result<Script, String> {
    let value: Value = serde_json::from_str(content).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("the answer is not a JSON object".into());
    }
    let raw: Script =
        serde_json::from_value(value).map_err(|e| format!("the answer does not match the script schema: {e}"))?;
    let script = normalize(raw);
    check(&script)?;
    Ok(script)
}

fn normalize(s: Script) -> Script {
    Script {
        title: s.title.trim().to_string(),
        lines: s
            .lines
            .into_iter()
            .map(|l| Line {
                speaker: l.speaker.trim().to_string(),
                text: l.text.trim().to_string(),
                direction: l.direction.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
            })
            .collect(),
        characters: s
            .characters
            .into_iter()
            .map(|c| Character { name: c.name.trim().to_string(), description: c.description.trim().to_string() })
            .filter(|c| !c.name.is_empty())
            .collect(),
    }
}

fn check(s: &Script) -> Result<(), String> {
    if s.title.is_empty() {
        return Err("the script's title is blank".into());
    }
    if s.lines.is_empty() {
        return Err("the script has no lines".into());
    }
    for (i, l) in s.lines.iter().enumerate() {
        if l.speaker.is_empty() {
            return Err(format!("line {} has a blank speaker", i + 1));
        }
        if l.text.is_empty() {
            return Err(format!("line {} has blank text", i + 1));
        }
    }
    Ok(())
}

impl Script {
    /// What TTS bills for: the Unicode characters of every line's text.
    pub fn character_count(&self) -> usize {
        self.lines.iter().map(|l| l.text.chars().count()).sum()
    }

    /// Distinct speakers in the order they first speak, so voice assignment is stable.
    pub fn speakers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.lines {
            if !out.iter().any(|s| s == &l.speaker) {
                out.push(l.speaker.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({
            "title": "The Lighthouse",
            "lines": [
                {"speaker": "Narrator", "text": "The storm came at dusk.", "direction": null},
                {"speaker": "Mira", "text": "Light the lamp!", "direction": "shouting"},
                {"speaker": "Narrator", "text": "Nobody answered.", "direction": null},
                {"speaker": "Tomas", "text": "I'm here.", "direction": null}
            ],
            "characters": [
                {"name": "Mira", "description": "The keeper's daughter."},
                {"name": "Tomas", "description": "An old fisherman."}
            ]
        })
    }

    fn with(mutate: impl FnOnce(&mut Value)) -> String {
        let mut v = valid();
        mutate(&mut v);
        v.to_string()
    }

    /// Walks every subschema and checks OpenAI's strict-mode rules for objects.
    fn assert_strict(node: &Value, path: &str) {
        let Some(obj) = node.as_object() else { return };
        if obj.get("type") == Some(&json!("object")) {
            assert_eq!(obj.get("additionalProperties"), Some(&json!(false)), "{path}: additionalProperties");
            let mut props: Vec<&str> = obj["properties"].as_object().unwrap().keys().map(String::as_str).collect();
            let mut required: Vec<&str> =
                obj["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            props.sort();
            required.sort();
            assert_eq!(props, required, "{path}: required must list every property");
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, sub) in props {
                assert_strict(sub, &format!("{path}.{k}"));
            }
        }
        if let Some(items) = obj.get("items") {
            assert_strict(items, &format!("{path}[]"));
        }
    }

    #[test]
    fn schema_is_strict_mode_compatible() {
        let s = json_schema();
        assert_eq!(s["type"], "object");
        assert_strict(&s, "$");
        assert_eq!(s["properties"]["lines"]["minItems"], 1);
        assert_eq!(s["properties"]["lines"]["items"]["properties"]["direction"]["type"], json!(["string", "null"]));
        // Keywords outside the strict subset would make OpenAI reject the request.
        let text = s.to_string();
        for banned in ["minLength", "maxLength", "oneOf", "allOf", "patternProperties", "\"default\""] {
            assert!(!text.contains(banned), "{banned} in schema");
        }
    }

    #[test]
    fn schema_accepts_what_parse_accepts() {
        // The schema's required keys are exactly the fields parse needs.
        let s = json_schema();
        let top: Vec<&str> = s["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(top, ["title", "lines", "characters"]);
        let round = serde_json::to_value(parse(&valid().to_string()).unwrap()).unwrap();
        assert_eq!(round, valid());
    }

    #[test]
    fn parses_a_valid_script() {
        let s = parse(&valid().to_string()).unwrap();
        assert_eq!(s.title, "The Lighthouse");
        assert_eq!(s.lines.len(), 4);
        assert_eq!(
            s.lines[1],
            Line { speaker: "Mira".into(), text: "Light the lamp!".into(), direction: Some("shouting".into()) }
        );
        assert_eq!(s.lines[0].direction, None);
        assert_eq!(s.characters[1], Character { name: "Tomas".into(), description: "An old fisherman.".into() });
    }

    #[test]
    fn direction_must_be_present_but_may_be_null() {
        assert!(parse(&with(|v| v["lines"][0]["direction"] = json!("softly"))).unwrap().lines[0].direction.is_some());
        assert_eq!(parse(&with(|v| v["lines"][0]["direction"] = Value::Null)).unwrap().lines[0].direction, None);
        let missing = with(|v| {
            v["lines"][0].as_object_mut().unwrap().remove("direction");
        });
        let e = parse(&missing).unwrap_err();
        assert!(e.contains("missing field `direction`"), "{e}");
        let e = parse(&with(|v| v["lines"][0]["direction"] = json!(3))).unwrap_err();
        assert!(e.contains("schema"), "{e}");
    }

    #[test]
    fn blank_direction_becomes_none_and_strings_are_trimmed() {
        let s = parse(&with(|v| {
            v["title"] = json!("  The Lighthouse \n");
            v["lines"][0]["direction"] = json!("   ");
            v["lines"][1]["speaker"] = json!(" Mira ");
            v["lines"][1]["text"] = json!("\tLight the lamp!  ");
            v["lines"][1]["direction"] = json!(" shouting ");
        }))
        .unwrap();
        assert_eq!(s.title, "The Lighthouse");
        assert_eq!(s.lines[0].direction, None);
        assert_eq!(
            s.lines[1],
            Line { speaker: "Mira".into(), text: "Light the lamp!".into(), direction: Some("shouting".into()) }
        );
    }

    #[test]
    fn missing_fields_are_rejected() {
        for (what, json) in [
            ("title", with(|v| drop(v.as_object_mut().unwrap().remove("title")))),
            ("lines", with(|v| drop(v.as_object_mut().unwrap().remove("lines")))),
            ("characters", with(|v| drop(v.as_object_mut().unwrap().remove("characters")))),
            ("speaker", with(|v| drop(v["lines"][2].as_object_mut().unwrap().remove("speaker")))),
            ("text", with(|v| drop(v["lines"][0].as_object_mut().unwrap().remove("text")))),
            ("description", with(|v| drop(v["characters"][0].as_object_mut().unwrap().remove("description")))),
        ] {
            let e = parse(&json).unwrap_err();
            assert!(e.contains(&format!("missing field `{what}`")), "{what}: {e}");
        }
    }

    #[test]
    fn extra_fields_are_rejected_at_every_level() {
        for json in [
            with(|v| v["mood"] = json!("dark")),
            with(|v| v["lines"][1]["emotion"] = json!("angry")),
            with(|v| v["characters"][0]["voice"] = json!("x")),
        ] {
            let e = parse(&json).unwrap_err();
            assert!(e.contains("unknown field"), "{e}");
        }
    }

    #[test]
    fn wrong_types_are_rejected() {
        assert!(parse(&with(|v| v["title"] = json!(7))).is_err());
        assert!(parse(&with(|v| v["lines"] = json!({"speaker": "A"}))).is_err());
        assert!(parse(&with(|v| v["lines"][0]["text"] = Value::Null)).is_err());
        assert!(parse(&with(|v| v["characters"] = Value::Null)).is_err());
    }

    #[test]
    fn empty_lines_and_blank_values_are_rejected() {
        assert_eq!(parse(&with(|v| v["lines"] = json!([]))).unwrap_err(), "the script has no lines");
        assert_eq!(parse(&with(|v| v["title"] = json!("  "))).unwrap_err(), "the script's title is blank");
        assert_eq!(parse(&with(|v| v["lines"][2]["text"] = json!(" \n "))).unwrap_err(), "line 3 has blank text");
        assert_eq!(parse(&with(|v| v["lines"][1]["speaker"] = json!(""))).unwrap_err(), "line 2 has a blank speaker");
    }

    #[test]
    fn characters_may_be_empty_and_nameless_ones_are_dropped() {
        assert!(parse(&with(|v| v["characters"] = json!([]))).unwrap().characters.is_empty());
        let s = parse(&with(|v| v["characters"][0]["name"] = json!(" "))).unwrap();
        assert_eq!(s.characters.len(), 1);
        assert_eq!(s.characters[0].name, "Tomas");
    }

    #[test]
    fn not_json_and_not_an_object_are_rejected() {
        let e = parse("Here is your script: {").unwrap_err();
        assert!(e.starts_with("the answer is not JSON"), "{e}");
        assert!(parse("").unwrap_err().starts_with("the answer is not JSON"));
        assert!(parse(&format!("```json\n{}\n```", valid())).is_err());
        assert_eq!(parse("[1,2]").unwrap_err(), "the answer is not a JSON object");
        assert_eq!(parse("null").unwrap_err(), "the answer is not a JSON object");
    }

    #[test]
    fn character_count_counts_unicode_characters_of_line_texts() {
        let s = parse(&valid().to_string()).unwrap();
        let expected = ["The storm came at dusk.", "Light the lamp!", "Nobody answered.", "I'm here."]
            .iter()
            .map(|t| t.len())
            .sum::<usize>();
        assert_eq!(s.character_count(), expected);
        let u = parse(&with(|v| {
            v["lines"] = json!([{"speaker": "Zoë", "text": "Ça va? 日本", "direction": "not counted"}]);
        }))
        .unwrap();
        assert_eq!(u.character_count(), 9);
    }

    #[test]
    fn speakers_are_distinct_in_first_appearance_order() {
        let s = parse(&valid().to_string()).unwrap();
        assert_eq!(s.speakers(), ["Narrator", "Mira", "Tomas"]);
        let s = parse(&with(|v| {
            v["lines"] = json!([
                {"speaker": "B", "text": "1", "direction": null},
                {"speaker": "A", "text": "2", "direction": null},
                {"speaker": " B", "text": "3", "direction": null}
            ]);
        }))
        .unwrap();
        assert_eq!(s.speakers(), ["B", "A"]);
    }
}
