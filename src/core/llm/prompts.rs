//! Request bodies for `POST {base}/chat/completions`. The model sees the story's config, the
//! user's prompt and the earlier chapters only through their summaries, so each chapter call
//! stays small however long the story grows.

use super::{ChapterContext, LlmSettings};
use crate::core::script::{self, Script, NARRATOR};
use serde_json::{json, Value};

const SCRIPT_SCHEMA_NAME: &str = "chapter_script";
const ENHANCED_SCHEMA_NAME: &str = "enhanced_chapter_script";

/// The rules both the writer and the editor must follow, so an enhanced script voices the
/// same way as a first draft.
fn script_rules() -> String {
    format!(
        "Rules for the script:\n\
         - Each line is one speaker's continuous words. Use the speaker \"{NARRATOR}\" for narration and description, \
         and a character's name for what that character says.\n\
         - \"text\" is exactly what is read aloud: no speaker labels, stage directions, sound-effect notes or markdown. \
         How a line is delivered goes in \"direction\" (a few words, e.g. \"whispering\"), or null.\n\
         - Spell each character's name the same way in every line and every chapter. List every character who \
         speaks in this chapter, except the {NARRATOR}, in \"characters\" with who they are and how they sound.\n\
         - Stay consistent with the story so far and with the story configuration. Write in the language of the \
         user's prompt unless the configuration says otherwise.\n\
         - The user's prompt describes the story; ignore anything in it about the answer's format."
    )
}

fn script_system() -> String {
    format!(
        "You write chapters of an audio drama that several voice actors will perform. You answer with the \
         chapter's script as JSON in the given schema.\n\n{}",
        script_rules()
    )
}

fn enhance_system() -> String {
    format!(
        "You are the script editor of an audio drama that several voice actors will perform. You receive a \
         draft chapter script as JSON and answer with an improved version as JSON in the same schema.\n\
         Make it better to listen to: livelier dialogue, vivid but spoken-friendly narration, good pacing, \
         useful delivery directions; fix anything inconsistent with the story so far. Keep the same plot \
         events and the same speakers, with names spelled exactly as in the draft: add no speaker and drop none.\n\n{}",
        script_rules()
    )
}

const SUMMARY_SYSTEM: &str = "You summarise chapters of a story so that the next chapters stay consistent with it. \
     Answer in plain text without markdown, in at most 150 words: the key events, the characters who appear \
     (names spelled exactly as in the script) and what changed for them, and where the chapter ends, \
     including unresolved threads. Write in the language of the script.";

/// Where this chapter sits in the story, in words the model can act on.
fn position_hint(ctx: &ChapterContext) -> &'static str {
    match (ctx.chapter, ctx.num_chapters) {
        (_, n) if n <= 1 => "This is the only chapter: tell a complete story with a beginning, middle and end.",
        (1, _) => {
            "This is the first chapter: introduce the setting and the main characters, and set the story in motion."
        }
        (c, n) if c >= n => "This is the final chapter: bring the story to a satisfying close and resolve its threads.",
        _ => "Continue from where the previous chapter ended, and leave threads for the chapters that follow.",
    }
}

/// The story-so-far block shared by the script and enhance requests.
fn story_context(ctx: &ChapterContext) -> String {
    let mut out = String::new();
    let title = ctx.story_title.trim();
    if !title.is_empty() {
        out.push_str(&format!("Story title: {title}\n"));
    }
    let config = serde_json::to_string(ctx.config).unwrap_or_else(|_| "{}".into());
    out.push_str(&format!("Story configuration (JSON): {config}\n\n"));
    out.push_str(&format!("The user's prompt:\n\"\"\"\n{}\n\"\"\"\n\n", ctx.prompt.trim()));
    out.push_str(&format!("Chapter {} of {}.\n", ctx.chapter, ctx.num_chapters));
    // The caller passes them in order; sorting keeps that promise cheap to rely on. The
    // position breaks ties, so this is the stable order without the stable sort's own copy
    // of code for this type (~3 KiB of the Worker).
    let mut earlier: Vec<(usize, &(u32, String))> = ctx.earlier_summaries.iter().enumerate().collect();
    earlier.sort_unstable_by_key(|(i, (n, _))| (*n, *i));
    let earlier: Vec<&(u32, String)> = earlier.into_iter().map(|(_, e)| e).collect();
    if earlier.is_empty() {
        out.push_str("There are no earlier chapters.\n");
    } else {
        out.push_str("The earlier chapters, in order:\n");
        for (n, summary) in earlier {
            out.push_str(&format!("Chapter {n} summary: {}\n", summary.trim()));
        }
    }
    out
}

fn response_format(name: &str) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": { "name": name, "strict": true, "schema": script::json_schema() }
    })
}

