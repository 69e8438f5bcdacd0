//! Request bodies and query strings, checked field by field so that every rejection can name the
//! field at fault (the API answers 422 `validation_failed` with `"field"`).
//!
//! `parse_json_body` turns raw bytes into a JSON value (415/413/400 on failure); `ObjectReader`
//! then takes typed fields out of it one at a time and finally rejects whatever is left over, so
//! a misspelt optional field is reported instead of silently ignored. `QueryReader` does the same
//! for query-string pairs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One field that failed validation. `field` is `""` when the body as a whole is at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "`{}` {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Why a request body could not be turned into a JSON value, or (via `Invalid`) why a field of it
/// was rejected. The `String`s are messages for a person.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    UnsupportedMediaType(String),
    TooLarge { limit: usize },
    BadJson(String),
    Invalid(FieldError),
}

impl BodyError {
    pub fn status(&self) -> u16 {
        match self {
            BodyError::UnsupportedMediaType(_) => 415,
            BodyError::TooLarge { .. } => 413,
            BodyError::BadJson(_) => 400,
            BodyError::Invalid(_) => 422,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            BodyError::UnsupportedMediaType(_) => "unsupported_media_type",
            BodyError::TooLarge { .. } => "payload_too_large",
            BodyError::BadJson(_) => "bad_request",
            BodyError::Invalid(_) => "validation_failed",
        }
    }

    pub fn message(&self) -> String {
        match self {
            BodyError::UnsupportedMediaType(m) | BodyError::BadJson(m) => m.clone(),
            BodyError::TooLarge { limit } => format!("the body must be at most {limit} bytes"),
            BodyError::Invalid(e) => e.to_string(),
        }
    }

    /// The field to report alongside a 422; `None` for the other kinds.
    pub fn field(&self) -> Option<&str> {
        match self {
            BodyError::Invalid(e) => Some(&e.field),
            _ => None,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for BodyError {}

impl From<FieldError> for BodyError {
    fn from(e: FieldError) -> Self {
        BodyError::Invalid(e)
    }
}

/// Whether a Content-Type header names JSON we can read: `application/json`, any case, with
/// parameters allowed as long as a `charset` (if any) is UTF-8, the only encoding JSON may use.
fn is_json_content_type(ct: &str) -> bool {
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|p| {
        let Some((name, value)) = p.split_once('=') else { return p.trim().is_empty() };
        if !name.trim().eq_ignore_ascii_case("charset") {
            return true;
        }
        let v = value.trim().trim_matches('"');
        v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
    })
}

/// Reads a request body as JSON.
///
/// An empty body reads as `{}` whatever the Content-Type, because no body was sent and a route
/// whose fields are all optional should accept that. Otherwise the Content-Type must be JSON
/// (see `is_json_content_type`) and the body at most `limit` bytes. Duplicate object keys are
/// rejected as bad JSON: which of two values would win differs between parsers, so accepting
/// them would make the request mean different things to different readers.
pub fn parse_json_body(content_type: Option<&str>, body: &[u8], limit: usize) -> Result<Value, BodyError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match content_type {
        None => {
            return Err(BodyError::UnsupportedMediaType(
                "a request body needs the header `Content-Type: application/json`".into(),
            ))
        }
        Some(ct) if !is_json_content_type(ct) => {
            return Err(BodyError::UnsupportedMediaType(format!(
                "the body must be `application/json` (UTF-8), not `{}`",
                truncate_for_message(ct.trim(), 100)
            )))
        }
        Some(_) => {}
    }
    if body.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    serde_json::from_slice::<StrictValue>(body)
        .map(|s| s.0)
        .map_err(|e| BodyError::BadJson(format!("the body is not valid JSON: {e}")))
}

fn truncate_for_message(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars).collect();
        t.push('…');
        t
    }
}

/// A JSON value whose objects, at any depth, have no repeated key.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{}\"", truncate_for_message(&key, 100))));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A message for a string whose length in characters lies outside `min..=max`, or `None`.
pub fn check_length(s: &str, min_chars: usize, max_chars: usize) -> Option<String> {
    let n = s.chars().count();
    if n < min_chars {
        Some(if min_chars == 1 {
            "must not be empty".to_string()
        } else {
            format!("must be at least {min_chars} characters")
        })
    } else if n > max_chars {
        Some(format!("must be at most {max_chars} characters"))
    } else {
        None
    }
}

