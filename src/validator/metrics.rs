//! The validator's Prometheus metrics (served on `/metrics` by [`crate::telemetry`]).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

/// The validator's metrics.
pub struct Metrics {
    registry: Registry,
    pub intervals: Counter,
    pub interval_errors: Counter,
    pub decisions: Family<ResultLabel, Counter>,
    pub failures: Family<CodeLabel, Counter>,
    pub pruned: Family<KindLabel, Counter>,
    pub stage_seconds: Family<StageLabel, Histogram>,
    pub last_interval: Gauge,
    pub current_block: Gauge,
    pub weight_submissions: Family<ResultLabel, Counter>,
    pub last_weight_submission: Gauge,
    pub llm_judgements: Counter,
    pub llm_unavailable: Counter,
    /// Row checks left unavailable by trouble on the validator's side, by check name.
    pub unavailable_checks: Family<KindLabel, Counter>,
    /// `nexis_weights_committed_total`: timelocked weight commits accepted by the chain.
    pub weights_committed: Counter,
    /// `nexis_weights_revealed_total`: commits the watchdog saw revealed as committed.
    pub weights_revealed: Counter,
    /// `nexis_weights_reveal_missing_total`: commits the chain dropped or never revealed.
    pub weights_reveal_missing: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `nexis_validator` prefix, and the weight-reveal
    /// counters as `nexis_weights_*`.
    pub fn new() -> Self {
        let mut root = Registry::default();
        let m = Self {
            intervals: Counter::default(),
            interval_errors: Counter::default(),
            decisions: Family::default(),
            failures: Family::default(),
            pruned: Family::default(),
            stage_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.01, 2.0, 16))),
            last_interval: Gauge::default(),
            current_block: Gauge::default(),
            weight_submissions: Family::default(),
            last_weight_submission: Gauge::default(),
            llm_judgements: Counter::default(),
            llm_unavailable: Counter::default(),
            unavailable_checks: Family::default(),
            weights_committed: Counter::default(),
            weights_revealed: Counter::default(),
            weights_reveal_missing: Counter::default(),
            registry: Registry::default(),
        };
        root.register(
            "nexis_weights_committed",
            "Timelocked weight commits accepted by the chain",
            m.weights_committed.clone(),
        );
        root.register(
            "nexis_weights_revealed",
            "Timelocked commits revealed with the committed weights",
            m.weights_revealed.clone(),
        );
        root.register(
            "nexis_weights_reveal_missing",
            "Timelocked commits the chain dropped at reveal or never revealed",
            m.weights_reveal_missing.clone(),
        );
        let registry = root.sub_registry_with_prefix("nexis_validator");
        registry.register("intervals", "Intervals evaluated and recorded", m.intervals.clone());
        registry.register(
            "interval_errors",
            "Interval evaluations abandoned for validator-side trouble",
            m.interval_errors.clone(),
        );
        registry.register("decisions", "Miner decisions by result", m.decisions.clone());
        registry.register("failures", "Failure codes in decisions", m.failures.clone());
        registry.register("overlap_pruned_rows", "Rows pruned as overlaps, by kind", m.pruned.clone());
        registry.register("stage_seconds", "Duration of interval stages", m.stage_seconds.clone());
        registry.register("last_interval", "Last interval recorded", m.last_interval.clone());
        registry.register("current_block", "Latest block seen", m.current_block.clone());
        registry.register("weight_submissions", "Weight submissions by result", m.weight_submissions.clone());
        registry.register(
            "last_weight_submission_timestamp_seconds",
            "Unix time of the last successful weight submission",
            m.last_weight_submission.clone(),
        );
        registry.register("llm_judgements", "Semantic and category judgements requested", m.llm_judgements.clone());
        registry.register(
            "llm_unavailable_checks",
            "Content checks left unavailable by model trouble (never the miner's fault)",
            m.llm_unavailable.clone(),
        );
        registry.register(
            "unavailable_checks",
            "Row checks (semantic, category, source) left unavailable, never the miner's fault",
            m.unavailable_checks.clone(),
        );
        Self { registry: root, ..m }
    }

    /// Observes one stage duration.
    pub fn stage(&self, stage: &str, took: Duration) {
        self.stage_seconds.get_or_create(&StageLabel { stage: stage.to_string() }).observe(took.as_secs_f64());
    }

    /// Counts by a result label.
    pub fn count(family: &Family<ResultLabel, Counter>, result: &str) {
        family.get_or_create(&ResultLabel { result: result.to_string() }).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
