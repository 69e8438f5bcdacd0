use serde_json::Value;

use super::new_story::TITLE_MAX_CHARS;
use super::{check_not_blank, check_single_line};
use crate::core::validate::{FieldError, ObjectReader};

/// The body of `PATCH /api/v1/stories/{id}`: a title, an author, or both. One of them is
/// required: a PATCH that changes nothing is more likely a client bug than an intent. The
/// title cannot be removed (null is refused); `"author": null` removes the author.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryPatch {
    pub title: Option<String>,
    /// `Some(None)`: remove the author; `None`: keep it.
    pub author: Option<Option<String>>,
}

impl StoryPatch {
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let (author_given, title_given) = (v.get("author").is_some(), v.get("title").is_some());
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["title", "author"])?;
        let title = if author_given && !title_given { None } else { Some(r.required_string("title", 1, TITLE_MAX_CHARS)?) };
        if let Some(title) = &title {
            check_not_blank("title", title)?;
            check_single_line("title", title)?;
        }
        let author = if author_given { Some(super::new_story::author(&mut r)?) } else { None };
        r.finish()?;
        Ok(StoryPatch { title, author })
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
        assert_eq!(StoryPatch::parse(json!({"title": "Chapter One"})), Ok(StoryPatch { title: Some("Chapter One".into()), author: None }));
    }

    #[test]
    fn author_alone_or_with_the_title_and_null_removes_it() {
        assert_eq!(StoryPatch::parse(json!({"author": "Ada"})), Ok(StoryPatch { title: None, author: Some(Some("Ada".into())) }));
        assert_eq!(StoryPatch::parse(json!({"author": null})), Ok(StoryPatch { title: None, author: Some(None) }));
        assert_eq!(
            StoryPatch::parse(json!({"title": "T", "author": "Ada"})),
            Ok(StoryPatch { title: Some("T".into()), author: Some(Some("Ada".into())) })
        );
        assert_eq!(StoryPatch::parse(json!({"author": "x".repeat(201)})), err("author", "must be at most 200 characters"));
        assert_eq!(StoryPatch::parse(json!({"author": " "})), err("author", "must not be blank"));
        // The title stays required in form when given, and cannot be removed.
        assert_eq!(StoryPatch::parse(json!({"title": null, "author": "Ada"})), err("title", "must be a string, not null"));
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
