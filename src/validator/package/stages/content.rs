//! The content checks on a sampled, verified clip (protocol §8): frames are extracted once
//! (the first frame plus 6 evenly spread), the semantic caption check sees all of them and
//! the category check the three middle spread frames. Trouble on the validator's side marks
//! a check *unavailable* for the row and never fails the miner.

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::{debug, warn};

pub(crate) use super::row_checks::LlmUsage;
use super::row_checks::{RowCheck, RowCheckResult};
use crate::dataset::SampledRow;
use crate::llm::category::{CategoryVerdict, judge_category};
use crate::llm::semantic::{SemanticVerdict, has_injection_keyword, instruction_like_phrases, judge_caption};
use crate::llm::{CATEGORY_FRAMES, ChatClient};
use crate::media::ffmpeg::frames_at;
use crate::model::Decision;
use crate::model::{Failure, FailureCode};
use crate::protocol::CLIP_DURATION_SEC;
use crate::validator::package::PackageRequest;
use crate::validator::package::budget::dependency_wait;

/// Evenly spread frames the semantic check sees besides the first frame.
pub(crate) const SPREAD_FRAMES: usize = 6;
/// Largest extracted frame.
const MAX_FRAME_BYTES: u64 = 8 << 20;

/// Times (seconds) of the extracted frames: 0, then the centres of 6 equal slices.
pub(crate) fn frame_times(duration: f64) -> Vec<f64> {
    let n = SPREAD_FRAMES as f64;
    std::iter::once(0.0).chain((0..SPREAD_FRAMES).map(|i| duration * (i as f64 + 0.5) / n)).collect()
}

/// Indices (into [`frame_times`]) of the frames the category check sees: the middle three
/// of the six spread frames.
pub(crate) fn category_frame_indices() -> std::ops::Range<usize> {
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
    async fn check(&self, _req: &PackageRequest, row: &SampledRow, position: usize, clip: &Path) -> RowCheckResult {
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
    decisions.iter_mut().map(|d| forgive_in(d)).sum()
}

/// Codes of the answered-but-unusable failures (see [`Failure::is_unusable_reply`]).
const UNUSABLE_CODES: [FailureCode; 2] =
    [FailureCode::CaptionSemanticResponseInvalid, FailureCode::CategoryStrictResponseInvalid];

/// Forgives the unusable replies of one decision: the listed ones become unavailable
/// notes, and when the decision only counted some failures (rev. 2), the counts per code
/// and the total lose every unusable reply too, listed or not. Returns how many.
fn forgive_in(d: &mut Decision) -> usize {
    let (unusable, kept): (Vec<Failure>, Vec<Failure>) =
        std::mem::take(&mut d.failures).into_iter().partition(Failure::is_unusable_reply);
    d.failures = kept;
    let note = |f: &Failure| format!("{f}: unavailable, the model looks broken this interval");
    d.notes.unavailable_checks.extend(unusable.iter().map(note));
    let mut forgiven = unusable.len() as u64;
    if let (Some(total), Some(by_code)) = (&mut d.notes.failures_total, &mut d.notes.failures_by_code) {
        let counted: u64 = UNUSABLE_CODES.iter().filter_map(|code| by_code.remove(code.as_str())).sum();
        if counted > forgiven {
            d.notes.unavailable_checks.push(format!(
                "{} more unusable model replies (not listed): unavailable, the model looks broken this interval",
                counted - forgiven
            ));
            forgiven = counted;
        }
        *total = total.saturating_sub(counted);
    }
    let remaining = d.notes.failures_total.unwrap_or(d.failures.len() as u64);
    if remaining <= d.failures.len() as u64 {
        // Every remaining failure is listed: no counts, as for a decision never truncated.
        d.notes.failures_total = None;
        d.notes.failures_by_code = None;
    }
    if forgiven > 0 {
        d.accepted = remaining == 0;
    }
    forgiven as usize
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

    fn broken_model() -> LlmUsage {
        LlmUsage { replies: 4, unusable: 3, ..LlmUsage::default() }
    }

    fn unusable(clip_id: &str) -> Failure {
        Failure::CaptionSemanticResponseInvalid { clip_id: clip_id.into() }
    }

    #[test]
    fn forgiving_updates_the_counts_of_a_truncated_decision() {
        // 300 short captions (only 256 listed), then three unusable replies never listed.
        let mut failures: Vec<Failure> = (0..300).map(|i| Failure::ShortCaption { clip_id: format!("c{i}") }).collect();
        failures.extend(["a", "b"].map(unusable));
        failures.push(Failure::CategoryStrictResponseInvalid { clip_id: "c".into() });
        let mut d = Decision::evaluated("m", 1, failures, 300, 3, Default::default());
        assert_eq!(d.notes.failures_total, Some(303));
        assert_eq!(forgive_unusable_replies(&mut [&mut d], &broken_model()), 3);
        assert_eq!(d.notes.failures_total, Some(300));
        let by_code = d.notes.failures_by_code.as_ref().unwrap();
        assert_eq!(by_code.len(), 1, "{by_code:?}");
        assert_eq!(by_code["short_caption"], 300);
        assert!(!d.accepted);
        assert_eq!(d.notes.unavailable_checks.len(), 1, "{:?}", d.notes.unavailable_checks);
        assert!(d.notes.unavailable_checks[0].starts_with("3 more unusable model replies"));
    }

    #[test]
    fn forgiving_the_only_failures_accepts_and_drops_the_counts() {
        // 256 listed unusable replies and one more counted: all forgiven, nothing remains.
        let failures: Vec<Failure> = (0..257).map(|i| unusable(&format!("c{i}"))).collect();
        let mut d = Decision::evaluated("m", 1, failures, 257, 3, Default::default());
        assert_eq!(forgive_unusable_replies(&mut [&mut d], &broken_model()), 257);
        assert!(d.accepted && d.failures.is_empty());
        assert_eq!((d.notes.failures_total, d.notes.failures_by_code.as_ref()), (None, None));
        assert_eq!(d.notes.unavailable_checks.len(), 257);
        // A listed failure beside the unusable ones keeps the decision rejected.
        let mut d = Decision::evaluated(
            "m",
            1,
            vec![unusable("a"), Failure::EmptyCaption { clip_id: "b".into() }],
            2,
            2,
            Default::default(),
        );
        assert_eq!(forgive_unusable_replies(&mut [&mut d], &broken_model()), 1);
        assert!(!d.accepted);
        assert_eq!(d.failures, [Failure::EmptyCaption { clip_id: "b".into() }]);
        // A healthy model forgives nothing.
        let healthy = LlmUsage { replies: 4, unusable: 2, ..LlmUsage::default() };
        assert_eq!(forgive_unusable_replies(&mut [&mut d], &healthy), 0);
    }
}
