//! How one package is validated: sampling, size caps, the clip prober and the spec
//! registry (shared by `check`, `validate`, `validate-source-auth`, `sync-owner-datasets`
//! and the miner's self-check).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use nexis::media::{Ffprobe, MediaProbe, NativeProbe};
use nexis::protocol::{
    DEFAULT_MAX_CLIP_BYTES, DEFAULT_MAX_DATASET_BYTES, DEFAULT_MAX_DATASET_ROWS, DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_ROW_SAMPLE_MAX,
};
use nexis::spec::SpecRegistry;
use nexis::validator::{DEFAULT_EXTRA_SAMPLES, PackageLimits};

/// Sampling, size caps and the clip prober: how one package is validated (shared by `check` and
/// `validate`).
#[derive(Debug, Args)]
pub(crate) struct PackageArgs {
    /// Cap on sampled rows per miner.
    #[arg(long, env = "NEXIS_VALIDATOR_ROW_SAMPLE_MAX", default_value_t = DEFAULT_ROW_SAMPLE_MAX)]
    pub row_sample_max: usize,
    /// Unpredictable extra rows checked per miner, seeded by the deadline block's hash.
    #[arg(long, env = "NEXIS_VALIDATOR_EXTRA_SAMPLES", default_value_t = DEFAULT_EXTRA_SAMPLES)]
    pub extra_samples: usize,
    #[command(flatten)]
    pub caps: SizeCapArgs,
    /// ffprobe binary.
    #[arg(long, env = "NEXIS_FFPROBE", default_value = "ffprobe")]
    pub ffprobe: PathBuf,
    /// Timeout of one ffprobe call, seconds.
    #[arg(long, env = "NEXIS_FFPROBE_TIMEOUT_SEC", default_value_t = 30)]
    pub ffprobe_timeout_sec: u64,
    /// How sampled clips are probed: `native` reads plain MP4 files in process and hands
    /// anything unusual to ffprobe; `ffprobe` runs ffprobe on every clip.
    #[arg(long, env = "NEXIS_PROBE", value_enum, default_value_t = ProbeKind::Native)]
    pub probe: ProbeKind,
}

/// The clip prober `--probe` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProbeKind {
    /// In-process MP4 reading, ffprobe for unusual files.
    Native,
    /// One ffprobe process per clip.
    Ffprobe,
}

/// Size caps on everything downloaded from a miner's bucket (shared by `check`,
/// `validate` and `sync-owner-datasets`).
#[derive(Debug, Args)]
pub(crate) struct SizeCapArgs {
    /// Size cap of one clip download, bytes.
    #[arg(long, env = "NEXIS_VALIDATOR_MAX_CLIP_BYTES", default_value_t = DEFAULT_MAX_CLIP_BYTES)]
    pub max_clip_bytes: u64,
    /// Size cap of one first-frame download, bytes.
    #[arg(long, env = "NEXIS_VALIDATOR_MAX_FRAME_BYTES", default_value_t = DEFAULT_MAX_FRAME_BYTES)]
    pub max_frame_bytes: u64,
    /// Size cap of dataset.parquet, bytes.
    #[arg(long, env = "NEXIS_VALIDATOR_MAX_DATASET_BYTES", default_value_t = DEFAULT_MAX_DATASET_BYTES)]
    pub max_dataset_bytes: u64,
    /// Most rows a dataset may declare.
    #[arg(long, env = "NEXIS_VALIDATOR_MAX_DATASET_ROWS", default_value_t = DEFAULT_MAX_DATASET_ROWS)]
    pub max_dataset_rows: u64,
}

impl PackageArgs {
    /// The package limits these flags describe.
    pub(crate) fn limits(&self) -> PackageLimits {
        let mut limits = PackageLimits {
            max_clip_bytes: self.caps.max_clip_bytes,
            max_frame_bytes: self.caps.max_frame_bytes,
            max_dataset_bytes: self.caps.max_dataset_bytes,
            row_sample_max: self.row_sample_max,
            extra_samples: self.extra_samples,
            ..PackageLimits::default()
        };
        limits.read.max_rows = self.caps.max_dataset_rows;
        limits
    }

    /// The selected clip prober; ffprobe (also the native probe's fallback) is checked to
    /// be runnable.
    pub(crate) async fn probe(&self) -> anyhow::Result<Arc<dyn MediaProbe>> {
        let timeout = Duration::from_secs(self.ffprobe_timeout_sec);
        let ffprobe = Ffprobe::new(Some(self.ffprobe.clone()), timeout);
        ffprobe
            .check_available(std::env::var_os("PATH").as_deref())
            .context("ffprobe is needed to verify sampled clips")?;
        Ok(match self.probe {
            ProbeKind::Native => Arc::new(NativeProbe::new(ffprobe, timeout)),
            ProbeKind::Ffprobe => Arc::new(ffprobe),
        })
    }
}

/// The built-in spec registry, with every name in `specs` known.
pub(crate) fn registry_for(specs: &[String]) -> anyhow::Result<SpecRegistry> {
    let registry = SpecRegistry::builtin().context("loading the built-in dataset specs")?;
    for spec in specs {
        if registry.get(spec.trim()).is_none() {
            let known: Vec<&str> = registry.ids().collect();
            bail!("unknown spec {spec:?} in --specs; known specs: {}", known.join(", "));
        }
    }
    Ok(registry)
}
