//! The subnet limits and stake the weight rules need, read from a node at one block.
//!
//! Every item is looked up in the node's metadata first: one the runtime lacks
//! (`MechanismCountCurrent`, `SubnetEpochConsensus` and `SubnetOwnerHotkey` are absent from
//! older runtimes) takes the chain's default. Values are decoded by their metadata type and
//! read through newtype wrappers (`NetUid(u16)`, `AlphaBalance(u64)`), so the same code reads
//! spec 393 and the 2026 runtime.

use futures::stream::{self, StreamExt, TryStreamExt};
use subxt::dynamic::Value;
use subxt::ext::scale_value::{Composite, ValueDef};
use subxt::utils::AccountId32;

use super::client::{AtBlock, SubtensorChain};
use crate::chain::weight_rules::stake::{Delegation, RawStake, stake_weight};
use crate::chain::weight_rules::{EpochConsensus, SubnetLimits, mechanism_storage_index};
use crate::chain::{ChainError, NetUid, Uid};

const PALLET: &str = "SubtensorModule";
/// Stake reads in flight at once for a metagraph.
const STAKE_READS: usize = 16;

/// A number inside `value`, through single-field composites (newtypes).
pub(crate) fn number_in<T>(value: &subxt::ext::scale_value::Value<T>) -> Option<u128> {
    let mut v = value;
    for _ in 0..4 {
        match &v.value {
            ValueDef::Composite(c) if c.len() == 1 => v = c.values().next()?,
            _ => break,
        }
    }
    v.as_u128()
}

/// The variant name inside `value`, through single-field composites.
pub(crate) fn variant_in<T>(value: &subxt::ext::scale_value::Value<T>) -> Option<&str> {
    match &value.value {
        ValueDef::Variant(v) => Some(v.name.as_str()),
        ValueDef::Composite(c) if c.len() == 1 => variant_in(c.values().next()?),
        _ => None,
    }
}

/// The 32 account bytes inside `value`, through newtypes.
fn account_in<T>(value: &subxt::ext::scale_value::Value<T>) -> Option<[u8; 32]> {
    let mut v = value;
    for _ in 0..4 {
        match &v.value {
            ValueDef::Composite(c) if c.len() == 1 => v = c.values().next()?,
            _ => break,
        }
    }
    match &v.value {
        ValueDef::Composite(c) if c.len() == 32 => {
            let bytes: Option<Vec<u8>> = c.values().map(|b| number_in(b).and_then(|n| u8::try_from(n).ok())).collect();
            bytes?.try_into().ok()
        }
        _ => None,
    }
}

/// `(proportion, account)` pairs of a `ChildKeys`/`ParentKeys` value.
fn pairs_in<T>(value: &subxt::ext::scale_value::Value<T>) -> Vec<(u64, [u8; 32])> {
    let ValueDef::Composite(list) = &value.value else { return Vec::new() };
    list.values()
        .filter_map(|pair| match &pair.value {
            ValueDef::Composite(Composite::Unnamed(parts)) if parts.len() == 2 => {
                let proportion = number_in(&parts[0]).and_then(|n| u64::try_from(n).ok())?;
                Some((proportion, account_in(&parts[1])?))
            }
            _ => None,
        })
        .collect()
}

fn u16_key(n: u16) -> Value {
    Value::u128(u128::from(n))
}

fn account_key(account: [u8; 32]) -> Value {
    Value::from_bytes(account)
}

impl SubtensorChain {
    /// `SubtensorModule.{entry}` at `keys` (the default when unset); `None` when the runtime
    /// has no such storage item.
    async fn entry(&self, at: &AtBlock, entry: &str, keys: Vec<Value>) -> Result<Option<Value>, ChainError> {
        let metadata = at.metadata();
        let known = metadata.pallet_by_name(PALLET).and_then(|p| p.storage()).and_then(|s| s.entry_by_name(entry));
        if known.is_none() {
            return Ok(None);
        }
        match at.storage().try_fetch((PALLET, entry), keys).await.map_err(|e| self.fail(e))? {
            Some(v) => v.decode().map(Some).map_err(|e| ChainError::Decode(format!("{PALLET}.{entry}: {e}"))),
            None => Ok(None),
        }
    }

    /// A numeric item, `default` when absent or unset.
    async fn number(&self, at: &AtBlock, entry: &str, keys: Vec<Value>, default: u128) -> Result<u128, ChainError> {
        Ok(self.entry(at, entry, keys).await?.as_ref().and_then(number_in).unwrap_or(default))
    }

