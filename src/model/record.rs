//! One clip row of `dataset.parquet` as our miner writes it (protocol §6), and the
//! deterministic clip id.

use sha2::{Digest, Sha256};

/// Provenance of a clip's source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceProof {
    /// Tool that fetched the source, e.g. `yt-dlp`.
    pub extractor: String,
    /// The source video's id at the extractor.
    pub source_video_id: String,
}

/// A dataset row.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipRecord {
    /// Deterministic clip id (see [`deterministic_clip_id`]).
    pub clip_id: String,
    /// Relative URI of the clip file in the miner's bucket.
    pub clip_uri: String,
    /// Lowercase hex sha256 of the clip file.
    pub clip_sha256: String,
    /// Relative URI of the clip's first frame (JPEG).
    pub first_frame_uri: String,
    /// Lowercase hex sha256 of the first frame.
    pub first_frame_sha256: String,
    /// The source video's id.
    pub source_video_id: String,
    /// `{source_video_id}:{interval_id}`, keeping clips of one source in one split.
    pub split_group_id: String,
    /// Dataset split, e.g. `train`.
    pub split: String,
    /// Where the clip starts in the source, seconds.
    pub clip_start_sec: f64,
    /// Declared clip duration, seconds (5.0 ± 0.15).
    pub duration_sec: f64,
    /// Clip width, pixels (1280).
    pub width: i64,
    /// Clip height, pixels (720).
    pub height: i64,
    /// Declared frames per second.
    pub fps: f64,
    /// Declared frame count.
    pub num_frames: i64,
    /// Whether the clip has an audio track.
    pub has_audio: bool,
    /// Caption, at least 20 words.
    pub caption: String,
    /// URL of the source video (YouTube).
    pub source_video_url: String,
    /// Provenance of the source.
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
