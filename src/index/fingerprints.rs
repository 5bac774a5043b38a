//! Content fingerprints of published clips, kept in the same sled tree as the overlap
//! entries (and written by the same atomic batch when an interval is recorded), so a clip
//! published again under another claimed source — a re-upload, another miner's clips
//! re-encoded — is found like an overlap. Each entry is
//! `fingerprint/` + the 8 hash bytes + the clip id, holding the miner's hotkey.
//!
//! Lookups load every fingerprint once per interval and compare by Hamming distance: 8
//! bytes each, a million clips cost 8 MB and well under a second per thousand rows.

use super::overlap::IndexError;
use crate::media::fingerprint::Fingerprint;

/// Prefix of fingerprint entries in the shared tree.
const PREFIX: &[u8] = b"fingerprint/";

/// A published clip's fingerprint and whose clip it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintEntry {
    /// The perceptual hash.
    pub fingerprint: Fingerprint,
    /// The clip's id.
    pub clip_id: String,
    /// The hotkey of the miner who published it.
    pub miner_hotkey: String,
}

fn entry_key(fingerprint: Fingerprint, clip_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(PREFIX.len() + 8 + clip_id.len());
    k.extend_from_slice(PREFIX);
    k.extend_from_slice(&fingerprint.0.to_be_bytes());
    k.extend_from_slice(clip_id.as_bytes());
    k
}

/// The fingerprint index over a sled tree.
#[derive(Debug, Clone)]
pub struct FingerprintIndex {
    tree: sled::Tree,
}

impl FingerprintIndex {
    /// The index stored in `tree` (which holds other prefixes too).
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    /// Adds an entry to `batch` (applied by the caller together with other state).
    pub(crate) fn insert_into(batch: &mut sled::Batch, entry: &FingerprintEntry) {
        batch.insert(entry_key(entry.fingerprint, &entry.clip_id), entry.miner_hotkey.as_bytes());
    }

    /// Every entry; entries that do not parse are skipped.
    pub fn entries(&self) -> Result<Vec<FingerprintEntry>, IndexError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(PREFIX) {
            let (k, v) = item?;
            let rest = &k[PREFIX.len()..];
            let (Some(hash), Some(clip)) = (rest.get(..8), rest.get(8..)) else { continue };
            let Ok(hash) = <[u8; 8]>::try_from(hash) else { continue };
            let (Ok(clip_id), Ok(miner)) = (std::str::from_utf8(clip), std::str::from_utf8(&v)) else { continue };
            out.push(FingerprintEntry {
                fingerprint: Fingerprint(u64::from_be_bytes(hash)),
                clip_id: clip_id.to_string(),
                miner_hotkey: miner.to_string(),
            });
        }
        Ok(out)
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

/// The first entry of `entries` within matching distance of `fingerprint`, if any.
pub fn nearest(entries: &[FingerprintEntry], fingerprint: Fingerprint) -> Option<&FingerprintEntry> {
    entries
        .iter()
        .filter(|e| e.fingerprint.matches(fingerprint))
        .min_by_key(|e| (e.fingerprint.distance(fingerprint), e.clip_id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_beside_other_prefixes() {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let tree = db.open_tree("state").expect("tree");
        tree.insert(b"overlap/x", &[][..]).expect("other prefix");
        let index = FingerprintIndex::new(tree.clone());
        let entry =
            FingerprintEntry { fingerprint: Fingerprint(0xF0F0), clip_id: "c1".into(), miner_hotkey: "m".into() };
        let mut batch = sled::Batch::default();
        FingerprintIndex::insert_into(&mut batch, &entry);
        tree.apply_batch(batch).expect("apply");
        let all = index.entries().expect("entries");
        assert_eq!(all, vec![entry.clone()]);
        assert_eq!(index.len(), 1);
        assert_eq!(nearest(&all, Fingerprint(0xF0F1)), Some(&entry));
        assert_eq!(nearest(&all, Fingerprint(!0xF0F0)), None);
    }
}
