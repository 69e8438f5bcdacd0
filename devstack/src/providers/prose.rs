//! Readable filler text from a small story vocabulary, so generated scripts and summaries look
//! like stories to a human skimming logs or listening to the audio: narration that names the
//! cast, dialogue that addresses the other characters, summaries that name who appeared, and
//! script lines of a chosen length range (40–300 characters by default, see `schema_fill`).
use super::rng::Rng;

const ADJECTIVES: &[&str] = &[
    "quiet",
    "silver",
    "ancient",
    "restless",
    "golden",
    "hidden",
    "gentle",
    "bright",
    "distant",
    "crooked",
    "weary",
    "curious",
    "stormy",
    "narrow",
    "forgotten",
    "warm",
];
const NOUNS: &[&str] = &[
    "lantern", "river", "forest", "tower", "harbor", "garden", "road", "map", "door", "village", "mountain", "letter",
    "bridge", "storm", "candle", "meadow", "ship", "key",
];
const VERBS: &[&str] = &[
    "waited beside",
    "wandered toward",
    "whispered about",
    "watched",
    "crossed",
    "remembered",
    "circled",
    "followed",
    "guarded",
    "discovered",
    "reached",
    "searched",
];
const SUBJECTS: &[&str] = &[
    "The traveler",
    "A small fox",
    "The old keeper",
    "Her brother",
    "The stranger",
    "Everyone",
    "The wind",
    "A lone sailor",
    "The children",
    "Nobody",
];
const ENDINGS: &[&str] = &[
    "before the night fell",
    "as the bells rang",
    "without a word",
    "under the pale moon",
    "long after the rain",
    "while the fire burned low",
    "at the edge of dawn",
    "once again",
];
const NAMES: &[&str] =
    &["Mara", "Tobin", "Elspeth", "Jonah", "Iris", "Felix", "Wren", "Caspian", "Odette", "Bram", "Lyra", "Silas"];
const DIRECTIONS: &[&str] = &[
    "softly",
    "whispering",
    "with a quiet laugh",
    "urgently",
    "after a pause",
    "warmly",
    "nervously",
    "firmly",
    "in awe",
    "sighing",
];

/// What characters say: questions, warnings, memories; `others` are who they may address.
const DIALOGUE: &[&str] = &[
    "Have you seen the {adj} {noun}?",
    "{other}, we should go to the {noun} {ending}.",
    "I never thought the {noun} would look so {adj}.",
    "Listen to me, {other}. The {noun} is not what it seems.",
    "We have to find the {adj} {noun} before it is too late!",
    "I remember the {adj} {noun}, and the {noun2} beyond it.",
    "Do you hear that? Something {verb} the {noun}.",
    "Stay close to me, {other}.",
    "Why would anyone leave a {adj} {noun} by the {noun2}?",
    "My grandmother told me about the {noun} {ending}.",
    "It was {adj}, I tell you, and it {verb} the {noun2}.",
    "Not yet. First we look for the {noun}.",
    "{other}, what do you think is behind the {adj} {noun}?",
    "I am not afraid of the {noun}, not anymore.",
    "If we follow the {noun}, we will reach the {noun2} by morning.",
];
const ROLES: &[&str] = &[
    "keeper of the lighthouse",
    "young sailor",
    "retired schoolteacher",
    "clever apprentice",
    "travelling musician",
    "village baker",
    "lost prince",
    "fisherman's daughter",
    "old cartographer",
    "restless inventor",
];
const VOICES: &[&str] = &[
    "a low, gravelly voice",
    "a bright, quick voice",
    "a soft and careful voice",
    "a warm voice with a slight lilt",
    "a crisp, formal voice",
    "a husky voice that cracks when excited",
];

pub fn sentence(rng: &mut Rng) -> String {
    let mut s = format!("{} {} the {} {}", one(rng, SUBJECTS), one(rng, VERBS), one(rng, ADJECTIVES), one(rng, NOUNS));
    if rng.chance(0.6) {
        s.push(' ');
        s.push_str(one(rng, ENDINGS));
    }
    s.push('.');
    s
}

/// A sentence of narration; with a cast, often about one of them.
pub fn narration_sentence(rng: &mut Rng, cast: &[String]) -> String {
    if cast.is_empty() || rng.chance(0.4) {
        return sentence(rng);
    }
    let who = rng.pick(cast).clone();
    let mut s = format!("{who} {} the {} {}", one(rng, VERBS), one(rng, ADJECTIVES), one(rng, NOUNS));
    if rng.chance(0.6) {
        s.push(' ');
        s.push_str(one(rng, ENDINGS));
    }
    s.push('.');
    s
}

/// A sentence a character says, sometimes to one of `others`.
pub fn dialogue_sentence(rng: &mut Rng, others: &[String]) -> String {
    let mut t = one(rng, DIALOGUE);
    if others.is_empty() {
        // Nobody to address: pick a template without a name.
        for _ in 0..8 {
            if !t.contains("{other}") {
                break;
            }
            t = one(rng, DIALOGUE);
        }
        if t.contains("{other}") {
            t = DIALOGUE[0];
        }
    }
    let mut out = t.to_string();
    let slots = [("{adj}", ADJECTIVES), ("{noun2}", NOUNS), ("{noun}", NOUNS), ("{ending}", ENDINGS), ("{verb}", VERBS)];
    for (slot, list) in slots {
        while out.contains(slot) {
            out = out.replacen(slot, one(rng, list), 1);
        }
    }
    if out.contains("{other}") {
        let who: &String = rng.pick(others);
        out = out.replace("{other}", who);
    }
    out
}

