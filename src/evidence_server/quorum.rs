//! Who may write and when a miner counts as invalid.
//!
//! The allowlist is every metagraph hotkey with a validator permit and stake ≥ the minimum,
//! plus the explicit source-auth hotkeys. A miner is invalid for interval `J` when the
//! reporters that rejected it at `J` (a rejected decision or an explicit invalid post)
//! together reach the quorum: `Σ stake(reporter) / total + Σ weight(source-auth reporter)
//! ≥ quorum`, where `total` is the allowed validators' stake. Exact rational arithmetic, so
//! the boundary is exact. When the chain does not report stake, every permitted validator
//! weighs 1 (one validator, one vote) and only a zero minimum admits them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use super::store::Vote;
use crate::chain::Metagraph;
use crate::protocol::{IntervalId, PackageKey};

/// Largest denominator a configured fraction may have.
const MAX_DENOMINATOR: u128 = 1_000_000_000;

/// An exact non-negative fraction `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction {
    /// Numerator.
    pub num: u128,
    /// Denominator (> 0).
    pub den: u128,
}

impl Fraction {
    /// `0`.
    pub const ZERO: Self = Self { num: 0, den: 1 };
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

impl FromStr for Fraction {
    type Err = String;

    /// `a/b` or a decimal (`0.34`, `1`); at most 9 decimals and a denominator of 10⁹.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not a fraction like 1/3 or 0.34");
        let frac = if let Some((a, b)) = text.split_once('/') {
            let num: u128 = a.trim().parse().map_err(|_| bad())?;
            let den: u128 = b.trim().parse().map_err(|_| bad())?;
            Self { num, den }
        } else {
            let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
            if whole.is_empty() && decimals.is_empty() {
                return Err(bad());
            }
            if decimals.len() > 9 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
            let den = 10u128.pow(decimals.len() as u32);
            let dec: u128 = if decimals.is_empty() { 0 } else { decimals.parse().map_err(|_| bad())? };
            Self { num: whole.checked_mul(den).and_then(|w| w.checked_add(dec)).ok_or_else(bad)?, den }
        };
        if frac.den == 0 || frac.den > MAX_DENOMINATOR || frac.num > MAX_DENOMINATOR * 1000 {
            return Err(bad());
        }
        Ok(frac)
    }
}

/// Who may post, with what weight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// Permitted validators and their stake (rao, or 1 each when the chain reports none).
    pub(crate) stakes: HashMap<String, u128>,
    /// Source-auth hotkeys and the fraction of the total each one's vote carries.
    pub(crate) source_auth: HashMap<String, Fraction>,
    /// Metagraph block the list was built at.
    pub(crate) block: u64,
}

impl Allowlist {
    /// The allowlist of `metagraph`: permit and stake ≥ `min_stake_rao`, plus `source_auth`.
    pub fn from_metagraph(metagraph: &Metagraph, min_stake_rao: u64, source_auth: &HashMap<String, Fraction>) -> Self {
        let stake_known = metagraph.neurons.iter().any(|n| n.stake.is_some());
        let stakes = metagraph
            .neurons
            .iter()
            .filter(|n| n.validator_permit == Some(true))
            .filter_map(|n| match (stake_known, n.stake) {
                (true, Some(s)) if s >= min_stake_rao => Some((n.hotkey.clone(), u128::from(s))),
                (false, _) if min_stake_rao == 0 => Some((n.hotkey.clone(), 1)),
                _ => None,
            })
            .collect();
        Self { stakes, source_auth: source_auth.clone(), block: metagraph.block }
    }

    /// Whether `hotkey` may post.
    pub fn allows(&self, hotkey: &str) -> bool {
        self.stakes.contains_key(hotkey) || self.source_auth.contains_key(hotkey)
    }

    /// The allowed validators' total stake.
    pub(crate) fn total_stake(&self) -> u128 {
        self.stakes.values().sum()
    }

