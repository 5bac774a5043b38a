//! The seam for checks that look at a sampled, verified clip (the semantic caption check
//! and the category check). Each check reports failures, or that it was unavailable for
//! reasons on the validator's side, which never fails the miner.

use std::path::Path;

use async_trait::async_trait;

use crate::dataset::SampledRow;
use crate::model::Failure;

/// What a row check concluded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowCheckResult {
    pub failures: Vec<Failure>,
    /// Set when the check could not run (timeouts, rate limits, configuration).
    pub unavailable: Option<String>,
}

/// A check over one sampled row whose clip was fetched and verified.
#[async_trait]
pub trait RowCheck: Send + Sync {
    /// Short name for notes and logs.
    fn name(&self) -> &'static str;
    /// Checks the row.
    async fn check(&self, row: &SampledRow, clip: &Path) -> RowCheckResult;
}
