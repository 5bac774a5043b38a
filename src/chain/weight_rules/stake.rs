//! A hotkey's stake as subtensor counts it for weights (`get_stake_weights_for_hotkey_on_subnet`).
//!
//! Units: everything is in rao-sized units (10⁻⁹). Alpha stake is alpha rao on the subnet
//! (`TotalHotkeyAlpha[hotkey][netuid]`); root stake is TAO rao (`TotalHotkeyAlpha[hotkey][0]`).
//! The stake weight is `alpha + TaoWeight/(2⁶⁴−1) × tao`, each side after the hotkey's
//! child/parent delegation on the subnet (`ChildKeys`/`ParentKeys` proportions, u64 parts of
//! 2⁶⁴−1): what the hotkey gives its children is taken off, what it inherits from its
//! parents is added. The chain computes in fixed point (U96F32/I64F64); this integer form
//! floors each product and can differ from it by a few rao, never more.

/// One hotkey's raw stake on a subnet and on root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawStake {
    /// `TotalHotkeyAlpha[hotkey][netuid]`, alpha rao.
    pub alpha: u64,
    /// `TotalHotkeyAlpha[hotkey][0]`, TAO rao.
    pub tao: u64,
}

/// What a hotkey gives and inherits on a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delegation {
    /// `ChildKeys[hotkey][netuid]` proportions (parts of u64::MAX).
    pub to_children: Vec<u64>,
    /// `ParentKeys[hotkey][netuid]`: each parent's proportion and its raw stake.
    pub from_parents: Vec<(u64, RawStake)>,
}

/// `value × proportion / (2⁶⁴−1)`, floored.
fn share(value: u64, proportion: u64) -> u128 {
    u128::from(value) * u128::from(proportion) / u128::from(u64::MAX)
}

/// `own` after giving to children and inheriting from parents, saturating like the chain.
fn inherited(own: u64, delegation: &Delegation, pick: impl Fn(&RawStake) -> u64) -> u128 {
    let given: u128 = delegation.to_children.iter().map(|p| share(own, *p)).sum();
    let received: u128 = delegation.from_parents.iter().map(|(p, s)| share(pick(s), *p)).sum();
    u128::from(own).saturating_sub(given).saturating_add(received)
}

/// The stake weight (alpha rao) of a hotkey with `own` stake and `delegation`, with the
/// chain's `TaoWeight` (parts of u64::MAX). Saturates at u64::MAX.
pub fn stake_weight(own: RawStake, delegation: &Delegation, tao_weight: u64) -> u64 {
    let alpha = inherited(own.alpha, delegation, |s| s.alpha).min(u128::from(u64::MAX));
    let tao = inherited(own.tao, delegation, |s| s.tao).min(u128::from(u64::MAX));
    let weighted_tao = tao * u128::from(tao_weight) / u128::from(u64::MAX);
    u64::try_from(alpha.saturating_add(weighted_tao)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_plus_tao_weight_times_root_stake() {
        let own = RawStake { alpha: 1_000, tao: 2_000 };
        assert_eq!(stake_weight(own, &Delegation::default(), 0), 1_000);
        assert_eq!(stake_weight(own, &Delegation::default(), u64::MAX), 3_000);
        assert_eq!(stake_weight(own, &Delegation::default(), u64::MAX / 2), 1_999);
    }

    #[test]
    fn children_take_and_parents_give() {
        let half = u64::MAX / 2;
        let parent = RawStake { alpha: 4_000, tao: 0 };
        let d = Delegation { to_children: vec![half], from_parents: vec![(half, parent)] };
        // 1000 - 499 (floor of half of 1000) + 1999 (floor of half of 4000).
        assert_eq!(stake_weight(RawStake { alpha: 1_000, tao: 0 }, &d, 0), 1_000 - 499 + 1_999);
        let huge = Delegation { from_parents: vec![(u64::MAX, RawStake { alpha: u64::MAX, tao: u64::MAX })], ..d };
        assert_eq!(stake_weight(RawStake { alpha: u64::MAX, tao: u64::MAX }, &huge, u64::MAX), u64::MAX);
    }
}
