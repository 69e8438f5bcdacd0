use serde_json::Value;

use super::{check_not_blank, check_single_line};
use crate::core::validate::{FieldError, ObjectReader};

pub const NAME_MAX_CHARS: usize = 200;

/// The body of `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub name: String,
}

impl NewUser {
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["name"])?;
        let name = r.required_string("name", 1, NAME_MAX_CHARS)?;
        check_not_blank("name", &name)?;
        check_single_line("name", &name)?;
        r.finish()?;
        Ok(NewUser { name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<NewUser, FieldError> {
        NewUser::parse(v)
    }

    fn err(field: &str, message: &str) -> Result<NewUser, FieldError> {
        Err(FieldError::new(field, message))
    }

    #[test]
    fn valid_name() {
        assert_eq!(parse(json!({"name": "Ada"})), Ok(NewUser { name: "Ada".into() }));
    }

    #[test]
    fn name_is_kept_as_given() {
        assert_eq!(parse(json!({"name": " Ada Lovelace "})).unwrap().name, " Ada Lovelace ");
    }

    #[test]
    fn name_length_boundaries_in_characters() {
        assert_eq!(parse(json!({"name": ""})), err("name", "must not be empty"));
        assert!(parse(json!({"name": "a"})).is_ok());
        assert!(parse(json!({"name": "é".repeat(200)})).is_ok());
        assert!(parse(json!({"name": "🎧".repeat(200)})).is_ok());
        assert_eq!(parse(json!({"name": "a".repeat(201)})), err("name", "must be at most 200 characters"));
        assert_eq!(parse(json!({"name": "é".repeat(201)})), err("name", "must be at most 200 characters"));
    }

    #[test]
    fn blank_name_is_rejected() {
        assert_eq!(parse(json!({"name": "   "})), err("name", "must not be blank"));
        assert_eq!(parse(json!({"name": "\u{3000}"})), err("name", "must not be blank"));
    }

    #[test]
    fn control_characters_are_rejected() {
        for n in ["a\nb", "a\tb", "a\u{1b}[31m", "a\u{85}b"] {
            assert_eq!(
                parse(json!({ "name": n })),
                err("name", "must not contain control characters such as line breaks"),
                "{n:?}"
            );
        }
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(parse(json!({"name": "a\u{0}b"})), err("name", "must not contain NUL characters"));
    }

    #[test]
    fn missing_or_wrong_type() {
        assert_eq!(parse(json!({})), err("name", "is required"));
        assert_eq!(parse(json!({"name": null})), err("name", "must be a string, not null"));
        assert_eq!(parse(json!({"name": 7})), err("name", "must be a string, not a number"));
        assert_eq!(parse(json!({"name": true})), err("name", "must be a string, not a boolean"));
        assert_eq!(parse(json!(["Ada"])), err("", "the body must be a JSON object"));
    }

    #[test]
    fn unknown_field_is_named_even_when_name_is_missing() {
        assert_eq!(parse(json!({"nmae": "Ada"})), err("nmae", "unknown field"));
        assert_eq!(parse(json!({"name": "Ada", "admin": true})), err("admin", "unknown field"));
    }
}
