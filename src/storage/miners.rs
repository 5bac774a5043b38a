//! Where each miner's bucket is read from: R2 (or any S3-compatible endpoint) with the
//! credentials the miner committed, or a local directory per bucket for the embedded
//! network and tests.

use std::path::PathBuf;
use std::sync::Arc;

use super::{LocalStore, ObjectStore, S3Config, S3Store, StorageError};
use crate::chain::ReadCredentials;
use crate::chain::commitment::bucket_for_hotkey;

/// Opens the store of a miner's bucket.
pub trait MinerStores: Send + Sync {
    /// The bucket of `hotkey`, read with its committed `credentials`.
    fn store_for(&self, hotkey: &str, credentials: &ReadCredentials) -> Result<Arc<dyn ObjectStore>, StorageError>;
}

/// Buckets as directories `{root}/{lowercase hotkey}/`.
#[derive(Debug, Clone)]
pub struct LocalBuckets {
    /// Directory holding one sub-directory per miner bucket.
    pub root: PathBuf,
}

impl MinerStores for LocalBuckets {
    fn store_for(&self, hotkey: &str, _credentials: &ReadCredentials) -> Result<Arc<dyn ObjectStore>, StorageError> {
        Ok(Arc::new(LocalStore::new(self.root.join(bucket_for_hotkey(hotkey)))))
    }
}

/// Miner buckets on R2 (or, with an endpoint override, any S3-compatible server), read
/// with the credentials each miner committed; the bucket is the lowercase hotkey.
#[derive(Debug, Clone, Default)]
pub struct S3Buckets {
    endpoint_override: Option<String>,
}

impl S3Buckets {
    /// `endpoint_override` replaces `https://{account}.r2.cloudflarestorage.com`.
    pub fn new(endpoint_override: Option<String>) -> Self {
        Self { endpoint_override }
    }
}

impl MinerStores for S3Buckets {
    fn store_for(&self, hotkey: &str, credentials: &ReadCredentials) -> Result<Arc<dyn ObjectStore>, StorageError> {
        let config = S3Config::r2(
            &credentials.account_id,
            bucket_for_hotkey(hotkey),
            credentials.read_access_key.clone(),
            credentials.read_secret_key.clone(),
        )
        .with_endpoint_override(self.endpoint_override.clone());
        Ok(Arc::new(S3Store::new(config)?))
    }
}
