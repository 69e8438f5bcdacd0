use serde_json::Value;

use crate::core::links::{DEFAULT_TTL_SECS, MAX_TTL_SECS, MIN_TTL_SECS};
use crate::core::validate::{FieldError, ObjectReader};

/// The body of `POST /api/v1/stories/{id}/links`: how long the links live.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRequest {
    pub ttl_secs: i64,
}

impl LinkRequest {
    pub fn parse(v: Value) -> Result<Self, FieldError> {
        let mut r = ObjectReader::new(v)?;
        r.reject_unknown(&["ttl_secs"])?;
        let ttl_secs = r.optional_int("ttl_secs", MIN_TTL_SECS, MAX_TTL_SECS)?.unwrap_or(DEFAULT_TTL_SECS);
        r.finish()?;
        Ok(LinkRequest { ttl_secs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_bounds_and_unknown_fields() {
        assert_eq!(LinkRequest::parse(json!({})), Ok(LinkRequest { ttl_secs: 86_400 }));
        assert_eq!(LinkRequest::parse(json!({"ttl_secs": 60})), Ok(LinkRequest { ttl_secs: 60 }));
        assert_eq!(LinkRequest::parse(json!({"ttl_secs": 604_800})), Ok(LinkRequest { ttl_secs: 604_800 }));
        for bad in [json!(59), json!(604_801), json!(1.5), json!("60")] {
            assert_eq!(LinkRequest::parse(json!({"ttl_secs": bad})).unwrap_err().field, "ttl_secs", "{bad}");
        }
        assert_eq!(LinkRequest::parse(json!({"ttl": 60})).unwrap_err().field, "ttl");
    }
}
