use serde_json::Value;

use super::parse_chapters;
use crate::core::validate::{FieldError, ObjectReader};

/// The body of `POST /api/v1/stories/{id}/audio`. `chapters: None` means every chapter that has
/// a script; `dry_run` asks for the cost estimate without starting anything.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioRequest {
    pub chapters: Option<Vec<u32>>,
    pub dry_run: bool,
}

impl AudioRequest {
    /// `num_chapters` is the story's, so chapter numbers can be checked against it.
    pub fn parse(v: Value, num_chapters: u32) -> Result<Self, FieldError> {
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["chapters", "dry_run"])?;
        let chapters = parse_chapters(&mut r, num_chapters)?;
        let dry_run = r.optional_bool("dry_run")?.unwrap_or(false);
        r.finish()?;
        Ok(AudioRequest { chapters, dry_run })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(field: &str, message: &str) -> Result<AudioRequest, FieldError> {
        Err(FieldError::new(field, message))
    }

    #[test]
    fn defaults() {
        assert_eq!(AudioRequest::parse(json!({}), 3), Ok(AudioRequest { chapters: None, dry_run: false }));
        assert_eq!(
            AudioRequest::parse(json!({"dry_run": null}), 3),
            Ok(AudioRequest { chapters: None, dry_run: false })
        );
    }

    #[test]
    fn dry_run_with_chapters_sorted() {
        assert_eq!(
            AudioRequest::parse(json!({"chapters": [3, 2], "dry_run": true}), 3),
            Ok(AudioRequest { chapters: Some(vec![2, 3]), dry_run: true })
        );
    }

    #[test]
    fn chapter_errors() {
        assert_eq!(AudioRequest::parse(json!({"chapters": [4]}), 3), err("chapters[0]", "must be between 1 and 3"));
        assert_eq!(
            AudioRequest::parse(json!({"chapters": [1, 1]}), 3),
            err("chapters[1]", "repeats 1; each value may appear once")
        );
        assert_eq!(
            AudioRequest::parse(json!({"chapters": []}), 3),
            err("chapters", "must not be empty (leave it out to mean all)")
        );
        assert_eq!(
            AudioRequest::parse(json!({"chapters": [1, true]}), 3),
            err("chapters[1]", "must be an integer, not a boolean")
        );
    }

    #[test]
    fn wrong_types_and_unknown_fields() {
        assert_eq!(
            AudioRequest::parse(json!({"dry_run": "true"}), 3),
            err("dry_run", "must be a boolean, not a string")
        );
        assert_eq!(AudioRequest::parse(json!({"regenerate": true}), 3), err("regenerate", "unknown field"));
    }
}
