//! The quorum cache: the invalid votes of recent intervals and, per interval, the miners
//! whose reporters reach the quorum, kept in memory and updated on each POST (votes change
//! only there), so that `GET /v1/invalid-hotkeys` and the status page never scan the votes
//! in the store. Intervals below the floor (the current block minus [`CACHE_SPAN`]) are
//! dropped; a window that reaches below it is answered from the store.
//!
//! A vote is a rejected decision (replaced by the validator's later decision about the same
//! miner and interval) or an explicit invalid post (kept), exactly like the store's union.

use crate::protocol::IntervalId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::quorum::{Allowlist, Fraction};
use super::store::{DecisionRow, Vote};

/// Interval ids kept below the current block (four quorum windows).
pub(crate) const CACHE_SPAN: u64 = 2000;

/// Who voted a miner invalid at one interval.
#[derive(Debug, Clone, Default)]
struct Reporters {
    /// Validators whose latest decision rejected the miner.
    rejected: BTreeSet<String>,
    /// Validators that posted the miner as invalid.
    explicit: BTreeSet<String>,
}

impl Reporters {
    fn is_empty(&self) -> bool {
        self.rejected.is_empty() && self.explicit.is_empty()
    }

    fn reach(&self, allow: &Allowlist, quorum: Fraction) -> bool {
        let all: BTreeSet<&str> =
            self.rejected.iter().chain(&self.explicit).map(String::as_str).filter(|r| allow.allows(r)).collect();
        allow.reaches(&all, quorum)
    }
}

/// One change a POST made, as the cache applies it.
#[derive(Debug, Clone)]
pub(crate) enum VoteChange {
    /// A results post: each decision sets or clears the validator's rejection.
    Results { validator: String, interval_id: u64, decisions: Vec<(String, bool)> },
    /// An invalid-hotkeys post.
    Invalid { validator: String, interval_id: u64, hotkeys: Vec<String> },
}

impl VoteChange {
    /// The change of a results post.
    pub(crate) fn results(validator: &str, interval_id: u64, rows: &[DecisionRow]) -> Self {
        let decisions = rows.iter().map(|d| (d.miner_hotkey.clone(), d.accepted)).collect();
        Self::Results { validator: validator.to_string(), interval_id, decisions }
    }
}

/// The cached votes and quorum results from `floor` up.
#[derive(Debug)]
pub(crate) struct VoteCache {
    floor: u64,
    quorum: Fraction,
    allow: Arc<Allowlist>,
    votes: BTreeMap<u64, HashMap<String, Reporters>>,
    invalid: BTreeMap<u64, BTreeSet<String>>,
}

impl VoteCache {
    /// A cache of `votes` (everything the store holds from `floor` up).
    pub(crate) fn new(floor: u64, votes: Vec<Vote>, allow: Arc<Allowlist>, quorum: Fraction) -> Self {
        let mut cache = Self { floor, quorum, allow, votes: BTreeMap::new(), invalid: BTreeMap::new() };
        for v in votes.into_iter().filter(|v| v.interval_id >= floor) {
            let entry = cache.votes.entry(v.interval_id).or_default().entry(v.miner_hotkey).or_default();
            if v.explicit {
                entry.explicit.insert(v.reporter);
            } else {
                entry.rejected.insert(v.reporter);
            }
        }
        cache.recompute_all();
        cache
    }

    /// The lowest interval cached.
    pub(crate) fn floor(&self) -> u64 {
        self.floor
    }

    fn recompute_all(&mut self) {
        self.invalid.clear();
        for (interval, miners) in &self.votes {
            let set: BTreeSet<String> =
                miners.iter().filter(|(_, r)| r.reach(&self.allow, self.quorum)).map(|(m, _)| m.clone()).collect();
            if !set.is_empty() {
                self.invalid.insert(*interval, set);
            }
        }
    }

    fn recompute(&mut self, interval: u64, miner: &str) {
        let reach =
            self.votes.get(&interval).and_then(|m| m.get(miner)).is_some_and(|r| r.reach(&self.allow, self.quorum));
        if reach {
            self.invalid.entry(interval).or_default().insert(miner.to_string());
        } else if let Some(set) = self.invalid.get_mut(&interval) {
            set.remove(miner);
            if set.is_empty() {
                self.invalid.remove(&interval);
            }
        }
    }

