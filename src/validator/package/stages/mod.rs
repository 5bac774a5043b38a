//! The per-package stages, in pipeline order. Each takes plain inputs and returns plain
//! outputs or the load-stage failure that ends the evaluation.

pub(crate) mod admit;
pub(crate) mod assets;
pub(crate) mod content;
pub(crate) mod fetch;
pub(crate) mod fingerprint;
pub(crate) mod integrity;
pub(crate) mod row_checks;
pub(crate) mod sample;
pub(crate) mod schema;
pub(crate) mod source;

use crate::model::{DecisionNotes, Failure};

/// A load-stage failure with the notes that explain it (boxed: the notes are large and
/// travel in every stage's `Err`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LoadFailure {
    /// The load-stage failure.
    pub failure: Failure,
    /// Notes explaining it (expected and actual digests, counts, the error text).
    pub notes: Box<DecisionNotes>,
}

impl LoadFailure {
    /// A failure with an `error` note.
    pub(super) fn with_error(failure: Failure, error: impl Into<String>) -> Self {
        Self { failure, notes: Box::new(DecisionNotes { error: Some(error.into()), ..Default::default() }) }
    }

    /// A failure without extra notes.
    pub(super) fn bare(failure: Failure) -> Self {
        Self { failure, notes: Box::default() }
    }
}
