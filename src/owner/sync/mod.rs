//! `nexis sync-owner-datasets` (protocol §13): copy every accepted row into the owner
//! dataset bucket.
//!
//! A pass lists the record-info bucket (paginated by the store), takes every
//! `{I}/{hotkey}/manifest.json` without a `copied_to_owner.marker` (minus excluded
//! hotkeys), checks the bundle's dataset against its manifest, and for each row: fetches
//! the clip and first frame from the miner's bucket (credentials from the chain
//! commitments), verifies both sha256 digests, and uploads `nature/{id}/clip.mp4`,
//! `first_image.jpg` and `metadata.json` with `{id}` = [`owner_row_id`]. Rows run with a
//! concurrency limit; progress is recorded per row in sled, failed rows are retried on
//! later passes with backoff and given up after a set number of attempts; the marker is
//! written once every row is copied or given up.
//!
//! Catalog (issue 18): each copied row's catalog entry is recorded with its progress, and
//! after a bundle's rows are done the part `catalog/interval={I}/part-{hotkey prefix}` is
//! rewritten from the recorded entries (so after the objects it names, byte for byte the
//! same on a rerun) and `catalog/_index.json` updated, before the marker.
//!
//! Listing: the first pass, and one pass every [`SyncSettings::full_list_every`], list the
//! whole record-info bucket; the others list only `{I}/` for the intervals from the
//! high-water interval (every bundle below it finished, kept in sled) to the current one.
//! A bundle that cannot be read is given up after as many failed passes as a row; one over
//! its decode budget (row count or declared uncompressed size, read from the parquet footer
//! before any page is decoded, or the decoded values while decoding) is given up at once,
//! and a decode the process did not survive counts as a failed pass.
//!
//! Files: this one holds the settings, the worker and its pass loop; `listing` lists the
//! record-info bucket (whole or from the high-water interval), `bundle` reads, decodes and
//! finishes one bundle (catalog part, marker), `row` copies and verifies one row.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::bundle::BUNDLE_DECODE_BUDGET;
use crate::bundle::keys::{BundleObject, parse_bundle_key};
use crate::chain::{Chain, ChainError, NetUid, ReadCredentials};
use crate::owner::metrics::SyncMetrics;
use crate::owner::progress::{ProgressError, ProgressStore, RetryPolicy};
use crate::owner::summary::PassSummary;
use crate::protocol::{Block, IntervalId};
use crate::shutdown::{Shutdown, run_every};
use crate::storage::MinerStores;
use crate::storage::{ObjectStore, StorageError};
use crate::telemetry::write_heartbeat;

mod bundle;
mod listing;
mod row;

/// Settings of the sync worker.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The subnet whose miners' commitments give the bucket credentials.
    pub netuid: NetUid,
    /// Rows copied at once.
    pub concurrency: usize,
    /// Backoff and attempt limit of failed rows and bundles.
    pub retry: RetryPolicy,
    /// Miner hotkeys whose bundles are left alone (`--exclude-hotkeys`).
    pub excluded: BTreeSet<String>,
    /// Size cap of a bundle manifest.
    pub max_manifest_bytes: u64,
    /// Size cap of a bundle dataset.
    pub max_dataset_bytes: u64,
    /// Row cap of a bundle dataset.
    pub max_dataset_rows: u64,
    /// Decode budget of a bundle dataset: its footer's declared uncompressed size is
    /// checked against it before decoding (over it, the bundle is given up at once) and
    /// the decoded values while decoding.
    pub max_decoded_bytes: u64,
    /// Size cap of one clip download.
    pub max_clip_bytes: u64,
    /// Size cap of one first-frame download.
    pub max_frame_bytes: u64,
    /// Temporary downloads go here.
    pub scratch: PathBuf,
    /// Show a progress bar when stderr is a terminal.
    pub progress_bar: bool,
    /// Pause after each copied row (gentler on miners' buckets; tests use it to land a
    /// kill mid-bundle).
    pub pause_after_row: Duration,
    /// Interval length in blocks (listing only the intervals since the high-water mark).
    pub interval_blocks: u64,
    /// Longest time between two listings of the whole record-info bucket.
    pub full_list_every: Duration,
    /// The validator that accepted the bundles (the owner's hotkey), for the catalog.
    pub validator_hotkey: Option<String>,
}

/// Intervals kept below the current one when the high-water mark moves: bundles are
/// published up to a few intervals late (retries), so they must still be listed.
pub(crate) const HIGH_WATER_LOOKBACK_INTERVALS: u64 = 12;

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            netuid: 1,
            concurrency: 4,
            retry: RetryPolicy { max_attempts: 5, base: Duration::from_secs(60), cap: Duration::from_secs(3600) },
            excluded: BTreeSet::new(),
            max_manifest_bytes: 1 << 20,
            max_dataset_bytes: 256 << 20,
            max_dataset_rows: 2_000_000,
            max_decoded_bytes: BUNDLE_DECODE_BUDGET,
            max_clip_bytes: 64 << 20,
            max_frame_bytes: 8 << 20,
            scratch: std::env::temp_dir().join("nexis-owner-sync"),
            progress_bar: false,
            pause_after_row: Duration::ZERO,
            interval_blocks: 50,
            full_list_every: Duration::from_secs(3600),
            validator_hotkey: None,
        }
    }
}

