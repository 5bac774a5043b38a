//! Setting weights once per weight epoch (protocol §11) the way the chain wants them: plain
//! or timelocked commit-reveal, after every rule the chain applies at commit and reveal time
//! (each failure logged once and counted, [`RuleFailures`]), with the protocol's retry
//! backoff ([`WeightBackoff`]) and a wait for the right block when the chain's rate limit
//! says so. The intent is recorded before sending, so a restart never sets weights twice in
//! an epoch; commits are followed by the reveal watchdog ([`super::reveal_watchdog`]).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{debug, error, info, warn};

use super::config::ServiceSettings;
use super::metrics::{Metrics, RuleLabel, Submission};
use super::reveal_watchdog::{RevealWatchdog, WatchTarget, Watched, intent_landed};
use super::state::{StateError, ValidatorState, WeightSubmission};
use crate::chain::weight_rules::{self, PlanOptions, Rule, WeightRuleError, WeightsMode};
use crate::chain::{Chain, ChainError};
use crate::evidence::EvidenceApi;
use crate::protocol::{Block, Epoch, IntervalId};
use crate::validator::interval::{IntervalContext, Seat};
use crate::validator::scoring::{WeightsRuleError, conformed_call, epoch_scores, to_uid_weights};

/// Failed weight submissions back off 10 s, 20 s, 40 s ... capped at 300 s; the count
/// restarts with each epoch.
#[derive(Debug, Clone, Default)]
pub(crate) struct WeightBackoff {
    epoch: Option<Epoch>,
    failures: u32,
    next_at: Option<Instant>,
    /// The chain's rate limit allows the next try from this block on.
    not_before_block: Option<Block>,
}

impl WeightBackoff {
    /// The first retry delay.
    pub(crate) const BASE: Duration = Duration::from_secs(10);
    /// The longest retry delay.
    pub(crate) const CAP: Duration = Duration::from_secs(300);

    /// Whether a submission for `epoch` may be tried at `now`.
    pub(crate) fn ready(&self, epoch: Epoch, now: Instant) -> bool {
        self.epoch != Some(epoch) || self.next_at.is_none_or(|at| now >= at)
    }

    /// Whether a submission for `epoch` may be tried at `block` (the rate-limit wait).
    pub(crate) fn ready_at_block(&self, epoch: Epoch, block: Block) -> bool {
        self.epoch != Some(epoch) || self.not_before_block.is_none_or(|b| block >= b)
    }

    /// Waits for `block` before the next try for `epoch` (the chain said when); no backoff
    /// growth, since nothing failed.
    pub(crate) fn wait_for_block(&mut self, epoch: Epoch, block: Block) {
        if self.epoch != Some(epoch) {
            *self = Self { epoch: Some(epoch), ..Self::default() };
        }
        self.not_before_block = Some(block);
    }

    /// Records a failure for `epoch` at `now`; returns the delay before the next try.
    pub(crate) fn failed(&mut self, epoch: Epoch, now: Instant) -> Duration {
        if self.epoch != Some(epoch) {
            *self = Self { epoch: Some(epoch), ..Self::default() };
        }
        let delay = Self::BASE.saturating_mul(1u32 << self.failures.min(16)).min(Self::CAP);
        self.failures += 1;
        self.next_at = Some(now + delay);
        delay
    }
}

/// The weight rules that held submissions back: each counted every time, logged once until
/// the verdict (the rule or its value) changes or a submission passes.
#[derive(Debug, Default)]
pub(crate) struct RuleFailures {
    last: Mutex<Option<WeightRuleError>>,
}

/// The rule a chain error stands for, when it is one.
fn rule_of(error: &ChainError) -> Option<Rule> {
    match error {
        ChainError::Rule(r) => Some(r.rule),
        ChainError::NotRegistered { .. } => Some(Rule::NotRegistered),
        ChainError::NoValidatorPermit { .. } => Some(Rule::NeuronNoValidatorPermit),
        ChainError::WeightsTooFast { .. } => Some(Rule::SettingWeightsTooFast),
        _ => None,
    }
}

impl RuleFailures {
    /// Counts `error` in `nexis_weights_rule_failures_total` when it is a rule.
    pub(crate) fn count(&self, error: &ChainError, metrics: &Metrics) {
        if let Some(rule) = rule_of(error) {
            metrics.weight_rule_failures.get_or_create(&RuleLabel { rule: rule.name().to_string() }).inc();
        }
    }

