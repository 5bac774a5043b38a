//! The per-package pipeline: fetch → admit → integrity → schema → hard checks → sample →
//! assets → row checks, producing one [`Decision`], then the content fingerprints of an
//! accepted package's rows. The same code serves `nexis check` and the validator service;
//! overlap and near-duplicate pruning happen afterwards at interval level.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::debug;

use super::stages::assets::{EnvironmentError, RowAssets, verify_row};
use super::stages::content::{ContentChecks, LlmUsage};
use super::stages::row_checks::{RowCheck, RowCheckResult};
use super::stages::{LoadFailure, admit, fetch, fingerprint, integrity, sample, schema};
use super::{PackageLimits, PackageRequest};
use crate::dataset::LoadedDataset;
use crate::media::MediaProbe;
use crate::media::fingerprint::Fingerprint;
use crate::model::{Decision, DecisionNotes, Failure, FailureList, IntervalManifest};
use crate::spec::{DatasetSpec, SpecRegistry};
use crate::storage::ObjectStore;

/// Everything known about one package after validation.
#[derive(Debug, Clone)]
pub struct PackageOutcome {
    /// The validator's decision on the package.
    pub decision: Decision,
    /// The manifest, when it could be read and admitted.
    pub manifest: Option<IntervalManifest>,
    /// Storage LastModified of the manifest (submission time for arbitration).
    pub submitted_at: Option<DateTime<Utc>>,
    /// The loaded dataset of an accepted package (input to overlap pruning).
    pub dataset: Option<LoadedDataset>,
    /// Model usage of this package's content checks.
    pub llm: LlmUsage,
    /// Content fingerprints of an accepted package's rows, `(row, fingerprint)` by row.
    pub fingerprints: Vec<(u32, Fingerprint)>,
}

/// What was learned about a package before a load-stage failure stopped its evaluation.
#[derive(Debug, Default)]
struct Partial {
    manifest: Option<IntervalManifest>,
    submitted_at: Option<DateTime<Utc>>,
}

/// Why an evaluation stopped before a full decision.
enum Stop {
    /// A load-stage failure: the miner's problem, with what was known by then (boxed:
    /// the manifest is large next to the other variant).
    Load { failure: LoadFailure, partial: Box<Partial> },
    /// Trouble on the validator's side.
    Environment(EnvironmentError),
}

/// Why the stages after admission stopped (the caller adds what it knows).
enum StageStop {
    Load(LoadFailure),
    Environment(EnvironmentError),
}

impl From<LoadFailure> for StageStop {
    fn from(f: LoadFailure) -> Self {
        Self::Load(f)
    }
}

/// A package that went through every stage: its decision, its dataset, model usage.
struct Evaluated {
    decision: Decision,
    dataset: LoadedDataset,
    llm: LlmUsage,
    fingerprints: Vec<(u32, Fingerprint)>,
}

/// Validates packages with a fixed spec registry, media probe and limits.
#[derive(Clone)]
pub struct PackageValidator {
    registry: SpecRegistry,
    probe: Arc<dyn MediaProbe>,
    limits: PackageLimits,
    row_checks: Vec<Arc<dyn RowCheck>>,
    scratch: PathBuf,
    every_row: bool,
    fingerprints: bool,
}

fn timed(stage: &'static str, started: Instant) {
    debug!(stage, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "stage finished");
}

impl PackageValidator {
    /// A validator writing temporary downloads under `scratch`.
    pub fn new(registry: SpecRegistry, probe: Arc<dyn MediaProbe>, limits: PackageLimits, scratch: PathBuf) -> Self {
        Self { registry, probe, limits, row_checks: Vec::new(), scratch, every_row: false, fingerprints: false }
    }

    /// Checks every row instead of the §9 sample (the miner's self-check before upload:
    /// a row the validators might sample must pass, so all of them are looked at).
    pub fn checking_every_row(mut self) -> Self {
        self.every_row = true;
        self
    }

    /// Fingerprints the first frames of accepted packages, for near-duplicate pruning
    /// ([`fingerprint::fingerprint_rows`]).
    pub fn with_fingerprints(mut self, on: bool) -> Self {
        self.fingerprints = on;
        self
    }

    /// Where temporary downloads go.
    pub(crate) fn scratch(&self) -> &std::path::Path {
        &self.scratch
    }

    /// Adds a check over sampled, verified rows (semantic, category, source).
    pub fn with_row_check(mut self, check: Arc<dyn RowCheck>) -> Self {
        self.row_checks.push(check);
        self
    }

