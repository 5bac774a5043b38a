//! Which instants of a clip the source check compares: drawn per clip from randomness the
//! miner cannot know when publishing (the hash of the interval's deadline block, the
//! validator's hotkey and the clip id), so no part of a clip can be left unchecked on
//! purpose. The clip's first and last 0.2 s always contribute one sample each; the span
//! between is cut into [`JITTERED_INSTANTS`] equal strata with one sample drawn in each.

use sha2::{Digest, Sha256};

/// Instants drawn inside the clip, one per equal stratum (besides the two ends).
pub const JITTERED_INSTANTS: usize = 12;
/// Samples at each end of the clip one of which is always compared (0.2 s at 10 fps).
pub(crate) const END_SAMPLES: usize = 2;

/// The seed text of one clip's instants: `source-instants:{randomness}:{validator}:{clip_id}`.
/// `randomness` is the deadline block's hash when known, else the interval seed.
pub fn instant_seed(randomness: &str, validator_hotkey: Option<&str>, clip_id: &str) -> String {
    format!("source-instants:{randomness}:{}:{clip_id}", validator_hotkey.unwrap_or(""))
}

/// The compared sample indices (ascending, distinct) of a clip of `samples` samples for
/// `seed`: one of the first [`END_SAMPLES`], one in each of [`JITTERED_INSTANTS`] strata
/// of the samples between the ends, one of the last [`END_SAMPLES`]. A clip too short for
/// strata gives every sample.
pub fn plan_instants(seed: &str, samples: usize) -> Vec<usize> {
    let inner = samples.saturating_sub(2 * END_SAMPLES);
    if inner < JITTERED_INSTANTS {
        return (0..samples).collect();
    }
    let digest = Sha256::digest(seed.as_bytes());
    // Two bytes per draw: 14 draws fit the 32-byte digest.
    let draw = |i: usize, width: usize| -> usize {
        let v = u16::from_be_bytes([digest[2 * i], digest[2 * i + 1]]);
        usize::from(v) % width.max(1)
    };
    let mut out = Vec::with_capacity(JITTERED_INSTANTS + 2);
    out.push(draw(0, END_SAMPLES));
    for k in 0..JITTERED_INSTANTS {
        let lo = END_SAMPLES + k * inner / JITTERED_INSTANTS;
        let hi = END_SAMPLES + (k + 1) * inner / JITTERED_INSTANTS;
        out.push(lo + draw(k + 1, hi - lo));
    }
    out.push(samples - END_SAMPLES + draw(JITTERED_INSTANTS + 1, END_SAMPLES));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_cover_the_whole_clip_and_depend_on_every_input() {
        let plan = plan_instants(&instant_seed("abc", Some("v"), "clip"), 50);
        assert_eq!(plan.len(), JITTERED_INSTANTS + 2);
        assert!(plan.windows(2).all(|w| w[0] < w[1]), "{plan:?}");
        assert!(plan[0] < END_SAMPLES && plan[plan.len() - 1] >= 50 - END_SAMPLES, "{plan:?}");
        // No gap between compared samples is longer than two strata (~0.8 s).
        assert!(plan.windows(2).all(|w| w[1] - w[0] <= 2 * 46 / JITTERED_INSTANTS + 1), "{plan:?}");
        for other in [
            instant_seed("abd", Some("v"), "clip"),
            instant_seed("abc", Some("w"), "clip"),
            instant_seed("abc", Some("v"), "clip2"),
        ] {
            assert_ne!(plan_instants(&other, 50), plan, "{other}");
        }
        assert_eq!(plan_instants(&instant_seed("abc", Some("v"), "clip"), 50), plan, "deterministic");
        assert_eq!(plan_instants("x", 5), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn every_sample_is_drawn_for_some_seed() {
        let mut seen = [false; 50];
        for i in 0..400 {
            for s in plan_instants(&format!("seed{i}"), 50) {
                seen[s] = true;
            }
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
    }
}
