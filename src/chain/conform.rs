//! Weights conformed to a subnet's rules the way the Bittensor SDK 11.3 does it
//! (`bittensor/intents/weights.py`: `_conform`, `clip_to_max_weight`, `normalize`), so what we
//! send is what the chain accepts at reveal time: clip to `MaxWeightsLimit`, max-upscale to
//! u16 with Python's `round` (half to even), drop zeros, and require `MinAllowedWeights`
//! non-zero weights. A single self-weight is exempt from both limits, as on chain.
//!
//! The float arithmetic follows the SDK operation by operation (including Python's `sum`, which
//! since CPython 3.12 is Neumaier-compensated, and `itertools.accumulate`, which is not), so the
//! results match the SDK's bit for bit; `tests/commit-reveal-v2-vectors.json` holds 60 cases.

use super::Uid;

/// The subnet rules weights are conformed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConformRules {
    /// The signing hotkey's uid (a lone weight on it is a self-weight), if registered.
    pub self_uid: Option<u32>,
    /// `MinAllowedWeights[netuid]`: non-zero weights the chain requires.
    pub min_allowed_weights: u64,
    /// `MaxWeightsLimit[netuid]`: the largest share of the total a weight may have, of 65535.
    pub max_weight_limit: u16,
}

/// Why weights cannot be conformed; the messages are the SDK's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConformError {
    /// `uids` and `weights` differ in length.
    #[error("uids and weights must be equal length: {0} vs {1}.")]
    LengthMismatch(usize, usize),
    /// A weight is negative, NaN or infinite.
    #[error("Weights must be finite and non-negative.")]
    BadWeight,
    /// A uid is outside 0..=65535.
    #[error("UIDs must be in 0..65535.")]
    BadUid,
    /// A uid appears twice (the chain's `DuplicateUids`).
    #[error("Duplicate UIDs in weights; each UID may appear once.")]
    DuplicateUids,
    /// Nothing is left after normalisation.
    #[error("All weights are zero; nothing to set.")]
    AllZero,
    /// Fewer non-zero weights than `MinAllowedWeights` (the chain's `WeightVecLengthIsLow`).
    #[error("Subnet {netuid} requires at least {required} weights; only {nonzero} are nonzero after normalization.")]
    TooFewWeights {
        /// The subnet id.
        netuid: u16,
        /// `MinAllowedWeights`.
        required: u64,
        /// Non-zero weights after normalisation.
        nonzero: usize,
    },
}

impl ConformError {
    /// The SDK's exception class for this error (`ChainError` or `BittensorError`), so a
    /// report reads `Class: message` exactly as the SDK prints it.
    pub fn sdk_class(&self) -> &'static str {
        match self {
            ConformError::TooFewWeights { .. } => "ChainError",
            _ => "BittensorError",
        }
    }

    /// `Class: message`, as the SDK's exception prints.
    pub fn sdk_text(&self) -> String {
        format!("{}: {self}", self.sdk_class())
    }
}

/// Python's built-in `sum` of floats (CPython ≥ 3.12: Neumaier compensated summation).
pub(crate) fn py_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut total, mut compensation) = (0.0f64, 0.0f64);
    for x in values {
        let t = total + x;
        compensation += if total.abs() >= x.abs() { (total - t) + x } else { (x - t) + total };
        total = t;
    }
    if compensation != 0.0 && compensation.is_finite() { total + compensation } else { total }
}

/// Weights scaled to sum 1 with none above `limit` (a share of the total): the SDK's
/// `clip_to_max_weight`. Mass above a cutoff is redistributed so the largest lands on the limit;
/// a limit no distribution meets (`n × limit ≤ 1`) gives the uniform distribution.
pub fn clip_to_max_weight(weights: &[f64], limit: f64) -> Result<Vec<f64>, ConformError> {
    let n = weights.len();
    let total = py_sum(weights.iter().copied());
    if n == 0 || total.is_nan() || total <= 0.0 {
        return Err(ConformError::AllZero);
    }
    let nf = n as f64;
    if nf * limit <= 1.0 {
        return Ok(vec![1.0 / nf; n]);
    }
    let mut estimation: Vec<f64> = weights.iter().map(|w| w / total).collect();
    estimation.sort_by(f64::total_cmp);
    if estimation.last().is_some_and(|top| *top <= limit) {
        return Ok(weights.iter().map(|w| w / total).collect());
    }
    let epsilon = 1e-7;
    let cumsum: Vec<f64> = estimation
        .iter()
        .scan(0.0f64, |acc, e| {
            *acc += e;
            Some(*acc)
        })
        .collect();
    let n_values = estimation
        .iter()
        .zip(&cumsum)
        .enumerate()
        .filter(|(i, (e, c))| *e / ((n - i - 1) as f64 * *e + *c + epsilon) < limit)
        .count();
    // Python's `cumsum[n_values - 1]` with n_values = 0 reads the last element.
    let pivot = cumsum.get(n_values.wrapping_sub(1)).or(cumsum.last()).copied().unwrap_or(0.0);
    let cutoff_scale = (limit * pivot - epsilon) / (1.0 - limit * (n - n_values) as f64);
    let cutoff = cutoff_scale * total;
    let clipped: Vec<f64> = weights.iter().map(|&w| if cutoff < w { cutoff } else { w }).collect();
    let clipped_total = py_sum(clipped.iter().copied());
    Ok(clipped.iter().map(|w| w / clipped_total).collect())
}

