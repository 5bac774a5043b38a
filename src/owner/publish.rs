//! Owner mode of `nexis validate` (protocol §13): after an interval is recorded, publish
//! each accepted miner's post-prune bundle and the merged overlap snapshot to the
//! record-info bucket.
//!
//! A bundle is the miner's `dataset.parquet` (re-fetched, size-capped, and checked to be
//! the exact bytes that were accepted) cut down to the kept rows, plus a manifest copy
//! with `record_count` and `dataset_sha256` updated. The dataset goes first and the
//! manifest last, so a visible manifest means a complete bundle.
//!
//! `record_info.json` is published only when this interval's snapshot read was trusted
//! (parsed, or absent). It is re-read right before writing and refused if it became
//! unparseable; then the published entries, this validator's whole index (which already
//! holds the snapshot and every kept row) are merged, written in the canonical form to a
//! temporary key, read back and compared, and only then written to the real key.
//!
//! A bundle that cannot be published (miner bucket unreachable, a crash mid-publish) stays
//! in [`PendingBundles`] and is tried again after the next interval, up to
//! [`DEFAULT_MAX_ATTEMPTS`] times by default. The snapshot needs no such bookkeeping: each
//! publication writes the whole merged index.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use super::pending::{PendingBundle, PendingBundles};
use crate::bundle::keys::{bundle_dataset_key, bundle_manifest_key, snapshot_temp_key};
use crate::bundle::{BundleError, write_kept_rows};
use crate::chain::{Chain, ChainError, NetUid, ReadCredentials};
use crate::index::overlap::OverlapIndex;
use crate::index::refresh::SnapshotRead;
use crate::index::snapshot::{self, MAX_SNAPSHOT_BYTES, Snapshot};
use crate::protocol::{IntervalId, PackageKey};
use crate::storage::MinerStores;
use crate::storage::{ObjectStore, StorageError, dataset_key};
use crate::validator::{IntervalPublisher, IntervalReport, KeptPackage, PublishSummary};

/// Attempts per bundle before it is given up (one per interval: about an hour).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// Why one bundle was not published.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("miner {hotkey} has no committed read credentials any more; its bundle cannot be built")]
    NoCredentials { hotkey: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "the miner's dataset.parquet changed after validation (accepted sha256 {expected}, now {actual}); the \
         bundle is not published"
    )]
    DatasetChanged { expected: String, actual: String },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("scratch space: {0}")]
    Scratch(String),
}

/// What happened to `record_info.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotPublish {
    /// Written (temporary key, then the real key) with this many (key, start) entries.
    Uploaded {
        /// (key, start) entries written.
        entries: usize,
    },
    /// Not written: the snapshot read was untrusted (unparseable or unreadable).
    Untrusted(String),
    /// Not written: no snapshot read happened for this interval.
    NotRead,
    /// Writing failed; the published snapshot is unchanged or complete.
    Failed(String),
}

/// The outcome of publishing one interval.
#[derive(Debug, Clone)]
pub struct PublishReport {
    pub(crate) interval_id: u64,
    /// Bundles written: interval, hotkey, rows.
    pub published: Vec<(u64, String, u64)>,
    /// Bundles not written this time: interval, hotkey, reason.
    pub failed: Vec<(u64, String, String)>,
    /// Bundles that failed their last attempt and are dropped: interval, hotkey, reason.
    pub given_up: Vec<(u64, String, String)>,
    /// What happened to `record_info.json`.
    pub snapshot: SnapshotPublish,
}

/// Publishes owner bundles and the snapshot.
#[derive(Clone)]
pub struct OwnerPublisher {
    /// The record-info bucket, with write credentials.
    pub record_info: Arc<dyn ObjectStore>,
    /// Key of `record_info.json`.
    pub snapshot_key: String,
    /// Reads the miners' commitments (bucket credentials).
    pub chain: Arc<dyn Chain>,
    /// The subnet whose miners are published.
    pub netuid: NetUid,
    /// Miner buckets (to re-fetch the accepted datasets).
    pub stores: Arc<dyn MinerStores>,
    /// Where temporary files go.
    pub scratch: PathBuf,
    /// Size cap of a miner's dataset download.
    pub max_dataset_bytes: u64,
    /// Bundles not published yet; without it a failed bundle is not retried.
    pub pending: Option<PendingBundles>,
    /// Attempts per bundle before it is given up.
    pub max_attempts: u32,
}

