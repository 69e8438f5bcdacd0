//! HTTP `Range` requests on a stored object (RFC 9110 §14), single byte ranges only.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole resource with 200.
    Full,
    /// Serve these bytes with 206 and `Content-Range`.
    Partial { start: u64, end_inclusive: u64 },
    /// Answer 416 with `Content-Range: bytes */<len>`.
    Unsatisfiable,
}

/// Reads a `Range` header for a resource of `len` bytes.
///
/// `bytes=a-b`, `bytes=a-` and `bytes=-n` (the last n bytes) are honoured; an end past the
/// resource is clamped and a suffix longer than it means all of it. RFC 9110 lets a server ignore
/// a Range header it does not support, so another unit, bad syntax, `a > b` and multiple ranges
/// all mean Full. A start at or past the end, a suffix of 0, or any range of an empty resource
/// is Unsatisfiable. Numbers too large for u64 count as infinitely large rather than as errors.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(header) = header else { return RangeRequest::Full };
    let Some((unit, spec)) = header.trim().split_once('=') else { return RangeRequest::Full };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let (first, last) = (first.trim(), last.trim());
    match (number(first), number(last)) {
        // bytes=-n: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || len == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial { start: len.saturating_sub(n), end_inclusive: len - 1 }
            }
        }
        // bytes=a- and bytes=a-b.
        (Some(a), b) if b.is_some() || last.is_empty() => {
            if b.is_some_and(|b| b < a) {
                RangeRequest::Full
            } else if a >= len {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial { start: a, end_inclusive: b.unwrap_or(u64::MAX).min(len - 1) }
            }
        }
        _ => RangeRequest::Full,
    }
}

/// Decimal digits only (no sign, no spaces inside), saturating at u64::MAX.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add((d - b'0') as u64)))
}

/// The `Content-Range` value of a 206 answer: `bytes 0-99/1000`.
pub fn content_range(start: u64, end_inclusive: u64, len: u64) -> String {
    format!("bytes {start}-{end_inclusive}/{len}")
}

/// The `Content-Range` value of a 416 answer: `bytes */1000`.
pub fn content_range_unsatisfiable(len: u64) -> String {
    format!("bytes */{len}")
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;
    use super::*;

    fn p(h: &str, len: u64) -> RangeRequest {
        parse_range(Some(h), len)
    }

    fn part(start: u64, end_inclusive: u64) -> RangeRequest {
        Partial { start, end_inclusive }
    }

    #[test]
    fn closed_ranges() {
        assert_eq!(p("bytes=0-99", 1000), part(0, 99));
        assert_eq!(p("bytes=0-0", 1000), part(0, 0));
        assert_eq!(p("bytes=999-999", 1000), part(999, 999));
        assert_eq!(p("bytes=500-1499", 1000), part(500, 999)); // end clamped
        assert_eq!(p("bytes=5-18446744073709551615", 1000), part(5, 999));
        assert_eq!(p("bytes=5-99999999999999999999999", 1000), part(5, 999));
    }

    #[test]
    fn open_and_suffix_ranges() {
        assert_eq!(p("bytes=100-", 1000), part(100, 999));
        assert_eq!(p("bytes=0-", 1000), part(0, 999));
        assert_eq!(p("bytes=-100", 1000), part(900, 999));
        assert_eq!(p("bytes=-1000", 1000), part(0, 999));
        assert_eq!(p("bytes=-5000", 1000), part(0, 999)); // longer than the resource: all of it
        assert_eq!(p("bytes=-99999999999999999999999", 1000), part(0, 999));
        assert_eq!(p("bytes=-1", 1), part(0, 0));
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(p("bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(p("bytes=99999999999999999999999-", 1000), Unsatisfiable);
        assert_eq!(p("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Unsatisfiable);
        assert_eq!(p("bytes=0-10", 0), Unsatisfiable);
        assert_eq!(p("bytes=-10", 0), Unsatisfiable);
    }

    #[test]
    fn ignored_headers_mean_full() {
        assert_eq!(parse_range(None, 1000), Full);
        assert_eq!(parse_range(None, 0), Full);
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-a",
            "bytes=+1-5",
            "bytes=1--5",
            "bytes=5-1",
            "bytes=0-1,5-9",
            "bytes=0-1, 5-9",
            "bytes=0-5,",
            "items=0-5",
            "bits=0-5",
            "bytes 0-5",
            "bytes=0x10-20",
            "bytes=1 0-20",
            "bytes=-5-",
            "bytes=5",
            "=0-5",
        ] {
            assert_eq!(p(h, 1000), Full, "{h:?}");
            assert_eq!(p(h, 0), Full, "{h:?} on an empty resource");
        }
    }

    #[test]
    fn tolerates_case_and_spaces() {
        assert_eq!(p("Bytes=0-9", 100), part(0, 9));
        assert_eq!(p(" bytes = 0 - 9 ", 100), part(0, 9));
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(0, 99, 1000), "bytes 0-99/1000");
        assert_eq!(content_range_unsatisfiable(1000), "bytes */1000");
    }
}
