//! Sampling: the deterministic row choice of protocol §9 and a targeted read of those rows.

use std::path::PathBuf;
use std::sync::Arc;

use super::LoadFailure;
use crate::dataset::{self, LoadedDataset, SampledRow};
use crate::model::Failure;
use crate::spec::DatasetSpec;
use crate::validator::sampling::{select_extra_row_indices, select_row_indices};
use crate::validator::{PackageLimits, PackageRequest};

/// The rows to verify: the deterministic sample and the unpredictable extra one.
#[derive(Debug, Default)]
pub struct Sample {
    /// Protocol §9 rows (`sampled_rows`), ascending.
    pub rows: Vec<SampledRow>,
    /// Extra rows seeded by the deadline block's hash (§9 rev. 2), ascending.
    pub extra: Vec<SampledRow>,
}

/// Picks and reads the sampled rows of a loaded dataset.
pub async fn sample_rows(
    path: PathBuf,
    loaded: &LoadedDataset,
    spec: Arc<dyn DatasetSpec>,
    req: &PackageRequest,
    limits: &PackageLimits,
) -> Result<Sample, LoadFailure> {
    let total = loaded.num_rows();
    let validator = req.terms.validator_hotkey.as_deref();
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
    let footer = loaded.footer.clone();
    let read = tokio::task::spawn_blocking(move || dataset::read_rows(&path, &footer, spec.definition(), &all))
        .await
        .map_err(|e| LoadFailure::with_error(Failure::ValidationException, format!("sampling task failed: {e}")))?
        .map_err(|e| LoadFailure::with_error(Failure::ValidationException, e.to_string()))?;
    let (extra_rows, rows) = read.into_iter().partition(|r| extra.binary_search(&r.index).is_ok());
    Ok(Sample { rows, extra: extra_rows })
}
