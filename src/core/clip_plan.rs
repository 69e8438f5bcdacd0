//! What a chapter's audio is made of: each spoken line's text as TTS is sent it (after the
//! story's pronunciations), its voice, and the R2 key of its clip; and the chapter's
//! fingerprint, a hash of those keys in order. Two plans with the same fingerprint make the same
//! MP3, so a chapter whose current fingerprint differs from the one stored with its audio has
//! stale audio (`audio_stale`), and the clips whose keys changed are exactly what a new audio
//! job pays for.

use crate::core::pronounce;
use crate::core::script::Script;
use crate::core::tts::{self, ClipSpec};
use crate::core::voices::{self, VoiceConfig};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A spoken line: its speaker and the text TTS is sent.
pub struct Spoken<'a> {
    pub speaker: &'a str,
    pub text: Cow<'a, str>,
}

/// The lines of `script` that have something to say, with `pronunciations` applied.
pub fn spoken<'a>(script: &'a Script, pronunciations: &BTreeMap<String, String>) -> Vec<Spoken<'a>> {
    script
        .lines
        .iter()
        .filter(|l| !l.text.trim().is_empty())
        .map(|l| Spoken { speaker: &l.speaker, text: pronounce::apply(&l.text, pronunciations) })
        .collect()
}

/// One line ready to synthesise: its speaker, text and voice.
pub struct Line<'a> {
    pub speaker: &'a str,
    pub spec: ClipSpec<'a>,
    pub key: String,
}

/// The spoken lines with their voices and clip keys, in order.
pub fn plan_lines<'a>(
    story_id: &str,
    output_format: &str,
    config: &'a VoiceConfig,
    spoken: &'a [Spoken<'a>],
    overrides: &BTreeMap<String, String>,
    assigned: &BTreeMap<String, String>,
) -> Vec<Line<'a>> {
    spoken
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let spec = ClipSpec {
                text: &l.text,
                voice: voices::voice_for(config, l.speaker, overrides, assigned),
                previous_text: i.checked_sub(1).map(|p| &*spoken[p].text),
                next_text: spoken.get(i + 1).map(|n| &*n.text),
            };
            let key = tts::clip_key(story_id, output_format, &spec);
            Line { speaker: l.speaker, spec, key }
        })
        .collect()
}

/// The fingerprint of a chapter's clip keys, in order (hex SHA-256; never empty).
pub fn fingerprint<'k>(keys: impl IntoIterator<Item = &'k str>) -> String {
    let mut h = Sha256::new();
    for k in keys {
        h.update(k.as_bytes());
        h.update(b"\n");
    }
    crate::core::hex::hex(&h.finalize())
}

/// Everything that decides a story's clips besides the scripts.
pub struct Inputs<'a> {
    pub story_id: &'a str,
    pub output_format: &'a str,
    pub config: &'a VoiceConfig,
    pub overrides: &'a BTreeMap<String, String>,
    /// As the audio job resolves them (`voices::assign` over every chapter's speakers).
    pub assigned: &'a BTreeMap<String, String>,
    pub pronunciations: &'a BTreeMap<String, String>,
}

/// The fingerprint of one chapter's script.
pub fn chapter_fingerprint(inputs: &Inputs, script: &Script) -> String {
    let spoken = spoken(script, inputs.pronunciations);
    let lines = plan_lines(inputs.story_id, inputs.output_format, inputs.config, &spoken, inputs.overrides, inputs.assigned);
    fingerprint(lines.iter().map(|l| l.key.as_str()))
}

