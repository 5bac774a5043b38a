//! Schema and record count (load steps 9-10): decode and check the dataset off the async
//! runtime, then compare its row count with the manifest.

use std::path::PathBuf;
use std::sync::Arc;

use super::LoadFailure;
use crate::dataset::{self, LoadedDataset, ReadLimits};
use crate::model::{DecisionNotes, Failure, IntervalManifest};
use crate::spec::DatasetSpec;

/// Loads the dataset at `path` under `spec`, then checks `record_count`.
pub async fn load_and_count(
    path: PathBuf,
    spec: Arc<dyn DatasetSpec>,
    limits: ReadLimits,
    manifest: &IntervalManifest,
) -> Result<LoadedDataset, LoadFailure> {
    let loaded = tokio::task::spawn_blocking(move || dataset::load(&path, spec.definition(), &limits))
        .await
        .map_err(|e| LoadFailure::with_error(Failure::ValidationException, format!("dataset task failed: {e}")))?
        .map_err(|e| LoadFailure::with_error(e.failure(), e.to_string()))?;
    let rows = loaded.num_rows() as u64;
    if rows != manifest.record_count {
        return Err(LoadFailure {
            failure: Failure::ManifestRecordCountMismatch,
            notes: Box::new(DecisionNotes {
                manifest_record_count: Some(manifest.record_count),
                dataset_record_count: Some(rows),
                ..Default::default()
            }),
        });
    }
    Ok(loaded)
}
