//! The protocol's data model: manifests, decisions, failure codes and source keys.

mod decision;
mod failure;
mod manifest;
mod record;
pub mod source_key;

pub use decision::{Decision, DecisionNotes};
pub use failure::{Failure, MAX_DECISION_FAILURES};
pub use failure::{FailureList, MediaField};
pub use manifest::IntervalManifest;
pub use manifest::ManifestError;
pub(crate) use manifest::format_timestamp;
pub(crate) use record::declared_num_frames;
pub use record::{ClipRecord, SourceProof, deterministic_clip_id};
