//! The validator's weight submissions after they leave: the reveal watchdog (the chain drops a
//! bad timelocked commit silently, so the validator checks that each commit left
//! `TimelockedWeightCommits` and that the weights read back equal what it committed), and the
//! restart reconciliation of a submission whose result was never recorded.

use std::sync::Mutex;

use tracing::{error, info};

use super::metrics::Metrics;
use super::state::WeightSubmission;
use crate::chain::{Chain, ChainError, NetUid, PendingCommit, Uid, WeightRules};

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

/// Whether a submission recorded as intended (but not as done) reached the chain: the
/// hotkey's `LastUpdate` (set by weights, commits and reveals) moved to the intent's block or
/// later, or a commit from then is pending. Equal weights prove nothing (an epoch may set the
/// same weights as the last), so they are not consulted.
pub async fn intent_landed(
    chain: &dyn Chain,
    netuid: NetUid,
    hotkey: &str,
    intent: &WeightSubmission,
    rules: &WeightRules,
) -> Result<bool, ChainError> {
    if rules.last_update.is_some_and(|last| last >= intent.block && last > 0) {
        return Ok(true);
    }
    Ok(intent.reveal_round.is_some()
        && chain.pending_commits(netuid, hotkey).await?.iter().any(|c| c.commit_block >= intent.block))
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
