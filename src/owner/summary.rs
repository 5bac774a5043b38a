//! What one owner sync pass did: counters (logged, exported on `/metrics`, printed by
//! `--once`) and every row failure, so a row that is given up is always reported.

/// A row that failed this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    pub interval_id: u64,
    pub hotkey: String,
    pub clip_id: String,
    pub attempts: u32,
    /// Whether this was the last attempt.
    pub given_up: bool,
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

impl PassSummary {
    /// The counters by name.
    pub fn fields(&self) -> [(&'static str, u64); 15] {
        [
            ("bundles_listed", self.bundles_listed),
            ("bundles_marked", self.bundles_marked),
            ("bundles_excluded", self.bundles_excluded),
            ("bundles_completed", self.bundles_completed),
            ("bundles_incomplete", self.bundles_incomplete),
            ("bundle_errors", self.bundle_errors),
            ("bundles_given_up", self.bundles_given_up),
            ("bundles_already_given_up", self.bundles_already_given_up),
            ("catalog_parts_written", self.catalog_parts_written),
            ("rows_copied", self.rows_copied),
            ("rows_already_copied", self.rows_already_copied),
            ("rows_failed", self.rows_failed),
            ("rows_given_up", self.rows_given_up),
            ("rows_already_given_up", self.rows_already_given_up),
            ("rows_waiting", self.rows_waiting),
        ]
    }
}
