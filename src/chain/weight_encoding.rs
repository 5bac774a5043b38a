//! The u16 encoding of a weight vector the chain takes (protocol §11): the largest weight
//! becomes 65535, the others scale with it and round half to even, zeros are dropped.
//! Scoring, which decides the weights, lives in the validator (`validator::scoring`).

use super::Uid;

/// The chain's u16 form: the largest weight becomes 65535, the others scale with it and
/// round half to even; zero entries are dropped.
pub fn to_u16(uids: &[Uid], weights: &[f64]) -> (Vec<Uid>, Vec<u16>) {
    let max = weights.iter().copied().fold(0.0f64, f64::max);
    if max <= 0.0 {
        return (Vec::new(), Vec::new());
    }
    uids.iter()
        .zip(weights)
        .map(|(&uid, &w)| (uid, (w / max * f64::from(u16::MAX)).round_ties_even().clamp(0.0, 65535.0) as u16))
        .filter(|(_, w)| *w > 0)
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even_rounding_and_zero_dropping() {
        // 0.5 / 1 * 65535 = 32767.5 rounds to the even 32768; 1/131070*65535 = 0.5 rounds to 0.
        assert_eq!(to_u16(&[1, 2], &[1.0, 0.5]), (vec![1, 2], vec![65535, 32768]));
        assert_eq!(to_u16(&[1, 2, 3], &[1.0, 0.0, 1.0 / 131_070.0]), (vec![1], vec![65535]));
        assert_eq!(to_u16(&[1], &[0.0]), (vec![], vec![]));
    }
}
