//! The long-running validator (protocol §2, §11): polls the block clock, evaluates every
//! closed interval exactly once and in order (resuming after the last recorded one),
//! records each atomically, reports it to the validation API, and sets weights once per
//! epoch the way the chain wants them (plain or timelocked commit-reveal, after every rule
//! the chain applies at commit and reveal time, each failure logged once and counted), with
//! the protocol's retry backoff for failures and
//! a wait for the right block when the chain's rate limit says so. The intent is recorded
//! before sending, so a restart never sets weights twice in an epoch; commits are followed
//! by the reveal watchdog ([`super::weights`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use tracing::{debug, error, info, warn};

use super::interval::{IntervalContext, IntervalError, IntervalEvaluator, IntervalReport, PublishSummary, Seat};
use super::metrics::{Metrics, Submission};
use super::state::{StateError, ValidatorState, WeightSubmission};
use super::weights::{RevealWatchdog, RuleFailures, WatchTarget, Watched, intent_landed};
use crate::chain::weight_rules::{self, PlanOptions, VersionKeyPolicy, WeightsMode};
use crate::chain::weights::{ScoringWindows, WeightsRuleError, conformed_call, epoch_scores, to_uid_weights};
use crate::chain::{Chain, ChainError};
use crate::evidence::EvidenceApi;
use crate::index::overlap::OverlapIndex;
use crate::index::refresh::{SnapshotRead, SnapshotSource};
use crate::shutdown::{Shutdown, run_every};
use crate::telemetry::write_heartbeat;

/// Work done after an interval is recorded (owner publishing, protocol §13). Failures
/// are the implementation's to log; they never undo or repeat the interval.
#[async_trait]
pub trait IntervalPublisher: Send + Sync {
    /// Called once per recorded interval with the snapshot read of this poll (`None` when
    /// no snapshot source is configured) and the index after the interval was recorded;
    /// says what it published.
    async fn after_interval(
        &self,
        report: &IntervalReport,
        snapshot: Option<&SnapshotRead>,
        index: &OverlapIndex,
    ) -> PublishSummary;

    /// Entries of the state's owner-pending tree to record atomically with the interval,
    /// so its work survives a stop between recording and publishing.
    fn pending_entries(&self, _report: &IntervalReport) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }

    /// Called once when the service starts: finishes work a stop cut short.
    async fn resume(&self, _index: &OverlapIndex) {}
}

/// How the loop polls and sets weights.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Scoring and rejection windows of the weights (protocol §11).
    pub windows: ScoringWindows,
    /// Which weights version key to send (this release's own by default).
    pub version_key: VersionKeyPolicy,
    /// The mechanism weights are set for (`NEXIS_WEIGHTS_MECHID`, 0: the main one).
    pub mecid: u8,
    /// Time between block polls.
    pub poll: Duration,
    /// Liveness file written after every iteration that reached the chain.
    pub heartbeat: Option<PathBuf>,
    /// Whether to set weights at all (off for a dry run of the evaluation loop).
    pub set_weights: bool,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            windows: ScoringWindows::default(),
            version_key: VersionKeyPolicy::default(),
            mecid: 0,
            poll: Duration::from_secs(12),
            heartbeat: None,
            set_weights: true,
        }
    }
}

/// Service failures that end the loop (state trouble). Chain and interval trouble is
/// retried on the next poll instead.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The state records an interval the chain has not reached.
    #[error(
        "the recorded state is ahead of the chain: last finished interval {last} but the chain is at block \
         {block}. This state belongs to another chain (an embedded chain that was reset?); point NEXIS_WORKDIR \
         at a fresh directory or remove the old one"
    )]
    StateAheadOfChain {
        /// The last recorded interval.
        last: u64,
        /// The chain's current block.
        block: u64,
    },
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
    /// The first retry delay.
    pub const BASE: Duration = Duration::from_secs(10);
    /// The longest retry delay.
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
    /// The chain's block at the start of the poll.
    pub block: u64,
    /// Intervals evaluated and recorded, oldest first.
    pub intervals: Vec<IntervalReport>,
    /// Weights set (or found already set) this poll.
    pub weights: Option<WeightSubmission>,
    /// What the refresh of the shared overlap snapshot found, when intervals were pending
    /// and a snapshot source is configured.
    pub snapshot: Option<SnapshotRead>,
}

