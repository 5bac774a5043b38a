//! The owner dataset bucket and the validator named in its catalog: shared by
//! `sync-owner-datasets` and `nexis dataset`.

use anyhow::bail;
use clap::Args;

use crate::cli::secret::Secret;

/// The owner dataset bucket and its write credentials.
#[derive(Debug, Clone, Args)]
pub(crate) struct OwnerDbArgs {
    /// The owner dataset bucket.
    #[arg(long, env = "NEXIS_OWNER_DB_BUCKET")]
    pub(crate) owner_db_bucket: Option<String>,
    /// Cloudflare account id of the owner dataset bucket.
    #[arg(long, env = "NEXIS_OWNER_DB_ACCOUNT_ID", hide_env_values = true)]
    pub(crate) owner_db_account_id: Option<String>,
    /// Write access key of the owner dataset bucket.
    #[arg(long, env = "NEXIS_OWNER_DB_WRITE_ACCESS_KEY", hide_env_values = true)]
    pub(crate) owner_db_write_access_key: Option<Secret>,
    /// Write secret key of the owner dataset bucket.
    #[arg(long, env = "NEXIS_OWNER_DB_WRITE_SECRET_KEY", hide_env_values = true)]
    pub(crate) owner_db_write_secret_key: Option<Secret>,
}

impl OwnerDbArgs {
    /// The bucket name, unless unset or empty.
    pub(crate) fn bucket(&self) -> Option<&str> {
        self.owner_db_bucket.as_deref().map(str::trim).filter(|b| !b.is_empty())
    }

    /// The bucket name, or an error saying `who` needs it.
    pub(crate) fn required_bucket(&self, who: &str) -> anyhow::Result<&str> {
        match self.bucket() {
            Some(bucket) => Ok(bucket),
            None => bail!("NEXIS_OWNER_DB_BUCKET is not set; {who} needs it"),
        }
    }

    /// `(name, value)` of the account id and the write keys, for credential checks.
    pub(crate) fn credentials(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("NEXIS_OWNER_DB_ACCOUNT_ID", self.owner_db_account_id.as_deref()),
            ("NEXIS_OWNER_DB_WRITE_ACCESS_KEY", self.owner_db_write_access_key.as_deref()),
            ("NEXIS_OWNER_DB_WRITE_SECRET_KEY", self.owner_db_write_secret_key.as_deref()),
        ]
    }
}

/// The validator whose accepted bundles the owner catalog records.
#[derive(Debug, Clone, Args)]
pub(crate) struct CatalogValidatorArg {
    /// The validator that accepted the bundles (the owner's hotkey), written to the catalog.
    #[arg(long, env = "NEXIS_OWNER_SYNC_VALIDATOR_HOTKEY")]
    pub(crate) validator_hotkey: Option<String>,
}

impl CatalogValidatorArg {
    /// The hotkey, unless unset or empty.
    pub(crate) fn hotkey(&self) -> Option<String> {
        self.validator_hotkey.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from)
    }
}