/// Failures that end a pass early (retried on the next pass; no row attempt is counted).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The record-info bucket could not be listed.
    #[error("cannot list the record-info bucket: {0}")]
    List(StorageError),
    /// The miners' commitments could not be read.
    #[error("cannot read the miners' commitments from the chain: {0}")]
    Chain(#[from] ChainError),
    /// The progress store failed.
    #[error(transparent)]
    Progress(#[from] ProgressError),
}

/// The sync worker.
pub struct OwnerSync {
    /// The record-info bucket (read bundles, write markers).
    pub record_info: Arc<dyn ObjectStore>,
    /// The owner dataset bucket (write).
    pub owner_db: Arc<dyn ObjectStore>,
    /// Reads the current block and the miners' commitments.
    pub chain: Arc<dyn Chain>,
    /// Opens a miner's bucket from its committed credentials.
    pub stores: Arc<dyn MinerStores>,
    /// Per-row and per-bundle progress, kept across restarts.
    pub progress: ProgressStore,
    /// Prometheus metrics of the passes.
    pub metrics: Arc<SyncMetrics>,
    /// Limits, retries and listing cadence.
    pub settings: SyncSettings,
    /// Liveness file written after every bundle and pass.
    pub heartbeat: Option<PathBuf>,
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

impl OwnerSync {
    fn beat(&self, block: Block, last_interval: Option<IntervalId>) {
        if let Some(path) = &self.heartbeat
            && let Err(e) = write_heartbeat(path, block, last_interval)
        {
            warn!(path = %path.display(), error = %e, "cannot write the liveness file");
        }
    }

    /// One pass over every unmarked bundle.
    pub async fn pass(&self) -> Result<PassSummary, SyncError> {
        let started = Instant::now();
        let result = self.pass_inner().await;
        match &result {
            Ok(summary) => {
                self.metrics.record_pass(summary, started.elapsed());
                info!(
                    took_ms = started.elapsed().as_millis() as u64,
                    bundles_listed = summary.bundles_listed,
                    bundles_marked = summary.bundles_marked,
                    bundles_excluded = summary.bundles_excluded,
                    bundles_completed = summary.bundles_completed,
                    bundles_incomplete = summary.bundles_incomplete,
                    bundle_errors = summary.bundle_errors,
                    rows_copied = summary.rows_copied,
                    rows_already_copied = summary.rows_already_copied,
                    rows_failed = summary.rows_failed,
                    rows_given_up = summary.rows_given_up,
                    rows_already_given_up = summary.rows_already_given_up,
                    rows_waiting = summary.rows_waiting,
                    "owner sync pass finished"
                );
            }
            Err(e) => {
                self.metrics.pass_errors.inc();
                warn!(error = %e, "owner sync pass failed; retrying next pass");
            }
        }
        result
    }

    async fn pass_inner(&self) -> Result<PassSummary, SyncError> {
        let mut summary = PassSummary::default();
        let block = self.chain.current_block().await.ok();
        let (objects, _whole) = self.list_bundles(block).await?;
        let mut manifests = BTreeSet::new();
        let mut markers = BTreeSet::new();
        for object in &objects {
            match parse_bundle_key(&object.key) {
                Some(BundleObject::Manifest(key)) => {
                    manifests.insert(key);
                }
                Some(BundleObject::Marker(key)) => {
                    markers.insert(key);
                }
                None => {}
            }
        }
        summary.bundles_listed = manifests.len() as u64;
        let last_interval = manifests.iter().map(|k| k.interval.get()).max();
        if let Some(last) = last_interval {
            self.progress.see_interval(last)?;
        }
        let mut todo = Vec::new();
        for bundle in manifests {
            if markers.contains(&bundle) {
                summary.bundles_marked += 1;
            } else if self.settings.excluded.contains(bundle.miner.as_str()) {
                summary.bundles_excluded += 1;
            } else if self.progress.bundle(&bundle)?.is_some_and(|b| b.given_up) {
                summary.bundles_already_given_up += 1;
            } else {
                todo.push(bundle);
            }
        }
        let beat_block = Block::new(block.unwrap_or(0));
        let mut unfinished: Option<u64> = None;
        if !todo.is_empty() {
            let credentials: BTreeMap<String, ReadCredentials> = self
                .chain
                .commitments(self.settings.netuid)
                .await?
                .into_iter()
                .map(|c| (c.hotkey, c.credentials))
                .collect();
            for key in todo {
                let interval_id = key.interval.get();
                let done = self.work_bundle(&key, credentials.get(key.miner.as_str()), &mut summary).await?;
                if !done {
                    unfinished = Some(unfinished.map_or(interval_id, |u| u.min(interval_id)));
                }
                self.beat(beat_block, last_interval.map(IntervalId::new));
            }
        }
        if let Some(block) = block {
            let step = self.settings.interval_blocks.max(1);
            let floor = (block - block % step).saturating_sub(HIGH_WATER_LOOKBACK_INTERVALS * step);
            self.progress.set_high_water(unfinished.map_or(floor, |u| u.min(floor)))?;
        }
        self.beat(beat_block, last_interval.map(IntervalId::new));
        Ok(summary)
    }

    /// Passes every `poll` until `shutdown`. Stopping mid-pass is safe: a row's progress
    /// is recorded only after its objects are written, and a repeat overwrites.
    pub async fn run(&self, poll: Duration, shutdown: &Shutdown) {
        info!(
            chain = %self.chain.describe(),
            netuid = self.settings.netuid,
            poll_sec = poll.as_secs_f64(),
            concurrency = self.settings.concurrency,
            max_attempts = self.settings.retry.max_attempts,
            "owner sync started"
        );
        // A failed pass is logged by `pass` and retried on the next one.
        let never = run_every(poll, shutdown, || async {
            let _ = self.pass().await;
            Ok::<(), Infallible>(())
        })
        .await;
        let Ok(()) = never;
        info!("owner sync stopped");
    }
}
