//! Every rule subtensor applies to weights, checked before anything is sent.
//!
//! A timelocked commit is checked again only when the chain reveals it, and a reveal that
//! breaks a rule is dropped silently (trace-logged on chain). So each rule of
//! `internal_set_weights` (and the commit-time rate limit) is evaluated here, from values
//! read at one block ([`WeightRules`]), and reported with the value and the fix. The names
//! are the chain's error names.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::chain::{Uid, WeightRules, WeightsCall};
use crate::protocol::WEIGHTS_VERSION_KEY;

/// How many storage slots one mechanism spans: `LastUpdate` and `Weights` of mechanism `m` of
/// subnet `n` live under the index `m * 4096 + n` (`NetUidStorageIndex`).
pub const MECHANISM_INDEX_STRIDE: u16 = 4096;

/// The storage index of mechanism `mecid` of `netuid` (`get_mechanism_storage_index`);
/// `None` when it does not fit a u16 (no such mechanism can exist).
pub fn mechanism_storage_index(netuid: u16, mecid: u8) -> Option<u16> {
    u16::from(mecid).checked_mul(MECHANISM_INDEX_STRIDE)?.checked_add(netuid)
}

/// `SubtensorModule.SubnetEpochConsensus`: how the subnet's epoch combines validator weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum EpochConsensus {
    /// Yuma consensus over every permitted validator (the default).
    #[default]
    Yuma,
    /// Only the largest-stake validator's weights are used.
    Null,
}

/// The subnet's mechanism, stake and consensus facts and the hotkey's standing, read with
/// [`WeightRules`] (which holds `MinAllowedWeights`, `MaxWeightsLimit` and `SubnetworkN`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetLimits {
    /// The mechanism the weights are for (`mecid`).
    pub mecid: u8,
    /// The storage index `LastUpdate` was read at ([`mechanism_storage_index`]).
    pub storage_index: u16,
    /// `MechanismCountCurrent[netuid]` (1 on runtimes without mechanisms).
    pub mechanism_count: u8,
    /// `StakeThreshold`: the least stake weight that may set weights (alpha rao).
    pub stake_threshold: u64,
    /// The hotkey's stake weight as the chain counts it for weights (alpha rao; see
    /// [`super::stake`]), when known.
    pub stake: Option<u64>,
    /// The uid of `SubnetOwnerHotkey[netuid]`, when registered.
    pub owner_uid: Option<Uid>,
    /// `SubnetEpochConsensus[netuid]`.
    pub consensus: EpochConsensus,
    /// How many uids hold a validator permit.
    pub permit_holders: u16,
}

impl Default for SubnetLimits {
    fn default() -> Self {
        Self {
            mecid: 0,
            storage_index: 0,
            mechanism_count: 1,
            stake_threshold: 0,
            stake: None,
            owner_uid: None,
            consensus: EpochConsensus::Yuma,
            permit_holders: 0,
        }
    }
}

/// Which weights version key to send (`NEXIS_WEIGHTS_VERSION_KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKeyPolicy {
    /// Send this key (by default this release's [`WEIGHTS_VERSION_KEY`]); when the chain's
    /// `WeightsVersionKey` is higher, do not commit: this release is outdated.
    Own(u64),
    /// `chain`: raise the key to whatever the chain requires. This defeats the owner's way of
    /// stopping validators that run an outdated protocol.
    Chain,
}

impl Default for VersionKeyPolicy {
    fn default() -> Self {
        Self::Own(WEIGHTS_VERSION_KEY)
    }
}

impl VersionKeyPolicy {
    /// The key to send when the chain requires `chain_floor`.
    pub fn key(self, chain_floor: u64) -> u64 {
        match self {
            Self::Own(key) => key,
            Self::Chain => WEIGHTS_VERSION_KEY.max(chain_floor),
        }
    }
}

impl fmt::Display for VersionKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Own(key) if *key == WEIGHTS_VERSION_KEY => write!(f, "own key {key} (this release)"),
            Self::Own(key) => write!(f, "own key {key} (configured)"),
            Self::Chain => f.write_str("chain (follow WeightsVersionKey)"),
        }
    }
}

impl FromStr for VersionKeyPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" => Ok(Self::default()),
            v if v.eq_ignore_ascii_case("chain") => Ok(Self::Chain),
            v => v
                .parse()
                .map(Self::Own)
                .map_err(|_| format!("the version key must be a whole number or `chain`, is {v:?}")),
        }
    }
}

