//! Sampling: the deterministic row choice of protocol §9 and a targeted read of those rows.

use std::path::PathBuf;
use std::sync::Arc;

use super::LoadFailure;
use crate::dataset::{self, LoadedDataset, SampledRow};
use crate::model::Failure;
use crate::spec::DatasetSpec;
use crate::validator::package::{PackageLimits, PackageRequest};
use crate::validator::sampling::{select_extra_row_indices, select_row_indices};

/// The rows to verify: the deterministic sample and the unpredictable extra one.
#[derive(Debug, Default)]
pub(crate) struct Sample {
    /// Protocol §9 rows (`sampled_rows`), ascending.
    pub rows: Vec<SampledRow>,
    /// Extra rows seeded by the deadline block's hash (§9 rev. 2), ascending.
    pub extra: Vec<SampledRow>,
}

/// Picks and reads the sampled rows of a loaded dataset.
pub(crate) async fn sample_rows(
    path: PathBuf,
    loaded: &LoadedDataset,
    spec: Arc<dyn DatasetSpec>,
    req: &PackageRequest,
    limits: &PackageLimits,
) -> Result<Sample, LoadFailure> {
    let total = loaded.num_rows();
    let validator = req.terms.validator_hotkey.as_ref();
    let indices =
        select_row_indices(total, &req.miner_hotkey, validator, &req.terms.interval_seed, limits.row_sample_max);
    let extra = match &req.terms.extra_sample_seed {
        Some(hash) => {
            select_extra_row_indices(total, &req.miner_hotkey, validator, hash, limits.extra_samples, &indices)
        }
        None => Vec::new(),
    };
    let mut all: Vec<usize> = indices.iter().chain(&extra).copied().collect();
    all.sort_unstable();
    let read = read(path, loaded, spec, all).await?;
    let (extra_rows, rows) = read.into_iter().partition(|r| extra.binary_search(&r.index).is_ok());
    Ok(Sample { rows, extra: extra_rows })
}

/// Every row of a loaded dataset as the regular sample (the miner's self-check).
pub(crate) async fn all_rows(
    path: PathBuf,
    loaded: &LoadedDataset,
    spec: Arc<dyn DatasetSpec>,
) -> Result<Sample, LoadFailure> {
    let rows = read(path, loaded, spec, (0..loaded.num_rows()).collect()).await?;
    Ok(Sample { rows, extra: Vec::new() })
}

/// Reads the rows at `indices` (ascending) off the async runtime.
async fn read(
    path: PathBuf,
    loaded: &LoadedDataset,
    spec: Arc<dyn DatasetSpec>,
    indices: Vec<usize>,
) -> Result<Vec<SampledRow>, LoadFailure> {
    let footer = loaded.footer.clone();
    tokio::task::spawn_blocking(move || dataset::read_rows(&path, &footer, spec.definition(), &indices))
        .await
        .map_err(|e| LoadFailure::with_error(Failure::ValidationException, format!("sampling task failed: {e}")))?
        .map_err(|e| LoadFailure::with_error(Failure::ValidationException, e.to_string()))
}