    /// Whether `reporters` together reach `quorum`.
    pub fn reaches(&self, reporters: &BTreeSet<&str>, quorum: Fraction) -> bool {
        let total = self.total_stake();
        let mut stake: u128 = 0;
        // Σ source-auth weights as one fraction over the product of denominators (≤ 3 terms
        // in practice; saturating keeps hostile configurations from overflowing).
        let mut weight = Fraction::ZERO;
        for r in reporters {
            if let Some(f) = self.source_auth.get(*r) {
                weight = Fraction {
                    num: weight.num.saturating_mul(f.den).saturating_add(f.num.saturating_mul(weight.den)),
                    den: weight.den.saturating_mul(f.den),
                };
            } else if let Some(s) = self.stakes.get(*r) {
                stake = stake.saturating_add(*s);
            }
        }
        if total == 0 {
            // No staked validators: only source-auth weight can decide.
            return weight.num.saturating_mul(quorum.den) >= quorum.num.saturating_mul(weight.den) && weight.num > 0;
        }
        // stake/total + wn/wd >= qn/qd  ⇔  stake·wd·qd + wn·total·qd >= qn·total·wd
        let lhs = stake
            .saturating_mul(weight.den)
            .saturating_mul(quorum.den)
            .saturating_add(weight.num.saturating_mul(total).saturating_mul(quorum.den));
        let rhs = quorum.num.saturating_mul(total).saturating_mul(weight.den);
        lhs >= rhs && (stake > 0 || weight.num > 0)
    }
}

/// The window of interval `interval_id`: `[max(I − 500, 0), I]`.
pub fn window(interval_id: u64) -> (u64, u64) {
    (interval_id.saturating_sub(500), interval_id)
}

/// For each interval, the miners whose reporters reach `quorum` (unknown reporters ignored).
pub(crate) fn invalid_by_interval(
    votes: &[Vote],
    allow: &Allowlist,
    quorum: Fraction,
) -> BTreeMap<u64, BTreeSet<String>> {
    let mut grouped: BTreeMap<PackageKey, BTreeSet<&str>> = BTreeMap::new();
    for v in votes.iter().filter(|v| allow.allows(&v.reporter)) {
        let key = PackageKey::new(IntervalId::new(v.interval_id), v.miner_hotkey.as_str());
        grouped.entry(key).or_default().insert(&v.reporter);
    }
    let mut out: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for (PackageKey { interval, miner }, reporters) in grouped {
        if allow.reaches(&reporters, quorum) {
            out.entry(interval.get()).or_default().insert(miner.into_string());
        }
    }
    out
}

/// The sorted union of the invalid miners over the window.
pub(crate) fn invalid_union(votes: &[Vote], allow: &Allowlist, quorum: Fraction) -> Vec<String> {
    let set: BTreeSet<String> = invalid_by_interval(votes, allow, quorum).into_values().flatten().collect();
    set.into_iter().collect()
}

