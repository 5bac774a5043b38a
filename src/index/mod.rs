//! The global overlap index of protocol §10: the start times already published per
//! canonical source key.
//!
//! - [`overlap`]: the sled-backed index the validator prunes against.
//! - [`snapshot`]: the shared `record_info.json` object — a lenient reader for every form
//!   in circulation and the canonical writer.

pub mod fingerprints;
pub mod overlap;
pub mod refresh;
pub mod snapshot;

pub use snapshot::{Snapshot, SnapshotError};
