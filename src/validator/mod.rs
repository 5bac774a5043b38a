//! The validator, read top-down:
//!
//! - `package`: one miner's package — the request and its limits, the per-miner time
//!   budget, the stages and the pipeline that runs them (shared by `nexis check`, the
//!   service and the source-auth sidecar);
//! - `interval`: one interval end to end — discover the miners, evaluate each package,
//!   prune overlaps ([`IntervalEvaluator`]);
//! - `service`: the long-running loop around it ([`ValidatorService`]) — configuration
//!   ([`ValidatorConfig`]), durable state, metrics, the weight setter (backoff, intent and
//!   reveals) beside the reveal watchdog, and the source-auth sidecar;
//! - `sampling` (the deterministic draws of protocol §9, used by package and interval)
//!   and `scoring` (decisions to weights, protocol §11).
//!
//! Callers use the re-exports below; the submodules are the validator's own.

mod interval;
mod package;
mod sampling;
mod scoring;
mod service;

pub use interval::{
    IntervalContext, IntervalError, IntervalEvaluator, IntervalRecord, IntervalReport, IntervalSettings, KeptPackage,
    PublishSummary, Seat,
};
pub use package::{
    ContentChecks, DEFAULT_SOURCE_CHECK_ROWS, EnvironmentError, IntervalTerms, PackageLimits, PackageOutcome,
    PackageRequest, PackageValidator, RowCheck, RowCheckResult, SourceCheck, SourceFetchSettings, SourceStats,
    forgive_unusable_replies, media_failures, run_within,
};
pub use sampling::{
    DEFAULT_EXTRA_SAMPLES, interval_seed, normalize_block_hash, seed_int, select_miners, select_row_indices,
};
pub use scoring::{
    ScoredDecision, ScoringWindows, UidWeights, epoch_scores, normalize, rank_scores, score_totals, to_uid_weights,
    weights_call,
};
pub use service::{
    ConfigError, ConfigField, IntervalPublisher, Metrics, ServiceError, ServiceSettings, SourceAuthSidecar, StateError,
    TickReport, ValidatorConfig, ValidatorService, ValidatorState, Watched, WeightSubmission,
};
