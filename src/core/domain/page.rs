use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::core::ids::is_uuid;
use crate::core::validate::{FieldError, QueryReader};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Longer than any cursor `encode` makes; bounds the work spent on garbage.
const CURSOR_MAX_LEN: usize = 200;

/// Where a newest-first listing resumes: the last row of the previous page, ordered by
/// `(created_at, id)` so rows created in the same instant are neither skipped nor repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    /// Opaque to clients (so the format may change), URL-safe so it needs no escaping in a query.
    /// The time keeps every fractional digit: a rounded time would skip or repeat rows.
    pub fn encode(&self) -> String {
        let raw = format!("{}|{}", self.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true), self.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(s: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("cursor", "is not a valid cursor; use a `next_cursor` from a previous page");
        if s.len() > CURSOR_MAX_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (time, id) = text.split_once('|').ok_or_else(bad)?;
        let created_at = DateTime::parse_from_rfc3339(time).map_err(|_| bad())?.with_timezone(&Utc);
        if !is_uuid(id) {
            return Err(bad());
        }
        Ok(Cursor { created_at, id: id.to_string() })
    }
}

/// `?limit=N&cursor=C` of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    /// `pairs` are the percent-decoded query pairs. An empty `cursor=` reads as the first page, so
    /// a client may pass back a null `next_cursor` as an empty string.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, FieldError> {
        let mut q = QueryReader::new(pairs, &["limit", "cursor"])?;
        let limit = match q.take("limit") {
            None => DEFAULT_LIMIT,
            Some(s) => parse_limit(&s)?,
        };
        let cursor = match q.take("cursor") {
            None => None,
            Some(s) if s.is_empty() => None,
            Some(s) => Some(Cursor::decode(&s)?),
        };
        Ok(PageRequest { limit, cursor })
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { limit: DEFAULT_LIMIT, cursor: None }
    }
}

/// Plain decimal digits only: `str::parse` would also take `+5`, which no client means to send.
fn parse_limit(s: &str) -> Result<u32, FieldError> {
    let range = || FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}"));
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new("limit", format!("must be a whole number between 1 and {MAX_LIMIT}")));
    }
    // All digits, so the only parse failure is overflow.
    let n: u32 = s.parse().map_err(|_| range())?;
    if (1..=MAX_LIMIT).contains(&n) {
        Ok(n)
    } else {
        Err(range())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn q(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn err(field: &str, message: &str) -> FieldError {
        FieldError::new(field, message)
    }

    fn cursor_at(nanos: u32) -> Cursor {
        Cursor {
            created_at: Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap()
                + chrono::Duration::nanoseconds(nanos as i64),
            id: ID.into(),
        }
    }

    #[test]
    fn cursor_round_trips_exactly() {
        for nanos in [0, 1_000, 123_456_000, 999_999_999] {
            let c = cursor_at(nanos);
            let s = c.encode();
            assert_eq!(Cursor::decode(&s), Ok(c), "{s}");
        }
    }

    #[test]
    fn cursor_is_url_safe_and_unpadded() {
        for nanos in [0, 1, 10, 100, 123_456_789] {
            let s = cursor_at(nanos).encode();
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{s}");
            assert!(s.len() <= CURSOR_MAX_LEN);
        }
    }

    #[test]
    fn garbage_cursors_are_rejected() {
        let bad = err("cursor", "is not a valid cursor; use a `next_cursor` from a previous page");
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let long = "A".repeat(CURSOR_MAX_LEN + 1);
        let cases = [
            "!!!".to_string(),
            "abc=".to_string(),
            enc("no separator"),
            enc(&format!("yesterday|{ID}")),
            enc("2025-03-04T05:06:07Z|not-a-uuid"),
            enc("2025-03-04T05:06:07Z|"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, b'|']),
            long,
        ];
        for c in cases {
            assert_eq!(Cursor::decode(&c), Err(bad.clone()), "{c}");
        }
    }

    #[test]
    fn cursor_with_offset_time_decodes_to_utc() {
        let s = URL_SAFE_NO_PAD.encode(format!("2025-03-04T07:06:07+02:00|{ID}"));
        assert_eq!(Cursor::decode(&s).unwrap().created_at, Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap());
    }

    #[test]
    fn page_defaults() {
        assert_eq!(PageRequest::from_query(&[]), Ok(PageRequest { limit: 20, cursor: None }));
        assert_eq!(PageRequest::from_query(&q(&[("cursor", "")])), Ok(PageRequest::default()));
    }

    #[test]
    fn page_with_cursor() {
        let c = cursor_at(5_000);
        let p = PageRequest::from_query(&q(&[("limit", "5"), ("cursor", &c.encode())])).unwrap();
        assert_eq!(p, PageRequest { limit: 5, cursor: Some(c) });
    }

    #[test]
    fn limit_bounds() {
        let range = err("limit", "must be between 1 and 100");
        assert_eq!(PageRequest::from_query(&q(&[("limit", "0")])), Err(range.clone()));
        assert_eq!(PageRequest::from_query(&q(&[("limit", "1")])).unwrap().limit, 1);
        assert_eq!(PageRequest::from_query(&q(&[("limit", "100")])).unwrap().limit, 100);
        assert_eq!(PageRequest::from_query(&q(&[("limit", "0100")])).unwrap().limit, 100);
        assert_eq!(PageRequest::from_query(&q(&[("limit", "101")])), Err(range.clone()));
        assert_eq!(PageRequest::from_query(&q(&[("limit", "99999999999999999999")])), Err(range));
    }

    #[test]
    fn limit_must_be_digits() {
        let nan = err("limit", "must be a whole number between 1 and 100");
        for s in ["", "ten", "+5", "-1", "5.0", " 5", "1e2"] {
            assert_eq!(PageRequest::from_query(&q(&[("limit", s)])), Err(nan.clone()), "{s:?}");
        }
    }

    #[test]
    fn unknown_and_repeated_params() {
        assert_eq!(
            PageRequest::from_query(&q(&[("limit", "5"), ("offset", "10")])),
            Err(err("offset", "unknown query parameter"))
        );
        assert_eq!(
            PageRequest::from_query(&q(&[("limit", "5"), ("limit", "6")])),
            Err(err("limit", "must be given at most once"))
        );
    }
}
