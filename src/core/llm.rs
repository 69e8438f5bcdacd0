//! The story job's side of OpenAI chat completions, with no I/O: the request bodies for the
//! script, enhance and summary calls, and the classification of whatever comes back into a
//! completion or an error that says whether retrying can help. The Worker sends the bodies
//! with fetch and hands the status, `Retry-After` and body back here.

mod prompts;
mod response;

pub use prompts::{enhance_request, script_request, summary_request};
pub use response::{classify, parse_script, parse_summary, Completion, LlmError};

/// Which model answers and how freely; both come from configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    pub model: String,
    pub temperature: f64,
    /// Caps every answer's length, so a runaway answer cannot cost more than this.
    pub max_completion_tokens: u32,
}

/// What the prompts need to know about the story and this chapter.
#[derive(Debug, Clone, Copy)]
pub struct ChapterContext<'a> {
    pub story_title: &'a str,
    pub prompt: &'a str,
    pub config: &'a serde_json::Map<String, serde_json::Value>,
    pub num_chapters: u32,
    /// 1-based.
    pub chapter: u32,
    /// Every earlier chapter's summary, in chapter order: (chapter number, summary).
    pub earlier_summaries: &'a [(u32, String)],
}

/// Delay before in-process retry `attempt` (1-based) of a bad answer: `base_ms`, doubling each
/// time, never above `cap_ms`. Attempt 0 is treated as 1.
pub fn backoff_ms(attempt: u32, base_ms: u64, cap_ms: u64) -> u64 {
    let doublings = attempt.saturating_sub(1);
    let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
    base_ms.saturating_mul(factor).min(cap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_base_and_is_capped() {
        let got: Vec<u64> = (1..=6).map(|a| backoff_ms(a, 500, 10_000)).collect();
        assert_eq!(got, [500, 1_000, 2_000, 4_000, 8_000, 10_000]);
        assert_eq!(backoff_ms(0, 500, 10_000), 500);
        assert_eq!(backoff_ms(64, 500, 10_000), 10_000);
        assert_eq!(backoff_ms(65, 1, u64::MAX), u64::MAX);
        assert_eq!(backoff_ms(u32::MAX, 500, 30_000), 30_000);
        assert_eq!(backoff_ms(3, 0, 1_000), 0);
        assert_eq!(backoff_ms(1, 5_000, 1_000), 1_000);
    }
}
