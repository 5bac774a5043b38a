//! Where each miner's bucket is read from: R2 (or any S3-compatible endpoint) with the
//! credentials the miner committed, or a local directory per bucket for the embedded
//! network and tests.

use std::path::PathBuf;
use std::sync::Arc;

use crate::chain::ReadCredentials;
use crate::chain::commitment::bucket_for_hotkey;
use crate::storage::{LocalStore, ObjectStore, StorageError};

/// Opens the store of a miner's bucket.
pub trait MinerStores: Send + Sync {
    /// The bucket of `hotkey`, read with its committed `credentials`.
    fn store_for(&self, hotkey: &str, credentials: &ReadCredentials) -> Result<Arc<dyn ObjectStore>, StorageError>;
}

/// Buckets as directories `{root}/{lowercase hotkey}/`.
#[derive(Debug, Clone)]
pub struct LocalBuckets {
    pub root: PathBuf,
}

impl MinerStores for LocalBuckets {
    fn store_for(&self, hotkey: &str, _credentials: &ReadCredentials) -> Result<Arc<dyn ObjectStore>, StorageError> {
        Ok(Arc::new(LocalStore::new(self.root.join(bucket_for_hotkey(hotkey)))))
    }
}
