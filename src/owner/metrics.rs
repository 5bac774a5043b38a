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
use crate::validator::metrics::ResultLabel;

/// The sync worker's metrics.
pub struct SyncMetrics {
    registry: Registry,
    pub passes: Counter,
    pub pass_errors: Counter,
    /// Rows by result: copied, failed, given_up.
    pub rows: Family<ResultLabel, Counter>,
    /// Bundles by result: completed, incomplete, error.
    pub bundles: Family<ResultLabel, Counter>,
    /// The last pass's summary by field name.
    pub last_pass: Family<ResultLabel, Gauge>,
    /// Unix seconds of the last finished pass.
    pub last_pass_at: Gauge,
    pub pass_seconds: Histogram,
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

    fn inc(family: &Family<ResultLabel, Counter>, result: &str, by: u64) {
        if by > 0 {
            family.get_or_create(&ResultLabel { result: result.to_string() }).inc_by(by);
        }
    }

    /// Records a finished pass.
    pub fn record_pass(&self, summary: &PassSummary, took: Duration) {
        self.passes.inc();
        self.pass_seconds.observe(took.as_secs_f64());
        self.last_pass_at.set(chrono::Utc::now().timestamp());
        Self::inc(&self.rows, "copied", summary.rows_copied);
        Self::inc(&self.rows, "failed", summary.rows_failed);
        Self::inc(&self.rows, "given_up", summary.rows_given_up);
        Self::inc(&self.bundles, "completed", summary.bundles_completed);
        Self::inc(&self.bundles, "incomplete", summary.bundles_incomplete);
        Self::inc(&self.bundles, "error", summary.bundle_errors);
        for (name, value) in summary.fields() {
            self.last_pass.get_or_create(&ResultLabel { result: name.to_string() }).set(value as i64);
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
