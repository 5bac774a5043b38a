//! Per-row progress of the owner sync worker, in a sled database under `NEXIS_WORKDIR`:
//! which rows are copied, which failed (attempts, last error, when to retry) and which
//! were given up. A row's entry is written only after its objects are uploaded, so a
//! crash at any point at worst repeats a row, and a repeat overwrites the same keys.
//!
//! Beside the rows it keeps each copied row's catalog entry (so a catalog part is rebuilt
//! from recorded state, byte for byte), each broken bundle's attempts, and the high-water
//! interval below which every bundle is finished.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::{CatalogRow, hotkey_prefix};
use crate::protocol::{IntervalId, PackageKey};

/// Progress database failures.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error(
        "owner sync progress database: {0} (is another `nexis sync-owner-datasets` running with this NEXIS_WORKDIR?)"
    )]
    /// A read or write of the store failed.
    Db(#[from] sled::Error),
    /// A stored entry could not be decoded.
    #[error("owner sync progress entry is corrupt: {0}")]
    Corrupt(String),
    /// The blocking task that writes the store failed.
    #[error("owner sync progress task failed: {0}")]
    Task(String),
}

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RowStatus {
    /// Clip, first image and metadata are in the owner bucket.
    Copied,
    /// The last attempt failed; retried after `retry_at`.
    Failed,
    /// Failed `attempts` times; not retried again.
    GivenUp,
}

/// The stored state of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowProgress {
    pub(crate) status: RowStatus,
    /// Failed attempts so far.
    pub(crate) attempts: u32,
    /// The owner row id (UUID text).
    pub(crate) id: String,
    pub(crate) last_error: Option<String>,
    /// Unix seconds before which a failed row is not retried.
    pub(crate) retry_at: i64,
}

/// Retry schedule of failed rows: `base * 2^(attempts-1)`, capped, and given up after
/// `max_attempts` failed attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed attempts after which a row is given up.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles per attempt.
    pub base: Duration,
    /// Longest delay between retries.
    pub cap: Duration,
}

impl RetryPolicy {
    /// Delay before the next try after `attempts` failures.
    pub(crate) fn delay(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// The state after one more failure at unix time `now`.
    pub(crate) fn after_failure(
        &self,
        previous: Option<&RowProgress>,
        id: &str,
        error: String,
        now: i64,
    ) -> RowProgress {
        let attempts = previous.map_or(0, |p| p.attempts).saturating_add(1);
        let status = if attempts >= self.max_attempts.max(1) { RowStatus::GivenUp } else { RowStatus::Failed };
        let delay = i64::try_from(self.delay(attempts).as_secs()).unwrap_or(i64::MAX / 2);
        RowProgress {
            status,
            attempts,
            id: id.to_string(),
            last_error: Some(error),
            retry_at: now.saturating_add(delay),
        }
    }
}

/// The stored state of a bundle that could not be read (broken manifest or dataset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleProgress {
    /// Failed passes so far.
    pub attempts: u32,
    /// Failed as often as the row attempt limit; not tried again.
    pub given_up: bool,
    /// Why the last read failed.
    pub last_error: String,
}

/// The progress database.
#[derive(Debug, Clone)]
pub struct ProgressStore {
    _db: sled::Db,
    rows: sled::Tree,
    catalog: sled::Tree,
    bundles: sled::Tree,
    meta: sled::Tree,
}

const HIGH_WATER: &[u8] = b"high_water_interval";
const LAST_FULL_LIST: &[u8] = b"last_full_list_unix";
const MAX_SEEN: &[u8] = b"max_seen_interval";

fn bundle_key(key: &PackageKey) -> Vec<u8> {
    let (interval_id, hotkey) = (key.interval.get(), key.miner.as_str());
    let mut key = interval_id.to_be_bytes().to_vec();
    key.extend_from_slice(hotkey.as_bytes());
    key
}

fn corrupt(e: serde_json::Error) -> ProgressError {
    ProgressError::Corrupt(e.to_string())
}

fn row_key(key: &PackageKey, clip_id: &str) -> Vec<u8> {
    let (interval_id, hotkey) = (key.interval.get(), key.miner.as_str());
    // Length-prefixed parts, so no part can run into the next.
    let mut key = Vec::with_capacity(8 + 8 + hotkey.len() + clip_id.len());
    key.extend_from_slice(&interval_id.to_be_bytes());
    key.extend_from_slice(&(hotkey.len() as u32).to_be_bytes());
    key.extend_from_slice(hotkey.as_bytes());
    key.extend_from_slice(clip_id.as_bytes());
    key
}

impl ProgressStore {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ProgressError> {
        let db = sled::open(path)?;
        let rows = db.open_tree("rows")?;
        let catalog = db.open_tree("catalog")?;
        let bundles = db.open_tree("bundles")?;
        let meta = db.open_tree("meta")?;
        Ok(Self { _db: db, rows, catalog, bundles, meta })
    }

