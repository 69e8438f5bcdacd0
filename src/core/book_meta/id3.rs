//! ID3v2 tags for downloads: a chapter's (title, album, artist, track, cover) and the whole
//! book's, which adds chapters as the ID3v2 Chapter addendum defines them (one `CHAP` frame per
//! chapter, one top-level ordered `CTOC` listing them), shown by podcast and audiobook players
//! as a chapter list.
//!
//! Version 2.3, not 2.4: in 2.4 frame sizes are synchsafe, also those of the frames nested in
//! CHAP/CTOC, but FFmpeg (checked with ffprobe 5.1) reads nested sizes as plain integers, so a
//! chapter title of 127 bytes or more made it drop the chapter. In 2.3 every frame size is a
//! plain integer and both readings agree. Text is UTF-16 with a byte-order mark, the Unicode
//! encoding 2.3 has.
//!
//! A tag is written up to, not including, the cover's bytes: `APIC` is the last frame and the
//! picture its last field, so the caller streams the cover from storage right after the head,
//! and the tag's length is known from the picture's recorded size without reading it.

/// One chapter: `id` is its element id (unique within the tag, e.g. "ch1").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapterMark {
    pub id: String,
    pub title: String,
    pub start_ms: u32,
    pub end_ms: u32,
}

/// The cover as the tag needs it: its MIME type and size; its bytes follow the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture<'a> {
    pub mime: &'a str,
    pub len: u64,
}

/// The text frames and the picture of a tag. Empty texts are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMeta<'a> {
    /// TIT2.
    pub title: &'a str,
    /// TALB.
    pub album: &'a str,
    /// TPE1.
    pub artist: Option<&'a str>,
    /// TRCK as "n/total".
    pub track: Option<(u32, u32)>,
    /// APIC.
    pub picture: Option<Picture<'a>>,
}

/// The head of a tag: every byte before the picture's data, and the whole tag's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagHead {
    pub bytes: Vec<u8>,
    /// `bytes.len()` plus the picture's length: what the tag adds in front of the audio.
    pub tag_len: u64,
}

/// The table of contents' element id; chapter ids must differ from it.
const TOC_ID: &str = "toc";

/// CTOC flags: bit 1 top-level, bit 0 ordered.
const CTOC_TOP_LEVEL_ORDERED: u8 = 0b11;

/// APIC picture type 3: front cover.
const FRONT_COVER: u8 = 3;

/// A chapter download's tag: TIT2, TALB, TPE1, TRCK, APIC as `meta` has them.
pub fn chapter_tag(meta: &TagMeta) -> TagHead {
    let body = text_frames(meta);
    finish(body, meta.picture)
}

/// The whole book's tag: the text frames, then a top-level ordered CTOC (child ids = chapter
/// ids, TIT2 = `meta.title`) and one CHAP per chapter (start/end in ms, byte offsets unset,
/// TIT2 = chapter title), then APIC.
///
/// Element ids are NUL-terminated Latin-1 strings, so ids keep only printable ASCII and titles
/// lose NULs; an id left empty, repeated, or equal to the table's own id becomes `ch<n>`
/// (1-based position). A CTOC counts its entries in one byte, so it lists the first 255
/// chapters (every chapter still gets its CHAP).
pub fn book_tag(meta: &TagMeta, chapters: &[ChapterMark]) -> TagHead {
    let ids = element_ids(chapters);
    let mut body = text_frames(meta);

    let mut toc = Vec::new();
    toc.extend_from_slice(TOC_ID.as_bytes());
    toc.push(0);
    toc.push(CTOC_TOP_LEVEL_ORDERED);
    toc.push(ids.len().min(255) as u8);
    for id in ids.iter().take(255) {
        toc.extend_from_slice(id.as_bytes());
        toc.push(0);
    }
    frame(&mut toc, b"TIT2", &text(meta.title));
    frame(&mut body, b"CTOC", &toc);

    for (c, id) in chapters.iter().zip(&ids) {
        let mut chap = Vec::new();
        chap.extend_from_slice(id.as_bytes());
        chap.push(0);
        chap.extend_from_slice(&c.start_ms.to_be_bytes());
        chap.extend_from_slice(&c.end_ms.max(c.start_ms).to_be_bytes());
        chap.extend_from_slice(&u32::MAX.to_be_bytes()); // start byte offset: not given
        chap.extend_from_slice(&u32::MAX.to_be_bytes()); // end byte offset: not given
        frame(&mut chap, b"TIT2", &text(&c.title));
        frame(&mut body, b"CHAP", &chap);
    }
    finish(body, meta.picture)
}

fn text_frames(meta: &TagMeta) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, value) in [(b"TIT2", Some(meta.title)), (b"TALB", Some(meta.album)), (b"TPE1", meta.artist)] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            frame(&mut body, id, &text(v));
        }
    }
    if let Some((n, total)) = meta.track {
        frame(&mut body, b"TRCK", &latin1(&format!("{n}/{}", total.max(n))));
    }
    body
}

