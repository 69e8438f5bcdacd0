use serde_json::Value;

use super::parse_chapters;
use crate::core::validate::{FieldError, ObjectReader};

/// The body of `POST /api/v1/stories/{id}/generate`. `chapters: None` lets the job pick (every
/// chapter without a script, or all of them with `regenerate`); `dry_run` asks for the token
/// and cost estimate without starting anything.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub chapters: Option<Vec<u32>>,
    pub regenerate: bool,
    pub dry_run: bool,
}

impl GenerateRequest {
    /// `num_chapters` is the story's, so chapter numbers can be checked against it.
    pub fn parse(v: Value, num_chapters: u32) -> Result<Self, FieldError> {
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["chapters", "regenerate", "dry_run"])?;
        let chapters = parse_chapters(&mut r, num_chapters)?;
        let regenerate = r.optional_bool("regenerate")?.unwrap_or(false);
        let dry_run = r.optional_bool("dry_run")?.unwrap_or(false);
        r.finish()?;
        Ok(GenerateRequest { chapters, regenerate, dry_run })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(field: &str, message: &str) -> Result<GenerateRequest, FieldError> {
        Err(FieldError::new(field, message))
    }

    #[test]
    fn empty_body_means_defaults() {
        assert_eq!(GenerateRequest::parse(json!({}), 5), Ok(GenerateRequest { chapters: None, regenerate: false, dry_run: false }));
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": null, "regenerate": null}), 5),
            Ok(GenerateRequest { chapters: None, regenerate: false, dry_run: false })
        );
    }

    #[test]
    fn chapters_come_back_sorted() {
        let g = GenerateRequest::parse(json!({"chapters": [5, 1, 3], "regenerate": true}), 5).unwrap();
        assert_eq!(g, GenerateRequest { chapters: Some(vec![1, 3, 5]), regenerate: true, dry_run: false });
    }

    #[test]
    fn chapter_bounds_follow_the_story() {
        assert!(GenerateRequest::parse(json!({"chapters": [1, 5]}), 5).is_ok());
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": [1, 6]}), 5),
            err("chapters[1]", "must be between 1 and 5")
        );
        assert_eq!(GenerateRequest::parse(json!({"chapters": [0]}), 5), err("chapters[0]", "must be between 1 and 5"));
        assert_eq!(GenerateRequest::parse(json!({"chapters": [-1]}), 5), err("chapters[0]", "must be between 1 and 5"));
        assert!(GenerateRequest::parse(json!({"chapters": [50]}), 50).is_ok());
        assert_eq!(GenerateRequest::parse(json!({"chapters": [2]}), 1), err("chapters[0]", "must be between 1 and 1"));
    }

    #[test]
    fn bad_chapter_lists() {
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": []}), 5),
            err("chapters", "must not be empty (leave it out to mean all)")
        );
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": [2, 2]}), 5),
            err("chapters[1]", "repeats 2; each value may appear once")
        );
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": [1, "2"]}), 5),
            err("chapters[1]", "must be an integer, not a string")
        );
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": [1, 2.0]}), 5),
            err("chapters[1]", "must be a whole number")
        );
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": 2}), 5),
            err("chapters", "must be a list of integers, not a number")
        );
        assert_eq!(
            GenerateRequest::parse(json!({"chapters": [1, 2, 3, 4, 5, 6]}), 5),
            err("chapters", "must have at most 5 items")
        );
    }

    #[test]
    fn regenerate_type_and_unknown_fields() {
        assert_eq!(
            GenerateRequest::parse(json!({"regenerate": 1}), 5),
            err("regenerate", "must be a boolean, not a number")
        );
        assert_eq!(GenerateRequest::parse(json!({"dry_run": true}), 5).map(|g| g.dry_run), Ok(true));
        assert_eq!(GenerateRequest::parse(json!({"dry_run": "yes"}), 5), err("dry_run", "must be a boolean, not a string"));
        assert_eq!(GenerateRequest::parse(json!({"dry": true}), 5), err("dry", "unknown field"));
        assert_eq!(GenerateRequest::parse(json!([1]), 5), err("", "the body must be a JSON object"));
    }
}
