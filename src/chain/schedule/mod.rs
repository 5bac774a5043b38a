//! The reveal block and drand round of a timelocked weights commit, from the chain's
//! stateful epoch schedule (subtensor 2026), and the older modulo formula for runtimes
//! without it.
//!
//! Subtensor keeps one epoch counter per subnet (`SubnetEpochIndex`) and fires an epoch at a
//! block when the subnet's tempo is non-zero and one of these holds (`should_run_epoch`):
//! an owner-triggered epoch is due (`PendingEpochAt > 0` and reached), the subnet missed its
//! slot (`BlocksSinceLastStep > Tempo`, the safety net after a deferral), or `Tempo` blocks
//! have passed since `LastEpochBlock`. Each block first reveals (`reveal_crv3_commits`, which
//! sees the counter *plus one* when an epoch fires this block) and then runs the coinbase,
//! which advances the counter, sets `LastEpochBlock`, clears `PendingEpochAt` and resets
//! `BlocksSinceLastStep`. A commit made in epoch `e` is revealed at the first block whose
//! look-ahead epoch is `e + RevealPeriodEpochs`, and only then: once that epoch has passed
//! the chain drops it. A tempo change (which resets `LastEpochBlock`), an owner-triggered
//! epoch or a deferral moves every later epoch, so no closed formula stays right.
//!
//! [`reveal_block`] replays that pipeline block by block from the values read at one block
//! (the same algorithm as `bittensor-core 0.1.5 get_encrypted_commit_v2`; its 60 vectors are
//! in `tests/commit-reveal-v2-vectors.json`), and [`reveal_target`] turns the block into the
//! drand round to encrypt for: the round published `SECURITY_BLOCKS` blocks after the reveal
//! block, at the chain's block time. Where the SDK's simulation and the chain differ, this
//! follows the chain: the safety net fires at `BlocksSinceLastStep > Tempo` (bittensor-core
//! 0.1.5 uses 50 400, which only matters when the counter runs ahead of `LastEpochBlock`, as
//! after a tempo change, or for tempos above 50 400); the `_with` functions take
//! [`SafetyNet::MaxTempo`] to reproduce the SDK (`tests/commit-reveal-v2-extra.json`).
//!
//! Every value here comes from the chain, so all arithmetic is checked: a value that would
//! overflow, a zero tempo or block time, or a reveal period beyond the chain's own maximum is
//! a [`ScheduleError`], never a panic or a wrong block.

pub mod read;

use serde::{Deserialize, Serialize};

use super::commit_reveal::Beacon;
use crate::protocol::Block;

/// Blocks after the reveal block whose drand round the commit targets, so the chain has
/// already ingested the pulse when it reveals (the SDK's `SECURITY_BLOCK_OFFSET`).
pub const SECURITY_BLOCKS: u64 = 3;
/// The chain's largest `RevealPeriodEpochs` (`MAX_COMMIT_REVEAL_PEROIDS`).
pub const MAX_REVEAL_PERIOD_EPOCHS: u64 = 100;
/// Block time of fast-block chains (local and end-to-end test nodes), milliseconds.
pub const FAST_BLOCK_TIME_MS: u64 = 250;

/// The subnet's epoch schedule as the chain stores it, read at one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochSchedule {
    /// `Tempo[netuid]`: blocks between automatic epochs (0: the subnet runs no epochs).
    pub tempo: u16,
    /// `RevealPeriodEpochs[netuid]`: epochs between a commit and its reveal.
    pub reveal_period_epochs: u64,
    /// `LastEpochBlock[netuid]`: the block the last epoch fired at.
    pub last_epoch_block: u64,
    /// `PendingEpochAt[netuid]`: block of an owner-triggered epoch, 0 when none.
    pub pending_epoch_at: u64,
    /// `SubnetEpochIndex[netuid]`: the subnet's epoch counter.
    pub subnet_epoch_index: u64,
    /// `BlocksSinceLastStep[netuid]`: blocks since the last epoch ran.
    pub blocks_since_last_step: u64,
    /// The block these values were read at (the chain head the commit is built on).
    pub current_block: u64,
}

/// Where and when a commit is revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealTarget {
    /// The block at which the chain reveals the commit.
    pub reveal_block: u64,
    /// The drand round the commit is encrypted for.
    pub reveal_round: u64,
}

