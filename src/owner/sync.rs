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

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tracing::{debug, info, warn};

use super::metadata::OwnerMetadata;
use super::metrics::SyncMetrics;
use super::progress::{BundleProgress, ProgressError, ProgressStore, RetryPolicy, RowProgress, RowStatus};
use super::summary::{PassSummary, RowFailure};
use crate::bundle::keys::{
    BundleObject, MARKER_BODY, bundle_dataset_key, bundle_manifest_key, marker_key, owner_clip_key, owner_image_key,
    owner_metadata_key, owner_row_id, parse_bundle_key,
};
use crate::bundle::{BUNDLE_DECODE_BUDGET, BundleError, BundleRow, plan_bundle, read_bundle_rows};
use crate::catalog::publish::{put_part, update_index};
use crate::catalog::row::{CopiedObjects, RowBundle};
use crate::catalog::shape::{ClipShape, read_shapes};
use crate::catalog::{CatalogError, CatalogRow, hotkey_prefix};
use crate::chain::{Chain, ChainError, NetUid, ReadCredentials};
use crate::media::fingerprint::fingerprint_jpeg;
use crate::model::IntervalManifest;
use crate::shutdown::{Shutdown, run_every};
use crate::storage::MinerStores;
use crate::storage::{ObjectMeta, ObjectStore, StorageError, asset_key, normalize_uri};
use crate::telemetry::write_heartbeat;

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
/// More interval prefixes than this since the high-water mark: list the whole bucket.
const MAX_PREFIX_LISTS: u64 = 500;

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

