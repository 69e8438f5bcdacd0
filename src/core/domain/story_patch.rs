use serde_json::Value;

use super::new_story::TITLE_MAX_CHARS;
use super::{check_not_blank, check_single_line};
use crate::core::validate::{FieldError, ObjectReader};

/// The body of `PATCH /api/v1/stories/{id}`. The title is required here, unlike at creation:
/// a PATCH that changes nothing is more likely a client bug than an intent.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryPatch {
    pub title: String,
}

impl StoryPatch {
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["title"])?;
        let title = r.required_string("title", 1, TITLE_MAX_CHARS)?;
        check_not_blank("title", &title)?;
        check_single_line("title", &title)?;
        r.finish()?;
        Ok(StoryPatch { title })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(field: &str, message: &str) -> Result<StoryPatch, FieldError> {
        Err(FieldError::new(field, message))
    }

    #[test]
    fn valid() {
        assert_eq!(StoryPatch::parse(json!({"title": "Chapter One"})), Ok(StoryPatch { title: "Chapter One".into() }));
    }

    #[test]
    fn length_boundaries() {
        assert_eq!(StoryPatch::parse(json!({"title": ""})), err("title", "must not be empty"));
        assert!(StoryPatch::parse(json!({"title": "x"})).is_ok());
        assert!(StoryPatch::parse(json!({"title": "ü".repeat(200)})).is_ok());
        assert_eq!(
            StoryPatch::parse(json!({"title": "ü".repeat(201)})),
            err("title", "must be at most 200 characters")
        );
    }

    #[test]
    fn blank_or_multiline_title_is_rejected() {
        assert_eq!(StoryPatch::parse(json!({"title": "  "})), err("title", "must not be blank"));
        assert_eq!(
            StoryPatch::parse(json!({"title": "a\nb"})),
            err("title", "must not contain control characters such as line breaks")
        );
    }

    #[test]
    fn required_and_typed() {
        assert_eq!(StoryPatch::parse(json!({})), err("title", "is required"));
        assert_eq!(StoryPatch::parse(json!({"title": null})), err("title", "must be a string, not null"));
        assert_eq!(StoryPatch::parse(json!({"title": false})), err("title", "must be a string, not a boolean"));
    }

    #[test]
    fn other_story_fields_cannot_be_patched() {
        assert_eq!(StoryPatch::parse(json!({"title": "x", "prompt": "y"})), err("prompt", "unknown field"));
        assert_eq!(StoryPatch::parse(json!({"num_chapters": 3})), err("num_chapters", "unknown field"));
    }
}
