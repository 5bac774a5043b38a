//! The long-running validator (protocol §2, §11): polls the block clock, evaluates every
//! closed interval exactly once and in order (resuming after the last recorded one),
//! records each atomically, reports it to the validation API, and sets weights once per
//! epoch the way the chain wants them (plain or timelocked commit-reveal, after its rate
//! limit, version key and permit checks), with the protocol's retry backoff for failures and
//! a wait for the right block when the chain's rate limit says so. The intent is recorded
//! before sending, so a restart never sets weights twice in an epoch; commits are followed
//! by the reveal watchdog ([`super::weights`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use super::interval::{IntervalError, IntervalEvaluator, IntervalReport};
use super::metrics::Metrics;
use super::state::{StateError, ValidatorState, WeightSubmission};
use super::weights::{RevealWatchdog, Watched, intent_landed};
use crate::chain::weight_rules::{self, PlanOptions, WeightsMode};
use crate::chain::weights::{ScoringWindows, epoch_scores, to_uid_weights, weights_call};
use crate::chain::{Chain, ChainError, Hotkey, NetUid};
use crate::index::overlap::OverlapIndex;
use crate::index::refresh::{SnapshotRead, SnapshotSource};
use crate::model::Decision;
use crate::protocol::IntervalClock;
use crate::telemetry::write_heartbeat;

/// The optional central evidence service, as the loop uses it.
#[async_trait]
pub trait EvidenceApi: Send + Sync {
    /// Hotkeys to leave out for `interval_id`: the API's invalid list and its blacklist.
    async fn excluded_hotkeys(&self, interval_id: u64) -> BTreeSet<String>;
    /// Reports an interval's decisions; failures are logged, never fatal.
    async fn report(&self, interval_id: u64, decisions: &[Decision]);
}

#[async_trait]
impl EvidenceApi for crate::api::ValidationApi {
    async fn excluded_hotkeys(&self, interval_id: u64) -> BTreeSet<String> {
        let (invalid, blacklist) = tokio::join!(self.invalid_hotkeys(interval_id), self.blacklist());
        invalid.into_iter().chain(blacklist).map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect()
    }

    async fn report(&self, interval_id: u64, decisions: &[Decision]) {
        match self.post_results(interval_id, decisions).await {
            Ok(()) => debug!(interval_id, decisions = decisions.len(), "reported to the validation API"),
            Err(e) => {
                warn!(interval_id, error = %e, "reporting to the validation API failed (validation is unaffected)")
            }
        }
    }
}

/// Work done after an interval is recorded (owner publishing, protocol §13). Failures
/// are the implementation's to log; they never undo or repeat the interval.
#[async_trait]
pub trait IntervalPublisher: Send + Sync {
    /// Called once per recorded interval with the snapshot read of this poll (`None` when
    /// no snapshot source is configured) and the index after the interval was recorded.
    async fn after_interval(&self, report: &IntervalReport, snapshot: Option<&SnapshotRead>, index: &OverlapIndex);

    /// Entries of the state's owner-pending tree to record atomically with the interval,
    /// so its work survives a stop between recording and publishing.
    fn pending_entries(&self, _report: &IntervalReport) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }

    /// Called once when the service starts: finishes work a stop cut short.
    async fn resume(&self, _index: &OverlapIndex) {}
}

/// Loop settings.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub netuid: NetUid,
    pub clock: IntervalClock,
    pub windows: ScoringWindows,
    pub version_key: u64,
    pub poll: Duration,
    /// Liveness file written after every iteration that reached the chain.
    pub heartbeat: Option<PathBuf>,
    /// Whether to set weights at all (off for a dry run of the evaluation loop).
    pub set_weights: bool,
}

/// Service failures that end the loop (state trouble). Chain and interval trouble is
/// retried on the next poll instead.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "the recorded state is ahead of the chain: last finished interval {last} but the chain is at block \
         {block}. This state belongs to another chain (an embedded chain that was reset?); point NEXIS_WORKDIR \
         at a fresh directory or remove the old one"
    )]
    StateAheadOfChain { last: u64, block: u64 },
}

/// Failed weight submissions back off 10 s, 20 s, 40 s ... capped at 300 s; the count
/// restarts with each epoch.
#[derive(Debug, Clone, Default)]
pub struct WeightBackoff {
    epoch: Option<u64>,
    failures: u32,
    next_at: Option<Instant>,
    /// The chain's rate limit allows the next try from this block on.
    not_before_block: Option<u64>,
}

