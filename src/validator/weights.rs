//! The validator's weight submissions after they leave: the reveal watchdog (the chain drops a
//! bad timelocked commit silently, so the validator checks that each commit left
//! `TimelockedWeightCommits` and that the weights read back equal what it committed), the
//! restart reconciliation of a submission whose result was never recorded, and the log and
//! count of the weight rules that held a submission back ([`RuleFailures`]).

use std::sync::Mutex;
use std::time::Duration;

use tracing::{debug, error, info};

use super::metrics::{Metrics, RuleLabel};
use super::state::WeightSubmission;
use crate::chain::weight_rules::{Rule, WeightRuleError};
use crate::chain::{Chain, ChainError, NetUid, PendingCommit, Uid, WeightRules};

/// The weight rules that held submissions back: each counted every time, logged once until
/// the verdict (the rule or its value) changes or a submission passes.
#[derive(Debug, Default)]
pub struct RuleFailures {
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
    pub fn count(&self, error: &ChainError, metrics: &Metrics) {
        if let Some(rule) = rule_of(error) {
            metrics.weight_rule_failures.get_or_create(&RuleLabel { rule: rule.name().to_string() }).inc();
        }
    }

    /// Logs a failed rule with its value and fix, once per verdict; an outdated release
    /// (`IncorrectWeightVersionKey`) is logged as an ALERT.
    pub fn log_once(&self, epoch: u64, failure: &WeightRuleError, retry_in: Duration) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.as_ref() == Some(failure) {
            debug!(epoch, rule = %failure.rule, retry_in_sec = retry_in.as_secs(), "weights still held back");
            return;
        }
        *last = Some(failure.clone());
        let (rule, value, fix) = (failure.rule.name(), &failure.value, &failure.fix);
        if failure.rule == Rule::IncorrectWeightVersionKey {
            error!(epoch, rule, %value, %fix, "ALERT: this release is outdated for the subnet; weights not committed");
        } else {
            error!(epoch, rule, %value, %fix, "weights not committed: the chain would refuse or drop them");
        }
    }

    /// Forgets the last failure (a submission passed every rule).
    pub fn clear(&self) {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// A commit the watchdog follows until it is revealed or given up.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    /// The weight epoch of the commit.
    pub epoch: u64,
    /// The block the commit was sent at (it lands at or after it).
    pub commit_block: u64,
    /// The drand round the commit is encrypted for.
    pub reveal_round: u64,
    /// The block from which the chain should have revealed it.
    pub reveal_block: u64,
    /// Blocks after `reveal_block` before a still-pending commit counts as missing.
    pub grace_blocks: u64,
    /// The uids committed.
    pub uids: Vec<Uid>,
    /// The weights committed, per uid.
    pub weights: Vec<u16>,
}

impl Watched {
    /// The watch of a commit-reveal submission; `None` for plain weights.
    pub fn of(submission: &WeightSubmission, grace_blocks: u64) -> Option<Self> {
        Some(Self {
            epoch: submission.epoch,
            commit_block: submission.block,
            reveal_round: submission.reveal_round?,
            reveal_block: submission.reveal_block?,
            grace_blocks,
            uids: submission.uids.clone(),
            weights: submission.weights.clone(),
        })
    }
}

/// What the watchdog concluded about one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevealOutcome {
    /// Not yet due, or due and still within the grace period.
    Waiting,
    /// The chain revealed it and holds exactly the committed weights.
    Revealed,
    /// The chain dropped it or never revealed it; the reason it can tell.
    Missing(String),
}

/// Judges a commit at `block` from what the chain shows: whether it is still pending and the
/// weights it now holds for the validator.
pub fn judge(w: &Watched, block: u64, pending: &[PendingCommit], on_chain: &[(Uid, u16)]) -> RevealOutcome {
    if block < w.reveal_block {
        return RevealOutcome::Waiting;
    }
    if pending.iter().any(|c| c.commit_block >= w.commit_block) {
        let overdue = block - w.reveal_block;
        return if overdue < w.grace_blocks {
            RevealOutcome::Waiting
        } else {
            RevealOutcome::Missing(format!(
                "still unrevealed {overdue} blocks after its reveal block {} (no beacon pulse for round {} on chain?)",
                w.reveal_block, w.reveal_round
            ))
        };
    }
    if same_weights(on_chain, &w.uids, &w.weights) {
        RevealOutcome::Revealed
    } else {
        RevealOutcome::Missing(
            "the commit left TimelockedWeightCommits but the chain's weights are not the committed ones: it was \
             dropped at reveal (undecryptable payload, hotkey not the signer, version key below WeightsVersionKey, \
             or uids no longer valid)"
                .into(),
        )
    }
}

/// Whether the chain's (uid, weight) pairs are the given ones, order aside.
pub fn same_weights(on_chain: &[(Uid, u16)], uids: &[Uid], weights: &[u16]) -> bool {
    let mut have: Vec<(Uid, u16)> = on_chain.iter().copied().filter(|(_, w)| *w > 0).collect();
    let mut want: Vec<(Uid, u16)> = uids.iter().copied().zip(weights.iter().copied()).filter(|(_, w)| *w > 0).collect();
    have.sort_unstable();
    want.sort_unstable();
    have == want
}

