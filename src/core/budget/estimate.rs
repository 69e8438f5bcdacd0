//! Upper bounds of what LLM calls can cost, for the budget checks.
//!
//! Two facts make them bounds rather than guesses:
//! - a prompt is at most as many tokens as its request body has UTF-8 bytes: every token of a
//!   byte-level BPE (OpenAI's tokenizers) covers at least one byte, and the body's JSON syntax
//!   (`{"role":"system","content":…}`) outweighs the chat format's few framing tokens;
//! - an answer is at most `max_completion_tokens`, which every request sets.
//!
//! A story job's calls are not all known when it starts (later prompts carry earlier answers),
//! so its estimate builds each call's body with those answers left empty and adds
//! `max_completion_tokens` for each answer a prompt will carry: the earlier chapters'
//! summaries in the script and enhance prompts, the draft (and its speakers' names, which are a
//! part of it) in the enhance prompt, the script in the summary prompt. It counts every chosen
//! chapter as needing all of its calls and each call answered usably once; the retries of an
//! unusable answer are not in it, and the check before each paid call still guards them.

use super::Amounts;
use crate::core::cost::PriceTable;
use crate::core::llm::{self, ChapterContext, LlmSettings};
use crate::core::script::Script;
use serde_json::{Map, Value};

/// At most this many prompt and completion tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LlmBound {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl LlmBound {
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Tokens and their price at `model`'s rates (0 for a model without a price).
    pub fn amounts(&self, prices: &PriceTable, model: &str) -> Amounts {
        let usd = prices.llm_price(model).map_or(0.0, |p| {
            self.prompt_tokens as f64 * p.prompt_per_1m / 1e6 + self.completion_tokens as f64 * p.completion_per_1m / 1e6
        });
        Amounts::llm(self.tokens(), usd)
    }

    fn plus(self, o: LlmBound) -> LlmBound {
        LlmBound { prompt_tokens: self.prompt_tokens + o.prompt_tokens, completion_tokens: self.completion_tokens + o.completion_tokens }
    }
}

/// One request about to be sent: its body's bytes and its answer's cap.
pub fn call(body: &Value, max_completion_tokens: u32) -> LlmBound {
    LlmBound { prompt_tokens: body_bytes(body), completion_tokens: u64::from(max_completion_tokens) }
}

fn body_bytes(body: &Value) -> u64 {
    serde_json::to_vec(body).map(|b| b.len() as u64).unwrap_or(u64::MAX / 4)
}

/// What the story job needs to know about the story.
#[derive(Debug, Clone, Copy)]
pub struct StoryFacts<'a> {
    pub title: &'a str,
    pub prompt: &'a str,
    pub config: &'a Map<String, Value>,
    pub num_chapters: u32,
    pub enhance: bool,
}

