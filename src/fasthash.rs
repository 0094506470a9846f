//! A fast, non-cryptographic hasher for the hot paths' hash maps (frame interning, stack grouping,
//! merging goroutines), where keys are short byte strings and integer slices from the profile
//! itself. It is the multiply-rotate hash rustc uses (FxHash): several times faster than the
//! default SipHash on such keys. It is not DoS-resistant, which only matters for keys an attacker
//! chooses freely; a profile's stacks come from the program being profiled.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while bytes.len() >= 8 {
            self.add(u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")));
            bytes = &bytes[8..];
        }
        if bytes.len() >= 4 {
            self.add(u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as u64);
            bytes = &bytes[4..];
        }
        for &b in bytes {
            self.add(b as u64);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuildHasher = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = HashMap<K, V, FxBuildHasher>;
pub type FxHashSet<K> = HashSet<K, FxBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_hash_differs_by_content() {
        let mut m: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
        for i in 0..1000u32 {
            m.insert(vec![i, i + 1, i * 7], i);
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(m.get(&vec![5, 6, 35]), Some(&5));
        let h = |b: &[u8]| {
            let mut x = FxHasher::default();
            x.write(b);
            x.finish()
        };
        assert_ne!(h(b"runtime.gopark"), h(b"runtime.goparl"));
        assert_ne!(h(b"abc"), h(b"abcd"));
    }
}
