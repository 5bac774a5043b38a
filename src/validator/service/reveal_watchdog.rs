//! The validator's weight submissions after they leave: the reveal watchdog (the chain drops a
//! bad timelocked commit silently, so the validator checks that each commit left
//! `TimelockedWeightCommits` and that the chain recorded its reveal — the weights read back
//! cannot tell, since a dropped commit whose weights equal the previous epoch's leaves those
//! in place), and the restart check of a submission whose result was never recorded
//! ([`intent_landed`]).

use std::sync::Mutex;

use tracing::{error, info};

use super::metrics::Metrics;
use super::state::WeightSubmission;
use crate::chain::{Chain, ChainError, NetUid, PendingCommit, Uid, WeightRules};
use crate::protocol::{Block, Epoch};

/// A commit the watchdog follows until it is revealed or given up.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    /// The weight epoch of the commit.
    pub epoch: Epoch,
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
    pub(crate) fn of(submission: &WeightSubmission, grace_blocks: u64) -> Option<Self> {
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
pub(crate) enum RevealOutcome {
    /// Not yet due, or due and still within the grace period.
    Waiting,
    /// The chain recorded the reveal of this commit (and applied its weights) at this block.
    Revealed(u64),
    /// The chain dropped it or never revealed it; the reason it can tell.
    Missing(String),
}

/// Judges a commit at `block` from what the chain shows: whether it still holds the commit
/// unrevealed, and the block at which it recorded the reveal of this commit, if it did.
///
/// Only the chain's record of the reveal counts. The weights on chain prove nothing: when
/// the dropped weights equal the previous epoch's, the chain still holds those.
pub(crate) fn judge(w: &Watched, block: u64, still_pending: bool, revealed_at: Option<u64>) -> RevealOutcome {
    if block < w.reveal_block {
        return RevealOutcome::Waiting;
    }
    if still_pending {
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
    match revealed_at {
        Some(at) => RevealOutcome::Revealed(at),
        None => RevealOutcome::Missing(
            "the commit left TimelockedWeightCommits but the chain recorded no reveal of it: it was dropped at \
             reveal (undecryptable payload, hotkey not the signer, version key below WeightsVersionKey, a weight \
             rule such as StakeThreshold or MinAllowedWeights broken by then, or uids no longer valid) or its reveal \
             epoch passed before its drand round was out"
                .into(),
        ),
    }
}

/// Whether `pending` holds the commit `w` follows: the same drand round, made at or after the
/// block it was sent at (a later epoch's commit has another round).
fn is_pending(w: &Watched, pending: &[PendingCommit]) -> bool {
    pending.iter().any(|c| c.reveal_round == w.reveal_round && c.commit_block >= w.commit_block)
}

/// Where the watched commits were made: the subnet, the mechanism and the hotkey.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchTarget<'a> {
    /// The subnet.
    pub(crate) netuid: NetUid,
    /// The mechanism weighted.
    pub(crate) mecid: u8,
    /// The committing hotkey (SS58).
    pub(crate) hotkey: &'a str,
}

/// A commit being followed and the last block at which the chain was seen still holding it
/// (its reveal, if any, ran after that block).
#[derive(Debug, Clone)]
struct Followed {
    watched: Watched,
    pending_at: u64,
    /// Whether this process saw the chain hold the commit unrevealed.
    seen_pending: bool,
}

impl Followed {
    /// The first block the chain may have revealed the commit at: after the last block it
    /// was seen pending. A commit this process never saw pending (followed from the record
    /// after a restart) is given no reveal before its reveal epoch (the reveal block minus
    /// the margin), so that the previous epoch's reveal, which may land after this commit
    /// was made, is not taken for its own.
    fn first_reveal_block(&self) -> u64 {
        let after = self.pending_at.saturating_add(1);
        if self.seen_pending {
            after
        } else {
            after.max(self.watched.reveal_block.saturating_sub(REVEAL_MARGIN_BLOCKS))
        }
    }
}

/// The commits being followed.
#[derive(Debug, Default)]
pub(crate) struct RevealWatchdog {
    watched: Mutex<Vec<Followed>>,
}

impl RevealWatchdog {
    /// Starts following a commit (once: a commit already followed is not added again).
    pub(crate) fn watch(&self, w: Watched) {
        let mut followed = self.lock();
        if !followed.iter().any(|f| f.watched == w) {
            followed.push(Followed { pending_at: w.commit_block, seen_pending: false, watched: w });
        }
    }

    /// The commits being followed.
    pub(crate) fn watched(&self) -> Vec<Watched> {
        self.lock().iter().map(|f| f.watched.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Followed>> {
        self.watched.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks every due commit at `block` (read before this call), logs and counts the
    /// outcome, and stops following the settled ones. Chain trouble leaves everything for the
    /// next poll.
    pub(crate) async fn check(&self, chain: &dyn Chain, target: WatchTarget<'_>, block: u64, metrics: &Metrics) {
        if self.lock().is_empty() {
            return;
        }
        let pending = match chain.pending_commits(target.netuid, target.hotkey).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the weight reveals; retrying next poll");
                return;
            }
        };
        // Seen pending in a read made at `block` or later: any reveal comes after `block`.
        let (due, gone) = {
            let mut followed = self.lock();
            for f in followed.iter_mut().filter(|f| is_pending(&f.watched, &pending)) {
                f.pending_at = f.pending_at.max(block);
                f.seen_pending = true;
            }
            let due: Vec<Followed> = followed.iter().filter(|f| block >= f.watched.reveal_block).cloned().collect();
            let gone: Vec<Followed> = due.iter().filter(|f| !is_pending(&f.watched, &pending)).cloned().collect();
            (due, gone)
        };
        if due.is_empty() {
            return;
        }
        let revealed = match self.reveal_blocks(chain, target, &gone).await {
            Ok(r) => r,
            Err(e) => {
                self.give_up_unreadable(&gone, block, &e);
                return;
            }
        };
        for f in due {
            let w = &f.watched;
            let at = revealed.iter().find(|(epoch, round, _)| (*epoch, *round) == (w.epoch, w.reveal_round));
            match judge(w, block, is_pending(w, &pending), at.map(|(_, _, b)| *b)) {
                RevealOutcome::Waiting => continue,
                RevealOutcome::Revealed(at) => {
                    metrics.weights_revealed.inc();
                    info!(
                        epoch = w.epoch.get(),
                        reveal_round = w.reveal_round,
                        revealed_at = at,
                        block,
                        "committed weights revealed on chain"
                    );
                }
                RevealOutcome::Missing(reason) => {
                    metrics.weights_reveal_missing.inc();
                    error!(epoch = w.epoch.get(), reveal_round = w.reveal_round, block, %reason, "committed weights did not reveal");
                }
            }
            self.lock().retain(|x| x.watched != *w);
        }
    }

    /// The reveal the chain recorded for each commit of `gone` (no longer held unrevealed),
    /// as (epoch, reveal round, reveal block): one read of the chain's reveal records from
    /// the earliest block a reveal may be at to now, each record given to one commit only,
    /// oldest commit first.
    async fn reveal_blocks(
        &self,
        chain: &dyn Chain,
        target: WatchTarget<'_>,
        gone: &[Followed],
    ) -> Result<Vec<(Epoch, u64, u64)>, ChainError> {
        let Some(from) = gone.iter().map(Followed::first_reveal_block).min() else { return Ok(Vec::new()) };
        // Read after the pending commits: every reveal they miss is at or before it.
        let now = chain.current_block().await?;
        let mut records = chain
            .weight_reveals(target.netuid, target.mecid, target.hotkey, Block::new(from)..=Block::new(now))
            .await?;
        let mut gone: Vec<&Followed> = gone.iter().collect();
        gone.sort_by_key(|f| f.watched.commit_block);
        let mut out = Vec::new();
        for f in gone {
            if let Some(i) = records.iter().position(|b| *b >= f.first_reveal_block()) {
                out.push((f.watched.epoch, f.watched.reveal_round, records.remove(i)));
            }
        }
        Ok(out)
    }

    /// After a failed read of the reveal records: retried next poll, except for commits a
    /// whole grace period overdue, which are no longer followed (the node may have pruned
    /// the blocks that would tell).
    fn give_up_unreadable(&self, gone: &[Followed], block: u64, e: &ChainError) {
        tracing::warn!(error = %e, "cannot read the chain's weight reveal records; retrying next poll");
        for f in gone {
            let w = &f.watched;
            if block >= w.reveal_block.saturating_add(w.grace_blocks) {
                error!(epoch = w.epoch.get(), reveal_round = w.reveal_round, block, error = %e, "cannot tell whether the committed weights revealed; no longer following them");
                self.lock().retain(|x| x.watched != *w);
            }
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
/// commit's own reveal epoch has come — the chain recorded a reveal of the hotkey's weights
/// from that epoch on, with a `LastUpdate` from the intent on. `LastUpdate` alone is not
/// proof for a commit: the reveal of the *previous* epoch's commit can land after the intent
/// was recorded (runtimes that set `LastUpdate` at reveal), and it says nothing about the new
/// commit. Weights on chain equal to the intended ones prove nothing either (an epoch may set
/// the same weights as the last, and a dropped commit leaves the last ones in place).
pub(crate) async fn intent_landed(
    chain: &dyn Chain,
    target: WatchTarget<'_>,
    intent: &WeightSubmission,
    rules: &WeightRules,
) -> Result<bool, ChainError> {
    let moved = rules.last_update.is_some_and(|last| last >= intent.block && last > 0);
    let Some(reveal_block) = intent.reveal_block.filter(|_| intent.reveal_round.is_some()) else {
        return Ok(moved);
    };
    let (netuid, hotkey) = (target.netuid, target.hotkey);
    if chain.pending_commits(netuid, hotkey).await?.iter().any(|c| c.commit_block >= intent.block) {
        return Ok(true);
    }
    let earliest = reveal_block.saturating_sub(REVEAL_MARGIN_BLOCKS).max(intent.block.saturating_add(1));
    if !moved || rules.block < earliest {
        return Ok(false);
    }
    Ok(!chain
        .weight_reveals(netuid, target.mecid, hotkey, Block::new(earliest)..=Block::new(rules.block))
        .await?
        .is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched() -> Watched {
        Watched {
            epoch: Epoch::new(1),
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
        assert_eq!(judge(&w, 119, true, None), RevealOutcome::Waiting);
        assert_eq!(judge(&w, 125, true, None), RevealOutcome::Waiting);
        assert!(matches!(judge(&w, 131, true, None), RevealOutcome::Missing(r) if r.contains("still unrevealed")));
        assert_eq!(judge(&w, 121, false, Some(118)), RevealOutcome::Revealed(118));
        assert!(matches!(judge(&w, 121, false, None), RevealOutcome::Missing(r) if r.contains("recorded no reveal")));
        // Not due yet: nothing is concluded, whatever the chain shows.
        assert_eq!(judge(&w, 119, false, None), RevealOutcome::Waiting);
    }

    #[test]
    fn a_commit_never_seen_pending_takes_no_reveal_before_its_reveal_epoch() {
        let seeded = Followed { watched: watched(), pending_at: 100, seen_pending: false };
        assert_eq!(seeded.first_reveal_block(), 117, "the reveal block 120 minus the margin");
        let seen = Followed { watched: watched(), pending_at: 110, seen_pending: true };
        assert_eq!(seen.first_reveal_block(), 111, "right after it was last seen pending");
    }

    #[test]
    fn only_the_same_round_counts_as_the_followed_commit_pending() {
        let w = watched();
        let ours = PendingCommit { commit_block: 101, reveal_round: 120, commit_len: 300 };
        assert!(is_pending(&w, std::slice::from_ref(&ours)));
        // An older commit, or a later epoch's commit (another round), is not this one.
        let older = PendingCommit { commit_block: 90, reveal_round: 120, commit_len: 300 };
        let later = PendingCommit { commit_block: 130, reveal_round: 150, commit_len: 300 };
        assert!(!is_pending(&w, &[older, later]));
    }
}
