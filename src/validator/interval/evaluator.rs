//! One interval end to end: discover the miners, validate each selected package with the
//! same pipeline `nexis check` uses (bounded concurrency, a time budget per miner, one
//! miner's trouble never touching another's decision), then prune overlaps and finalise
//! the decisions. Nothing here writes state; the caller records the result atomically.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use tracing::{debug, info, warn};

use super::discover::{Discovery, discover};
use super::prune::{PackageRows, PruneError, prune};
use crate::chain::{Chain, ChainError, Hotkey, NetUid};
use crate::index::fingerprints::{FingerprintEntry, FingerprintIndex};
use crate::index::overlap::OverlapIndex;
use crate::index::refresh::SnapshotRead;
use crate::model::{Decision, DecisionNotes, Failure, IntervalManifest};
use crate::protocol::{Block, HotkeyAddr, IntervalId};
use crate::protocol::{DEFAULT_CATEGORY, DEFAULT_SPEC_ID, IntervalClock, MAX_MINERS_PER_INTERVAL};
use crate::storage::{MinerStores, ObjectStore, StorageError};
use crate::validator::package::{
    EnvironmentError, IntervalTerms, LlmUsage, PackageOutcome, PackageRequest, PackageValidator,
    forgive_unusable_replies, run_within,
};
use crate::validator::sampling::interval_seed;

/// Where a validator sits: its subnet, the interval clock it keeps and its hotkey; the one
/// place these three live.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The subnet validated.
    pub netuid: NetUid,
    /// Interval, upload-reserve and weight-epoch lengths, and the block time.
    pub clock: IntervalClock,
    /// The validator's hotkey (signs weights and API requests, seeds row sampling).
    pub hotkey: Arc<Hotkey>,
}

/// How intervals are evaluated (the validator's own choices; the netuid, clock and
/// hotkey are the [`Seat`]'s).
#[derive(Debug, Clone)]
pub struct IntervalSettings {
    /// Category every package must declare; `None` requires none.
    pub expected_category: Option<String>,
    /// Dataset specs this validator accepts.
    pub enabled_specs: Vec<String>,
    /// Most miners evaluated per interval (protocol §7).
    pub max_miners: usize,
    /// Miners validated at once.
    pub miner_concurrency: usize,
    /// Wall-clock budget of one miner's validation (dependency waits not counted).
    pub miner_budget: Duration,
    /// Added to the chain time of the deadline block.
    pub upload_grace: Duration,
    /// Hotkeys the operator leaves out (`--exclude-hotkeys`).
    pub excluded: BTreeSet<String>,
}

impl Default for IntervalSettings {
    fn default() -> Self {
        Self {
            expected_category: Some(DEFAULT_CATEGORY.into()),
            enabled_specs: vec![DEFAULT_SPEC_ID.into()],
            max_miners: MAX_MINERS_PER_INTERVAL,
            miner_concurrency: 8,
            miner_budget: Duration::from_secs(300),
            upload_grace: Duration::from_secs(60),
            excluded: BTreeSet::new(),
        }
    }
}

/// Everything one interval's evaluation shares, gathered once before any package is
/// looked at: the clock reading, the exclusions of the API, the snapshot read of this poll
/// and the terms every package is held to.
#[derive(Debug, Clone)]
pub struct IntervalContext {
    /// The interval's first block.
    pub interval_id: IntervalId,
    /// The chain's block when the interval was taken up.
    pub current_block: u64,
    /// Hotkeys the validation API leaves out (its invalid window and blacklist).
    pub api_excluded: BTreeSet<String>,
    /// What this poll's refresh of the shared overlap snapshot found, if one is configured.
    pub snapshot: Option<SnapshotRead>,
    /// The terms every package of the interval is held to.
    pub terms: Arc<IntervalTerms>,
}

