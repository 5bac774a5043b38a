//! The validator's Prometheus metrics (served on `/metrics` by [`crate::telemetry`]).

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::validator::interval::IntervalReport;
use crate::validator::package::REPEATED_INCONCLUSIVE_REMARK;

/// A weight rule's name (`nexis_weights_rule_failures_total`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    /// The rule, named like the chain's error.
    pub rule: String,
}

/// Declares a label enum with its exported label values and its one-field label set.
macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident / $set:ident { $field:ident } { $($(#[$vdoc:meta])* $variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The exported label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value),+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }

        #[doc = concat!("The label set of [`", stringify!($name), "`].")]
        #[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub struct $set {
            #[doc = concat!("The `", stringify!($field), "` label.")]
            pub $field: $name,
        }
    };
}

label_enum!(
    /// A miner decision's result.
    Verdict / VerdictLabel { result } {
        /// The package was accepted.
        Accepted => "accepted",
        /// The package was rejected.
        Rejected => "rejected",
    }
);

label_enum!(
    /// A weight submission's result.
    Submission / SubmissionLabel { result } {
        /// The weights reached the chain.
        Ok => "ok",
        /// Sending failed; retried later.
        Error => "error",
    }
);

label_enum!(
    /// A timed stage of an interval.
    Stage / StageLabel { stage } {
        /// Discovery of the miners.
        Discover => "discover",
        /// Validating every selected miner.
        Miners => "miners",
        /// Overlap pruning and finalising.
        Prune => "prune",
        /// The whole interval, recording included.
        Interval => "interval",
        /// Model time of the content checks (summed over concurrent requests).
        Llm => "llm",
    }
);

label_enum!(
    /// Which overlap a pruned row had.
    PruneKind / PruneLabel { kind } {
        /// Already in the shared overlap index.
        Global => "global",
        /// Published by another miner in the same interval.
        CrossMiner => "cross_miner",
        /// The same footage as an earlier clip under another claimed source.
        DuplicateContent => "duplicate_content",
    }
);

/// A failure code label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The protocol failure code (`Failure::code`).
    pub code: &'static str,
}

/// The kind of an unavailable check: the part of its note before the first `:`
/// (`semantic`, `category`, `source`, or a forgiven failure code).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The check kind.
    pub kind: String,
}

/// The validator's metrics.
pub struct Metrics {
    registry: Registry,
    /// Intervals evaluated and recorded.
    pub intervals: Counter,
    /// Interval evaluations abandoned for validator-side trouble.
    pub interval_errors: Counter,
    /// Miner decisions by result.
    pub decisions: Family<VerdictLabel, Counter>,
    /// Failure codes in decisions.
    pub failures: Family<CodeLabel, Counter>,
    /// Rows pruned as overlaps, by kind.
    pub pruned: Family<PruneLabel, Counter>,
    /// Duration of interval stages.
    pub stage_seconds: Family<StageLabel, Histogram>,
    /// The last interval recorded.
    pub last_interval: Gauge,
    /// The latest block seen.
    pub current_block: Gauge,
    /// Weight submissions by result.
    pub weight_submissions: Family<SubmissionLabel, Counter>,
    /// Unix time of the last successful weight submission.
    pub last_weight_submission: Gauge,
    /// Semantic and category judgements requested.
    pub llm_judgements: Counter,
    /// Content checks left unavailable by model trouble.
    pub llm_unavailable: Counter,
    /// Row checks left unavailable by trouble on the validator's side, by check name.
    pub unavailable_checks: Family<KindLabel, Counter>,
    /// Inconclusive source checks of miners already inconclusive in several intervals.
    pub source_inconclusive_repeated: Counter,
    /// `nexis_weights_committed_total`: timelocked weight commits accepted by the chain.
    pub weights_committed: Counter,
    /// `nexis_weights_revealed_total`: commits the watchdog saw revealed as committed.
    pub weights_revealed: Counter,
    /// `nexis_weights_reveal_missing_total`: commits the chain dropped or never revealed.
    pub weights_reveal_missing: Counter,
    /// `nexis_weights_rule_failures_total{rule}`: weight submissions held back by a chain rule.
    pub weight_rule_failures: Family<RuleLabel, Counter>,
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
            source_inconclusive_repeated: Counter::default(),
            weights_committed: Counter::default(),
            weights_revealed: Counter::default(),
            weights_reveal_missing: Counter::default(),
            weight_rule_failures: Family::default(),
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
        root.register(
            "nexis_weights_rule_failures",
            "Weight submissions held back because the chain would refuse or drop them, by rule",
            m.weight_rule_failures.clone(),
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
        registry.register(
            "source_inconclusive_repeated",
            "Source checks left inconclusive for miners already inconclusive in several recent intervals",
            m.source_inconclusive_repeated.clone(),
        );
        Self { registry: root, ..m }
    }

    /// Observes one stage duration.
    pub fn stage(&self, stage: Stage, took: Duration) {
        self.stage_seconds.get_or_create(&StageLabel { stage }).observe(took.as_secs_f64());
    }

    /// Counts a weight submission.
    pub fn weight_submission(&self, result: Submission) {
        self.weight_submissions.get_or_create(&SubmissionLabel { result }).inc();
    }

    /// Records a recorded interval: its decisions, failure codes, unavailable checks,
    /// pruned rows, stage timings, model usage, and `took` for the whole interval.
    pub fn record_interval(&self, report: &IntervalReport, took: Duration) {
        self.intervals.inc();
        self.last_interval.set(report.record.interval_id as i64);
        for d in &report.record.decisions {
            let result = if d.accepted { Verdict::Accepted } else { Verdict::Rejected };
            self.decisions.get_or_create(&VerdictLabel { result }).inc();
            for f in &d.failures {
                self.failures.get_or_create(&CodeLabel { code: f.code() }).inc();
            }
            let repeated = d.notes.check_remarks.iter().filter(|r| r.starts_with(REPEATED_INCONCLUSIVE_REMARK)).count();
            self.source_inconclusive_repeated.inc_by(repeated as u64);
            for note in &d.notes.unavailable_checks {
                let kind = note.split(':').next().unwrap_or_default().to_string();
                self.unavailable_checks.get_or_create(&KindLabel { kind }).inc();
            }
            let pruned = [
                (PruneKind::Global, d.notes.global_overlap_pruned_count),
                (PruneKind::CrossMiner, d.notes.cross_miner_overlap_pruned_count),
                (PruneKind::DuplicateContent, d.notes.duplicate_content_pruned_count),
            ];
            for (kind, n) in pruned {
                self.pruned.get_or_create(&PruneLabel { kind }).inc_by(n.unwrap_or(0));
            }
        }
        let t = &report.timings;
        self.stage(Stage::Discover, t.discover);
        self.stage(Stage::Miners, t.miners);
        self.stage(Stage::Prune, t.prune);
        self.stage(Stage::Interval, took);
        if t.llm.judgements > 0 {
            self.stage(Stage::Llm, t.llm.busy);
            self.llm_judgements.inc_by(t.llm.judgements);
            self.llm_unavailable.inc_by(t.llm.unavailable);
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
