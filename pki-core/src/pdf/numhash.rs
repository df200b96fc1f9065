//! A fast hasher for the maps keyed by object numbers and cross-reference entries (the change
//! analysis and the reader look such keys up millions of times; SipHash was a few percent of a
//! verification). Each process draws a random seed, and every word is mixed by a folded
//! 64x64->128-bit multiply, so the low bits a table indexes by depend on every input bit: object
//! numbers a hostile file picks (all multiples of 2^16, say) do not fall into one bucket, as they
//! would with a plain multiplicative (Fx) hash.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

const K: u64 = 0x9e37_79b9_7f4a_7c15;

fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| RandomState::new().hash_one(0x5eed_u64) | 1)
}

/// Builds [`NumHasher`]s with this process's seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NumState(u64);

impl Default for NumState {
    fn default() -> Self {
        Self(process_seed())
    }
}

impl BuildHasher for NumState {
    type Hasher = NumHasher;
    fn build_hasher(&self) -> NumHasher {
        NumHasher(self.0)
    }
}

/// See the module documentation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NumHasher(u64);

impl Hasher for NumHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = fold(self.0 ^ n, K);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        fold(self.0, K ^ 0x2545_f491_4f6c_dd1d)
    }
}

/// A map keyed by object numbers, references or cross-reference entries.
pub(crate) type NumMap<K, V> = std::collections::HashMap<K, V, NumState>;
/// A set of object numbers, references or pairs of them.
pub(crate) type NumSet<K> = std::collections::HashSet<K, NumState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_aligned_object_numbers() {
        // Multiples of 2^16 must not share their low bits (the bucket index of a small table).
        let s = NumState::default();
        let mut low: NumSet<u64> = NumSet::default();
        for i in 0..256u32 {
            low.insert(s.hash_one(i << 16) & 0xff);
        }
        assert!(low.len() > 128, "only {} distinct low bytes", low.len());
        assert_ne!(s.hash_one(1u32), s.hash_one(2u32));
    }
}
