//! Fetch: the manifest (small, in memory) and the dataset (streamed to disk, hashed on the
//! way), both size-capped; plus the stricter late-submission check.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::LoadFailure;
use crate::model::{DecisionNotes, Failure, format_timestamp};
use crate::storage::{ObjectStore, StorageError, dataset_key, manifest_key};
use crate::validator::package::{PackageLimits, PackageRequest};

/// The fetched submission files.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    /// The raw `manifest.json`.
    pub manifest_bytes: Vec<u8>,
    /// Storage LastModified of `manifest.json`.
    pub manifest_last_modified: Option<DateTime<Utc>>,
    /// Where `dataset.parquet` was downloaded.
    pub dataset_path: PathBuf,
    /// Lowercase hex sha256 of the downloaded dataset.
    pub dataset_sha256: String,
}

fn missing(e: StorageError) -> LoadFailure {
    LoadFailure::with_error(Failure::MissingSubmissionFiles, e.to_string())
}

/// Fetches `{I}/manifest.json` and `{I}/dataset.parquet` into `dir`.
pub(crate) async fn fetch_submission(
    store: &dyn ObjectStore,
    req: &PackageRequest,
    limits: &PackageLimits,
    dir: &Path,
) -> Result<Submission, LoadFailure> {
    let manifest_key = manifest_key(req.terms.interval_id.get());
    let head = store.head(&manifest_key).await.map_err(missing)?;
    let Some(head) = head else {
        return Err(missing(StorageError::NotFound { key: manifest_key }));
    };
    if let (Some(deadline), Some(modified)) = (req.terms.upload_deadline, head.last_modified)
        && modified > deadline
    {
        return Err(LoadFailure {
            failure: Failure::LateSubmission,
            notes: Box::new(DecisionNotes {
                manifest_last_modified: Some(format_timestamp(&modified)),
                upload_deadline: Some(format_timestamp(&deadline)),
                ..Default::default()
            }),
        });
    }
    let manifest_bytes = store.get_bytes(&manifest_key, limits.max_manifest_bytes).await.map_err(missing)?;
    let dataset_path = dir.join("dataset.parquet");
    let dataset = store
        .get_to_file(&dataset_key(req.terms.interval_id.get()), &dataset_path, limits.max_dataset_bytes)
        .await
        .map_err(missing)?;
    Ok(Submission {
        manifest_bytes,
        manifest_last_modified: head.last_modified,
        dataset_path,
        dataset_sha256: dataset.sha256,
    })
}
