//! One miner's package: what a validation needs to know ([`PackageRequest`], its
//! [`PackageLimits`]), the per-miner time budget, the stages in pipeline order and the
//! [`PackageValidator`] that runs them — the one pipeline `nexis check`, the service and
//! the source-auth sidecar share.

mod budget;
mod pipeline;
mod request;
mod source_fetch;
mod stages;

pub use budget::run_within;
pub use pipeline::{PackageOutcome, PackageValidator};
pub use request::{IntervalTerms, PackageLimits, PackageRequest};
pub use source_fetch::SourceFetchSettings;
pub use stages::assets::{EnvironmentError, media_failures};
pub use stages::content::{ContentChecks, forgive_unusable_replies};
pub(crate) use stages::row_checks::LlmUsage;
pub use stages::row_checks::{RowCheck, RowCheckResult};
pub(crate) use stages::source::REPEATED_INCONCLUSIVE_REMARK;
pub use stages::source::{DEFAULT_SOURCE_CHECK_ROWS, SourceCheck, SourceStats};
