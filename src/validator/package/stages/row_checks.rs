//! The seam for checks that look at a sampled, verified clip (the semantic caption check
//! and the category check). Each check reports failures, or that it was unavailable for
//! reasons on the validator's side, which never fails the miner.

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::dataset::SampledRow;
use crate::model::Failure;
use crate::validator::package::PackageRequest;

/// What a row check concluded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowCheckResult {
    /// Failures of the row.
    pub failures: Vec<Failure>,
    /// Checks that could not run (timeouts, rate limits, configuration), each
    /// `{check}:{clip_id}: {reason}`.
    pub unavailable: Vec<String>,
    /// Observations for the operator that do not fail the row.
    pub remarks: Vec<String>,
    /// Model usage of the check (zero for checks that use no model).
    pub llm: LlmUsage,
}

/// A check over one sampled row whose clip was fetched and verified.
#[async_trait]
pub trait RowCheck: Send + Sync {
    /// Checks the row of `req`'s package; `position` is its place among the package's
    /// sampled rows (0-based), so a check can cap how many rows of one package it looks at.
    async fn check(&self, req: &PackageRequest, row: &SampledRow, position: usize, clip: &Path) -> RowCheckResult;
}

/// Model usage of content checks: of one row, one package, or summed over an interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LlmUsage {
    /// Rows checked (one semantic and/or one category judgement each).
    pub judgements: u64,
    /// Time spent waiting for the model, summed over concurrent requests.
    pub busy: Duration,
    /// Checks that ended unavailable.
    pub unavailable: u64,
    /// Checks the model answered (usable or not).
    pub replies: u64,
    /// Answered checks without a usable verdict.
    pub unusable: u64,
}

impl LlmUsage {
    /// Whether more than half of the replies were unusable: the model, not the miners, is
    /// broken, and unusable replies count as unavailable (protocol §8 rev. 2).
    pub fn model_looks_broken(&self) -> bool {
        self.unusable * 2 > self.replies
    }
}

impl LlmUsage {
    /// Counts a model reply, usable or not.
    pub(crate) fn answered(&mut self, usable: bool) {
        self.replies += 1;
        if !usable {
            self.unusable += 1;
        }
    }

    /// Counts a judgement that waited since `started`.
    pub(crate) fn record(&mut self, started: Instant) {
        self.judgements += 1;
        self.busy += started.elapsed();
    }
}

impl std::ops::Add for LlmUsage {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            judgements: self.judgements + o.judgements,
            busy: self.busy + o.busy,
            unavailable: self.unavailable + o.unavailable,
            replies: self.replies + o.replies,
            unusable: self.unusable + o.unusable,
        }
    }
}

impl std::iter::Sum for LlmUsage {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}
