//! Where buckets are: a local directory standing in for R2, or an S3 endpoint override.

use std::path::PathBuf;

use clap::Args;

/// Buckets as local directories.
#[derive(Debug, Clone, Args)]
pub(crate) struct LocalBucketsArg {
    /// Read buckets from `{DIR}/{bucket}/` instead of R2 (embedded network, demos).
    #[arg(long, env = "NEXIS_LOCAL_BUCKETS_DIR")]
    pub(crate) buckets_dir: Option<PathBuf>,
}

/// An S3 endpoint instead of Cloudflare R2's.
#[derive(Debug, Clone, Args)]
pub(crate) struct S3EndpointArg {
    /// S3 endpoint used instead of `https://{account}.r2.cloudflarestorage.com`.
    #[arg(long, env = "NEXIS_S3_ENDPOINT")]
    pub(crate) s3_endpoint: Option<String>,
}

impl S3EndpointArg {
    /// The endpoint override, unless unset or empty.
    pub(crate) fn get(&self) -> Option<String> {
        self.s3_endpoint.clone().filter(|e| !e.trim().is_empty())
    }
}