/// Whether `s` holds a control character; `allowed` lists those that are fine (e.g. newlines in
/// a prompt).
pub fn has_control_char(s: &str, allowed: &[char]) -> bool {
    s.chars().any(|c| c.is_control() && !allowed.contains(&c))
}

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Describes a JSON value's type for messages ("must be a string, not a number").
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn range_message(min: i64, max: i64) -> String {
    format!("must be between {min} and {max}")
}

/// An integer from a JSON number, or the message saying why it is not one in `min..=max`.
/// Numbers written with a fraction or exponent (`3.0`, `1e2`) are floats to serde_json and are
/// rejected: the API's integers are counts, and silently truncating would hide client bugs.
fn int_in_range(v: &Value, min: i64, max: i64) -> Result<i64, String> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if (min..=max).contains(&i) {
                    Ok(i)
                } else {
                    Err(range_message(min, max))
                }
            } else if n.is_u64() {
                Err(range_message(min, max))
            } else {
                Err("must be a whole number".to_string())
            }
        }
        other => Err(format!("must be an integer, not {}", type_name(other))),
    }
}

/// Takes typed fields out of a JSON object, naming the field in every error.
#[derive(Debug)]
pub struct ObjectReader {
    fields: Map<String, Value>,
}

impl ObjectReader {
    pub fn new(v: Value) -> Result<Self, FieldError> {
        match v {
            Value::Object(fields) => Ok(ObjectReader { fields }),
            _ => Err(FieldError::new("", "the body must be a JSON object")),
        }
    }