impl std::fmt::Debug for OwnerPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerPublisher").field("snapshot_key", &self.snapshot_key).finish_non_exhaustive()
    }
}

impl OwnerPublisher {
    /// Publishes the bundles of `report`'s accepted miners and any bundle still pending
    /// from earlier intervals, then the snapshot when `read` (this interval's snapshot
    /// read) was trusted.
    pub async fn publish(
        &self,
        report: &IntervalReport,
        read: Option<&SnapshotRead>,
        index: &OverlapIndex,
    ) -> PublishReport {
        let interval_id = report.record.interval_id;
        let mut out = PublishReport {
            interval_id,
            published: Vec::new(),
            failed: Vec::new(),
            given_up: Vec::new(),
            snapshot: SnapshotPublish::NotRead,
        };
        let jobs = self.jobs(interval_id, &report.kept);
        if !jobs.is_empty() {
            match self.credentials().await {
                Ok(credentials) => {
                    for job in jobs {
                        let creds = credentials.get(&job.kept.miner_hotkey);
                        let result = self.publish_bundle(job.interval_id, &job.kept, creds).await;
                        self.settle(job, result, &mut out);
                    }
                }
                Err(e) => {
                    // Chain trouble is ours, not the bundle's: no attempt is counted.
                    warn!(interval_id, error = %e, "cannot read commitments; owner bundles wait for the next interval");
                    for job in jobs {
                        out.failed.push((job.interval_id, job.kept.miner_hotkey, e.to_string()));
                    }
                }
            }
        }
        out.snapshot = self.publish_snapshot(read, index).await;
        out
    }

    /// This interval's bundles, recorded as pending first, plus older pending ones.
    fn jobs(&self, interval_id: u64, kept: &[KeptPackage]) -> Vec<PendingBundle> {
        let fresh = || kept.iter().map(|k| PendingBundle { interval_id, kept: k.clone(), attempts: 0 }).collect();
        let Some(pending) = &self.pending else { return fresh() };
        for k in kept {
            if let Err(e) = pending.put(interval_id, k, 0, None) {
                warn!(interval_id, miner = %k.miner_hotkey, error = %e, "cannot record the bundle as pending");
            }
        }
        match pending.all() {
            Ok(all) => all,
            Err(e) => {
                warn!(error = %e, "cannot read pending owner bundles; publishing this interval's only");
                fresh()
            }
        }
    }

    /// Records the outcome of one bundle attempt.
    fn settle(&self, job: PendingBundle, result: Result<u64, PublishError>, out: &mut PublishReport) {
        let PendingBundle { interval_id, kept, attempts } = job;
        let hotkey = kept.miner_hotkey.clone();
        let key = PackageKey::new(IntervalId::new(interval_id), hotkey.as_str());
        let stored = match result {
            Ok(rows) => {
                info!(interval_id, miner = %hotkey, rows, "owner bundle published");
                out.published.push((interval_id, hotkey.clone(), rows));
                self.pending.as_ref().map(|p| p.remove(&key))
            }
            Err(e) => {
                let attempts = attempts.saturating_add(1);
                let error = e.to_string();
                out.failed.push((interval_id, hotkey.clone(), error.clone()));
                if attempts >= self.max_attempts.max(1) {
                    warn!(interval_id, miner = %hotkey, attempts, error = %error, "owner bundle given up");
                    out.given_up.push((interval_id, hotkey.clone(), error));
                    self.pending.as_ref().map(|p| p.remove(&key))
                } else {
                    warn!(interval_id, miner = %hotkey, attempts, error = %error, "owner bundle not published; retried after the next interval");
                    self.pending.as_ref().map(|p| p.put(interval_id, &kept, attempts, Some(error)))
                }
            }
        };
        if let Some(Err(e)) = stored {
            warn!(interval_id, miner = %hotkey, error = %e, "cannot update the pending owner bundles");
        }
    }

