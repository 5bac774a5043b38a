//! Discover (protocol §8, §9): the interval's candidate miners are the metagraph hotkeys,
//! in uid order, with valid committed read credentials, minus operator exclusions, the
//! validation API's blacklist and its invalid hotkeys; then the deterministic selection of
//! at most 35 of them.

use std::collections::{BTreeSet, HashMap};

use crate::chain::{Metagraph, MinerCommitment, ReadCredentials};
use crate::validator::sampling::select_miners;

/// Why a metagraph hotkey is not a candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Skipped {
    /// Neurons without a valid credentials commitment.
    pub no_credentials: usize,
    /// Hotkeys the operator excluded.
    pub excluded: usize,
    /// Hotkeys the validation API excluded.
    pub api_excluded: usize,
}

/// The interval's miners.
#[derive(Debug, Clone, Default)]
pub(super) struct Discovery {
    /// Candidates in uid order.
    pub candidates: Vec<String>,
    /// Selected miners in selection order.
    pub selected: Vec<String>,
    /// Committed read credentials of every candidate.
    pub credentials: HashMap<String, ReadCredentials>,
    /// Why the other neurons are not candidates.
    pub skipped: Skipped,
}

/// Builds the candidate list and selects at most `max_miners` with `interval_seed`.
pub(super) fn discover(
    metagraph: &Metagraph,
    commitments: Vec<MinerCommitment>,
    excluded: &BTreeSet<String>,
    api_excluded: &BTreeSet<String>,
    interval_seed: &str,
    max_miners: usize,
) -> Discovery {
    let mut credentials: HashMap<String, ReadCredentials> =
        commitments.into_iter().map(|c| (c.hotkey, c.credentials)).collect();
    let mut skipped = Skipped::default();
    let mut candidates = Vec::new();
    for neuron in &metagraph.neurons {
        let hotkey = &neuron.hotkey;
        if !credentials.contains_key(hotkey) {
            skipped.no_credentials += 1;
        } else if excluded.contains(hotkey) {
            skipped.excluded += 1;
        } else if api_excluded.contains(hotkey) {
            skipped.api_excluded += 1;
        } else if !candidates.contains(hotkey) {
            candidates.push(hotkey.clone());
        }
    }
    credentials.retain(|hotkey, _| candidates.contains(hotkey));
    let selected = select_miners(&candidates, interval_seed, max_miners);
    Discovery { candidates, selected, credentials, skipped }
}