    /// Rejects, before any field is read, keys outside `known`. Calling this first means a
    /// misspelt required field (`"promt"`) is reported as unknown rather than as the correctly
    /// spelt one being missing.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), FieldError> {
        match self.fields.keys().filter(|k| !known.contains(&k.as_str())).min() {
            Some(k) => Err(FieldError::new(k.clone(), "unknown field")),
            None => Ok(()),
        }
    }

    /// Removes `key`; `null` reads as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        match self.fields.remove(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn string_from(key: &str, v: Value, min_chars: usize, max_chars: usize) -> Result<String, FieldError> {
        let Value::String(s) = v else {
            return Err(FieldError::new(key, format!("must be a string, not {}", type_name(&v))));
        };
        if let Some(m) = check_length(&s, min_chars, max_chars) {
            return Err(FieldError::new(key, m));
        }
        // Postgres text cannot hold NUL, so letting one through would fail later as a 500.
        if s.contains('\0') {
            return Err(FieldError::new(key, "must not contain NUL characters"));
        }
        Ok(s)
    }

    pub fn required_string(&mut self, key: &str, min_chars: usize, max_chars: usize) -> Result<String, FieldError> {
        match self.fields.remove(key) {
            None => Err(FieldError::new(key, "is required")),
            Some(v) => Self::string_from(key, v, min_chars, max_chars),
        }
    }

    pub fn optional_string(
        &mut self,
        key: &str,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Option<String>, FieldError> {
        self.take(key).map(|v| Self::string_from(key, v, min_chars, max_chars)).transpose()
    }

    pub fn optional_bool(&mut self, key: &str) -> Result<Option<bool>, FieldError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(FieldError::new(key, format!("must be a boolean, not {}", type_name(&v)))),
        }
    }

    /// The value of a required field of any type (`null` reads as absent), for the caller to
    /// check.
    pub fn take_required(&mut self, key: &str) -> Result<Value, FieldError> {
        self.take(key).ok_or_else(|| FieldError::new(key, "is required"))
    }

    pub fn required_int(&mut self, key: &str, min: i64, max: i64) -> Result<i64, FieldError> {
        match self.fields.remove(key) {
            None => Err(FieldError::new(key, "is required")),
            Some(v) => int_in_range(&v, min, max).map_err(|m| FieldError::new(key, m)),
        }
    }

    pub fn optional_int(&mut self, key: &str, min: i64, max: i64) -> Result<Option<i64>, FieldError> {
        self.take(key).map(|v| int_in_range(&v, min, max).map_err(|m| FieldError::new(key, m))).transpose()
    }

    /// A non-empty list of distinct integers in `min..=max`, in the order given. A bad element
    /// is named by index, e.g. `chapters[2]`.
    pub fn optional_int_list(
        &mut self,
        key: &str,
        min: i64,
        max: i64,
        max_len: usize,
    ) -> Result<Option<Vec<i64>>, FieldError> {
        let Some(v) = self.take(key) else { return Ok(None) };
        let Value::Array(items) = v else {
            return Err(FieldError::new(key, format!("must be a list of integers, not {}", type_name(&v))));
        };
        if items.is_empty() {
            return Err(FieldError::new(key, "must not be empty (leave it out to mean all)"));
        }
        if items.len() > max_len {
            return Err(FieldError::new(key, format!("must have at most {max_len} items")));
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = format!("{key}[{i}]");
            let n = int_in_range(item, min, max).map_err(|m| FieldError::new(field.clone(), m))?;
            if !seen.insert(n) {
                return Err(FieldError::new(field, format!("repeats {n}; each value may appear once")));
            }
            out.push(n);
        }
        Ok(Some(out))
    }

    /// A JSON object of at most `max_serialized_bytes` bytes once serialised compactly.
    pub fn optional_object(
        &mut self,
        key: &str,
        max_serialized_bytes: usize,
    ) -> Result<Option<Map<String, Value>>, FieldError> {
        let Some(v) = self.take(key) else { return Ok(None) };
        if !v.is_object() {
            return Err(FieldError::new(key, format!("must be an object, not {}", type_name(&v))));
        }
        // Serialising a Value made of owned data cannot fail.
        let size = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(usize::MAX);
        if size > max_serialized_bytes {
            return Err(FieldError::new(
                key,
                format!("must be at most {max_serialized_bytes} bytes as JSON (it is {size})"),
            ));
        }
        // jsonb rejects \u0000 in keys and strings.
        if contains_nul(&v) {
            return Err(FieldError::new(key, "must not contain NUL characters"));
        }
        match v {
            Value::Object(m) => Ok(Some(m)),
            _ => Ok(None),
        }
    }

    /// Fails on the first (in sorted order) field no getter took.
    pub fn finish(self) -> Result<(), FieldError> {
        match self.fields.keys().min() {
            Some(k) => Err(FieldError::new(k.clone(), "unknown field")),
            None => Ok(()),
        }
    }
}

/// Query-string parameters, each allowed at most once and only from a known set.
#[derive(Debug)]
pub struct QueryReader {
    params: BTreeMap<String, String>,
}

impl QueryReader {
    /// `pairs` are already percent-decoded. An unknown parameter is reported before a repeated
    /// one, each the first in sorted order, so the answer does not depend on parameter order.
    pub fn new(pairs: &[(String, String)], known: &[&str]) -> Result<Self, FieldError> {
        if let Some((k, _)) = pairs.iter().filter(|(k, _)| !known.contains(&k.as_str())).min() {
            return Err(FieldError::new(k.clone(), "unknown query parameter"));
        }
        let mut params = BTreeMap::new();
        let mut repeated = BTreeSet::new();
        for (k, v) in pairs {
            if params.insert(k.clone(), v.clone()).is_some() {
                repeated.insert(k.clone());
            }
        }
        if let Some(k) = repeated.into_iter().next() {
            return Err(FieldError::new(k, "must be given at most once"));
        }
        Ok(QueryReader { params })
    }

