//! `nexis validate-source-auth`: a drop-in for the Python source-authenticity sidecar.
//! Every closed interval is evaluated once with the validator's own discovery, sampling
//! and pipeline — whose only row check is the source stage — and the hotkeys of miners
//! with a `source_frame_*` failure are posted to `POST /v1/invalid-hotkeys` (signed,
//! protocol §12), which zeroes them at every validator. Nothing else is reported, and an
//! unreachable source never lists a miner.

use crate::model::FailureCode;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tracing::{info, warn};

use crate::chain::ChainError;
use crate::evidence::{EvidenceClient, EvidenceError};
use crate::index::overlap::OverlapIndex;
use crate::model::Decision;
use crate::protocol::{Block, IntervalId};
use crate::shutdown::{Shutdown, run_every};
use crate::validator::interval::{IntervalError, IntervalEvaluator};

/// The failure codes that list a miner as invalid: its clips are not (or not at the
/// promised quality) footage of the sources it claims.
pub(super) const REPORTED: [FailureCode; 2] = [FailureCode::SourceFrameMismatch, FailureCode::SourceFrameDegraded];

/// Why a pass of the sidecar could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SourceAuthError {
    /// The chain could not be read.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// An interval could not be evaluated.
    #[error("interval {interval_id}: {source}")]
    Interval {
        /// The interval.
        interval_id: u64,
        /// Why.
        #[source]
        source: IntervalError,
    },
    /// Reporting to the validation API failed.
    #[error("validation API: {0}")]
    Api(#[from] EvidenceError),
    /// The last-interval file could not be read or written.
    #[error("state file {path}: {message}")]
    State {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// The miners of `decisions` with a `source_frame_*` failure, sorted, once each.
pub(super) fn source_mismatch_hotkeys(decisions: &[Decision]) -> Vec<String> {
    let set: BTreeSet<String> = decisions
        .iter()
        .filter(|d| d.failures.iter().any(|f| REPORTED.contains(&f.kind())))
        .map(|d| d.miner_hotkey.clone())
        .collect();
    set.into_iter().collect()
}

/// One evaluated interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAuthReport {
    /// The interval checked.
    pub interval_id: u64,
    /// Miners evaluated.
    pub evaluated: usize,
    /// Miners reported as invalid.
    pub reported: Vec<String>,
}

/// The sidecar: an evaluator whose validator runs only the source check, the API it
/// reports to (none: log only), and the file remembering the last finished interval.
pub struct SourceAuthSidecar {
    /// Evaluates intervals with the source check as the only row check.
    pub evaluator: IntervalEvaluator,
    /// Where mismatching miners are reported (none: log only).
    pub api: Option<EvidenceClient>,
    /// The file remembering the last finished interval.
    pub state_path: PathBuf,
}

impl SourceAuthSidecar {
    fn state_error(&self, e: impl std::fmt::Display) -> SourceAuthError {
        SourceAuthError::State { path: self.state_path.display().to_string(), message: e.to_string() }
    }

    fn last_finished(&self) -> Result<Option<u64>, SourceAuthError> {
        match std::fs::read_to_string(&self.state_path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|e| self.state_error(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.state_error(e)),
        }
    }

    fn record(&self, interval_id: u64) -> Result<(), SourceAuthError> {
        if let Some(dir) = self.state_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.state_error(e))?;
        }
        let tmp = self.state_path.with_extension("tmp");
        std::fs::write(&tmp, interval_id.to_string()).map_err(|e| self.state_error(e))?;
        std::fs::rename(&tmp, &self.state_path).map_err(|e| self.state_error(e))
    }

    /// Closed intervals still to check at `block`: after the last finished one, or the
    /// latest closed one on a first start.
    pub fn pending(&self, block: u64) -> Result<Vec<u64>, SourceAuthError> {
        let clock = &self.evaluator.seat.clock;
        let Some(latest) = clock.latest_closed(Block::new(block)).map(IntervalId::get) else { return Ok(Vec::new()) };
        let first = match self.last_finished()? {
            Some(last) if last >= latest => return Ok(Vec::new()),
            Some(last) => last + clock.interval_blocks,
            None => latest,
        };
        Ok((first..=latest).step_by(clock.interval_blocks.max(1) as usize).collect())
    }

    /// Checks one interval and reports its mismatching miners.
    pub async fn check_interval(
        &self,
        interval: IntervalId,
        block: Block,
    ) -> Result<SourceAuthReport, SourceAuthError> {
        let interval_id = interval.get();
        let failed = |source| SourceAuthError::Interval { interval_id, source };
        // Overlap pruning is irrelevant here; a throw-away index keeps the evaluator happy.
        let index = sled::Config::new()
            .temporary(true)
            .open()
            .and_then(|db| db.open_tree("overlap"))
            .map(OverlapIndex::new)
            .map_err(|e| self.state_error(format!("temporary index: {e}")))?;
        let ctx = self.evaluator.context(interval, block, BTreeSet::new(), None).await.map_err(failed)?;
        let report = self.evaluator.evaluate(&ctx, &index).await.map_err(failed)?;
        let decisions = &report.record.decisions;
        let reported = source_mismatch_hotkeys(decisions);
        for d in decisions {
            let unavailable = d.notes.unavailable_checks.len();
            info!(interval_id, miner = %d.miner_hotkey, failures = ?d.failures.iter().map(ToString::to_string).collect::<Vec<_>>(), unavailable, "source check");
        }
        match &self.api {
            Some(api) if !reported.is_empty() => api.post_invalid_hotkeys(interval_id, &reported).await?,
            Some(_) => {}
            None if !reported.is_empty() => {
                warn!(interval_id, hotkeys = ?reported, "no validation API configured: mismatching miners are only logged");
            }
            None => {}
        }
        Ok(SourceAuthReport { interval_id, evaluated: decisions.len(), reported })
    }

    /// One poll: checks every pending interval in order, recording each when done.
    pub async fn tick(&self) -> Result<Vec<SourceAuthReport>, SourceAuthError> {
        let block = self.evaluator.chain().current_block().await?;
        let mut done = Vec::new();
        for interval_id in self.pending(block)? {
            let report = self.check_interval(IntervalId::new(interval_id), Block::new(block)).await?;
            info!(interval_id, evaluated = report.evaluated, reported = ?report.reported, "interval source-checked");
            self.record(interval_id)?;
            done.push(report);
        }
        Ok(done)
    }

    /// Polls every `poll` until `shutdown`; trouble is logged and retried.
    pub async fn run(&self, poll: Duration, shutdown: &Shutdown) {
        let pass = || async {
            if let Err(e) = self.tick().await {
                warn!(error = %e, "source-auth pass failed; retrying on the next poll");
            }
            Ok::<(), std::convert::Infallible>(())
        };
        let _ = run_every(poll, shutdown, pass).await;
        info!("source-auth sidecar stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DecisionNotes, Failure};

    #[test]
    fn only_source_frame_failures_are_reported() {
        let d = |hk: &str, failures: Vec<Failure>| Decision::evaluated(hk, 1, failures, 1, 1, DecisionNotes::default());
        let decisions = vec![
            d("b", vec![Failure::SourceFrameMismatch { clip_id: "x".into() }]),
            d(
                "a",
                vec![
                    Failure::SourceFrameMismatch { clip_id: "y".into() },
                    Failure::ShortCaption { clip_id: "y".into() },
                ],
            ),
            d("c", vec![Failure::SourceUnavailable { clip_id: "z".into() }]),
            d("d", vec![Failure::ClipSha256Mismatch { clip_id: "z".into() }]),
            d("e", vec![]),
        ];
        assert_eq!(source_mismatch_hotkeys(&decisions), vec!["a".to_string(), "b".to_string()]);
    }
}
