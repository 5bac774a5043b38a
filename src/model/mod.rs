//! The protocol's data model: manifests, decisions, failure codes and source keys.

mod decision;
mod failure;
mod manifest;
mod record;
pub mod source_key;

pub use decision::{Decision, DecisionNotes};
pub use failure::{Failure, FailureList, MAX_DECISION_FAILURES, MediaField};
pub use manifest::{IntervalManifest, ManifestError, format_timestamp};
pub use record::{ClipRecord, SourceProof, declared_num_frames, deterministic_clip_id};