    pub fn take(&mut self, key: &str) -> Option<String> {
        self.params.remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JSON: Option<&str> = Some("application/json");

    fn reader(v: Value) -> ObjectReader {
        ObjectReader::new(v).unwrap()
    }

    fn err(field: &str, message: &str) -> FieldError {
        FieldError::new(field, message)
    }

    // --- parse_json_body ---

    #[test]
    fn json_body_parses() {
        assert_eq!(parse_json_body(JSON, br#"{"a": 1}"#, 100), Ok(json!({"a": 1})));
    }

    #[test]
    fn content_type_with_charset_and_any_case_is_accepted() {
        for ct in [
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "APPLICATION/JSON",
            "Application/Json ; Charset=\"utf-8\"",
            "application/json; charset=utf8",
            "application/json;",
            "  application/json  ",
        ] {
            assert_eq!(parse_json_body(Some(ct), b"{}", 100), Ok(json!({})), "{ct}");
        }
    }

    #[test]
    fn other_content_types_are_415() {
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
            "application/json; charset=latin1",
            "multipart/form-data; boundary=x",
            "",
        ] {
            let e = parse_json_body(Some(ct), b"{}", 100).unwrap_err();
            assert!(matches!(e, BodyError::UnsupportedMediaType(_)), "{ct}: {e:?}");
            assert_eq!(e.status(), 415);
            assert_eq!(e.code(), "unsupported_media_type");
        }
    }

    #[test]
    fn body_without_content_type_is_415() {
        let e = parse_json_body(None, b"{}", 100).unwrap_err();
        assert!(matches!(e, BodyError::UnsupportedMediaType(_)));
    }

    #[test]
    fn empty_body_is_an_empty_object_with_or_without_content_type() {
        assert_eq!(parse_json_body(None, b"", 100), Ok(json!({})));
        assert_eq!(parse_json_body(JSON, b"", 100), Ok(json!({})));
        assert_eq!(parse_json_body(Some("text/plain"), b"", 0), Ok(json!({})));
    }

    #[test]
    fn size_limit_is_inclusive() {
        let body = br#"{"a":"xx"}"#; // 10 bytes
        assert!(parse_json_body(JSON, body, 10).is_ok());
        let e = parse_json_body(JSON, body, 9).unwrap_err();
        assert_eq!(e, BodyError::TooLarge { limit: 9 });
        assert_eq!(e.status(), 413);
        assert_eq!(e.code(), "payload_too_large");
    }

    #[test]
    fn bad_json_is_400() {
        for body in [&b"{"[..], b"{\"a\": }", b"nope", b"{\"a\":1} trailing", b"   ", b"{'a': 1}"] {
            let e = parse_json_body(JSON, body, 100).unwrap_err();
            assert!(matches!(e, BodyError::BadJson(_)), "{body:?}: {e:?}");
            assert_eq!(e.status(), 400);
            assert_eq!(e.code(), "bad_request");
        }
    }

    #[test]
    fn invalid_utf8_and_lone_surrogates_are_bad_json() {
        let e = parse_json_body(JSON, b"{\"a\": \"\xff\xfe\"}", 100).unwrap_err();
        assert!(matches!(e, BodyError::BadJson(_)), "{e:?}");
        let e = parse_json_body(JSON, br#"{"a": "\ud800"}"#, 100).unwrap_err();
        assert!(matches!(e, BodyError::BadJson(_)), "{e:?}");
    }

    #[test]
    fn duplicate_keys_are_bad_json_at_any_depth() {
        let e = parse_json_body(JSON, br#"{"title": "a", "title": "b"}"#, 100).unwrap_err();
        assert!(matches!(&e, BodyError::BadJson(m) if m.contains("duplicate key \"title\"")), "{e:?}");
        let e = parse_json_body(JSON, br#"{"c": [{"x": 1, "x": 2}]}"#, 100).unwrap_err();
        assert!(matches!(e, BodyError::BadJson(_)));
        // The same key in sibling objects is fine.
        assert!(parse_json_body(JSON, br#"[{"x": 1}, {"x": 2}]"#, 100).is_ok());
    }

    #[test]
    fn strict_parse_keeps_every_json_type() {
        let body = br#"{"n": null, "b": true, "i": -3, "u": 18446744073709551615, "f": 1.5, "s": "\u00e9", "a": [1, [2]], "o": {}}"#;
        let v = parse_json_body(JSON, body, 1000).unwrap();
        let plain: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v, plain);
    }

    #[test]
    fn deep_nesting_is_bad_json_not_a_stack_overflow() {
        let body = "[".repeat(10_000) + &"]".repeat(10_000);
        let e = parse_json_body(JSON, body.as_bytes(), 100_000).unwrap_err();
        assert!(matches!(e, BodyError::BadJson(_)));
    }

    #[test]
    fn field_error_converts_to_422() {
        let e: BodyError = err("prompt", "is required").into();
        assert_eq!(e.status(), 422);
        assert_eq!(e.code(), "validation_failed");
        assert_eq!(e.field(), Some("prompt"));
        assert_eq!(e.message(), "`prompt` is required");
        assert_eq!(err("", "the body must be a JSON object").to_string(), "the body must be a JSON object");
    }

    // --- ObjectReader ---

    #[test]
    fn non_object_body_is_rejected_as_a_whole() {
        for v in [json!([]), json!("x"), json!(1), json!(null), json!(true)] {
            assert_eq!(ObjectReader::new(v).unwrap_err(), err("", "the body must be a JSON object"));
        }
    }

    #[test]
    fn string_length_boundaries() {
        let mut r = reader(json!({"a": "", "b": "x", "c": "xxx", "d": "xxxx"}));
        assert_eq!(r.required_string("a", 1, 3), Err(err("a", "must not be empty")));
        assert_eq!(r.required_string("b", 1, 3), Ok("x".into()));
        assert_eq!(r.required_string("c", 1, 3), Ok("xxx".into()));
        assert_eq!(r.required_string("d", 1, 3), Err(err("d", "must be at most 3 characters")));
        let mut r = reader(json!({"e": "x"}));
        assert_eq!(r.required_string("e", 2, 3), Err(err("e", "must be at least 2 characters")));
        let mut r = reader(json!({"z": ""}));
        assert_eq!(r.required_string("z", 0, 3), Ok(String::new()));
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        // "é" is 2 bytes, "🎧" 4 bytes, "👍🏽" two scalar values.
        let mut r = reader(json!({"a": "ééé", "b": "🎧🎧🎧", "c": "éééé", "d": "👍🏽"}));
        assert_eq!(r.required_string("a", 1, 3), Ok("ééé".into()));
        assert_eq!(r.required_string("b", 1, 3), Ok("🎧🎧🎧".into()));
        assert_eq!(r.required_string("c", 1, 3), Err(err("c", "must be at most 3 characters")));
        assert_eq!(r.required_string("d", 2, 2), Ok("👍🏽".into()));
    }

    #[test]
    fn string_wrong_types() {
        let mut r = reader(json!({"a": true, "b": 1, "c": ["x"], "d": {}, "e": null}));
        assert_eq!(r.required_string("a", 0, 9), Err(err("a", "must be a string, not a boolean")));
        assert_eq!(r.required_string("b", 0, 9), Err(err("b", "must be a string, not a number")));
        assert_eq!(r.required_string("c", 0, 9), Err(err("c", "must be a string, not a list")));
        assert_eq!(r.optional_string("d", 0, 9), Err(err("d", "must be a string, not an object")));
        assert_eq!(r.required_string("e", 0, 9), Err(err("e", "must be a string, not null")));
    }

    #[test]
    fn required_string_missing() {
        let mut r = reader(json!({}));
        assert_eq!(r.required_string("name", 1, 9), Err(err("name", "is required")));
    }

    #[test]
    fn optional_string_absent_null_and_present() {
        let mut r = reader(json!({"n": null, "s": "hi"}));
        assert_eq!(r.optional_string("missing", 1, 9), Ok(None));
        assert_eq!(r.optional_string("n", 1, 9), Ok(None));
        assert_eq!(r.optional_string("s", 1, 9), Ok(Some("hi".into())));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn strings_with_nul_are_rejected() {
        let mut r = reader(json!({"a": "x\u{0}y"}));
        assert_eq!(r.required_string("a", 0, 9), Err(err("a", "must not contain NUL characters")));
    }

    #[test]
    fn bools() {
        let mut r = reader(json!({"t": true, "f": false, "n": null, "s": "true", "i": 1}));
        assert_eq!(r.optional_bool("t"), Ok(Some(true)));
        assert_eq!(r.optional_bool("f"), Ok(Some(false)));
        assert_eq!(r.optional_bool("n"), Ok(None));
        assert_eq!(r.optional_bool("absent"), Ok(None));
        assert_eq!(r.optional_bool("s"), Err(err("s", "must be a boolean, not a string")));
        assert_eq!(r.optional_bool("i"), Err(err("i", "must be a boolean, not a number")));
    }

    #[test]
    fn int_boundaries() {
        let mut r = reader(json!({"a": 0, "b": 1, "c": 50, "d": 51, "e": -1}));
        assert_eq!(r.required_int("a", 1, 50), Err(err("a", "must be between 1 and 50")));
        assert_eq!(r.required_int("b", 1, 50), Ok(1));
        assert_eq!(r.required_int("c", 1, 50), Ok(50));
        assert_eq!(r.required_int("d", 1, 50), Err(err("d", "must be between 1 and 50")));
        assert_eq!(r.required_int("e", 1, 50), Err(err("e", "must be between 1 and 50")));
    }

    #[test]
    fn int_wrong_types() {
        let v =
            parse_json_body(JSON, br#"{"f": 3.0, "x": 1e2, "s": "3", "b": true, "n": null, "h": 2.5}"#, 999).unwrap();
        let mut r = reader(v);
        assert_eq!(r.required_int("f", 1, 50), Err(err("f", "must be a whole number")));
        assert_eq!(r.required_int("x", 1, 500), Err(err("x", "must be a whole number")));
        assert_eq!(r.required_int("h", 1, 50), Err(err("h", "must be a whole number")));
        assert_eq!(r.required_int("s", 1, 50), Err(err("s", "must be an integer, not a string")));
        assert_eq!(r.required_int("b", 1, 50), Err(err("b", "must be an integer, not a boolean")));
        assert_eq!(r.required_int("n", 1, 50), Err(err("n", "must be an integer, not null")));
        assert_eq!(r.required_int("missing", 1, 50), Err(err("missing", "is required")));
    }

    #[test]
    fn huge_ints_are_out_of_range_not_wrapped() {
        let v = parse_json_body(JSON, br#"{"u": 18446744073709551615, "i": -9223372036854775808}"#, 999).unwrap();
        let mut r = reader(v);
        assert_eq!(r.required_int("u", 1, 50), Err(err("u", "must be between 1 and 50")));
        assert_eq!(r.required_int("i", 1, 50), Err(err("i", "must be between 1 and 50")));
    }

    #[test]
    fn optional_int() {
        let mut r = reader(json!({"a": null, "b": 7, "c": 0}));
        assert_eq!(r.optional_int("a", 1, 9), Ok(None));
        assert_eq!(r.optional_int("b", 1, 9), Ok(Some(7)));
        assert_eq!(r.optional_int("c", 1, 9), Err(err("c", "must be between 1 and 9")));
    }

    #[test]
    fn int_list_ok_keeps_order() {
        let mut r = reader(json!({"chapters": [3, 1, 2]}));
        assert_eq!(r.optional_int_list("chapters", 1, 5, 5), Ok(Some(vec![3, 1, 2])));
    }

    #[test]
    fn int_list_absent_or_null() {
        let mut r = reader(json!({"chapters": null}));
        assert_eq!(r.optional_int_list("chapters", 1, 5, 5), Ok(None));
        assert_eq!(r.optional_int_list("other", 1, 5, 5), Ok(None));
    }

    #[test]
    fn int_list_errors_name_the_element() {
        let cases = [
            (json!([1, "2"]), "chapters[1]", "must be an integer, not a string"),
            (json!([1, 2.0]), "chapters[1]", "must be a whole number"),
            (json!([1, null]), "chapters[1]", "must be an integer, not null"),
            (json!([1, 2, 6]), "chapters[2]", "must be between 1 and 5"),
            (json!([0]), "chapters[0]", "must be between 1 and 5"),
            (json!([1, 2, 1]), "chapters[2]", "repeats 1; each value may appear once"),
        ];
        for (list, field, message) in cases {
            let mut r = reader(json!({ "chapters": list }));
            assert_eq!(r.optional_int_list("chapters", 1, 5, 5), Err(err(field, message)), "{list}");
        }
    }

    #[test]
    fn int_list_shape_errors_name_the_list() {
        let mut r = reader(json!({"a": [], "b": 3, "c": [1, 2, 3], "d": {"0": 1}}));
        assert_eq!(r.optional_int_list("a", 1, 5, 5), Err(err("a", "must not be empty (leave it out to mean all)")));
        assert_eq!(r.optional_int_list("b", 1, 5, 5), Err(err("b", "must be a list of integers, not a number")));
        assert_eq!(r.optional_int_list("c", 1, 5, 2), Err(err("c", "must have at most 2 items")));
        assert_eq!(r.optional_int_list("d", 1, 5, 5), Err(err("d", "must be a list of integers, not an object")));
    }

    #[test]
    fn objects() {
        let mut r = reader(json!({"a": {"x": [1, 2]}, "b": null, "c": [], "d": "{}"}));
        assert_eq!(r.optional_object("a", 100), Ok(Some(json!({"x": [1, 2]}).as_object().unwrap().clone())));
        assert_eq!(r.optional_object("b", 100), Ok(None));
        assert_eq!(r.optional_object("c", 100), Err(err("c", "must be an object, not a list")));
        assert_eq!(r.optional_object("d", 100), Err(err("d", "must be an object, not a string")));
    }

    #[test]
    fn object_size_limit_is_on_compact_serialisation() {
        // {"k":"vvvv"} is 12 bytes.
        let mut r = reader(json!({"a": {"k": "vvvv"}, "b": {"k": "vvvv"}}));
        assert!(r.optional_object("a", 12).unwrap().is_some());
        assert_eq!(r.optional_object("b", 11), Err(err("b", "must be at most 11 bytes as JSON (it is 12)")));
    }

    #[test]
    fn objects_with_nul_anywhere_are_rejected() {
        for o in [json!({"k": "a\u{0}"}), json!({"k\u{0}": 1}), json!({"k": [{"z": "\u{0}"}]})] {
            let mut r = reader(json!({ "config": o }));
            assert_eq!(r.optional_object("config", 1000), Err(err("config", "must not contain NUL characters")));
        }
    }

    #[test]
    fn finish_names_the_first_unknown_field_in_sorted_order() {
        let mut r = reader(json!({"zeta": 1, "title": "x", "beta": 2}));
        r.required_string("title", 1, 9).unwrap();
        assert_eq!(r.finish(), Err(err("beta", "unknown field")));
    }

    #[test]
    fn finish_counts_null_unknown_fields_too() {
        let r = reader(json!({"extra": null}));
        assert_eq!(r.finish(), Err(err("extra", "unknown field")));
    }

    #[test]
    fn reject_unknown_before_reading() {
        let r = reader(json!({"promt": "x", "title": "t"}));
        assert_eq!(r.reject_unknown(&["prompt", "title"]), Err(err("promt", "unknown field")));
        let r = reader(json!({"prompt": "x"}));
        assert_eq!(r.reject_unknown(&["prompt", "title"]), Ok(()));
    }

    // --- QueryReader ---

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn query_reader_takes_known_params() {
        let mut q = QueryReader::new(&pairs(&[("a", "1"), ("b", "")]), &["a", "b", "c"]).unwrap();
        assert_eq!(q.take("a"), Some("1".into()));
        assert_eq!(q.take("b"), Some("".into()));
        assert_eq!(q.take("c"), None);
    }

    #[test]
    fn query_reader_rejects_unknown_and_repeated() {
        let e = QueryReader::new(&pairs(&[("z", "1"), ("y", "2"), ("a", "1")]), &["a"]).unwrap_err();
        assert_eq!(e, err("y", "unknown query parameter"));
        let e = QueryReader::new(&pairs(&[("a", "1"), ("a", "2")]), &["a"]).unwrap_err();
        assert_eq!(e, err("a", "must be given at most once"));
        // Even when both values are equal: the client is confused either way.
        let e = QueryReader::new(&pairs(&[("a", "1"), ("a", "1")]), &["a"]).unwrap_err();
        assert_eq!(e, err("a", "must be given at most once"));
    }

    #[test]
    fn helpers() {
        assert!(has_control_char("a\nb", &[]));
        assert!(!has_control_char("a\nb", &['\n']));
        assert!(has_control_char("a\u{7f}", &['\n']));
        assert!(!has_control_char("plain é 🎧", &[]));
        assert_eq!(check_length("ab", 1, 2), None);
        assert_eq!(truncate_for_message("abcdef", 3), "abc…");
    }
}
