//! The weight rules of an embedded subnet as subtensor applies them: the [`WeightRules`] a
//! client reads, the checks of a reveal, and the shape checks of a weights call.

use super::state::{StoredTimelock, Subnet, now_ms};
use crate::chain::commit_reveal::{self, Beacon, DEFAULT_COMMIT_REVEAL_VERSION};
use crate::chain::wallet::ss58_decode;
use crate::chain::weight_rules::{Rule, SubnetLimits, VersionKeyPolicy, evaluate, first_failure};
use crate::chain::{ChainError, NetUid, Uid, WeightRules, WeightsCall};

/// Where a subnet's rules are read: the block, the block time and the beacon.
pub(super) struct RulesAt<'a> {
    pub(super) block: u64,
    pub(super) block_ms: u64,
    pub(super) beacon: &'a Beacon,
}

/// `hotkey`'s [`WeightRules`] on `subnet` for mechanism `mecid`.
pub(super) fn subnet_rules(subnet: &Subnet, netuid: NetUid, mecid: u8, hotkey: &str, at: &RulesAt<'_>) -> WeightRules {
    let uid = subnet.hotkeys.iter().position(|h| h == hotkey).map(|u| u as Uid);
    let p = &subnet.params;
    let owner_uid = subnet.owner.as_ref().and_then(|o| subnet.hotkeys.iter().position(|h| h == o)).map(|u| u as Uid);
    let limits = SubnetLimits {
        mecid,
        storage_index: crate::chain::weight_rules::mechanism_storage_index(netuid, mecid).unwrap_or(u16::MAX),
        mechanism_count: p.mechanism_count,
        stake_threshold: p.stake_threshold,
        stake: uid.and_then(|_| stake_of(subnet, hotkey)),
        owner_uid,
        consensus: if p.null_consensus {
            crate::chain::weight_rules::EpochConsensus::Null
        } else {
            crate::chain::weight_rules::EpochConsensus::Yuma
        },
        permit_holders: subnet.hotkeys.iter().filter(|h| !subnet.no_permit.contains(*h)).count() as u16,
    };
    WeightRules {
        block: at.block,
        now_ms: now_ms(),
        block_time_ms: at.block_ms,
        commit_reveal: p.commit_reveal,
        commit_reveal_version: DEFAULT_COMMIT_REVEAL_VERSION,
        rate_limit: p.rate_limit,
        version_key: p.version_key,
        tempo: p.tempo,
        reveal_period_epochs: p.reveal_period_epochs,
        uid,
        last_update: uid.map(|_| subnet.last_update.get(&last_update_key(hotkey, mecid)).copied().unwrap_or(0)),
        validator_permit: uid.map(|_| !subnet.no_permit.contains(hotkey)),
        beacon: at.beacon.clone(),
        epoch_schedule: (!p.hide_schedule).then(|| super::epochs::schedule_of(subnet, at.block)),
        min_allowed_weights: p.min_allowed_weights,
        max_weight_limit: p.max_weight_limit,
        subnet_n: u16::try_from(subnet.hotkeys.len()).unwrap_or(u16::MAX),
        limits,
    }
}

/// `hotkey`'s stake weight: `None` while no stake was ever set on the subnet (the embedded
/// chain then does not model stake), else the set value or 0.
pub(super) fn stake_of(subnet: &Subnet, hotkey: &str) -> Option<u64> {
    (!subnet.stake.is_empty()).then(|| subnet.stake.get(hotkey).copied().unwrap_or(0))
}

/// The `last_update` entry of `hotkey` for mechanism `mecid` (mechanism 0: the hotkey).
pub(super) fn last_update_key(hotkey: &str, mecid: u8) -> String {
    if mecid == 0 { hotkey.to_string() } else { format!("{mecid}/{hotkey}") }
}

/// Decrypts one commit with its round signature and checks it as subtensor does at reveal:
/// the payload's hotkey, then every rule of `internal_set_weights` (the rate limit aside,
/// which commit-reveal subnets apply at commit time).
pub(super) fn reveal(
    subnet: &Subnet,
    netuid: NetUid,
    c: &StoredTimelock,
    signature: &[u8],
    at: &RulesAt<'_>,
) -> Result<Vec<(Uid, u16)>, String> {
    let bytes = hex::decode(&c.commit).map_err(|e| e.to_string())?;
    let payload = commit_reveal::decrypt_payload(&bytes, signature).map_err(|e| e.to_string())?;
    let committer = ss58_decode(&c.hotkey).map_err(|e| e.to_string())?;
    if payload.hotkey != committer {
        return Err("the payload's hotkey is not the committer".into());
    }
    let call = WeightsCall { netuid, uids: payload.uids, weights: payload.values, version_key: payload.version_key };
    let rules = subnet_rules(subnet, netuid, c.mecid, &c.hotkey, at);
    let checks = evaluate(&rules, Some(&call), VersionKeyPolicy::Own(call.version_key));
    let at_reveal: Vec<_> = checks.into_iter().filter(|c| c.rule != Rule::SettingWeightsTooFast).collect();
    if let Some(broken) = first_failure(&at_reveal) {
        return Err(broken.to_string());
    }
    check_weights(subnet, &call).map_err(|e| e.to_string())
}

pub(super) fn rejected(name: &str) -> ChainError {
    ChainError::Rejected { module_error: format!("SubtensorModule.{name}") }
}

pub(super) fn check_weights(subnet: &Subnet, call: &WeightsCall) -> Result<Vec<(Uid, u16)>, ChainError> {
    if call.uids.len() != call.weights.len() {
        return Err(ChainError::Invalid(format!("{} uids but {} weights", call.uids.len(), call.weights.len())));
    }
    let mut seen = std::collections::BTreeSet::new();
    for &uid in &call.uids {
        if usize::from(uid) >= subnet.hotkeys.len() {
            return Err(ChainError::Invalid(format!("uid {uid} is not registered on netuid {}", call.netuid)));
        }
        if !seen.insert(uid) {
            return Err(ChainError::Invalid(format!("uid {uid} appears twice")));
        }
    }
    Ok(call.uids.iter().copied().zip(call.weights.iter().copied()).filter(|(_, w)| *w > 0).collect())
}
