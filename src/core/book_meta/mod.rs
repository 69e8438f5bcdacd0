//! What a download says about itself besides its audio: the ID3v2 tag written in front of the
//! stored MP3 at download time (`id3`), the cover image it may carry (`cover`), and how a byte
//! range of tag-plus-object maps onto the pieces it is read from (`splice`).

pub mod cover;
pub mod id3;
pub mod splice;

use id3::{Picture, TagMeta};
use serde::Serialize;

/// A stored cover as a story row records it (migration 0009).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverFacts {
    pub content_type: String,
    pub bytes: u64,
    /// Names the R2 object (`cover_key`); not part of the story's JSON.
    #[serde(skip)]
    pub sha256: String,
}

/// Where a cover's bytes live: under the story's prefix (so deleting the story removes it) and
/// named by their hash, so a row always names the bytes it describes.
pub fn cover_key(story_id: &str, sha256: &str) -> String {
    format!("stories/{story_id}/cover/{sha256}")
}

/// What every download of one story says about the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Album {
    pub title: String,
    pub author: Option<String>,
    pub num_chapters: u32,
    pub cover: Option<CoverFacts>,
}

impl Album {
    /// The title players show for the book; an untitled story still has one.
    pub fn book_title(&self) -> &str {
        if self.title.trim().is_empty() { "talecast" } else { &self.title }
    }

    fn picture(&self) -> Option<Picture<'_>> {
        self.cover.as_ref().map(|c| Picture { mime: &c.content_type, len: c.bytes })
    }

    /// Chapter `number`'s tag: its title, the book as album, the author, n/total.
    pub fn chapter_tag(&self, number: u32, title: &str) -> id3::TagHead {
        id3::chapter_tag(&TagMeta {
            title,
            album: self.book_title(),
            artist: self.author.as_deref(),
            track: Some((number, self.num_chapters)),
            picture: self.picture(),
        })
    }

    /// The whole book's tag, with its chapter marks.
    pub fn book_tag(&self, marks: &[id3::ChapterMark]) -> id3::TagHead {
        let meta = TagMeta { title: self.book_title(), album: self.book_title(), artist: self.author.as_deref(), track: None, picture: self.picture() };
        id3::book_tag(&meta, marks)
    }
}

/// A chapter's title as downloads and the feed show it.
pub fn chapter_title(number: u32, title: Option<&str>) -> String {
    match title.map(str::trim) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => format!("Chapter {number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn album(title: &str, author: Option<&str>, cover: Option<u64>) -> Album {
        Album {
            title: title.into(),
            author: author.map(Into::into),
            num_chapters: 3,
            cover: cover.map(|bytes| CoverFacts { content_type: "image/png".into(), bytes, sha256: "ab".repeat(32) }),
        }
    }

    #[test]
    fn a_chapter_tag_says_its_place_in_the_book() {
        let a = album("The Lighthouse", Some("Ada"), Some(500));
        let head = a.chapter_tag(2, "The Storm");
        assert_eq!(head.tag_len, head.bytes.len() as u64 + 500);
        let text = String::from_utf8_lossy(&head.bytes);
        assert!(text.contains("TRCK") && text.contains("2/3") && text.contains("APIC") && text.contains("image/png"), "{text}");
        // Without author and cover: no TPE1, no APIC, and the tag is all in memory.
        let bare = album("", None, None).chapter_tag(1, "One");
        assert_eq!(bare.tag_len, bare.bytes.len() as u64);
        let text = String::from_utf8_lossy(&bare.bytes);
        assert!(!text.contains("TPE1") && !text.contains("APIC"), "{text}");
    }

    #[test]
    fn names_when_there_are_none() {
        assert_eq!(album("  ", None, None).book_title(), "talecast");
        assert_eq!(chapter_title(4, None), "Chapter 4");
        assert_eq!(chapter_title(4, Some(" ")), "Chapter 4");
        assert_eq!(chapter_title(4, Some(" The End ")), "The End");
        assert_eq!(cover_key("s", "ff"), "stories/s/cover/ff");
    }
}