/// One rule the chain applies to weights, named by the chain's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// `HotKeyNotRegisteredInSubNet`: the hotkey needs a uid.
    NotRegistered,
    /// `CommitRevealWeightsEnabled`: chooses the timelocked commit or plain `set_weights`.
    CommitRevealWeightsEnabled,
    /// `MechanismDoesNotExist`: `mecid` must be below `MechanismCountCurrent`.
    MechanismCountCurrent,
    /// `SettingWeightsTooFast` / `CommittingWeightsTooFast`: `LastUpdate` + `WeightsSetRateLimit`.
    SettingWeightsTooFast,
    /// `IncorrectWeightVersionKey`: the key must reach `WeightsVersionKey`.
    IncorrectWeightVersionKey,
    /// `NeuronNoValidatorPermit`: non-self weights need a permit (the subnet owner is exempt).
    NeuronNoValidatorPermit,
    /// `NotEnoughStakeToSetWeights`: stake weight must reach `StakeThreshold` (owner exempt).
    NotEnoughStakeToSetWeights,
    /// `SubnetEpochConsensus` = Null: only the sole permit holder's weights are used.
    SubnetEpochConsensus,
    /// `UidsLengthExceedUidsInSubNet`: no more uids than the subnet has.
    UidsLengthExceedUidsInSubNet,
    /// `DuplicateUids`.
    DuplicateUids,
    /// `UidVecContainInvalidOne`: every uid must exist.
    UidVecContainInvalidOne,
    /// `WeightVecLengthIsLow`: at least `min(MinAllowedWeights, SubnetworkN)` weights.
    WeightVecLengthIsLow,
    /// `MaxWeightExceeded`: no weight's share above `MaxWeightsLimit`.
    MaxWeightExceeded,
}