/// Why no reveal target can be computed from the chain's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `Tempo` is 0: the subnet runs no epochs, so a commit is never revealed.
    #[error("Tempo is 0 on this subnet: it runs no epochs, so a timelocked commit would never be revealed")]
    TempoIsZero,
    /// `RevealPeriodEpochs` is outside what the chain allows.
    #[error(
        "RevealPeriodEpochs is {0}; the chain allows 1..={MAX_REVEAL_PERIOD_EPOCHS}, so these values are not \
         a subnet's (wrong node or corrupt read)"
    )]
    RevealPeriodOutOfRange(u64),
    /// A chain value would overflow the arithmetic (named by what was being computed).
    #[error("the chain's schedule values overflow while computing {0}; refusing to guess a reveal block")]
    Overflow(&'static str),
    /// The replay found no reveal block within its bound.
    #[error("no reveal block within {0} blocks of the chain head; the schedule values are inconsistent")]
    NotFound(u64),
    /// A duration in seconds is not a finite, non-negative number of milliseconds.
    #[error("{0} is not a usable number of seconds")]
    BadSeconds(&'static str),
    /// The block time or the beacon period is zero.
    #[error("{0} is zero; cannot turn blocks into drand rounds")]
    ZeroDuration(&'static str),
}

/// Seconds (with a fraction, as JSON and the SDK carry block times and clocks) to whole
/// milliseconds, rounded; `what` names the value in the error.
pub fn seconds_to_ms(seconds: f64, what: &'static str) -> Result<u64, ScheduleError> {
    let ms = (seconds * 1000.0).round();
    // 2^64 as f64: anything at or above it does not fit.
    if !ms.is_finite() || !(0.0..18_446_744_073_709_551_616.0).contains(&ms) {
        return Err(ScheduleError::BadSeconds(what));
    }
    Ok(ms as u64)
}

/// The `BlocksSinceLastStep` safety net a replay applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SafetyNet {
    /// The chain's (subtensor 2026): an epoch fires when the counter exceeds `Tempo`; the
    /// counter is capped at `Tempo + 1`.
    #[default]
    Tempo,
    /// bittensor-core 0.1.5's simulation: it fires when the counter exceeds
    /// [`SDK_MAX_TEMPO`], and the counter is not capped. Differs from the chain only when the
    /// counter is larger than the blocks since `LastEpochBlock` (after a tempo change) or the
    /// tempo exceeds 50 400; kept to reproduce the SDK's rounds.
    MaxTempo,
}

/// bittensor-core 0.1.5's `MAX_TEMPO` safety net, blocks.
pub const SDK_MAX_TEMPO: u64 = 50_400;

/// Whether the subnet's epoch fires at `block`, given the state left by the previous block
/// (the chain's rule).
pub fn should_run_epoch(s: &EpochSchedule, block: u64) -> bool {
    should_run_epoch_with(s, block, SafetyNet::Tempo)
}

/// [`should_run_epoch`] under a chosen safety net.
pub fn should_run_epoch_with(s: &EpochSchedule, block: u64, net: SafetyNet) -> bool {
    if s.tempo == 0 {
        return false;
    }
    let tempo = u64::from(s.tempo);
    if s.pending_epoch_at > 0 && block >= s.pending_epoch_at {
        return true;
    }
    let limit = match net {
        SafetyNet::Tempo => tempo,
        SafetyNet::MaxTempo => SDK_MAX_TEMPO,
    };
    if s.blocks_since_last_step > limit {
        return true;
    }
    block.saturating_sub(s.last_epoch_block) >= tempo
}

/// The epoch a commit or reveal at `block` belongs to (`current_epoch_with_lookahead`): the
/// counter, plus one when the epoch fires at `block`.
pub fn epoch_at(s: &EpochSchedule, block: u64) -> Result<u64, ScheduleError> {
    epoch_at_with(s, block, SafetyNet::Tempo)
}

/// [`epoch_at`] under a chosen safety net.
pub fn epoch_at_with(s: &EpochSchedule, block: u64, net: SafetyNet) -> Result<u64, ScheduleError> {
    if should_run_epoch_with(s, block, net) {
        s.subnet_epoch_index.checked_add(1).ok_or(ScheduleError::Overflow("the epoch counter"))
    } else {
        Ok(s.subnet_epoch_index)
    }
}

/// The state after the coinbase of `block` (`BlocksSinceLastStep` counts up, capped at
/// `tempo + 1` as the chain caps it; a firing epoch advances the counter and the anchor).
pub fn step(s: &EpochSchedule, block: u64) -> Result<EpochSchedule, ScheduleError> {
    step_with(s, block, SafetyNet::Tempo)
}

/// [`step`] under a chosen safety net.
pub fn step_with(s: &EpochSchedule, block: u64, net: SafetyNet) -> Result<EpochSchedule, ScheduleError> {
    let mut next = *s;
    let counted = s.blocks_since_last_step.saturating_add(1);
    next.blocks_since_last_step = match net {
        SafetyNet::Tempo => counted.min(u64::from(s.tempo).saturating_add(1)),
        SafetyNet::MaxTempo => counted,
    };
    next.current_block = block;
    if should_run_epoch_with(&next, block, net) {
        next.subnet_epoch_index =
            s.subnet_epoch_index.checked_add(1).ok_or(ScheduleError::Overflow("the epoch counter"))?;
        next.last_epoch_block = block;
        next.pending_epoch_at = 0;
        next.blocks_since_last_step = 0;
    }
    Ok(next)
}

/// The block at which the chain reveals a commit built on `s` (included in the next block,
/// `current_block + 1`): the first block whose look-ahead epoch is the commit's epoch plus
/// `RevealPeriodEpochs`.
pub fn reveal_block(s: &EpochSchedule) -> Result<u64, ScheduleError> {
    reveal_block_with(s, SafetyNet::Tempo)
}

/// [`reveal_block`] under a chosen safety net.
pub fn reveal_block_with(s: &EpochSchedule, net: SafetyNet) -> Result<u64, ScheduleError> {
    if s.tempo == 0 {
        return Err(ScheduleError::TempoIsZero);
    }
    if !(1..=MAX_REVEAL_PERIOD_EPOCHS).contains(&s.reveal_period_epochs) {
        return Err(ScheduleError::RevealPeriodOutOfRange(s.reveal_period_epochs));
    }
    let inclusion = s.current_block.checked_add(1).ok_or(ScheduleError::Overflow("the inclusion block"))?;
    let target_epoch = epoch_at_with(s, inclusion, net)?
        .checked_add(s.reveal_period_epochs)
        .ok_or(ScheduleError::Overflow("the reveal epoch"))?;
    // An epoch fires at least every `tempo` blocks, so the reveal epoch starts within
    // (period + 1) * (tempo + 1) blocks; both factors are small (checked above).
    let bound = (s.reveal_period_epochs + 1) * (u64::from(s.tempo) + 1);
    let last = inclusion.checked_add(bound).ok_or(ScheduleError::Overflow("the replay bound"))?;
    let mut state = *s;
    for block in inclusion..=last {
        let epoch = epoch_at_with(&state, block, net)?;
        if epoch == target_epoch {
            return Ok(block);
        }
        if epoch > target_epoch {
            break;
        }
        state = step_with(&state, block, net)?;
    }
    Err(ScheduleError::NotFound(bound))
}

/// The drand round published `SECURITY_BLOCKS` blocks after `reveal_block`, at `block_time_ms`
/// per block from `now_ms` (the wall clock at `current_block`): `max(1, floor((now + blocks ×
/// block_time − genesis) / period))`, as the SDK computes it.
pub fn round_for_block(
    current_block: Block,
    reveal_block: Block,
    block_time_ms: u64,
    now_ms: u64,
    beacon: &Beacon,
) -> Result<u64, ScheduleError> {
    let (current_block, reveal_block) = (current_block.get(), reveal_block.get());
    if block_time_ms == 0 {
        return Err(ScheduleError::ZeroDuration("the block time"));
    }
    if beacon.period_ms == 0 {
        return Err(ScheduleError::ZeroDuration("the drand period"));
    }
    let ingest = reveal_block.checked_add(SECURITY_BLOCKS).ok_or(ScheduleError::Overflow("the ingest block"))?;
    let ahead_ms = ingest
        .saturating_sub(current_block)
        .checked_mul(block_time_ms)
        .ok_or(ScheduleError::Overflow("the time until the reveal"))?;
    let at_ms = now_ms.checked_add(ahead_ms).ok_or(ScheduleError::Overflow("the reveal time"))?;
    Ok((at_ms.saturating_sub(beacon.genesis_ms) / beacon.period_ms).max(1))
}

/// The reveal block and round of a commit built on `s` now (`now_ms`, Unix milliseconds),
/// with blocks of `block_time_ms`.
pub fn reveal_target(
    s: &EpochSchedule,
    block_time_ms: u64,
    now_ms: u64,
    beacon: &Beacon,
) -> Result<RevealTarget, ScheduleError> {
    reveal_target_with(s, block_time_ms, now_ms, beacon, SafetyNet::Tempo)
}

/// [`reveal_target`] under a chosen safety net.
pub fn reveal_target_with(
    s: &EpochSchedule,
    block_time_ms: u64,
    now_ms: u64,
    beacon: &Beacon,
    net: SafetyNet,
) -> Result<RevealTarget, ScheduleError> {
    let reveal_block = reveal_block_with(s, net)?;
    let reveal_round =
        round_for_block(Block::new(s.current_block), Block::new(reveal_block), block_time_ms, now_ms, beacon)?;
    Ok(RevealTarget { reveal_block, reveal_round })
}

/// The reveal target under the modulo formula of runtimes without the stateful schedule
/// (spec ≤ 393, `bittensor-drand generate_commit`): epoch `(block + netuid + 1) / (tempo + 1)`,
/// revealed from the first block of epoch `+ RevealPeriodEpochs` (the reveal block), encrypted
/// for the round published `SECURITY_BLOCKS` blocks later.
pub fn modulo_reveal_target(
    netuid: u16,
    tempo: u16,
    reveal_period_epochs: u64,
    current_block: u64,
    block_time_ms: u64,
    now_ms: u64,
    beacon: &Beacon,
) -> Result<RevealTarget, ScheduleError> {
    let reveal_block = modulo_first_reveal_block(netuid, tempo, reveal_period_epochs, current_block)?;
    let reveal_round =
        round_for_block(Block::new(current_block), Block::new(reveal_block), block_time_ms, now_ms, beacon)?;
    Ok(RevealTarget { reveal_block, reveal_round })
}

/// The first block of the reveal epoch under the modulo formula.
pub fn modulo_first_reveal_block(
    netuid: u16,
    tempo: u16,
    reveal_period_epochs: u64,
    current_block: u64,
) -> Result<u64, ScheduleError> {
    let tp1 = u64::from(tempo) + 1;
    let np1 = u64::from(netuid) + 1;
    let overflow = || ScheduleError::Overflow("the modulo reveal block");
    let current_epoch = current_block.checked_add(np1).ok_or_else(overflow)? / tp1;
    let reveal_epoch = current_epoch.checked_add(reveal_period_epochs).ok_or_else(overflow)?;
    Ok(reveal_epoch.checked_mul(tp1).ok_or_else(overflow)?.saturating_sub(np1))
}

/// Which schedule model a runtime supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleModel {
    /// The stateful epoch schedule (the runtime stores `SubnetEpochIndex` and friends).
    Stateful(EpochSchedule),
    /// The modulo formula (the runtime lacks the stateful storage items).
    Modulo {
        /// The subnet id.
        netuid: u16,
        /// `Tempo[netuid]`.
        tempo: u16,
        /// `RevealPeriodEpochs[netuid]`.
        reveal_period_epochs: u64,
        /// The block the values were read at.
        current_block: u64,
    },
}

impl ScheduleModel {
    /// `stateful` or `modulo`, for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            ScheduleModel::Stateful(_) => "stateful",
            ScheduleModel::Modulo { .. } => "modulo",
        }
    }

    /// The reveal target under this model.
    pub fn reveal_target(
        &self,
        block_time_ms: u64,
        now_ms: u64,
        beacon: &Beacon,
    ) -> Result<RevealTarget, ScheduleError> {
        match *self {
            ScheduleModel::Stateful(s) => reveal_target(&s, block_time_ms, now_ms, beacon),
            ScheduleModel::Modulo { netuid, tempo, reveal_period_epochs, current_block } => {
                modulo_reveal_target(netuid, tempo, reveal_period_epochs, current_block, block_time_ms, now_ms, beacon)
            }
        }
    }
}

#[cfg(test)]
mod tests;
