//! Owner mode of a validator (protocol §13), assembled in one place for `nexis validate`
//! and the demo, so the two cannot drift: the record-info bucket is the overlap snapshot
//! source (unless separate read keys already name one) and the target of the
//! [`OwnerPublisher`], whose pending bundles live in the validator state.

use std::sync::Arc;

use super::pending::PendingBundles;
use super::publish::{DEFAULT_MAX_ATTEMPTS, OwnerPublisher};
use crate::index::refresh::SnapshotSource;
use crate::storage::ObjectStore;
use crate::validator::ValidatorConfig;

/// The record-info bucket an owner's validator publishes to.
pub struct OwnerMode {
    /// The record-info bucket, with write credentials.
    pub record_info: Arc<dyn ObjectStore>,
    /// Key of `record_info.json` in it.
    pub snapshot_key: String,
}

impl OwnerMode {
    /// Turns `config` into an owner's validator: it reads the snapshot from the record-info
    /// bucket when no other source is set, and publishes accepted bundles and the merged
    /// snapshot after each interval (bundles under the package size cap, built in the
    /// validator's scratch directory, retried [`DEFAULT_MAX_ATTEMPTS`] times).
    pub fn install(self, config: &mut ValidatorConfig) {
        let Self { record_info, snapshot_key } = self;
        if config.snapshot.is_none() {
            config.snapshot = Some(SnapshotSource { store: record_info.clone(), key: snapshot_key.clone() });
        }
        config.publisher = Some(Arc::new(OwnerPublisher {
            record_info,
            snapshot_key,
            chain: config.chain.clone(),
            netuid: config.seat.netuid,
            stores: config.stores.clone(),
            scratch: config.packages.scratch().join("owner"),
            max_dataset_bytes: config.packages.limits().max_dataset_bytes,
            pending: Some(PendingBundles::in_tree(config.state.owner_pending_tree())),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }));
    }
}
