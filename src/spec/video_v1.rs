//! `video_v1`: the definition embedded from `specs/video_v1.json` and its hard checks
//! (protocol §8), run over every row in protocol order.

use super::{ColumnRole, DatasetSpec, PackageCheck, SpecDefinition, SpecError};

const DEFINITION: &str = include_str!("../../specs/video_v1.json");

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

/// The hard checks in protocol order: `value_too_long` first (rev. 2), then the source,
/// overlap, caption, start and duplicate rules.
const CHECKS: [PackageCheck; 6] = [
    PackageCheck::ValueTooLong,
    PackageCheck::YoutubeSource,
    PackageCheck::Overlap,
    PackageCheck::Caption,
    PackageCheck::ClipStart,
    PackageCheck::Duplicates,
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

    fn package_checks(&self) -> &[PackageCheck] {
        &CHECKS
    }
}