impl WeightBackoff {
    pub const BASE: Duration = Duration::from_secs(10);
    pub const CAP: Duration = Duration::from_secs(300);

    /// Whether a submission for `epoch` may be tried at `now`.
    pub fn ready(&self, epoch: u64, now: Instant) -> bool {
        self.epoch != Some(epoch) || self.next_at.is_none_or(|at| now >= at)
    }

    /// Whether a submission for `epoch` may be tried at `block` (the rate-limit wait).
    pub fn ready_at_block(&self, epoch: u64, block: u64) -> bool {
        self.epoch != Some(epoch) || self.not_before_block.is_none_or(|b| block >= b)
    }

    /// Waits for `block` before the next try for `epoch` (the chain said when); no backoff
    /// growth, since nothing failed.
    pub fn wait_for_block(&mut self, epoch: u64, block: u64) {
        if self.epoch != Some(epoch) {
            *self = Self { epoch: Some(epoch), ..Self::default() };
        }
        self.not_before_block = Some(block);
    }

    /// Records a failure for `epoch` at `now`; returns the delay before the next try.
    pub fn failed(&mut self, epoch: u64, now: Instant) -> Duration {
        if self.epoch != Some(epoch) {
            *self = Self { epoch: Some(epoch), ..Self::default() };
        }
        let delay = Self::BASE.saturating_mul(1u32 << self.failures.min(16)).min(Self::CAP);
        self.failures += 1;
        self.next_at = Some(now + delay);
        delay
    }
}

/// What one poll did.
#[derive(Debug, Default)]
pub struct TickReport {
    pub block: u64,
    pub intervals: Vec<IntervalReport>,
    pub weights: Option<WeightSubmission>,
}

/// The validator loop.
pub struct ValidatorService {
    pub chain: Arc<dyn Chain>,
    pub signer: Arc<Hotkey>,
    pub evaluator: IntervalEvaluator,
    pub state: ValidatorState,
    pub api: Option<Arc<dyn EvidenceApi>>,
    pub metrics: Arc<Metrics>,
    pub settings: ServiceSettings,
    /// The shared overlap snapshot, when a record-info bucket is configured.
    pub snapshot: Option<SnapshotSource>,
    /// Post-interval work (owner mode).
    pub publisher: Option<Arc<dyn IntervalPublisher>>,
    last_snapshot: Mutex<Option<SnapshotRead>>,
    backoff: Mutex<WeightBackoff>,
    /// Commits followed until their reveal.
    pub reveals: RevealWatchdog,
    /// Whether the last submission was seeded into the watchdog after a start.
    reveals_seeded: std::sync::atomic::AtomicBool,
}