/// Trouble on the validator's side: the interval is not recorded and is tried again.
#[derive(Debug, thiserror::Error)]
pub enum IntervalError {
    /// The chain could not be read.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The validator's own environment failed (scratch space, ffprobe).
    #[error("validator environment: {0}")]
    Environment(#[from] EnvironmentError),
    /// Pruning failed on the validator's side.
    #[error("overlap pruning: {0}")]
    Prune(#[from] PruneError),
    /// A blocking task of the interval died.
    #[error("interval task failed: {0}")]
    Task(String),
    /// The block whose hash seeds the extra samples does not exist yet.
    #[error("the deadline block {block} of the interval is not on chain yet (current block {current}); waiting")]
    DeadlineBlockPending {
        /// The deadline block.
        block: u64,
        /// The chain's current block.
        current: u64,
    },
}

/// Stage durations of one interval.
#[derive(Debug, Clone, Default)]
pub struct IntervalTimings {
    /// Metagraph, commitments and selection.
    pub discover: Duration,
    /// Validating every selected miner.
    pub miners: Duration,
    /// Overlap pruning and finalising.
    pub prune: Duration,
    /// Model usage of the content checks.
    pub llm: LlmUsage,
}

/// The outcome of one interval, ready to record.
#[derive(Debug, Default)]
pub struct IntervalReport {
    /// What the state records.
    pub record: IntervalRecord,
    /// Accepted packages after pruning: the miner, its manifest and the dataset rows kept
    /// (ascending row numbers), for owner publishing.
    pub kept: Vec<KeptPackage>,
    /// Miners with committed credentials (before selection).
    pub candidates: usize,
    /// Stage durations.
    pub timings: IntervalTimings,
    /// The upload deadline packages were held to, when the chain gave a block time.
    pub upload_deadline: Option<DateTime<Utc>>,
    /// What the post-interval work (owner publishing) did, once it ran.
    pub published: Option<PublishSummary>,
}

/// What post-interval work (owner mode, protocol §13) did for one interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishSummary {
    /// Bundles written (this interval's and earlier pending ones).
    pub bundles: usize,
    /// Bundles not written this time.
    pub bundle_failures: usize,
    /// (key, start) entries of `record_info.json` when it was published; `None` when it
    /// was not (the reason is logged).
    pub snapshot_entries: Option<usize>,
}

/// An accepted package after pruning.
#[derive(Debug, Clone)]
pub struct KeptPackage {
    /// SS58 hotkey of the miner.
    pub miner_hotkey: String,
    /// Its manifest.
    pub manifest: IntervalManifest,
    /// Row numbers of `dataset.parquet` that survived pruning, ascending.
    pub rows: Vec<u32>,
}

/// Everything an interval adds to the state, written at once.
#[derive(Debug, Default)]
pub struct IntervalRecord {
    /// The interval recorded.
    pub interval_id: u64,
    /// Its final decisions, in selection order.
    pub decisions: Vec<Decision>,
    /// Kept rows of accepted miners: `(canonical key, start seconds)`.
    pub index_entries: Vec<(String, f64)>,
    /// Content fingerprints of the kept rows (near-duplicate footage, beside the overlap
    /// entries).
    pub fingerprint_entries: Vec<FingerprintEntry>,
    /// Owner mode: the interval's bundles still to publish, as `(key, value)` entries of
    /// the owner-pending tree, written in the same transaction as the interval so a stop
    /// right after recording never loses them.
    pub pending_bundles: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Evaluates intervals; built by [`ValidatorConfig`](crate::validator::ValidatorConfig).
#[derive(Clone)]
pub struct IntervalEvaluator {
    pub(crate) seat: Seat,
    pub(crate) chain: Arc<dyn Chain>,
    pub(crate) stores: Arc<dyn MinerStores>,
    pub(crate) validator: PackageValidator,
    pub(crate) settings: IntervalSettings,
}

impl IntervalEvaluator {
    /// An evaluator of `seat`'s intervals reading miner buckets through `stores` and
    /// validating packages with `validator`; at least one miner at a time, and at least a
    /// second of budget each.
    pub fn new(
        seat: Seat,
        chain: Arc<dyn Chain>,
        stores: Arc<dyn MinerStores>,
        validator: PackageValidator,
        mut settings: IntervalSettings,
    ) -> Self {
        settings.miner_concurrency = settings.miner_concurrency.max(1);
        settings.miner_budget = settings.miner_budget.max(Duration::from_secs(1));
        Self { seat, chain, stores, validator, settings }
    }

