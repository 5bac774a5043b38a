//! An S3-compatible bucket as an object store: Cloudflare R2 (a miner's bucket, protocol
//! §4) or any S3-compatible endpoint (`NEXIS_S3_ENDPOINT`). Path-style addressing, static
//! credentials, bounded timeouts and retries of transient errors only. Downloads stream
//! through [`copy_capped`], so an object is hashed on the way and never exceeds its cap.
//!
//! Error messages never carry the credentials: they are built from the service's error
//! code and message, and anything that still mentions a key is scrubbed.

use std::fmt;
use std::path::Path;
use std::pin::pin;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use tokio::fs;

use super::{Downloaded, ObjectMeta, ObjectStore, StorageError, copy_capped, normalize_uri};

/// What an [`S3Store`] connects to and how patiently.
#[derive(Clone)]
pub struct S3Config {
    /// Endpoint URL, e.g. `https://{account_id}.r2.cloudflarestorage.com`.
    pub endpoint: String,
    /// Signing region (`auto` for R2).
    pub region: String,
    /// Bucket name.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key (redacted in `Debug`).
    pub secret_key: String,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed between bytes of a response.
    pub read_timeout: Duration,
    /// Time allowed for a whole operation, retries and body transfer included.
    pub operation_timeout: Duration,
    /// Attempts per operation (1 = no retry); only transient errors are retried.
    pub max_attempts: u32,
}

impl S3Config {
    /// Default connect timeout.
    pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default read timeout.
    pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default operation timeout.
    pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
    /// Default attempts per operation.
    pub(crate) const MAX_ATTEMPTS: u32 = 4;

    /// A config for `endpoint` with the default timeouts and attempts.
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        bucket: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: region.into(),
            bucket: bucket.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            connect_timeout: Self::CONNECT_TIMEOUT,
            read_timeout: Self::READ_TIMEOUT,
            operation_timeout: Self::OPERATION_TIMEOUT,
            max_attempts: Self::MAX_ATTEMPTS,
        }
    }

    /// A Cloudflare R2 bucket: endpoint `https://{account_id}.r2.cloudflarestorage.com`,
    /// region `auto` (protocol §4).
    pub fn r2(
        account_id: &str,
        bucket: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        Self::new(format!("https://{account_id}.r2.cloudflarestorage.com"), "auto", bucket, access_key, secret_key)
    }

    /// Replaces the endpoint when `endpoint` is set (`NEXIS_S3_ENDPOINT`: any S3-compatible
    /// store in place of R2). An empty or blank value leaves it unchanged.
    pub fn with_endpoint_override(mut self, endpoint: Option<String>) -> Self {
        if let Some(e) = endpoint.map(|e| e.trim().to_string()).filter(|e| !e.is_empty()) {
            self.endpoint = e;
        }
        self
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// Object store over one S3 bucket. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    config: S3Config,
    list_page_size: i32,
}

