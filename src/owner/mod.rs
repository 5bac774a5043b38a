//! The subnet owner's two extra duties (protocol §10, §13).
//!
//! - [`publish`]: owner mode of `nexis validate` — after each interval, publish every
//!   accepted miner's post-prune bundle (`{I}/{hotkey}/dataset.parquet` + manifest copy) to
//!   the record-info bucket, and the merged `record_info.json` overlap snapshot (only when
//!   this interval's snapshot read was trusted; temporary key first, then the real key).
//! - [`sync`]: `nexis sync-owner-datasets` — copy every row of every unmarked bundle from
//!   the miner's bucket into the owner dataset bucket, verifying both hashes, with per-row
//!   progress in sled ([`progress`]), retries with backoff and a completion marker.
//! - [`mode`]: [`OwnerMode`], the one way `nexis validate` and the demo turn a validator
//!   into the owner's (snapshot source + publisher).
//! - [`pending`]: bundles not published yet (retried after the next interval).
//! - [`metadata`]: the `metadata.json` beside each owner clip.
//! - [`summary`]: the counters and failures of one sync pass.
//!
//! The bundle format and the owner buckets' keys are [`crate::bundle`], shared with the
//! catalog.
//! - [`metrics`]: the sync worker's Prometheus counters.

pub(crate) mod metadata;
pub mod metrics;
pub mod mode;
pub mod pending;
pub mod progress;
pub mod publish;
pub(crate) mod summary;
pub(crate) mod sync;

pub use crate::bundle::keys::owner_row_id;
pub use mode::OwnerMode;
pub use publish::{OwnerPublisher, PublishReport, SnapshotPublish};
pub use summary::{PassSummary, RowFailure};
pub use sync::{OwnerSync, SyncError, SyncSettings};
