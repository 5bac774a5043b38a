//! Scores to weights (protocol §11): per-miner totals from this validator's decisions,
//! dense-rank geometric scores, mapping to uids with the burn fallback, and the weights
//! call conformed to the subnet's rules (its u16 encoding is the chain's,
//! [`to_u16`](crate::chain::weight_encoding::to_u16)).

use crate::protocol::IntervalId;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::chain::conform::{ConformError, ConformRules, conform};
use crate::chain::weight_encoding::to_u16;
use crate::chain::{Metagraph, NetUid, Uid, WeightRules, WeightsCall};

/// What scoring needs from one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredDecision {
    /// SS58 hotkey of the miner decided on.
    pub miner_hotkey: String,
    /// Interval the decision is for.
    pub interval_id: u64,
    /// Whether the package was accepted.
    pub accepted: bool,
    /// Rows that survived pruning.
    pub record_count: u64,
}

/// Sum of accepted `record_count` per miner over `intervals`; rejected decisions count
/// nothing.
pub fn score_totals(decisions: &[ScoredDecision], intervals: Range<IntervalId>) -> BTreeMap<String, f64> {
    let mut totals = BTreeMap::new();
    for d in decisions.iter().filter(|d| d.accepted && intervals.contains(&IntervalId::new(d.interval_id))) {
        *totals.entry(d.miner_hotkey.clone()).or_insert(0.0) += d.record_count as f64;
    }
    totals
}

/// The block windows of §11; overridable for local networks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoringWindows {
    /// Intervals in `[S - score_blocks, S)` count toward the epoch starting at block `S`.
    pub score_blocks: u64,
    /// A miner rejected in an interval in `[S - rejection_blocks, S)` scores zero.
    pub rejection_blocks: u64,
}

impl Default for ScoringWindows {
    fn default() -> Self {
        Self { score_blocks: 1600, rejection_blocks: 500 }
    }
}

/// Miners with a rejected decision for an interval in `intervals`.
pub(crate) fn rejected_between(decisions: &[ScoredDecision], intervals: Range<IntervalId>) -> BTreeSet<String> {
    decisions
        .iter()
        .filter(|d| !d.accepted && intervals.contains(&IntervalId::new(d.interval_id)))
        .map(|d| d.miner_hotkey.clone())
        .collect()
}

/// The normalised scores of the weight epoch starting at block `epoch_start` (§11): totals
/// over the score window, zero for every miner rejected within the rejection window and
/// every `excluded` hotkey (validation API invalid list and blacklist), then dense-rank
/// geometric scores normalised to sum 1.
pub fn epoch_scores(
    decisions: &[ScoredDecision],
    epoch_start: u64,
    windows: ScoringWindows,
    excluded: &BTreeSet<String>,
) -> BTreeMap<String, f64> {
    let since = |blocks: u64| IntervalId::new(epoch_start.saturating_sub(blocks))..IntervalId::new(epoch_start);
    let mut totals = score_totals(decisions, since(windows.score_blocks));
    let rejected = rejected_between(decisions, since(windows.rejection_blocks));
    totals.retain(|hotkey, _| !rejected.contains(hotkey) && !excluded.contains(hotkey));
    normalize(&rank_scores(&totals))
}

/// Dense-rank geometric scores: positive totals ranked descending (equal totals share a
/// rank), rank r scores `1 / 2^(r-1)`; non-positive totals are left out.
pub fn rank_scores(totals: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut positive: Vec<(&String, f64)> = totals.iter().filter(|(_, t)| **t > 0.0).map(|(h, t)| (h, *t)).collect();
    // Descending by total, ties by hotkey (the BTreeMap order is already by hotkey).
    positive.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut scores = BTreeMap::new();
    let mut rank = 0i32;
    let mut previous: Option<f64> = None;
    for (hotkey, total) in positive {
        if previous != Some(total) {
            rank += 1;
            previous = Some(total);
        }
        scores.insert(hotkey.clone(), 0.5f64.powi(rank - 1));
    }
    scores
}