    /// The chain this evaluator reads.
    pub fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    /// The upload deadline of `interval_id`: the chain time of its deadline block plus the
    /// grace; estimated from the latest block at the block time when the chain cannot
    /// give that block's time.
    pub async fn upload_deadline(&self, interval_id: IntervalId, current_block: Block) -> Option<DateTime<Utc>> {
        let clock = &self.seat.clock;
        let (block, current_block) = (clock.deadline_block(interval_id).get(), current_block.get());
        let at = match self.chain.block_timestamp(block).await {
            Ok(Some(t)) => Some(t),
            other => {
                if let Err(e) = other {
                    debug!(block, error = %e, "no timestamp for the deadline block; estimating it");
                }
                match self.chain.block_timestamp(current_block).await {
                    Ok(Some(now)) => {
                        let behind = current_block.saturating_sub(block).saturating_mul(clock.block_time_sec);
                        Some(now - chrono::Duration::seconds(i64::try_from(behind).unwrap_or(i64::MAX / 1000)))
                    }
                    _ => None,
                }
            }
        };
        let grace = chrono::Duration::from_std(self.settings.upload_grace).unwrap_or_default();
        at.map(|t| t + grace)
    }

    /// Gathers what every package of `interval_id` shares: the upload deadline, the
    /// extra-sample seed and the validator's terms, with the API's exclusions and this
    /// poll's snapshot read passed in.
    pub async fn context(
        &self,
        interval: IntervalId,
        current_block: Block,
        api_excluded: BTreeSet<String>,
        snapshot: Option<SnapshotRead>,
    ) -> Result<IntervalContext, IntervalError> {
        let upload_deadline = self.upload_deadline(interval, current_block).await;
        let extra_sample_seed = self.extra_sample_seed(interval, current_block).await?;
        let interval_id = interval.get();
        if upload_deadline.is_none() {
            warn!(interval_id, "the chain gives no block time; the late-submission check is off for this interval");
        }
        let s = &self.settings;
        let terms = IntervalTerms {
            interval_id: interval,
            validator_hotkey: Some(HotkeyAddr::new(self.seat.hotkey.ss58())),
            interval_seed: interval_seed(interval_id),
            expected_category: s.expected_category.clone(),
            enabled_specs: s.enabled_specs.clone(),
            upload_deadline,
            extra_sample_seed,
        };
        Ok(IntervalContext {
            interval_id: interval,
            current_block: current_block.get(),
            api_excluded,
            snapshot,
            terms: Arc::new(terms),
        })
    }

    /// Evaluates the interval of `ctx`, pruning against `index`.
    pub async fn evaluate(&self, ctx: &IntervalContext, index: &OverlapIndex) -> Result<IntervalReport, IntervalError> {
        let s = &self.settings;
        let interval_id = ctx.interval_id.get();
        let started = Instant::now();
        let metagraph = self.chain.metagraph(self.seat.netuid).await?;
        let commitments = self.chain.commitments(self.seat.netuid).await?;
        let seed = &ctx.terms.interval_seed;
        let found = discover(&metagraph, commitments, &s.excluded, &ctx.api_excluded, seed, s.max_miners);
        let discover_time = started.elapsed();
        info!(
            interval_id,
            neurons = metagraph.neurons.len(),
            candidates = found.candidates.len(),
            selected = found.selected.len(),
            without_credentials = found.skipped.no_credentials,
            excluded = found.skipped.excluded,
            api_excluded = found.skipped.api_excluded,
            "discovered miners"
        );

        let started = Instant::now();
        let mut outcomes = self.validate_miners(&ctx.terms, &found).await?;
        let miners_time = started.elapsed();
        let llm: LlmUsage = outcomes.iter().map(|o| o.llm).sum();
        let forgiven =
            forgive_unusable_replies(&mut outcomes.iter_mut().map(|o| &mut o.decision).collect::<Vec<_>>(), &llm);
        if forgiven > 0 {
            warn!(interval_id, forgiven, "unusable model replies counted as unavailable for this interval");
        }

        let started = Instant::now();
        let index = index.clone();
        let Finalized { decisions, index_entries, fingerprint_entries, kept } =
            tokio::task::spawn_blocking(move || finalize(outcomes, &index))
                .await
                .map_err(|e| IntervalError::Task(e.to_string()))??;
        let prune_time = started.elapsed();

        Ok(IntervalReport {
            record: IntervalRecord {
                interval_id,
                decisions,
                index_entries,
                fingerprint_entries,
                pending_bundles: Vec::new(),
            },
            kept,
            candidates: found.candidates.len(),
            timings: IntervalTimings { discover: discover_time, miners: miners_time, prune: prune_time, llm },
            upload_deadline: ctx.terms.upload_deadline,
            published: None,
        })
    }

