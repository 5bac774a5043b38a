//! The source stage: for the first sampled rows whose clip passed the asset checks, fetch
//! the claimed source around the claimed start and compare frames at instants drawn per
//! clip ([`crate::media::compare`], [`crate::media::instants`]). A confident mismatch
//! fails the row (`source_frame_mismatch:{clip_id}`), a degraded copy too
//! (`source_frame_degraded:{clip_id}`); a source we cannot fetch makes the check
//! *unavailable* (never the miner's fault), except a video YouTube reports twice as not
//! existing, private or removed: `source_unavailable:{clip_id}`, a failure unless
//! configured soft. Miners whose clips stay inconclusive in several intervals are named
//! in a remark (`source_inconclusive_repeated:`) and counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tracing::{debug, info, warn};

use super::row_checks::{RowCheck, RowCheckResult};
use crate::dataset::SampledRow;
use crate::media::compare::{Geometry, SAMPLE_FPS, Verdict, compare, grey_frames};
use crate::media::instants::{instant_seed, plan_instants};
use crate::model::Failure;
use crate::model::source_key::video_id;
use crate::protocol::CLIP_DURATION_SEC;
use crate::validator::package::PackageRequest;
use crate::validator::package::budget::dependency_wait;
use crate::validator::package::source_fetch::{SourceFetchSettings, SourceMissing};

/// Rows per package checked when `NEXIS_VALIDATOR_SOURCE_CHECK_MAX_ROWS` is unset.
pub const DEFAULT_SOURCE_CHECK_ROWS: usize = 3;
/// Source seconds decoded before and after the clip's span (covers the offset search).
const DECODE_MARGIN_SEC: f64 = 0.7;
/// Distinct intervals with an inconclusive clip that make a miner "repeatedly
/// inconclusive".
pub(crate) const INCONCLUSIVE_REPEAT_INTERVALS: usize = 3;
/// Most recent intervals remembered per miner for that count.
const INCONCLUSIVE_WINDOW: usize = 16;
/// Most miners remembered (the memory is cleared beyond that; a bound, not a policy).
const INCONCLUSIVE_MAX_MINERS: usize = 4096;
/// Prefix of the remark naming a repeatedly inconclusive miner.
pub(crate) const REPEATED_INCONCLUSIVE_REMARK: &str = "source_inconclusive_repeated";

/// Counters over all source checks, read and reset by the caller.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Rows whose clip matched its claimed source.
    pub matched: AtomicU64,
    /// Rows whose clip did not match (`source_frame_mismatch`).
    pub mismatched: AtomicU64,
    /// Rows the comparison could not decide.
    pub inconclusive: AtomicU64,
    /// Rows whose source could not be had.
    pub unavailable: AtomicU64,
    /// Rows whose source YouTube reports as not existing.
    pub not_found: AtomicU64,
    /// Rows whose clip is a degraded copy of its source (`source_frame_degraded`).
    pub degraded: AtomicU64,
    /// Inconclusive rows of miners already inconclusive in several intervals.
    pub repeated_inconclusive: AtomicU64,
    /// Per miner, the recent intervals in which one of its clips was inconclusive.
    inconclusive_intervals: Mutex<BTreeMap<String, BTreeSet<u64>>>,
}

/// A reading of [`SourceStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceUsage {
    /// Rows whose clip matched its claimed source.
    pub matched: u64,
    /// Rows whose clip did not match.
    pub mismatched: u64,
    /// Rows the comparison could not decide.
    pub inconclusive: u64,
    /// Rows whose source could not be had.
    pub unavailable: u64,
    /// Rows whose source YouTube reports as not existing.
    pub not_found: u64,
    /// Rows whose clip is a degraded copy of its source.
    pub degraded: u64,
    /// Inconclusive rows of miners already inconclusive in several intervals.
    pub repeated_inconclusive: u64,
}

impl SourceStats {
    /// The counts since the last call, resetting them.
    pub fn take(&self) -> SourceUsage {
        let t = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        SourceUsage {
            matched: t(&self.matched),
            mismatched: t(&self.mismatched),
            inconclusive: t(&self.inconclusive),
            unavailable: t(&self.unavailable),
            not_found: t(&self.not_found),
            degraded: t(&self.degraded),
            repeated_inconclusive: t(&self.repeated_inconclusive),
        }
    }

    /// Notes an inconclusive clip of `miner` in `interval_id`; returns the number of
    /// distinct recent intervals in which the miner had one.
    pub fn note_inconclusive(&self, miner: &str, interval_id: u64) -> usize {
        let mut map = self.inconclusive_intervals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= INCONCLUSIVE_MAX_MINERS && !map.contains_key(miner) {
            map.clear();
        }
        let intervals = map.entry(miner.to_string()).or_default();
        intervals.insert(interval_id);
        while intervals.len() > INCONCLUSIVE_WINDOW {
            intervals.pop_first();
        }
        intervals.len()
    }
}

/// The source-authenticity check.
#[derive(Debug, Clone)]
pub struct SourceCheck {
    /// Where and how sources are fetched.
    pub fetch: SourceFetchSettings,
    /// Rows per package checked (`NEXIS_VALIDATOR_SOURCE_CHECK_MAX_ROWS`).
    pub max_rows: usize,
    /// Whether a video YouTube reports (twice) as not existing, private or removed fails
    /// the row (the default).
    pub not_found_is_hard: bool,
    /// Timeout of one ffmpeg decoding pass.
    pub ffmpeg_timeout: Duration,
    /// Counters over every check made.
    pub stats: Arc<SourceStats>,
}

