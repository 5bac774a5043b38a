//! The per-package pipeline: fetch → admit → integrity → schema → hard checks → sample →
//! assets → row checks, producing one [`Decision`]. The same code serves `nexis check` and
//! the validator service; overlap pruning happens afterwards at interval level.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::debug;

use super::stages::assets::{EnvironmentError, verify_row};
use super::stages::content::{ContentChecks, LlmStats, LlmUsage};
use super::stages::row_checks::{RowCheck, RowCheckResult};
use super::stages::{LoadFailure, admit, fetch, integrity, sample, schema};
use super::{PackageLimits, PackageRequest};
use crate::dataset::LoadedDataset;
use crate::media::MediaProbe;
use crate::model::{Decision, DecisionNotes, Failure, IntervalManifest};
use crate::spec::SpecRegistry;
use crate::storage::ObjectStore;

/// Everything known about one package after validation.
#[derive(Debug, Clone)]
pub struct PackageOutcome {
    pub decision: Decision,
    pub manifest: Option<IntervalManifest>,
    /// Storage LastModified of the manifest (submission time for arbitration).
    pub submitted_at: Option<DateTime<Utc>>,
    /// The loaded dataset of an accepted package (input to overlap pruning).
    pub dataset: Option<LoadedDataset>,
}

enum Stop {
    Load(LoadFailure),
    Environment(EnvironmentError),
}

impl From<LoadFailure> for Stop {
    fn from(f: LoadFailure) -> Self {
        Self::Load(f)
    }
}

/// Validates packages with a fixed spec registry, media probe and limits.
#[derive(Clone)]
pub struct PackageValidator {
    registry: SpecRegistry,
    probe: Arc<dyn MediaProbe>,
    limits: PackageLimits,
    row_checks: Vec<Arc<dyn RowCheck>>,
    llm_stats: Option<Arc<LlmStats>>,
    scratch: PathBuf,
}

fn timed(stage: &'static str, started: Instant) {
    debug!(stage, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "stage finished");
}

impl PackageValidator {
    /// A validator writing temporary downloads under `scratch`.
    pub fn new(registry: SpecRegistry, probe: Arc<dyn MediaProbe>, limits: PackageLimits, scratch: PathBuf) -> Self {
        Self { registry, probe, limits, row_checks: Vec::new(), llm_stats: None, scratch }
    }

    /// Adds a check over sampled, verified rows (semantic, category).
    pub fn with_row_check(mut self, check: Arc<dyn RowCheck>) -> Self {
        self.row_checks.push(check);
        self
    }

    /// Adds the semantic and category checks and keeps their usage counters.
    pub fn with_content_checks(mut self, checks: ContentChecks) -> Self {
        self.llm_stats = Some(checks.stats.clone());
        self.with_row_check(Arc::new(checks))
    }

    /// Model usage since the last call (zero without content checks).
    pub fn take_llm_usage(&self) -> LlmUsage {
        self.llm_stats.as_ref().map(|s| s.take()).unwrap_or_default()
    }

    /// Validates the package of `req.miner_hotkey` for `req.interval_id` in `store`.
    ///
    /// Every miner-side problem ends in a decision; only trouble on our side (no scratch
    /// space, no ffprobe) is an error.
    pub async fn validate(
        &self,
        store: &dyn ObjectStore,
        req: &PackageRequest,
    ) -> Result<PackageOutcome, EnvironmentError> {
        std::fs::create_dir_all(&self.scratch).map_err(|e| {
            EnvironmentError(format!("cannot create scratch directory {}: {e}", self.scratch.display()))
        })?;
        let dir = tempfile::Builder::new()
            .prefix("nexis-package-")
            .tempdir_in(&self.scratch)
            .map_err(|e| EnvironmentError(format!("cannot create a temporary directory: {e}")))?;
        let mut manifest = None;
        let mut submitted_at = None;
        match self.run(store, req, dir.path(), &mut manifest, &mut submitted_at).await {
            Ok((decision, mut dataset)) => {
                // Only accepted packages take part in pruning: a rejected one's frame is
                // freed now instead of living until the interval ends, and the memory
                // budget of concurrent loads is given back either way.
                dataset.release_budget();
                let dataset = decision.accepted.then_some(dataset);
                Ok(PackageOutcome { decision, manifest, submitted_at, dataset })
            }
            Err(Stop::Load(LoadFailure { failure, mut notes })) => {
                if let Some(m) = &manifest {
                    notes.spec_id.get_or_insert_with(|| m.spec_id.clone());
                }
                let decision = Decision::load_failure(&req.miner_hotkey, req.interval_id, failure, *notes);
                Ok(PackageOutcome { decision, manifest, submitted_at, dataset: None })
            }
            Err(Stop::Environment(e)) => Err(e),
        }
    }

