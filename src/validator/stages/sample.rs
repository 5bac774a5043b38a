//! Sampling: the deterministic row choice of protocol §9 and a targeted read of those rows.

use std::path::PathBuf;
use std::sync::Arc;

use super::LoadFailure;
use crate::dataset::{self, LoadedDataset, SampledRow};
use crate::model::Failure;
use crate::spec::DatasetSpec;
use crate::validator::PackageRequest;
use crate::validator::sampling::select_row_indices;

/// Picks and reads the sampled rows of a loaded dataset.
pub async fn sample_rows(
    path: PathBuf,
    loaded: &LoadedDataset,
    spec: Arc<dyn DatasetSpec>,
    req: &PackageRequest,
    row_sample_max: usize,
) -> Result<Vec<SampledRow>, LoadFailure> {
    let indices = select_row_indices(
        loaded.num_rows(),
        &req.miner_hotkey,
        req.validator_hotkey.as_deref(),
        &req.interval_seed,
        row_sample_max,
    );
    let footer = loaded.footer.clone();
    tokio::task::spawn_blocking(move || dataset::read_rows(&path, &footer, spec.definition(), &indices))
        .await
        .map_err(|e| LoadFailure::with_error(Failure::ValidationException, format!("sampling task failed: {e}")))?
        .map_err(|e| LoadFailure::with_error(Failure::ValidationException, e.to_string()))
}
