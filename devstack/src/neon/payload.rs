//! The request body (`{"query","params"}` or `{"queries":[...]}`) and the conversion of JSON
//! parameters to the PostgreSQL text PostgreSQL receives, as Neon's proxy does it.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryData {
    pub query: String,
    #[serde(default, deserialize_with = "params_to_text")]
    pub params: Vec<Option<String>>,
    #[serde(default)]
    pub array_mode: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct BatchQueryData {
    pub queries: Vec<QueryData>,
}

/// Single vs batch is decided by which keys are present, as in the proxy.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    Single(QueryData),
    Batch(BatchQueryData),
}

fn params_to_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Option<String>>, D::Error> {
    let values: Vec<Value> = Deserialize::deserialize(d)?;
    Ok(values.iter().map(param_text).collect())
}

/// Strings go verbatim (they are bound, not spliced), scalars and objects as their JSON text,
/// arrays as PostgreSQL array literals.
pub fn param_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => Some(v.to_string()),
        Value::Array(_) => array_literal(v),
    }
}

/// Inside an array literal strings need quoting, so they are written JSON-quoted (which
/// escapes `"` and `\` the way PostgreSQL's array parser expects); objects become quoted JSON.
fn array_literal(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(_) | Value::Number(_) | Value::String(_) => Some(v.to_string()),
        Value::Object(_) => array_literal(&Value::String(v.to_string())),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| array_literal(i).unwrap_or_else(|| "NULL".to_owned()))
                .collect();
            Some(format!("{{{}}}", parts.join(",")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars() {
        assert_eq!(param_text(&json!(null)), None);
        assert_eq!(param_text(&json!("a\"b")), Some("a\"b".into()));
        assert_eq!(param_text(&json!(1)), Some("1".into()));
        assert_eq!(param_text(&json!(true)), Some("true".into()));
        assert_eq!(param_text(&json!({"k":1})), Some(r#"{"k":1}"#.into()));
    }

    #[test]
    fn arrays() {
        assert_eq!(
            param_text(&json!([true, null, "NULL", 42, "a\"b\\"])),
            Some(r#"{true,NULL,"NULL",42,"a\"b\\"}"#.into())
        );
        assert_eq!(
            param_text(&json!([[1, 2], [null, 3]])),
            Some("{{1,2},{NULL,3}}".into())
        );
        assert_eq!(
            param_text(&json!([{"foo":1}])),
            Some(r#"{"{\"foo\":1}"}"#.into())
        );
    }

    #[test]
    fn payload_shapes() {
        let p: Payload = serde_json::from_str(r#"{"query":"SELECT 1"}"#).unwrap();
        assert!(matches!(p, Payload::Single(q) if q.params.is_empty() && q.array_mode.is_none()));
        let p: Payload = serde_json::from_str(
            r#"{"queries":[{"query":"SELECT $1","params":[1],"arrayMode":false}]}"#,
        )
        .unwrap();
        assert!(
            matches!(p, Payload::Batch(b) if b.queries[0].params == vec![Some("1".to_owned())])
        );
        assert!(serde_json::from_str::<Payload>(r#"{"nope":1}"#).is_err());
    }
}
