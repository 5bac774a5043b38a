//! What one owner sync pass did: counters (logged, exported on `/metrics`, printed by
//! `--once`) and every row failure, so a row that is given up is always reported.

/// A row that failed this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    /// Interval of the row's bundle.
    pub interval_id: u64,
    /// Miner of the row's bundle.
    pub hotkey: String,
    /// The row's clip id.
    pub clip_id: String,
    /// Failed attempts so far, this one included.
    pub attempts: u32,
    /// Whether this was the last attempt.
    pub given_up: bool,
    /// Why this attempt failed.
    pub error: String,
}

/// Counters of one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Bundles (manifests) in the record-info bucket.
    pub bundles_listed: u64,
    /// Bundles skipped because their marker exists.
    pub bundles_marked: u64,
    /// Bundles skipped because the hotkey is excluded.
    pub bundles_excluded: u64,
    /// Bundles whose marker this pass wrote.
    pub bundles_completed: u64,
    /// Bundles with rows still to retry.
    pub bundles_incomplete: u64,
    /// Bundles that could not be read this pass.
    pub bundle_errors: u64,
    /// Broken bundles given up this pass (failed as often as the row attempt limit).
    pub bundles_given_up: u64,
    /// Broken bundles given up on an earlier pass (not read again).
    pub bundles_already_given_up: u64,
    /// Catalog parts written this pass.
    pub catalog_parts_written: u64,
    /// Rows copied this pass.
    pub rows_copied: u64,
    /// Rows copied on an earlier pass.
    pub rows_already_copied: u64,
    /// Rows that failed this pass and will be retried.
    pub rows_failed: u64,
    /// Rows given up this pass.
    pub rows_given_up: u64,
    /// Rows given up on an earlier pass.
    pub rows_already_given_up: u64,
    /// Failed rows whose retry time has not come.
    pub rows_waiting: u64,
    /// Every row failure of this pass.
    pub failures: Vec<RowFailure>,
}

/// One counter of [`PassSummary`], named as in logs, `--once` output and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassCounter {
    /// [`PassSummary::bundles_listed`].
    BundlesListed,
    /// [`PassSummary::bundles_marked`].
    BundlesMarked,
    /// [`PassSummary::bundles_excluded`].
    BundlesExcluded,
    /// [`PassSummary::bundles_completed`].
    BundlesCompleted,
    /// [`PassSummary::bundles_incomplete`].
    BundlesIncomplete,
    /// [`PassSummary::bundle_errors`].
    BundleErrors,
    /// [`PassSummary::bundles_given_up`].
    BundlesGivenUp,
    /// [`PassSummary::bundles_already_given_up`].
    BundlesAlreadyGivenUp,
    /// [`PassSummary::catalog_parts_written`].
    CatalogPartsWritten,
    /// [`PassSummary::rows_copied`].
    RowsCopied,
    /// [`PassSummary::rows_already_copied`].
    RowsAlreadyCopied,
    /// [`PassSummary::rows_failed`].
    RowsFailed,
    /// [`PassSummary::rows_given_up`].
    RowsGivenUp,
    /// [`PassSummary::rows_already_given_up`].
    RowsAlreadyGivenUp,
    /// [`PassSummary::rows_waiting`].
    RowsWaiting,
}

impl PassCounter {
    /// The counter's name (the summary field's).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::BundlesListed => "bundles_listed",
            Self::BundlesMarked => "bundles_marked",
            Self::BundlesExcluded => "bundles_excluded",
            Self::BundlesCompleted => "bundles_completed",
            Self::BundlesIncomplete => "bundles_incomplete",
            Self::BundleErrors => "bundle_errors",
            Self::BundlesGivenUp => "bundles_given_up",
            Self::BundlesAlreadyGivenUp => "bundles_already_given_up",
            Self::CatalogPartsWritten => "catalog_parts_written",
            Self::RowsCopied => "rows_copied",
            Self::RowsAlreadyCopied => "rows_already_copied",
            Self::RowsFailed => "rows_failed",
            Self::RowsGivenUp => "rows_given_up",
            Self::RowsAlreadyGivenUp => "rows_already_given_up",
            Self::RowsWaiting => "rows_waiting",
        }
    }
}

impl std::fmt::Display for PassCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PassSummary {
    /// The counters, in the order they are printed.
    pub fn fields(&self) -> [(PassCounter, u64); 15] {
        use PassCounter::*;
        [
            (BundlesListed, self.bundles_listed),
            (BundlesMarked, self.bundles_marked),
            (BundlesExcluded, self.bundles_excluded),
            (BundlesCompleted, self.bundles_completed),
            (BundlesIncomplete, self.bundles_incomplete),
            (BundleErrors, self.bundle_errors),
            (BundlesGivenUp, self.bundles_given_up),
            (BundlesAlreadyGivenUp, self.bundles_already_given_up),
            (CatalogPartsWritten, self.catalog_parts_written),
            (RowsCopied, self.rows_copied),
            (RowsAlreadyCopied, self.rows_already_copied),
            (RowsFailed, self.rows_failed),
            (RowsGivenUp, self.rows_given_up),
            (RowsAlreadyGivenUp, self.rows_already_given_up),
            (RowsWaiting, self.rows_waiting),
        ]
    }
}
