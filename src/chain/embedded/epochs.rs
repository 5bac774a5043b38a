//! The embedded chain's epochs, run the way subtensor 2026 runs them: one stateful schedule per
//! subnet ([`EpochSchedule`], stepped block by block with [`schedule::step`]), owner-triggered
//! epochs (`PendingEpochAt`), a tempo change that restarts the count from the block it is made
//! at, and a per-block cap on how many subnets' epochs may run (`epochs_per_block`; the rest are
//! deferred to a later block). Each block first reveals — a commit only inside its reveal
//! epoch (`commit epoch + RevealPeriodEpochs`, the look-ahead epoch of the block) and only once
//! its drand round is out; one whose reveal epoch passed is dropped — then steps the schedule.

use super::{EmbeddedChain, State, Subnet, reveal};
use crate::chain::NetUid;
use crate::chain::commit_reveal::{Beacon, BeaconSecret};
use crate::chain::schedule::{self, EpochSchedule};

/// Most blocks one catch-up replays; a chain left idle longer jumps ahead (its epochs resume
/// from the present).
const MAX_CATCH_UP_BLOCKS: u64 = 1_000_000;

/// A fresh schedule for a subnet first seen at `block`.
pub(super) fn fresh(subnet: &Subnet, block: u64) -> EpochSchedule {
    EpochSchedule {
        tempo: subnet.params.tempo,
        reveal_period_epochs: subnet.params.reveal_period_epochs,
        last_epoch_block: block,
        pending_epoch_at: 0,
        subnet_epoch_index: 0,
        blocks_since_last_step: 0,
        current_block: block,
    }
}

/// The subnet's schedule after block `block`, with its current tempo and reveal period.
pub(super) fn schedule_of(subnet: &Subnet, block: u64) -> EpochSchedule {
    let mut s = subnet.epochs.unwrap_or_else(|| fresh(subnet, block));
    s.tempo = subnet.params.tempo;
    s.reveal_period_epochs = subnet.params.reveal_period_epochs;
    s
}

/// The epoch a commit sent at the current block belongs to: it lands in the next block.
pub(super) fn commit_epoch(subnet: &Subnet, block: u64) -> u64 {
    let s = schedule_of(subnet, block);
    schedule::epoch_at(&s, s.current_block.saturating_add(1)).unwrap_or(s.subnet_epoch_index)
}

impl EmbeddedChain {
    /// Runs every block up to the current one: reveals, then epochs.
    pub(super) fn run_blocks(&self, state: &mut State) {
        let now = self.block_of(state);
        let Some(secret) = state.beacon() else { return };
        let beacon = self.beacon_of(state);
        let cap = state.epochs_per_block;
        let mut from = now;
        for subnet in state.subnets.values_mut() {
            let mut s = schedule_of(subnet, now);
            if now.saturating_sub(s.current_block) > MAX_CATCH_UP_BLOCKS {
                s.current_block = now - MAX_CATCH_UP_BLOCKS;
            }
            from = from.min(s.current_block.saturating_add(1));
            subnet.epochs = Some(s);
        }
        for block in from..=now {
            let mut fired = 0u32;
            for (&netuid, subnet) in &mut state.subnets {
                let Some(s) = subnet.epochs.filter(|s| s.current_block < block) else { continue };
                let s = EpochSchedule {
                    tempo: subnet.params.tempo,
                    reveal_period_epochs: subnet.params.reveal_period_epochs,
                    ..s
                };
                self.reveal_at(subnet, netuid, block, &s, &secret, &beacon);
                let deferred = cap.is_some_and(|c| fired >= c);
                subnet.epochs = Some(next_state(&s, block, deferred, &mut fired));
            }
        }
    }

    /// The reveals of one block: every pending commit whose reveal epoch is the block's
    /// look-ahead epoch and whose round is out; those past their reveal epoch are dropped.
    fn reveal_at(
        &self,
        subnet: &mut Subnet,
        netuid: NetUid,
        block: u64,
        s: &EpochSchedule,
        secret: &BeaconSecret,
        beacon: &Beacon,
    ) {
        let epoch = schedule::epoch_at(s, block).unwrap_or(s.subnet_epoch_index);
        let period = s.reveal_period_epochs;
        let target = |c: &super::StoredTimelock| c.commit_epoch.saturating_add(period);
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut subnet.pending)
            .into_iter()
            .partition(|c| epoch > target(c) || (epoch == target(c) && block >= c.reveal_round));
        subnet.pending = waiting;
        for c in due {
            if epoch > target(&c) {
                tracing::debug!(netuid, hotkey = %c.hotkey, round = c.reveal_round, block, "commit dropped: its reveal epoch passed before its round was out");
                continue;
            }
            let at = super::RulesAt { block, block_ms: self.block_ms, beacon };
            match reveal(subnet, netuid, &c, &secret.sign_round(c.reveal_round), &at) {
                Ok(weights) => {
                    tracing::debug!(netuid, hotkey = %c.hotkey, round = c.reveal_round, block, "timelocked weights revealed");
                    let key = super::last_update_key(&c.hotkey, c.mecid);
                    subnet.weights.insert(key.clone(), weights);
                    // As runtimes up to spec 393 do: the revealed weights count as activity.
                    subnet.last_update.insert(key, block);
                    // The record subtensor keeps as a `TimelockedWeightsRevealed` event.
                    subnet.reveals.push(super::StoredReveal { hotkey: c.hotkey.clone(), mecid: c.mecid, block });
                    let excess = subnet.reveals.len().saturating_sub(super::MAX_REVEAL_RECORDS);
                    subnet.reveals.drain(..excess);
                }
                Err(reason) => {
                    tracing::debug!(netuid, hotkey = %c.hotkey, round = c.reveal_round, %reason, "timelocked commit dropped at reveal");
                }
            }
        }
    }
}

/// The schedule after `block`: stepped, or — when this block's epoch cap is reached — with
/// its epoch deferred (only the block counter moves, so it fires on a later block).
fn next_state(s: &EpochSchedule, block: u64, deferred: bool, fired: &mut u32) -> EpochSchedule {
    let stepped = schedule::step(s, block).unwrap_or(EpochSchedule { current_block: block, ..*s });
    if stepped.subnet_epoch_index == s.subnet_epoch_index {
        return stepped;
    }
    if deferred {
        let cap = u64::from(s.tempo).saturating_add(1);
        return EpochSchedule {
            blocks_since_last_step: s.blocks_since_last_step.saturating_add(1).min(cap),
            current_block: block,
            ..*s
        };
    }
    *fired += 1;
    stepped
}