/// Scales scores to sum 1 (empty or all-zero input stays as is).
pub fn normalize(scores: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let sum: f64 = scores.values().sum();
    if sum <= 0.0 {
        return scores.clone();
    }
    scores.iter().map(|(h, s)| (h.clone(), s / sum)).collect()
}

/// Weights by uid for every neuron of the metagraph, plus the scored hotkeys that are not
/// registered (dropped, to be logged).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UidWeights {
    pub(crate) uids: Vec<Uid>,
    pub(crate) weights: Vec<f64>,
    /// Scored hotkeys with no uid in the metagraph (dropped).
    pub unknown: Vec<String>,
    /// Whether nothing was positive and all weight went to the burn uid.
    pub(crate) burned: bool,
}

/// Maps hotkey scores onto the metagraph's uids (uid order), normalised; when nothing is
/// positive all weight goes to uid 0, or the first uid when 0 is absent.
pub fn to_uid_weights(scores: &BTreeMap<String, f64>, metagraph: &Metagraph) -> UidWeights {
    let mut neurons: Vec<(Uid, &str)> = metagraph.neurons.iter().map(|n| (n.uid, n.hotkey.as_str())).collect();
    neurons.sort_by_key(|(uid, _)| *uid);
    let unknown: Vec<String> = scores.keys().filter(|h| !neurons.iter().any(|(_, n)| n == h)).cloned().collect();
    let mut weights: Vec<f64> =
        neurons.iter().map(|(_, h)| scores.get(*h).copied().filter(|s| *s > 0.0).unwrap_or(0.0)).collect();
    let uids: Vec<Uid> = neurons.iter().map(|(uid, _)| *uid).collect();
    let sum: f64 = weights.iter().sum();
    let burned = sum <= 0.0;
    if burned {
        let burn = uids.iter().position(|&u| u == 0).unwrap_or(0);
        if let Some(w) = weights.get_mut(burn) {
            *w = 1.0;
        }
    } else {
        weights.iter_mut().for_each(|w| *w /= sum);
    }
    UidWeights { uids, weights, unknown, burned }
}

/// Why the validator's weights cannot be made to satisfy the subnet's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum WeightsRuleError {
    /// Nothing scored, and a vector with all weight on the burn uid breaks the subnet's rules.
    #[error(
        "nobody scored this epoch, and the burn vector (all weight on uid {uid}) breaks the subnet's rules: \
         {why}. The chain would drop it at reveal time, so no weights are set this epoch; burning needs \
         MinAllowedWeights <= 1 and MaxWeightsLimit = 65535 (subnet owner's settings)"
    )]
    BurnRefused {
        /// The burn uid.
        uid: Uid,
        /// Which rule it breaks, with the chain's values.
        why: String,
    },
    /// The scored weights cannot be conformed (too few miners scored, ...).
    #[error("{0} The chain would drop these weights at reveal time, so none are set this epoch")]
    Conform(#[from] ConformError),
}

/// The `MinAllowedWeights` the chain applies: the subnet's value, but never more than the
/// registered neurons (`SubnetworkN`).
pub(super) fn effective_min_weights(rules: &WeightRules) -> u64 {
    u64::from(rules.min_allowed_weights.min(rules.subnet_n))
}

