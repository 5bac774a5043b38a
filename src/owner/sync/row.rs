//! One row of a bundle: fetch its clip and first frame from the miner's bucket, verify
//! both digests, write the three owner objects and record the row's progress and catalog entry.

use std::path::{Path, PathBuf};

use super::{OwnerSync, now_unix};
use tracing::{debug, warn};

use crate::bundle::BundleRow;
use crate::bundle::keys::{owner_clip_key, owner_image_key, owner_metadata_key, owner_row_id};
use crate::catalog::CatalogRow;
use crate::catalog::row::{CopiedObjects, RowBundle};
use crate::catalog::shape::ClipShape;
use crate::media::fingerprint::fingerprint_jpeg;
use crate::owner::metadata::OwnerMetadata;
use crate::owner::progress::{ProgressError, RowProgress, RowStatus};
use crate::owner::summary::RowFailure;
use crate::protocol::PackageKey;
use crate::storage::{ObjectStore, StorageError, asset_key, normalize_uri};

/// Why one row was not copied (counted as a failed attempt).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RowError {
    #[error("row has no clip_id")]
    NoClipId,
    #[error("invalid asset uri {0:?}")]
    InvalidUri(String),
    #[error("invalid clip_start_sec {0}")]
    InvalidStart(f64),
    #[error("miner has no usable committed read credentials: {0}")]
    NoCredentials(String),
    #[error("cannot fetch the {what} {key}: {error}")]
    Fetch { what: &'static str, key: String, error: StorageError },
    #[error("{what} sha256 mismatch: row says {expected}, the bytes hash to {actual}")]
    HashMismatch { what: &'static str, expected: String, actual: String },
    #[error("cannot write {key} to the owner bucket: {error}")]
    Upload { key: String, error: StorageError },
    #[error("scratch space: {0}")]
    Scratch(String),
}

/// What happened to one row this pass.
pub(super) enum RowOutcome {
    AlreadyCopied,
    AlreadyGivenUp,
    Waiting,
    Copied,
    Failed(RowFailure),
}

/// One asset of a row to fetch from the miner's bucket and verify.
struct Asset<'a> {
    /// What it is, for errors: `clip` or `first frame`.
    what: &'static str,
    /// Its key in the miner's bucket.
    key: String,
    /// The sha256 the row says it has.
    expected: &'a str,
    /// Size cap of the download.
    cap: u64,
    /// Where it is downloaded.
    path: PathBuf,
}

impl OwnerSync {
    pub(super) async fn sync_row(
        &self,
        key: &PackageKey,
        (row, shape): (&BundleRow, &ClipShape),
        store: Result<&dyn ObjectStore, &String>,
        dir: &Path,
    ) -> Result<RowOutcome, ProgressError> {
        let (interval_id, hotkey) = (key.interval.get(), key.miner.as_str());
        let previous = self.progress.get(key, &row.clip_id)?;
        match &previous {
            Some(p) if p.status == RowStatus::Copied => return Ok(RowOutcome::AlreadyCopied),
            Some(p) if p.status == RowStatus::GivenUp => return Ok(RowOutcome::AlreadyGivenUp),
            Some(p) if p.retry_at > now_unix() => return Ok(RowOutcome::Waiting),
            _ => {}
        }
        let id = owner_row_id(hotkey, interval_id, &row.clip_id);
        let result = match store {
            Ok(store) => self.copy_row(interval_id, row, &id, store, dir).await,
            Err(why) => Err(RowError::NoCredentials(why.clone())),
        };
        match result {
            Ok(copied) => {
                let bundle = RowBundle {
                    interval: interval_id,
                    miner_hotkey: hotkey,
                    validator_hotkey: self.settings.validator_hotkey.as_deref(),
                };
                let copied = CopiedObjects { copied_at_us: Some(chrono::Utc::now().timestamp_micros()), ..copied };
                let entry = CatalogRow::of_bundle_row(row, shape, bundle, copied);
                self.progress.put_catalog(&entry)?;
                let attempts = previous.map_or(0, |p| p.attempts);
                let done = RowProgress { status: RowStatus::Copied, attempts, id, last_error: None, retry_at: 0 };
                self.record(key, &row.clip_id, done).await?;
                debug!(interval_id, miner = %hotkey, clip_id = %row.clip_id, "row copied");
                if !self.settings.pause_after_row.is_zero() {
                    tokio::time::sleep(self.settings.pause_after_row).await;
                }
                Ok(RowOutcome::Copied)
            }
            Err(e) => {
                let state = self.settings.retry.after_failure(previous.as_ref(), &id, e.to_string(), now_unix());
                let given_up = state.status == RowStatus::GivenUp;
                let attempts = state.attempts;
                self.record(key, &row.clip_id, state).await?;
                warn!(
                    interval_id,
                    miner = %hotkey,
                    clip_id = %row.clip_id,
                    attempts,
                    given_up,
                    error = %e,
                    "row not copied"
                );
                Ok(RowOutcome::Failed(RowFailure {
                    interval_id,
                    hotkey: hotkey.to_string(),
                    clip_id: row.clip_id.clone(),
                    attempts,
                    given_up,
                    error: e.to_string(),
                }))
            }
        }
    }

