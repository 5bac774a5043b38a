//! The protocol's data model: manifests, decisions, failure codes and source keys.

mod decision;
mod failure;
mod manifest;
pub mod source_key;

pub use decision::{Decision, DecisionNotes};
pub use failure::{Failure, MediaField};
pub use manifest::{IntervalManifest, ManifestError, format_timestamp};
