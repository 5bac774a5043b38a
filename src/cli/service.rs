//! Settings every long-running service shares (`validate`, `sync-owner-datasets`,
//! `validate-source-auth`): the work directory, where miner buckets are read from, and the
//! `/metrics` address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tracing::info;

use nexis::storage::{LocalBuckets, MinerStores, S3Buckets};
use nexis::telemetry::serve_render;

/// The work directory: the given one, else the XDG state directory (`~/.local/state/nexis`).
pub(crate) fn workdir(value: Option<PathBuf>) -> PathBuf {
    value.filter(|v| !v.as_os_str().is_empty()).unwrap_or_else(nexis::config::default_workdir)
}

/// The work directory and where buckets are read from.
#[derive(Debug, Args)]
pub(crate) struct StorageArgs {
    /// State and scratch directory (default: `$XDG_STATE_HOME/nexis`, i.e. `~/.local/state/nexis`).
    #[arg(long, env = "NEXIS_WORKDIR")]
    pub(crate) workdir: Option<PathBuf>,
    /// Read buckets from `{DIR}/{bucket}/` instead of R2 (embedded network, demos).
    #[arg(long, env = "NEXIS_LOCAL_BUCKETS_DIR")]
    pub(crate) buckets_dir: Option<PathBuf>,
    /// S3 endpoint used instead of `https://{account}.r2.cloudflarestorage.com`.
    #[arg(long, env = "NEXIS_S3_ENDPOINT")]
    pub(crate) s3_endpoint: Option<String>,
}

impl StorageArgs {
    /// The state directory, created.
    pub(crate) fn workdir(&self) -> anyhow::Result<PathBuf> {
        let dir = workdir(self.workdir.clone());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the work directory {}", dir.display()))?;
        Ok(dir)
    }

    /// The S3 endpoint override, when set.
    pub(crate) fn endpoint(&self) -> Option<String> {
        self.s3_endpoint.clone().filter(|e| !e.trim().is_empty())
    }

    /// Miner buckets: local directories or S3/R2 with the committed read keys.
    pub(crate) fn miner_stores(&self) -> Arc<dyn MinerStores> {
        match &self.buckets_dir {
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
        let text = self.metrics_addr.trim();
        if text.is_empty() {
            return Ok(());
        }
        let addr: SocketAddr =
            text.parse().with_context(|| format!("NEXIS_METRICS_ADDR {:?} is not host:port", self.metrics_addr))?;
        let bound = serve_render(render, addr)
            .await
            .with_context(|| format!("serving /metrics on {addr} (set NEXIS_METRICS_ADDR to another port or empty)"))?;
        info!(%bound, "metrics on http://{bound}/metrics");
        Ok(())
    }
}