    /// The hash of the interval's deadline block, seeding the extra samples (§9 rev. 2).
    /// A block the chain does not have yet means waiting; an old block the node no longer
    /// keeps (a pruned, non-archive node) means this interval runs without extra samples.
    pub async fn extra_sample_seed(
        &self,
        interval: IntervalId,
        current_block: Block,
    ) -> Result<Option<String>, IntervalError> {
        let (interval_id, current_block) = (interval.get(), current_block.get());
        let block = self.seat.clock.deadline_block(interval).get();
        if block > current_block {
            return Err(IntervalError::DeadlineBlockPending { block, current: current_block });
        }
        match self.chain.block_hash(block).await? {
            Some(hash) => Ok(Some(hash)),
            None => {
                let current = self.chain.current_block().await?;
                if block > current {
                    return Err(IntervalError::DeadlineBlockPending { block, current });
                }
                warn!(
                    interval_id,
                    block, "the chain no longer has the deadline block's hash: no extra samples this interval"
                );
                Ok(None)
            }
        }
    }

    async fn validate_miners(
        &self,
        terms: &Arc<IntervalTerms>,
        found: &Discovery,
    ) -> Result<Vec<PackageOutcome>, IntervalError> {
        let jobs = found.selected.iter().map(|hotkey| {
            let req = PackageRequest::new(hotkey.clone(), terms.clone());
            let store = found.credentials.get(hotkey).map(|c| self.stores.store_for(hotkey, c));
            self.validate_miner(req, store)
        });
        let results: Vec<Result<PackageOutcome, EnvironmentError>> =
            futures::stream::iter(jobs).buffered(self.settings.miner_concurrency).collect().await;
        results.into_iter().map(|r| r.map_err(IntervalError::from)).collect()
    }

