//! The interval package on disk and its upload. A package is built in
//! `NEXIS_WORKDIR/packages/{interval}/` (clips, frames, `dataset.parquet`,
//! `manifest.json`) and marked complete; it stays there until its manifest is uploaded,
//! so an interrupted upload is finished on the next start. Upload order (§5): every asset,
//! then the dataset, then the manifest, each with retries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::clipper::CutClip;
use crate::dataset::{WriteError, write_dataset};
use crate::model::{ClipRecord, IntervalManifest, SourceProof, declared_num_frames};
use crate::protocol::{CLIP_DURATION_SEC, PROTOCOL_VERSION, SCHEMA_VERSION};
use crate::storage::{ObjectStore, StorageError, clip_uri, dataset_key, frame_uri, manifest_key};

/// Marks a package whose files are all written.
const COMPLETE: &str = ".complete";

/// Package failures.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A package file could not be read or written.
    #[error("package I/O on {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The dataset parquet could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// An object could not be uploaded in the allowed attempts.
    #[error("upload of {key} failed after {attempts} attempts: {source}")]
    Upload {
        /// The object's bucket key.
        key: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        source: StorageError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |e| PackageError::Io { path: path.display().to_string(), message: e.to_string() }
}

/// Who and what the package is for.
#[derive(Debug, Clone)]
pub struct PackageInfo {
    /// The miner's hotkey (SS58), written in the manifest.
    pub miner_hotkey: String,
    /// The subnet the package is for.
    pub netuid: u16,
    /// The interval the package is for.
    pub interval_id: u64,
    /// Dataset spec of the package.
    pub spec_id: String,
    /// Category written in the manifest, if any.
    pub category: Option<String>,
}

/// The dataset row of a captioned clip (§6).
pub(crate) fn record_for(clip: &CutClip, caption: String, interval_id: u64) -> ClipRecord {
    let fps = clip.info.fps.unwrap_or(0.0);
    let video_id = clip.source.video_id.clone();
    ClipRecord {
        clip_uri: clip_uri(&clip.clip_id),
        first_frame_uri: frame_uri(&clip.clip_id),
        clip_sha256: clip.clip_sha256.clone(),
        first_frame_sha256: clip.frame_sha256.clone(),
        split_group_id: format!("{video_id}:{interval_id}"),
        split: "train".into(),
        clip_start_sec: clip.start,
        duration_sec: CLIP_DURATION_SEC,
        width: i64::from(clip.info.width),
        height: i64::from(clip.info.height),
        fps,
        num_frames: declared_num_frames(fps),
        has_audio: clip.info.has_audio,
        caption,
        source_video_url: format!("https://www.youtube.com/watch?v={video_id}"),
        source_proof: SourceProof { extractor: "youtube".into(), source_video_id: video_id.clone() },
        source_video_id: video_id,
        clip_id: clip.clip_id.clone(),
    }
}

/// The directory of the package of `interval_id` under `packages_dir`.
pub(crate) fn package_dir(packages_dir: &Path, interval_id: u64) -> PathBuf {
    packages_dir.join(interval_id.to_string())
}

/// Whether `dir` holds a complete package.
pub(crate) fn is_complete(dir: &Path) -> bool {
    dir.join(COMPLETE).is_file()
}

/// Writes `dataset.parquet` and `manifest.json` (fields in §7 order) into `dir` (the
/// clips and frames are already there); [`mark_complete`] follows once the package is
/// final.
pub(crate) fn write_package(
    dir: &Path,
    info: &PackageInfo,
    records: &[ClipRecord],
) -> Result<IntervalManifest, PackageError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dataset = dir.join("dataset.parquet");
    write_dataset(&dataset, records)?;
    let bytes = std::fs::read(&dataset).map_err(io(&dataset))?;
    let manifest = IntervalManifest {
        protocol_version: PROTOCOL_VERSION.into(),
        schema_version: SCHEMA_VERSION.into(),
        spec_id: info.spec_id.clone(),
        dataset_type: info.spec_id.clone(),
        category: info.category.clone(),
        netuid: u64::from(info.netuid),
        miner_hotkey: info.miner_hotkey.clone(),
        interval_id: info.interval_id,
        created_at: Some(Utc::now()),
        record_count: records.len() as u64,
        dataset_sha256: hex::encode(Sha256::digest(&bytes)),
    };
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest.to_pretty_json()).map_err(io(&path))?;
    Ok(manifest)
}

/// Marks the package in `dir` complete: from now on it is uploaded, on this run or the
/// next start.
pub(crate) fn mark_complete(dir: &Path) -> Result<(), PackageError> {
    let mark = dir.join(COMPLETE);
    std::fs::write(&mark, b"").map_err(io(&mark))
}

/// Uploads with up to `attempts` tries and exponential backoff from `backoff`.
async fn put_with_retries(
    store: &dyn ObjectStore,
    key: &str,
    path: &Path,
    attempts: u32,
    backoff: Duration,
) -> Result<(), PackageError> {
    let mut delay = backoff;
    for attempt in 1..=attempts.max(1) {
        match store.put_file(key, path).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= attempts => return Err(PackageError::Upload { key: key.into(), attempts, source: e }),
            Err(e) => {
                warn!(%key, attempt, error = %e, retry_in_ms = delay.as_millis() as u64, "upload failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    Ok(())
}

/// Upload settings.
#[derive(Debug, Clone, Copy)]
pub struct UploadPolicy {
    /// Tries per object before the upload fails.
    pub attempts: u32,
    /// Wait before the first retry; doubles per attempt.
    pub backoff: Duration,
    /// Objects uploaded at once.
    pub concurrency: usize,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        Self { attempts: 4, backoff: Duration::from_secs(2), concurrency: 8 }
    }
}

/// Uploads the complete package in `dir` for `interval_id`: assets, dataset, manifest.
/// Returns the number of objects written.
pub(crate) async fn upload_package(
    store: &dyn ObjectStore,
    dir: &Path,
    interval_id: u64,
    policy: UploadPolicy,
    progress: &indicatif::ProgressBar,
) -> Result<usize, PackageError> {
    use futures::StreamExt;
    let mut assets = Vec::new();
    for sub in ["clips", "frames"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assets.push((format!("{interval_id}/{sub}/{name}"), entry.path()));
        }
    }
    assets.sort();
    progress.set_length(assets.len() as u64 + 2);
    let results: Vec<Result<(), PackageError>> = futures::stream::iter(assets.iter())
        .map(|(key, path)| async move {
            let r = put_with_retries(store, key, path, policy.attempts, policy.backoff).await;
            progress.inc(1);
            r
        })
        .buffer_unordered(policy.concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    put_with_retries(store, &dataset_key(interval_id), &dir.join("dataset.parquet"), policy.attempts, policy.backoff)
        .await?;
    progress.inc(1);
    put_with_retries(store, &manifest_key(interval_id), &dir.join("manifest.json"), policy.attempts, policy.backoff)
        .await?;
    progress.inc(1);
    info!(interval_id, objects = assets.len() + 2, "package uploaded (manifest last)");
    Ok(assets.len() + 2)
}
