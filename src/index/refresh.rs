//! Refreshing the local index from the shared `record_info.json` snapshot in the
//! record-info bucket. The read is lenient; what cannot be parsed or fetched is
//! *untrusted*: it adds nothing and must never be used to overwrite the published index.

use std::sync::Arc;

use tracing::{info, warn};

use super::overlap::OverlapIndex;
use super::snapshot::{self, MAX_SNAPSHOT_BYTES};
use crate::storage::{ObjectStore, StorageError};

/// Default object key of the snapshot (`NEXIS_RECORD_INFO_OBJECT_KEY`).
pub const DEFAULT_OBJECT_KEY: &str = "record_info.json";
/// Default record-info bucket (`NEXIS_RECORD_INFO_BUCKET`).
pub const DEFAULT_BUCKET: &str = "nexis-record-info";

/// What a refresh found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotRead {
    /// Parsed: `entries` in the snapshot, `added` of them new to the local index.
    Trusted {
        /// Source keys in the snapshot.
        entries: usize,
        /// Source keys new to the local index.
        added: usize,
    },
    /// No snapshot published yet (an empty, trustworthy index).
    Missing,
    /// Unreadable or unparseable: ignored, and never to be overwritten.
    Untrusted(String),
}

/// Where the snapshot lives.
#[derive(Clone)]
pub struct SnapshotSource {
    /// The record-info bucket.
    pub store: Arc<dyn ObjectStore>,
    /// Object key of the snapshot (`record_info.json` by default).
    pub key: String,
}

impl std::fmt::Debug for SnapshotSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotSource").field("key", &self.key).finish_non_exhaustive()
    }
}

impl SnapshotSource {
    /// Reads the snapshot and merges it into `index`.
    pub async fn refresh(&self, index: &OverlapIndex) -> SnapshotRead {
        let bytes = match self.store.get_bytes(&self.key, MAX_SNAPSHOT_BYTES).await {
            Ok(b) => b,
            Err(StorageError::NotFound { .. }) => {
                info!(key = %self.key, "no overlap snapshot published yet");
                return SnapshotRead::Missing;
            }
            Err(e) => {
                warn!(key = %self.key, error = %e, "cannot read the overlap snapshot; using the local index only");
                return SnapshotRead::Untrusted(e.to_string());
            }
        };
        let index = index.clone();
        let merged = tokio::task::spawn_blocking(move || {
            let parsed = snapshot::parse(&bytes).map_err(|e| e.to_string())?;
            let entries = parsed.len();
            let pairs =
                parsed.entries.iter().flat_map(|(k, starts)| starts.iter().map(move |ms| (k.as_str(), *ms as i64)));
            let added = index.merge(pairs).map_err(|e| e.to_string())?;
            Ok::<_, String>((entries, added))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match merged {
            Ok((entries, added)) => {
                info!(key = %self.key, entries, added, "overlap index refreshed from the snapshot");
                SnapshotRead::Trusted { entries, added }
            }
            Err(e) => {
                warn!(key = %self.key, error = %e, "the overlap snapshot is unusable and will not be trusted");
                SnapshotRead::Untrusted(e)
            }
        }
    }
}
