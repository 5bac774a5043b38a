//! The protocol's data model: manifests, decisions, failure codes and source keys.

mod decision;
mod failure;
mod manifest;
mod record;
pub mod source_key;

pub use decision::{Decision, DecisionNotes};
pub use failure::{Failure, FailureCode, FailureList, MAX_DECISION_FAILURES, MediaField};
pub(crate) use manifest::format_timestamp;
pub use manifest::{IntervalManifest, ManifestError};
pub(crate) use record::declared_num_frames;
pub use record::{ClipRecord, SourceProof, deterministic_clip_id};
