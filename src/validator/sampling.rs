//! Deterministic sampling (protocol §9), bit-exact with CPython's `random.Random`.
//!
//! The Mersenne Twister itself comes from `rand_mt` (`init_by_array` seeding); this module
//! adds CPython's `_randbelow` and `shuffle` on top, and the seed derivations.

use rand_mt::Mt;
use sha2::{Digest, Sha256};

use crate::protocol::HotkeyAddr;

/// First 8 bytes of `sha256(utf8(text))` as an unsigned big-endian integer.
pub fn seed_int(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Default interval seed: lowercase hex `sha256("interval:{interval_id}")`.
pub fn interval_seed(interval_id: u64) -> String {
    hex::encode(Sha256::digest(format!("interval:{interval_id}").as_bytes()))
}

/// CPython's `random.Random(seed)` for a non-negative integer seed that fits 64 bits.
pub(super) struct PyRandom {
    mt: Mt,
}

impl PyRandom {
    /// Seeds like CPython: `init_by_array` on the 32-bit words of the seed, least
    /// significant first (seed 0 gives `[0]`).
    pub(super) fn new(seed: u64) -> Self {
        let low = seed as u32;
        let high = (seed >> 32) as u32;
        let mt = if high == 0 { Mt::new_with_key([low]) } else { Mt::new_with_key([low, high]) };
        Self { mt }
    }

    /// `getrandbits(k)` for `1 <= k <= 32`.
    fn getrandbits(&mut self, k: u32) -> u32 {
        self.mt.next_u32() >> (32 - k)
    }

    /// `_randbelow(n)` for `n >= 1` (rejection sampling on `bit_length(n)` bits).
    pub(super) fn randbelow(&mut self, n: u32) -> u32 {
        let k = u32::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `shuffle(items)` in place.
    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow((i + 1) as u32) as usize;
            items.swap(i, j);
        }
    }
}

/// Miner selection: ascending by `seed_int("{seed}:{hotkey}")`, first `min(n, max)`.
pub fn select_miners(hotkeys: &[String], interval_seed: &str, max: usize) -> Vec<String> {
    let mut keyed: Vec<(u64, &String)> =
        hotkeys.iter().map(|h| (seed_int(&format!("{interval_seed}:{h}")), h)).collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().take(max).map(|(_, h)| h.clone()).collect()
}

/// How many rows are sampled from a dataset of `total` rows with cap `max_rows`.
pub(super) fn sample_size(total: usize, max_rows: usize) -> usize {
    if total <= 3 { total } else { total.div_ceil(5).clamp(1, max_rows.max(1)) }
}

/// Row selection: CPython shuffle of `0..total` seeded by
/// `"{miner}:{validator}:{seed}:{total}"` (or `"{miner}:{seed}:{total}"` without a
/// validator hotkey), first `k` indices, ascending.
pub fn select_row_indices(
    total: usize,
    miner_hotkey: &HotkeyAddr,
    validator_hotkey: Option<&HotkeyAddr>,
    interval_seed: &str,
    max_rows: usize,
) -> Vec<usize> {
    let k = sample_size(total, max_rows);
    if k == total {
        return (0..total).collect();
    }
    let seed_text = match validator_hotkey {
        Some(v) => format!("{miner_hotkey}:{v}:{interval_seed}:{total}"),
        None => format!("{miner_hotkey}:{interval_seed}:{total}"),
    };
    let mut rng = PyRandom::new(seed_int(&seed_text));
    let mut indices: Vec<u32> = (0..total as u32).collect();
    rng.shuffle(&mut indices);
    let mut picked: Vec<usize> = indices[..k].iter().map(|&i| i as usize).collect();
    picked.sort_unstable();
    picked
}

/// Extra rows checked per miner by default (`NEXIS_VALIDATOR_EXTRA_SAMPLES`, §9 rev. 2).
pub const DEFAULT_EXTRA_SAMPLES: usize = 5;