/// Appends the APIC frame's head (its data is the picture, which follows) and puts the tag
/// header in front: the size it states counts the picture too.
fn finish(mut body: Vec<u8>, picture: Option<Picture>) -> TagHead {
    let mut picture_len = 0;
    if let Some(p) = picture {
        let mime: String = p.mime.chars().filter(|c| c.is_ascii_graphic()).collect();
        let mut fields = vec![0u8]; // encoding: Latin-1, for the empty description
        fields.extend_from_slice(mime.as_bytes());
        fields.extend_from_slice(&[0, FRONT_COVER, 0]);
        body.extend_from_slice(b"APIC");
        body.extend_from_slice(&((fields.len() as u64 + p.len) as u32).to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&fields);
        picture_len = p.len;
    }
    let size = body.len() as u64 + picture_len;
    let mut bytes = Vec::with_capacity(10 + body.len());
    bytes.extend_from_slice(b"ID3");
    bytes.extend_from_slice(&[3, 0, 0]); // v2.3.0, no flags
    bytes.extend_from_slice(&synchsafe(size)); // the tag's own size is synchsafe in 2.3 too
    bytes.extend_from_slice(&body);
    TagHead { tag_len: bytes.len() as u64 + picture_len, bytes }
}

fn element_ids(chapters: &[ChapterMark]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(chapters.len());
    for (i, c) in chapters.iter().enumerate() {
        let id: String = c.id.chars().filter(|ch| ch.is_ascii_graphic()).collect();
        let id = if id.is_empty() || id == TOC_ID || ids.contains(&id) { format!("ch{}", i + 1) } else { id };
        ids.push(id);
    }
    ids
}

/// A text frame's content: encoding byte 1 (UTF-16 with BOM), then little-endian UTF-16.
fn text(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(3 + 2 * s.len());
    v.extend_from_slice(&[1, 0xFF, 0xFE]);
    for unit in s.encode_utf16().filter(|&u| u != 0) {
        v.extend_from_slice(&unit.to_le_bytes());
    }
    v
}

/// A text frame's content for ASCII (a track number): encoding byte 0, Latin-1.
fn latin1(s: &str) -> Vec<u8> {
    let mut v = vec![0];
    v.extend(s.bytes().filter(|b| b.is_ascii() && *b != 0));
    v
}