    /// One miner's package within its time budget. A panic inside its validation ends as
    /// that miner's decision; waits on the validator's own dependencies (LLM, sources) are
    /// not charged.
    async fn validate_miner(
        &self,
        req: PackageRequest,
        store: Option<Result<Arc<dyn ObjectStore>, StorageError>>,
    ) -> Result<PackageOutcome, EnvironmentError> {
        let store = match store {
            None => return Ok(outcome_of(failed(&req, Failure::MissingCommittedReadCredentials, None))),
            Some(Err(e)) => return Ok(outcome_of(failed(&req, Failure::ValidationException, Some(e.to_string())))),
            Some(Ok(store)) => store,
        };
        let budget = self.settings.miner_budget;
        let run = std::panic::AssertUnwindSafe(run_within(budget, self.validator.validate(store.as_ref(), &req)));
        match run.catch_unwind().await {
            Ok(Ok(result)) => result,
            Ok(Err(over)) => {
                let why = format!(
                    "validation exceeded the per-miner budget of {} s (not counting {:.1} s waiting on the \
                     validator's own dependencies)",
                    budget.as_secs(),
                    over.excluded.as_secs_f64()
                );
                Ok(outcome_of(failed(&req, Failure::ValidationException, Some(why))))
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let why = format!("validation panicked: {what}");
                Ok(outcome_of(failed(&req, Failure::ValidationException, Some(why))))
            }
        }
    }
}

/// Near-duplicate rows listed in one decision's notes (the rest are only counted).
const MAX_LISTED_DUPLICATES: usize = 32;

/// What pruning leaves: final decisions (selection order), index entries for the kept
/// rows (canonical key, start seconds; fingerprints) and the kept packages.
struct Finalized {
    decisions: Vec<Decision>,
    index_entries: Vec<(String, f64)>,
    fingerprint_entries: Vec<FingerprintEntry>,
    kept: Vec<KeptPackage>,
}

fn failed(req: &PackageRequest, failure: Failure, error: Option<String>) -> Decision {
    Decision::load_failure(&req.miner_hotkey, req.interval_id(), failure, DecisionNotes { error, ..Default::default() })
}

fn outcome_of(decision: Decision) -> PackageOutcome {
    PackageOutcome {
        decision,
        manifest: None,
        submitted_at: None,
        dataset: None,
        llm: LlmUsage::default(),
        fingerprints: Vec::new(),
    }
}

/// Prunes the accepted packages and writes the post-prune counts into their decisions.
/// Returns the decisions in selection order and the kept rows for the index.
fn finalize(outcomes: Vec<PackageOutcome>, index: &OverlapIndex) -> Result<Finalized, IntervalError> {
    let accepted: Vec<usize> =
        (0..outcomes.len()).filter(|&i| outcomes[i].decision.accepted && outcomes[i].dataset.is_some()).collect();
    let rows: Vec<PackageRows<'_>> = accepted
        .iter()
        .filter_map(|&i| {
            let o = &outcomes[i];
            let frame = &o.dataset.as_ref()?.frame;
            let submitted_at = o.submitted_at.or_else(|| o.manifest.as_ref().and_then(|m| m.created_at));
            let fingerprints = &o.fingerprints;
            Some(PackageRows { hotkey: &o.decision.miner_hotkey, submitted_at, frame, fingerprints })
        })
        .collect();
    let published = FingerprintIndex::new(index.tree().clone()).entries().map_err(PruneError::from)?;
    let pruned = prune(&rows, index, &published)?;
    let mut entries = Vec::new();
    let mut fingerprint_entries = Vec::new();
    for (slot, row_set) in rows.iter().zip(&pruned.kept) {
        let starts = slot.frame.starts().map_err(PruneError::from)?;
        for &row in row_set {
            let key = slot.frame.source_key(row as usize).map_err(PruneError::from)?;
            entries.push((key.to_string(), starts[row as usize]));
            if let Ok(i) = slot.fingerprints.binary_search_by_key(&row, |&(r, _)| r) {
                fingerprint_entries.push(FingerprintEntry {
                    fingerprint: slot.fingerprints[i].1,
                    clip_id: slot.frame.clip_id(row as usize).map_err(PruneError::from)?.to_string(),
                    miner_hotkey: slot.hotkey.to_string(),
                });
            }
        }
    }
    let mut decisions: Vec<Decision> = Vec::with_capacity(outcomes.len());
    let mut kept = Vec::with_capacity(accepted.len());
    let mut slot = 0;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let mut d = outcome.decision;
        if accepted.get(slot) == Some(&i) {
            if let Some(manifest) = outcome.manifest {
                let rows = pruned.kept[slot].clone();
                kept.push(KeptPackage { miner_hotkey: d.miner_hotkey.clone(), manifest, rows });
            }
            let kept = pruned.kept[slot].len() as u64;
            d.record_count = kept;
            d.notes.record_count = Some(kept);
            d.notes.global_overlap_pruned_count = Some(pruned.global_pruned[slot]);
            d.notes.cross_miner_overlap_pruned_count = Some(pruned.cross_pruned[slot]);
            let duplicates = &pruned.duplicates[slot];
            if !duplicates.is_empty() {
                d.notes.duplicate_content_pruned_count = Some(duplicates.len() as u64);
                d.notes.duplicate_content = duplicates
                    .iter()
                    .take(MAX_LISTED_DUPLICATES)
                    .map(|x| Failure::DuplicateContent { clip_id: x.clip_id.clone(), matched: x.matched.clone() })
                    .map(|f| f.to_string())
                    .collect();
            }
            slot += 1;
        }
        decisions.push(d);
    }
    Ok(Finalized { decisions, index_entries: entries, fingerprint_entries, kept })
}
