//! A story's pronunciations: whole-word, case-sensitive replacements applied to the text sent to
//! TTS (the stored script keeps what the person wrote).
//!
//! Hand-written rather than a regex: the `regex` crate adds a few hundred KiB to a Worker whose
//! size is being cut, and the rule is simple enough to state and test directly.
//!
//! The rule, in one left-to-right pass over the text:
//! - a phrase matches where it occurs exactly (case-sensitive) and is neither preceded nor
//!   followed by a word character (a Unicode letter or digit, or `_`);
//! - where several phrases match at the same place, the longest wins; the leftmost match comes
//!   first, so of two overlapping matches the earlier one is taken;
//! - the replacement is not scanned again, so replacements never chain.

use std::borrow::Cow;
use std::collections::BTreeMap;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The phrases longest first, so the first hit at a position is the longest one.
fn by_length(map: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = map.iter().filter(|(k, _)| !k.is_empty()).map(|(k, r)| (k.as_str(), r.as_str())).collect();
    v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
    v
}

/// The longest phrase that matches at byte `i` of `text` as a whole word, with its replacement.
fn match_at<'m>(text: &str, i: usize, phrases: &[(&str, &'m str)]) -> Option<(usize, &'m str)> {
    if text[..i].chars().next_back().is_some_and(is_word) {
        return None;
    }
    let rest = &text[i..];
    phrases
        .iter()
        .find(|(p, _)| rest.starts_with(p) && !rest[p.len()..].chars().next().is_some_and(is_word))
        .map(|(p, r)| (p.len(), *r))
}

/// `text` with every pronunciation applied; borrowed as it is when nothing matches.
pub fn apply<'a>(text: &'a str, map: &BTreeMap<String, String>) -> Cow<'a, str> {
    if map.is_empty() {
        return Cow::Borrowed(text);
    }
    let phrases = by_length(map);
    let mut out: Option<String> = None;
    // `copied` is where the text not yet copied into `out` starts.
    let (mut i, mut copied) = (0, 0);
    while i < text.len() {
        if let Some((len, replacement)) = match_at(text, i, &phrases) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i]);
            o.push_str(replacement);
            i += len;
            copied = i;
            continue;
        }
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn run(text: &str, pairs: &[(&str, &str)]) -> String {
        apply(text, &map(pairs)).into_owned()
    }

    #[test]
    fn whole_words_only() {
        let p = [("Mara", "MAH-rah")];
        assert_eq!(run("Mara went home.", &p), "MAH-rah went home.");
        assert_eq!(run("Ask Mara, then Mara's dog.", &p), "Ask MAH-rah, then MAH-rah's dog.");
        assert_eq!(run("Maras and Tamara and Mara_2 and Mara2", &p), "Maras and Tamara and Mara_2 and Mara2");
        assert_eq!(run("(Mara)", &p), "(MAH-rah)");
        assert_eq!(run("Mara", &p), "MAH-rah");
    }

    #[test]
    fn case_sensitive() {
        assert_eq!(run("mara and MARA and Mara", &[("Mara", "X")]), "mara and MARA and X");
    }

    #[test]
    fn unicode_letters_are_word_characters() {
        let p = [("Élodie", "ay-lo-dee")];
        assert_eq!(run("Élodie sang.", &p), "ay-lo-dee sang.");
        // A letter outside ASCII next to the phrase makes it part of a longer word.
        assert_eq!(run("éÉlodie and Élodieé", &p), "éÉlodie and Élodieé");
        assert_eq!(run("Ωmega", &[("mega", "X")]), "Ωmega");
        assert_eq!(run("日本 and 日本語", &[("日本", "Nihon")]), "Nihon and 日本語");
        assert_eq!(run("«Élodie»", &p), "«ay-lo-dee»");
    }

    #[test]
    fn longest_phrase_wins() {
        let p = [("New", "Noo"), ("New York", "Noo Yawk")];
        assert_eq!(run("New York is new. New days.", &p), "Noo Yawk is new. Noo days.");
        // The longer phrase must itself end at a word boundary, else the shorter one applies.
        assert_eq!(run("New Yorker", &p), "Noo Yorker");
    }

    #[test]
    fn leftmost_match_first_when_matches_overlap() {
        let p = [("a b", "1"), ("b c", "2")];
        assert_eq!(run("a b c", &p), "1 c");
    }

    #[test]
    fn replacements_are_not_scanned_again() {
        let p = [("cat", "dog"), ("dog", "wolf")];
        assert_eq!(run("cat dog", &p), "dog wolf");
        assert_eq!(run("cat", &[("cat", "cat cat")]), "cat cat");
    }

    #[test]
    fn phrases_with_punctuation_at_their_ends() {
        let p = [("Dr.", "Doctor")];
        assert_eq!(run("Dr. Who and Dr.No", &p), "Doctor Who and Dr.No");
        assert_eq!(run("XDr. Who", &p), "XDr. Who");
    }

    #[test]
    fn nothing_to_replace_borrows() {
        assert!(matches!(apply("plain text", &map(&[("Mara", "X")])), Cow::Borrowed(_)));
        assert!(matches!(apply("plain text", &BTreeMap::new()), Cow::Borrowed(_)));
        assert_eq!(run("", &[("a", "b")]), "");
    }
}
