//! The calls and storage items nexis uses, checked against a node's metadata at start so a
//! runtime that renamed or dropped one is named at once, not at the first weight epoch.

use subxt::Metadata;

/// Calls nexis submits, as `(pallet, call)`.
pub(crate) const CALLS: &[(&str, &str)] = &[
    ("SubtensorModule", "set_weights"),
    ("SubtensorModule", "commit_timelocked_mechanism_weights"),
    ("Commitments", "set_commitment"),
];

/// Storage items nexis cannot work without, as `(pallet, entry)`.
pub(crate) const STORAGE: &[(&str, &str)] = &[
    ("SubtensorModule", "NetworksAdded"),
    ("SubtensorModule", "Keys"),
    ("SubtensorModule", "Uids"),
    ("SubtensorModule", "ValidatorPermit"),
    ("SubtensorModule", "CommitRevealWeightsEnabled"),
    ("SubtensorModule", "WeightsSetRateLimit"),
    ("SubtensorModule", "WeightsVersionKey"),
    ("SubtensorModule", "Tempo"),
    ("SubtensorModule", "RevealPeriodEpochs"),
    ("SubtensorModule", "LastUpdate"),
    ("SubtensorModule", "TimelockedWeightCommits"),
    ("SubtensorModule", "Weights"),
    ("SubtensorModule", "MinAllowedWeights"),
    ("SubtensorModule", "MaxWeightsLimit"),
    ("SubtensorModule", "SubnetworkN"),
    ("SubtensorModule", "StakeThreshold"),
    ("SubtensorModule", "TotalHotkeyAlpha"),
    ("SubtensorModule", "TaoWeight"),
    ("Commitments", "CommitmentOf"),
    ("Timestamp", "Now"),
];

/// Storage items read when present, their defaults taken otherwise (older runtimes).
pub(crate) const OPTIONAL_STORAGE: &[(&str, &str)] = &[
    ("SubtensorModule", "CommitRevealWeightsVersion"),
    ("SubtensorModule", "MechanismCountCurrent"),
    ("SubtensorModule", "SubnetEpochConsensus"),
    ("SubtensorModule", "SubnetOwnerHotkey"),
    ("SubtensorModule", "ChildKeys"),
    ("SubtensorModule", "ParentKeys"),
    ("Drand", "BeaconConfig"),
];

fn has_call(metadata: &Metadata, pallet: &str, call: &str) -> bool {
    metadata.pallet_by_name(pallet).and_then(|p| p.call_variant_by_name(call)).is_some()
}

fn has_storage(metadata: &Metadata, pallet: &str, entry: &str) -> bool {
    metadata.pallet_by_name(pallet).and_then(|p| p.storage()).and_then(|s| s.entry_by_name(entry)).is_some()
}

/// The required calls and storage items `metadata` lacks, as `Pallet.item`.
pub fn missing_required(metadata: &Metadata) -> Vec<String> {
    let calls = CALLS.iter().filter(|(p, c)| !has_call(metadata, p, c));
    let storage = STORAGE.iter().filter(|(p, e)| !has_storage(metadata, p, e));
    calls.chain(storage).map(|(p, i)| format!("{p}.{i}")).collect()
}

/// The optional storage items `metadata` lacks (their defaults are used), as `Pallet.item`.
pub fn missing_optional(metadata: &Metadata) -> Vec<String> {
    OPTIONAL_STORAGE.iter().filter(|(p, e)| !has_storage(metadata, p, e)).map(|(p, e)| format!("{p}.{e}")).collect()
}
