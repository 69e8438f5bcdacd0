//! The whole book's ID3v2 tag: its title, and chapters as the ID3v2 Chapter addendum defines
//! them (one `CHAP` frame per chapter, one top-level ordered `CTOC` listing them), which podcast
//! and audiobook players show as a chapter list.
//!
//! Version 2.3, not 2.4: in 2.4 frame sizes are synchsafe, also those of the frames nested in
//! CHAP/CTOC, but FFmpeg (checked with ffprobe 5.1) reads nested sizes as plain integers, so a
//! chapter title of 127 bytes or more made it drop the chapter. In 2.3 every frame size is a
//! plain integer and both readings agree. Text is UTF-16 with a byte-order mark, the Unicode
//! encoding 2.3 has.

/// One chapter: `id` is its element id (unique within the tag, e.g. "ch1").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapterMark {
    pub id: String,
    pub title: String,
    pub start_ms: u32,
    pub end_ms: u32,
}

/// The table of contents' element id; chapter ids must differ from it.
const TOC_ID: &str = "toc";

/// CTOC flags: bit 1 top-level, bit 0 ordered.
const CTOC_TOP_LEVEL_ORDERED: u8 = 0b11;

/// An ID3v2.3 tag with TIT2 (the book's title), a top-level ordered CTOC (child ids = chapter
/// ids, TIT2 = book title) and one CHAP per chapter (start/end in ms, byte offsets unset,
/// TIT2 = chapter title).
///
/// Element ids are NUL-terminated Latin-1 strings, so ids keep only printable ASCII and titles
/// lose NULs; an id left empty, repeated, or equal to the table's own id becomes `ch<n>`
/// (1-based position). A
/// CTOC counts its entries in one byte, so it lists the first 255 chapters (every chapter still
/// gets its CHAP).
pub fn book_tag(book_title: &str, chapters: &[ChapterMark]) -> Vec<u8> {
    let ids = element_ids(chapters);
    let mut body = Vec::new();
    frame(&mut body, b"TIT2", &text(book_title));

    let mut toc = Vec::new();
    toc.extend_from_slice(TOC_ID.as_bytes());
    toc.push(0);
    toc.push(CTOC_TOP_LEVEL_ORDERED);
    toc.push(ids.len().min(255) as u8);
    for id in ids.iter().take(255) {
        toc.extend_from_slice(id.as_bytes());
        toc.push(0);
    }
    frame(&mut toc, b"TIT2", &text(book_title));
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

    let mut tag = Vec::with_capacity(10 + body.len());
    tag.extend_from_slice(b"ID3");
    tag.extend_from_slice(&[3, 0, 0]); // v2.3.0, no flags
    tag.extend_from_slice(&synchsafe(body.len())); // the tag's own size is synchsafe in 2.3 too
    tag.extend_from_slice(&body);
    tag
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

/// Appends a v2.3 frame: id, size as a plain 32-bit integer, no flags.
fn frame(out: &mut Vec<u8>, id: &[u8; 4], content: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(content.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(content);
}

/// The tag size: seven bits per byte, so no size byte can look like an MPEG sync; 28 bits.
fn synchsafe(n: usize) -> [u8; 4] {
    let n = n.min((1 << 28) - 1) as u32;
    [(n >> 21) as u8 & 0x7F, (n >> 14) as u8 & 0x7F, (n >> 7) as u8 & 0x7F, n as u8 & 0x7F]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(id: &str, title: &str, start_ms: u32, end_ms: u32) -> ChapterMark {
        ChapterMark { id: id.into(), title: title.into(), start_ms, end_ms }
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

    #[test]
    fn layout() {
        let tag = book_tag("Book", &[mark("ch1", "One", 0, 1500), mark("ch2", "Two", 1500, 4000)]);
        assert_eq!(&tag[..6], b"ID3\x03\x00\x00");
        let size = tag[6..10].iter().fold(0usize, |a, &x| (a << 7) | x as usize);
        assert_eq!(size, tag.len() - 10);
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
        let tag = book_tag(&long, &[mark("ch1", &long, 0, 1)]);
        assert_eq!(&tag[14..18], &[0, 0, 0x01, 0x93]);
        let f = frames(&tag[10..]);
        assert_eq!(f[0].1, utf16(&long));
        // Characters outside the BMP take surrogate pairs; NULs are dropped.
        assert_eq!(text("a\0🎧"), [1, 0xFF, 0xFE, b'a', 0, 0x3C, 0xD8, 0xA7, 0xDF]);
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
        let tag = book_tag("B", &many);
        let f = frames(&tag[10..]);
        assert_eq!(f.len(), 2 + 300);
        assert_eq!(f[1].1[5], 255);
    }

    #[test]
    fn empty_book_still_has_a_title() {
        let tag = book_tag("", &[]);
        assert_eq!(frames(&tag[10..]).len(), 2);
    }
}
