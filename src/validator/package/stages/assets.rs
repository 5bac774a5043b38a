//! Sampled asset verification: fetch each sampled clip and first frame (size-capped,
//! hashed while streaming), compare digests, and probe the clip's real media (fail closed).

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::dataset::SampledRow;
use crate::media::{MediaError, MediaProbe, VideoInfo};
use crate::model::{Failure, MediaField};
use crate::protocol::{
    CLIP_DURATION_SEC, MEDIA_DURATION_TOLERANCE_SEC, MEDIA_FPS_RELATIVE_TOLERANCE, REQUIRED_HEIGHT, REQUIRED_WIDTH,
};
use crate::storage::{ObjectStore, StorageError, asset_key, normalize_uri};
use crate::validator::package::PackageLimits;

/// A problem on the validator's side that must stop the run rather than fail the miner.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EnvironmentError(pub String);

/// The outcome of one sampled row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowAssets {
    /// The row's asset and media failures.
    pub failures: Vec<Failure>,
    /// The verified clip on disk, when its hash matched.
    pub clip_path: Option<PathBuf>,
}

enum Fetched {
    Ok(PathBuf),
    BadUri,
    Missing,
    Mismatch,
}

async fn fetch_verified(
    store: &dyn ObjectStore,
    interval_id: u64,
    uri: &str,
    expected_sha256: &str,
    dest: PathBuf,
    cap: u64,
) -> Fetched {
    let Some(normal) = normalize_uri(uri) else { return Fetched::BadUri };
    let key = asset_key(interval_id, &normal);
    match store.get_to_file(&key, &dest, cap).await {
        Ok(d) if d.sha256 == expected_sha256 => Fetched::Ok(dest),
        Ok(_) => Fetched::Mismatch,
        Err(e @ (StorageError::NotFound { .. } | StorageError::TooLarge { .. } | StorageError::InvalidKey { .. })) => {
            tracing::debug!(key, error = %e, "asset unavailable");
            Fetched::Missing
        }
        Err(e) => {
            warn!(key, error = %e, "asset fetch failed");
            Fetched::Missing
        }
    }
}

/// Media failures of a probed clip against the protocol and the row's declared fps.
pub fn media_failures(clip_id: &str, info: &VideoInfo, declared_fps: f64) -> Vec<Failure> {
    let mut failures = Vec::new();
    if (info.width, info.height) != (REQUIRED_WIDTH, REQUIRED_HEIGHT) {
        failures.push(Failure::InvalidResolution {
            clip_id: clip_id.to_string(),
            width: info.width,
            height: info.height,
        });
    }
    let (lo, hi) = (CLIP_DURATION_SEC - MEDIA_DURATION_TOLERANCE_SEC, CLIP_DURATION_SEC + MEDIA_DURATION_TOLERANCE_SEC);
    if !info.duration_sec.is_some_and(|d| d >= lo && d <= hi) {
        failures.push(Failure::ClipMetadataMismatch { clip_id: clip_id.to_string(), field: MediaField::Duration });
    }
    // "More than 1% away": exactly 1% passes, so absorb the binary rounding of the subtraction.
    let fps_ok = |f: f64| (f - declared_fps).abs() <= MEDIA_FPS_RELATIVE_TOLERANCE * declared_fps + 1e-9;
    if !info.fps.is_some_and(fps_ok) {
        failures.push(Failure::ClipMetadataMismatch { clip_id: clip_id.to_string(), field: MediaField::Fps });
    }
    failures
}

/// Verifies one sampled row's clip and first frame.
pub(crate) async fn verify_row(
    store: &dyn ObjectStore,
    probe: &dyn MediaProbe,
    interval_id: u64,
    row: &SampledRow,
    limits: &PackageLimits,
    dir: &Path,
) -> Result<RowAssets, EnvironmentError> {
    let id = || row.clip_id.clone();
    let mut failures = Vec::new();
    let mut clip_path = None;
    let clip_dest = dir.join(format!("clip-{}.mp4", row.index));
    match fetch_verified(store, interval_id, &row.clip_uri, &row.clip_sha256, clip_dest, limits.max_clip_bytes).await {
        Fetched::BadUri => failures.push(Failure::InvalidAssetUri { uri: row.clip_uri.clone() }),
        Fetched::Missing => failures.push(Failure::MissingClipAsset { clip_id: id() }),
        Fetched::Mismatch => failures.push(Failure::ClipSha256Mismatch { clip_id: id() }),
        Fetched::Ok(path) => match probe.probe(&path).await {
            Ok(info) => {
                let media = media_failures(&row.clip_id, &info, row.fps);
                if media.is_empty() {
                    clip_path = Some(path);
                }
                failures.extend(media);
            }
            Err(e @ MediaError::ToolMissing { .. }) => return Err(EnvironmentError(e.to_string())),
            Err(e) => {
                tracing::debug!(clip_id = %row.clip_id, error = %e, "clip is not readable media");
                failures.push(Failure::InvalidClipMedia { clip_id: id() });
            }
        },
    }
    let frame_dest = dir.join(format!("frame-{}.jpg", row.index));
    match fetch_verified(
        store,
        interval_id,
        &row.first_frame_uri,
        &row.first_frame_sha256,
        frame_dest,
        limits.max_frame_bytes,
    )
    .await
    {
        Fetched::BadUri => failures.push(Failure::InvalidAssetUri { uri: row.first_frame_uri.clone() }),
        Fetched::Missing => failures.push(Failure::MissingFirstFrameAsset { clip_id: id() }),
        Fetched::Mismatch => failures.push(Failure::FirstFrameSha256Mismatch { clip_id: id() }),
        Fetched::Ok(_) => {}
    }
    Ok(RowAssets { failures, clip_path })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(w: u32, h: u32, d: Option<f64>, fps: Option<f64>) -> VideoInfo {
        VideoInfo { width: w, height: h, duration_sec: d, fps, frame_count: None, has_audio: false, codec: None }
    }

    #[test]
    fn media_rules() {
        assert!(media_failures("c", &info(1280, 720, Some(5.0), Some(30.0)), 30.0).is_empty());
        assert!(media_failures("c", &info(1280, 720, Some(5.25), Some(30.3)), 30.0).is_empty());
        assert_eq!(
            media_failures("c", &info(854, 480, Some(5.0), Some(30.0)), 30.0),
            vec![Failure::InvalidResolution { clip_id: "c".into(), width: 854, height: 480 }]
        );
        let both = media_failures("c", &info(1280, 720, Some(5.3), Some(25.0)), 30.0);
        assert_eq!(
            both.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["clip_metadata_mismatch:c:duration", "clip_metadata_mismatch:c:fps"]
        );
        assert_eq!(media_failures("c", &info(1280, 720, None, None), 30.0).len(), 2);
        assert_eq!(media_failures("c", &info(1280, 720, Some(4.74), Some(30.31)), 30.0).len(), 2);
    }
}