/// The validator loop; built by [`ValidatorConfig::build`](crate::validator::config::ValidatorConfig::build).
pub struct ValidatorService {
    /// Evaluates intervals (and holds the seat: netuid, clock, hotkey).
    pub evaluator: IntervalEvaluator,
    /// The recorded state.
    pub state: ValidatorState,
    /// The validation API, if configured.
    pub api: Option<Arc<dyn EvidenceApi>>,
    /// The loop's metrics.
    pub metrics: Arc<Metrics>,
    /// How the loop polls and sets weights.
    pub settings: ServiceSettings,
    /// The shared overlap snapshot, when a record-info bucket is configured.
    snapshot: Option<SnapshotSource>,
    /// Post-interval work (owner mode).
    publisher: Option<Arc<dyn IntervalPublisher>>,
    backoff: Mutex<WeightBackoff>,
    /// Commits followed until their reveal.
    pub reveals: RevealWatchdog,
    /// Whether the last submission was seeded into the watchdog after a start.
    reveals_seeded: std::sync::atomic::AtomicBool,
    /// Weight rules that failed, each logged once until it changes.
    rule_failures: RuleFailures,
}

impl ValidatorService {
    pub(crate) fn new(
        evaluator: IntervalEvaluator,
        state: ValidatorState,
        api: Option<Arc<dyn EvidenceApi>>,
        metrics: Arc<Metrics>,
        settings: ServiceSettings,
        snapshot: Option<SnapshotSource>,
        publisher: Option<Arc<dyn IntervalPublisher>>,
    ) -> Self {
        Self {
            evaluator,
            state,
            api,
            metrics,
            settings,
            snapshot,
            publisher,
            backoff: Mutex::new(WeightBackoff::default()),
            reveals: RevealWatchdog::default(),
            reveals_seeded: std::sync::atomic::AtomicBool::new(false),
            rule_failures: RuleFailures::default(),
        }
    }

    fn seat(&self) -> &Seat {
        &self.evaluator.seat
    }

    fn chain(&self) -> &dyn Chain {
        self.evaluator.chain.as_ref()
    }

    /// Closed intervals still to evaluate at `block`, oldest first: after the last
    /// recorded one, or just the latest closed one on a first start.
    pub fn pending_intervals(&self, block: u64) -> Result<Vec<u64>, ServiceError> {
        let clock = &self.seat().clock;
        let Some(latest) = clock.latest_closed(block) else { return Ok(Vec::new()) };
        let first = match self.state.last_finished_interval()? {
            Some(last) if last > latest => return Err(ServiceError::StateAheadOfChain { last, block }),
            Some(last) => last + clock.interval_blocks,
            None => latest,
        };
        Ok((first..=latest).step_by(clock.interval_blocks as usize).collect())
    }

    async fn api_excluded(&self, interval_id: u64) -> BTreeSet<String> {
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
        let block = match self.chain().current_block().await {
            Ok(b) => b,
            Err(e) => {
                warn!(chain = %self.chain().describe(), error = %e, "cannot read the current block; retrying next poll");
                return Ok(TickReport::default());
            }
        };
        self.metrics.current_block.set(block as i64);
        let pending = self.pending_intervals(block)?;
        let snapshot = match &self.snapshot {
            Some(source) if !pending.is_empty() => Some(source.refresh(&self.state.index()).await),
            _ => None,
        };
        let mut report = TickReport { block, snapshot, ..Default::default() };
        let mut last = None;
        for interval_id in pending {
            let Some(ctx) = self.interval_context(interval_id, block, report.snapshot.clone()).await else { break };
            match self.run_interval(&ctx).await? {
                Some(done) => report.intervals.push(done),
                None => break,
            }
            last = Some(ctx);
        }
        if self.settings.set_weights {
            report.weights = self.maybe_set_weights(block, last.as_ref()).await?;
        }
        if let Some(path) = &self.settings.heartbeat
            && let Err(e) = write_heartbeat(path, block, self.state.last_finished_interval()?)
        {
            warn!(path = %path.display(), error = %e, "cannot write the liveness file");
        }
        Ok(report)
    }