/// The weights call for `weights`, conformed to the subnet's rules as the SDK does it
/// ([`conform`](crate::chain::conform)): clipped to `MaxWeightsLimit`, u16 with half-to-even rounding,
/// zeros dropped, at least `MinAllowedWeights` entries (a lone self-weight is exempt); only
/// the positive weights are conformed. A burn
/// vector that the rules forbid is refused with the reason instead of being sent to be dropped.
pub(super) fn conformed_call(
    netuid: NetUid,
    version_key: u64,
    weights: &UidWeights,
    rules: &WeightRules,
) -> Result<WeightsCall, WeightsRuleError> {
    let min = effective_min_weights(rules);
    if weights.burned
        && let Some((&uid, _)) = weights.uids.iter().zip(&weights.weights).find(|(_, w)| **w > 0.0)
        && rules.uid != Some(uid)
    {
        let mut why = Vec::new();
        if min > 1 {
            why.push(format!("MinAllowedWeights is {min}"));
        }
        if rules.max_weight_limit < u16::MAX {
            why.push(format!(
                "MaxWeightsLimit is {} of 65535, so one weight cannot hold it all",
                rules.max_weight_limit
            ));
        }
        if !why.is_empty() {
            return Err(WeightsRuleError::BurnRefused { uid, why: why.join("; ") });
        }
    }
    let conform_rules = ConformRules {
        self_uid: rules.uid.map(u32::from),
        min_allowed_weights: min,
        max_weight_limit: rules.max_weight_limit,
    };
    // Only the weighted uids go in, as an SDK caller passes them: zeros would count toward
    // the clip (and a lone weight on our own uid would not be a self-weight).
    let (uids, floats): (Vec<u32>, Vec<f64>) =
        weights.uids.iter().zip(&weights.weights).filter(|(_, w)| **w > 0.0).map(|(&u, &w)| (u32::from(u), w)).unzip();
    let (uids, weights) = conform(&uids, &floats, &conform_rules, netuid)?;
    Ok(WeightsCall { netuid, uids, weights, version_key })
}

