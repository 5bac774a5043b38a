//! One interval end to end: [`discover`] the miners with valid commitments and select
//! them, evaluate every selected package with the package pipeline ([`evaluator`]), then
//! [`prune`] the overlaps between packages and against the index.

mod discover;
mod evaluator;
mod prune;

pub use evaluator::{
    IntervalContext, IntervalError, IntervalEvaluator, IntervalRecord, IntervalReport, IntervalSettings, KeptPackage,
    PublishSummary, Seat,
};
