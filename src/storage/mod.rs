//! Object storage: the [`ObjectStore`] trait every stage reads and writes through, the
//! key layout, and the size-capped, hashing download shared by all implementations.

mod keys;
mod local;
mod miners;
mod prefix;
mod s3;

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(crate) use keys::{asset_key, frame_uri, normalize_uri, normalize_uri_cow};
pub use keys::{clip_uri, dataset_key, manifest_key};
pub use local::LocalStore;
pub use miners::{LocalBuckets, MinerStores, S3Buckets};
pub use prefix::PrefixStore;
pub use s3::{S3Config, S3Store};

/// Size and modification time of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Size, bytes.
    pub size: u64,
    /// Last modification time, when the store reports it.
    pub last_modified: Option<DateTime<Utc>>,
}

/// An object downloaded to a file, with the sha256 computed while streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes written.
    pub size: u64,
    /// Lowercase hex sha256 of the bytes written.
    pub sha256: String,
}

/// Storage failures. `NotFound` and `TooLarge` are the miner's problem; the rest may be
/// the store's or ours.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object under the key.
    #[error("object {key} not found")]
    NotFound {
        /// The key looked up.
        key: String,
    },
    /// The object is bigger than the caller's cap.
    #[error("object {key} exceeds the size cap of {limit} bytes")]
    TooLarge {
        /// The object's key.
        key: String,
        /// The cap, bytes.
        limit: u64,
    },
    /// The key is not a safe relative object key.
    #[error("invalid object key {key:?}")]
    InvalidKey {
        /// The refused key.
        key: String,
    },
    /// Local I/O failed while reading or writing the object.
    #[error("storage I/O error on {key}: {source}")]
    Io {
        /// The object's key.
        key: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store answered with an error.
    #[error("storage backend error on {key}: {message}")]
    Backend {
        /// The object's key.
        key: String,
        /// The store's error.
        message: String,
    },
}

/// A flat key/value object store (a bucket, or a local directory standing in for one).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Size and last-modified time, or `None` if absent.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError>;
    /// Streams an object to `dest`, hashing as it goes, refusing more than `max_bytes`.
    async fn get_to_file(&self, key: &str, dest: &Path, max_bytes: u64) -> Result<Downloaded, StorageError>;
    /// Reads a small object into memory, refusing more than `max_bytes`.
    async fn get_bytes(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError>;
    /// Uploads a file.
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StorageError>;
    /// Uploads bytes.
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError>;
}

/// Copies at most `max_bytes` from `reader` to `writer`, hashing on the way. Reading one
/// byte past the cap is how an over-size object is detected without trusting its length.
pub(crate) async fn copy_capped<R, W>(
    key: &str,
    mut reader: R,
    mut writer: W,
    max_bytes: u64,
) -> Result<Downloaded, StorageError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let io = |source| StorageError::Io { key: key.to_string(), source };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > max_bytes {
            return Err(StorageError::TooLarge { key: key.to_string(), limit: max_bytes });
        }
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).await.map_err(io)?;
    }
    writer.flush().await.map_err(io)?;
    Ok(Downloaded { size, sha256: hex::encode(hasher.finalize()) })
}