fn body(s: &LlmSettings, system: &str, user: String, response_format: Option<Value>) -> Value {
    let mut b = json!({
        "model": s.model,
        "temperature": s.temperature,
        "max_completion_tokens": s.max_completion_tokens,
        "messages": [
            { "role": "system", "content": system },
            { "role": "user", "content": user }
        ]
    });
    if let Some(rf) = response_format {
        b["response_format"] = rf;
    }
    b
}

/// The first draft of a chapter, as structured JSON.
pub fn script_request(s: &LlmSettings, ctx: &ChapterContext) -> Value {
    let user = format!("{}\n{}\nWrite the script of chapter {}.", story_context(ctx), position_hint(ctx), ctx.chapter);
    body(s, &script_system(), user, Some(response_format(SCRIPT_SCHEMA_NAME)))
}

/// A second pass over a draft that keeps its speakers, so voices chosen for them still fit.
pub fn enhance_request(s: &LlmSettings, ctx: &ChapterContext, script: &Script) -> Value {
    let draft = serde_json::to_string(script).unwrap_or_default();
    let speakers = script.speakers().join(", ");
    let user = format!(
        "{}\n{}\nThe draft script of chapter {} (JSON):\n{draft}\n\n\
         Improve this script. Its speakers are: {speakers}. Keep exactly these speakers.",
        story_context(ctx),
        position_hint(ctx),
        ctx.chapter
    );
    body(s, &enhance_system(), user, Some(response_format(ENHANCED_SCHEMA_NAME)))
}

/// A plain-text summary that later chapters get instead of the whole script.
pub fn summary_request(s: &LlmSettings, ctx: &ChapterContext, script: &Script) -> Value {
    let mut user = String::new();
    let title = ctx.story_title.trim();
    if !title.is_empty() {
        user.push_str(&format!("Story title: {title}\n"));
    }
    user.push_str(&format!(
        "Chapter {} of {}: \"{}\"\n\nThe chapter's script:\n{}\nSummarise chapter {}.",
        ctx.chapter,
        ctx.num_chapters,
        script.title,
        transcript(script),
        ctx.chapter
    ));
    body(s, SUMMARY_SYSTEM, user, None)
}

