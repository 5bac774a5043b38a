//! Bundles the owner validator has not published yet, in the validator's sled state under
//! `NEXIS_WORKDIR` (recorded in the same transaction as their interval). Every accepted
//! package is written here before its bundle is built and removed once published, so a
//! transient failure, or a stop, crash or restart in the middle of publishing, is retried
//! (on the next start, then after each interval, up to a set number of attempts).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::IntervalManifest;
use crate::protocol::{IntervalId, PackageKey};
use crate::validator::KeptPackage;

/// Pending-bundle database failures.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    /// A read or write of the store failed.
    #[error("owner publishing database: {0} (is another owner validator running with this NEXIS_WORKDIR?)")]
    Db(#[from] sled::Error),
    /// A stored entry could not be decoded.
    #[error("owner publishing entry is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    interval_id: u64,
    miner_hotkey: String,
    /// The accepted manifest as `IntervalManifest::to_pretty_json` writes it.
    manifest: String,
    rows: Vec<u32>,
    attempts: u32,
    last_error: Option<String>,
}

/// A bundle still to publish.
#[derive(Debug, Clone)]
pub struct PendingBundle {
    /// The interval of the bundle.
    pub interval_id: u64,
    /// The accepted package and the rows kept after pruning.
    pub kept: KeptPackage,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// The pending-bundle database.
#[derive(Debug, Clone)]
pub struct PendingBundles {
    _db: Option<sled::Db>,
    tree: sled::Tree,
}

fn key(package: &PackageKey) -> Vec<u8> {
    let mut k = package.interval.get().to_be_bytes().to_vec();
    k.extend_from_slice(package.miner.as_str().as_bytes());
    k
}

/// The key of `kept` in `interval_id`.
fn kept_key(interval_id: u64, kept: &KeptPackage) -> Vec<u8> {
    key(&PackageKey::new(IntervalId::new(interval_id), kept.miner_hotkey.as_str()))
}

impl PendingBundles {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, PendingError> {
        let db = sled::open(path)?;
        let tree = db.open_tree("pending")?;
        Ok(Self { _db: Some(db), tree })
    }

    /// Pending bundles kept in `tree` (the validator state's owner-pending tree, so this
    /// interval's bundles are recorded atomically with the interval).
    pub fn in_tree(tree: sled::Tree) -> Self {
        Self { _db: None, tree }
    }

    /// The `(key, value)` entry recording `kept` of `interval_id` as pending with no
    /// attempts yet, for [`crate::validator::IntervalRecord::pending_bundles`].
    pub fn entry(interval_id: u64, kept: &KeptPackage) -> Result<(Vec<u8>, Vec<u8>), PendingError> {
        Ok((kept_key(interval_id, kept), Self::value(interval_id, kept, 0, None)?))
    }

    fn value(
        interval_id: u64,
        kept: &KeptPackage,
        attempts: u32,
        last_error: Option<String>,
    ) -> Result<Vec<u8>, PendingError> {
        let stored = Stored {
            interval_id,
            miner_hotkey: kept.miner_hotkey.clone(),
            manifest: kept.manifest.to_pretty_json(),
            rows: kept.rows.clone(),
            attempts,
            last_error,
        };
        serde_json::to_vec(&stored).map_err(|e| PendingError::Corrupt(e.to_string()))
    }

    /// Copies every entry of the stand-alone database at `path` (before pending bundles
    /// moved into the validator state) into this one; returns how many.
    pub fn import_from(&self, path: &Path) -> Result<usize, PendingError> {
        let old = Self::open(path)?;
        let mut n = 0;
        for item in old.tree.iter() {
            let (k, v) = item?;
            if !self.tree.contains_key(&k)? {
                self.tree.insert(k, v)?;
                n += 1;
            }
        }
        self.tree.flush()?;
        Ok(n)
    }

    /// Records `kept` of `interval_id` as pending after `attempts` failures.
    pub fn put(
        &self,
        interval_id: u64,
        kept: &KeptPackage,
        attempts: u32,
        last_error: Option<String>,
    ) -> Result<(), PendingError> {
        let bytes = Self::value(interval_id, kept, attempts, last_error)?;
        self.tree.insert(kept_key(interval_id, kept), bytes)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Removes a bundle (published or given up).
    pub(crate) fn remove(&self, package: &PackageKey) -> Result<(), PendingError> {
        self.tree.remove(key(package))?;
        self.tree.flush()?;
        Ok(())
    }

    /// Every pending bundle, oldest interval first.
    pub fn all(&self) -> Result<Vec<PendingBundle>, PendingError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (_, v) = item?;
            let s: Stored = serde_json::from_slice(&v).map_err(|e| PendingError::Corrupt(e.to_string()))?;
            let manifest =
                IntervalManifest::parse(s.manifest.as_bytes()).map_err(|e| PendingError::Corrupt(e.to_string()))?;
            out.push(PendingBundle {
                interval_id: s.interval_id,
                kept: KeptPackage { miner_hotkey: s.miner_hotkey, manifest, rows: s.rows },
                attempts: s.attempts,
            });
        }
        Ok(out)
    }
}