    /// Logs a failed rule with its value and fix, once per verdict; an outdated release
    /// (`IncorrectWeightVersionKey`) is logged as an ALERT.
    pub(crate) fn log_once(&self, epoch: Epoch, failure: &WeightRuleError, retry_in: Duration) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.as_ref() == Some(failure) {
            debug!(epoch = epoch.get(), rule = %failure.rule, retry_in_sec = retry_in.as_secs(), "weights still held back");
            return;
        }
        *last = Some(failure.clone());
        let (rule, value, fix) = (failure.rule.name(), &failure.value, &failure.fix);
        if failure.rule == Rule::IncorrectWeightVersionKey {
            error!(epoch = epoch.get(), rule, %value, %fix, "ALERT: this release is outdated for the subnet; weights not committed");
        } else {
            error!(epoch = epoch.get(), rule, %value, %fix, "weights not committed: the chain would refuse or drop them");
        }
    }

    /// Forgets the last failure (a submission passed every rule).
    pub(crate) fn clear(&self) {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
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

/// What the weight setter borrows from the service it works for.
pub(super) struct ServiceParts<'a> {
    /// The chain read and written.
    pub(super) chain: &'a dyn Chain,
    /// Subnet, clock and hotkey.
    pub(super) seat: &'a Seat,
    /// The recorded state (decisions, intent, submissions).
    pub(super) state: &'a ValidatorState,
    /// The loop's metrics.
    pub(super) metrics: &'a Metrics,
    /// Windows, version key and mechanism.
    pub(super) settings: &'a ServiceSettings,
    /// The validation API (exclusions), if configured.
    pub(super) api: Option<&'a dyn EvidenceApi>,
}

impl ServiceParts<'_> {
    /// Where the commits are made: the subnet, the mechanism and `hotkey`.
    fn target<'h>(&self, hotkey: &'h str) -> WatchTarget<'h> {
        WatchTarget { netuid: self.seat.netuid, mecid: self.settings.mecid, hotkey }
    }

    /// How long after its reveal block a commit may stay pending: one weight epoch.
    fn grace_blocks(&self) -> u64 {
        self.seat.clock.weight_epoch_blocks.max(1)
    }
}

/// The hotkeys the validation API excludes at `interval_id` (none without an API).
pub(super) async fn api_excluded(api: Option<&dyn EvidenceApi>, interval_id: u64) -> BTreeSet<String> {
    match api {
        Some(api) => api.excluded_hotkeys(interval_id).await,
        None => BTreeSet::new(),
    }
}

/// Sets the weights of each epoch: the retry backoff, the intent recorded before sending
/// (reconciled after a restart), the rule failures, and the reveals of the commits sent.
#[derive(Debug, Default)]
pub(crate) struct WeightSetter {
    backoff: Mutex<WeightBackoff>,
    /// Commits followed until their reveal.
    reveals: RevealWatchdog,
    /// Whether the last submission was seeded into the watchdog after a start.
    reveals_seeded: AtomicBool,
    /// Weight rules that failed, each logged once until it changes.
    rule_failures: RuleFailures,
}

impl WeightSetter {
    /// The commits the reveal watchdog follows.
    pub(crate) fn watched(&self) -> Vec<Watched> {
        self.reveals.watched()
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, WeightBackoff> {
        self.backoff.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets weights when `block` is in an epoch without a successful submission and the
    /// backoff (or the chain's rate limit) allows a try; first follows up earlier commits.
    pub(super) async fn maybe_set(
        &self,
        parts: &ServiceParts<'_>,
        block: u64,
        last: Option<&IntervalContext>,
    ) -> Result<Option<WeightSubmission>, StateError> {
        self.check_reveals(parts, block).await?;
        let epoch = parts.seat.clock.weight_epoch(Block::new(block));
        if parts.state.last_weight_epoch()?.is_some_and(|done| done >= epoch) {
            return Ok(None);
        }
        let now = Instant::now();
        if !self.lock_backoff().ready(epoch, now) || !self.lock_backoff().ready_at_block(epoch, Block::new(block)) {
            return Ok(None);
        }
        let result = match self.reconcile_intent(parts, epoch).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) => self.submit(parts, epoch, block, last).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(submission) => {
                parts.state.record_weights(&submission)?;
                parts.metrics.weight_submission(Submission::Ok);
                parts.metrics.last_weight_submission.set(submission.submitted_at.timestamp());
                Ok(Some(submission))
            }
            Err(e) => {
                parts.metrics.weight_submission(Submission::Error);
                self.failed(parts, epoch, Block::new(block), now, &e);
                Ok(None)
            }
        }
    }