    /// The state of a row, if it was ever attempted.
    pub(crate) fn get(&self, key: &PackageKey, clip_id: &str) -> Result<Option<RowProgress>, ProgressError> {
        match self.rows.get(row_key(key, clip_id))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| ProgressError::Corrupt(e.to_string())),
        }
    }

    /// Records the state of a row durably.
    pub(crate) fn put(&self, key: &PackageKey, clip_id: &str, progress: &RowProgress) -> Result<(), ProgressError> {
        let bytes = serde_json::to_vec(progress).map_err(|e| ProgressError::Corrupt(e.to_string()))?;
        self.rows.insert(row_key(key, clip_id), bytes)?;
        self.rows.flush()?;
        Ok(())
    }

    /// Records the catalog entry of a copied row (before its progress says copied).
    pub(crate) fn put_catalog(&self, row: &CatalogRow) -> Result<(), ProgressError> {
        let bytes = serde_json::to_vec(row).map_err(corrupt)?;
        self.catalog.insert(
            row_key(&PackageKey::new(IntervalId::new(row.interval), row.miner_hotkey.as_str()), &row.clip_id),
            bytes,
        )?;
        Ok(())
    }

    /// The catalog entries of interval `interval_id` whose miner hotkey has part prefix
    /// `prefix` (see [`hotkey_prefix`]).
    pub(crate) fn catalog_rows(&self, interval_id: u64, prefix: &str) -> Result<Vec<CatalogRow>, ProgressError> {
        let mut out = Vec::new();
        for item in self.catalog.scan_prefix(interval_id.to_be_bytes()) {
            let (_, v) = item?;
            let row: CatalogRow = serde_json::from_slice(&v).map_err(corrupt)?;
            if hotkey_prefix(&row.miner_hotkey) == prefix {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// The state of a broken bundle, if it ever failed.
    pub fn bundle(&self, key: &PackageKey) -> Result<Option<BundleProgress>, ProgressError> {
        match self.bundles.get(bundle_key(key))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(corrupt),
        }
    }

    /// Records the state of a broken bundle.
    pub(crate) fn put_bundle(&self, key: &PackageKey, state: &BundleProgress) -> Result<(), ProgressError> {
        let bytes = serde_json::to_vec(state).map_err(corrupt)?;
        self.bundles.insert(bundle_key(key), bytes)?;
        self.bundles.flush()?;
        Ok(())
    }

    /// Puts back the state a bundle had before a decode started (`None`: no record).
    pub(crate) fn restore_bundle(&self, key: &PackageKey, state: Option<&BundleProgress>) -> Result<(), ProgressError> {
        match state {
            Some(state) => self.put_bundle(key, state),
            None => {
                self.bundles.remove(bundle_key(key))?;
                self.bundles.flush()?;
                Ok(())
            }
        }
    }

    /// The high-water interval: every bundle below it is finished.
    pub(crate) fn high_water(&self) -> Result<Option<u64>, ProgressError> {
        Ok(self.meta.get(HIGH_WATER)?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map(u64::from_be_bytes))
    }

    /// Records the high-water interval.
    pub(crate) fn set_high_water(&self, interval_id: u64) -> Result<(), ProgressError> {
        self.meta.insert(HIGH_WATER, &interval_id.to_be_bytes())?;
        self.meta.flush()?;
        Ok(())
    }

    /// The highest interval any listing has shown.
    pub(crate) fn max_seen(&self) -> Result<Option<u64>, ProgressError> {
        Ok(self.meta.get(MAX_SEEN)?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map(u64::from_be_bytes))
    }

    /// Raises the highest interval seen to `interval_id`.
    pub(crate) fn see_interval(&self, interval_id: u64) -> Result<(), ProgressError> {
        if self.max_seen()?.is_none_or(|m| m < interval_id) {
            self.meta.insert(MAX_SEEN, &interval_id.to_be_bytes())?;
        }
        Ok(())
    }

    /// When the whole record-info bucket was last listed (unix seconds).
    pub(crate) fn last_full_list(&self) -> Result<Option<i64>, ProgressError> {
        Ok(self.meta.get(LAST_FULL_LIST)?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map(i64::from_be_bytes))
    }

    /// Records a whole listing at unix time `at`.
    pub(crate) fn set_last_full_list(&self, at: i64) -> Result<(), ProgressError> {
        self.meta.insert(LAST_FULL_LIST, &at.to_be_bytes())?;
        self.meta.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_gives_up() {
        let p = RetryPolicy { max_attempts: 3, base: Duration::from_secs(60), cap: Duration::from_secs(150) };
        assert_eq!([1, 2, 3, 4].map(|a| p.delay(a).as_secs()), [60, 120, 150, 150]);
        let first = p.after_failure(None, "id", "boom".into(), 1000);
        assert_eq!((first.status, first.attempts, first.retry_at), (RowStatus::Failed, 1, 1060));
        let second = p.after_failure(Some(&first), "id", "boom".into(), 2000);
        assert_eq!((second.status, second.attempts), (RowStatus::Failed, 2));
        let third = p.after_failure(Some(&second), "id", "boom".into(), 3000);
        assert_eq!((third.status, third.attempts), (RowStatus::GivenUp, 3));
        let once = RetryPolicy { max_attempts: 1, ..p };
        assert_eq!(once.after_failure(None, "id", "x".into(), 0).status, RowStatus::GivenUp);
    }

    #[test]
    fn rows_round_trip_and_keys_do_not_collide() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProgressStore::open(&dir.path().join("db")).expect("open");
        let p = RowProgress { status: RowStatus::Copied, attempts: 0, id: "u".into(), last_error: None, retry_at: 0 };
        let key = |interval: u64, miner: &str| PackageKey::new(IntervalId::new(interval), miner);
        store.put(&key(5, "ab"), "c", &p).expect("put");
        assert_eq!(store.get(&key(5, "ab"), "c").expect("get"), Some(p));
        assert_eq!(store.get(&key(5, "a"), "bc").expect("get"), None);
        assert_eq!(store.get(&key(6, "ab"), "c").expect("get"), None);
    }
}
