//! Signed links: URLs a player or podcast app can fetch without an `Authorization` header
//! (an `<audio src>` cannot send one).
//!
//! A link names its resource in its path and carries its own expiry, the story's link
//! generation and an HMAC-SHA256 signature in its query:
//!
//! ```text
//! /l/{story_id}/chapters/{n}.mp3?exp={unix secs}&gen={generation}&sig={base64url}
//! /l/{story_id}/book.mp3?exp=…&gen=…&sig=…
//! /l/{story_id}/cover?exp=…&gen=…&sig=…
//! /api/v1/stories/{story_id}/feed.xml?exp=…&gen=…&sig=…
//! ```
//!
//! The feed is the one link inside `/api/v1` (where the contract puts it): the query's
//! signature stands in for `Authorization` there too.
//!
//! The signature covers the story, the resource, the expiry and the generation, so changing
//! any of them (another chapter, a later `exp`) makes it fail. Revocation bumps the story's
//! generation in the database: a link signed with an older one no longer matches. Rotating the
//! key (`LINK_SIGNING_KEY`) fails every signature at once.

use crate::core::ids::constant_time_eq;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Where signed links live (but the feed): outside `/api/v1`, whose routes need `Authorization`.
pub const PREFIX: &str = "l";
/// A shorter key is refused: an HMAC key should be at least as long as its hash (32 bytes).
pub const MIN_KEY_CHARS: usize = 32;
pub const MIN_TTL_SECS: i64 = 60;
pub const MAX_TTL_SECS: i64 = 604_800;
pub const DEFAULT_TTL_SECS: i64 = 86_400;

/// What one link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Chapter(u32),
    Book,
    Feed,
    /// The story's cover, for the feed's `itunes:image` (an app fetches it without a key).
    Cover,
}

impl Resource {
    /// The path of this resource's link, after the origin.
    pub fn path(self, story_id: &str) -> String {
        match self {
            Resource::Chapter(n) => format!("/{PREFIX}/{story_id}/chapters/{n}.mp3"),
            Resource::Book => format!("/{PREFIX}/{story_id}/book.mp3"),
            Resource::Feed => format!("/api/v1/stories/{story_id}/feed.xml"),
            Resource::Cover => format!("/{PREFIX}/{story_id}/cover"),
        }
    }

    /// The resource a link path names (segments after the leading `l`), and its story id as
    /// written; `None` for anything else.
    pub fn from_segments<'a>(segments: &[&'a str]) -> Option<(&'a str, Resource)> {
        match segments {
            [PREFIX, story, "book.mp3"] => Some((story, Resource::Book)),
            [PREFIX, story, "cover"] => Some((story, Resource::Cover)),
            ["api", "v1", "stories", story, "feed.xml"] => Some((story, Resource::Feed)),
            [PREFIX, story, "chapters", file] => {
                let n = file.strip_suffix(".mp3")?;
                // Digits only, no leading zero: one chapter has one spelling, so one URL.
                if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some((story, Resource::Chapter(n.parse().ok()?)))
            }
            _ => None,
        }
    }

    fn label(self) -> String {
        match self {
            Resource::Chapter(n) => format!("chapter:{n}"),
            Resource::Book => "book".into(),
            Resource::Feed => "feed".into(),
            Resource::Cover => "cover".into(),
        }
    }
}

/// Why a link is refused. Each is a 403 to the caller, who is told only that the link is not
/// valid (or has expired), never which part failed beyond that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// `exp`, `gen` or `sig` missing, repeated or not a number.
    Malformed,
    /// The signature does not match: altered, signed for another resource, or another key.
    BadSignature,
    Expired,
    /// Signed before the story's links were revoked.
    Revoked,
}

impl LinkError {
    pub fn message(self) -> &'static str {
        match self {
            LinkError::Expired => "this link has expired; ask for a new one",
            LinkError::Revoked => "this link was revoked; ask for a new one",
            LinkError::Malformed | LinkError::BadSignature => "this link is not valid",
        }
    }
}

/// The signing key. It is held here only: no `Debug` that shows it, never logged or returned.
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<hidden>)")
    }
}

/// What a valid signature vouches for; the generation is checked against the story's, which
/// only the database knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub generation: i64,
    pub expires_at: i64,
}

impl Verified {
    pub fn current(self, story_generation: i64) -> Result<(), LinkError> {
        if self.generation == story_generation { Ok(()) } else { Err(LinkError::Revoked) }
    }
}

impl Signer {
    pub fn new(secret: &str) -> Result<Signer, String> {
        let secret = secret.trim();
        if secret.chars().count() < MIN_KEY_CHARS {
            return Err(format!("LINK_SIGNING_KEY must be at least {MIN_KEY_CHARS} characters (e.g. `openssl rand -hex 32`)"));
        }
        Ok(Signer { key: secret.as_bytes().to_vec() })
    }

