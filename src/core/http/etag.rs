//! Entity tags for JSON answers (RFC 9110 §8.8.3): a hash of the body, so a poller that sends
//! `If-None-Match` gets a bodiless 304 while nothing changed, at no extra database cost.

use sha2::{Digest, Sha256};

/// A strong tag: 128 bits of the body's SHA-256 are plenty to tell versions of one resource apart.
pub fn of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex = crate::core::hex::hex(&digest[..16]);
    format!("\"{hex}\"")
}

/// `If-None-Match` uses the weak comparison: `W/` is ignored, `*` matches any current version,
/// and the header may list several tags.
pub fn none_match_hits(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

/// `If-Range` uses the strong comparison: only the exact tag (not weak, not a date) lets the
/// range be served; anything else means "send the whole thing".
pub fn if_range_hits(header: &str, etag: &str) -> bool {
    let h = header.trim();
    !h.starts_with("W/") && h == etag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_quoted_and_follows_the_body() {
        let a = of(b"{\"a\":1}");
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34, "{a}");
        assert_eq!(a, of(b"{\"a\":1}"));
        assert_ne!(a, of(b"{\"a\":2}"));
    }

    #[test]
    fn if_none_match_is_weak_and_takes_lists() {
        let t = of(b"x");
        assert!(none_match_hits(&t, &t));
        assert!(none_match_hits(&format!("W/{t}"), &t));
        assert!(none_match_hits(&format!("\"other\", {t}"), &t));
        assert!(none_match_hits("*", &t));
        assert!(!none_match_hits("\"other\"", &t));
        assert!(!none_match_hits("", &t));
    }

    #[test]
    fn if_range_is_strong() {
        let t = "\"abc\"";
        assert!(if_range_hits(" \"abc\" ", t));
        assert!(!if_range_hits("W/\"abc\"", t));
        assert!(!if_range_hits("\"abd\"", t));
        assert!(!if_range_hits("Tue, 01 Dec 2026 10:00:00 GMT", t));
    }
}
