//! The global overlap index of protocol §10: the start times already published per
//! canonical source key.
//!
//! - [`snapshot`]: the shared `record_info.json` object — a lenient reader for every form
//!   in circulation and the canonical writer.

pub mod snapshot;

pub use snapshot::{Snapshot, SnapshotError};
