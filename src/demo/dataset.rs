//! The demo as the subnet owner: its validator publishes every accepted bundle to a local
//! record-info bucket, and after the last interval one owner sync pass copies the clips
//! into `buckets/owner-db` with the parquet catalog, so the demo ends with a dataset
//! (`nexis dataset stats --from {workdir}/buckets/owner-db`).

use std::sync::Arc;

use tracing::{info, warn};

use super::subnet::{NETUID, Subnet};
use super::{DemoError, DemoSettings};
use crate::index::refresh::DEFAULT_BUCKET;
use crate::owner::metrics::SyncMetrics;
use crate::owner::progress::ProgressStore;
use crate::owner::{OwnerSync, SyncSettings};
use crate::storage::LocalBuckets;
use crate::storage::LocalStore;

/// The owner dataset bucket of the demo, under `buckets/`.
pub(crate) const OWNER_DB_BUCKET: &str = "owner-db";

/// One owner sync pass over everything the demo's validator published. A failure is
/// logged, not fatal: the subnet part of the demo has already finished.
pub(crate) async fn sync_owner_dataset(subnet: &Subnet, settings: &DemoSettings) {
    if let Err(e) = try_sync(subnet, settings).await {
        warn!(error = %e, "the demo's owner dataset sync failed");
    }
}

async fn try_sync(subnet: &Subnet, settings: &DemoSettings) -> Result<(), DemoError> {
    let dir = settings.workdir.join("owner-sync");
    let progress = ProgressStore::open(&dir.join("progress")).map_err(|e| DemoError::OwnerSync(e.to_string()))?;
    let sync = OwnerSync {
        record_info: Arc::new(LocalStore::new(subnet.buckets_dir.join(DEFAULT_BUCKET))),
        owner_db: Arc::new(LocalStore::new(subnet.buckets_dir.join(OWNER_DB_BUCKET))),
        chain: Arc::new(subnet.chain.clone()),
        stores: Arc::new(LocalBuckets { root: subnet.buckets_dir.clone() }),
        progress,
        metrics: Arc::new(SyncMetrics::new()),
        settings: SyncSettings {
            netuid: NETUID,
            scratch: dir.join("scratch"),
            interval_blocks: settings.clock.interval_blocks,
            validator_hotkey: Some(subnet.validator.ss58()),
            ..SyncSettings::default()
        },
        heartbeat: None,
    };
    let summary = sync.pass().await.map_err(|e| DemoError::OwnerSync(e.to_string()))?;
    info!(
        rows_copied = summary.rows_copied,
        catalog_parts = summary.catalog_parts_written,
        owner_db = %subnet.buckets_dir.join(OWNER_DB_BUCKET).display(),
        "owner dataset synced; see it with `nexis dataset stats --from <that folder>`"
    );
    Ok(())
}
