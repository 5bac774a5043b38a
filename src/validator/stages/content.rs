//! The content checks on a sampled, verified clip (protocol §8): frames are extracted once
//! (the first frame plus 6 evenly spread), the semantic caption check sees all of them and
//! the category check the three middle spread frames. Trouble on the validator's side marks
//! a check *unavailable* for the row and never fails the miner.

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::{debug, warn};

pub use super::row_checks::LlmUsage;
use super::row_checks::{RowCheck, RowCheckResult};
use crate::dataset::SampledRow;
use crate::llm::category::{CategoryVerdict, judge_category};
use crate::llm::semantic::{SemanticVerdict, has_injection_keyword, instruction_like_phrases, judge_caption};
use crate::llm::{CATEGORY_FRAMES, ChatClient};
use crate::media::ffmpeg::frames_at;
use crate::model::Decision;
use crate::model::Failure;
use crate::protocol::CLIP_DURATION_SEC;
use crate::validator::budget::dependency_wait;

/// Evenly spread frames the semantic check sees besides the first frame.
pub const SPREAD_FRAMES: usize = 6;
/// Largest extracted frame.
const MAX_FRAME_BYTES: u64 = 8 << 20;

/// Times (seconds) of the extracted frames: 0, then the centres of 6 equal slices.
pub fn frame_times(duration: f64) -> Vec<f64> {
    let n = SPREAD_FRAMES as f64;
    std::iter::once(0.0).chain((0..SPREAD_FRAMES).map(|i| duration * (i as f64 + 0.5) / n)).collect()
}

/// Indices (into [`frame_times`]) of the frames the category check sees: the middle three
/// of the six spread frames.
pub fn category_frame_indices() -> std::ops::Range<usize> {
    let start = 1 + SPREAD_FRAMES / 2 - 1;
    start..start + CATEGORY_FRAMES
}

/// The semantic and category checks, each optional.
pub struct ContentChecks {
    /// The semantic caption check's model, if on.
    pub semantic: Option<ChatClient>,
    /// The category check's model, if on.
    pub category: Option<ChatClient>,
    /// Rows per package each check looks at (`..._MAX_SAMPLES`).
    pub semantic_max_samples: usize,
    /// Rows per package the category check looks at.
    pub category_max_samples: usize,
    /// Timeout of extracting a clip's frames.
    pub ffmpeg_timeout: Duration,
}

impl ContentChecks {
    fn unavailable(&self, out: &mut RowCheckResult, check: &str, row: &SampledRow, reason: String) {
        warn!(check, clip_id = %row.clip_id, reason = %reason, "LLM check unavailable for this row; the miner is not penalised");
        out.llm.unavailable += 1;
        out.unavailable.push(format!("{check}:{}: {reason}", row.clip_id));
    }

    fn unusable(&self, out: &mut RowCheckResult, check: &str, row: &SampledRow, reason: String, failure: Failure) {
        warn!(check, clip_id = %row.clip_id, reason = %reason, "the model answered without a usable verdict");
        out.remarks.push(format!("{check}:{}: unusable reply: {reason}", row.clip_id));
        out.failures.push(failure);
    }

    async fn semantic(&self, client: &ChatClient, row: &SampledRow, frames: &[Vec<u8>], out: &mut RowCheckResult) {
        let started = Instant::now();
        let verdict = {
            let _not_the_miners_time = dependency_wait();
            judge_caption(client, &row.caption, frames).await
        };
        out.llm.record(started);
        debug!(clip_id = %row.clip_id, ?verdict, "semantic check");
        match verdict {
            SemanticVerdict::Match => out.llm.answered(true),
            SemanticVerdict::Mismatch => {
                out.llm.answered(true);
                out.failures.push(Failure::CaptionSemanticMismatch { clip_id: row.clip_id.clone() })
            }
            SemanticVerdict::Unusable(reason) => {
                out.llm.answered(false);
                let failure = Failure::CaptionSemanticResponseInvalid { clip_id: row.clip_id.clone() };
                self.unusable(out, "semantic", row, reason, failure);
            }
            SemanticVerdict::Unavailable(reason) => self.unavailable(out, "semantic", row, reason),
        }
    }