    /// Applies one stored POST.
    pub(crate) fn apply(&mut self, change: &VoteChange) {
        match change {
            VoteChange::Results { validator, interval_id, decisions } if *interval_id >= self.floor => {
                for (miner, accepted) in decisions {
                    let miners = self.votes.entry(*interval_id).or_default();
                    let r = miners.entry(miner.clone()).or_default();
                    if *accepted {
                        r.rejected.remove(validator);
                    } else {
                        r.rejected.insert(validator.clone());
                    }
                    if r.is_empty() {
                        miners.remove(miner);
                    }
                    self.recompute(*interval_id, miner);
                }
                if self.votes.get(interval_id).is_some_and(HashMap::is_empty) {
                    self.votes.remove(interval_id);
                }
            }
            VoteChange::Invalid { validator, interval_id, hotkeys } if *interval_id >= self.floor => {
                for miner in hotkeys {
                    let r = self.votes.entry(*interval_id).or_default().entry(miner.clone()).or_default();
                    r.explicit.insert(validator.clone());
                    self.recompute(*interval_id, miner);
                }
            }
            _ => {}
        }
    }

    /// Uses `allow` from now on (recomputing every result when it changed).
    pub(crate) fn set_allowlist(&mut self, allow: &Arc<Allowlist>) {
        if !Arc::ptr_eq(&self.allow, allow) {
            self.allow = allow.clone();
            self.recompute_all();
        }
    }

    /// Raises the floor to `floor`, dropping the intervals below it.
    pub(crate) fn raise_floor(&mut self, floor: u64) {
        if floor > self.floor {
            self.floor = floor;
            self.votes = self.votes.split_off(&floor);
            self.invalid = self.invalid.split_off(&floor);
        }
    }

    /// The sorted union of the invalid miners over `intervals`; `None` when it starts below
    /// the floor (the caller asks the store).
    pub(crate) fn invalid_union(&self, intervals: RangeInclusive<IntervalId>) -> Option<Vec<String>> {
        let (lo, hi) = (intervals.start().get(), intervals.end().get());
        if lo < self.floor || lo > hi {
            return None;
        }
        let set: BTreeSet<&String> = self.invalid.range(lo..=hi).flat_map(|(_, s)| s).collect();
        Some(set.into_iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(stakes: &[(&str, u128)]) -> Arc<Allowlist> {
        let list = Allowlist {
            stakes: stakes.iter().map(|(h, s)| (h.to_string(), *s)).collect(),
            source_auth: HashMap::new(),
            block: 0,
        };
        Arc::new(list)
    }

    fn row(miner: &str, accepted: bool) -> DecisionRow {
        DecisionRow {
            miner_hotkey: miner.into(),
            accepted,
            failures: if accepted { vec![] } else { vec!["x".into()] },
            record_count: 0,
            global_overlap_pruned_count: 0,
            cross_miner_overlap_pruned_count: 0,
        }
    }

    #[test]
    fn posts_update_the_quorum_without_a_scan() {
        let q = Fraction { num: 1, den: 3 };
        let a = allow(&[("a", 100), ("b", 100), ("c", 100)]);
        let mut c = VoteCache::new(0, vec![], a.clone(), q);
        c.apply(&VoteChange::results("a", 10, &[row("m", false)]));
        assert_eq!(
            c.invalid_union(IntervalId::new(0)..=IntervalId::new(10)),
            Some(vec!["m".to_string()]),
            "a third reaches 1/3"
        );
        c.apply(&VoteChange::results("a", 10, &[row("m", true)]));
        assert_eq!(
            c.invalid_union(IntervalId::new(0)..=IntervalId::new(10)),
            Some(vec![]),
            "a later acceptance clears the vote"
        );
        c.apply(&VoteChange::Invalid { validator: "a".into(), interval_id: 10, hotkeys: vec!["m".into()] });
        c.apply(&VoteChange::results("a", 10, &[row("m", true)]));
        assert_eq!(
            c.invalid_union(IntervalId::new(0)..=IntervalId::new(10)),
            Some(vec!["m".to_string()]),
            "an explicit mark stays"
        );
        // A stricter allowlist (a's stake now a quarter) is applied to every result.
        c.set_allowlist(&allow(&[("a", 100), ("b", 100), ("c", 100), ("d", 100)]));
        assert_eq!(c.invalid_union(IntervalId::new(0)..=IntervalId::new(10)), Some(vec![]));
        c.raise_floor(5);
        assert_eq!(c.invalid_union(IntervalId::new(4)..=IntervalId::new(10)), None, "below the floor: ask the store");
        for v in ["c", "d"] {
            c.apply(&VoteChange::Invalid { validator: v.into(), interval_id: 12, hotkeys: vec!["n".into()] });
        }
        c.raise_floor(11);
        assert!(c.votes.keys().all(|i| *i >= 11) && c.invalid.keys().all(|i| *i >= 11), "interval 10 dropped");
        assert_eq!(c.invalid_union(IntervalId::new(11)..=IntervalId::new(20)), Some(vec!["n".to_string()]));
    }
}
