//! One bundle of a pass: read its manifest and dataset and check them against each other,
//! decode it under the decode budget, copy its rows, then write its catalog part and marker.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;

use super::{OwnerSync, SyncError};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::{debug, info, warn};

use crate::bundle::keys::{MARKER_BODY, bundle_dataset_key, bundle_manifest_key, marker_key};
use crate::bundle::{BundleError, BundleRow, plan_bundle, read_bundle_rows};
use crate::catalog::publish::{put_part, update_index};
use crate::catalog::shape::{ClipShape, read_shapes};
use crate::catalog::{CatalogError, hotkey_prefix};
use crate::chain::ReadCredentials;
use crate::model::IntervalManifest;
use crate::owner::progress::{BundleProgress, ProgressError};
use crate::owner::summary::PassSummary;
use crate::protocol::PackageKey;
use crate::storage::{ObjectStore, StorageError};

use super::row::RowOutcome;

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

impl OwnerSync {
    /// Works through one bundle, counting the outcome; `Ok(true)` when it is finished
    /// (marked or given up). A bundle that cannot be read counts a failed attempt.
    pub(super) async fn work_bundle(
        &self,
        key: &PackageKey,
        credentials: Option<&ReadCredentials>,
        summary: &mut PassSummary,
    ) -> Result<bool, SyncError> {
        let (interval_id, hotkey) = (key.interval.get(), key.miner.as_str());
        match self.sync_bundle(key, credentials, summary).await {
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
                let previous = self.progress.bundle(key)?;
                let attempts = previous.map_or(0, |p| p.attempts).saturating_add(1);
                let given_up = e.is_over_budget() || attempts >= self.settings.retry.max_attempts.max(1);
                let state = BundleProgress { attempts, given_up, last_error: e.to_string() };
                self.progress.put_bundle(key, &state)?;
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
    pub(super) async fn sync_bundle(
        &self,
        key: &PackageKey,
        credentials: Option<&ReadCredentials>,
        summary: &mut PassSummary,
    ) -> Result<bool, BundleSyncError> {
        let (interval_id, hotkey) = (key.interval.get(), key.miner.as_str());
        let s = &self.settings;
        std::fs::create_dir_all(&s.scratch)
            .map_err(|e| BundleSyncError::Scratch(format!("{}: {e}", s.scratch.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("nexis-owner-bundle-")
            .tempdir_in(&s.scratch)
            .map_err(|e| BundleSyncError::Scratch(e.to_string()))?;
        let (rows, shapes) = self.read_bundle(key, dir.path()).await?;
        let store: Result<Arc<dyn ObjectStore>, String> = match credentials {
            None => Err(format!("no commitment for {hotkey} on netuid {}", s.netuid)),
            Some(c) => self.stores.store_for(hotkey, c).map_err(|e| e.to_string()),
        };
        let bar = self.progress_bar(rows.len() as u64, key);
        let outcomes: Vec<Result<RowOutcome, ProgressError>> = futures::stream::iter(rows.iter().zip(&shapes))
            .map(|(row, shape)| {
                let store = store.as_ref().map(|s| s.as_ref());
                let bar = &bar;
                let dir = dir.path();
                async move {
                    let out = self.sync_row(key, (row, shape), store, dir).await;
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
            self.write_catalog_part(key, dir.path(), summary).await?;
        }
        if complete {
            self.record_info.put_bytes(&marker_key(key), MARKER_BODY).await?;
            info!(interval_id, miner = %hotkey, rows = rows.len(), "owner bundle copied; marker written");
        }
        Ok(complete)
    }

    /// Reads a bundle's manifest and dataset (into `dir`) and checks them against each
    /// other and the bundle's path; returns its rows and their shapes.
    pub(super) async fn read_bundle(
        &self,
        key: &PackageKey,
        dir: &Path,
    ) -> Result<(Vec<BundleRow>, Vec<ClipShape>), BundleSyncError> {
        let (interval_id, hotkey) = (key.interval.get(), key.miner.as_str());
        let s = &self.settings;
        let manifest_bytes = self.record_info.get_bytes(&bundle_manifest_key(key), s.max_manifest_bytes).await?;
        let manifest =
            IntervalManifest::parse(&manifest_bytes).map_err(|e| BundleSyncError::Manifest(e.to_string()))?;
        if manifest.miner_hotkey.trim() != hotkey || manifest.interval_id != interval_id {
            return Err(BundleSyncError::Identity { hotkey: manifest.miner_hotkey, interval_id: manifest.interval_id });
        }
        let dataset = dir.join("dataset.parquet");
        let fetched = self.record_info.get_to_file(&bundle_dataset_key(key), &dataset, s.max_dataset_bytes).await?;
        if fetched.sha256 != manifest.dataset_sha256.trim() {
            return Err(BundleSyncError::DatasetDigest { expected: manifest.dataset_sha256, actual: fetched.sha256 });
        }
        let (rows, shapes) = self.decode_bundle(key, dataset).await?;
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
    pub(super) async fn decode_bundle(
        &self,
        key: &PackageKey,
        dataset: PathBuf,
    ) -> Result<(Vec<BundleRow>, Vec<ClipShape>), BundleSyncError> {
        let (max_rows, budget) = (self.settings.max_dataset_rows, self.settings.max_decoded_bytes);
        let plan = plan_bundle(&dataset, max_rows, budget)?;
        let before = self.progress.bundle(key)?;
        let attempts = before.as_ref().map_or(0, |p| p.attempts).saturating_add(1);
        let interrupted = BundleProgress {
            attempts,
            given_up: attempts >= self.settings.retry.max_attempts.max(1),
            last_error: "interrupted while decoding the bundle dataset (the process stopped)".into(),
        };
        self.progress.put_bundle(key, &interrupted)?;
        let decoded = tokio::task::spawn_blocking(move || {
            let rows = read_bundle_rows(&dataset, max_rows, budget)?;
            let shapes = read_shapes(&dataset, max_rows, plan.batch_rows)?;
            Ok::<_, BundleSyncError>((rows, shapes))
        })
        .await
        .map_err(|e| BundleSyncError::Scratch(format!("bundle reader task: {e}")));
        self.progress.restore_bundle(key, before.as_ref())?;
        decoded?
    }

    /// Rewrites the catalog part of `(interval, hotkey prefix)` from the recorded entries
    /// and updates the index. Every entry was recorded after its objects were written.
    pub(super) async fn write_catalog_part(
        &self,
        key: &PackageKey,
        scratch: &Path,
        summary: &mut PassSummary,
    ) -> Result<(), BundleSyncError> {
        let (interval_id, hotkey) = (key.interval.get(), key.miner.as_str());
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

    pub(super) fn progress_bar(&self, len: u64, key: &PackageKey) -> ProgressBar {
        if !self.settings.progress_bar || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows ({eta})") {
            bar.set_style(style);
        }
        bar.set_message(key.to_string());
        bar
    }
}
