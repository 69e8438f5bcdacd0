//! A tiny seeded generator: the stand-ins must answer the same request with the same bytes on
//! every machine and every run, so nothing here may depend on OS randomness or a crate's
//! algorithm changing between versions.
use sha2::{Digest, Sha256};

pub struct Rng(u64);

impl Rng {
    pub fn from_bytes(data: &[u8]) -> Self {
        let d = Sha256::digest(data);
        Rng(u64::from_le_bytes(d[..8].try_into().expect("8 bytes")))
    }

    /// SplitMix64: small, well distributed, and fixed forever.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (callers guarantee lo <= hi).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }

    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.wrapping_sub(lo) as u64;
        lo.wrapping_add(self.range(0, span) as i64)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_ranges_hold() {
        let mut a = Rng::from_bytes(b"seed");
        let mut b = Rng::from_bytes(b"seed");
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            let r = a.range(3, 7);
            assert!((3..=7).contains(&r));
            b.range(3, 7);
            let i = a.range_i64(-5, 5);
            assert!((-5..=5).contains(&i));
            b.range_i64(-5, 5);
        }
        assert_ne!(Rng::from_bytes(b"x").next_u64(), Rng::from_bytes(b"y").next_u64());
    }
}