    fn signature(&self, story_id: &str, resource: Resource, expires_at: i64, generation: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        // Newline-separated fields that cannot contain a newline: no two links sign the same text.
        let message = format!("talecast-link-v1\n{}\n{}\n{expires_at}\n{generation}", story_id.to_ascii_lowercase(), resource.label());
        mac.update(message.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The link's path and query (the caller puts its origin in front).
    pub fn sign(&self, story_id: &str, resource: Resource, expires_at: i64, generation: i64) -> String {
        let sig = self.signature(story_id, resource, expires_at, generation);
        format!("{}?exp={expires_at}&gen={generation}&sig={sig}", resource.path(&story_id.to_ascii_lowercase()))
    }

    /// Checks the query of a link to `resource`: signature first (constant time), then expiry
    /// against `now` (unix seconds). The generation is left to `Verified::current`.
    pub fn verify(&self, story_id: &str, resource: Resource, query: &[(String, String)], now: i64) -> Result<Verified, LinkError> {
        let one = |name: &str| {
            let mut values = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
            match (values.next(), values.next()) {
                (Some(v), None) => Ok(v),
                _ => Err(LinkError::Malformed),
            }
        };
        let number = |name: &str| -> Result<i64, LinkError> {
            let v = one(name)?;
            // Canonical digits only, so one link has one spelling ("+5", "05" are refused).
            if v.is_empty() || v.len() > 18 || (v.len() > 1 && v.starts_with('0')) || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(LinkError::Malformed);
            }
            v.parse().map_err(|_| LinkError::Malformed)
        };
        let (expires_at, generation, sig) = (number("exp")?, number("gen")?, one("sig")?);
        let expected = self.signature(story_id, resource, expires_at, generation);
        if !constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
            return Err(LinkError::BadSignature);
        }
        if now >= expires_at {
            return Err(LinkError::Expired);
        }
        Ok(Verified { generation, expires_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORY: &str = "0b8f4a5e-6c1d-4e2f-9a3b-7c8d9e0f1a2b";
    const NOW: i64 = 1_700_000_000;

    fn signer() -> Signer {
        Signer::new("k".repeat(40).as_str()).unwrap()
    }

    /// The query pairs of a signed link, as a request would carry them.
    fn query_of(link: &str) -> Vec<(String, String)> {
        let q = link.split_once('?').unwrap().1;
        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    fn with(q: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.clone(), if k == name { value.to_string() } else { v.clone() })).collect()
    }

    #[test]
    fn a_signed_link_verifies_for_its_own_resource() {
        for r in [Resource::Chapter(3), Resource::Book, Resource::Feed, Resource::Cover] {
            let link = signer().sign(STORY, r, NOW + 60, 2);
            let path = link.split_once('?').unwrap().0;
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            assert_eq!(Resource::from_segments(&segments), Some((STORY, r)), "{link}");
            assert_eq!(signer().verify(STORY, r, &query_of(&link), NOW), Ok(Verified { generation: 2, expires_at: NOW + 60 }));
        }
    }

    #[test]
    fn the_url_format() {
        let link = signer().sign(STORY, Resource::Chapter(12), 1_700_000_060, 0);
        let (path, q) = link.split_once('?').unwrap();
        assert_eq!(path, format!("/l/{STORY}/chapters/12.mp3"));
        assert!(q.starts_with("exp=1700000060&gen=0&sig="), "{q}");
        // 32 bytes of HMAC-SHA256 in unpadded base64url.
        assert_eq!(q.rsplit('=').next().unwrap().len(), 43);
    }

    #[test]
    fn the_feed_lives_in_the_api_and_the_cover_beside_the_audio() {
        let feed = signer().sign(STORY, Resource::Feed, 1_700_000_060, 3);
        assert!(feed.starts_with(&format!("/api/v1/stories/{STORY}/feed.xml?exp=1700000060&gen=3&sig=")), "{feed}");
        let cover = signer().sign(STORY, Resource::Cover, 1_700_000_060, 3);
        assert!(cover.starts_with(&format!("/l/{STORY}/cover?exp=")), "{cover}");
    }

    #[test]
    fn expired_links_are_refused() {
        let link = signer().sign(STORY, Resource::Book, NOW + 60, 0);
        let q = query_of(&link);
        assert!(signer().verify(STORY, Resource::Book, &q, NOW + 59).is_ok());
        assert_eq!(signer().verify(STORY, Resource::Book, &q, NOW + 60), Err(LinkError::Expired));
        assert_eq!(signer().verify(STORY, Resource::Book, &q, NOW + 10_000), Err(LinkError::Expired));
    }

    #[test]
    fn tampering_is_refused() {
        let link = signer().sign(STORY, Resource::Chapter(1), NOW + 60, 0);
        let q = query_of(&link);
        let r = Resource::Chapter(1);
        // A later expiry, another generation, or any changed character of the signature.
        assert_eq!(signer().verify(STORY, r, &with(&q, "exp", &(NOW + 9_999).to_string()), NOW), Err(LinkError::BadSignature));
        assert_eq!(signer().verify(STORY, r, &with(&q, "gen", "1"), NOW), Err(LinkError::BadSignature));
        let sig = q.iter().find(|(k, _)| k == "sig").unwrap().1.clone();
        for i in [0, sig.len() / 2, sig.len() - 1] {
            let mut bytes = sig.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert_eq!(signer().verify(STORY, r, &with(&q, "sig", &altered), NOW), Err(LinkError::BadSignature), "{altered}");
        }
        assert_eq!(signer().verify(STORY, r, &with(&q, "sig", &sig[..42]), NOW), Err(LinkError::BadSignature));
        // Another key: what rotating LINK_SIGNING_KEY does to every link.
        let rotated = Signer::new(&"r".repeat(40)).unwrap();
        assert_eq!(rotated.verify(STORY, r, &q, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn malformed_queries_are_refused() {
        let link = signer().sign(STORY, Resource::Feed, NOW + 60, 0);
        let q = query_of(&link);
        let r = Resource::Feed;
        for (name, value) in [("exp", ""), ("exp", "+1700000060"), ("exp", "01700000060"), ("gen", "-1"), ("gen", "x")] {
            assert_eq!(signer().verify(STORY, r, &with(&q, name, value), NOW), Err(LinkError::Malformed), "{name}={value}");
        }
        let mut twice = q.clone();
        twice.push(("exp".into(), (NOW + 99).to_string()));
        assert_eq!(signer().verify(STORY, r, &twice, NOW), Err(LinkError::Malformed));
        let without: Vec<_> = q.iter().filter(|(k, _)| k != "sig").cloned().collect();
        assert_eq!(signer().verify(STORY, r, &without, NOW), Err(LinkError::Malformed));
    }

    #[test]
    fn a_link_for_one_resource_opens_no_other() {
        let link = signer().sign(STORY, Resource::Chapter(1), NOW + 60, 0);
        let q = query_of(&link);
        for other in [Resource::Chapter(2), Resource::Chapter(10), Resource::Book, Resource::Feed, Resource::Cover] {
            assert_eq!(signer().verify(STORY, other, &q, NOW), Err(LinkError::BadSignature), "{other:?}");
        }
        let other_story = "1b8f4a5e-6c1d-4e2f-9a3b-7c8d9e0f1a2b";
        assert_eq!(signer().verify(other_story, Resource::Chapter(1), &q, NOW), Err(LinkError::BadSignature));
        // The same story spelled in capitals is the same story.
        assert!(signer().verify(&STORY.to_ascii_uppercase(), Resource::Chapter(1), &q, NOW).is_ok());
    }

    #[test]
    fn revocation_ends_links_of_older_generations() {
        let link = signer().sign(STORY, Resource::Book, NOW + 60, 4);
        let v = signer().verify(STORY, Resource::Book, &query_of(&link), NOW).unwrap();
        assert_eq!(v.current(4), Ok(()));
        assert_eq!(v.current(5), Err(LinkError::Revoked));
        let fresh = signer().sign(STORY, Resource::Book, NOW + 60, 5);
        assert_eq!(signer().verify(STORY, Resource::Book, &query_of(&fresh), NOW).unwrap().current(5), Ok(()));
    }

    #[test]
    fn paths_that_are_not_links() {
        for p in ["l", "l/x", "l/x/chapters/1", "l/x/chapters/01.mp3", "l/x/chapters/.mp3", "l/x/chapters/1a.mp3", "l/x/book", "l/x/feed.xml/y", "l/x/feed.xml", "l/x/cover.jpg", "api/v1/stories/x/feed", "api/v2/stories/x/feed.xml"] {
            let segments: Vec<&str> = p.split('/').collect();
            assert_eq!(Resource::from_segments(&segments), None, "{p}");
        }
    }

    #[test]
    fn short_keys_are_refused_and_the_key_is_never_shown() {
        assert!(Signer::new("short").is_err());
        assert!(Signer::new(&" ".repeat(40)).is_err());
        let s = Signer::new(&"secret-".repeat(6)).unwrap();
        assert!(!format!("{s:?}").contains("secret"));
    }
}