/// Text of `lo..=hi` characters (when lo <= hi) made of whole sentences from `make`; lengths
/// lean towards the short end, as real scripts do.
pub fn text_between(rng: &mut Rng, lo: usize, hi: usize, mut make: impl FnMut(&mut Rng) -> String) -> String {
    let hi = hi.max(lo);
    let target = lo + ((hi - lo) as f64 * rng.unit().powf(1.6)) as usize;
    let mut s = String::new();
    let mut n = 0;
    let mut last = String::new();
    while n < target.max(1) {
        let mut next = make(rng);
        if next == last {
            // The same sentence twice in a row reads like a bug; one more draw is enough.
            next = make(rng);
        }
        let extra = next.chars().count() + usize::from(!s.is_empty());
        if n + extra > hi && n >= lo {
            break;
        }
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&next);
        n += extra;
        last = next;
    }
    if n > hi {
        // Only when a single sentence is longer than the whole range: cut at a word if that
        // still fits the range, else at the character.
        let cut: String = s.chars().take(hi).collect();
        let at_word = cut.rfind(' ').map(|i| format!("{}.", cut[..i].trim_end_matches([',', '.', '!', '?'])));
        s = match at_word {
            Some(w) if (lo..=hi).contains(&w.chars().count()) => w,
            _ => cut,
        };
    }
    s
}

/// Who a character is and how they sound, for casting a voice.
pub fn character_description(rng: &mut Rng) -> String {
    let role = one(rng, ROLES);
    let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) { "An" } else { "A" };
    format!("{article} {} {role}, with {}.", one(rng, ADJECTIVES), one(rng, VOICES))
}

/// 2–4 sentences of what happened, naming every one of `names` at least once.
pub fn summary(rng: &mut Rng, names: &[String]) -> String {
    let k = rng.range(2, 4) as usize;
    let mut groups: Vec<Vec<&str>> = vec![Vec::new(); k];
    for (i, n) in names.iter().enumerate() {
        groups[i % k].push(n);
    }
    groups
        .iter()
        .map(|g| {
            if g.is_empty() {
                return sentence(rng);
            }
            let who = match g.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => unreachable!(),
            };
            let mut s = format!("{who} {} the {} {}", one(rng, VERBS), one(rng, ADJECTIVES), one(rng, NOUNS));
            if rng.chance(0.7) {
                s.push(' ');
                s.push_str(one(rng, ENDINGS));
            }
            s.push('.');
            s
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn sentences(rng: &mut Rng, lo: u64, hi: u64) -> String {
    let n = rng.range(lo, hi);
    (0..n).map(|_| sentence(rng)).collect::<Vec<_>>().join(" ")
}

pub fn title(rng: &mut Rng) -> String {
    let noun = capitalise(one(rng, NOUNS));
    match rng.range(0, 2) {
        0 => format!("The {} {}", capitalise(one(rng, ADJECTIVES)), noun),
        1 => format!("{} of the {}", noun, capitalise(one(rng, NOUNS))),
        _ => format!("The {noun}"),
    }
}

pub fn word(rng: &mut Rng) -> String {
    one(rng, ADJECTIVES).to_string()
}

pub fn direction(rng: &mut Rng) -> String {
    one(rng, DIRECTIONS).to_string()
}

/// `n` distinct character names, in a seed-dependent order.
pub fn cast(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut pool: Vec<&str> = NAMES.to_vec();
    let mut out = Vec::new();
    while out.len() < n {
        if pool.is_empty() {
            // More characters than the pool holds: number the extras so names stay distinct.
            out.push(format!("{} {}", NAMES[out.len() % NAMES.len()], out.len() + 1));
            continue;
        }
        let i = rng.range(0, pool.len() as u64 - 1) as usize;
        out.push(pool.remove(i).to_string());
    }
    out
}

fn one(rng: &mut Rng, list: &[&'static str]) -> &'static str {
    list[rng.range(0, list.len() as u64 - 1) as usize]
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_names_are_distinct_even_past_the_pool() {
        let mut rng = Rng::from_bytes(b"c");
        let names = cast(&mut rng, 20);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
    }

    #[test]
    fn text_between_respects_its_range() {
        let cast = vec!["Mara".to_string(), "Tobin".to_string()];
        let mut rng = Rng::from_bytes(b"t");
        for (lo, hi) in [(40, 300), (40, 60), (1, 10), (150, 151), (300, 300)] {
            for _ in 0..200 {
                let t = text_between(&mut rng, lo, hi, |r| narration_sentence(r, &cast));
                let n = t.chars().count();
                assert!((lo..=hi).contains(&n), "{lo}..={hi}: {n} {t:?}");
            }
        }
        for _ in 0..100 {
            let d = dialogue_sentence(&mut rng, &[]);
            assert!(!d.contains('{') && d.ends_with(['.', '?', '!']), "{d}");
            assert!(!dialogue_sentence(&mut rng, &cast).contains('{'));
        }
    }

    #[test]
    fn summaries_name_everyone_in_two_to_four_sentences() {
        let mut rng = Rng::from_bytes(b"u");
        let names: Vec<String> = ["Mara", "Tobin", "Elspeth", "Jonah", "Iris"].map(String::from).to_vec();
        for n in 0..=5 {
            let s = summary(&mut rng, &names[..n]);
            let count = s.matches(". ").count() + 1;
            assert!((2..=4).contains(&count) && s.ends_with('.'), "{s}");
            assert!(names[..n].iter().all(|m| s.contains(m.as_str())), "{s}");
        }
    }

    #[test]
    fn sentences_end_with_a_full_stop() {
        let mut rng = Rng::from_bytes(b"s");
        let s = sentences(&mut rng, 2, 2);
        assert!(s.ends_with('.') && s.matches('.').count() == 2, "{s}");
    }
}