/// Max-upscale to u16 (the largest weight becomes 65535, Python's `round`: half to even) and
/// drop zeros: the SDK's `normalize`. All-zero input gives two empty lists.
pub fn normalize(uids: &[u32], weights: &[f64]) -> Result<(Vec<Uid>, Vec<u16>), ConformError> {
    if uids.len() != weights.len() {
        return Err(ConformError::LengthMismatch(uids.len(), weights.len()));
    }
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return Err(ConformError::BadWeight);
    }
    let uids: Vec<Uid> =
        uids.iter().map(|&u| Uid::try_from(u).map_err(|_| ConformError::BadUid)).collect::<Result<_, _>>()?;
    // Python's `max` keeps the first of equal values; for non-NaN floats that is the value.
    let top = weights.iter().copied().fold(0.0f64, f64::max);
    if top == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    Ok(uids
        .iter()
        .zip(weights)
        .filter_map(|(&uid, &w)| {
            let value = ((w / top) * f64::from(u16::MAX)).round_ties_even();
            (value != 0.0).then_some((uid, value.clamp(0.0, f64::from(u16::MAX)) as u16))
        })
        .unzip())
}

/// Weights fitted to the subnet's rules and quantised, the SDK's `_conform`: clip to
/// `MaxWeightsLimit` (unless it is 65535 or this is a single self-weight), normalise, and
/// require `MinAllowedWeights` non-zero weights (a single self-weight is exempt).
pub fn conform(
    uids: &[u32],
    weights: &[f64],
    rules: &ConformRules,
    netuid: u16,
) -> Result<(Vec<Uid>, Vec<u16>), ConformError> {
    if uids.len() != weights.len() {
        return Err(ConformError::LengthMismatch(uids.len(), weights.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    if !uids.iter().all(|u| seen.insert(*u)) {
        return Err(ConformError::DuplicateUids);
    }
    let is_self_weight = rules.self_uid.is_some_and(|me| uids == [me]);
    let mut floats = weights.to_vec();
    if !is_self_weight && rules.max_weight_limit < u16::MAX {
        if floats.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(ConformError::BadWeight);
        }
        floats = clip_to_max_weight(&floats, f64::from(rules.max_weight_limit) / f64::from(u16::MAX))?;
    }
    let (out_uids, values) = normalize(uids, &floats)?;
    if out_uids.is_empty() {
        return Err(ConformError::AllZero);
    }
    if !is_self_weight && (out_uids.len() as u64) < rules.min_allowed_weights {
        return Err(ConformError::TooFewWeights {
            netuid,
            required: rules.min_allowed_weights,
            nonzero: out_uids.len(),
        });
    }
    Ok((out_uids, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(min: u64, max: u16) -> ConformRules {
        ConformRules { self_uid: Some(9), min_allowed_weights: min, max_weight_limit: max }
    }

    #[test]
    fn python_sum_is_compensated() {
        // Naive left-to-right addition loses the 1.0 entirely; CPython 3.12's sum keeps it.
        assert_eq!(py_sum([1e16, 1.0, -1e16]), 1.0);
        assert_eq!(py_sum([0.1, 0.2, 0.3]), 0.6);
        assert_eq!(py_sum([]), 0.0);
    }

    #[test]
    fn rounding_is_half_to_even_and_zeros_are_dropped() {
        // 0.5/1 * 65535 = 32767.5 -> 32768 (even); 1/131070 * 65535 = 0.5 -> 0, dropped.
        let (uids, values) = normalize(&[1, 2, 3], &[1.0, 0.5, 1.0 / 131_070.0]).expect("normalize");
        assert_eq!((uids, values), (vec![1, 2], vec![65535, 32768]));
        assert_eq!(normalize(&[1], &[0.0]), Ok((vec![], vec![])));
        assert_eq!(normalize(&[1], &[f64::NAN]), Err(ConformError::BadWeight));
        assert_eq!(normalize(&[70_000], &[1.0]), Err(ConformError::BadUid));
        assert_eq!(normalize(&[1, 2], &[1.0]), Err(ConformError::LengthMismatch(2, 1)));
    }

    #[test]
    fn clipping_caps_the_largest_share_at_the_limit() {
        let clipped = clip_to_max_weight(&[10.0, 1.0, 1.0, 1.0], 0.4).expect("clip");
        let top = clipped.iter().copied().fold(0.0, f64::max);
        assert!(top <= 0.4 && top > 0.399, "{clipped:?}");
        assert!((clipped.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // No distribution of 2 weights keeps both under 0.4: uniform.
        assert_eq!(clip_to_max_weight(&[3.0, 1.0], 0.4), Ok(vec![0.5, 0.5]));
        assert_eq!(clip_to_max_weight(&[0.0, 0.0], 0.4), Err(ConformError::AllZero));
    }

    #[test]
    fn min_allowed_weights_spares_only_a_single_self_weight() {
        assert_eq!(conform(&[9], &[1.0], &rules(8, 100), 1), Ok((vec![9], vec![65535])));
        let err = conform(&[3], &[1.0], &rules(8, 65535), 7).expect_err("too few");
        assert_eq!(err, ConformError::TooFewWeights { netuid: 7, required: 8, nonzero: 1 });
        assert_eq!(
            err.sdk_text(),
            "ChainError: Subnet 7 requires at least 8 weights; only 1 are nonzero after normalization."
        );
        assert_eq!(conform(&[3, 3], &[1.0, 1.0], &rules(0, 65535), 1), Err(ConformError::DuplicateUids));
        assert_eq!(conform(&[3, 4], &[0.0, 0.0], &rules(0, 65535), 1), Err(ConformError::AllZero));
        assert_eq!(ConformError::AllZero.sdk_text(), "BittensorError: All weights are zero; nothing to set.");
    }
}
