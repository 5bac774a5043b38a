//! `video_v1`: the definition embedded from `specs/video_v1.json` and its hard checks
//! (protocol §8), run over every row in protocol order.

use std::collections::HashSet;

use super::{ColumnRole, DatasetSpec, SpecDefinition, SpecError};
use crate::dataset::{DatasetError, DatasetFrame, SourceGrouping};
use crate::model::{Failure, FailureList};
use crate::protocol::{MAX_CLIP_START_SEC, MIN_CAPTION_WORDS, MIN_START_DISTANCE_SEC};

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

fn overlap_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    const CODE: &str = "overlap_lt_5s";
    let mut reported = HashSet::new();
    let declared = frame.close_pairs(SourceGrouping::Declared, MIN_START_DISTANCE_SEC)?;
    for &(earlier, later, group) in &declared {
        reported.insert((earlier.min(later), earlier.max(later)));
        failures.push_with(CODE, || {
            Ok::<_, DatasetError>(Failure::OverlapLt5s {
                source: frame.source_ids.get(group as usize).unwrap_or_default().to_string(),
                earlier: frame.clip_id(earlier as usize)?.to_string(),
                later: frame.clip_id(later as usize)?.to_string(),
            })
        })?;
    }
    drop(declared);
    // Stricter: the same rows grouped by canonical source key catch aliases.
    for (earlier, later, _) in frame.close_pairs(SourceGrouping::Canonical, MIN_START_DISTANCE_SEC)? {
        if reported.insert((earlier.min(later), earlier.max(later))) {
            failures.push_with(CODE, || {
                Ok::<_, DatasetError>(Failure::OverlapLt5s {
                    source: frame.declared_source(earlier as usize)?.to_string(),
                    earlier: frame.clip_id(earlier as usize)?.to_string(),
                    later: frame.clip_id(later as usize)?.to_string(),
                })
            })?;
        }
    }
    Ok(())
}

/// `value_too_long` first (rev. 2): the frame keeps the first 256 in row order, the rest
/// are counted.
fn too_long_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    for (row, column) in &frame.too_long {
        let clip_id = frame.clip_id(*row as usize)?.to_string();
        failures.push(Failure::ValueTooLong { column: column.clone(), clip_id });
    }
    failures.count("value_too_long", frame.too_long_total.saturating_sub(frame.too_long.len() as u64));
    Ok(())
}

impl DatasetSpec for VideoV1 {
    fn definition(&self) -> &SpecDefinition {
        &self.definition
    }

    fn hard_checks(&self, frame: &DatasetFrame) -> Result<FailureList, DatasetError> {
        let id = |row: usize| frame.clip_id(row).map(str::to_string);
        let mut failures = FailureList::new();
        too_long_failures(frame, &mut failures)?;
        for (row, youtube) in frame.youtube.iter().enumerate() {
            if !youtube {
                failures.push_with("non_youtube_source", || {
                    Ok::<_, DatasetError>(Failure::NonYoutubeSource { clip_id: id(row)? })
                })?;
            }
        }
        overlap_failures(frame, &mut failures)?;
        for (row, (&words, &has_url)) in frame.caption_words.iter().zip(&frame.caption_has_url).enumerate() {
            if words == 0 {
                failures.push_with("empty_caption", || {
                    Ok::<_, DatasetError>(Failure::EmptyCaption { clip_id: id(row)? })
                })?;
            } else if usize::from(words) < MIN_CAPTION_WORDS {
                failures.push_with("short_caption", || {
                    Ok::<_, DatasetError>(Failure::ShortCaption { clip_id: id(row)? })
                })?;
            } else if has_url {
                failures.push_with("url_like_caption", || {
                    Ok::<_, DatasetError>(Failure::UrlLikeCaption { clip_id: id(row)? })
                })?;
            }
        }
        for (row, start) in frame.starts()?.into_iter().enumerate() {
            if start > MAX_CLIP_START_SEC {
                failures.push_with("clip_start_gt_5000", || {
                    Ok::<_, DatasetError>(Failure::ClipStartGt5000 { clip_id: id(row)? })
                })?;
            }
        }
        for row in frame.duplicate_rows()? {
            failures.push_with("duplicate_clip", || {
                Ok::<_, DatasetError>(Failure::DuplicateClip { clip_id: id(row as usize)? })
            })?;
        }
        Ok(failures)
    }
}
