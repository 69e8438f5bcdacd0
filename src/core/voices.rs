//! Which voice reads which line: the voice configuration (a narrator and a pool of character
//! voices, bundled as `voices.json`) and the speaker → voice mapping of a story.
//!
//! A story's mapping must not drift: once a character has been heard in one voice, a later
//! chapter (or a re-run after an edit) must use the same one, or the book sounds recast. So the
//! assignment is stored with the story and only ever grows; this module computes the growth.

use crate::core::script::{Script, NARRATOR};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceSettings {
    pub stability: f64,
    pub similarity_boost: f64,
    pub style: f64,
    pub use_speaker_boost: bool,
    pub speed: f64,
}

impl Default for VoiceSettings {
    /// ElevenLabs' own defaults, except `style` 0: it adds latency and drifts on long-form reading.
    fn default() -> Self {
        VoiceSettings { stability: 0.5, similarity_boost: 0.75, style: 0.0, use_speaker_boost: true, speed: 1.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Voice {
    pub voice_id: String,
    pub name: String,
    /// For a person choosing a voice (the catalogue route); shapes no audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub model_id: String,
    pub settings: VoiceSettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VoiceConfig {
    pub narrator: Voice,
    /// Character voices in the order they are handed out: the first speakers of a story get the
    /// first ones, so put the most distinct voices first.
    pub pool: Vec<Voice>,
}

pub const DEFAULT_MODEL: &str = "eleven_multilingual_v2";
/// Overrides are stored with the story; these bound what one PUT can make it store.
pub const MAX_OVERRIDES: usize = 500;
pub const MAX_SPEAKER_CHARS: usize = 200;

const BUNDLED: &str = include_str!("voices.json");

/// The file format: defaults at the top, each voice may override the model and any setting.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    settings: RawSettings,
    narrator: RawVoice,
    pool: Vec<RawVoice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoice {
    voice_id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    settings: RawSettings,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    stability: Option<f64>,
    similarity_boost: Option<f64>,
    style: Option<f64>,
    use_speaker_boost: Option<bool>,
    speed: Option<f64>,
}

impl RawSettings {
    fn over(&self, base: &VoiceSettings) -> VoiceSettings {
        VoiceSettings {
            stability: self.stability.unwrap_or(base.stability),
            similarity_boost: self.similarity_boost.unwrap_or(base.similarity_boost),
            style: self.style.unwrap_or(base.style),
            use_speaker_boost: self.use_speaker_boost.unwrap_or(base.use_speaker_boost),
            speed: self.speed.unwrap_or(base.speed),
        }
    }
}

impl VoiceConfig {
    pub fn bundled() -> VoiceConfig {
        match VoiceConfig::from_json(BUNDLED) {
            Ok(c) => c,
            Err(e) => panic!("the bundled voices.json is invalid: {e}"),
        }
    }

    /// Parses a configuration in the format of `voices.json`:
    /// `{"model_id"?, "settings"?: {..partial..}, "narrator": voice, "pool": [voice, ...]}` with
    /// voice = `{"voice_id", "name", "description"?, "model_id"?, "settings"?: {..partial..}}`. Unknown fields,
    /// out-of-range settings and repeated voice ids are errors, so a bad deploy fails at start-up
    /// rather than mid-book.
    pub fn from_json(s: &str) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(s).map_err(|e| format!("voice configuration: {e}"))?;
        let model = raw.model_id.unwrap_or_else(|| DEFAULT_MODEL.to_string());
        let settings = raw.settings.over(&VoiceSettings::default());
        let build = |v: RawVoice| -> Result<Voice, String> {
            let voice = Voice {
                voice_id: v.voice_id.trim().to_string(),
                name: v.name.trim().to_string(),
                description: v.description.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
                model_id: v.model_id.unwrap_or_else(|| model.clone()).trim().to_string(),
                settings: v.settings.over(&settings),
            };
            check_voice(&voice).map_err(|e| format!("voice configuration: {e}"))?;
            Ok(voice)
        };
        let narrator = build(raw.narrator)?;
        let pool = raw.pool.into_iter().map(build).collect::<Result<Vec<_>, _>>()?;
        if pool.is_empty() {
            return Err("voice configuration: the pool of character voices is empty".into());
        }
        let mut seen = BTreeSet::new();
        for v in std::iter::once(&narrator).chain(&pool) {
            if !seen.insert(v.voice_id.as_str()) {
                return Err(format!("voice configuration: voice id {} appears more than once", v.voice_id));
            }
        }
        Ok(VoiceConfig { narrator, pool })
    }

    pub fn catalogue(&self) -> Vec<&str> {
        std::iter::once(&self.narrator).chain(&self.pool).map(|v| v.voice_id.as_str()).collect()
    }

    pub fn voice(&self, voice_id: &str) -> Option<&Voice> {
        std::iter::once(&self.narrator).chain(&self.pool).find(|v| v.voice_id == voice_id)
    }

    fn pool_voice(&self, voice_id: &str) -> Option<&Voice> {
        self.pool.iter().find(|v| v.voice_id == voice_id)
    }

    /// The pool voice for a speaker nobody assigned: a hash of the name, so the same name gets the
    /// same voice in every chapter and every run.
    fn hashed(&self, key: &str) -> &Voice {
        if self.pool.is_empty() {
            return &self.narrator;
        }
        let digest = Sha256::digest(key.as_bytes());
        let n = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"));
        &self.pool[(n % self.pool.len() as u64) as usize]
    }
}

fn check_voice(v: &Voice) -> Result<(), String> {
    // The id becomes a URL path segment; ElevenLabs ids are 20 alphanumerics.
    let id_ok = !v.voice_id.is_empty()
        && v.voice_id.len() <= 64
        && v.voice_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !id_ok {
        return Err(format!("voice id {:?} is not a valid ElevenLabs voice id", v.voice_id));
    }
    if v.name.is_empty() {
        return Err(format!("voice {} has a blank name", v.voice_id));
    }
    if v.model_id.is_empty() {
        return Err(format!("voice {} has a blank model_id", v.voice_id));
    }
    let s = &v.settings;
    for (what, x, lo, hi) in [
        ("stability", s.stability, 0.0, 1.0),
        ("similarity_boost", s.similarity_boost, 0.0, 1.0),
        ("style", s.style, 0.0, 1.0),
        // ElevenLabs refuses speeds outside this range.
        ("speed", s.speed, 0.7, 1.2),
    ] {
        if !(x.is_finite() && (lo..=hi).contains(&x)) {
            return Err(format!("voice {}: {what} must be between {lo} and {hi}, got {x}", v.voice_id));
        }
    }
    Ok(())
}

/// How speaker names are compared: trimmed, inner whitespace collapsed, lowercase. The model
/// writes "Mara" in one chapter and "mara" or "Mara " in another; they are one character.
pub fn speaker_key(speaker: &str) -> String {
    speaker.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

pub fn is_narrator(speaker: &str) -> bool {
    let k = speaker_key(speaker);
    k.is_empty() || k == NARRATOR.to_lowercase()
}

/// The speakers of a story's scripts in order of first appearance (pass the chapters in order),
/// one spelling per speaker (the first seen), narrators left out: the `speakers` for [`assign`].
pub fn speakers_of<'a>(scripts: impl IntoIterator<Item = &'a Script>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for script in scripts {
        for line in &script.lines {
            if !is_narrator(&line.speaker) && seen.insert(speaker_key(&line.speaker)) {
                out.push(line.speaker.trim().to_string());
            }
        }
    }
    out
}

/// The entry of `map` for `speaker`, compared by [`speaker_key`]; every narrator spelling
/// (including the blank speaker) matches every other. With several spellings of one name in the
/// map, the first in the map's order wins.
fn lookup<'m>(map: &'m BTreeMap<String, String>, speaker: &str) -> Option<&'m String> {
    if is_narrator(speaker) {
        return map.iter().find(|(k, _)| is_narrator(k)).map(|(_, v)| v);
    }
    let key = speaker_key(speaker);
    map.iter().find(|(k, _)| speaker_key(k) == key).map(|(_, v)| v)
}

/// Stable assignment for a story; see the module doc for why it only grows.
///
/// - Earlier assignments stay, as long as their voice is still in the pool (a voice dropped from
///   the configuration, or one that became the narrator, is reassigned rather than kept).
/// - Overridden speakers get no new assignment, and their voices are not handed out while unused
///   pool voices remain. An earlier assignment of an overridden speaker is kept, so removing the
///   override brings back the voice it had.
/// - New speakers, in the order given, get the next pool voice no assigned or overridden speaker
///   uses; once the pool is used up, a voice chosen by a hash of the name.
/// - Narrators are never in the result. Keys are trimmed; a speaker keeps the first spelling seen.
pub fn assign(
    config: &VoiceConfig,
    speakers: &[String],
    overrides: &BTreeMap<String, String>,
    assigned: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut done = BTreeSet::new();
    let mut used = BTreeSet::new();
    for (name, voice_id) in assigned {
        if is_narrator(name) || config.pool_voice(voice_id).is_none() || !done.insert(speaker_key(name)) {
            continue;
        }
        out.insert(name.trim().to_string(), voice_id.clone());
        used.insert(voice_id.as_str());
    }
    let mut overridden = BTreeSet::new();
    for (name, voice_id) in overrides {
        if config.voice(voice_id).is_some() {
            overridden.insert(speaker_key(name));
            used.insert(voice_id.as_str());
        }
    }
    for speaker in speakers {
        let key = speaker_key(speaker);
        if is_narrator(speaker) || overridden.contains(&key) || !done.insert(key.clone()) {
            continue;
        }
        let voice = match config.pool.iter().find(|v| !used.contains(v.voice_id.as_str())) {
            Some(v) => v,
            None => config.hashed(&key),
        };
        used.insert(voice.voice_id.as_str());
        out.insert(speaker.trim().to_string(), voice.voice_id.clone());
    }
    out
}

/// The voice that reads a line of `speaker`: an override (the user's choice wins over
/// everything, so overriding "Narrator" recasts the narration); the narrator voice for
/// narrators; the assigned voice; else the hash fallback, so an unexpected speaker still gets
/// a stable voice.
pub fn voice_for<'a>(
    config: &'a VoiceConfig,
    speaker: &str,
    overrides: &BTreeMap<String, String>,
    assigned: &BTreeMap<String, String>,
) -> &'a Voice {
    if let Some(v) = lookup(overrides, speaker).and_then(|id| config.voice(id)) {
        return v;
    }
    if is_narrator(speaker) {
        return &config.narrator;
    }
    if let Some(v) = lookup(assigned, speaker).and_then(|id| config.pool_voice(id)) {
        return v;
    }
    config.hashed(&speaker_key(speaker))
}