/// The commits being followed.
#[derive(Debug, Default)]
pub struct RevealWatchdog {
    watched: Mutex<Vec<Watched>>,
}

impl RevealWatchdog {
    /// Starts following a commit.
    pub fn watch(&self, w: Watched) {
        self.lock().push(w);
    }

    /// The commits being followed.
    pub fn watched(&self) -> Vec<Watched> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watched>> {
        self.watched.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks every due commit at `block`, logs and counts the outcome, and stops following
    /// the settled ones. Chain trouble leaves everything for the next poll.
    pub async fn check(&self, chain: &dyn Chain, netuid: NetUid, hotkey: &str, block: u64, metrics: &Metrics) {
        let due: Vec<Watched> = self.lock().iter().filter(|w| block >= w.reveal_block).cloned().collect();
        if due.is_empty() {
            return;
        }
        let read = async {
            Ok::<_, ChainError>((chain.pending_commits(netuid, hotkey).await?, chain.weights_of(netuid, hotkey).await?))
        };
        let (pending, on_chain) = match read.await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the weight reveals; retrying next poll");
                return;
            }
        };
        for w in due {
            let outcome = judge(&w, block, &pending, &on_chain);
            match &outcome {
                RevealOutcome::Waiting => continue,
                RevealOutcome::Revealed => {
                    metrics.weights_revealed.inc();
                    info!(epoch = w.epoch, reveal_round = w.reveal_round, block, "committed weights revealed on chain");
                }
                RevealOutcome::Missing(reason) => {
                    metrics.weights_reveal_missing.inc();
                    error!(epoch = w.epoch, reveal_round = w.reveal_round, block, %reason, "committed weights did not reveal");
                }
            }
            self.lock().retain(|x| x != &w);
        }
    }
}

/// Blocks before a commit's recorded reveal block at which the chain may already reveal it
/// (the SDK's margin on the first block of the reveal epoch).
const REVEAL_MARGIN_BLOCKS: u64 = 3;

/// Whether a submission recorded as intended (but not as done) reached the chain.
///
/// Plain weights: the hotkey's `LastUpdate` moved to the intent's block or later. A
/// timelocked commit: a commit made at or after the intent's block is pending, or — once the
/// commit's own reveal epoch has come — the chain holds exactly the intended weights with a
/// `LastUpdate` from the intent on. `LastUpdate` alone is not proof for a commit: the reveal of
/// the *previous* epoch's commit can land after the intent was recorded (runtimes that set
/// `LastUpdate` at reveal), and it says nothing about the new commit. Equal weights alone prove
/// nothing either (an epoch may set the same weights as the last).
pub async fn intent_landed(
    chain: &dyn Chain,
    netuid: NetUid,
    hotkey: &str,
    intent: &WeightSubmission,
    rules: &WeightRules,
) -> Result<bool, ChainError> {
    let moved = rules.last_update.is_some_and(|last| last >= intent.block && last > 0);
    let Some(reveal_block) = intent.reveal_block.filter(|_| intent.reveal_round.is_some()) else {
        return Ok(moved);
    };
    if chain.pending_commits(netuid, hotkey).await?.iter().any(|c| c.commit_block >= intent.block) {
        return Ok(true);
    }
    if !moved || rules.block < reveal_block.saturating_sub(REVEAL_MARGIN_BLOCKS) {
        return Ok(false);
    }
    Ok(same_weights(&chain.weights_of(netuid, hotkey).await?, &intent.uids, &intent.weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched() -> Watched {
        Watched {
            epoch: 1,
            commit_block: 100,
            reveal_round: 120,
            reveal_block: 120,
            grace_blocks: 11,
            uids: vec![1, 2],
            weights: vec![65535, 100],
        }
    }

    #[test]
    fn the_watchdog_waits_then_sees_revealed_or_missing() {
        let w = watched();
        let pending = [PendingCommit { commit_block: 100, reveal_round: 120, commit_len: 300 }];
        assert_eq!(judge(&w, 119, &pending, &[]), RevealOutcome::Waiting);
        assert_eq!(judge(&w, 125, &pending, &[]), RevealOutcome::Waiting);
        assert!(matches!(judge(&w, 131, &pending, &[]), RevealOutcome::Missing(r) if r.contains("still unrevealed")));
        assert_eq!(judge(&w, 121, &[], &[(2, 100), (1, 65535)]), RevealOutcome::Revealed);
        assert!(
            matches!(judge(&w, 121, &[], &[(1, 65535)]), RevealOutcome::Missing(r) if r.contains("dropped at reveal"))
        );
        // An older commit still pending does not count as ours.
        let older = [PendingCommit { commit_block: 90, reveal_round: 110, commit_len: 300 }];
        assert_eq!(judge(&w, 121, &older, &[(1, 65535), (2, 100)]), RevealOutcome::Revealed);
    }
}