    /// Logs a failed submission once and schedules the next try: at the block the rate
    /// limit allows, at the next epoch without a permit, else after the backoff delay.
    fn failed(&self, parts: &ServiceParts<'_>, epoch: Epoch, block: Block, now: Instant, e: &WeightError) {
        if let WeightError::Chain(chain_error) = e {
            self.rule_failures.count(chain_error, parts.metrics);
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
                backoff.wait_for_block(epoch, Block::new(*next_block));
                warn!(epoch = epoch.get(), error = %e, retry_at_block = next_block, "weights wait for the chain's rate limit");
            }
            WeightError::Chain(ChainError::NoValidatorPermit { .. } | ChainError::NotRegistered { .. }) => {
                let next_epoch = parts.seat.clock.epoch_start(Epoch::new(epoch.get() + 1));
                backoff.wait_for_block(epoch, next_epoch.max(Block::new(block.get() + 1)));
                error!(epoch = epoch.get(), error = %e, "weights not set this epoch");
            }
            _ => {
                let delay = backoff.failed(epoch, now);
                error!(epoch = epoch.get(), error = %e, retry_in_sec = delay.as_secs(), "setting weights failed");
            }
        }
    }

    /// Follows earlier commits (after a start, the last recorded one too) at `block`.
    pub(super) async fn check_reveals(&self, parts: &ServiceParts<'_>, block: u64) -> Result<(), StateError> {
        if !self.reveals_seeded.swap(true, Ordering::Relaxed)
            && let Some(last) = parts.state.last_weights()?
            && let Some(w) = Watched::of(&last, parts.grace_blocks())
            && block < w.reveal_block + w.grace_blocks
        {
            self.reveals.watch(w);
        }
        let hotkey = parts.seat.hotkey.ss58();
        self.reveals.check(parts.chain, parts.target(&hotkey), block, parts.metrics).await;
        Ok(())
    }

    /// A recorded intent for `epoch` whose result was never recorded (the process stopped
    /// between sending and recording): the submission, when the chain shows it landed.
    async fn reconcile_intent(
        &self,
        parts: &ServiceParts<'_>,
        epoch: Epoch,
    ) -> Result<Option<WeightSubmission>, WeightError> {
        let Some(intent) = parts.state.weights_intent()?.filter(|i| i.epoch == epoch) else { return Ok(None) };
        let (netuid, hotkey) = (parts.seat.netuid, parts.seat.hotkey.ss58());
        let rules = parts.chain.mechanism_weight_rules(netuid, parts.settings.mecid, &hotkey).await?;
        if intent_landed(parts.chain, parts.target(&hotkey), &intent, &rules).await? {
            warn!(
                epoch = epoch.get(),
                block = intent.block,
                "weights sent before a restart reached the chain; not sending them again"
            );
            if let Some(w) = Watched::of(&intent, parts.grace_blocks()) {
                self.reveals.watch(w);
            }
            return Ok(Some(intent));
        }
        info!(
            epoch = epoch.get(),
            "weights recorded as intended before a restart never reached the chain; sending them now"
        );
        Ok(None)
    }

    /// Scores the epoch and sends its weights. The API's exclusions are those of the
    /// latest closed interval: taken from `last` when this poll evaluated it, else asked.
    async fn submit(
        &self,
        parts: &ServiceParts<'_>,
        epoch: Epoch,
        block: u64,
        last: Option<&IntervalContext>,
    ) -> Result<WeightSubmission, WeightError> {
        let (s, seat) = (parts.settings, parts.seat);
        let epoch_start = seat.clock.epoch_start(epoch).get();
        let window = s.windows.score_blocks.max(s.windows.rejection_blocks);
        let decisions: Vec<_> = parts
            .state
            .decisions_between(IntervalId::new(epoch_start.saturating_sub(window))..IntervalId::new(epoch_start))?
            .iter()
            .map(|d| d.scored())
            .collect();
        let current = seat.clock.latest_closed(Block::new(block)).map_or(0, IntervalId::get);
        let excluded = match last.filter(|ctx| ctx.interval_id.get() == current) {
            Some(ctx) => ctx.api_excluded.clone(),
            None => api_excluded(parts.api, current).await,
        };
        let scores = epoch_scores(&decisions, epoch_start, s.windows, &excluded);
        let metagraph = parts.chain.metagraph(seat.netuid).await?;
        let weights = to_uid_weights(&scores, &metagraph);
        if !weights.unknown.is_empty() {
            warn!(hotkeys = ?weights.unknown, "scored hotkeys are no longer in the metagraph; their weight is dropped");
        }
        let hotkey = seat.hotkey.ss58();
        let rules = parts.chain.mechanism_weight_rules(seat.netuid, s.mecid, &hotkey).await?;
        let call = conformed_call(seat.netuid, s.version_key.key(rules.version_key), &weights, &rules)?;
        weight_rules::check(&rules, &hotkey, &call, s.version_key)?;
        self.rule_failures.clear();
        let options = PlanOptions { version_key: s.version_key, ..PlanOptions::default() };
        let plan = weight_rules::plan(&rules, seat.hotkey.public(), &call, options)?;
        info!(
            epoch = epoch.get(),
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
        parts.state.record_weights_intent(&submission)?;
        weight_rules::submit(parts.chain, &seat.hotkey, &plan).await?;
        if plan.mode == WeightsMode::CommitReveal {
            parts.metrics.weights_committed.inc();
            if let Some(w) = Watched::of(&submission, parts.grace_blocks()) {
                self.reveals.watch(w);
            }
        }
        Ok(submission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets_per_epoch() {
        let mut b = WeightBackoff::default();
        let t0 = Instant::now();
        assert!(b.ready(Epoch::new(7), t0));
        let delays: Vec<u64> = (0..7).map(|_| b.failed(Epoch::new(7), t0).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert!(!b.ready(Epoch::new(7), t0 + Duration::from_secs(299)));
        assert!(b.ready(Epoch::new(7), t0 + Duration::from_secs(300)));
        // A new epoch may be tried at once and starts again at 10 s.
        assert!(b.ready(Epoch::new(8), t0));
        assert_eq!(b.failed(Epoch::new(8), t0), Duration::from_secs(10));
    }
}