/// Parses `HOTKEY=FRACTION` items (comma or whitespace separated; a bare hotkey weighs 0:
/// it may post, its votes count only with others).
pub fn parse_source_auth(text: &str) -> Result<HashMap<String, Fraction>, String> {
    let mut out = HashMap::new();
    for item in text.split([',', ' ', '\n', '\t']).map(str::trim).filter(|s| !s.is_empty()) {
        let (hotkey, weight) = match item.split_once('=') {
            Some((h, w)) => (h.trim(), w.parse::<Fraction>()?),
            None => (item, Fraction::ZERO),
        };
        if hotkey.is_empty() {
            return Err(format!("{item:?} has no hotkey"));
        }
        out.insert(hotkey.to_string(), weight);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Neuron;

    fn neuron(uid: u16, hotkey: &str, stake: Option<u64>, permit: bool) -> Neuron {
        Neuron { uid, hotkey: hotkey.into(), stake, validator_permit: Some(permit) }
    }

    fn allow(stakes: &[(&str, u128)], source: &[(&str, &str)]) -> Allowlist {
        Allowlist {
            stakes: stakes.iter().map(|(h, s)| (h.to_string(), *s)).collect(),
            source_auth: source.iter().map(|(h, f)| (h.to_string(), f.parse().expect("fraction"))).collect(),
            block: 0,
        }
    }

    #[test]
    fn fractions_parse_exactly() {
        assert_eq!("1/3".parse::<Fraction>(), Ok(Fraction { num: 1, den: 3 }));
        assert_eq!("0.34".parse::<Fraction>(), Ok(Fraction { num: 34, den: 100 }));
        assert_eq!("1".parse::<Fraction>(), Ok(Fraction { num: 1, den: 1 }));
        for bad in ["", "x", "1/0", "-1", "0.1234567891", "1/2/3"] {
            assert!(bad.parse::<Fraction>().is_err(), "{bad}");
        }
    }

    #[test]
    fn quorum_boundary_is_exact() {
        let a = allow(&[("a", 100), ("b", 100), ("c", 100)], &[]);
        let q: Fraction = "1/3".parse().expect("q");
        assert!(a.reaches(&["a"].into(), q), "exactly one third reaches 1/3");
        let a2 = allow(&[("a", 99), ("b", 100), ("c", 101)], &[]);
        assert!(!a2.reaches(&["a"].into(), q), "99/300 is below 1/3");
        assert!(a2.reaches(&["c"].into(), q), "101/300 is above 1/3");
        assert!(!a2.reaches(&BTreeSet::new(), q));
        let half: Fraction = "0.5".parse().expect("q");
        assert!(!a.reaches(&["a"].into(), half));
        assert!(a.reaches(&["a", "b"].into(), half));
    }

    #[test]
    fn source_auth_carries_its_weight() {
        let a = allow(&[("a", 100), ("b", 200)], &[("owner", "0.34"), ("weak", "0")]);
        let q: Fraction = "1/3".parse().expect("q");
        assert!(a.reaches(&["owner"].into(), q), "0.34 ≥ 1/3");
        assert!(!a.reaches(&["weak"].into(), q), "zero weight alone is nothing");
        assert!(a.allows("weak") && a.allows("owner") && !a.allows("z"));
        // 0.2 + 50/300 ≈ 0.367 ≥ 1/3; 0.1 + 0 is not.
        let b = allow(&[("a", 50), ("b", 250)], &[("o", "0.2"), ("p", "0.1")]);
        assert!(b.reaches(&["o", "a"].into(), q));
        assert!(!b.reaches(&["p"].into(), q));
    }

    #[test]
    fn allowlist_needs_permit_and_stake() {
        let m = Metagraph {
            netuid: 1,
            block: 9,
            neurons: vec![
                neuron(0, "v", Some(1000), true),
                neuron(1, "low", Some(999), true),
                neuron(2, "miner", Some(5000), false),
            ],
        };
        let a = Allowlist::from_metagraph(&m, 1000, &HashMap::new());
        assert!(a.allows("v") && !a.allows("low") && !a.allows("miner"));
        assert_eq!(a.total_stake(), 1000);
        let unknown =
            Metagraph { netuid: 1, block: 9, neurons: vec![neuron(0, "v", None, true), neuron(1, "m", None, false)] };
        assert_eq!(Allowlist::from_metagraph(&unknown, 0, &HashMap::new()).stakes.get("v"), Some(&1));
        assert!(
            Allowlist::from_metagraph(&unknown, 1, &HashMap::new()).stakes.is_empty(),
            "unknown stake fails closed"
        );
    }

    #[test]
    fn one_validator_alone_cannot_invalidate() {
        let a = allow(&[("a", 100), ("b", 100), ("c", 100), ("d", 100)], &[]);
        let q: Fraction = "1/3".parse().expect("q");
        let vote =
            |i, m: &str, r: &str| Vote { interval_id: i, miner_hotkey: m.into(), reporter: r.into(), explicit: false };
        let votes = vec![vote(5, "m1", "a"), vote(5, "m2", "a"), vote(5, "m2", "b"), vote(6, "m3", "zz")];
        assert_eq!(invalid_union(&votes, &a, q), vec!["m2".to_string()]);
        assert_eq!(window(700), (200, 700));
        assert_eq!(window(20), (0, 20));
    }

    #[test]
    fn source_auth_list_parses() {
        let m = parse_source_auth("5A=1, 5B  5C=1/3").expect("ok");
        assert_eq!(m.get("5A"), Some(&Fraction { num: 1, den: 1 }));
        assert_eq!(m.get("5B"), Some(&Fraction::ZERO));
        assert!(parse_source_auth("=1").is_err() && parse_source_auth("5A=x").is_err());
    }
}
