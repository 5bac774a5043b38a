//! Prometheus metrics of the owner sync worker (`nexis_owner_sync_*`): cumulative row and
//! bundle counters, and the last pass's summary as gauges. Served on `/metrics` with the
//! validator's endpoint helper.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::summary::PassSummary;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use super::summary::PassCounter;

/// Outcome of a row this pass, the `result` label of `nexis_owner_sync_rows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RowResult {
    /// Copied to the owner bucket.
    Copied,
    /// Not copied; retried on a later pass.
    Failed,
    /// Not copied on its last allowed attempt.
    GivenUp,
}

/// Outcome of a bundle this pass, the `result` label of `nexis_owner_sync_bundles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BundleResult {
    /// Every row done; the marker was written.
    Completed,
    /// Rows still to retry.
    Incomplete,
    /// The bundle could not be read.
    Error,
}

/// The label `result="..."` of `nexis_owner_sync_rows`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RowLabel {
    /// The row outcome.
    pub(crate) result: RowResult,
}

/// The label `result="..."` of `nexis_owner_sync_bundles`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct BundleLabel {
    /// The bundle outcome.
    pub(crate) result: BundleResult,
}

/// The label `result="..."` of `nexis_owner_sync_last_pass`: the summary counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct CounterLabel {
    /// The summary counter.
    pub(crate) result: PassCounter,
}

impl EncodeLabelValue for RowResult {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        let name = match self {
            Self::Copied => "copied",
            Self::Failed => "failed",
            Self::GivenUp => "given_up",
        };
        std::fmt::Write::write_str(encoder, name)
    }
}

impl EncodeLabelValue for BundleResult {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        let name = match self {
            Self::Completed => "completed",
            Self::Incomplete => "incomplete",
            Self::Error => "error",
        };
        std::fmt::Write::write_str(encoder, name)
    }
}

impl EncodeLabelValue for PassCounter {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}

/// The sync worker's metrics.
pub struct SyncMetrics {
    registry: Registry,
    pub(crate) passes: Counter,
    pub(crate) pass_errors: Counter,
    /// Rows by result: copied, failed, given_up.
    pub(crate) rows: Family<RowLabel, Counter>,
    /// Bundles by result: completed, incomplete, error.
    pub(crate) bundles: Family<BundleLabel, Counter>,
    /// The last pass's summary by field name.
    pub(crate) last_pass: Family<CounterLabel, Gauge>,
    /// Unix seconds of the last finished pass.
    pub(crate) last_pass_at: Gauge,
    pub(crate) pass_seconds: Histogram,
}

impl std::fmt::Debug for SyncMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncMetrics").finish_non_exhaustive()
    }
}

impl Default for SyncMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncMetrics {
    /// Registers every metric under the `nexis_owner_sync` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nexis_owner_sync");
        let m = Self {
            registry: Registry::default(),
            passes: Counter::default(),
            pass_errors: Counter::default(),
            rows: Family::default(),
            bundles: Family::default(),
            last_pass: Family::default(),
            last_pass_at: Gauge::default(),
            pass_seconds: Histogram::new(exponential_buckets(0.1, 2.0, 16)),
        };
        registry.register("passes", "Finished sync passes", m.passes.clone());
        registry.register(
            "pass_errors",
            "Passes that could not list the record-info bucket or read the chain",
            m.pass_errors.clone(),
        );
        registry.register("rows", "Row copy outcomes", m.rows.clone());
        registry.register("bundles", "Bundle outcomes per pass", m.bundles.clone());
        registry.register("last_pass", "Summary counters of the last pass", m.last_pass.clone());
        registry.register("last_pass_timestamp_seconds", "Unix time of the last finished pass", m.last_pass_at.clone());
        registry.register("pass_seconds", "Duration of a pass", m.pass_seconds.clone());
        Self { registry, ..m }
    }

    /// Records a finished pass.
    pub(crate) fn record_pass(&self, summary: &PassSummary, took: Duration) {
        self.passes.inc();
        self.pass_seconds.observe(took.as_secs_f64());
        self.last_pass_at.set(chrono::Utc::now().timestamp());
        let rows = [
            (RowResult::Copied, summary.rows_copied),
            (RowResult::Failed, summary.rows_failed),
            (RowResult::GivenUp, summary.rows_given_up),
        ];
        for (result, by) in rows.into_iter().filter(|(_, by)| *by > 0) {
            self.rows.get_or_create(&RowLabel { result }).inc_by(by);
        }
        let bundles = [
            (BundleResult::Completed, summary.bundles_completed),
            (BundleResult::Incomplete, summary.bundles_incomplete),
            (BundleResult::Error, summary.bundle_errors),
        ];
        for (result, by) in bundles.into_iter().filter(|(_, by)| *by > 0) {
            self.bundles.get_or_create(&BundleLabel { result }).inc_by(by);
        }
        for (name, value) in summary.fields() {
            self.last_pass.get_or_create(&CounterLabel { result: name }).set(value as i64);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_their_exported_values() {
        let metrics = SyncMetrics::new();
        let summary = PassSummary { rows_copied: 3, rows_given_up: 1, bundle_errors: 2, ..PassSummary::default() };
        metrics.record_pass(&summary, Duration::from_millis(5));
        let text = metrics.render();
        for line in [
            "nexis_owner_sync_rows_total{result=\"copied\"} 3",
            "nexis_owner_sync_rows_total{result=\"given_up\"} 1",
            "nexis_owner_sync_bundles_total{result=\"error\"} 2",
            "nexis_owner_sync_last_pass{result=\"rows_copied\"} 3",
            "nexis_owner_sync_last_pass{result=\"bundles_already_given_up\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains("result=\"failed\""), "a zero row outcome is not created");
    }
}