    /// What the evaluation of `interval_id` shares; `None` (logged) when it must wait.
    async fn interval_context(
        &self,
        interval_id: u64,
        block: u64,
        snapshot: Option<SnapshotRead>,
    ) -> Option<IntervalContext> {
        let api_excluded = self.api_excluded(interval_id).await;
        match self.evaluator.context(interval_id, block, api_excluded, snapshot).await {
            Ok(ctx) => Some(ctx),
            Err(e) => {
                self.metrics.interval_errors.inc();
                log_interval_error(interval_id, &e);
                None
            }
        }
    }

    /// Evaluates and records one interval; `None` when it must be retried later.
    async fn run_interval(&self, ctx: &IntervalContext) -> Result<Option<IntervalReport>, ServiceError> {
        let interval_id = ctx.interval_id;
        let started = Instant::now();
        let mut report = match self.evaluator.evaluate(ctx, &self.state.index()).await {
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
        self.metrics.record_interval(&report, started.elapsed());
        log_interval(&report, started.elapsed());
        if let Some(api) = &self.api {
            api.report(interval_id, &report.record.decisions).await;
        }
        if let Some(publisher) = &self.publisher {
            report.published =
                Some(publisher.after_interval(&report, ctx.snapshot.as_ref(), &self.state.index()).await);
        }
        Ok(Some(report))
    }

    /// Sets weights when `block` is in an epoch without a successful submission and the
    /// backoff (or the chain's rate limit) allows a try; first follows up earlier commits.
    async fn maybe_set_weights(
        &self,
        block: u64,
        last: Option<&IntervalContext>,
    ) -> Result<Option<WeightSubmission>, ServiceError> {
        self.check_reveals(block).await?;
        let clock = &self.seat().clock;
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
            Ok(None) => self.submit_weights(epoch, block, last).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(submission) => {
                self.state.record_weights(&submission)?;
                self.metrics.weight_submission(Submission::Ok);
                self.metrics.last_weight_submission.set(submission.submitted_at.timestamp());
                Ok(Some(submission))
            }
            Err(e) => {
                self.metrics.weight_submission(Submission::Error);
                self.weights_failed(epoch, block, now, &e);
                Ok(None)
            }
        }
    }