/// Why a bundle could not be worked on this pass (retried next pass).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BundleSyncError {
    #[error("bundle object: {0}")]
    Storage(#[from] StorageError),
    #[error("bundle manifest is invalid: {0}")]
    Manifest(String),
    #[error("bundle manifest names miner {hotkey} interval {interval_id}, not its own path")]
    Identity { hotkey: String, interval_id: u64 },
    #[error("bundle dataset sha256 {actual} differs from its manifest's {expected}")]
    DatasetDigest { expected: String, actual: String },
    #[error("bundle dataset has {actual} rows but its manifest says {expected}")]
    RowCount { expected: u64, actual: u64 },
    #[error(transparent)]
    Dataset(#[from] BundleError),
    #[error(transparent)]
    Progress(#[from] ProgressError),
    #[error("scratch space: {0}")]
    Scratch(String),
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
}

impl BundleSyncError {
    /// Whether the failure is the bundle's (counted towards giving it up), not ours.
    fn is_bundles_fault(&self) -> bool {
        !matches!(self, Self::Progress(_) | Self::Scratch(_) | Self::Catalog(_))
    }

    /// Whether the bundle is over its decode budget: the same bytes fail the same way, so
    /// it is given up on the first failure.
    fn is_over_budget(&self) -> bool {
        matches!(
            self,
            Self::Dataset(
                BundleError::TooLarge { .. } | BundleError::DeclaredTooLarge { .. } | BundleError::TooManyRows { .. }
            )
        )
    }
}

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
enum RowOutcome {
    AlreadyCopied,
    AlreadyGivenUp,
    Waiting,
    Copied,
    Failed(RowFailure),
}

/// Where a bundle stands after its rows were worked on.
struct Tally {
    /// Every row is copied or given up: the marker can be written.
    complete: bool,
    /// A row was copied this pass: the catalog part must be rewritten.
    copied_now: bool,
}

/// Counts the row outcomes of one bundle into `summary`.
fn tally(outcomes: Vec<Result<RowOutcome, ProgressError>>, summary: &mut PassSummary) -> Result<Tally, ProgressError> {
    let mut tally = Tally { complete: true, copied_now: false };
    for outcome in outcomes {
        match outcome? {
            RowOutcome::AlreadyCopied => summary.rows_already_copied += 1,
            RowOutcome::AlreadyGivenUp => summary.rows_already_given_up += 1,
            RowOutcome::Copied => {
                summary.rows_copied += 1;
                tally.copied_now = true;
            }
            RowOutcome::Waiting => {
                summary.rows_waiting += 1;
                tally.complete = false;
            }
            RowOutcome::Failed(f) => {
                if f.given_up {
                    summary.rows_given_up += 1;
                } else {
                    summary.rows_failed += 1;
                    tally.complete = false;
                }
                summary.failures.push(f);
            }
        }
    }
    Ok(tally)
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
    fn beat(&self, block: u64, last_interval: Option<u64>) {
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

    /// Lists the record-info bucket: the whole bucket, or only the intervals from the
    /// high-water mark to the current one. Returns the objects and whether it was whole.
    async fn list_bundles(&self, block: Option<u64>) -> Result<(Vec<ObjectMeta>, bool), SyncError> {
        let list = |prefix: String| async move { self.record_info.list(&prefix).await.map_err(SyncError::List) };
        let step = self.settings.interval_blocks.max(1);
        let now = now_unix();
        let last_full = self.progress.last_full_list()?;
        let stale = last_full.is_none_or(|t| now.saturating_sub(t) >= self.settings.full_list_every.as_secs() as i64);
        let (Some(high), Some(block), false) = (self.progress.high_water()?, block, stale) else {
            let objects = list(String::new()).await?;
            self.progress.set_last_full_list(now)?;
            return Ok((objects, true));
        };
        // Up to the current interval, or the highest one ever listed if the chain is behind.
        let seen = self.progress.max_seen()?.unwrap_or(0);
        let (first, current) = (high - high % step, (block - block % step).max(seen));
        if current.saturating_sub(first) / step > MAX_PREFIX_LISTS {
            let objects = list(String::new()).await?;
            self.progress.set_last_full_list(now)?;
            return Ok((objects, true));
        }
        let mut objects = Vec::new();
        for interval in (first..=current).step_by(step as usize) {
            objects.extend(list(format!("{interval}/")).await?);
        }
        Ok((objects, false))
    }

    async fn pass_inner(&self) -> Result<PassSummary, SyncError> {
        let mut summary = PassSummary::default();
        let block = self.chain.current_block().await.ok();
        let (objects, _whole) = self.list_bundles(block).await?;
        let mut manifests = BTreeSet::new();
        let mut markers = BTreeSet::new();
        for object in &objects {
            match parse_bundle_key(&object.key) {
                Some(BundleObject::Manifest { interval_id, hotkey }) => {
                    manifests.insert((interval_id, hotkey));
                }
                Some(BundleObject::Marker { interval_id, hotkey }) => {
                    markers.insert((interval_id, hotkey));
                }
                None => {}
            }
        }
        summary.bundles_listed = manifests.len() as u64;
        let last_interval = manifests.iter().map(|(i, _)| *i).max();
        if let Some(last) = last_interval {
            self.progress.see_interval(last)?;
        }
        let mut todo = Vec::new();
        for bundle in manifests {
            if markers.contains(&bundle) {
                summary.bundles_marked += 1;
            } else if self.settings.excluded.contains(&bundle.1) {
                summary.bundles_excluded += 1;
            } else if self.progress.bundle(bundle.0, &bundle.1)?.is_some_and(|b| b.given_up) {
                summary.bundles_already_given_up += 1;
            } else {
                todo.push(bundle);
            }
        }
        let beat_block = block.unwrap_or(0);
        let mut unfinished: Option<u64> = None;
        if !todo.is_empty() {
            let credentials: BTreeMap<String, ReadCredentials> = self
                .chain
                .commitments(self.settings.netuid)
                .await?
                .into_iter()
                .map(|c| (c.hotkey, c.credentials))
                .collect();
            for (interval_id, hotkey) in todo {
                let done = self.work_bundle(interval_id, &hotkey, credentials.get(&hotkey), &mut summary).await?;
                if !done {
                    unfinished = Some(unfinished.map_or(interval_id, |u| u.min(interval_id)));
                }
                self.beat(beat_block, last_interval);
            }
        }
        if let Some(block) = block {
            let step = self.settings.interval_blocks.max(1);
            let floor = (block - block % step).saturating_sub(HIGH_WATER_LOOKBACK_INTERVALS * step);
            self.progress.set_high_water(unfinished.map_or(floor, |u| u.min(floor)))?;
        }
        self.beat(beat_block, last_interval);
        Ok(summary)
    }

    /// Works through one bundle, counting the outcome; `Ok(true)` when it is finished
    /// (marked or given up). A bundle that cannot be read counts a failed attempt.
    async fn work_bundle(
        &self,
        interval_id: u64,
        hotkey: &str,
        credentials: Option<&ReadCredentials>,
        summary: &mut PassSummary,
    ) -> Result<bool, SyncError> {
        match self.sync_bundle(interval_id, hotkey, credentials, summary).await {
            Ok(true) => {
                summary.bundles_completed += 1;
                Ok(true)
            }
            Ok(false) => {
                summary.bundles_incomplete += 1;
                Ok(false)
            }
            Err(BundleSyncError::Progress(e)) => Err(e.into()),
            Err(e) if e.is_bundles_fault() => {
                let previous = self.progress.bundle(interval_id, hotkey)?;
                let attempts = previous.map_or(0, |p| p.attempts).saturating_add(1);
                let given_up = e.is_over_budget() || attempts >= self.settings.retry.max_attempts.max(1);
                let state = BundleProgress { attempts, given_up, last_error: e.to_string() };
                self.progress.put_bundle(interval_id, hotkey, &state)?;
                if given_up {
                    summary.bundles_given_up += 1;
                    warn!(interval_id, miner = %hotkey, attempts, error = %e, "owner bundle given up");
                } else {
                    summary.bundle_errors += 1;
                    warn!(interval_id, miner = %hotkey, attempts, error = %e, "owner bundle skipped this pass");
                }
                Ok(given_up)
            }
            Err(e) => {
                summary.bundle_errors += 1;
                warn!(interval_id, miner = %hotkey, error = %e, "owner bundle skipped this pass");
                Ok(false)
            }
        }
    }

    /// Works through one bundle; `Ok(true)` when its marker was written.
    async fn sync_bundle(
        &self,
        interval_id: u64,
        hotkey: &str,
        credentials: Option<&ReadCredentials>,
        summary: &mut PassSummary,
    ) -> Result<bool, BundleSyncError> {
        let s = &self.settings;
        std::fs::create_dir_all(&s.scratch)
            .map_err(|e| BundleSyncError::Scratch(format!("{}: {e}", s.scratch.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("nexis-owner-bundle-")
            .tempdir_in(&s.scratch)
            .map_err(|e| BundleSyncError::Scratch(e.to_string()))?;
        let (rows, shapes) = self.read_bundle(interval_id, hotkey, dir.path()).await?;
        let store: Result<Arc<dyn ObjectStore>, String> = match credentials {
            None => Err(format!("no commitment for {hotkey} on netuid {}", s.netuid)),
            Some(c) => self.stores.store_for(hotkey, c).map_err(|e| e.to_string()),
        };
        let bar = self.progress_bar(rows.len() as u64, interval_id, hotkey);
        let outcomes: Vec<Result<RowOutcome, ProgressError>> = futures::stream::iter(rows.iter().zip(&shapes))
            .map(|(row, shape)| {
                let store = store.as_ref().map(|s| s.as_ref());
                let bar = &bar;
                let dir = dir.path();
                async move {
                    let out = self.sync_row(interval_id, hotkey, (row, shape), store, dir).await;
                    bar.inc(1);
                    out
                }
            })
            .buffer_unordered(s.concurrency.max(1))
            .collect()
            .await;
        bar.finish_and_clear();
        let Tally { complete, copied_now } = tally(outcomes, summary)?;
        if complete || copied_now {
            self.write_catalog_part(interval_id, hotkey, dir.path(), summary).await?;
        }
        if complete {
            self.record_info.put_bytes(&marker_key(interval_id, hotkey), MARKER_BODY).await?;
            info!(interval_id, miner = %hotkey, rows = rows.len(), "owner bundle copied; marker written");
        }
        Ok(complete)
    }

    /// Reads a bundle's manifest and dataset (into `dir`) and checks them against each
    /// other and the bundle's path; returns its rows and their shapes.
    async fn read_bundle(
        &self,
        interval_id: u64,
        hotkey: &str,
        dir: &Path,
    ) -> Result<(Vec<BundleRow>, Vec<ClipShape>), BundleSyncError> {
        let s = &self.settings;
        let manifest_bytes =
            self.record_info.get_bytes(&bundle_manifest_key(interval_id, hotkey), s.max_manifest_bytes).await?;
        let manifest =
            IntervalManifest::parse(&manifest_bytes).map_err(|e| BundleSyncError::Manifest(e.to_string()))?;
        if manifest.miner_hotkey.trim() != hotkey || manifest.interval_id != interval_id {
            return Err(BundleSyncError::Identity { hotkey: manifest.miner_hotkey, interval_id: manifest.interval_id });
        }
        let dataset = dir.join("dataset.parquet");
        let fetched = self
            .record_info
            .get_to_file(&bundle_dataset_key(interval_id, hotkey), &dataset, s.max_dataset_bytes)
            .await?;
        if fetched.sha256 != manifest.dataset_sha256.trim() {
            return Err(BundleSyncError::DatasetDigest { expected: manifest.dataset_sha256, actual: fetched.sha256 });
        }
        let (rows, shapes) = self.decode_bundle(interval_id, hotkey, dataset).await?;
        if rows.len() as u64 != manifest.record_count || shapes.len() != rows.len() {
            return Err(BundleSyncError::RowCount { expected: manifest.record_count, actual: rows.len() as u64 });
        }
        Ok((rows, shapes))
    }

    /// Decodes a downloaded bundle dataset under the decode budget. The footer is checked
    /// first (over budget: given up without decoding a page); then, before decoding, a
    /// failed attempt "interrupted while decoding" is recorded and taken back afterwards, so
    /// a decode the process does not survive (a kill, out of memory) still counts towards
    /// giving the bundle up instead of being retried on every start.
    async fn decode_bundle(
        &self,
        interval_id: u64,
        hotkey: &str,
        dataset: PathBuf,
    ) -> Result<(Vec<BundleRow>, Vec<ClipShape>), BundleSyncError> {
        let (max_rows, budget) = (self.settings.max_dataset_rows, self.settings.max_decoded_bytes);
        let plan = plan_bundle(&dataset, max_rows, budget)?;
        let before = self.progress.bundle(interval_id, hotkey)?;
        let attempts = before.as_ref().map_or(0, |p| p.attempts).saturating_add(1);
        let interrupted = BundleProgress {
            attempts,
            given_up: attempts >= self.settings.retry.max_attempts.max(1),
            last_error: "interrupted while decoding the bundle dataset (the process stopped)".into(),
        };
        self.progress.put_bundle(interval_id, hotkey, &interrupted)?;
        let decoded = tokio::task::spawn_blocking(move || {
            let rows = read_bundle_rows(&dataset, max_rows, budget)?;
            let shapes = read_shapes(&dataset, max_rows, plan.batch_rows)?;
            Ok::<_, BundleSyncError>((rows, shapes))
        })
        .await
        .map_err(|e| BundleSyncError::Scratch(format!("bundle reader task: {e}")));
        self.progress.restore_bundle(interval_id, hotkey, before.as_ref())?;
        decoded?
    }

    /// Rewrites the catalog part of `(interval, hotkey prefix)` from the recorded entries
    /// and updates the index. Every entry was recorded after its objects were written.
    async fn write_catalog_part(
        &self,
        interval_id: u64,
        hotkey: &str,
        scratch: &Path,
        summary: &mut PassSummary,
    ) -> Result<(), BundleSyncError> {
        let prefix = hotkey_prefix(hotkey);
        let rows = self.progress.catalog_rows(interval_id, &prefix)?;
        let count = rows.len();
        if let Some(entry) = put_part(self.owner_db.as_ref(), interval_id, &prefix, rows, scratch).await? {
            let key = entry.key.clone();
            update_index(self.owner_db.as_ref(), vec![entry]).await?;
            summary.catalog_parts_written += 1;
            debug!(interval_id, key = %key, rows = count, "catalog part written");
        }
        Ok(())
    }

    fn progress_bar(&self, len: u64, interval_id: u64, hotkey: &str) -> ProgressBar {
        if !self.settings.progress_bar || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows ({eta})") {
            bar.set_style(style);
        }
        bar.set_message(format!("{interval_id}/{hotkey}"));
        bar
    }

    async fn sync_row(
        &self,
        interval_id: u64,
        hotkey: &str,
        (row, shape): (&BundleRow, &ClipShape),
        store: Result<&dyn ObjectStore, &String>,
        dir: &Path,
    ) -> Result<RowOutcome, ProgressError> {
        let previous = self.progress.get(interval_id, hotkey, &row.clip_id)?;
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
                self.record(interval_id, hotkey, &row.clip_id, done).await?;
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
                self.record(interval_id, hotkey, &row.clip_id, state).await?;
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
    async fn record(
        &self,
        interval_id: u64,
        hotkey: &str,
        clip_id: &str,
        progress: RowProgress,
    ) -> Result<(), ProgressError> {
        let store = self.progress.clone();
        let (hotkey, clip_id) = (hotkey.to_string(), clip_id.to_string());
        tokio::task::spawn_blocking(move || store.put(interval_id, &hotkey, &clip_id, &progress))
            .await
            .map_err(|e| ProgressError::Task(e.to_string()))?
    }

    /// Fetches and verifies both assets, then writes the three owner objects; returns the
    /// clip's and the image's sizes (the copy time is set once the row is recorded).
    async fn copy_row(
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
