//! The seam for checks that look at a sampled, verified clip (the semantic caption check
//! and the category check). Each check reports failures, or that it was unavailable for
//! reasons on the validator's side, which never fails the miner.

use std::path::Path;

use async_trait::async_trait;

use super::content::LlmUsage;
use crate::dataset::SampledRow;
use crate::model::Failure;

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
    /// Short name for notes and logs.
    fn name(&self) -> &'static str;
    /// Checks the row; `position` is its place among the package's sampled rows (0-based),
    /// so a check can cap how many rows of one package it looks at.
    async fn check(&self, row: &SampledRow, position: usize, clip: &Path) -> RowCheckResult;
}