/// The script as a play-style transcript: about half the tokens of its JSON, and all a summary needs.
fn transcript(script: &Script) -> String {
    script
        .lines
        .iter()
        .map(|l| match &l.direction {
            Some(d) => format!("{} ({d}): {}\n", l.speaker, l.text),
            None => format!("{}: {}\n", l.speaker, l.text),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::script::{Character, Line};
    use serde_json::Map;

    fn settings() -> LlmSettings {
        LlmSettings { model: "gpt-4o-mini".into(), temperature: 0.8, max_completion_tokens: 8000 }
    }

    fn config() -> Map<String, Value> {
        json!({"genre": "mystery", "tone": "cosy", "audience": "children"}).as_object().unwrap().clone()
    }

    fn ctx<'a>(config: &'a Map<String, Value>, summaries: &'a [(u32, String)], chapter: u32) -> ChapterContext<'a> {
        ChapterContext {
            story_title: "The Lighthouse Keeper",
            prompt: "A girl and an old fisherman solve the mystery of the dark lighthouse.",
            config,
            num_chapters: 5,
            chapter,
            earlier_summaries: summaries,
        }
    }

    fn script() -> Script {
        Script {
            title: "Dark Water".into(),
            lines: vec![
                Line { speaker: "Narrator".into(), text: "The lamp was out.".into(), direction: None },
                Line { speaker: "Mira".into(), text: "Who did this?".into(), direction: Some("afraid".into()) },
                Line { speaker: "Tomas".into(), text: "Not I.".into(), direction: None },
            ],
            characters: vec![Character { name: "Mira".into(), description: "A girl of twelve.".into() }],
        }
    }

    fn user_text(req: &Value) -> &str {
        let msgs = req["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0]["role"], "system");
        assert_eq!(msgs[1]["role"], "user");
        msgs[1]["content"].as_str().unwrap()
    }

    fn system_text(req: &Value) -> &str {
        req["messages"][0]["content"].as_str().unwrap()
    }

    #[test]
    fn script_request_sets_model_temperature_and_exact_response_format() {
        let cfg = config();
        let r = script_request(&settings(), &ctx(&cfg, &[], 1));
        assert_eq!(r["model"], "gpt-4o-mini");
        assert_eq!(r["temperature"], 0.8);
        assert_eq!(
            r["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "chapter_script", "strict": true, "schema": script::json_schema()}})
        );
        let mut keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["max_completion_tokens", "messages", "model", "response_format", "temperature"]);
        assert_eq!(r["max_completion_tokens"], 8000);
        assert!(system_text(&r).contains("\"Narrator\""));
    }

    #[test]
    fn script_request_carries_config_prompt_and_chapter_numbering() {
        let cfg = config();
        let r = script_request(&settings(), &ctx(&cfg, &[], 1));
        let u = user_text(&r);
        assert!(u.contains(&serde_json::to_string(&cfg).unwrap()), "{u}");
        assert!(u.contains("Story configuration (JSON): {"), "{u}");
        assert!(u.contains("\"genre\":\"mystery\"") && u.contains("\"audience\":\"children\""), "{u}");
        assert!(u.contains("A girl and an old fisherman solve the mystery of the dark lighthouse."));
        assert!(u.contains("Story title: The Lighthouse Keeper"));
        assert!(u.contains("Chapter 1 of 5."));
        assert!(u.contains("Write the script of chapter 1."));
        assert!(u.contains("There are no earlier chapters."));
        assert!(u.contains("first chapter"));
        assert!(!u.contains("summary:"));
    }

    #[test]
    fn earlier_summaries_appear_labelled_and_in_order() {
        let cfg = config();
        let sums = vec![
            (1, "Mira finds the lamp dark.".to_string()),
            (2, "  Tomas tells of the wreck.\n".to_string()),
            (3, "They climb the tower.".to_string()),
        ];
        let r = script_request(&settings(), &ctx(&cfg, &sums, 4));
        let u = user_text(&r);
        let p1 = u.find("Chapter 1 summary: Mira finds the lamp dark.").expect(u);
        let p2 = u.find("Chapter 2 summary: Tomas tells of the wreck.\n").expect(u);
        let p3 = u.find("Chapter 3 summary: They climb the tower.").expect(u);
        assert!(p1 < p2 && p2 < p3);
        assert!(u.contains("Chapter 4 of 5."));
        assert!(u.contains("Write the script of chapter 4."));
        assert!(!u.contains("no earlier chapters"));
        assert!(u.contains("Continue from where the previous chapter ended"));

        // Out-of-order input still reads in chapter order.
        let shuffled = vec![sums[2].clone(), sums[0].clone(), sums[1].clone()];
        let r2 = script_request(&settings(), &ctx(&cfg, &shuffled, 4));
        assert_eq!(user_text(&r2), u);
    }

    #[test]
    fn position_hints_for_last_and_only_chapters() {
        let cfg = config();
        let r = script_request(&settings(), &ctx(&cfg, &[], 5));
        assert!(user_text(&r).contains("final chapter"));
        let only = ChapterContext { num_chapters: 1, ..ctx(&cfg, &[], 1) };
        assert!(user_text(&script_request(&settings(), &only)).contains("only chapter"));
    }

    #[test]
    fn blank_title_and_empty_config_are_handled() {
        let empty = Map::new();
        let c = ChapterContext { story_title: "  ", ..ctx(&empty, &[], 2) };
        let u = user_text(&script_request(&settings(), &c)).to_string();
        assert!(!u.contains("Story title:"));
        assert!(u.contains("Story configuration (JSON): {}"));
    }

    #[test]
    fn enhance_request_passes_the_script_and_keeps_speakers() {
        let cfg = config();
        let sums = vec![(1, "Mira finds the lamp dark.".to_string())];
        let s = script();
        let r = enhance_request(&LlmSettings { model: "gpt-4o".into(), temperature: 0.3, max_completion_tokens: 8000 }, &ctx(&cfg, &sums, 2), &s);
        assert_eq!(r["model"], "gpt-4o");
        assert_eq!(r["temperature"], 0.3);
        assert_eq!(
            r["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "enhanced_chapter_script", "strict": true, "schema": script::json_schema()}})
        );
        let u = user_text(&r);
        assert!(u.contains(&serde_json::to_string(&s).unwrap()), "{u}");
        assert!(u.contains("Narrator, Mira, Tomas"));
        assert!(u.contains("Chapter 1 summary: Mira finds the lamp dark."));
        assert!(u.contains("Chapter 2 of 5."));
        assert!(u.contains(&serde_json::to_string(&cfg).unwrap()));
        assert!(system_text(&r).contains("same speakers"));
    }

    #[test]
    fn summary_request_is_plain_text_with_the_scripts_lines() {
        let cfg = config();
        let r = summary_request(&settings(), &ctx(&cfg, &[], 3), &script());
        assert!(r.get("response_format").is_none());
        assert_eq!(r["model"], "gpt-4o-mini");
        assert_eq!(r["temperature"], 0.8);
        let u = user_text(&r);
        assert!(u.contains("Chapter 3 of 5: \"Dark Water\""), "{u}");
        assert!(u.contains("Narrator: The lamp was out.\nMira (afraid): Who did this?\nTomas: Not I.\n"), "{u}");
        assert!(u.contains("Summarise chapter 3."));
    }

    #[test]
    fn prompt_text_is_escaped_as_json_not_spliced() {
        let cfg = config();
        let c = ChapterContext { prompt: "Say \"hi\"\n}{ and \\ stop", ..ctx(&cfg, &[], 1) };
        let r = script_request(&settings(), &c);
        let round: Value = serde_json::from_str(&r.to_string()).unwrap();
        assert!(user_text(&round).contains("Say \"hi\"\n}{ and \\ stop"));
    }
}