impl SourceCheck {
    fn unavailable(&self, out: &mut RowCheckResult, row: &SampledRow, reason: String) {
        warn!(clip_id = %row.clip_id, reason = %reason, "source check unavailable for this row; the miner is not penalised");
        self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
        out.unavailable.push(format!("source:{}: {reason}", row.clip_id));
    }

    /// Turns a comparison's verdict into the row's failures, remarks and counts.
    fn conclude(
        &self,
        out: &mut RowCheckResult,
        req: &PackageRequest,
        row: &SampledRow,
        id: &str,
        verdict: Verdict,
        summary: &str,
    ) {
        let (clip_id, start) = (row.clip_id.clone(), row.clip_start_sec);
        let failure = match verdict {
            Verdict::Match => {
                self.stats.matched.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Verdict::Mismatch => {
                self.stats.mismatched.fetch_add(1, Ordering::Relaxed);
                Failure::SourceFrameMismatch { clip_id }
            }
            Verdict::Degraded => {
                self.stats.degraded.fetch_add(1, Ordering::Relaxed);
                Failure::SourceFrameDegraded { clip_id }
            }
            Verdict::Inconclusive => {
                self.stats.inconclusive.fetch_add(1, Ordering::Relaxed);
                out.remarks.push(format!("source:{clip_id}: inconclusive against {id} at {start:.3} s: {summary}"));
                let intervals = self.stats.note_inconclusive(&req.miner_hotkey, req.interval_id());
                if intervals >= INCONCLUSIVE_REPEAT_INTERVALS {
                    self.stats.repeated_inconclusive.fetch_add(1, Ordering::Relaxed);
                    warn!(miner = %req.miner_hotkey, intervals, "the miner's clips are repeatedly inconclusive against their sources");
                    out.remarks.push(format!(
                        "{REPEATED_INCONCLUSIVE_REMARK}:{clip_id}: this miner's clips were inconclusive in {intervals} recent intervals"
                    ));
                }
                return;
            }
        };
        info!(clip_id = %row.clip_id, video_id = %id, %summary, code = failure.code(), "clip does not show its claimed source");
        out.remarks.push(format!("source:{}: {} with {id} at {start:.3} s: {summary}", row.clip_id, failure.code()));
        out.failures.push(failure);
    }

    fn not_found(&self, out: &mut RowCheckResult, row: &SampledRow, reason: String) {
        info!(clip_id = %row.clip_id, reason = %reason, hard = self.not_found_is_hard, "claimed source does not exist");
        self.stats.not_found.fetch_add(1, Ordering::Relaxed);
        let failure = Failure::SourceUnavailable { clip_id: row.clip_id.clone() };
        out.remarks.push(format!("{failure}: {reason}"));
        if self.not_found_is_hard {
            out.failures.push(failure);
        }
    }
}

#[async_trait]
impl RowCheck for SourceCheck {
    async fn check(&self, req: &PackageRequest, row: &SampledRow, position: usize, clip: &Path) -> RowCheckResult {
        let mut out = RowCheckResult::default();
        if position >= self.max_rows {
            return out;
        }
        let Some(id) = video_id(&row.source_video_url) else {
            self.not_found(&mut out, row, format!("{:?} names no YouTube video", row.source_video_url));
            return out;
        };
        let start = row.clip_start_sec;
        if !(start.is_finite() && start >= 0.0) {
            self.unavailable(&mut out, row, format!("unusable clip_start_sec {start}"));
            return out;
        }
        // Waiting on YouTube is the validator's dependency, not the miner's time (rev. 2 §8).
        let fetched = {
            let _not_the_miners_time = dependency_wait();
            self.fetch.fetch(&id, start, CLIP_DURATION_SEC).await
        };
        let media = match fetched {
            Ok(media) => media,
            Err(SourceMissing::NotFound(why)) => {
                self.not_found(&mut out, row, why);
                return out;
            }
            Err(SourceMissing::Unavailable(why)) => {
                self.unavailable(&mut out, row, why);
                return out;
            }
        };
        let clip_frames = grey_frames(clip, 0.0, CLIP_DURATION_SEC, Geometry::Clip, self.ffmpeg_timeout).await;
        let seek = (media.origin - DECODE_MARGIN_SEC).max(0.0);
        let span = CLIP_DURATION_SEC + 2.0 * DECODE_MARGIN_SEC;
        let source_frames = grey_frames(&media.path, seek, span, Geometry::FitToClip, self.ffmpeg_timeout).await;
        let (clip_frames, source_frames) = match (clip_frames, source_frames) {
            (Ok(c), Ok(s)) => (c, s),
            (Err(e), _) => {
                self.unavailable(&mut out, row, format!("clip frames: {e}"));
                return out;
            }
            (_, Err(e)) => {
                self.unavailable(&mut out, row, format!("source frames ({}): {e}", media.from));
                return out;
            }
        };
        let base = ((media.origin - seek) * SAMPLE_FPS).round() as i64;
        let terms = &req.terms;
        let randomness = terms.extra_sample_seed.as_deref().unwrap_or(&terms.interval_seed);
        let seed = instant_seed(randomness, terms.validator_hotkey.as_deref(), &row.clip_id);
        let result = compare(&clip_frames, &source_frames, base, &plan_instants(&seed, clip_frames.len()));
        debug!(clip_id = %row.clip_id, video_id = %id, from = media.from, ?result, "source comparison");
        self.conclude(&mut out, req, row, &id, result.verdict, &result.summary());
        out
    }
}
