//! The owner dataset as a dataset (issue 18): a Hive-partitioned parquet catalog of every
//! copied clip (`catalog/interval={I}/part-{hotkey prefix}.parquet` + `catalog/_index.json`
//! in the owner bucket), the polars-backed reader behind `nexis dataset stats` / `query`,
//! the WebDataset exporter, and the rebuild of the catalog from objects already copied.
//!
//! - [`row`]: one catalog row and its arrow schema.
//! - [`part`]: the deterministic parquet encoding of a part (zstd, streaming row groups).
//! - [`shape`]: the shape columns of a bundle's rows.
//! - [`index`]: the index of parts, `catalog/_index.json`.
//! - [`publish`]: writing a part and updating the index in a bucket.
//! - [`frame`]: loading the catalog into polars (a local mirror or the bucket), SQL.
//! - [`stats`]: the numbers of `nexis dataset stats` and its chart.
//! - [`export`]: WebDataset tar shards.
//! - [`rebuild`]: the catalog from the owner bucket and the record-info bundles.

pub mod export;
pub mod frame;
pub(crate) mod index;
pub(crate) mod part;
pub mod plot;
pub(crate) mod publish;
pub mod rebuild;
pub(crate) mod row;
mod sandbox;
pub(crate) mod shape;
pub mod stats;

pub use index::{CatalogIndex, PartEntry};
pub use row::CatalogRow;

/// Top-level folder of the catalog in the owner bucket.
pub(crate) const CATALOG_PREFIX: &str = "catalog";
/// The index of the catalog's parts.
pub(crate) const INDEX_KEY: &str = "catalog/_index.json";
/// Characters of the miner hotkey that name its part.
pub(crate) const HOTKEY_PREFIX_LEN: usize = 4;

/// Catalog failures.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A part file could not be encoded or decoded.
    #[error("catalog parquet {path}: {message}")]
    Parquet {
        /// The part file.
        path: String,
        /// The parquet or arrow error.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("catalog file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bucket could not be read or written.
    #[error("catalog storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// `catalog/_index.json` could not be parsed.
    #[error("catalog index {key} is not valid JSON: {message}")]
    Index {
        /// The index key.
        key: String,
        /// The parse error.
        message: String,
    },
    /// A polars query or SQL statement failed.
    #[error("catalog query: {0}")]
    Query(String),
    /// A downloaded part does not hash to what the index says.
    #[error("catalog part {key}: sha256 {actual} differs from the index's {expected}")]
    PartDigest {
        /// The part key.
        key: String,
        /// The index's sha256.
        expected: String,
        /// The downloaded bytes' sha256.
        actual: String,
    },
    /// Input that is not a valid bundle, row or metadata file.
    #[error("{0}")]
    Invalid(String),
}

impl CatalogError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }

    pub(crate) fn parquet(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        Self::Parquet { path: path.display().to_string(), message: e.to_string() }
    }
}

impl From<polars::error::PolarsError> for CatalogError {
    fn from(e: polars::error::PolarsError) -> Self {
        Self::Query(e.to_string())
    }
}

/// The part name of a miner: the first [`HOTKEY_PREFIX_LEN`] ASCII letters and digits of
/// its hotkey (`_` if it has none), so a part path never holds anything else.
pub fn hotkey_prefix(hotkey: &str) -> String {
    let p: String = hotkey.chars().filter(char::is_ascii_alphanumeric).take(HOTKEY_PREFIX_LEN).collect();
    if p.is_empty() { "_".to_string() } else { p }
}

/// `catalog/interval={I}/part-{prefix}.parquet`.
pub fn part_key(interval_id: u64, prefix: &str) -> String {
    format!("{CATALOG_PREFIX}/interval={interval_id}/part-{prefix}.parquet")
}

/// The interval and prefix of a part key, `None` for any other key.
pub(crate) fn parse_part_key(key: &str) -> Option<(u64, String)> {
    let rest = key.strip_prefix(CATALOG_PREFIX)?.strip_prefix("/interval=")?;
    let (interval, file) = rest.split_once('/')?;
    if interval.is_empty() || !interval.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix = file.strip_prefix("part-")?.strip_suffix(".parquet")?;
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((interval.parse().ok()?, prefix.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_keys_round_trip_and_prefixes_are_path_safe() {
        let hk = "5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9";
        assert_eq!(hotkey_prefix(hk), "5E9h");
        assert_eq!(hotkey_prefix("../x=y"), "xy");
        assert_eq!(hotkey_prefix("/.="), "_");
        assert_eq!(part_key(50, "5E9h"), "catalog/interval=50/part-5E9h.parquet");
        assert_eq!(parse_part_key("catalog/interval=50/part-5E9h.parquet"), Some((50, "5E9h".into())));
        for other in [
            "catalog/_index.json",
            "catalog/interval=x/part-a.parquet",
            "catalog/interval=5/part-.parquet",
            "catalog/interval=5/part-a/b.parquet",
            "catalog/interval=5/other.parquet",
            "nature/x/clip.mp4",
        ] {
            assert_eq!(parse_part_key(other), None, "{other}");
        }
    }
}