/// Appends a v2.3 frame: id, size as a plain 32-bit integer, no flags.
fn frame(out: &mut Vec<u8>, id: &[u8; 4], content: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(content.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(content);
}

/// The tag size: seven bits per byte, so no size byte can look like an MPEG sync; 28 bits.
fn synchsafe(n: u64) -> [u8; 4] {
    let n = n.min((1 << 28) - 1) as u32;
    [(n >> 21) as u8 & 0x7F, (n >> 14) as u8 & 0x7F, (n >> 7) as u8 & 0x7F, n as u8 & 0x7F]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(id: &str, title: &str, start_ms: u32, end_ms: u32) -> ChapterMark {
        ChapterMark { id: id.into(), title: title.into(), start_ms, end_ms }
    }

    fn titled(title: &str) -> TagMeta<'_> {
        TagMeta { title, album: "", artist: None, track: None, picture: None }
    }

    /// Splits a v2.3 frame list into (id, content) pairs.
    fn frames(mut b: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while b.len() >= 10 {
            let size = u32::from_be_bytes(b[4..8].try_into().unwrap()) as usize;
            out.push((String::from_utf8(b[..4].to_vec()).unwrap(), b[10..10 + size].to_vec()));
            b = &b[10 + size..];
        }
        assert!(b.is_empty());
        out
    }

    fn utf16(s: &str) -> Vec<u8> {
        let mut v = vec![1, 0xFF, 0xFE];
        v.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        v
    }

    fn tag_size(tag: &[u8]) -> usize {
        tag[6..10].iter().fold(0usize, |a, &x| (a << 7) | x as usize)
    }

    #[test]
    fn layout() {
        let tag = book_tag(&titled("Book"), &[mark("ch1", "One", 0, 1500), mark("ch2", "Two", 1500, 4000)]).bytes;
        assert_eq!(&tag[..6], b"ID3\x03\x00\x00");
        assert_eq!(tag_size(&tag), tag.len() - 10);
        let f = frames(&tag[10..]);
        let ids: Vec<&str> = f.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["TIT2", "CTOC", "CHAP", "CHAP"]);
        assert_eq!(f[0].1, utf16("Book"));
        let toc = &f[1].1;
        assert_eq!(&toc[..7], b"toc\0\x03\x02c");
        assert_eq!(&toc[6..14], b"ch1\0ch2\0");
        assert_eq!(frames(&toc[14..]), [("TIT2".to_string(), utf16("Book"))]);
        let chap = &f[3].1;
        assert_eq!(&chap[..4], b"ch2\0");
        assert_eq!(&chap[4..12], &[0, 0, 0x05, 0xDC, 0, 0, 0x0F, 0xA0]);
        assert_eq!(&chap[12..20], &[0xFF; 8]);
        assert_eq!(frames(&chap[20..]), [("TIT2".to_string(), utf16("Two"))]);
    }

    #[test]
    fn sizes() {
        assert_eq!(synchsafe(127), [0, 0, 0, 127]);
        assert_eq!(synchsafe(128), [0, 0, 1, 0]);
        assert_eq!(synchsafe(300_000), [0, 0x12, 0x27, 0x60]);
        // Frame sizes are plain integers: a 403-byte title frame says 0x193.
        let long = "é".repeat(200);
        let tag = book_tag(&titled(&long), &[mark("ch1", &long, 0, 1)]).bytes;
        assert_eq!(&tag[14..18], &[0, 0, 0x01, 0x93]);
        let f = frames(&tag[10..]);
        assert_eq!(f[0].1, utf16(&long));
        // Characters outside the BMP take surrogate pairs; NULs are dropped.
        assert_eq!(text("a\0🎧"), [1, 0xFF, 0xFE, b'a', 0, 0x3C, 0xD8, 0xA7, 0xDF]);
    }

    #[test]
    fn a_chapter_tag_has_every_text_frame_and_no_table() {
        let meta = TagMeta { title: "The Storm", album: "The Lighthouse", artist: Some("Ada"), track: Some((3, 12)), picture: None };
        let head = chapter_tag(&meta);
        assert_eq!(head.tag_len, head.bytes.len() as u64);
        assert_eq!(tag_size(&head.bytes), head.bytes.len() - 10);
        let f = frames(&head.bytes[10..]);
        assert_eq!(
            f,
            [
                ("TIT2".to_string(), utf16("The Storm")),
                ("TALB".to_string(), utf16("The Lighthouse")),
                ("TPE1".to_string(), utf16("Ada")),
                ("TRCK".to_string(), b"\x003/12".to_vec()),
            ]
        );
        // Empty texts and a missing artist or track leave their frames out.
        let bare = chapter_tag(&TagMeta { title: "T", album: "", artist: Some(""), track: None, picture: None });
        assert_eq!(frames(&bare.bytes[10..]).len(), 1);
    }

    #[test]
    fn the_picture_ends_the_tag_and_counts_in_its_size() {
        let cover = [0xFFu8, 0xD8, 0xFF, 0xD9, 7, 7, 7];
        let meta = TagMeta {
            title: "One",
            album: "Book",
            artist: None,
            track: Some((1, 2)),
            picture: Some(Picture { mime: "image/jpeg", len: cover.len() as u64 }),
        };
        for head in [chapter_tag(&meta), book_tag(&meta, &[mark("ch1", "One", 0, 10)])] {
            assert_eq!(head.tag_len, head.bytes.len() as u64 + cover.len() as u64);
            let mut whole = head.bytes.clone();
            whole.extend_from_slice(&cover);
            assert_eq!(tag_size(&whole), whole.len() - 10, "the header counts the picture");
            let f = frames(&whole[10..]);
            let (id, apic) = f.last().unwrap();
            assert_eq!(id, "APIC");
            // Latin-1, MIME type, NUL, front cover, empty description, the picture.
            let mut expected = b"\x00image/jpeg\x00\x03\x00".to_vec();
            expected.extend_from_slice(&cover);
            assert_eq!(apic, &expected);
            // The frame header says 1 + 10 + 1 + 1 + 1 + 7 = 21 bytes.
            let at = whole.len() - apic.len() - 6;
            assert_eq!(&whole[at..at + 4], &[0, 0, 0, 21]);
        }
    }

    #[test]
    fn a_large_picture_has_a_plain_frame_size_and_a_synchsafe_tag_size() {
        let len = 2 * 1024 * 1024;
        let head = chapter_tag(&TagMeta { title: "x", album: "", artist: None, track: None, picture: Some(Picture { mime: "image/png", len }) });
        let n = head.bytes.len();
        // APIC size: 1 + 9 + 1 + 1 + 1 + 2 MiB = 0x0020000D, as a plain integer.
        assert_eq!(&head.bytes[n - 13 - 6..n - 13 - 2], &[0x00, 0x20, 0x00, 0x0D]);
        assert_eq!(tag_size(&head.bytes) as u64, head.tag_len - 10);
        assert!(head.bytes[6..10].iter().all(|b| b & 0x80 == 0));
    }

    #[test]
    fn ids_are_made_usable() {
        let ids = element_ids(&[
            mark("a\0b", "", 0, 0),
            mark(" é", "", 0, 0),
            mark("ab", "", 0, 0),
            mark("toc", "", 0, 0),
            mark("x-1", "", 0, 0),
        ]);
        assert_eq!(ids, ["ab", "ch2", "ch3", "ch4", "x-1"]);
        let many: Vec<_> = (0..300).map(|i| mark(&format!("c{i}"), "t", i, i + 1)).collect();
        let tag = book_tag(&titled("B"), &many).bytes;
        let f = frames(&tag[10..]);
        assert_eq!(f.len(), 2 + 300);
        assert_eq!(f[1].1[5], 255);
    }

    #[test]
    fn empty_book_still_has_a_title() {
        let tag = book_tag(&titled("T"), &[]).bytes;
        assert_eq!(frames(&tag[10..]).len(), 2);
    }
}