    async fn credentials(&self) -> Result<BTreeMap<String, ReadCredentials>, ChainError> {
        let commitments = self.chain.commitments(self.netuid).await?;
        Ok(commitments.into_iter().map(|c| (c.hotkey, c.credentials)).collect())
    }

    /// Writes `{I}/{hotkey}/dataset.parquet` then `{I}/{hotkey}/manifest.json`.
    async fn publish_bundle(
        &self,
        interval_id: u64,
        kept: &KeptPackage,
        credentials: Option<&ReadCredentials>,
    ) -> Result<u64, PublishError> {
        let hotkey = &kept.miner_hotkey;
        let credentials = credentials.ok_or_else(|| PublishError::NoCredentials { hotkey: hotkey.clone() })?;
        let store = self.stores.store_for(hotkey, credentials)?;
        std::fs::create_dir_all(&self.scratch)
            .map_err(|e| PublishError::Scratch(format!("{}: {e}", self.scratch.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("nexis-bundle-")
            .tempdir_in(&self.scratch)
            .map_err(|e| PublishError::Scratch(e.to_string()))?;
        let original = dir.path().join("miner.parquet");
        let fetched = store.get_to_file(&dataset_key(interval_id), &original, self.max_dataset_bytes).await?;
        if fetched.sha256 != kept.manifest.dataset_sha256.trim() {
            return Err(PublishError::DatasetChanged {
                expected: kept.manifest.dataset_sha256.clone(),
                actual: fetched.sha256,
            });
        }
        let bundle = dir.path().join("dataset.parquet");
        let rows = kept.rows.clone();
        let (src, dest) = (original.clone(), bundle.clone());
        let written = tokio::task::spawn_blocking(move || write_kept_rows(&src, &rows, &dest))
            .await
            .map_err(|e| PublishError::Scratch(format!("bundle writer task: {e}")))??;
        let bytes = tokio::fs::read(&bundle).await.map_err(|e| PublishError::Scratch(e.to_string()))?;
        let mut manifest = kept.manifest.clone();
        manifest.record_count = written;
        manifest.dataset_sha256 = hex::encode(Sha256::digest(&bytes));
        let key = PackageKey::new(IntervalId::new(interval_id), hotkey.as_str());
        self.record_info.put_bytes(&bundle_dataset_key(&key), &bytes).await?;
        self.record_info.put_bytes(&bundle_manifest_key(&key), manifest.to_pretty_json().as_bytes()).await?;
        Ok(written)
    }

    /// Publishes the merged snapshot when `read` was trusted (see the module docs).
    pub async fn publish_snapshot(&self, read: Option<&SnapshotRead>, index: &OverlapIndex) -> SnapshotPublish {
        let outcome = match read {
            None => SnapshotPublish::NotRead,
            Some(SnapshotRead::Untrusted(why)) => SnapshotPublish::Untrusted(why.clone()),
            Some(_) => self.write_snapshot(index).await,
        };
        match &outcome {
            SnapshotPublish::Uploaded { entries } => {
                info!(key = %self.snapshot_key, entries, "overlap snapshot published")
            }
            SnapshotPublish::Untrusted(why) => {
                warn!(key = %self.snapshot_key, reason = %why, "the snapshot read was untrusted; not overwriting it")
            }
            SnapshotPublish::NotRead => {
                warn!(key = %self.snapshot_key, "no snapshot was read this interval; not publishing it")
            }
            SnapshotPublish::Failed(why) => {
                warn!(key = %self.snapshot_key, error = %why, "publishing the snapshot failed")
            }
        }
        outcome
    }

    async fn write_snapshot(&self, index: &OverlapIndex) -> SnapshotPublish {
        let mut merged = match self.record_info.get_bytes(&self.snapshot_key, MAX_SNAPSHOT_BYTES).await {
            Ok(bytes) => match snapshot::parse(&bytes) {
                Ok(s) => s,
                Err(e) => return SnapshotPublish::Untrusted(format!("the published snapshot is now unparseable: {e}")),
            },
            Err(StorageError::NotFound { .. }) => Snapshot::new(),
            Err(e) => return SnapshotPublish::Untrusted(format!("cannot re-read the published snapshot: {e}")),
        };
        let index = index.clone();
        let built = tokio::task::spawn_blocking(move || {
            for entry in index.entries() {
                let (key, ms) = entry.map_err(|e| e.to_string())?;
                if let Ok(ms) = u64::try_from(ms) {
                    merged.entries.entry(key).or_default().insert(ms);
                }
            }
            Ok::<_, String>((merged.len(), snapshot::serialize(&merged)))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let (entries, bytes) = match built {
            Ok(b) => b,
            Err(e) => return SnapshotPublish::Failed(format!("building the snapshot: {e}")),
        };
        match snapshot::publish_size(bytes.len()) {
            snapshot::PublishSize::Fine => {}
            snapshot::PublishSize::Alert => error!(
                key = %self.snapshot_key, bytes = bytes.len(), limit = snapshot::PUBLISH_LIMIT_BYTES,
                "ALERT: the overlap snapshot is approaching the size the owner will not publish; investigate its largest keys"
            ),
            snapshot::PublishSize::Refuse => {
                error!(key = %self.snapshot_key, bytes = bytes.len(), limit = snapshot::PUBLISH_LIMIT_BYTES,
                    "ALERT: the overlap snapshot is above the publish limit; not publishing it");
                return SnapshotPublish::Failed(format!(
                    "the snapshot would be {} bytes, above the publish limit of {} bytes",
                    bytes.len(),
                    snapshot::PUBLISH_LIMIT_BYTES
                ));
            }
        }
        let temp = snapshot_temp_key(&self.snapshot_key);
        if let Err(e) = self.record_info.put_bytes(&temp, &bytes).await {
            return SnapshotPublish::Failed(format!("writing {temp}: {e}"));
        }
        match self.record_info.get_bytes(&temp, MAX_SNAPSHOT_BYTES).await {
            Ok(back) if back == bytes => {}
            Ok(_) => return SnapshotPublish::Failed(format!("{temp} read back differs from what was written")),
            Err(e) => return SnapshotPublish::Failed(format!("reading back {temp}: {e}")),
        }
        if let Err(e) = self.record_info.put_bytes(&self.snapshot_key, &bytes).await {
            return SnapshotPublish::Failed(format!("writing {}: {e}", self.snapshot_key));
        }
        SnapshotPublish::Uploaded { entries }
    }
}

#[async_trait]
impl IntervalPublisher for OwnerPublisher {
    fn pending_entries(&self, report: &IntervalReport) -> Vec<(Vec<u8>, Vec<u8>)> {
        if self.pending.is_none() {
            return Vec::new();
        }
        let interval_id = report.record.interval_id;
        report
            .kept
            .iter()
            .filter_map(|k| match PendingBundles::entry(interval_id, k) {
                Ok(entry) => Some(entry),
                Err(e) => {
                    warn!(interval_id, miner = %k.miner_hotkey, error = %e, "cannot record the bundle as pending");
                    None
                }
            })
            .collect()
    }

    async fn resume(&self, index: &OverlapIndex) {
        let waiting = self.pending.as_ref().and_then(|p| p.all().ok()).map_or(0, |all| all.len());
        if waiting == 0 {
            return;
        }
        info!(bundles = waiting, "publishing owner bundles left pending by the last run");
        let out = self.publish(&IntervalReport::default(), None, index).await;
        info!(bundles = out.published.len(), bundle_failures = out.failed.len(), "pending owner bundles retried");
    }

    async fn after_interval(
        &self,
        report: &IntervalReport,
        read: Option<&SnapshotRead>,
        index: &OverlapIndex,
    ) -> PublishSummary {
        let out = self.publish(report, read, index).await;
        info!(
            interval_id = out.interval_id,
            bundles = out.published.len(),
            bundle_failures = out.failed.len(),
            bundles_given_up = out.given_up.len(),
            snapshot = ?out.snapshot,
            "owner publishing done"
        );
        PublishSummary {
            bundles: out.published.len(),
            bundle_failures: out.failed.len(),
            snapshot_entries: match out.snapshot {
                SnapshotPublish::Uploaded { entries } => Some(entries),
                _ => None,
            },
        }
    }
}