/// The most a story job writing `chapters` can use: per chapter a script call, an enhance call
/// when the story asks for it, and a summary call (see the module's comment).
pub fn story_job(s: &LlmSettings, story: &StoryFacts, chapters: &[u32]) -> LlmBound {
    let cap = u64::from(s.max_completion_tokens);
    let empty = Script { title: String::new(), lines: vec![], characters: vec![] };
    chapters.iter().fold(LlmBound::default(), |total, &n| {
        // Empty summaries keep their labels in the prompt; each text is one capped answer.
        let earlier: Vec<(u32, String)> = (1..n).map(|k| (k, String::new())).collect();
        let summaries = cap * u64::from(n.saturating_sub(1));
        let cx = ChapterContext {
            story_title: story.title,
            prompt: story.prompt,
            config: story.config,
            num_chapters: story.num_chapters,
            chapter: n,
            earlier_summaries: &earlier,
        };
        let mut b = total.plus(call(&llm::script_request(s, &cx), s.max_completion_tokens)).plus(LlmBound { prompt_tokens: summaries, completion_tokens: 0 });
        if story.enhance {
            let draft = 2 * cap;
            b = b.plus(call(&llm::enhance_request(s, &cx, &empty), s.max_completion_tokens)).plus(LlmBound { prompt_tokens: summaries + draft, completion_tokens: 0 });
        }
        b.plus(call(&llm::summary_request(s, &cx, &empty), s.max_completion_tokens)).plus(LlmBound { prompt_tokens: cap, completion_tokens: 0 })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::script::{Character, Line};
    use serde_json::json;

    fn settings(cap: u32) -> LlmSettings {
        LlmSettings { model: "gpt-4o-mini".into(), temperature: 0.8, max_completion_tokens: cap }
    }

    /// A script whose compact JSON is as close to `bytes` as whole lines allow, never over:
    /// the largest answer a cap of that many tokens can give, if a token were one byte.
    fn script_of(bytes: usize, seed: u32) -> Script {
        let speakers = ["Narrator", "Mira", "Tomas", "The Keeper", "Old Ana"];
        let mut s = Script {
            title: format!("Chapter title {seed}"),
            lines: vec![],
            characters: speakers[1..].iter().map(|n| Character { name: n.to_string(), description: "Someone who matters to the story, in a few words.".into() }).collect(),
        };
        for i in 0.. {
            let line = Line {
                speaker: speakers[i % speakers.len()].into(),
                text: format!("Line {i} of chapter {seed}: the tide came in over the black rocks while the lamp above stayed dark and silent. ").repeat(2),
                direction: (i % 3 == 0).then(|| "quietly, with growing fear".to_string()),
            };
            s.lines.push(line);
            if serde_json::to_vec(&s).unwrap().len() > bytes {
                s.lines.pop();
                return s;
            }
        }
        unreachable!()
    }

    fn bytes(v: &impl serde::Serialize) -> u64 {
        serde_json::to_vec(v).unwrap().len() as u64
    }

    #[test]
    fn a_call_is_its_body_bytes_plus_the_cap() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "héllo"}]});
        let b = call(&body, 500);
        assert_eq!(b, LlmBound { prompt_tokens: body.to_string().len() as u64, completion_tokens: 500 });
        assert_eq!(b.tokens(), b.prompt_tokens + 500);
        let prices = PriceTable::from_json(r#"{"m": {"prompt_per_1m": 1.0, "completion_per_1m": 2.0}}"#, "").unwrap();
        let a = LlmBound { prompt_tokens: 1_000_000, completion_tokens: 500_000 }.amounts(&prices, "m");
        assert_eq!(a, Amounts::llm(1_500_000, 2.0));
        assert_eq!(LlmBound { prompt_tokens: 10, completion_tokens: 10 }.amounts(&prices, "unpriced"), Amounts::llm(20, 0.0));
    }

    /// The bound holds against the calls of a real-size run, answered at the cap: 3 chapters
    /// with enhance, scripts of ~150 lines of ~250 characters, every answer as long as the cap lets it be, the
    /// prompts measured as the bytes of the bodies the job really sends (tokens ≤ bytes).
    #[test]
    fn story_estimate_covers_a_real_size_run_at_the_cap() {
        let cap = 40_000u32;
        let s = settings(cap);
        let config = json!({"genre": "mystery", "tone": "eerie"}).as_object().unwrap().clone();
        let prompt = "A girl and an old fisherman solve the mystery of the dark lighthouse. ".repeat(50);
        let story = StoryFacts { title: "The Lighthouse Keeper", prompt: &prompt, config: &config, num_chapters: 3, enhance: true };
        let chapters = [1, 2, 3];
        let estimate = story_job(&s, &story, &chapters);

        let mut used = 0u64;
        let mut summaries: Vec<(u32, String)> = vec![];
        for &n in &chapters {
            let cx = ChapterContext { story_title: story.title, prompt: story.prompt, config: story.config, num_chapters: 3, chapter: n, earlier_summaries: &summaries };
            let draft = script_of(cap as usize, n);
            assert!(draft.lines.len() >= 140, "a real-size chapter: {} lines", draft.lines.len());
            used += bytes(&llm::script_request(&s, &cx)) + bytes(&draft);
            let enhanced = script_of(cap as usize, n + 100);
            used += bytes(&llm::enhance_request(&s, &cx, &draft)) + bytes(&enhanced);
            let summary = "s".repeat(cap as usize);
            used += bytes(&llm::summary_request(&s, &cx, &enhanced)) + summary.len() as u64;
            summaries.push((n, summary));
        }
        assert!(estimate.tokens() >= used, "estimate {} < used {used}", estimate.tokens());
        // And it is a useful bound, not a wild one.
        assert!(estimate.tokens() < used + used / 4, "estimate {} vs used {used}", estimate.tokens());
    }

    #[test]
    fn story_estimate_grows_with_chapters_summaries_and_enhance() {
        let s = settings(8000);
        let config = Map::new();
        let plain = StoryFacts { title: "T", prompt: "A story.", config: &config, num_chapters: 10, enhance: false };
        let one = story_job(&s, &plain, &[1]);
        assert_eq!(one.completion_tokens, 2 * 8000);
        assert!(one.prompt_tokens > 8000, "the summary prompt carries a capped script");
        let tenth = story_job(&s, &plain, &[10]);
        assert!(tenth.prompt_tokens >= one.prompt_tokens + 9 * 8000, "nine earlier summaries");
        let enhanced = story_job(&s, &StoryFacts { enhance: true, ..plain }, &[1]);
        assert_eq!(enhanced.completion_tokens, 3 * 8000);
        assert!(enhanced.prompt_tokens >= one.prompt_tokens + 2 * 8000);
        assert_eq!(story_job(&s, &plain, &[1, 2]).tokens(), one.tokens() + story_job(&s, &plain, &[2]).tokens());
        assert_eq!(story_job(&s, &plain, &[]), LlmBound::default());
    }
}