/// The `set_weights` call for `weights`.
pub fn weights_call(netuid: NetUid, version_key: u64, weights: &UidWeights) -> WeightsCall {
    let (uids, weights) = to_u16(&weights.uids, &weights.weights);
    WeightsCall { netuid, uids, weights, version_key }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Neuron;

    fn metagraph(uids: &[(Uid, &str)]) -> Metagraph {
        Metagraph {
            netuid: 1,
            block: 0,
            neurons: uids
                .iter()
                .map(|(uid, h)| Neuron { uid: *uid, hotkey: (*h).into(), stake: None, validator_permit: None })
                .collect(),
        }
    }

    #[test]
    fn ties_share_a_rank_and_unknown_hotkeys_are_reported() {
        let totals: BTreeMap<String, f64> =
            [("x", 3.0), ("y", 3.0), ("z", 1.0), ("w", 0.0)].iter().map(|(h, t)| (h.to_string(), *t)).collect();
        let scores = rank_scores(&totals);
        assert_eq!(scores.get("x"), Some(&1.0));
        assert_eq!(scores.get("y"), Some(&1.0));
        assert_eq!(scores.get("z"), Some(&0.5));
        assert!(!scores.contains_key("w"));
        let w = to_uid_weights(&scores, &metagraph(&[(0, "burn"), (1, "x"), (2, "z")]));
        assert_eq!(w.unknown, ["y"]);
        assert_eq!(w.uids, [0, 1, 2]);
        assert!(!w.burned);
    }

    fn decision(hotkey: &str, interval_id: u64, accepted: bool, record_count: u64) -> ScoredDecision {
        ScoredDecision { miner_hotkey: hotkey.into(), interval_id, accepted, record_count }
    }

    #[test]
    fn epoch_window_counts_only_intervals_before_the_epoch() {
        let d = [decision("in", 400, true, 5), decision("old", 399, true, 50), decision("new", 2000, true, 50)];
        let scores = epoch_scores(&d, 2000, ScoringWindows::default(), &BTreeSet::new());
        assert_eq!(scores.keys().collect::<Vec<_>>(), ["in"]);
        assert_eq!(scores.get("in"), Some(&1.0));
    }

    #[test]
    fn recent_rejections_and_excluded_hotkeys_score_zero() {
        let windows = ScoringWindows { score_blocks: 1600, rejection_blocks: 500 };
        let d = [
            decision("a", 1000, true, 10),
            decision("a", 1500, false, 0), // rejected at S - 500: zeroed
            decision("b", 1000, true, 10),
            decision("b", 1450, false, 0), // rejected before the rejection window: still scores
            decision("c", 1000, true, 10),
            decision("d", 1000, true, 4),
        ];
        let excluded: BTreeSet<String> = ["c".to_string()].into();
        let scores = epoch_scores(&d, 2000, windows, &excluded);
        assert_eq!(scores, [("b".to_string(), 2.0 / 3.0), ("d".to_string(), 1.0 / 3.0)].into());
        assert!(epoch_scores(&d[..2], 2000, windows, &BTreeSet::new()).is_empty());
    }

    fn rules(uid: Option<Uid>, min: u16, max: u16, n: u16) -> WeightRules {
        WeightRules {
            block: 0,
            now_ms: 0,
            block_time_ms: 12_000,
            commit_reveal: true,
            commit_reveal_version: 4,
            rate_limit: 0,
            version_key: 0,
            tempo: 360,
            reveal_period_epochs: 1,
            uid,
            last_update: None,
            validator_permit: Some(true),
            beacon: crate::chain::Beacon::quicknet(),
            epoch_schedule: None,
            min_allowed_weights: min,
            max_weight_limit: max,
            subnet_n: n,
            limits: Default::default(),
        }
    }

    #[test]
    fn the_burn_vector_is_sent_only_when_the_rules_allow_it() {
        let w = to_uid_weights(&BTreeMap::new(), &metagraph(&[(0, "burn"), (1, "x"), (2, "me")]));
        let ok = conformed_call(1, 7, &w, &rules(Some(2), 1, u16::MAX, 3)).expect("burn allowed");
        assert_eq!((ok.uids, ok.weights), (vec![0], vec![65535]));
        let err = conformed_call(1, 7, &w, &rules(Some(2), 8, u16::MAX, 64)).expect_err("min weights");
        assert!(err.to_string().contains("MinAllowedWeights is 8"), "{err}");
        let err = conformed_call(1, 7, &w, &rules(Some(2), 1, 1000, 64)).expect_err("max weight");
        assert!(err.to_string().contains("MaxWeightsLimit is 1000"), "{err}");
        assert!(matches!(err, WeightsRuleError::BurnRefused { uid: 0, .. }));
        // The chain caps MinAllowedWeights at the registered neurons: 8 required of 1 neuron is 1.
        let lone = to_uid_weights(&BTreeMap::new(), &metagraph(&[(0, "burn")]));
        assert!(conformed_call(1, 7, &lone, &rules(None, 8, u16::MAX, 1)).is_ok());
        // Burning on our own uid is a self-weight, exempt from both rules.
        let own = to_uid_weights(&BTreeMap::new(), &metagraph(&[(0, "me"), (1, "x")]));
        assert!(conformed_call(1, 7, &own, &rules(Some(0), 8, 1000, 64)).is_ok());
    }

    #[test]
    fn scored_weights_are_clipped_and_counted_like_the_sdk() {
        let scores: BTreeMap<String, f64> =
            [("a", 0.9), ("b", 0.05), ("c", 0.05)].iter().map(|(h, s)| (h.to_string(), *s)).collect();
        let w = to_uid_weights(&scores, &metagraph(&[(0, "burn"), (1, "a"), (2, "b"), (3, "c")]));
        // MaxWeightsLimit 0.5 of the total: a is clipped, b and c gain.
        let call = conformed_call(1, 7, &w, &rules(Some(9), 3, 32767, 64)).expect("conformed");
        assert_eq!(call.uids, vec![1, 2, 3]);
        let sum: u32 = call.weights.iter().map(|&v| u32::from(v)).sum();
        assert!(f64::from(call.weights[0]) / f64::from(sum) <= 32767.0 / 65535.0 + 1e-4, "{call:?}");
        let err = conformed_call(1, 7, &w, &rules(Some(9), 4, u16::MAX, 64)).expect_err("too few");
        assert!(err.to_string().contains("requires at least 4 weights; only 3"), "{err}");
    }

    #[test]
    fn burn_goes_to_uid_zero_or_the_first_uid() {
        let none = BTreeMap::new();
        let w = to_uid_weights(&none, &metagraph(&[(3, "c"), (0, "a")]));
        assert_eq!((w.uids.clone(), w.weights.clone(), w.burned), (vec![0, 3], vec![1.0, 0.0], true));
        let w = to_uid_weights(&none, &metagraph(&[(5, "c"), (2, "a")]));
        assert_eq!(
            weights_call(1, 7, &w),
            WeightsCall { netuid: 1, uids: vec![2], weights: vec![65535], version_key: 7 }
        );
    }
}