/// Shows the (redacted) config only: the SDK client's own `Debug` prints the access key.
impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("config", &self.config)
            .field("list_page_size", &self.list_page_size)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Most keys S3 returns per ListObjectsV2 page.
    pub(crate) const MAX_LIST_PAGE: i32 = 1000;

    /// A store for `config.bucket`. Fails only on an unusable endpoint or empty bucket name;
    /// nothing is contacted until the first request.
    pub fn new(config: S3Config) -> Result<Self, StorageError> {
        let invalid = |message: String| StorageError::Backend { key: config.bucket.clone(), message };
        if config.bucket.trim().is_empty() {
            return Err(invalid("empty bucket name".into()));
        }
        match url::Url::parse(&config.endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(invalid(format!("invalid S3 endpoint URL {:?}", config.endpoint))),
        }
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .operation_timeout(config.operation_timeout)
            .build();
        let sdk = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(Credentials::new(&config.access_key, &config.secret_key, None, None, "nexis"))
            .region(Region::new(config.region.clone()))
            .endpoint_url(config.endpoint.clone())
            .force_path_style(true)
            .timeout_config(timeouts)
            // Standard mode: exponential backoff with jitter, transient errors only.
            .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.max(1)))
            // S3-compatible stores vary in their support of the newer default checksums;
            // downloads are hashed with sha256 by us anyway.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(Self { client: Client::from_conf(sdk), config, list_page_size: Self::MAX_LIST_PAGE })
    }

    /// Lists with pages of `size` keys (clamped to 1..=1000) instead of the S3 maximum.
    pub fn with_list_page_size(mut self, size: u32) -> Self {
        self.list_page_size = i32::try_from(size).unwrap_or(Self::MAX_LIST_PAGE).clamp(1, Self::MAX_LIST_PAGE);
        self
    }

    /// The bucket this store reads and writes.
    pub fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// Deletes an object; deleting an absent object succeeds, as in S3.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let key = self.checked_key(key)?;
        let req = self.client.delete_object().bucket(self.bucket()).key(key);
        req.send().await.map_err(|e| self.sdk_error(key, e))?;
        Ok(())
    }

    /// Object keys are the normalised relative paths [`normalize_uri`] produces, so a key
    /// can never address another bucket through a path-style URL.
    fn checked_key<'a>(&self, key: &'a str) -> Result<&'a str, StorageError> {
        match normalize_uri(key) {
            Some(n) if n == key => Ok(key),
            _ => Err(StorageError::InvalidKey { key: key.to_string() }),
        }
    }

    /// Maps an SDK error: HTTP 404 is `NotFound`, anything else `Backend` with a message
    /// free of credentials.
    fn sdk_error<E>(&self, key: &str, err: SdkError<E, HttpResponse>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if is_not_found(&err) {
            return StorageError::NotFound { key: key.to_string() };
        }
        let message = match &err {
            SdkError::ServiceError(e) => {
                let status = e.raw().status().as_u16();
                match (err.code(), err.message()) {
                    (Some(code), Some(msg)) => format!("{code}: {msg} (HTTP {status})"),
                    (Some(code), None) => format!("{code} (HTTP {status})"),
                    _ => format!("HTTP {status}"),
                }
            }
            _ => error_chain(&err),
        };
        self.backend(key, message)
    }

    /// A `Backend` error whose message has any credential scrubbed out.
    fn backend(&self, key: &str, message: String) -> StorageError {
        let mut message = message;
        for secret in [&self.config.secret_key, &self.config.access_key] {
            if !secret.is_empty() {
                message = message.replace(secret.as_str(), "<redacted>");
            }
        }
        StorageError::Backend { key: key.to_string(), message: format!("bucket {}: {message}", self.bucket()) }
    }

    /// Runs `fut` within the operation timeout (covers body transfer, which the SDK's own
    /// operation timeout does not).
    async fn within_deadline<T>(
        &self,
        key: &str,
        fut: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.config.operation_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(self.backend(key, format!("transfer exceeded {:?}", self.config.operation_timeout))),
        }
    }

    /// Opens an object for reading, refusing early when its declared length exceeds the cap.
    async fn open(&self, key: &str, max_bytes: u64) -> Result<(ByteStream, Option<u64>), StorageError> {
        let key = self.checked_key(key)?;
        let out = self.client.get_object().bucket(self.bucket()).key(key).send().await;
        let out = out.map_err(|e| self.sdk_error(key, e))?;
        let len = out.content_length().and_then(|l| u64::try_from(l).ok());
        if len.is_some_and(|l| l > max_bytes) {
            return Err(StorageError::TooLarge { key: key.to_string(), limit: max_bytes });
        }
        Ok((out.body, len))
    }

    async fn download_to_file(&self, key: &str, dest: &Path, max_bytes: u64) -> Result<Downloaded, StorageError> {
        let (body, _) = self.open(key, max_bytes).await?;
        let out = fs::File::create(dest).await.map_err(|source| StorageError::Io { key: key.to_string(), source })?;
        copy_capped(key, pin!(body.into_async_read()), out, max_bytes).await
    }

    async fn download_bytes(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
        let (body, len) = self.open(key, max_bytes).await?;
        // The declared length is at most the cap here; still, never preallocate much on trust.
        let mut out = Vec::with_capacity(len.unwrap_or(0).min(1 << 20) as usize);
        copy_capped(key, pin!(body.into_async_read()), &mut out, max_bytes).await?;
        Ok(out)
    }

    async fn upload(&self, key: &str, body: ByteStream) -> Result<(), StorageError> {
        let key = self.checked_key(key)?;
        let req = self.client.put_object().bucket(self.bucket()).key(key).body(body);
        req.send().await.map_err(|e| self.sdk_error(key, e))?;
        Ok(())
    }
}

