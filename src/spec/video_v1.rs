//! `video_v1`: the definition embedded from `specs/video_v1.json`, which also names its
//! hard checks (protocol §8) in protocol order.

use super::{ColumnRole, DatasetSpec, SpecDefinition, SpecError};

const DEFINITION: &str = include_str!("../../specs/video_v1.json");

/// The `video_v1` column names as `specs/video_v1.json` spells them, for the code that
/// writes or reads these columns by name (the miner's writer, owner bundles, the
/// catalog); a test pins them, in schema order ([`ALL`](columns::ALL)), to the definition.
pub(crate) mod columns {
    /// The row's clip id.
    pub(crate) const CLIP_ID: &str = "clip_id";
    /// Where the clip lives in the bucket.
    pub(crate) const CLIP_URI: &str = "clip_uri";
    /// The clip's sha256.
    pub(crate) const CLIP_SHA256: &str = "clip_sha256";
    /// Where the first frame lives in the bucket.
    pub(crate) const FIRST_FRAME_URI: &str = "first_frame_uri";
    /// The first frame's sha256.
    pub(crate) const FIRST_FRAME_SHA256: &str = "first_frame_sha256";
    /// The declared source video id.
    pub(crate) const SOURCE_VIDEO_ID: &str = "source_video_id";
    /// The split group.
    pub(crate) const SPLIT_GROUP_ID: &str = "split_group_id";
    /// The split.
    pub(crate) const SPLIT: &str = "split";
    /// The clip's start in its source, seconds.
    pub(crate) const CLIP_START_SEC: &str = "clip_start_sec";
    /// The clip's duration, seconds.
    pub(crate) const DURATION_SEC: &str = "duration_sec";
    /// Frame width, pixels.
    pub(crate) const WIDTH: &str = "width";
    /// Frame height, pixels.
    pub(crate) const HEIGHT: &str = "height";
    /// The declared frame rate.
    pub(crate) const FPS: &str = "fps";
    /// Frames in the clip.
    pub(crate) const NUM_FRAMES: &str = "num_frames";
    /// Whether the clip has audio.
    pub(crate) const HAS_AUDIO: &str = "has_audio";
    /// The caption.
    pub(crate) const CAPTION: &str = "caption";
    /// The source video URL.
    pub(crate) const SOURCE_VIDEO_URL: &str = "source_video_url";
    /// The optional source proof (a struct).
    pub(crate) const SOURCE_PROOF: &str = "source_proof";

    /// Every column, in schema order.
    #[cfg(test)]
    pub(crate) const ALL: [&str; 18] = [
        CLIP_ID,
        CLIP_URI,
        CLIP_SHA256,
        FIRST_FRAME_URI,
        FIRST_FRAME_SHA256,
        SOURCE_VIDEO_ID,
        SPLIT_GROUP_ID,
        SPLIT,
        CLIP_START_SEC,
        DURATION_SEC,
        WIDTH,
        HEIGHT,
        FPS,
        NUM_FRAMES,
        HAS_AUDIO,
        CAPTION,
        SOURCE_VIDEO_URL,
        SOURCE_PROOF,
    ];
}

/// Roles the hard checks and the asset stage rely on.
const REQUIRED_ROLES: [ColumnRole; 10] = [
    ColumnRole::ClipId,
    ColumnRole::ClipUri,
    ColumnRole::ClipSha256,
    ColumnRole::FrameUri,
    ColumnRole::FrameSha256,
    ColumnRole::SourceId,
    ColumnRole::SourceUrl,
    ColumnRole::Start,
    ColumnRole::Fps,
    ColumnRole::Caption,
];

/// The `video_v1` spec.
#[derive(Debug, Clone)]
pub struct VideoV1 {
    definition: SpecDefinition,
}

impl VideoV1 {
    /// Loads the embedded definition.
    pub fn new() -> Result<Self, SpecError> {
        let definition: SpecDefinition = serde_json::from_str(DEFINITION)
            .map_err(|source| SpecError::Definition { name: "specs/video_v1.json".into(), source })?;
        for role in REQUIRED_ROLES {
            if definition.column_for(role).is_none() {
                return Err(SpecError::MissingRole { spec_id: definition.spec_id.clone(), role });
            }
        }
        Ok(Self { definition })
    }
}

impl DatasetSpec for VideoV1 {
    fn definition(&self) -> &SpecDefinition {
        &self.definition
    }
}