    /// The subnet's limits for mechanism `mecid` and the standing of the hotkey `account`,
    /// given the subnet's permit vector.
    pub(super) async fn read_limits(
        &self,
        at: &AtBlock,
        netuid: NetUid,
        mecid: u8,
        account: [u8; 32],
        permits: &[bool],
    ) -> Result<SubnetLimits, ChainError> {
        let n = || vec![u16_key(netuid)];
        let consensus = match self.entry(at, "SubnetEpochConsensus", n()).await?.as_ref().and_then(variant_in) {
            Some("Null") => EpochConsensus::Null,
            _ => EpochConsensus::Yuma,
        };
        let owner_uid = match self.entry(at, "SubnetOwnerHotkey", n()).await?.as_ref().and_then(account_in) {
            Some(owner) => self.uid_of(at, netuid, owner).await?,
            None => None,
        };
        let tao_weight = u64::try_from(self.number(at, "TaoWeight", vec![], 0).await?).unwrap_or(u64::MAX);
        Ok(SubnetLimits {
            mecid,
            storage_index: mechanism_storage_index(netuid, mecid).unwrap_or(u16::MAX),
            mechanism_count: u8::try_from(self.number(at, "MechanismCountCurrent", n(), 1).await?).unwrap_or(u8::MAX),
            stake_threshold: u64::try_from(self.number(at, "StakeThreshold", vec![], 0).await?).unwrap_or(u64::MAX),
            stake: Some(self.stake_of(at, netuid, account, tao_weight).await?),
            owner_uid,
            consensus,
            permit_holders: permits.iter().filter(|p| **p).count().try_into().unwrap_or(u16::MAX),
        })
    }

    async fn uid_of(&self, at: &AtBlock, netuid: NetUid, account: [u8; 32]) -> Result<Option<Uid>, ChainError> {
        let value = self.entry(at, "Uids", vec![u16_key(netuid), account_key(account)]).await?;
        Ok(value.as_ref().and_then(number_in).and_then(|n| Uid::try_from(n).ok()))
    }

    async fn raw_stake(&self, at: &AtBlock, netuid: NetUid, account: [u8; 32]) -> Result<RawStake, ChainError> {
        let read = |net: u16| self.number(at, "TotalHotkeyAlpha", vec![account_key(account), u16_key(net)], 0);
        let clamp = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        Ok(RawStake { alpha: clamp(read(netuid).await?), tao: clamp(read(0).await?) })
    }

    /// The stake weight of `account` on `netuid` (see [`crate::chain::weight_rules::stake`]).
    pub(super) async fn stake_of(
        &self,
        at: &AtBlock,
        netuid: NetUid,
        account: [u8; 32],
        tao_weight: u64,
    ) -> Result<u64, ChainError> {
        let own = self.raw_stake(at, netuid, account).await?;
        let keys = || vec![account_key(account), u16_key(netuid)];
        let children = self.entry(at, "ChildKeys", keys()).await?.map(|v| pairs_in(&v)).unwrap_or_default();
        let parents = self.entry(at, "ParentKeys", keys()).await?.map(|v| pairs_in(&v)).unwrap_or_default();
        let mut from_parents = Vec::with_capacity(parents.len());
        for (proportion, parent) in parents {
            from_parents.push((proportion, self.raw_stake(at, netuid, parent).await?));
        }
        let delegation = Delegation { to_children: children.into_iter().map(|(p, _)| p).collect(), from_parents };
        Ok(stake_weight(own, &delegation, tao_weight))
    }

    /// The stake weight of every hotkey in `hotkeys`, in order.
    pub(super) async fn stakes(
        &self,
        at: &AtBlock,
        netuid: NetUid,
        hotkeys: Vec<AccountId32>,
    ) -> Result<Vec<u64>, ChainError> {
        let tao_weight = u64::try_from(self.number(at, "TaoWeight", vec![], 0).await?).unwrap_or(u64::MAX);
        let accounts: Vec<[u8; 32]> = hotkeys.into_iter().map(|h| h.0).collect();
        stream::iter(accounts.into_iter().map(move |a| self.stake_of(at, netuid, a, tao_weight)))
            .buffered(STAKE_READS)
            .try_collect()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_variants_are_read_through_newtypes() {
        let alpha = Value::unnamed_composite([Value::u128(42)]);
        assert_eq!(number_in(&alpha), Some(42));
        assert_eq!(number_in(&Value::u128(7)), Some(7));
        let mode = Value::unnamed_composite([Value::unnamed_variant("Null", [])]);
        assert_eq!(variant_in(&mode), Some("Null"));
        let account = Value::from_bytes([9u8; 32]);
        let pairs = Value::unnamed_composite([Value::unnamed_composite([Value::u128(5), account.clone()])]);
        assert_eq!(pairs_in(&pairs), vec![(5, [9u8; 32])]);
        assert_eq!(account_in(&Value::unnamed_composite([account])), Some([9u8; 32]));
        assert_eq!(number_in(&Value::string("x")), None);
    }
}
