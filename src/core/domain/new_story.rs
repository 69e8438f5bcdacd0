use serde_json::{Map, Value};

use super::{check_not_blank, check_single_line};
use crate::core::validate::{has_control_char, FieldError, ObjectReader};

pub const TITLE_MAX_CHARS: usize = 200;
pub const AUTHOR_MAX_CHARS: usize = 200;
pub const PROMPT_MAX_CHARS: usize = 4000;
pub const MAX_CHAPTERS: i64 = 50;
/// `config` is stored as jsonb and handed to the LLM prompt builder; 16 KiB is ample for
/// settings and keeps one story row from carrying a document.
pub const CONFIG_MAX_BYTES: usize = 16 * 1024;

/// The body of `POST /api/v1/stories`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStory {
    pub title: String,
    pub prompt: String,
    pub num_chapters: u32,
    pub enhance: bool,
    pub config: Map<String, Value>,
    /// Written into the downloads' ID3 tags (TPE1) and the feed (`itunes:author`).
    pub author: Option<String>,
}

impl NewStory {
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["title", "prompt", "num_chapters", "enhance", "config", "author"])?;
        let title = r.optional_string("title", 0, TITLE_MAX_CHARS)?.unwrap_or_default();
        check_single_line("title", &title)?;
        let prompt = r.required_string("prompt", 1, PROMPT_MAX_CHARS)?;
        check_not_blank("prompt", &prompt)?;
        // A prompt may span paragraphs; other control characters only confuse the model.
        if has_control_char(&prompt, &['\n', '\r', '\t']) {
            return Err(FieldError::new(
                "prompt",
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        let num_chapters = r.required_int("num_chapters", 1, MAX_CHAPTERS)? as u32;
        let enhance = r.optional_bool("enhance")?.unwrap_or(false);
        let config = r.optional_object("config", CONFIG_MAX_BYTES)?.unwrap_or_default();
        let author = author(&mut r)?;
        r.finish()?;
        Ok(NewStory { title, prompt, num_chapters, enhance, config, author })
    }
}

/// `author`: absent or null is none; else 1..=200 characters on one line, not blank.
pub(super) fn author(r: &mut ObjectReader) -> Result<Option<String>, FieldError> {
    let author = r.optional_string("author", 1, AUTHOR_MAX_CHARS)?;
    if let Some(a) = &author {
        check_not_blank("author", a)?;
        check_single_line("author", a)?;
    }
    Ok(author)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(field: &str, message: &str) -> Result<NewStory, FieldError> {
        Err(FieldError::new(field, message))
    }

    fn with(extra: Value) -> Value {
        let mut base = json!({"prompt": "A fox learns to sing.", "num_chapters": 3});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn minimal_body_gets_defaults() {
        let s = NewStory::parse(with(json!({}))).unwrap();
        assert_eq!(
            s,
            NewStory {
                title: String::new(),
                prompt: "A fox learns to sing.".into(),
                num_chapters: 3,
                enhance: false,
                config: Map::new(),
                author: None,
            }
        );
    }

    #[test]
    fn full_body() {
        let s = NewStory::parse(with(json!({"title": "Fox", "enhance": true, "config": {"tone": "warm"}}))).unwrap();
        assert_eq!(s.title, "Fox");
        assert!(s.enhance);
        assert_eq!(Value::Object(s.config), json!({"tone": "warm"}));
    }

    #[test]
    fn nulls_for_optional_fields_mean_defaults() {
        let s = NewStory::parse(with(json!({"title": null, "enhance": null, "config": null}))).unwrap();
        assert_eq!((s.title.as_str(), s.enhance, s.config.len()), ("", false, 0));
    }

    #[test]
    fn title_boundaries() {
        assert_eq!(NewStory::parse(with(json!({"title": ""}))).unwrap().title, "");
        assert!(NewStory::parse(with(json!({"title": "🦊".repeat(200)}))).is_ok());
        assert_eq!(
            NewStory::parse(with(json!({"title": "🦊".repeat(201)}))),
            err("title", "must be at most 200 characters")
        );
        assert_eq!(
            NewStory::parse(with(json!({"title": "two\nlines"}))),
            err("title", "must not contain control characters such as line breaks")
        );
    }

    #[test]
    fn author_boundaries() {
        assert_eq!(NewStory::parse(with(json!({"author": "Ada Lovelace"}))).unwrap().author.as_deref(), Some("Ada Lovelace"));
        assert_eq!(NewStory::parse(with(json!({"author": null}))).unwrap().author, None);
        assert!(NewStory::parse(with(json!({"author": "ß".repeat(200)}))).is_ok());
        assert_eq!(NewStory::parse(with(json!({"author": "ß".repeat(201)}))), err("author", "must be at most 200 characters"));
        assert_eq!(NewStory::parse(with(json!({"author": ""}))), err("author", "must not be empty"));
        assert_eq!(NewStory::parse(with(json!({"author": "  "}))), err("author", "must not be blank"));
        assert_eq!(
            NewStory::parse(with(json!({"author": "a\nb"}))),
            err("author", "must not contain control characters such as line breaks")
        );
        assert_eq!(NewStory::parse(with(json!({"author": 7}))), err("author", "must be a string, not a number"));
    }

    #[test]
    fn prompt_boundaries() {
        assert_eq!(NewStory::parse(with(json!({"prompt": ""}))), err("prompt", "must not be empty"));
        assert!(NewStory::parse(with(json!({"prompt": "x"}))).is_ok());
        assert!(NewStory::parse(with(json!({"prompt": "é".repeat(4000)}))).is_ok());
        assert_eq!(
            NewStory::parse(with(json!({"prompt": "é".repeat(4001)}))),
            err("prompt", "must be at most 4000 characters")
        );
    }

    #[test]
    fn prompt_must_have_content_and_may_span_lines() {
        assert_eq!(NewStory::parse(with(json!({"prompt": " \n\t "}))), err("prompt", "must not be blank"));
        assert!(NewStory::parse(with(json!({"prompt": "line one\r\n\tline two"}))).is_ok());
        assert_eq!(
            NewStory::parse(with(json!({"prompt": "bell\u{7}"}))),
            err("prompt", "must not contain control characters other than line breaks and tabs")
        );
        assert_eq!(
            NewStory::parse(with(json!({"prompt": "nul\u{0}"}))),
            err("prompt", "must not contain NUL characters")
        );
    }

    #[test]
    fn prompt_and_num_chapters_are_required() {
        assert_eq!(NewStory::parse(json!({"num_chapters": 3})), err("prompt", "is required"));
        assert_eq!(NewStory::parse(json!({"prompt": "x"})), err("num_chapters", "is required"));
        assert_eq!(NewStory::parse(json!({})), err("prompt", "is required"));
    }

    #[test]
    fn num_chapters_boundaries_and_types() {
        for (n, ok) in [(json!(0), false), (json!(1), true), (json!(50), true), (json!(51), false), (json!(-1), false)]
        {
            let r = NewStory::parse(with(json!({ "num_chapters": n })));
            if ok {
                assert_eq!(r.unwrap().num_chapters as i64, n.as_i64().unwrap());
            } else {
                assert_eq!(r, err("num_chapters", "must be between 1 and 50"), "{n}");
            }
        }
        assert_eq!(
            NewStory::parse(with(json!({"num_chapters": "3"}))),
            err("num_chapters", "must be an integer, not a string")
        );
        assert_eq!(NewStory::parse(with(json!({"num_chapters": 3.0}))), err("num_chapters", "must be a whole number"));
        assert_eq!(NewStory::parse(with(json!({"num_chapters": 2.5}))), err("num_chapters", "must be a whole number"));
    }

    #[test]
    fn wrong_types() {
        assert_eq!(NewStory::parse(with(json!({"enhance": "yes"}))), err("enhance", "must be a boolean, not a string"));
        assert_eq!(NewStory::parse(with(json!({"title": true}))), err("title", "must be a string, not a boolean"));
        assert_eq!(NewStory::parse(with(json!({"prompt": 5}))), err("prompt", "must be a string, not a number"));
        assert_eq!(NewStory::parse(with(json!({"config": [1]}))), err("config", "must be an object, not a list"));
    }

    #[test]
    fn config_size_limit() {
        // {"k":"…"} serialises to 8 bytes plus the value.
        let fits = "v".repeat(CONFIG_MAX_BYTES - 8);
        assert!(NewStory::parse(with(json!({"config": {"k": fits}}))).is_ok());
        let over = "v".repeat(CONFIG_MAX_BYTES - 7);
        assert_eq!(
            NewStory::parse(with(json!({"config": {"k": over}}))),
            err("config", "must be at most 16384 bytes as JSON (it is 16385)")
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        assert_eq!(NewStory::parse(with(json!({"chapters": 3}))), err("chapters", "unknown field"));
        // A misspelt required field is reported as unknown, not as the real one missing.
        assert_eq!(NewStory::parse(json!({"promt": "x", "num_chapters": 2})), err("promt", "unknown field"));
    }

    #[test]
    fn body_must_be_an_object() {
        assert_eq!(NewStory::parse(json!("prompt")), err("", "the body must be a JSON object"));
    }
}