    /// Logs a failed submission once and schedules the next try: at the block the rate
    /// limit allows, at the next epoch without a permit, else after the backoff delay.
    fn weights_failed(&self, epoch: u64, block: u64, now: Instant, e: &WeightError) {
        if let WeightError::Chain(chain_error) = e {
            self.rule_failures.count(chain_error, &self.metrics);
        }
        let mut backoff = self.lock_backoff();
        match e {
            WeightError::Chain(ChainError::Rule(rule)) => {
                // Stake, permits, the subnet's limits and its version key change over time:
                // retried with the backoff, logged again only when the verdict changes.
                let delay = backoff.failed(epoch, now);
                self.rule_failures.log_once(epoch, rule, delay);
            }
            WeightError::Chain(ChainError::WeightsTooFast { next_block, .. }) => {
                backoff.wait_for_block(epoch, *next_block);
                warn!(epoch, error = %e, retry_at_block = next_block, "weights wait for the chain's rate limit");
            }
            WeightError::Chain(ChainError::NoValidatorPermit { .. } | ChainError::NotRegistered { .. }) => {
                let next_epoch = (epoch + 1) * self.seat().clock.weight_epoch_blocks;
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
        let hotkey = self.seat().hotkey.ss58();
        let target = WatchTarget { netuid: self.seat().netuid, mecid: self.settings.mecid, hotkey: &hotkey };
        self.reveals.check(self.chain(), target, block, &self.metrics).await;
        Ok(())
    }

    /// How long after its reveal block a commit may stay pending: one weight epoch.
    fn grace_blocks(&self) -> u64 {
        self.seat().clock.weight_epoch_blocks.max(1)
    }

    /// A recorded intent for `epoch` whose result was never recorded (the process stopped
    /// between sending and recording): the submission, when the chain shows it landed.
    async fn reconcile_intent(&self, epoch: u64) -> Result<Option<WeightSubmission>, WeightError> {
        let Some(intent) = self.state.weights_intent()?.filter(|i| i.epoch == epoch) else { return Ok(None) };
        let (netuid, hotkey) = (self.seat().netuid, self.seat().hotkey.ss58());
        let rules = self.chain().mechanism_weight_rules(netuid, self.settings.mecid, &hotkey).await?;
        let target = WatchTarget { netuid, mecid: self.settings.mecid, hotkey: &hotkey };
        if intent_landed(self.chain(), target, &intent, &rules).await? {
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

    /// Scores the epoch and sends its weights. The API's exclusions are those of the
    /// latest closed interval: taken from `last` when this poll evaluated it, else asked.
    async fn submit_weights(
        &self,
        epoch: u64,
        block: u64,
        last: Option<&IntervalContext>,
    ) -> Result<WeightSubmission, WeightError> {
        let (s, seat) = (&self.settings, self.seat());
        let epoch_start = epoch * seat.clock.weight_epoch_blocks;
        let window = s.windows.score_blocks.max(s.windows.rejection_blocks);
        let decisions: Vec<_> = self
            .state
            .decisions_between(epoch_start.saturating_sub(window), epoch_start)?
            .iter()
            .map(|d| d.scored())
            .collect();
        let current = seat.clock.latest_closed(block).unwrap_or(0);
        let excluded = match last.filter(|ctx| ctx.interval_id == current) {
            Some(ctx) => ctx.api_excluded.clone(),
            None => self.api_excluded(current).await,
        };
        let scores = epoch_scores(&decisions, epoch_start, s.windows, &excluded);
        let metagraph = self.chain().metagraph(seat.netuid).await?;
        let weights = to_uid_weights(&scores, &metagraph);
        if !weights.unknown.is_empty() {
            warn!(hotkeys = ?weights.unknown, "scored hotkeys are no longer in the metagraph; their weight is dropped");
        }
        let hotkey = seat.hotkey.ss58();
        let rules = self.chain().mechanism_weight_rules(seat.netuid, s.mecid, &hotkey).await?;
        let call = conformed_call(seat.netuid, s.version_key.key(rules.version_key), &weights, &rules)?;
        weight_rules::check(&rules, &hotkey, &call, s.version_key)?;
        self.rule_failures.clear();
        let options = PlanOptions { version_key: s.version_key, ..PlanOptions::default() };
        let plan = weight_rules::plan(&rules, seat.hotkey.public(), &call, options)?;
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
        weight_rules::submit(self.chain(), &seat.hotkey, &plan).await?;
        if plan.mode == WeightsMode::CommitReveal {
            self.metrics.weights_committed.inc();
            if let Some(w) = Watched::of(&submission, self.grace_blocks()) {
                self.reveals.watch(w);
            }
        }
        Ok(submission)
    }

    /// Runs until `shutdown`: finishes work a stop cut short, then polls. An interrupted
    /// interval is simply not recorded.
    pub async fn run(&self, shutdown: &Shutdown) -> Result<(), ServiceError> {
        let seat = self.seat();
        info!(
            chain = %self.chain().describe(),
            netuid = seat.netuid,
            hotkey = %seat.hotkey.ss58(),
            poll_sec = self.settings.poll.as_secs_f64(),
            "validator started"
        );
        if shutdown.unless_stopped(self.resume()).await.is_some() {
            run_every(self.settings.poll, shutdown, || async { self.tick().await.map(drop) }).await?;
        }
        info!("validator stopped; state is consistent");
        Ok(())
    }
}

/// The summary lines of a recorded interval.
fn log_interval(report: &IntervalReport, took: Duration) {
    let interval_id = report.record.interval_id;
    let llm = report.timings.llm;
    if llm.judgements > 0 {
        if llm.unavailable > 0 {
            warn!(
                interval_id,
                unavailable = llm.unavailable,
                "some content checks were unavailable (see the decision notes)"
            );
        }
        info!(interval_id, judgements = llm.judgements, llm_ms = llm.busy.as_millis() as u64, "LLM time this interval");
    }
    let accepted = report.record.decisions.iter().filter(|d| d.accepted).count();
    info!(
        interval_id,
        candidates = report.candidates,
        evaluated = report.record.decisions.len(),
        accepted,
        index_entries_added = report.record.index_entries.len(),
        took_ms = took.as_millis() as u64,
        "interval recorded"
    );
    debug!(
        interval_id,
        discover_ms = report.timings.discover.as_millis() as u64,
        miners_ms = report.timings.miners.as_millis() as u64,
        prune_ms = report.timings.prune.as_millis() as u64,
        "interval stage timings"
    );
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
    #[error(transparent)]
    Rules(#[from] WeightsRuleError),
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
