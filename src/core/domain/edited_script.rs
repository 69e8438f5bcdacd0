use serde_json::Value;

use super::{check_not_blank, check_single_line};
use crate::core::script::{Character, Line, Script};
use crate::core::validate::{type_name, FieldError, ObjectReader};

pub const SCRIPT_TITLE_MAX_CHARS: usize = 200;
pub const MAX_LINES: usize = 1000;
pub const LINE_SPEAKER_MAX_CHARS: usize = 100;
pub const LINE_TEXT_MAX_CHARS: usize = 5000;
pub const LINE_DIRECTION_MAX_CHARS: usize = 500;

/// The body of `PUT /api/v1/stories/{id}/chapters/{n}/script`: a person's script for the
/// chapter, held to what an LLM answer must pass (`core::script`) and to the contract's limits.
/// Values are stored trimmed, as LLM answers are; a blank direction is stored as null.
#[derive(Debug, Clone, PartialEq)]
pub struct EditedScript {
    pub title: String,
    pub lines: Vec<Line>,
}

impl EditedScript {
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["title", "lines"])?;
        let title = r.required_string("title", 1, SCRIPT_TITLE_MAX_CHARS)?;
        check_not_blank("title", &title)?;
        check_single_line("title", &title)?;
        let lines = match r.take_required("lines")? {
            Value::Array(items) => items,
            other => return Err(FieldError::new("lines", format!("must be a list of lines, not {}", type_name(&other)))),
        };
        r.finish()?;
        if lines.is_empty() || lines.len() > MAX_LINES {
            return Err(FieldError::new("lines", format!("must have 1 to {MAX_LINES} lines, not {}", lines.len())));
        }
        let lines = lines.into_iter().enumerate().map(|(i, l)| line(i, l)).collect::<Result<_, _>>()?;
        Ok(EditedScript { title: title.trim().to_string(), lines })
    }

    /// As stored: the characters (names and descriptions) come from the script it replaces.
    pub fn into_script(self, characters: Vec<Character>) -> Script {
        Script { title: self.title, lines: self.lines, characters }
    }
}

fn line(i: usize, v: Value) -> Result<Line, FieldError> {
    let at = |f: &str| format!("lines[{i}].{f}");
    let Value::Object(_) = &v else {
        return Err(FieldError::new(format!("lines[{i}]"), format!("must be an object, not {}", type_name(&v))));
    };
    let mut r = ObjectReader::new(v)?;
    if let Err(e) = r.reject_unknown(&["speaker", "text", "direction"]) {
        return Err(FieldError::new(format!("lines[{i}].{}", e.field), e.message));
    }
    let rename = |e: FieldError| FieldError::new(at(&e.field), e.message);
    let speaker = r.required_string("speaker", 1, LINE_SPEAKER_MAX_CHARS).map_err(rename)?;
    check_not_blank("speaker", &speaker).map_err(rename)?;
    check_single_line("speaker", &speaker).map_err(rename)?;
    let text = r.required_string("text", 1, LINE_TEXT_MAX_CHARS).map_err(rename)?;
    check_not_blank("text", &text).map_err(rename)?;
    let direction = r.optional_string("direction", 0, LINE_DIRECTION_MAX_CHARS).map_err(rename)?;
    r.finish().map_err(rename)?;
    let direction = direction.map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
    Ok(Line { speaker: speaker.trim().to_string(), text: text.trim().to_string(), direction })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(v: Value) -> String {
        EditedScript::parse(v).unwrap_err().field
    }

    fn lines(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"speaker": "Narrator", "text": format!("Line {i}."), "direction": null})).collect()
    }

    #[test]
    fn valid_script_is_trimmed() {
        let s = EditedScript::parse(json!({
            "title": " The Fox ",
            "lines": [
                {"speaker": " Mara ", "text": " Hello. ", "direction": "  "},
                {"speaker": "Narrator", "text": "She left.", "direction": "softly"},
                {"speaker": "Narrator", "text": "No direction given."}
            ]
        }))
        .unwrap();
        assert_eq!(s.title, "The Fox");
        assert_eq!(s.lines[0], Line { speaker: "Mara".into(), text: "Hello.".into(), direction: None });
        assert_eq!(s.lines[1].direction.as_deref(), Some("softly"));
        assert_eq!(s.lines[2].direction, None);
        let script = s.into_script(vec![]);
        assert_eq!(script.lines.len(), 3);
    }

    #[test]
    fn limits() {
        assert!(EditedScript::parse(json!({"title": "t", "lines": lines(MAX_LINES)})).is_ok());
        assert_eq!(field(json!({"title": "t", "lines": lines(MAX_LINES + 1)})), "lines");
        assert_eq!(field(json!({"title": "t", "lines": []})), "lines");
        assert_eq!(field(json!({"title": "", "lines": lines(1)})), "title");
        assert_eq!(field(json!({"title": "   ", "lines": lines(1)})), "title");
        assert_eq!(field(json!({"title": "a\nb", "lines": lines(1)})), "title");
        assert_eq!(field(json!({"title": "x".repeat(201), "lines": lines(1)})), "title");
        assert!(EditedScript::parse(json!({"title": "é".repeat(200), "lines": lines(1)})).is_ok());
        let text = |t: String| json!({"title": "t", "lines": [{"speaker": "A", "text": t, "direction": null}]});
        assert!(EditedScript::parse(text("é".repeat(5000))).is_ok());
        assert_eq!(field(text("x".repeat(5001))), "lines[0].text");
        assert_eq!(field(text("  ".into())), "lines[0].text");
        assert_eq!(field(text("a\0b".into())), "lines[0].text");
        let speaker = |s: String| json!({"title": "t", "lines": [{"speaker": s, "text": "x", "direction": null}]});
        assert_eq!(field(speaker("x".repeat(101))), "lines[0].speaker");
        assert_eq!(field(speaker("".into())), "lines[0].speaker");
        assert_eq!(field(speaker("a\tb".into())), "lines[0].speaker");
        let direction = |d: String| json!({"title": "t", "lines": [{"speaker": "A", "text": "x", "direction": d}]});
        assert!(EditedScript::parse(direction("x".repeat(500))).is_ok());
        assert_eq!(field(direction("x".repeat(501))), "lines[0].direction");
    }

    #[test]
    fn wrong_types_and_unknown_fields() {
        assert_eq!(field(json!([])), "");
        assert_eq!(field(json!({"lines": lines(1)})), "title");
        assert_eq!(field(json!({"title": "t"})), "lines");
        assert_eq!(field(json!({"title": 5, "lines": lines(1)})), "title");
        assert_eq!(field(json!({"title": "t", "lines": "x"})), "lines");
        assert_eq!(field(json!({"title": "t", "lines": [5]})), "lines[0]");
        assert_eq!(field(json!({"title": "t", "lines": lines(1), "extra": 1})), "extra");
        let mut l = lines(3);
        l[2] = json!({"speaker": "A", "text": "x", "direction": null, "mood": "sad"});
        assert_eq!(field(json!({"title": "t", "lines": l})), "lines[2].mood");
        l[2] = json!({"speaker": "A", "text": 7, "direction": null});
        assert_eq!(field(json!({"title": "t", "lines": l})), "lines[2].text");
        l[2] = json!({"speaker": "A", "direction": null});
        assert_eq!(field(json!({"title": "t", "lines": l})), "lines[2].text");
        l[2] = json!({"speaker": "A", "text": "x", "direction": 1});
        assert_eq!(field(json!({"title": "t", "lines": l})), "lines[2].direction");
    }
}
