//! Text helpers shared by the provider error classifiers (OpenAI, ElevenLabs): both turn an
//! HTTP answer into a short reason that ends up in logs and on tasks.

/// Seconds only: both providers send delta-seconds, and an HTTP date would need a clock here.
pub fn parse_retry_after(h: Option<&str>) -> Option<u32> {
    let h = h?.trim();
    if let Ok(n) = h.parse::<u64>() {
        return Some(u32::try_from(n).unwrap_or(u32::MAX));
    }
    let f = h.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0)?;
    Some(f.ceil().min(u32::MAX as f64) as u32)
}

/// At most `max` characters, marked when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after(Some(" 7 ")), Some(7));
        assert_eq!(parse_retry_after(Some("1.2")), Some(2));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hi", 2), "hi");
    }
}