/// `err` and its sources, `Display` only, joined with `": "`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// HTTP 404 (HeadObject has no body, so no code) or a not-found error code.
fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    let status_404 = err.raw_response().is_some_and(|r| r.status().as_u16() == 404);
    status_404 || matches!(err.code(), Some("NoSuchKey" | "NotFound" | "NoSuchBucket"))
}

/// Converts an S3 timestamp; `None` if out of chrono's range.
fn to_chrono(t: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let key = self.checked_key(key)?;
        let fut = async {
            match self.client.head_object().bucket(self.bucket()).key(key).send().await {
                Ok(out) => Ok(Some(ObjectMeta {
                    key: key.to_string(),
                    size: out.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
                    last_modified: out.last_modified().and_then(to_chrono),
                })),
                Err(e) => match self.sdk_error(key, e) {
                    StorageError::NotFound { .. } => Ok(None),
                    other => Err(other),
                },
            }
        };
        self.within_deadline(key, fut).await
    }

    async fn get_to_file(&self, key: &str, dest: &Path, max_bytes: u64) -> Result<Downloaded, StorageError> {
        let result = self.within_deadline(key, self.download_to_file(key, dest, max_bytes)).await;
        if result.is_err() {
            // Never leave a partial download behind (absent already is fine).
            let _ = fs::remove_file(dest).await;
        }
        result
    }

    async fn get_bytes(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
        self.within_deadline(key, self.download_bytes(key, max_bytes)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let fut = async {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let req = self
                    .client
                    .list_objects_v2()
                    .bucket(self.bucket())
                    .prefix(prefix)
                    .max_keys(self.list_page_size)
                    .set_continuation_token(token.take());
                let page = req.send().await.map_err(|e| self.sdk_error(prefix, e))?;
                out.extend(page.contents().iter().filter_map(|o| {
                    Some(ObjectMeta {
                        key: o.key()?.to_string(),
                        size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                        last_modified: o.last_modified().and_then(to_chrono),
                    })
                }));
                match page.next_continuation_token() {
                    Some(next) if page.is_truncated() == Some(true) && !next.is_empty() => {
                        token = Some(next.to_string());
                    }
                    _ => break,
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        };
        self.within_deadline(prefix, fut).await
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StorageError> {
        let fut = async {
            let body = ByteStream::from_path(src)
                .await
                .map_err(|e| StorageError::Io { key: key.to_string(), source: std::io::Error::other(e) })?;
            self.upload(key, body).await
        };
        self.within_deadline(key, fut).await
    }

    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.within_deadline(key, self.upload(key, ByteStream::from(bytes.to_vec()))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_endpoint_override_and_redacted_debug() {
        let c = S3Config::r2("0123abcd", "bucket", "AKID-visible-nowhere", "SECRET-visible-nowhere");
        assert_eq!(c.endpoint, "https://0123abcd.r2.cloudflarestorage.com");
        assert_eq!(c.region, "auto");
        assert_eq!(c.max_attempts, 4);
        let debug = format!("{c:?}");
        assert!(!debug.contains("visible-nowhere"), "{debug}");
        assert!(debug.contains("<redacted>"));
        let same = c.clone().with_endpoint_override(Some("  ".into()));
        assert_eq!(same.endpoint, c.endpoint);
        let other = c.with_endpoint_override(Some("http://127.0.0.1:9000".into()));
        assert_eq!(other.endpoint, "http://127.0.0.1:9000");
    }

    #[test]
    fn bad_endpoint_and_keys_are_refused() {
        let c = S3Config::new("not a url", "auto", "b", "a", "s");
        assert!(matches!(S3Store::new(c), Err(StorageError::Backend { .. })));
        let store = S3Store::new(S3Config::new("http://127.0.0.1:1", "auto", "b", "AKIDTEST", "SECRETTEST")).unwrap();
        assert!(store.checked_key("../other/x").is_err());
        assert!(store.checked_key("/abs").is_err());
        assert!(store.checked_key("5/clips/a.mp4").is_ok());
        let err = store.backend("k", "signed with AKIDTEST/SECRETTEST".into()).to_string();
        assert_eq!(err, "storage backend error on k: bucket b: signed with <redacted>/<redacted>");
        assert_eq!(store.with_list_page_size(0).list_page_size, 1);
    }
}