    /// Stores a row's progress durably, off the async runtime (sled flushes to disk).
    pub(super) async fn record(
        &self,
        key: &PackageKey,
        clip_id: &str,
        progress: RowProgress,
    ) -> Result<(), ProgressError> {
        let store = self.progress.clone();
        let (key, clip_id) = (key.clone(), clip_id.to_string());
        tokio::task::spawn_blocking(move || store.put(&key, &clip_id, &progress))
            .await
            .map_err(|e| ProgressError::Task(e.to_string()))?
    }

    /// Fetches and verifies both assets, then writes the three owner objects; returns the
    /// clip's and the image's sizes (the copy time is set once the row is recorded).
    pub(super) async fn copy_row(
        &self,
        interval_id: u64,
        row: &BundleRow,
        id: &str,
        store: &dyn ObjectStore,
        dir: &Path,
    ) -> Result<CopiedObjects, RowError> {
        if row.clip_id.is_empty() {
            return Err(RowError::NoClipId);
        }
        let metadata = OwnerMetadata::of(row).ok_or(RowError::InvalidStart(row.clip_start_sec))?;
        let clip_uri = normalize_uri(&row.clip_uri).ok_or_else(|| RowError::InvalidUri(row.clip_uri.clone()))?;
        let frame_uri =
            normalize_uri(&row.first_frame_uri).ok_or_else(|| RowError::InvalidUri(row.first_frame_uri.clone()))?;
        let tmp =
            tempfile::Builder::new().prefix("row-").tempdir_in(dir).map_err(|e| RowError::Scratch(e.to_string()))?;
        let s = &self.settings;
        let assets = [
            Asset {
                what: "clip",
                key: asset_key(interval_id, &clip_uri),
                expected: &row.clip_sha256,
                cap: s.max_clip_bytes,
                path: tmp.path().join("clip"),
            },
            Asset {
                what: "first frame",
                key: asset_key(interval_id, &frame_uri),
                expected: &row.first_frame_sha256,
                cap: s.max_frame_bytes,
                path: tmp.path().join("frame"),
            },
        ];
        let mut sizes = [0u64; 2];
        for (slot, Asset { what, key, expected, cap, path }) in assets.iter().enumerate() {
            let got = store.get_to_file(key, path, *cap).await.map_err(|error| RowError::Fetch {
                what,
                key: key.clone(),
                error,
            })?;
            if got.sha256 != *expected {
                return Err(RowError::HashMismatch { what, expected: expected.to_string(), actual: got.sha256 });
            }
            sizes[slot] = got.size;
        }
        let [clip, image] = &assets;
        let image_path = image.path.clone();
        let fingerprint = tokio::task::spawn_blocking(move || {
            std::fs::read(&image_path).ok().and_then(|bytes| fingerprint_jpeg(&bytes))
        })
        .await
        .ok()
        .flatten();
        let upload = |key: String| move |error: StorageError| RowError::Upload { key, error };
        let key = owner_clip_key(id);
        self.owner_db.put_file(&key, &clip.path).await.map_err(upload(key.clone()))?;
        let key = owner_image_key(id);
        self.owner_db.put_file(&key, &image.path).await.map_err(upload(key.clone()))?;
        let key = owner_metadata_key(id);
        self.owner_db.put_bytes(&key, &metadata.to_json()).await.map_err(upload(key.clone()))?;
        Ok(CopiedObjects {
            clip_bytes: sizes[0],
            image_bytes: sizes[1],
            copied_at_us: None,
            content_fingerprint: fingerprint,
        })
    }
}