impl ValidatorService {
    pub fn new(
        chain: Arc<dyn Chain>,
        signer: Arc<Hotkey>,
        evaluator: IntervalEvaluator,
        state: ValidatorState,
        api: Option<Arc<dyn EvidenceApi>>,
        metrics: Arc<Metrics>,
        settings: ServiceSettings,
    ) -> Self {
        Self {
            chain,
            signer,
            evaluator,
            state,
            api,
            metrics,
            settings,
            snapshot: None,
            publisher: None,
            last_snapshot: Mutex::new(None),
            backoff: Mutex::new(WeightBackoff::default()),
            reveals: RevealWatchdog::default(),
            reveals_seeded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Refreshes the overlap index from `source` before evaluating intervals.
    pub fn with_snapshot(mut self, source: SnapshotSource) -> Self {
        self.snapshot = Some(source);
        self
    }

    /// Runs `publisher` after every recorded interval.
    pub fn with_publisher(mut self, publisher: Arc<dyn IntervalPublisher>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// What the latest snapshot refresh found (`None` before the first, or without one).
    pub fn last_snapshot_read(&self) -> Option<SnapshotRead> {
        self.last_snapshot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Closed intervals still to evaluate at `block`, oldest first: after the last
    /// recorded one, or just the latest closed one on a first start.
    pub fn pending_intervals(&self, block: u64) -> Result<Vec<u64>, ServiceError> {
        let clock = &self.settings.clock;
        let Some(latest) = clock.latest_closed(block) else { return Ok(Vec::new()) };
        let first = match self.state.last_finished_interval()? {
            Some(last) if last > latest => return Err(ServiceError::StateAheadOfChain { last, block }),
            Some(last) => last + clock.interval_blocks,
            None => latest,
        };
        Ok((first..=latest).step_by(clock.interval_blocks as usize).collect())
    }

    async fn excluded(&self, interval_id: u64) -> BTreeSet<String> {
        match &self.api {
            Some(api) => api.excluded_hotkeys(interval_id).await,
            None => BTreeSet::new(),
        }
    }

    /// Finishes work a stop cut short (owner bundles recorded but not published); call
    /// once at start.
    pub async fn resume(&self) {
        if let Some(publisher) = &self.publisher {
            publisher.resume(&self.state.index()).await;
        }
    }

    /// One poll: evaluate what is pending, then set weights if a new epoch began.
    /// Interval and chain trouble is logged and left for the next poll.
    pub async fn tick(&self) -> Result<TickReport, ServiceError> {
        let block = match self.chain.current_block().await {
            Ok(b) => b,
            Err(e) => {
                warn!(chain = %self.chain.describe(), error = %e, "cannot read the current block; retrying next poll");
                return Ok(TickReport::default());
            }
        };
        self.metrics.current_block.set(block as i64);
        let mut report = TickReport { block, ..Default::default() };
        let pending = self.pending_intervals(block)?;
        if !pending.is_empty()
            && let Some(source) = &self.snapshot
        {
            let read = source.refresh(&self.state.index()).await;
            *self.last_snapshot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(read);
        }
        for interval_id in pending {
            match self.run_interval(interval_id, block).await? {
                Some(done) => report.intervals.push(done),
                None => break,
            }
        }
        if self.settings.set_weights {
            report.weights = self.maybe_set_weights(block).await?;
        }
        if let Some(path) = &self.settings.heartbeat
            && let Err(e) = write_heartbeat(path, block, self.state.last_finished_interval()?)
        {
            warn!(path = %path.display(), error = %e, "cannot write the liveness file");
        }
        Ok(report)
    }

    /// Evaluates and records one interval; `None` when it must be retried later.
    async fn run_interval(&self, interval_id: u64, block: u64) -> Result<Option<IntervalReport>, ServiceError> {
        let started = Instant::now();
        let excluded = self.excluded(interval_id).await;
        let mut report = match self.evaluator.evaluate(interval_id, block, &excluded, &self.state.index()).await {
            Ok(r) => r,
            Err(e) => {
                self.metrics.interval_errors.inc();
                log_interval_error(interval_id, &e);
                return Ok(None);
            }
        };
        for d in &report.record.decisions {
            info!(interval_id, miner = %d.miner_hotkey, accepted = d.accepted, decision = %d.to_json(), "decision");
        }
        if let Some(publisher) = &self.publisher {
            report.record.pending_bundles = publisher.pending_entries(&report);
        }
        if !self.state.record_interval(&report.record)? {
            warn!(interval_id, "interval already recorded; not counting it again");
            return Ok(None);
        }
        let m = &self.metrics;
        m.intervals.inc();
        m.last_interval.set(interval_id as i64);
        for d in &report.record.decisions {
            Metrics::count(&m.decisions, if d.accepted { "accepted" } else { "rejected" });
            for f in &d.failures {
                m.failures.get_or_create(&super::metrics::CodeLabel { code: f.code().to_string() }).inc();
            }
            for note in &d.notes.unavailable_checks {
                let kind = note.split(':').next().unwrap_or_default().to_string();
                m.unavailable_checks.get_or_create(&super::metrics::KindLabel { kind }).inc();
            }
            let kinds = [
                ("global", d.notes.global_overlap_pruned_count),
                ("cross_miner", d.notes.cross_miner_overlap_pruned_count),
            ];
            for (kind, n) in kinds {
                m.pruned.get_or_create(&super::metrics::KindLabel { kind: kind.to_string() }).inc_by(n.unwrap_or(0));
            }
        }
        m.stage("discover", report.timings.discover);
        m.stage("miners", report.timings.miners);
        m.stage("prune", report.timings.prune);
        m.stage("interval", started.elapsed());
        let llm = report.timings.llm;
        if llm.judgements > 0 {
            m.stage("llm", llm.busy);
            m.llm_judgements.inc_by(llm.judgements);
            m.llm_unavailable.inc_by(llm.unavailable);
            if llm.unavailable > 0 {
                warn!(
                    interval_id,
                    unavailable = llm.unavailable,
                    "some content checks were unavailable (see the decision notes)"
                );
            }
            info!(
                interval_id,
                judgements = llm.judgements,
                llm_ms = llm.busy.as_millis() as u64,
                "LLM time this interval"
            );
        }
        let accepted = report.record.decisions.iter().filter(|d| d.accepted).count();
        info!(
            interval_id,
            candidates = report.candidates,
            evaluated = report.record.decisions.len(),
            accepted,
            index_entries_added = report.record.index_entries.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "interval recorded"
        );
        debug!(
            interval_id,
            discover_ms = report.timings.discover.as_millis() as u64,
            miners_ms = report.timings.miners.as_millis() as u64,
            prune_ms = report.timings.prune.as_millis() as u64,
            "interval stage timings"
        );
        if let Some(api) = &self.api {
            api.report(interval_id, &report.record.decisions).await;
        }
        if let Some(publisher) = &self.publisher {
            let read = self.last_snapshot_read();
            publisher.after_interval(&report, read.as_ref(), &self.state.index()).await;
        }
        Ok(Some(report))
    }

    /// Sets weights when `block` is in an epoch without a successful submission and the
    /// backoff (or the chain's rate limit) allows a try; first follows up earlier commits.
    pub async fn maybe_set_weights(&self, block: u64) -> Result<Option<WeightSubmission>, ServiceError> {
        self.check_reveals(block).await?;
        let clock = &self.settings.clock;
        let epoch = clock.weight_epoch(block);
        if self.state.last_weight_epoch()?.is_some_and(|done| done >= epoch) {
            return Ok(None);
        }
        let now = Instant::now();
        if !self.lock_backoff().ready(epoch, now) || !self.lock_backoff().ready_at_block(epoch, block) {
            return Ok(None);
        }
        let result = match self.reconcile_intent(epoch).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) => self.submit_weights(epoch, block).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(submission) => {
                self.state.record_weights(&submission)?;
                Metrics::count(&self.metrics.weight_submissions, "ok");
                self.metrics.last_weight_submission.set(submission.submitted_at.timestamp());
                Ok(Some(submission))
            }
            Err(e) => {
                Metrics::count(&self.metrics.weight_submissions, "error");
                self.weights_failed(epoch, block, now, &e);
                Ok(None)
            }
        }
    }

    /// Logs a failed submission once and schedules the next try: at the block the rate
    /// limit allows, at the next epoch without a permit, else after the backoff delay.
    fn weights_failed(&self, epoch: u64, block: u64, now: Instant, e: &WeightError) {
        let mut backoff = self.lock_backoff();
        match e {
            WeightError::Chain(ChainError::WeightsTooFast { next_block, .. }) => {
                backoff.wait_for_block(epoch, *next_block);
                warn!(epoch, error = %e, retry_at_block = next_block, "weights wait for the chain's rate limit");
            }
            WeightError::Chain(ChainError::NoValidatorPermit { .. } | ChainError::NotRegistered { .. }) => {
                let next_epoch = (epoch + 1) * self.settings.clock.weight_epoch_blocks;
                backoff.wait_for_block(epoch, next_epoch.max(block + 1));
                error!(epoch, error = %e, "weights not set this epoch");
            }
            _ => {
                let delay = backoff.failed(epoch, now);
                error!(epoch, error = %e, retry_in_sec = delay.as_secs(), "setting weights failed");
            }
        }
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, WeightBackoff> {
        self.backoff.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follows earlier commits (after a start, the last recorded one too): the reveal
    /// watchdog alone, without evaluating or setting anything.
    pub async fn follow_reveals(&self, block: u64) -> Result<(), ServiceError> {
        self.check_reveals(block).await
    }

    async fn check_reveals(&self, block: u64) -> Result<(), ServiceError> {
        if !self.reveals_seeded.swap(true, std::sync::atomic::Ordering::Relaxed)
            && let Some(last) = self.state.last_weights()?
            && let Some(w) = Watched::of(&last, self.grace_blocks())
            && block < w.reveal_block + w.grace_blocks
        {
            self.reveals.watch(w);
        }
        let hotkey = self.signer.ss58();
        self.reveals.check(self.chain.as_ref(), self.settings.netuid, &hotkey, block, &self.metrics).await;
        Ok(())
    }

    /// How long after its reveal block a commit may stay pending: one weight epoch.
    fn grace_blocks(&self) -> u64 {
        self.settings.clock.weight_epoch_blocks.max(1)
    }

    /// A recorded intent for `epoch` whose result was never recorded (the process stopped
    /// between sending and recording): the submission, when the chain shows it landed.
    async fn reconcile_intent(&self, epoch: u64) -> Result<Option<WeightSubmission>, WeightError> {
        let Some(intent) = self.state.weights_intent()?.filter(|i| i.epoch == epoch) else { return Ok(None) };
        let (netuid, hotkey) = (self.settings.netuid, self.signer.ss58());
        let rules = self.chain.weight_rules(netuid, &hotkey).await?;
        if intent_landed(self.chain.as_ref(), netuid, &hotkey, &intent, &rules).await? {
            warn!(
                epoch,
                block = intent.block,
                "weights sent before a restart reached the chain; not sending them again"
            );
            if let Some(w) = Watched::of(&intent, self.grace_blocks()) {
                self.reveals.watch(w);
            }
            return Ok(Some(intent));
        }
        info!(epoch, "weights recorded as intended before a restart never reached the chain; sending them now");
        Ok(None)
    }

    async fn submit_weights(&self, epoch: u64, block: u64) -> Result<WeightSubmission, WeightError> {
        let s = &self.settings;
        let epoch_start = epoch * s.clock.weight_epoch_blocks;
        let window = s.windows.score_blocks.max(s.windows.rejection_blocks);
        let decisions: Vec<_> = self
            .state
            .decisions_between(epoch_start.saturating_sub(window), epoch_start)?
            .iter()
            .map(|d| d.scored())
            .collect();
        let current = s.clock.latest_closed(block).unwrap_or(0);
        let excluded = self.excluded(current).await;
        let scores = epoch_scores(&decisions, epoch_start, s.windows, &excluded);
        let metagraph = self.chain.metagraph(s.netuid).await?;
        let weights = to_uid_weights(&scores, &metagraph);
        if !weights.unknown.is_empty() {
            warn!(hotkeys = ?weights.unknown, "scored hotkeys are no longer in the metagraph; their weight is dropped");
        }
        let call = weights_call(s.netuid, s.version_key, &weights);
        let hotkey = self.signer.ss58();
        let rules = self.chain.weight_rules(s.netuid, &hotkey).await?;
        weight_rules::check(&rules, &hotkey, s.netuid)?;
        let plan = weight_rules::plan(&rules, self.signer.public(), &call, PlanOptions::default())?;
        info!(
            epoch,
            epoch_start,
            scored = scores.len(),
            burned = weights.burned,
            mode = plan.mode.as_str(),
            version_key = plan.call.version_key,
            reveal_round = ?plan.commit.as_ref().map(|c| c.reveal_round),
            reveal_block = ?plan.reveal_block,
            uids = ?plan.call.uids,
            weights = ?plan.call.weights,
            "setting weights"
        );
        let submission = WeightSubmission {
            epoch,
            block: rules.block,
            uids: plan.call.uids.clone(),
            weights: plan.call.weights.clone(),
            burned: weights.burned,
            submitted_at: Utc::now(),
            mode: Some(plan.mode.as_str().to_string()),
            reveal_round: plan.commit.as_ref().map(|c| c.reveal_round),
            reveal_block: plan.reveal_block,
        };
        self.state.record_weights_intent(&submission)?;
        weight_rules::submit(self.chain.as_ref(), &self.signer, &plan).await?;
        if plan.mode == WeightsMode::CommitReveal {
            self.metrics.weights_committed.inc();
            if let Some(w) = Watched::of(&submission, self.grace_blocks()) {
                self.reveals.watch(w);
            }
        }
        Ok(submission)
    }

    /// Runs until `shutdown` turns true. An interrupted interval is simply not recorded.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), ServiceError> {
        info!(
            chain = %self.chain.describe(),
            netuid = self.settings.netuid,
            hotkey = %self.signer.ss58(),
            poll_sec = self.settings.poll.as_secs_f64(),
            "validator started"
        );
        tokio::select! {
            _ = self.resume() => {}
            _ = shutdown.changed() => {
                info!("validator stopped; state is consistent");
                return Ok(());
            }
        }
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                result = self.tick() => { result?; }
                _ = shutdown.changed() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => break,
            }
        }
        info!("validator stopped; state is consistent");
        Ok(())
    }
}

fn log_interval_error(interval_id: u64, e: &IntervalError) {
    error!(interval_id, error = %e, "interval not evaluated; it will be retried on the next poll");
}

/// Why a weight submission failed.
#[derive(Debug, thiserror::Error)]
enum WeightError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    State(#[from] StateError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets_per_epoch() {
        let mut b = WeightBackoff::default();
        let t0 = Instant::now();
        assert!(b.ready(7, t0));
        let delays: Vec<u64> = (0..7).map(|_| b.failed(7, t0).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert!(!b.ready(7, t0 + Duration::from_secs(299)));
        assert!(b.ready(7, t0 + Duration::from_secs(300)));
        // A new epoch may be tried at once and starts again at 10 s.
        assert!(b.ready(8, t0));
        assert_eq!(b.failed(8, t0), Duration::from_secs(10));
    }
}