    /// Adds the semantic and category checks.
    pub fn with_content_checks(self, checks: ContentChecks) -> Self {
        self.with_row_check(Arc::new(checks))
    }

    /// The size caps packages are held to.
    pub fn limits(&self) -> &PackageLimits {
        &self.limits
    }

    /// Validates the package of `req.miner_hotkey` for its interval in `store`.
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
        match self.run(store, req, dir.path()).await {
            Ok((Evaluated { decision, mut dataset, llm, fingerprints }, partial)) => {
                // Only accepted packages take part in pruning: a rejected one's frame is
                // freed now instead of living until the interval ends, and the memory
                // budget of concurrent loads is given back either way.
                dataset.release_budget();
                let dataset = decision.accepted.then_some(dataset);
                let Partial { manifest, submitted_at } = partial;
                Ok(PackageOutcome { decision, manifest, submitted_at, dataset, llm, fingerprints })
            }
            Err(Stop::Load { failure: LoadFailure { failure, mut notes }, partial }) => {
                if let Some(m) = &partial.manifest {
                    notes.spec_id.get_or_insert_with(|| m.spec_id.clone());
                }
                let decision = Decision::load_failure(&req.miner_hotkey, req.interval_id(), failure, *notes);
                let Partial { manifest, submitted_at } = *partial;
                let llm = LlmUsage::default();
                Ok(PackageOutcome { decision, manifest, submitted_at, dataset: None, llm, fingerprints: Vec::new() })
            }
            Err(Stop::Environment(e)) => Err(e),
        }
    }

    /// Fetch and admission, then the stages that need the admitted manifest.
    async fn run(
        &self,
        store: &dyn ObjectStore,
        req: &PackageRequest,
        dir: &Path,
    ) -> Result<(Evaluated, Partial), Stop> {
        let t = Instant::now();
        let submission = fetch::fetch_submission(store, req, &self.limits, dir)
            .await
            .map_err(|failure| Stop::Load { failure, partial: Box::default() })?;
        timed("fetch", t);
        let mut partial = Partial { manifest: None, submitted_at: submission.manifest_last_modified };

        let t = Instant::now();
        let (manifest, spec) = match admit::admit(&submission.manifest_bytes, req, &self.registry) {
            Ok(admitted) => admitted,
            Err(failure) => return Err(Stop::Load { failure, partial: Box::new(partial) }),
        };
        let digest = integrity::check_dataset_digest(&manifest, &submission.dataset_sha256);
        timed("admit+integrity", t);
        let result = match digest {
            Ok(()) => self.evaluate(store, req, dir, &submission, &manifest, spec).await,
            Err(failure) => Err(StageStop::Load(failure)),
        };
        partial.manifest = Some(manifest);
        match result {
            Ok(evaluated) => Ok((evaluated, partial)),
            Err(StageStop::Load(failure)) => Err(Stop::Load { failure, partial: Box::new(partial) }),
            Err(StageStop::Environment(e)) => Err(Stop::Environment(e)),
        }
    }

    /// Schema, hard checks, sampling, assets and row checks of an admitted package whose
    /// dataset matches its manifest digest.
    async fn evaluate(
        &self,
        store: &dyn ObjectStore,
        req: &PackageRequest,
        dir: &Path,
        submission: &fetch::Submission,
        manifest: &IntervalManifest,
        spec: Arc<dyn DatasetSpec>,
    ) -> Result<Evaluated, StageStop> {
        let t = Instant::now();
        let loaded = schema::load_and_count(
            submission.dataset_path.clone(),
            spec.clone(),
            self.limits.read,
            self.limits.memory.clone(),
            manifest,
        )
        .await?;
        timed("schema", t);

        let t = Instant::now();
        let (loaded, failures) = hard_checks(loaded, spec.clone()).await?;
        timed("hard_checks", t);

        let t = Instant::now();
        let path = submission.dataset_path.clone();
        let sample = if self.every_row {
            sample::all_rows(path.clone(), &loaded, spec.clone()).await?
        } else {
            sample::sample_rows(path.clone(), &loaded, spec.clone(), req, &self.limits).await?
        };
        timed("sample", t);

        let (checked, llm) = self.check_rows(store, req, dir, &sample).await?;
        let decision = decide(req, manifest, &loaded, &sample, failures, checked);
        let mut fingerprints = Vec::new();
        if decision.accepted && self.fingerprints {
            let t = Instant::now();
            fingerprints = fingerprint::fingerprint_rows(store, req, path, &loaded, spec, &self.limits).await;
            timed("fingerprint", t);
        }
        Ok(Evaluated { decision, dataset: loaded, llm, fingerprints })
    }

    /// Asset checks on every sampled row (the extra rows of §9 rev. 2 after the others),
    /// then the row checks on the regular sample, concurrently across rows.
    async fn check_rows(
        &self,
        store: &dyn ObjectStore,
        req: &PackageRequest,
        dir: &Path,
        sample: &sample::Sample,
    ) -> Result<(CheckedRows, LlmUsage), StageStop> {
        let t = Instant::now();
        let checked: Vec<_> = futures::stream::iter(sample.rows.iter().chain(&sample.extra))
            .map(|row| verify_row(store, self.probe.as_ref(), req.interval_id(), row, &self.limits, dir))
            .buffered(self.limits.asset_concurrency.max(1))
            .collect()
            .await;
        let mut assets = Vec::with_capacity(checked.len());
        for result in checked {
            assets.push(result.map_err(StageStop::Environment)?);
        }
        let extra = assets.split_off(sample.rows.len());
        timed("assets", t);

        let t = Instant::now();
        let content: Vec<Vec<RowCheckResult>> = futures::stream::iter(sample.rows.iter().zip(&assets).enumerate())
            .map(|(position, (row, assets))| async move {
                let mut results = Vec::new();
                if let Some(clip) = &assets.clip_path {
                    for check in &self.row_checks {
                        results.push(check.check(req, row, position, clip).await);
                    }
                }
                results
            })
            .buffered(self.limits.asset_concurrency.max(1))
            .collect()
            .await;
        if !self.row_checks.is_empty() {
            timed("content_checks", t);
        }
        let llm = content.iter().flatten().map(|r| r.llm).sum();
        Ok((CheckedRows { assets, content, extra }, llm))
    }
}