    async fn run(
        &self,
        store: &dyn ObjectStore,
        req: &PackageRequest,
        dir: &Path,
        manifest_out: &mut Option<IntervalManifest>,
        submitted_out: &mut Option<DateTime<Utc>>,
    ) -> Result<(Decision, LoadedDataset), Stop> {
        let t = Instant::now();
        let submission = fetch::fetch_submission(store, req, &self.limits, dir).await?;
        *submitted_out = submission.manifest_last_modified;
        timed("fetch", t);

        let t = Instant::now();
        let (manifest, spec) = admit::admit(&submission.manifest_bytes, req, &self.registry)?;
        *manifest_out = Some(manifest.clone());
        integrity::check_dataset_digest(&manifest, &submission.dataset_sha256)?;
        timed("admit+integrity", t);

        let t = Instant::now();
        let loaded =
            schema::load_and_count(submission.dataset_path.clone(), spec.clone(), self.limits.read, &manifest).await?;
        timed("schema", t);

        let t = Instant::now();
        let frame = loaded.frame.clone();
        let spec_for_checks = spec.clone();
        let mut failures = tokio::task::spawn_blocking(move || spec_for_checks.hard_checks(&frame))
            .await
            .map_err(|e| LoadFailure::with_error(Failure::ValidationException, format!("hard checks failed: {e}")))?
            .map_err(|e| LoadFailure::with_error(e.failure(), e.to_string()))?;
        timed("hard_checks", t);

        let t = Instant::now();
        let sample::Sample { rows, extra } =
            sample::sample_rows(submission.dataset_path.clone(), &loaded, spec, req, &self.limits).await?;
        timed("sample", t);

        // The extra rows (§9 rev. 2) go through the same asset checks, after the others.
        let t = Instant::now();
        let checked: Vec<_> = futures::stream::iter(rows.iter().chain(&extra))
            .map(|row| verify_row(store, self.probe.as_ref(), req.interval_id, row, &self.limits, dir))
            .buffered(self.limits.asset_concurrency.max(1))
            .collect()
            .await;
        let mut verified = Vec::with_capacity(rows.len() + extra.len());
        for result in checked {
            verified.push(result.map_err(Stop::Environment)?);
        }
        let extra_verified = verified.split_off(rows.len());
        timed("assets", t);

        // Content checks run concurrently across rows; failures keep row order (each row's
        // asset failures, then its content failures).
        let t = Instant::now();
        let content: Vec<Vec<RowCheckResult>> = futures::stream::iter(rows.iter().zip(&verified).enumerate())
            .map(|(position, (row, assets))| async move {
                let mut results = Vec::new();
                if let Some(clip) = &assets.clip_path {
                    for check in &self.row_checks {
                        results.push(check.check(row, position, clip).await);
                    }
                }
                results
            })
            .buffered(self.limits.asset_concurrency.max(1))
            .collect()
            .await;
        let (mut unavailable, mut remarks) = (Vec::new(), Vec::new());
        for (assets, results) in verified.into_iter().zip(content) {
            failures.extend(assets.failures);
            for outcome in results {
                failures.extend(outcome.failures);
                unavailable.extend(outcome.unavailable);
                remarks.extend(outcome.remarks);
            }
        }
        for assets in extra_verified {
            failures.extend(assets.failures);
        }
        if !self.row_checks.is_empty() {
            timed("content_checks", t);
        }

        let record_count = loaded.num_rows() as u64;
        let sampled = rows.len() as u64;
        let notes = DecisionNotes {
            record_count: Some(record_count),
            sampled_record_count: Some(sampled),
            global_overlap_pruned_count: Some(0),
            cross_miner_overlap_pruned_count: Some(0),
            spec_id: Some(manifest.spec_id.clone()),
            category: manifest.category.clone(),
            sampled_row_indices: Some(rows.iter().map(|r| r.index).collect()),
            extra_sampled_row_indices: req.extra_sample_seed.as_ref().map(|_| extra.iter().map(|r| r.index).collect()),
            unavailable_checks: unavailable,
            check_remarks: remarks,
            ..Default::default()
        };
        let decision = Decision::evaluated(&req.miner_hotkey, req.interval_id, failures, record_count, sampled, notes);
        Ok((decision, loaded))
    }
}
