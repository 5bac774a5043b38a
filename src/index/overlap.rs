//! The sled-backed overlap index: per canonical source key, the starts (milliseconds) of
//! clips already published. Lookups and inserts use the same canonical keys (stricter than
//! the existing validator, which compares different key forms).
//!
//! Entries live under their own prefix in a tree shared with the validator state, so an
//! interval's decisions and its new index entries are written by one atomic batch.

use super::snapshot::seconds_to_ms;
use crate::protocol::MIN_START_DISTANCE_SEC;

/// Prefix of index entries in the shared tree.
const PREFIX: &[u8] = b"overlap/";

/// Index failures (the embedded database).
#[derive(Debug, thiserror::Error)]
#[error("overlap index: {0}")]
pub struct IndexError(#[from] sled::Error);

/// Starts are kept as whole milliseconds, rounded as the snapshot's 3-decimal strings
/// round them (values the snapshot cannot hold, such as negatives, round half away).
pub fn start_ms(start: f64) -> Option<i64> {
    if !start.is_finite() {
        return None;
    }
    Some(seconds_to_ms(start).map_or_else(|| (start * 1000.0).round() as i64, |ms| ms as i64))
}

/// Order-preserving encoding of a signed millisecond value.
fn encode_ms(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

fn decode_ms(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

/// `overlap/` + key length (u32 BE) + key: a prefix that no other key extends by accident.
fn key_prefix(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX.len() + 4 + key.len() + 8);
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

/// The tree key of one entry.
pub(crate) fn entry_key(key: &str, ms: i64) -> Vec<u8> {
    let mut out = key_prefix(key);
    out.extend_from_slice(&encode_ms(ms));
    out
}

/// The overlap index over a sled tree.
#[derive(Debug, Clone)]
pub struct OverlapIndex {
    tree: sled::Tree,
}

impl OverlapIndex {
    /// The index stored in `tree` (which may hold other prefixes too).
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    /// Whether a clip at `start` seconds on `key` overlaps a published one
    /// (`|a - b| < 4.5 s`).
    pub fn overlaps(&self, key: &str, start: f64) -> Result<bool, IndexError> {
        let (Some(lo), Some(hi)) = (start_ms(start - MIN_START_DISTANCE_SEC), start_ms(start + MIN_START_DISTANCE_SEC))
        else {
            return Ok(false);
        };
        let prefix_len = key_prefix(key).len();
        for item in self.tree.range(entry_key(key, lo - 1)..=entry_key(key, hi + 1)) {
            let (k, _) = item?;
            if let Some(ms) = decode_ms(&k[prefix_len..])
                && (start - ms as f64 / 1000.0).abs() < MIN_START_DISTANCE_SEC
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds an entry to `batch` (applied by the caller together with other state).
    pub(crate) fn insert_into(batch: &mut sled::Batch, key: &str, start: f64) {
        if let Some(ms) = start_ms(start) {
            batch.insert(entry_key(key, ms), &[][..]);
        }
    }

    /// Adds `(key, start_ms)` entries at once; returns how many were new.
    pub fn merge<'a>(&self, entries: impl IntoIterator<Item = (&'a str, i64)>) -> Result<usize, IndexError> {
        let mut batch = sled::Batch::default();
        let mut added = 0;
        for (key, ms) in entries {
            let k = entry_key(key, ms);
            if !self.tree.contains_key(&k)? {
                added += 1;
                batch.insert(k, &[][..]);
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(added)
    }

    /// Every entry as `(canonical key, start_ms)`, sorted by key then start.
    pub fn entries(&self) -> impl Iterator<Item = Result<(String, i64), IndexError>> + '_ {
        self.tree.scan_prefix(PREFIX).filter_map(|item| {
            let (k, _) = match item {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let rest = &k[PREFIX.len()..];
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let key = std::str::from_utf8(rest.get(4..4 + len)?).ok()?.to_string();
            let ms = decode_ms(rest.get(4 + len..)?)?;
            Some(Ok((key, ms)))
        })
    }

    /// The tree the index lives in (shared with the fingerprints and the state).
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.tree.scan_prefix(PREFIX).count()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> OverlapIndex {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        OverlapIndex::new(db.open_tree("state").expect("tree"))
    }

    #[test]
    fn overlap_is_strictly_under_four_and_a_half_seconds() {
        let idx = index();
        idx.merge([("k", 10_000)]).expect("merge");
        assert!(idx.overlaps("k", 10.0).expect("lookup"));
        assert!(idx.overlaps("k", 14.499).expect("lookup"));
        assert!(idx.overlaps("k", 5.501).expect("lookup"));
        assert!(!idx.overlaps("k", 14.5).expect("lookup"));
        assert!(!idx.overlaps("k", 5.5).expect("lookup"));
        assert!(!idx.overlaps("other", 10.0).expect("lookup"));
        // A key that extends another is a different key.
        assert!(!idx.overlaps("k2", 10.0).expect("lookup"));
    }

    #[test]
    fn negative_and_non_finite_starts_are_handled() {
        let idx = index();
        idx.merge([("k", -2_000), ("k", 0)]).expect("merge");
        assert!(idx.overlaps("k", -6.0).expect("lookup"));
        assert!(!idx.overlaps("k", f64::NAN).expect("lookup"));
        let all: Vec<_> = idx.entries().collect::<Result<_, _>>().expect("entries");
        assert_eq!(all, vec![("k".to_string(), -2_000), ("k".to_string(), 0)]);
    }

    #[test]
    fn merge_counts_only_new_entries() {
        let idx = index();
        assert_eq!(idx.merge([("a", 0), ("a", 5_000)]).expect("merge"), 2);
        assert_eq!(idx.merge([("a", 0), ("b", 0)]).expect("merge"), 1);
        assert_eq!(idx.len(), 3);
    }
}
