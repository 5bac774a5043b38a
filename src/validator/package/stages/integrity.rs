//! Integrity: the dataset's sha256 (computed while it streamed to disk) against the manifest.

use super::LoadFailure;
use crate::model::{DecisionNotes, Failure, IntervalManifest};

/// Compares the streamed digest with `manifest.dataset_sha256` exactly as written.
pub(crate) fn check_dataset_digest(manifest: &IntervalManifest, actual_sha256: &str) -> Result<(), LoadFailure> {
    if manifest.dataset_sha256 == actual_sha256 {
        return Ok(());
    }
    Err(LoadFailure {
        failure: Failure::DatasetSha256Mismatch,
        notes: Box::new(DecisionNotes {
            expected_dataset_sha256: Some(manifest.dataset_sha256.clone()),
            actual_dataset_sha256: Some(actual_sha256.to_string()),
            ..Default::default()
        }),
    })
}
