//! The record-info bucket holding the shared overlap snapshot (protocol §10): where
//! validators read it and the owner writes it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use nexis::index::refresh::{DEFAULT_BUCKET, DEFAULT_OBJECT_KEY, SnapshotSource};
use nexis::storage::{LocalStore, ObjectStore};
use tracing::info;

use super::R2Credentials;
use crate::cli::secret::Secret;

/// The record-info bucket holding the shared overlap snapshot (protocol §10).
#[derive(Debug, Args)]
pub(crate) struct RecordInfoArgs {
    /// Bucket of the shared `record_info.json`.
    #[arg(long, env = "NEXIS_RECORD_INFO_BUCKET", default_value = DEFAULT_BUCKET)]
    pub(crate) record_info_bucket: String,
    /// Object key of the snapshot in that bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_OBJECT_KEY", default_value = DEFAULT_OBJECT_KEY)]
    pub(crate) record_info_object_key: String,
    /// Cloudflare account id of the record-info bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_ACCOUNT_ID", hide_env_values = true)]
    pub(crate) record_info_account_id: Option<String>,
    /// Read access key of the record-info bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_READ_ACCESS_KEY", hide_env_values = true)]
    pub(crate) record_info_read_access_key: Option<Secret>,
    /// Read secret key of the record-info bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_READ_SECRET_KEY", hide_env_values = true)]
    pub(crate) record_info_read_secret_key: Option<Secret>,
}

impl RecordInfoArgs {
    /// The snapshot's object key, trimmed.
    pub(crate) fn object_key(&self) -> String {
        self.record_info_object_key.trim().to_string()
    }

    /// Where to read the snapshot: a local bucket directory, R2 with read keys, or nowhere.
    pub(crate) fn source(
        &self,
        buckets_dir: Option<&PathBuf>,
        endpoint: Option<String>,
    ) -> anyhow::Result<Option<SnapshotSource>> {
        let bucket = self.record_info_bucket.trim();
        let store: Arc<dyn ObjectStore> = if let Some(dir) = buckets_dir {
            Arc::new(LocalStore::new(dir.join(bucket)))
        } else {
            let credentials = R2Credentials {
                account_id: ("NEXIS_RECORD_INFO_ACCOUNT_ID", self.record_info_account_id.as_deref()),
                access_key: ("NEXIS_RECORD_INFO_READ_ACCESS_KEY", self.record_info_read_access_key.as_deref()),
                secret_key: ("NEXIS_RECORD_INFO_READ_SECRET_KEY", self.record_info_read_secret_key.as_deref()),
            };
            match credentials.all_or_none("reading the record-info bucket")? {
                Some(keys) => keys.store(bucket, endpoint, "record-info bucket")?,
                None => {
                    info!(
                        "no NEXIS_RECORD_INFO_* credentials: the overlap index holds this validator's own kept rows only"
                    );
                    return Ok(None);
                }
            }
        };
        Ok(Some(SnapshotSource { store, key: self.object_key() }))
    }
}

/// Write access to the record-info bucket (owner validator and owner sync). No defaults.
#[derive(Debug, Args)]
pub(crate) struct RecordInfoWriteArgs {
    /// Write access key of the record-info bucket (owner only).
    #[arg(long, env = "NEXIS_RECORD_INFO_WRITE_ACCESS_KEY", hide_env_values = true)]
    pub(crate) record_info_write_access_key: Option<Secret>,
    /// Write secret key of the record-info bucket (owner only).
    #[arg(long, env = "NEXIS_RECORD_INFO_WRITE_SECRET_KEY", hide_env_values = true)]
    pub(crate) record_info_write_secret_key: Option<Secret>,
}

impl RecordInfoWriteArgs {
    /// The record-info bucket with write access: a local bucket directory, or R2 with the
    /// account id and write keys, refusing (naming every missing variable) without them.
    pub(crate) fn store(
        &self,
        info: &RecordInfoArgs,
        buckets_dir: Option<&PathBuf>,
        endpoint: Option<String>,
        who: &str,
    ) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let bucket = info.record_info_bucket.trim();
        if bucket.is_empty() {
            bail!("NEXIS_RECORD_INFO_BUCKET is empty; {who} needs the record-info bucket");
        }
        if let Some(dir) = buckets_dir {
            return Ok(Arc::new(LocalStore::new(dir.join(bucket))));
        }
        let credentials = R2Credentials {
            account_id: ("NEXIS_RECORD_INFO_ACCOUNT_ID", info.record_info_account_id.as_deref()),
            access_key: ("NEXIS_RECORD_INFO_WRITE_ACCESS_KEY", self.record_info_write_access_key.as_deref()),
            secret_key: ("NEXIS_RECORD_INFO_WRITE_SECRET_KEY", self.record_info_write_secret_key.as_deref()),
        };
        let keys = credentials.required(&format!("{who}, writing to the record-info bucket,"))?;
        keys.store(bucket, endpoint, "record-info bucket")
    }
}