/// The current fingerprint of each chapter that has a script.
pub fn fingerprints<'s>(inputs: &Inputs, chapters: impl IntoIterator<Item = (u32, &'s Script)>) -> Vec<(u32, String)> {
    chapters.into_iter().map(|(n, script)| (n, chapter_fingerprint(inputs, script))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::script::Line as ScriptLine;

    fn script(texts: &[(&str, &str)]) -> Script {
        Script {
            title: "t".into(),
            lines: texts.iter().map(|(s, t)| ScriptLine { speaker: s.to_string(), text: t.to_string(), direction: None }).collect(),
            characters: vec![],
        }
    }

    fn keys(s: &Script, pron: &BTreeMap<String, String>) -> Vec<String> {
        let config = VoiceConfig::bundled();
        let none = BTreeMap::new();
        let spoken = spoken(s, pron);
        plan_lines("s1", "mp3_44100_128", &config, &spoken, &none, &none).into_iter().map(|l| l.key).collect()
    }

    #[test]
    fn an_edited_line_changes_only_its_own_key() {
        let a = script(&[("Narrator", "One."), ("Mara", "Two."), ("Narrator", "Three.")]);
        let b = script(&[("Narrator", "One."), ("Mara", "Two, edited."), ("Narrator", "Three.")]);
        let (ka, kb) = (keys(&a, &BTreeMap::new()), keys(&b, &BTreeMap::new()));
        assert_eq!(ka[0], kb[0], "the neighbour's context is not hashed");
        assert_ne!(ka[1], kb[1]);
        assert_eq!(ka[2], kb[2]);
        assert_ne!(fingerprint(ka.iter().map(String::as_str)), fingerprint(kb.iter().map(String::as_str)));
    }

    #[test]
    fn pronunciations_change_the_lines_they_match() {
        let s = script(&[("Narrator", "Mara ran."), ("Mara", "Tamara too."), ("Narrator", "Then Mara slept.")]);
        let pron: BTreeMap<String, String> = [("Mara".to_string(), "MAH-rah".to_string())].into();
        let spoken = spoken(&s, &pron);
        assert_eq!(spoken[0].text, "MAH-rah ran.");
        assert_eq!(spoken[1].text, "Tamara too.");
        let (plain, pronounced) = (keys(&s, &BTreeMap::new()), keys(&s, &pron));
        assert_ne!(plain[0], pronounced[0]);
        assert_eq!(plain[1], pronounced[1]);
        assert_ne!(plain[2], pronounced[2]);
    }

    #[test]
    fn recasting_a_speaker_changes_only_the_chapters_it_speaks_in() {
        let config = VoiceConfig::bundled();
        let one = script(&[("Narrator", "One."), ("Mara", "Hi.")]);
        let two = script(&[("Narrator", "Two."), ("Oskar", "Yes.")]);
        let none = BTreeMap::new();
        let assigned = voices::assign(&config, &["Mara".to_string(), "Oskar".to_string()], &none, &none);
        let other = config.pool.iter().map(|v| v.voice_id.clone()).find(|id| Some(id) != assigned.get("Mara")).unwrap();
        let overrides: BTreeMap<String, String> = [("Mara".to_string(), other)].into();
        let fps = |overrides: &BTreeMap<String, String>| {
            let inputs = Inputs {
                story_id: "s1",
                output_format: "mp3_44100_128",
                config: &config,
                overrides,
                assigned: &assigned,
                pronunciations: &none,
            };
            fingerprints(&inputs, [(1, &one), (2, &two)])
        };
        let (before, after) = (fps(&none), fps(&overrides));
        assert_eq!(before.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2]);
        assert_ne!(before[0].1, after[0].1, "Mara speaks in chapter 1");
        assert_eq!(before[1].1, after[1].1, "chapter 2 has no line of Mara");
    }

    #[test]
    fn blank_lines_are_not_spoken_and_fingerprints_are_ordered() {
        let s = script(&[("Narrator", "One."), ("Narrator", "  "), ("Narrator", "Two.")]);
        assert_eq!(spoken(&s, &BTreeMap::new()).len(), 2);
        assert_ne!(fingerprint(["a", "b"]), fingerprint(["b", "a"]));
        assert_ne!(fingerprint(["ab"]), fingerprint(["a", "b"]));
        assert_eq!(fingerprint(["a", "b"]).len(), 64);
    }
}