    async fn category(&self, client: &ChatClient, row: &SampledRow, frames: &[Vec<u8>], out: &mut RowCheckResult) {
        let started = Instant::now();
        let verdict = {
            let _not_the_miners_time = dependency_wait();
            judge_category(client, frames).await
        };
        out.llm.record(started);
        debug!(clip_id = %row.clip_id, ?verdict, "category check");
        match verdict {
            CategoryVerdict::Accept(_) => out.llm.answered(true),
            CategoryVerdict::Reject(score) => {
                out.llm.answered(true);
                out.remarks.push(format!(
                    "category:{}: {} (nature wins {}/3, mean nature {:.3}, margin {:.3})",
                    row.clip_id,
                    score.reject_reasons().join(", "),
                    score.nature_wins,
                    score.avg_nature,
                    score.margin
                ));
                out.failures.push(Failure::CategoryStrictReject { clip_id: row.clip_id.clone() });
            }
            CategoryVerdict::Unusable(reason) => {
                out.llm.answered(false);
                let failure = Failure::CategoryStrictResponseInvalid { clip_id: row.clip_id.clone() };
                self.unusable(out, "category", row, reason, failure);
            }
            CategoryVerdict::Unavailable(reason) => self.unavailable(out, "category", row, reason),
        }
    }
}

#[async_trait]
impl RowCheck for ContentChecks {
    fn name(&self) -> &'static str {
        "content"
    }

    async fn check(&self, row: &SampledRow, position: usize, clip: &Path) -> RowCheckResult {
        let mut out = RowCheckResult::default();
        let semantic = self.semantic.as_ref().filter(|_| position < self.semantic_max_samples);
        let category = self.category.as_ref().filter(|_| position < self.category_max_samples);
        if semantic.is_some() {
            if has_injection_keyword(&row.caption) {
                out.failures.push(Failure::CaptionSemanticInjectionKeyword { clip_id: row.clip_id.clone() });
            } else {
                let phrases = instruction_like_phrases(&row.caption);
                if !phrases.is_empty() {
                    warn!(clip_id = %row.clip_id, ?phrases, "caption contains instruction-like text");
                    out.remarks.push(format!("caption:{}: instruction-like text: {}", row.clip_id, phrases.join(", ")));
                }
            }
        }
        let semantic = semantic.filter(|_| out.failures.is_empty());
        if semantic.is_none() && category.is_none() {
            return out;
        }
        let frames = match frames_at(clip, &frame_times(CLIP_DURATION_SEC), self.ffmpeg_timeout, MAX_FRAME_BYTES).await
        {
            Ok(frames) => frames,
            Err(e) => {
                // The clip already passed the media probe, so frames that cannot be read
                // are the clip's fault for the category check; the semantic check is ours.
                debug!(clip_id = %row.clip_id, error = %e, "cannot extract frames");
                if semantic.is_some() {
                    self.unavailable(&mut out, "semantic", row, format!("frames: {e}"));
                }
                if category.is_some() {
                    out.failures.push(Failure::CategoryStrictFramesMissing { clip_id: row.clip_id.clone() });
                }
                return out;
            }
        };
        if let Some(client) = semantic {
            self.semantic(client, row, &frames, &mut out).await;
        }
        if let Some(client) = category {
            match frames.get(category_frame_indices()) {
                Some(middle) => self.category(client, row, middle, &mut out).await,
                None => out.failures.push(Failure::CategoryStrictFramesMissing { clip_id: row.clip_id.clone() }),
            }
        }
        out
    }
}

/// Turns the unusable-reply failures of `decisions` into *unavailable* notes when the
/// model looks broken over the interval (`usage`), re-deciding acceptance. Returns how many
/// failures were forgiven.
pub fn forgive_unusable_replies(decisions: &mut [&mut Decision], usage: &LlmUsage) -> usize {
    if usage.unusable == 0 || !usage.model_looks_broken() {
        return 0;
    }
    tracing::error!(
        replies = usage.replies,
        unusable = usage.unusable,
        "more than half of this interval's model replies were unusable: the model looks broken; \
         unusable replies count as unavailable, not as miner failures"
    );
    let mut forgiven = 0;
    for d in decisions.iter_mut() {
        let (unusable, kept): (Vec<Failure>, Vec<Failure>) =
            std::mem::take(&mut d.failures).into_iter().partition(Failure::is_unusable_reply);
        d.failures = kept;
        if !unusable.is_empty() {
            forgiven += unusable.len();
            let note = |f: &Failure| format!("{f}: unavailable, the model looks broken this interval");
            d.notes.unavailable_checks.extend(unusable.iter().map(note));
            d.accepted = d.failures.is_empty();
        }
    }
    forgiven
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_the_first_and_six_slice_centres_and_the_middle_three() {
        let t = frame_times(6.0);
        assert_eq!(t, vec![0.0, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
        assert_eq!(category_frame_indices(), 3..6);
        assert_eq!(&t[category_frame_indices()], &[2.5, 3.5, 4.5]);
    }
}