impl Rule {
    /// The rule's name (also the metric label).
    pub fn name(self) -> &'static str {
        match self {
            Self::NotRegistered => "NotRegistered",
            Self::CommitRevealWeightsEnabled => "CommitRevealWeightsEnabled",
            Self::MechanismCountCurrent => "MechanismCountCurrent",
            Self::SettingWeightsTooFast => "SettingWeightsTooFast",
            Self::IncorrectWeightVersionKey => "IncorrectWeightVersionKey",
            Self::NeuronNoValidatorPermit => "NeuronNoValidatorPermit",
            Self::NotEnoughStakeToSetWeights => "NotEnoughStakeToSetWeights",
            Self::SubnetEpochConsensus => "SubnetEpochConsensus",
            Self::UidsLengthExceedUidsInSubNet => "UidsLengthExceedUidsInSubNet",
            Self::DuplicateUids => "DuplicateUids",
            Self::UidVecContainInvalidOne => "UidVecContainInvalidOne",
            Self::WeightVecLengthIsLow => "WeightVecLengthIsLow",
            Self::MaxWeightExceeded => "MaxWeightExceeded",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The verdict on one rule: its value and, when it fails, the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCheck {
    /// The rule.
    pub rule: Rule,
    /// Whether the weights pass it.
    pub ok: bool,
    /// What the chain holds, in words.
    pub value: String,
    /// What to do about a failure (empty when it passes).
    pub fix: String,
}

/// A rule the weights would break: the chain would refuse them or drop them at reveal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SubtensorModule.{rule}: {value}; {fix}")]
pub struct WeightRuleError {
    /// The rule broken.
    pub rule: Rule,
    /// What the chain holds, in words.
    pub value: String,
    /// What to do about it.
    pub fix: String,
}

impl From<&RuleCheck> for WeightRuleError {
    fn from(c: &RuleCheck) -> Self {
        Self { rule: c.rule, value: c.value.clone(), fix: c.fix.clone() }
    }
}

fn pass(rule: Rule, value: impl Into<String>) -> RuleCheck {
    RuleCheck { rule, ok: true, value: value.into(), fix: String::new() }
}

fn fail(rule: Rule, value: impl Into<String>, fix: impl Into<String>) -> RuleCheck {
    RuleCheck { rule, ok: false, value: value.into(), fix: fix.into() }
}

/// Whether `call` is a single weight on the hotkey's own uid (exempt from the permit,
/// length and max-weight rules).
pub(crate) fn is_self_weight(uid: Option<Uid>, call: &WeightsCall) -> bool {
    call.weights.len() == 1 && uid.is_some() && call.uids.first().copied() == uid
}

/// Evaluates every rule for `hotkey`'s weights at the block `rules` was read at. Without a
/// `call` only the rules that do not depend on the weights are judged.
pub fn evaluate(rules: &WeightRules, call: Option<&WeightsCall>, policy: VersionKeyPolicy) -> Vec<RuleCheck> {
    let mut out = standing(rules, call, policy);
    if let Some(call) = call {
        out.extend(call_rules(rules, call));
    }
    out
}

/// The rules about the hotkey and the subnet.
fn standing(rules: &WeightRules, call: Option<&WeightsCall>, policy: VersionKeyPolicy) -> Vec<RuleCheck> {
    let l = &rules.limits;
    let owner = rules.uid.is_some() && rules.uid == l.owner_uid;
    let self_weight = call.is_some_and(|c| is_self_weight(rules.uid, c));
    let mut out = vec![match rules.uid {
        Some(uid) => pass(Rule::NotRegistered, format!("registered as uid {uid}")),
        None => fail(Rule::NotRegistered, "the hotkey has no uid on the subnet", "register the hotkey on the subnet"),
    }];
    out.push(pass(
        Rule::CommitRevealWeightsEnabled,
        if rules.commit_reveal { "true: timelocked commit, revealed by the chain" } else { "false: plain set_weights" },
    ));
    out.push(if l.mecid < l.mechanism_count {
        pass(Rule::MechanismCountCurrent, format!("mecid {} of {} mechanism(s)", l.mecid, l.mechanism_count))
    } else {
        fail(
            Rule::MechanismCountCurrent,
            format!("mecid {} but MechanismCountCurrent is {}", l.mecid, l.mechanism_count),
            format!("set NEXIS_WEIGHTS_MECHID (--mechid) below {}", l.mechanism_count),
        )
    });
    out.push(rate_limit(rules));
    out.push(version_key(rules, policy));
    out.push(permit(rules, owner, self_weight));
    out.push(stake(rules, owner));
    out.push(consensus(rules));
    out
}

fn rate_limit(rules: &WeightRules) -> RuleCheck {
    let index = rules.limits.storage_index;
    let last = rules.last_update.unwrap_or(0);
    let value = format!(
        "LastUpdate[{index}] = {last}, WeightsSetRateLimit = {} blocks, block {}",
        rules.rate_limit, rules.block
    );
    match super::rate_limit_allows(rules.last_update, rules.rate_limit, rules.block) {
        Ok(()) => pass(Rule::SettingWeightsTooFast, value),
        Err(next) => fail(Rule::SettingWeightsTooFast, value, format!("wait for block {next} (retried then)")),
    }
}

fn version_key(rules: &WeightRules, policy: VersionKeyPolicy) -> RuleCheck {
    let key = policy.key(rules.version_key);
    let value = format!("sending {key} ({policy}), WeightsVersionKey = {}", rules.version_key);
    if rules.version_key == 0 || key >= rules.version_key {
        pass(Rule::IncorrectWeightVersionKey, value)
    } else {
        fail(
            Rule::IncorrectWeightVersionKey,
            value,
            "ALERT: the subnet requires a newer protocol than this release implements; upgrade nexis \
             (NEXIS_WEIGHTS_VERSION_KEY=chain follows the chain anyway, at the risk of weighting by an outdated \
             protocol)",
        )
    }
}

fn permit(rules: &WeightRules, owner: bool, self_weight: bool) -> RuleCheck {
    match rules.validator_permit {
        _ if owner => pass(Rule::NeuronNoValidatorPermit, "the subnet owner's hotkey is exempt"),
        _ if self_weight => pass(Rule::NeuronNoValidatorPermit, "a single self-weight needs no permit"),
        Some(true) => pass(Rule::NeuronNoValidatorPermit, "validator permit held"),
        None => pass(Rule::NeuronNoValidatorPermit, "permit unknown on this chain"),
        Some(false) => fail(
            Rule::NeuronNoValidatorPermit,
            "no validator permit",
            "stake more: the subnet grants permits to the top stakes at its epochs",
        ),
    }
}

fn stake(rules: &WeightRules, owner: bool) -> RuleCheck {
    let l = &rules.limits;
    let threshold = l.stake_threshold;
    match l.stake {
        _ if owner => pass(Rule::NotEnoughStakeToSetWeights, "the subnet owner's hotkey is exempt"),
        _ if threshold == 0 => pass(Rule::NotEnoughStakeToSetWeights, "StakeThreshold is 0"),
        None => pass(Rule::NotEnoughStakeToSetWeights, format!("stake unknown, StakeThreshold = {threshold}")),
        Some(s) if s >= threshold => pass(
            Rule::NotEnoughStakeToSetWeights,
            format!("stake weight {s} >= StakeThreshold {threshold} (alpha rao)"),
        ),
        Some(s) => fail(
            Rule::NotEnoughStakeToSetWeights,
            format!("stake weight {s} < StakeThreshold {threshold} (alpha rao)"),
            format!("stake at least {} more alpha rao on the hotkey (or TAO on root)", threshold - s),
        ),
    }
}

fn consensus(rules: &WeightRules) -> RuleCheck {
    let l = &rules.limits;
    match l.consensus {
        EpochConsensus::Yuma => pass(Rule::SubnetEpochConsensus, "Yuma"),
        EpochConsensus::Null if rules.validator_permit == Some(true) && l.permit_holders == 1 => {
            pass(Rule::SubnetEpochConsensus, "Null, and this hotkey is the sole permit holder")
        }
        EpochConsensus::Null => fail(
            Rule::SubnetEpochConsensus,
            format!(
                "Null with {} permit holder(s): only the largest-stake validator's weights are used",
                l.permit_holders
            ),
            "nothing this validator can set counts while the subnet runs Null consensus; ask the owner or stop \
             setting weights",
        ),
    }
}

/// The rules about the weight vector itself.
fn call_rules(rules: &WeightRules, call: &WeightsCall) -> Vec<RuleCheck> {
    // `SubnetworkN` 0: not known here (offline); the uid checks are left to the chain.
    let subnet_n = Some(rules.subnet_n).filter(|n| *n > 0);
    let mut out = Vec::new();
    if let Some(n) = subnet_n {
        out.push(if call.uids.len() <= usize::from(n) {
            pass(Rule::UidsLengthExceedUidsInSubNet, format!("{} uids, SubnetworkN = {n}", call.uids.len()))
        } else {
            fail(
                Rule::UidsLengthExceedUidsInSubNet,
                format!("{} uids but SubnetworkN = {n}", call.uids.len()),
                "weight only registered uids",
            )
        });
    }
    let mut seen = BTreeSet::new();
    let duplicate = call.uids.iter().find(|u| !seen.insert(**u));
    out.push(match duplicate {
        None => pass(Rule::DuplicateUids, "no uid twice"),
        Some(u) => fail(Rule::DuplicateUids, format!("uid {u} appears twice"), "merge the duplicate weights"),
    });
    if let Some(n) = subnet_n {
        out.push(match call.uids.iter().find(|u| **u >= n) {
            None => pass(Rule::UidVecContainInvalidOne, format!("every uid below SubnetworkN {n}")),
            Some(u) => fail(
                Rule::UidVecContainInvalidOne,
                format!("uid {u} does not exist (SubnetworkN = {n})"),
                "read the metagraph again and drop uids that left",
            ),
        });
    }
    out.push(min_length(rules, call));
    out.push(max_weight(rules, call));
    out
}

fn min_length(rules: &WeightRules, call: &WeightsCall) -> RuleCheck {
    let min = match rules.subnet_n {
        0 => rules.min_allowed_weights,
        n => n.min(rules.min_allowed_weights),
    };
    let value = format!("{} weights, min(MinAllowedWeights, SubnetworkN) = {min}", call.weights.len());
    if is_self_weight(rules.uid, call) || call.weights.len() >= usize::from(min) {
        pass(Rule::WeightVecLengthIsLow, value)
    } else {
        fail(Rule::WeightVecLengthIsLow, value, format!("weight at least {min} uids (or only the validator's own uid)"))
    }
}

fn max_weight(rules: &WeightRules, call: &WeightsCall) -> RuleCheck {
    let limit = rules.max_weight_limit;
    let sum: u128 = call.weights.iter().map(|w| u128::from(*w)).sum();
    let max = call.weights.iter().copied().max().unwrap_or(0);
    let value = format!("largest weight {max} of a total {sum}, MaxWeightsLimit = {limit}/65535");
    // The chain normalises the vector to sum 1 and compares the largest share with
    // limit / 65535 (in I32F32); compared exactly here as max * 65535 <= limit * sum.
    let within = sum == 0 || u128::from(max) * u128::from(u16::MAX) <= u128::from(limit) * sum;
    if limit == u16::MAX || is_self_weight(rules.uid, call) || within {
        pass(Rule::MaxWeightExceeded, value)
    } else {
        fail(
            Rule::MaxWeightExceeded,
            value,
            "clip the weights to MaxWeightsLimit before sending (spread weight over more uids)",
        )
    }
}

/// The first failing rule, if any.
pub fn first_failure(checks: &[RuleCheck]) -> Option<WeightRuleError> {
    checks.iter().find(|c| !c.ok).map(WeightRuleError::from)
}
