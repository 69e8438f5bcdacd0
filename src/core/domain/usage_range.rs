use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::core::validate::{FieldError, QueryReader};

/// The `[from, to)` window of `GET /api/v1/usage`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl UsageRange {
    /// `from` defaults to the start of `now`'s calendar month (UTC) and `to` to the start of the
    /// next, each independently, so `?from=` alone means "from then until the end of this month".
    pub fn from_query(pairs: &[(String, String)], now: DateTime<Utc>) -> Result<Self, FieldError> {
        let mut q = QueryReader::new(pairs, &["from", "to"])?;
        let month = Self::month_containing(now);
        let from = match q.take("from") {
            Some(s) => parse_time("from", &s)?,
            None => month.from,
        };
        let to = match q.take("to") {
            Some(s) => parse_time("to", &s)?,
            None => month.to,
        };
        if from >= to {
            return Err(FieldError::new("from", "must be earlier than `to`"));
        }
        Ok(UsageRange { from, to })
    }

    /// The calendar month (UTC) that contains `t`.
    pub fn month_containing(t: DateTime<Utc>) -> Self {
        let (y, m) = (t.year(), t.month());
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        UsageRange { from: month_start(y, m), to: month_start(ny, nm) }
    }
}

fn month_start(year: i32, month: u32) -> DateTime<Utc> {
    // Day 1 of a month 1..=12 always exists; chrono's year range ends long after any `now`.
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// An RFC 3339 time, converted to UTC. A `+` in an unescaped query string arrives as a space
/// (form decoding), so `…T00:00:00 02:00` is read as `…T00:00:00+02:00`.
fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, FieldError> {
    let parsed = DateTime::parse_from_rfc3339(s).or_else(|e| match s.rfind(' ') {
        Some(i) if i > 10 => DateTime::parse_from_rfc3339(&format!("{}+{}", &s[..i], &s[i + 1..])),
        _ => Err(e),
    });
    parsed
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time such as 2025-01-31T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn q(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn err(field: &str, message: &str) -> FieldError {
        FieldError::new(field, message)
    }

    #[test]
    fn default_is_the_current_month() {
        let r = UsageRange::from_query(&[], utc(2025, 3, 15, 12, 0, 0)).unwrap();
        assert_eq!(r, UsageRange { from: utc(2025, 3, 1, 0, 0, 0), to: utc(2025, 4, 1, 0, 0, 0) });
    }

    #[test]
    fn december_rolls_into_january() {
        let r = UsageRange::from_query(&[], utc(2024, 12, 31, 23, 59, 59)).unwrap();
        assert_eq!(r, UsageRange { from: utc(2024, 12, 1, 0, 0, 0), to: utc(2025, 1, 1, 0, 0, 0) });
    }

    #[test]
    fn month_edges() {
        // The first instant of a month belongs to it; the month's end belongs to the next.
        let r = UsageRange::month_containing(utc(2025, 2, 1, 0, 0, 0));
        assert_eq!((r.from, r.to), (utc(2025, 2, 1, 0, 0, 0), utc(2025, 3, 1, 0, 0, 0)));
        let r = UsageRange::month_containing(utc(2024, 2, 29, 23, 59, 59));
        assert_eq!((r.from, r.to), (utc(2024, 2, 1, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0)));
        let r = UsageRange::month_containing(utc(2025, 1, 1, 0, 0, 0));
        assert_eq!((r.from, r.to), (utc(2025, 1, 1, 0, 0, 0), utc(2025, 2, 1, 0, 0, 0)));
    }

    #[test]
    fn explicit_range_with_offsets_becomes_utc() {
        let r = UsageRange::from_query(
            &q(&[("from", "2025-01-01T02:00:00+02:00"), ("to", "2025-01-02T00:00:00.5Z")]),
            utc(2025, 6, 1, 0, 0, 0),
        )
        .unwrap();
        assert_eq!(r.from, utc(2025, 1, 1, 0, 0, 0));
        assert_eq!(r.to, utc(2025, 1, 2, 0, 0, 0) + chrono::Duration::milliseconds(500));
    }

    #[test]
    fn plus_decoded_as_space_is_tolerated() {
        let r =
            UsageRange::from_query(&q(&[("from", "2025-01-01T02:00:00 02:00")]), utc(2025, 1, 10, 0, 0, 0)).unwrap();
        assert_eq!(r.from, utc(2025, 1, 1, 0, 0, 0));
    }

    #[test]
    fn only_from_defaults_to_to_end_of_now_month() {
        let r = UsageRange::from_query(&q(&[("from", "2024-11-05T00:00:00Z")]), utc(2025, 2, 10, 0, 0, 0)).unwrap();
        assert_eq!(r, UsageRange { from: utc(2024, 11, 5, 0, 0, 0), to: utc(2025, 3, 1, 0, 0, 0) });
    }

    #[test]
    fn only_to_defaults_from_to_start_of_now_month() {
        let r = UsageRange::from_query(&q(&[("to", "2025-02-20T00:00:00Z")]), utc(2025, 2, 10, 0, 0, 0)).unwrap();
        assert_eq!(r, UsageRange { from: utc(2025, 2, 1, 0, 0, 0), to: utc(2025, 2, 20, 0, 0, 0) });
    }

    #[test]
    fn from_must_be_before_to() {
        let now = utc(2025, 2, 10, 0, 0, 0);
        let e = err("from", "must be earlier than `to`");
        let same = q(&[("from", "2025-01-01T00:00:00Z"), ("to", "2025-01-01T00:00:00Z")]);
        assert_eq!(UsageRange::from_query(&same, now), Err(e.clone()));
        // Equal instants written in different offsets are still equal.
        let same_offset = q(&[("from", "2025-01-01T01:00:00+01:00"), ("to", "2025-01-01T00:00:00Z")]);
        assert_eq!(UsageRange::from_query(&same_offset, now), Err(e.clone()));
        let reversed = q(&[("from", "2025-01-02T00:00:00Z"), ("to", "2025-01-01T00:00:00Z")]);
        assert_eq!(UsageRange::from_query(&reversed, now), Err(e.clone()));
        // `to` alone before the default `from` (start of this month).
        assert_eq!(UsageRange::from_query(&q(&[("to", "2025-01-15T00:00:00Z")]), now), Err(e));
    }

    #[test]
    fn bad_times_name_the_field() {
        let now = utc(2025, 2, 10, 0, 0, 0);
        let msg = "must be an RFC 3339 time such as 2025-01-31T00:00:00Z";
        for s in ["", "yesterday", "2025-01-01", "2025-01-01T00:00:00", "2025-13-01T00:00:00Z", "1736000000"] {
            assert_eq!(UsageRange::from_query(&q(&[("from", s)]), now), Err(err("from", msg)), "{s:?}");
            assert_eq!(UsageRange::from_query(&q(&[("to", s)]), now), Err(err("to", msg)), "{s:?}");
        }
    }

    #[test]
    fn unknown_and_repeated_params() {
        let now = utc(2025, 2, 10, 0, 0, 0);
        assert_eq!(UsageRange::from_query(&q(&[("since", "x")]), now), Err(err("since", "unknown query parameter")));
        assert_eq!(
            UsageRange::from_query(&q(&[("from", "2025-01-01T00:00:00Z"), ("from", "2025-01-02T00:00:00Z")]), now),
            Err(err("from", "must be given at most once"))
        );
    }
}
