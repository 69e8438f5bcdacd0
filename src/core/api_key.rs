//! API keys: `tc_` and 32 hex digits (128 random bits). Only the SHA-256 of a key is stored;
//! with that much entropy a fast hash is enough, and lookups stay one indexed equality.

use sha2::{Digest, Sha256};

pub const PREFIX: &str = "tc_";

pub fn from_random(bytes: [u8; 16]) -> String {
    let hex = crate::core::hex::hex(&bytes);
    format!("{PREFIX}{hex}")
}

pub fn hash(key: &str) -> String {
    crate::core::hex::hex(&Sha256::digest(key.as_bytes()))
}

/// What is kept to tell keys apart in listings: the prefix and 4 hex digits.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(PREFIX.len() + 4).collect()
}

/// A quick shape check before any database lookup.
pub fn looks_like_key(s: &str) -> bool {
    s.strip_prefix(PREFIX).is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_prefix_and_128_bits() {
        let k = from_random([0xab; 16]);
        assert_eq!(k.len(), 3 + 32);
        assert!(looks_like_key(&k));
        assert!(!looks_like_key("tc_short"));
        assert!(!looks_like_key(&k.replace("tc_", "xx_")));
        assert_eq!(display_prefix(&k), "tc_abab");
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(hash(&from_random([1; 16])), hash(&from_random([2; 16])));
    }
}
