//! A story's cover image, valid by construction: JPEG or PNG as declared, at most
//! `MAX_COVER_BYTES`, and its bytes really start an image of that type. The check reads the
//! header only (PNG: the signature and an IHDR chunk whose CRC holds; JPEG: SOI, then marker
//! segments up to a frame header, SOFn), which is what a tag reader and a podcast app rely on
//! to show it; decoding the pixels would need an image crate in the Worker for no gain.

use sha2::{Digest, Sha256};

pub const MAX_COVER_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
}

impl ImageType {
    pub fn mime(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
        }
    }

    /// The type a `Content-Type` header names (parameters and case ignored); `None` for any
    /// other, or none.
    pub fn from_content_type(header: Option<&str>) -> Option<ImageType> {
        let essence = header?.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" => Some(ImageType::Jpeg),
            "image/png" => Some(ImageType::Png),
            _ => None,
        }
    }

    /// The type a stored `content_type` column holds.
    pub fn from_mime(mime: &str) -> Option<ImageType> {
        Self::from_content_type(Some(mime))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoverError {
    /// Not `image/jpeg` or `image/png` (415).
    UnsupportedType,
    /// Over `MAX_COVER_BYTES` (413).
    TooLarge,
    /// The bytes are not an image of the declared type (422); the text says what is wrong.
    NotAnImage(String),
}

impl CoverError {
    pub fn message(&self) -> String {
        match self {
            CoverError::UnsupportedType => "a cover is sent as image/jpeg or image/png".into(),
            CoverError::TooLarge => format!("a cover is at most {MAX_COVER_BYTES} bytes (2 MiB)"),
            CoverError::NotAnImage(why) => format!("the body is not a valid image of its Content-Type: {why}"),
        }
    }
}

/// A checked cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    pub kind: ImageType,
    pub width: u32,
    pub height: u32,
    /// Lowercase hex SHA-256 of the bytes: names the stored object and tags its versions.
    pub sha256: String,
    pub bytes: Vec<u8>,
}

impl Cover {
    pub fn parse(kind: ImageType, bytes: Vec<u8>) -> Result<Cover, CoverError> {
        if bytes.len() > MAX_COVER_BYTES {
            return Err(CoverError::TooLarge);
        }
        let (width, height) = match kind {
            ImageType::Png => png_size(&bytes),
            ImageType::Jpeg => jpeg_size(&bytes),
        }
        .map_err(|why| CoverError::NotAnImage(why.into()))?;
        let sha256 = crate::core::hex::hex(&Sha256::digest(&bytes));
        Ok(Cover { kind, width, height, sha256, bytes })
    }
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// PNG: the signature, then IHDR first (length 13, CRC over type and data), with a nonzero
/// size within 2^31, and a bit depth the colour type allows.
fn png_size(b: &[u8]) -> Result<(u32, u32), &'static str> {
    if b.len() < 8 || b[..8] != PNG_SIGNATURE {
        return Err("no PNG signature");
    }
    let ihdr = b.get(8..8 + 25).ok_or("cut short before the IHDR chunk ends")?;
    if ihdr[..8] != [0, 0, 0, 13, b'I', b'H', b'D', b'R'] {
        return Err("the first chunk is not a 13-byte IHDR");
    }
    let data = &ihdr[8..21];
    if crc32(&ihdr[4..21]) != u32::from_be_bytes(ihdr[21..25].try_into().unwrap()) {
        return Err("the IHDR chunk's CRC does not match");
    }
    let width = u32::from_be_bytes(data[0..4].try_into().unwrap());
    let height = u32::from_be_bytes(data[4..8].try_into().unwrap());
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err("the image's width or height is out of range");
    }
    let (depth, colour) = (data[8], data[9]);
    let allowed: &[u8] = match colour {
        0 => &[1, 2, 4, 8, 16],
        3 => &[1, 2, 4, 8],
        2 | 4 | 6 => &[8, 16],
        _ => return Err("unknown colour type"),
    };
    if !allowed.contains(&depth) || data[10] != 0 || data[11] != 0 || data[12] > 1 {
        return Err("invalid IHDR fields");
    }
    Ok((width, height))
}

/// JPEG: SOI, then segments (each a marker and a length that fits in the data) until a frame
/// header (SOF0..SOF15 but DHT, JPG and DAC) with precision 8 or 12, a nonzero width, 1 to 4
/// components and the length those imply. Scan data before a frame header is refused.
fn jpeg_size(b: &[u8]) -> Result<(u32, u32), &'static str> {
    if b.len() < 4 || b[..2] != [0xFF, 0xD8] {
        return Err("no JPEG start-of-image marker");
    }
    let mut at = 2;
    loop {
        if b.get(at) != Some(&0xFF) {
            return Err("a segment does not start with a marker");
        }
        while b.get(at) == Some(&0xFF) {
            at += 1; // fill bytes
        }
        let marker = *b.get(at).ok_or("cut short before a frame header")?;
        at += 1;
        match marker {
            0x01 | 0xD0..=0xD7 => continue, // no length
            0xD8 | 0xD9 | 0xDA | 0x00 => return Err("no frame header before the image data"),
            _ => {}
        }
        let len = b.get(at..at + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize).ok_or("cut short in a segment")?;
        if len < 2 || at + len > b.len() {
            return Err("a segment's length runs past the data");
        }
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let s = &b[at + 2..at + len];
            if s.len() < 6 {
                return Err("a frame header too short");
            }
            let (precision, height, width, components) = (s[0], u16::from_be_bytes([s[1], s[2]]), u16::from_be_bytes([s[3], s[4]]), s[5]);
            if precision != 8 && precision != 12 {
                return Err("a frame header with an unknown sample precision");
            }
            if width == 0 || components == 0 || components > 4 || len != 8 + 3 * components as usize {
                return Err("an invalid frame header");
            }
            // A height of 0 is allowed (given later by a DNL segment); players show such files.
            return Ok((width as u32, height as u32));
        }
        at += len;
    }
}

/// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: it runs over 17 bytes once per upload.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 1×1 PNG: signature, IHDR, IDAT, IEND, as an encoder writes it.
    pub fn png(width: u32, height: u32) -> Vec<u8> {
        let mut v = PNG_SIGNATURE.to_vec();
        let chunk = |v: &mut Vec<u8>, ty: &[u8; 4], data: &[u8]| {
            v.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut typed = ty.to_vec();
            typed.extend_from_slice(data);
            v.extend_from_slice(&typed);
            v.extend_from_slice(&crc32(&typed).to_be_bytes());
        };
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut v, b"IHDR", &ihdr);
        chunk(&mut v, b"IDAT", &[0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF]);
        chunk(&mut v, b"IEND", &[]);
        v
    }

    /// SOI, an APP0 (JFIF) segment, a baseline frame header with 3 components, EOI.
    pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        v.extend_from_slice(b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00");
        v.extend_from_slice(&[0xFF, 0xFF, 0xC0, 0, 17, 8]); // a fill byte before the marker
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(&width.to_be_bytes());
        v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    fn not_an_image(kind: ImageType, bytes: Vec<u8>) -> String {
        match Cover::parse(kind, bytes) {
            Err(CoverError::NotAnImage(why)) => why,
            other => panic!("expected NotAnImage, got {other:?}"),
        }
    }

    #[test]
    fn crc_is_the_png_one() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn valid_images_give_their_size_and_hash() {
        let c = Cover::parse(ImageType::Png, png(640, 480)).unwrap();
        assert_eq!((c.kind, c.width, c.height), (ImageType::Png, 640, 480));
        assert_eq!(c.sha256.len(), 64);
        assert_eq!(c.sha256, Cover::parse(ImageType::Png, png(640, 480)).unwrap().sha256);
        assert_ne!(c.sha256, Cover::parse(ImageType::Png, png(641, 480)).unwrap().sha256);
        let j = Cover::parse(ImageType::Jpeg, jpeg(1400, 1400)).unwrap();
        assert_eq!((j.width, j.height), (1400, 1400));
    }

    #[test]
    fn the_declared_type_must_match_the_bytes() {
        assert_eq!(not_an_image(ImageType::Jpeg, png(1, 1)), "no JPEG start-of-image marker");
        assert_eq!(not_an_image(ImageType::Png, jpeg(1, 1)), "no PNG signature");
        assert_eq!(not_an_image(ImageType::Png, b"hello, not an image".to_vec()), "no PNG signature");
        assert_eq!(not_an_image(ImageType::Png, Vec::new()), "no PNG signature");
    }

    #[test]
    fn broken_png_headers_are_refused() {
        let good = png(2, 2);
        assert_eq!(not_an_image(ImageType::Png, good[..20].to_vec()), "cut short before the IHDR chunk ends");
        let mut bad_crc = good.clone();
        bad_crc[20] ^= 1; // a byte of the height
        assert_eq!(not_an_image(ImageType::Png, bad_crc), "the IHDR chunk's CRC does not match");
        assert_eq!(not_an_image(ImageType::Png, png(0, 5)), "the image's width or height is out of range");
        let mut wrong_chunk = good.clone();
        wrong_chunk[12..16].copy_from_slice(b"IDAT");
        assert_eq!(not_an_image(ImageType::Png, wrong_chunk), "the first chunk is not a 13-byte IHDR");
    }

    #[test]
    fn broken_jpeg_headers_are_refused() {
        let good = jpeg(10, 10);
        assert_eq!(not_an_image(ImageType::Jpeg, good[..10].to_vec()), "a segment's length runs past the data");
        assert_eq!(not_an_image(ImageType::Jpeg, vec![0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), "no frame header before the image data");
        assert_eq!(not_an_image(ImageType::Jpeg, vec![0xFF, 0xD8, 0x00, 0x00]), "a segment does not start with a marker");
        assert_eq!(not_an_image(ImageType::Jpeg, jpeg(0, 10)), "an invalid frame header");
        let mut precision = good.clone();
        precision[25] = 9;
        assert_eq!(not_an_image(ImageType::Jpeg, precision), "a frame header with an unknown sample precision");
        // SOI and EOI only: no frame.
        assert_eq!(not_an_image(ImageType::Jpeg, vec![0xFF, 0xD8, 0xFF, 0xD9]), "no frame header before the image data");
    }

    #[test]
    fn size_is_checked_before_the_bytes() {
        let mut big = png(1, 1);
        big.resize(MAX_COVER_BYTES, 0);
        assert!(Cover::parse(ImageType::Png, big.clone()).is_ok(), "exactly 2 MiB fits");
        big.push(0);
        assert_eq!(Cover::parse(ImageType::Png, big), Err(CoverError::TooLarge));
        assert_eq!(Cover::parse(ImageType::Jpeg, vec![0; MAX_COVER_BYTES + 1]), Err(CoverError::TooLarge));
    }

    #[test]
    fn content_types() {
        assert_eq!(ImageType::from_content_type(Some("image/png")), Some(ImageType::Png));
        assert_eq!(ImageType::from_content_type(Some("Image/JPEG; charset=binary")), Some(ImageType::Jpeg));
        for other in [Some("image/gif"), Some("application/octet-stream"), Some("image/jpg"), Some(""), None] {
            assert_eq!(ImageType::from_content_type(other), None, "{other:?}");
        }
        assert_eq!(ImageType::from_mime(ImageType::Jpeg.mime()), Some(ImageType::Jpeg));
    }
}
