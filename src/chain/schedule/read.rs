//! Reading the epoch schedule and the block time from a node, all at one pinned block (the
//! block the caller's `at` handle is pinned to), so the replay starts from one consistent
//! state. A runtime without the stateful items (spec ≤ 393) gives `None`: the caller falls back
//! to the modulo formula and says so.

use subxt::Metadata;
use subxt::config::SubstrateConfig;
use subxt::ext::codec::Decode;

use super::EpochSchedule;
use crate::chain::{ChainError, NetUid};

type AtBlock = subxt::client::OnlineClientAtBlock<SubstrateConfig>;

/// The storage items (pallet `SubtensorModule`) the stateful schedule needs besides `Tempo` and
/// `RevealPeriodEpochs`.
pub const STATEFUL_ITEMS: [&str; 4] = ["LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex", "BlocksSinceLastStep"];

/// Milliseconds per block when the runtime does not say (finney's 12 s).
pub const DEFAULT_BLOCK_TIME_MS: u64 = 12_000;

/// The stateful-schedule items `has_item` says the runtime lacks (empty: the runtime runs the
/// stateful schedule).
pub fn missing_items(has_item: impl Fn(&str) -> bool) -> Vec<&'static str> {
    STATEFUL_ITEMS.into_iter().filter(|name| !has_item(name)).collect()
}

/// The stateful-schedule storage items missing from `metadata`.
pub fn missing_stateful_items(metadata: &Metadata) -> Vec<&'static str> {
    let storage = metadata.pallet_by_name("SubtensorModule").and_then(|p| p.storage());
    missing_items(|name| storage.is_some_and(|s| s.entry_by_name(name).is_some()))
}

/// The chain's block time: the `Aura.SlotDuration` constant in milliseconds (what the SDK
/// reads: 12 000 on finney, 250 on fast-block chains), `None` when absent, zero or unreadable.
pub fn block_time_ms(metadata: &Metadata) -> Option<u64> {
    let constant = metadata.pallet_by_name("Aura")?.constant_by_name("SlotDuration")?;
    u64::decode(&mut constant.value()).ok().filter(|ms| *ms > 0)
}

/// The subnet's epoch schedule at `at`'s block, or `None` when the runtime lacks the stateful
/// items (logged with the missing names). `tempo` and `reveal_period_epochs` were read at the
/// same block by the caller; `fail` maps a transport error.
pub(crate) async fn read_schedule(
    at: &AtBlock,
    netuid: NetUid,
    tempo: u16,
    reveal_period_epochs: u64,
    fail: impl Fn(subxt::Error) -> ChainError,
) -> Result<Option<EpochSchedule>, ChainError> {
    let missing = missing_stateful_items(&at.metadata());
    if !missing.is_empty() {
        tracing::debug!(?missing, "the runtime has no stateful epoch schedule; using the modulo formula");
        return Ok(None);
    }
    let storage = at.storage();
    let mut values = [0u64; 4];
    for (slot, name) in values.iter_mut().zip(STATEFUL_ITEMS) {
        let addr = subxt::dynamic::storage::<(NetUid,), u64>("SubtensorModule", name);
        *slot = match storage.try_fetch(addr, (netuid,)).await.map_err(|e| fail(e.into()))? {
            Some(v) => v.decode().map_err(|e| ChainError::Decode(format!("SubtensorModule.{name}: {e}")))?,
            None => 0,
        };
    }
    let [last_epoch_block, pending_epoch_at, subnet_epoch_index, blocks_since_last_step] = values;
    Ok(Some(EpochSchedule {
        tempo,
        reveal_period_epochs,
        last_epoch_block,
        pending_epoch_at,
        subnet_epoch_index,
        blocks_since_last_step,
        current_block: at.block_number(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_items_are_named() {
        assert!(missing_items(|_| true).is_empty());
        assert_eq!(missing_items(|n| n != "PendingEpochAt"), vec!["PendingEpochAt"]);
        assert_eq!(missing_items(|_| false), STATEFUL_ITEMS.to_vec());
    }
}
