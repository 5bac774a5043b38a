//! What this miner has already packaged: `(video_id, start)` pairs in sled under
//! `NEXIS_WORKDIR`, so no segment is ever published twice.

use std::path::{Path, PathBuf};

/// Ledger failures.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The ledger database could not be opened (often: another miner holds it).
    #[error("cannot open the miner ledger at {path}: {source} (is another nexis miner using this NEXIS_WORKDIR?)")]
    Open {
        /// The ledger directory.
        path: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: sled::Error,
    },
    /// A read or write of the ledger failed.
    #[error("miner ledger: {0}")]
    Db(#[from] sled::Error),
}

/// The published-segment ledger.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: sled::Db,
    tree: sled::Tree,
}

fn key(video_id: &str, start: f64) -> Vec<u8> {
    let mut k = video_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&((start * 1000.0).round() as u64).to_be_bytes());
    k
}

impl Ledger {
    /// Opens (creating) the ledger at `dir`.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .map_err(|source| LedgerError::Open { path: dir.to_path_buf(), source })?;
        let tree = db.open_tree("published")?;
        Ok(Self { db, tree })
    }

    /// Whether the segment of `video_id` at `start` was packaged before.
    pub(crate) fn contains(&self, video_id: &str, start: f64) -> Result<bool, LedgerError> {
        Ok(self.tree.contains_key(key(video_id, start))?)
    }

    /// Whether any segment of `video_id` was packaged before.
    pub(crate) fn has_video(&self, video_id: &str) -> Result<bool, LedgerError> {
        let mut prefix = video_id.as_bytes().to_vec();
        prefix.push(0);
        Ok(self.tree.scan_prefix(prefix).next().transpose()?.is_some())
    }

    /// Records segments as packaged for `interval_id`, atomically and durably.
    pub(crate) fn record<'a>(
        &self,
        interval_id: u64,
        segments: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Result<(), LedgerError> {
        let mut batch = sled::Batch::default();
        for (video_id, start) in segments {
            batch.insert(key(video_id, start), &interval_id.to_be_bytes());
        }
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }
}