/// The unpredictable extra samples (§9 rev. 2): CPython shuffle of `0..total` seeded by
/// `"{miner}:{validator}:{block_hash_hex}:{total}"` (`"{miner}:{block_hash_hex}:{total}"`
/// without a validator hotkey), the first `extra` indices not in `already` (all of them
/// when fewer remain), ascending.
pub(super) fn select_extra_row_indices(
    total: usize,
    miner_hotkey: &HotkeyAddr,
    validator_hotkey: Option<&HotkeyAddr>,
    block_hash_hex: &str,
    extra: usize,
    already: &[usize],
) -> Vec<usize> {
    if extra == 0 || total == 0 {
        return Vec::new();
    }
    let seed_text = match validator_hotkey {
        Some(v) => format!("{miner_hotkey}:{v}:{block_hash_hex}:{total}"),
        None => format!("{miner_hotkey}:{block_hash_hex}:{total}"),
    };
    let mut rng = PyRandom::new(seed_int(&seed_text));
    let mut indices: Vec<u32> = (0..total as u32).collect();
    rng.shuffle(&mut indices);
    let mut picked: Vec<usize> =
        indices.iter().map(|&i| i as usize).filter(|i| !already.contains(i)).take(extra).collect();
    picked.sort_unstable();
    picked
}

/// A block hash as the seed text uses it: trimmed, without `0x`, lowercase hex; `None`
/// when it is not hexadecimal.
pub fn normalize_block_hash(hash: &str) -> Option<String> {
    let h = hash.trim();
    let h = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X")).unwrap_or(h);
    (!h.is_empty() && h.len() <= 128 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hk(addr: &str) -> HotkeyAddr {
        HotkeyAddr::new(addr)
    }

    #[test]
    fn cpython_random_first_outputs() {
        // random.Random(0).getrandbits(32) sequence and random.Random(2**40+5).
        let mut r = PyRandom::new(0);
        assert_eq!([r.getrandbits(32), r.getrandbits(32)], [3626764237, 1654615998]);
        let mut r = PyRandom::new(42);
        let mut v: Vec<u32> = (0..10).collect();
        r.shuffle(&mut v);
        assert_eq!(v, [7, 3, 2, 8, 5, 6, 9, 4, 0, 1]);
    }

    #[test]
    fn extra_samples_skip_the_deterministic_rows_and_depend_on_the_hash() {
        let base = select_row_indices(300, &hk("m"), Some(&hk("v")), "seed", 3);
        let a = select_extra_row_indices(300, &hk("m"), Some(&hk("v")), "aa", 5, &base);
        let b = select_extra_row_indices(300, &hk("m"), Some(&hk("v")), "ab", 5, &base);
        assert_eq!(a.len(), 5);
        assert!(a.iter().all(|i| !base.contains(i) && *i < 300));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, b, "another block hash picks other rows");
        assert_eq!(a, select_extra_row_indices(300, &hk("m"), Some(&hk("v")), "aa", 5, &base), "deterministic");
        // Fewer rows left than asked: all of them.
        assert_eq!(select_extra_row_indices(6, &hk("m"), None, "aa", 5, &[0, 1, 2]), vec![3, 4, 5]);
        assert!(select_extra_row_indices(3, &hk("m"), None, "aa", 5, &[0, 1, 2]).is_empty());
        assert!(select_extra_row_indices(300, &hk("m"), None, "aa", 0, &[]).is_empty());
        assert_eq!(normalize_block_hash(" 0xABcd "), Some("abcd".into()));
        assert_eq!(normalize_block_hash("xyz"), None);
        assert_eq!(normalize_block_hash("0x"), None);
    }

    #[test]
    fn sample_sizes() {
        assert_eq!(sample_size(0, 3), 0);
        assert_eq!(sample_size(3, 3), 3);
        assert_eq!(sample_size(4, 3), 1);
        assert_eq!(sample_size(5, 3), 1);
        assert_eq!(sample_size(6, 3), 2);
        assert_eq!(sample_size(11, 3), 3);
        assert_eq!(sample_size(1000, 3), 3);
        assert_eq!(sample_size(1000, 10), 10);
    }
}
