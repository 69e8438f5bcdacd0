//! Readable filler text from a small story vocabulary, so generated scripts and summaries look
//! like stories to a human skimming logs or listening to the audio.
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

pub fn sentence(rng: &mut Rng) -> String {
    let mut s = format!("{} {} the {} {}", one(rng, SUBJECTS), one(rng, VERBS), one(rng, ADJECTIVES), one(rng, NOUNS));
    if rng.chance(0.6) {
        s.push(' ');
        s.push_str(one(rng, ENDINGS));
    }
    s.push('.');
    s
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
    fn sentences_end_with_a_full_stop() {
        let mut rng = Rng::from_bytes(b"s");
        let s = sentences(&mut rng, 2, 2);
        assert!(s.ends_with('.') && s.matches('.').count() == 2, "{s}");
    }
}