/// The verified rows of a package: assets and row-check results of the regular sample
/// (in row order), and the assets of the extra rows.
struct CheckedRows {
    assets: Vec<RowAssets>,
    content: Vec<Vec<RowCheckResult>>,
    extra: Vec<RowAssets>,
}

/// Runs the spec's hard checks off the async runtime, handing the dataset back.
async fn hard_checks(
    loaded: LoadedDataset,
    spec: Arc<dyn DatasetSpec>,
) -> Result<(LoadedDataset, FailureList), LoadFailure> {
    let (loaded, result) = tokio::task::spawn_blocking(move || {
        let result = spec.hard_checks(&loaded.frame);
        (loaded, result)
    })
    .await
    .map_err(|e| LoadFailure::with_error(Failure::ValidationException, format!("hard checks failed: {e}")))?;
    let failures = result.map_err(|e| LoadFailure::with_error(e.failure(), e.to_string()))?;
    Ok((loaded, failures))
}

/// The decision on an evaluated package: hard-check failures, then each sampled row's
/// asset failures and row-check failures (row order), then the extra rows' failures.
fn decide(
    req: &PackageRequest,
    manifest: &IntervalManifest,
    loaded: &LoadedDataset,
    sample: &sample::Sample,
    mut failures: FailureList,
    checked: CheckedRows,
) -> Decision {
    let (mut unavailable, mut remarks) = (Vec::new(), Vec::new());
    for (assets, results) in checked.assets.into_iter().zip(checked.content) {
        failures.extend(assets.failures);
        for outcome in results {
            failures.extend(outcome.failures);
            unavailable.extend(outcome.unavailable);
            remarks.extend(outcome.remarks);
        }
    }
    for assets in checked.extra {
        failures.extend(assets.failures);
    }
    let record_count = loaded.num_rows() as u64;
    let sampled = sample.rows.len() as u64;
    let extra_indices = sample.extra.iter().map(|r| r.index).collect();
    let notes = DecisionNotes {
        record_count: Some(record_count),
        sampled_record_count: Some(sampled),
        global_overlap_pruned_count: Some(0),
        cross_miner_overlap_pruned_count: Some(0),
        spec_id: Some(manifest.spec_id.clone()),
        category: manifest.category.clone(),
        sampled_row_indices: Some(sample.rows.iter().map(|r| r.index).collect()),
        extra_sampled_row_indices: req.terms.extra_sample_seed.as_ref().map(|_| extra_indices),
        unavailable_checks: unavailable,
        check_remarks: remarks,
        ..Default::default()
    };
    Decision::evaluated(&req.miner_hotkey, req.interval_id(), failures, record_count, sampled, notes)
}
