//! A download made of three pieces, one after another: the tag's head (in memory), the cover's
//! bytes (an object), the stored MP3 (another object). A byte range of the whole maps onto a
//! slice of each piece it touches, so a range past the tag reads the audio only, and one inside
//! the head reads nothing from storage but the audio's size and tag.

use sha2::{Digest, Sha256};

/// Sizes of the pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    pub head: u64,
    pub cover: u64,
    pub audio: u64,
}

/// The parts of each piece that a range covers, as (offset, length) within the piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parts {
    pub head: Option<(u64, u64)>,
    pub cover: Option<(u64, u64)>,
    pub audio: Option<(u64, u64)>,
}

impl Splice {
    pub fn total(self) -> u64 {
        self.head + self.cover + self.audio
    }

    /// The tag: head and cover.
    pub fn tag_len(self) -> u64 {
        self.head + self.cover
    }

    /// Bytes `start..=end_inclusive` of the whole (within `total`).
    pub fn parts(self, start: u64, end_inclusive: u64) -> Parts {
        let end = end_inclusive.saturating_add(1).min(self.total());
        let mut at = 0;
        let mut cut = |len: u64| {
            let (from, to) = (start.max(at), end.min(at + len));
            let part = (from < to).then(|| (from - at, to - from));
            at += len;
            part
        };
        Parts { head: cut(self.head), cover: cut(self.cover), audio: cut(self.audio) }
    }
}

/// The entity tag of a spliced download: the stored object's own tag (which R2 can check a
/// conditional read against) and a short hash of everything in front of it, so any change of
/// the metadata or the cover makes a new tag while the audio's part stays comparable.
/// `object_etag` may come quoted.
pub fn etag(object_etag: &str, head: &[u8], cover_sha256: Option<&str>) -> String {
    format!("\"{}.{}\"", object_etag.trim_matches('"'), meta_hash(head, cover_sha256))
}

/// What an `If-Range` asks for, against this download's metadata: `Some(object tag)` when it
/// is a strong tag of this splice (so the object read can be made conditional on it), `None`
/// when it cannot match (weak, a date, another metadata version): the whole download.
pub fn if_range_object_tag(if_range: &str, head: &[u8], cover_sha256: Option<&str>) -> Option<String> {
    let t = if_range.trim();
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    let (object, meta) = inner.rsplit_once('.')?;
    (meta == meta_hash(head, cover_sha256) && !object.is_empty()).then(|| object.to_string())
}

fn meta_hash(head: &[u8], cover_sha256: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(head);
    h.update(b"\ncover:");
    h.update(cover_sha256.unwrap_or("").as_bytes());
    crate::core::hex::hex(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Splice = Splice { head: 100, cover: 50, audio: 1000 };

    /// The bytes a range covers, rebuilt from its parts, equal the slice of the whole.
    #[test]
    fn parts_rebuild_every_range() {
        let whole: Vec<u8> = (0..S.total()).map(|i| (i % 251) as u8).collect();
        let (head, rest) = whole.split_at(100);
        let (cover, audio) = rest.split_at(50);
        let take = |piece: &[u8], p: Option<(u64, u64)>| p.map(|(o, l)| piece[o as usize..(o + l) as usize].to_vec()).unwrap_or_default();
        for (start, end) in [(0, 0), (0, 99), (99, 100), (100, 149), (149, 150), (0, 1149), (140, 160), (150, 1149), (1149, 1149), (90, 5000)] {
            let p = S.parts(start, end);
            let mut got = take(head, p.head);
            got.extend(take(cover, p.cover));
            got.extend(take(audio, p.audio));
            let end = (end as usize).min(whole.len() - 1);
            assert_eq!(got, whole[start as usize..=end], "{start}-{end}");
        }
    }

    #[test]
    fn a_range_past_the_tag_reads_only_the_audio() {
        assert_eq!(S.parts(150, 199), Parts { head: None, cover: None, audio: Some((0, 50)) });
        assert_eq!(S.parts(10, 20), Parts { head: Some((10, 11)), cover: None, audio: None });
        assert_eq!(S.parts(120, 130), Parts { head: None, cover: Some((20, 11)), audio: None });
        let no_cover = Splice { cover: 0, ..S };
        assert_eq!(no_cover.parts(99, 100), Parts { head: Some((99, 1)), cover: None, audio: Some((0, 1)) });
        assert_eq!((S.total(), S.tag_len()), (1150, 150));
    }

    #[test]
    fn the_tag_follows_metadata_and_cover() {
        let a = etag("\"abc\"", b"head", None);
        assert!(a.starts_with("\"abc.") && a.ends_with('"') && a.len() == 2 + 3 + 1 + 16, "{a}");
        assert_eq!(a, etag("abc", b"head", None));
        assert_ne!(a, etag("abc", b"head2", None));
        assert_ne!(a, etag("abc", b"head", Some("ff")));
        assert_ne!(a, etag("abd", b"head", None));
    }

    #[test]
    fn if_range_matches_only_this_metadata() {
        let t = etag("abc-2", b"head", Some("ff"));
        assert_eq!(if_range_object_tag(&t, b"head", Some("ff")), Some("abc-2".into()));
        assert_eq!(if_range_object_tag(&format!(" {t} "), b"head", Some("ff")), Some("abc-2".into()));
        assert_eq!(if_range_object_tag(&t, b"other", Some("ff")), None);
        assert_eq!(if_range_object_tag(&t, b"head", None), None);
        assert_eq!(if_range_object_tag(&format!("W/{t}"), b"head", Some("ff")), None);
        assert_eq!(if_range_object_tag("\"abc\"", b"head", Some("ff")), None);
        assert_eq!(if_range_object_tag("Tue, 01 Dec 2026 10:00:00 GMT", b"head", Some("ff")), None);
    }
}
