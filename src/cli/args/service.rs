//! Settings every long-running service shares (`validate`, `sync-owner-datasets`,
//! `validate-source-auth`): the work directory, where miner buckets are read from, and the
//! `/metrics` address.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tracing::info;

use super::{LocalBucketsArg, S3EndpointArg, WorkdirArg};
use nexis::storage::{LocalBuckets, MinerStores, S3Buckets};

/// The work directory and where buckets are read from.
#[derive(Debug, Args)]
pub(crate) struct StorageArgs {
    #[command(flatten)]
    pub(crate) workdir: WorkdirArg,
    #[command(flatten)]
    pub(crate) buckets: LocalBucketsArg,
    #[command(flatten)]
    pub(crate) s3: S3EndpointArg,
}

impl StorageArgs {
    /// The state directory, created.
    pub(crate) fn workdir(&self) -> anyhow::Result<PathBuf> {
        self.workdir.create()
    }

    /// The S3 endpoint override, when set.
    pub(crate) fn endpoint(&self) -> Option<String> {
        self.s3.get()
    }

    /// Miner buckets: local directories or S3/R2 with the committed read keys.
    pub(crate) fn miner_stores(&self) -> Arc<dyn MinerStores> {
        match &self.buckets.buckets_dir {
            Some(dir) => {
                info!(dir = %dir.display(), "reading miner buckets from a local directory");
                Arc::new(LocalBuckets { root: dir.clone() })
            }
            None => Arc::new(S3Buckets::new(self.endpoint())),
        }
    }
}

/// Storage and metrics address of a long-running service.
#[derive(Debug, Args)]
pub(crate) struct ServiceArgs {
    #[command(flatten)]
    pub(crate) storage: StorageArgs,
    /// Address of the Prometheus `/metrics` endpoint; empty turns it off.
    #[arg(long, env = "NEXIS_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub(crate) metrics_addr: String,
}

impl ServiceArgs {
    /// Serves `/metrics` with `render` unless the address is empty.
    pub(crate) async fn serve_metrics(
        &self,
        render: impl Fn() -> String + Clone + Send + Sync + 'static,
    ) -> anyhow::Result<()> {
        super::serve_metrics(&self.metrics_addr, "NEXIS_METRICS_ADDR", render).await
    }
}
