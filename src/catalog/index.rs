//! `catalog/_index.json`: every part with its row count, size and sha256, sorted by
//! interval and key,
//! so a reader can find and verify the catalog without listing the bucket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CatalogError, INDEX_KEY};

/// Format name written in the index.
pub(crate) const INDEX_FORMAT: &str = "nexis-catalog-1";
/// Largest index accepted when reading.
pub(crate) const MAX_INDEX_BYTES: u64 = 64 << 20;

/// One part in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Bucket key of the part file.
    pub key: String,
    pub(crate) interval: u64,
    /// Rows in the part.
    pub rows: u64,
    /// Size of the part file in bytes.
    pub bytes: u64,
    /// Hex sha256 of the part file.
    pub sha256: String,
}

/// The index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogIndex {
    pub(crate) format: String,
    /// Sum of the parts' rows.
    pub rows: u64,
    /// Every part, sorted by key.
    pub parts: Vec<PartEntry>,
}

impl CatalogIndex {
    /// Parses an index.
    pub fn parse(bytes: &[u8]) -> Result<Self, CatalogError> {
        let index: Self = serde_json::from_slice(bytes)
            .map_err(|e| CatalogError::Index { key: INDEX_KEY.into(), message: e.to_string() })?;
        if index.format != INDEX_FORMAT {
            return Err(CatalogError::Index {
                key: INDEX_KEY.into(),
                message: format!("format {:?} is not {INDEX_FORMAT:?}", index.format),
            });
        }
        Ok(index)
    }

    /// Builds an index from entries (deduplicated by key, later ones win; sorted by
    /// interval, then key).
    pub(crate) fn from_entries(entries: impl IntoIterator<Item = PartEntry>) -> Self {
        let by_key: BTreeMap<String, PartEntry> = entries.into_iter().map(|e| (e.key.clone(), e)).collect();
        let mut parts: Vec<PartEntry> = by_key.into_values().collect();
        parts.sort_by(|a, b| (a.interval, &a.key).cmp(&(b.interval, &b.key)));
        Self { format: INDEX_FORMAT.into(), rows: parts.iter().map(|p| p.rows).sum(), parts }
    }

    /// The index with `entry` added or replaced.
    pub(crate) fn with(self, entry: PartEntry) -> Self {
        Self::from_entries(self.parts.into_iter().chain([entry]))
    }

    /// Pretty JSON.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, rows: u64) -> PartEntry {
        PartEntry { key: key.into(), interval: 1, rows, bytes: 10, sha256: "ab".into() }
    }

    #[test]
    fn entries_are_replaced_sorted_and_summed() {
        let index = CatalogIndex::default().with(entry("b", 2)).with(entry("a", 3)).with(entry("b", 5));
        assert_eq!(index.parts.iter().map(|p| (p.key.as_str(), p.rows)).collect::<Vec<_>>(), [("a", 3), ("b", 5)]);
        assert_eq!(index.rows, 8);
        let back = CatalogIndex::parse(&index.to_json()).expect("parse");
        assert_eq!(back, index);
        assert!(CatalogIndex::parse(b"{\"format\":\"other\",\"rows\":0,\"parts\":[]}").is_err());
        assert!(CatalogIndex::parse(b"not json").is_err());
    }
}