/// The narrator's voice for a story: `voices` GET reports it as `narrator`.
pub fn narrator_voice<'a>(config: &'a VoiceConfig, overrides: &BTreeMap<String, String>) -> &'a Voice {
    voice_for(config, NARRATOR, overrides, &BTreeMap::new())
}

/// The `speakers` object of `voices` GET: every (non-narrator) speaker given, with the voice
/// that reads them, whether it comes from an override or an assignment.
pub fn speaker_voices(
    config: &VoiceConfig,
    speakers: &[String],
    overrides: &BTreeMap<String, String>,
    assigned: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut seen = BTreeSet::new();
    // Inserts, not `collect()`: a collected map brings its own copy of the stable sort.
    let mut out = BTreeMap::new();
    for s in speakers.iter().filter(|s| !is_narrator(s) && seen.insert(speaker_key(s))) {
        out.insert(s.trim().to_string(), voice_for(config, s, overrides, assigned).voice_id.clone());
    }
    out
}

/// Checks a `voices` PUT body and returns it as stored: names trimmed. The error (for a 422)
/// names the first problem: a blank or over-long name, a name given twice in different
/// spellings, a voice id not in the catalogue, too many entries.
pub fn normalize_overrides(
    config: &VoiceConfig,
    raw: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    if raw.len() > MAX_OVERRIDES {
        return Err(format!("at most {MAX_OVERRIDES} speakers can be given a voice, got {}", raw.len()));
    }
    let mut out = BTreeMap::new();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for (name, voice_id) in raw {
        let name = name.trim();
        if name.is_empty() {
            return Err("a speaker name is blank".into());
        }
        if name.chars().count() > MAX_SPEAKER_CHARS {
            return Err(format!("a speaker name is longer than {MAX_SPEAKER_CHARS} characters"));
        }
        let key = if is_narrator(name) { speaker_key(NARRATOR) } else { speaker_key(name) };
        if let Some(first) = keys.insert(key, name.to_string()) {
            return Err(format!("speakers \"{first}\" and \"{name}\" are the same speaker"));
        }
        if config.voice(voice_id).is_none() {
            return Err(format!(
                "voice id \"{}\" for speaker \"{name}\" is not in the voice catalogue",
                voice_id.chars().take(80).collect::<String>()
            ));
        }
        out.insert(name.to_string(), voice_id.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::script::Line;

    /// The stand-in's catalogue, read from its source so the two cannot drift apart.
    fn devstack_ids() -> Vec<String> {
        let src = include_str!("../../devstack/src/providers/voices.rs");
        let ids: Vec<String> = src
            .lines()
            .filter_map(|l| l.trim().strip_prefix("v(\""))
            .map(|rest| rest.split('"').next().unwrap().to_string())
            .collect();
        assert!(ids.len() >= 20, "could not read the stand-in's catalogue: {ids:?}");
        ids
    }

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn names(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    fn small() -> VoiceConfig {
        VoiceConfig::from_json(
            r#"{"narrator": {"voice_id": "N", "name": "Nar"},
                "pool": [{"voice_id": "A", "name": "a"}, {"voice_id": "B", "name": "b"}, {"voice_id": "C", "name": "c"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn bundled_config_is_valid_and_in_the_stand_in_catalogue() {
        let c = VoiceConfig::bundled();
        assert!(c.pool.len() >= 8, "{}", c.pool.len());
        let cat = c.catalogue();
        assert_eq!(cat.len(), c.pool.len() + 1);
        assert_eq!(cat[0], c.narrator.voice_id);
        let unique: BTreeSet<&str> = cat.iter().copied().collect();
        assert_eq!(unique.len(), cat.len(), "ids repeat");
        assert!(!c.pool.iter().any(|v| v.voice_id == c.narrator.voice_id));
        let stand_in = devstack_ids();
        for id in &cat {
            assert!(stand_in.iter().any(|s| s == id), "{id} is not in devstack/src/providers/voices.rs");
        }
        for v in std::iter::once(&c.narrator).chain(&c.pool) {
            assert_eq!(v.model_id, "eleven_multilingual_v2");
            assert!(check_voice(v).is_ok());
            assert_eq!(c.voice(&v.voice_id), Some(v));
        }
        assert!(c.voice("nope").is_none());
        // The narrator reads most of the book: steadier than the characters.
        assert!(c.narrator.settings.stability > c.pool[0].settings.stability);
    }

    #[test]
    fn from_json_applies_defaults_and_per_voice_overrides() {
        let c = VoiceConfig::from_json(
            r#"{"model_id": "eleven_turbo_v2_5", "settings": {"speed": 1.1},
                "narrator": {"voice_id": "N", "name": " Nar ", "description": " warm ", "settings": {"stability": 0.9}},
                "pool": [{"voice_id": "A", "name": "a", "model_id": "eleven_v3", "settings": {"use_speaker_boost": false}}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.narrator,
            Voice {
                voice_id: "N".into(),
                name: "Nar".into(),
                description: Some("warm".into()),
                model_id: "eleven_turbo_v2_5".into(),
                settings: VoiceSettings {
                    stability: 0.9,
                    similarity_boost: 0.75,
                    style: 0.0,
                    use_speaker_boost: true,
                    speed: 1.1
                }
            }
        );
        assert_eq!(c.pool[0].model_id, "eleven_v3");
        assert!(!c.pool[0].settings.use_speaker_boost);
        assert_eq!(c.pool[0].settings.speed, 1.1);
        assert_eq!(small().narrator.model_id, DEFAULT_MODEL);
        assert_eq!(small().narrator.settings, VoiceSettings::default());
    }

    #[test]
    fn from_json_rejects_bad_configurations() {
        let cases = [
            ("not json", "voice configuration:"),
            (r#"{"narrator": {"voice_id": "N", "name": "n"}, "pool": []}"#, "pool of character voices is empty"),
            (r#"{"narrator": {"voice_id": "N", "name": "n"}}"#, "missing field `pool`"),
            (
                r#"{"narrator": {"voice_id": "N", "name": "n"}, "pool": [{"voice_id": "N", "name": "x"}]}"#,
                "voice id N appears more than once",
            ),
            (
                r#"{"narrator": {"voice_id": "N", "name": "n"}, "pool": [{"voice_id": "A", "name": "x"}, {"voice_id": "A", "name": "y"}]}"#,
                "voice id A appears more than once",
            ),
            (
                r#"{"narrator": {"voice_id": "a/b", "name": "n"}, "pool": [{"voice_id": "A", "name": "x"}]}"#,
                "not a valid",
            ),
            (r#"{"narrator": {"voice_id": "", "name": "n"}, "pool": [{"voice_id": "A", "name": "x"}]}"#, "not a valid"),
            (r#"{"narrator": {"voice_id": "N", "name": " "}, "pool": [{"voice_id": "A", "name": "x"}]}"#, "blank name"),
            (
                r#"{"model_id": " ", "narrator": {"voice_id": "N", "name": "n"}, "pool": [{"voice_id": "A", "name": "x"}]}"#,
                "blank model_id",
            ),
            (
                r#"{"settings": {"speed": 1.5}, "narrator": {"voice_id": "N", "name": "n"}, "pool": [{"voice_id": "A", "name": "x"}]}"#,
                "speed must be between 0.7 and 1.2",
            ),
            (
                r#"{"narrator": {"voice_id": "N", "name": "n"}, "pool": [{"voice_id": "A", "name": "x", "settings": {"stability": -0.1}}]}"#,
                "voice A: stability must be between 0 and 1",
            ),
            (
                r#"{"narrator": {"voice_id": "N", "name": "n", "settings": {"stabilty": 0.5}}, "pool": [{"voice_id": "A", "name": "x"}]}"#,
                "unknown field `stabilty`",
            ),
            (
                r#"{"narrator": {"voice_id": "N", "name": "n"}, "pool": [{"voice_id": "A", "name": "x"}], "extra": 1}"#,
                "unknown field `extra`",
            ),
        ];
        for (json, want) in cases {
            let e = VoiceConfig::from_json(json).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn narrators_and_keys() {
        for s in ["Narrator", "narrator", "  NARRATOR ", "", "   "] {
            assert!(is_narrator(s), "{s:?}");
        }
        for s in ["Narrator Jones", "Mara", "The Narrator"] {
            assert!(!is_narrator(s), "{s:?}");
        }
        assert_eq!(speaker_key("  Mara   Vale "), "mara vale");
        assert_eq!(speaker_key("ÉLODIE"), "élodie");
    }

    #[test]
    fn first_speakers_get_distinct_pool_voices_in_order() {
        let c = VoiceConfig::bundled();
        let sp = names(&["Mara", "Narrator", "Tom", "Ivy"]);
        let a = assign(&c, &sp, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(a, m(&[("Mara", &c.pool[0].voice_id), ("Tom", &c.pool[1].voice_id), ("Ivy", &c.pool[2].voice_id)]));
        // Same input, same answer; feeding the answer back changes nothing.
        assert_eq!(assign(&c, &sp, &BTreeMap::new(), &BTreeMap::new()), a);
        assert_eq!(assign(&c, &sp, &BTreeMap::new(), &a), a);
    }

    #[test]
    fn assignments_are_stable_when_new_speakers_appear() {
        let c = VoiceConfig::bundled();
        let first = assign(&c, &names(&["Mara", "Tom"]), &BTreeMap::new(), &BTreeMap::new());
        // Chapter 2 introduces Ivy before Tom speaks; Mara and Tom keep their voices.
        let second = assign(&c, &names(&["Mara", "Ivy", "Tom", "Quinn"]), &BTreeMap::new(), &first);
        assert_eq!(second["Mara"], c.pool[0].voice_id);
        assert_eq!(second["Tom"], c.pool[1].voice_id);
        assert_eq!(second["Ivy"], c.pool[2].voice_id);
        assert_eq!(second["Quinn"], c.pool[3].voice_id);
        // A speaker who no longer appears keeps the voice, so it is not handed to someone else.
        let third = assign(&c, &names(&["Ivy", "Zed"]), &BTreeMap::new(), &second);
        assert_eq!(third.len(), 5);
        assert_eq!(third["Zed"], c.pool[4].voice_id);
    }

    #[test]
    fn stale_assignments_are_replaced() {
        let c = small();
        let old = m(&[("Mara", "GONE"), ("Tom", "B"), ("Narrator", "A"), ("Ivy", "N")]);
        let a = assign(&c, &names(&["Mara", "Ivy"]), &BTreeMap::new(), &old);
        assert_eq!(a, m(&[("Tom", "B"), ("Mara", "A"), ("Ivy", "C")]));
    }

    #[test]
    fn narrator_is_never_assigned() {
        let c = small();
        let a = assign(&c, &names(&["Narrator", "narrator ", "", "Mara"]), &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(a, m(&[("Mara", "A")]));
    }

    #[test]
    fn overrides_win_and_their_voices_are_kept_free() {
        let c = VoiceConfig::bundled();
        let p = |i: usize| c.pool[i].voice_id.clone();
        let ov = m(&[("tom", &p(0))]);
        let a = assign(&c, &names(&["Mara", "Tom", "Ivy"]), &ov, &BTreeMap::new());
        assert_eq!(a, m(&[("Mara", &p(1)), ("Ivy", &p(2))]), "Tom is overridden; pool[0] stays Tom's");
        assert_eq!(voice_for(&c, "Tom", &ov, &a).voice_id, p(0));
        assert_eq!(voice_for(&c, "Mara", &ov, &a).voice_id, p(1));
        // An override set after assignment wins, and the old assignment stays for when it goes.
        let before = assign(&c, &names(&["Mara"]), &BTreeMap::new(), &BTreeMap::new());
        let ov = m(&[("Mara", &p(5))]);
        let after = assign(&c, &names(&["Mara", "Tom"]), &ov, &before);
        assert_eq!(after, m(&[("Mara", &p(0)), ("Tom", &p(1))]));
        assert_eq!(voice_for(&c, "mara", &ov, &after).voice_id, p(5));
        assert_eq!(voice_for(&c, "mara", &BTreeMap::new(), &after).voice_id, p(0));
        // An override may use the narrator's voice; an unknown voice id is ignored.
        let ov = m(&[("Mara", &c.narrator.voice_id), ("Tom", "GONE")]);
        let a = assign(&c, &names(&["Mara", "Tom"]), &ov, &BTreeMap::new());
        assert_eq!(a, m(&[("Tom", &p(0))]));
        assert_eq!(voice_for(&c, "Mara", &ov, &a), &c.narrator);
        assert_eq!(voice_for(&c, "Tom", &ov, &a).voice_id, p(0));
    }

    #[test]
    fn narrator_override_recasts_the_narration() {
        let c = small();
        assert_eq!(narrator_voice(&c, &BTreeMap::new()).voice_id, "N");
        let ov = m(&[("narrator", "B")]);
        assert_eq!(narrator_voice(&c, &ov).voice_id, "B");
        assert_eq!(voice_for(&c, "Narrator", &ov, &BTreeMap::new()).voice_id, "B");
        assert_eq!(voice_for(&c, "", &ov, &BTreeMap::new()).voice_id, "B");
        let a = assign(&c, &names(&["Narrator", "Mara", "Tom"]), &ov, &BTreeMap::new());
        assert_eq!(a, m(&[("Mara", "A"), ("Tom", "C")]), "B is the narrator's now");
    }

    #[test]
    fn pool_exhaustion_falls_back_to_a_stable_hash() {
        let c = small();
        let sp = names(&["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hal"]);
        let a = assign(&c, &sp, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!((a["Ann"].as_str(), a["Bob"].as_str(), a["Cy"].as_str()), ("A", "B", "C"));
        for s in &sp[3..] {
            assert_eq!(a[s], c.hashed(&speaker_key(s)).voice_id, "{s}");
            assert_eq!(voice_for(&c, s, &BTreeMap::new(), &BTreeMap::new()).voice_id, a[s], "{s}");
        }
        // The hash spreads names over the pool rather than piling them on one voice.
        let spread: BTreeSet<&str> = sp[3..].iter().map(|s| a[s].as_str()).collect();
        assert!(spread.len() >= 2, "{spread:?}");
        // Earlier state and the other speakers do not change a hashed voice.
        let again = assign(&c, &sp, &BTreeMap::new(), &a);
        assert_eq!(again, a);
        let fresh_dee = assign(&c, &names(&["Ann", "Bob", "Cy", "Dee"]), &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(fresh_dee["Dee"], a["Dee"]);
        // The case of a name does not move its hash either.
        assert_eq!(c.hashed(&speaker_key("DEE")).voice_id, a["Dee"]);
    }

    #[test]
    fn names_match_case_insensitively_and_keep_the_first_spelling() {
        let c = small();
        let a = assign(&c, &names(&["Mara ", "mara", "MARA", "  Tom", "tom"]), &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(a, m(&[("Mara", "A"), ("Tom", "B")]));
        let b = assign(&c, &names(&["MARA", "Ivy"]), &BTreeMap::new(), &a);
        assert_eq!(b, m(&[("Mara", "A"), ("Tom", "B"), ("Ivy", "C")]));
        assert_eq!(voice_for(&c, " mara  ", &BTreeMap::new(), &b).voice_id, "A");
        let ov = m(&[("IVY", "A")]);
        assert_eq!(voice_for(&c, "ivy", &ov, &b).voice_id, "A");
    }

    #[test]
    fn voice_for_unassigned_speakers_and_narrators() {
        let c = VoiceConfig::bundled();
        let none = BTreeMap::new();
        assert_eq!(voice_for(&c, "Narrator", &none, &none), &c.narrator);
        assert_eq!(voice_for(&c, " ", &none, &none), &c.narrator);
        // An assignment for the narrator is ignored.
        let a = m(&[("Narrator", &c.pool[0].voice_id)]);
        assert_eq!(voice_for(&c, "narrator", &none, &a), &c.narrator);
        let stranger = voice_for(&c, "A Stranger", &none, &none);
        assert_ne!(stranger, &c.narrator);
        assert_eq!(voice_for(&c, "a stranger", &none, &none), stranger);
        // An assignment to a voice no longer in the pool falls back to the hash.
        let stale = m(&[("A Stranger", "GONE")]);
        assert_eq!(voice_for(&c, "A Stranger", &none, &stale), stranger);
    }

    #[test]
    fn empty_pool_built_by_hand_still_answers() {
        let mut c = small();
        c.pool.clear();
        assert_eq!(voice_for(&c, "Mara", &BTreeMap::new(), &BTreeMap::new()).voice_id, "N");
        assert_eq!(assign(&c, &names(&["Mara"]), &BTreeMap::new(), &BTreeMap::new()), m(&[("Mara", "N")]));
    }

    #[test]
    fn speakers_of_scripts_in_first_appearance_order() {
        let line = |s: &str| Line { speaker: s.into(), text: "x".into(), direction: None };
        let ch1 = Script {
            title: "1".into(),
            lines: vec![line("Narrator"), line("Tom"), line("Mara"), line("tom")],
            characters: vec![],
        };
        let ch2 =
            Script { title: "2".into(), lines: vec![line("MARA"), line("Ivy"), line("narrator")], characters: vec![] };
        assert_eq!(speakers_of([&ch1, &ch2]), names(&["Tom", "Mara", "Ivy"]));
        assert!(speakers_of(std::iter::empty::<&Script>()).is_empty());
    }

    #[test]
    fn speaker_voices_lists_every_speaker_with_its_voice() {
        let c = small();
        let sp = names(&["Mara", "Narrator", "Tom", "tom", "Ivy"]);
        let ov = m(&[("tom", "N"), ("Zed", "C")]);
        let a = assign(&c, &sp, &ov, &BTreeMap::new());
        assert_eq!(speaker_voices(&c, &sp, &ov, &a), m(&[("Mara", "A"), ("Tom", "N"), ("Ivy", "B")]));
    }

    #[test]
    fn normalize_overrides_checks_names_and_voices() {
        let c = small();
        assert_eq!(
            normalize_overrides(&c, &m(&[(" Mara ", "A"), ("Narrator", "B")])).unwrap(),
            m(&[("Mara", "A"), ("Narrator", "B")])
        );
        assert_eq!(normalize_overrides(&c, &BTreeMap::new()).unwrap(), BTreeMap::new());
        let e = normalize_overrides(&c, &m(&[("Mara", "nope")])).unwrap_err();
        assert_eq!(e, "voice id \"nope\" for speaker \"Mara\" is not in the voice catalogue");
        let e = normalize_overrides(&c, &m(&[("Mara", "A"), ("mara ", "B")])).unwrap_err();
        assert!(e.contains("are the same speaker"), "{e}");
        let e = normalize_overrides(&c, &m(&[("", "A"), ("narrator", "B")])).unwrap_err();
        assert_eq!(e, "a speaker name is blank");
        let e = normalize_overrides(&c, &m(&[("narrator", "A"), ("NARRATOR ", "B")])).unwrap_err();
        assert!(e.contains("are the same speaker"), "{e}");
        let long = "x".repeat(MAX_SPEAKER_CHARS + 1);
        assert!(normalize_overrides(&c, &m(&[(&long, "A")])).unwrap_err().contains("longer than"));
        let many: BTreeMap<String, String> = (0..=MAX_OVERRIDES).map(|i| (format!("s{i}"), "A".to_string())).collect();
        assert!(normalize_overrides(&c, &many).unwrap_err().starts_with("at most"));
    }
}
