//! One clip row of `dataset.parquet` as our miner writes it (protocol §6), and the
//! deterministic clip id.

use sha2::{Digest, Sha256};

/// Provenance of a clip's source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceProof {
    pub extractor: String,
    pub source_video_id: String,
}

/// A dataset row.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipRecord {
    pub clip_id: String,
    pub clip_uri: String,
    pub clip_sha256: String,
    pub first_frame_uri: String,
    pub first_frame_sha256: String,
    pub source_video_id: String,
    pub split_group_id: String,
    pub split: String,
    pub clip_start_sec: f64,
    pub duration_sec: f64,
    pub width: i64,
    pub height: i64,
    pub fps: f64,
    pub num_frames: i64,
    pub has_audio: bool,
    pub caption: String,
    pub source_video_url: String,
    pub source_proof: SourceProof,
}

/// `sha256("{source_video_id}:{start:.3f}:{duration:.3f}")`, first 24 hex characters.
pub fn deterministic_clip_id(source_video_id: &str, start: f64, duration: f64) -> String {
    let digest = Sha256::digest(format!("{source_video_id}:{start:.3}:{duration:.3}").as_bytes());
    hex::encode(digest)[..24].to_string()
}

/// `max(round(5 * fps), 1)` as the miner declares it.
pub(crate) fn declared_num_frames(fps: f64) -> i64 {
    ((5.0 * fps).round_ties_even() as i64).max(1)
}
