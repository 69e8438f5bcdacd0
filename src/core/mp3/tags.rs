//! Everything in an MP3 file that is not audio: ID3v2 tags at the start, APEv2 and ID3v1 tags at
//! the end, the Xing/Info (LAME) or VBRI header frame, and the magic numbers of other formats a
//! provider might send instead of MP3 (so the error can say what arrived).

use super::frame::Header;
use super::Mp3Error;

/// Where the audio starts: after every ID3v2 tag at the front (there may be several; each may
/// carry a footer). A tag that claims more bytes than exist is a truncated download.
pub fn skip_id3v2(b: &[u8]) -> Result<usize, Mp3Error> {
    let mut pos = 0;
    while let Some(len) = id3v2_len(&b[pos..]) {
        if pos + len > b.len() {
            return Err(Mp3Error::Truncated(format!("ID3v2 tag of {len} bytes, only {} present", b.len() - pos)));
        }
        pos += len;
    }
    Ok(pos)
}

/// Total bytes of the ID3v2 tag at the start of `b` (header, body and footer), if one is there.
fn id3v2_len(b: &[u8]) -> Option<usize> {
    if b.len() < 10 || &b[..3] != b"ID3" || b[3] == 0xFF || b[4] == 0xFF {
        return None;
    }
    if b[6..10].iter().any(|&x| x & 0x80 != 0) {
        return None; // sizes are synchsafe; a high bit means this is not a tag header
    }
    let size = b[6..10].iter().fold(0usize, |acc, &x| (acc << 7) | x as usize);
    let footer = if b[3] >= 4 && b[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// Where the audio ends: before an ID3v1 tag ("TAG", 128 bytes) and an APEv2 tag, which may come
/// in either order at the end of a file.
pub fn audio_end(b: &[u8], start: usize) -> usize {
    let mut end = b.len();
    loop {
        let region = &b[start..end];
        if region.len() >= 128 && &region[region.len() - 128..][..3] == b"TAG" {
            end -= 128;
        } else if let Some(len) = ape_len(region) {
            end -= len;
        } else {
            return end;
        }
    }
}

/// Total bytes of an APEv2 tag ending at the end of `b`: its 32-byte footer states the size of
/// items plus footer, and a flag says whether a 32-byte header precedes them.
fn ape_len(b: &[u8]) -> Option<usize> {
    let footer = b.get(b.len().checked_sub(32)?..)?;
    if &footer[..8] != b"APETAGEX" {
        return None;
    }
    let size = u32::from_le_bytes(footer[12..16].try_into().ok()?) as usize;
    let flags = u32::from_le_bytes(footer[20..24].try_into().ok()?);
    let total = size.checked_add(if flags & 0x8000_0000 != 0 { 32 } else { 0 })?;
    (total >= 32 && total <= b.len()).then_some(total)
}

/// Whether this frame is an encoder's information frame (Xing/Info, with or without a LAME
/// extension, or Fraunhofer's VBRI) rather than audio.
pub fn is_info_frame(frame: &[u8], h: &Header) -> bool {
    // The Xing tag sits right after the side information; encoders never protect this frame,
    // but look behind a CRC too in case one did.
    let at = 4 + h.side_info_len();
    let tag = |o: usize| frame.get(o..o + 4);
    [at, at + 2].iter().any(|&o| matches!(tag(o), Some(b"Xing") | Some(b"Info"))) || tag(36) == Some(b"VBRI")
}

/// A short name for a non-MP3 format recognised by its first bytes.
pub fn sniff_other(b: &[u8]) -> Option<&'static str> {
    let trimmed = b.iter().position(|c| !c.is_ascii_whitespace()).map_or(&[][..], |i| &b[i..]);
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some("WAV audio")
    } else if b.starts_with(b"OggS") {
        Some("Ogg audio")
    } else if b.starts_with(b"fLaC") {
        Some("FLAC audio")
    } else if b.len() >= 8 && &b[4..8] == b"ftyp" {
        Some("MP4/M4A audio")
    } else if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("WebM/Matroska")
    } else if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        Some("JSON text")
    } else if trimmed.starts_with(b"<") {
        Some("HTML/XML text")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id3(version: u8, flags: u8, body: usize) -> Vec<u8> {
        let s = body as u32;
        let mut v = vec![b'I', b'D', b'3', version, 0, flags];
        v.extend([(s >> 21) as u8 & 0x7F, (s >> 14) as u8 & 0x7F, (s >> 7) as u8 & 0x7F, s as u8 & 0x7F]);
        v.resize(10 + body, 0);
        v
    }

    #[test]
    fn id3v2_sizes() {
        let mut b = id3(3, 0, 300);
        b.extend([0xFF, 0xFB]);
        assert_eq!(skip_id3v2(&b), Ok(310));
        // v2.4 footer flag adds ten bytes.
        let mut b = id3(4, 0x10, 200);
        b.extend(b"3DI\x04\x00\x10\x00\x00\x01\x48");
        assert_eq!(skip_id3v2(&b), Ok(220));
        // Two tags in a row.
        let mut b = id3(3, 0, 20);
        b.extend(id3(4, 0, 5));
        assert_eq!(skip_id3v2(&b), Ok(45));
        // Claims more than is there.
        let b = id3(3, 0, 300);
        assert!(matches!(skip_id3v2(&b[..100]), Err(Mp3Error::Truncated(_))));
        // Not synchsafe: not a tag.
        let mut b = id3(3, 0, 0);
        b[9] = 0x80;
        assert_eq!(skip_id3v2(&b), Ok(0));
        assert_eq!(skip_id3v2(b"ID3"), Ok(0));
    }

    #[test]
    fn trailing_tags() {
        let mut b = vec![1u8; 1000];
        assert_eq!(audio_end(&b, 0), 1000);
        let mut v1 = b"TAG".to_vec();
        v1.resize(128, b' ');
        b.extend(&v1);
        assert_eq!(audio_end(&b, 0), 1000);
        // APE with header, then ID3v1 after it.
        let mut b = vec![1u8; 1000];
        let mut ape = b"APETAGEX".to_vec();
        ape.resize(32, 0);
        ape.extend([0u8; 10]); // items
        let mut footer = b"APETAGEX".to_vec();
        footer.extend(2000u32.to_le_bytes());
        footer.extend(42u32.to_le_bytes());
        footer.extend(1u32.to_le_bytes());
        footer.extend(0x8000_0000u32.to_le_bytes());
        footer.resize(32, 0);
        ape.extend(footer);
        b.extend(&ape);
        b.extend(&v1);
        assert_eq!(audio_end(&b, 0), 1000);
        // A tag cannot reach before the start.
        assert_eq!(audio_end(&v1, 0), 0);
        assert_eq!(audio_end(&b"APETAGEX"[..], 0), 8);
    }

    #[test]
    fn sniffs_other_formats() {
        assert_eq!(sniff_other(b"RIFF\0\0\0\0WAVEfmt "), Some("WAV audio"));
        assert_eq!(sniff_other(b"  {\"error\": 1}"), Some("JSON text"));
        assert_eq!(sniff_other(b"<html>"), Some("HTML/XML text"));
        assert_eq!(sniff_other(&[0xFF, 0xFB, 0x50, 0xC4]), None);
        assert_eq!(sniff_other(b""), None);
    }
}
