//! The package-wide hard checks (protocol §8) over a decoded [`DatasetFrame`]: the spec
//! names which checks apply, in protocol order ([`PackageCheck`]); this module runs them
//! over every row. Failures are bounded (only the first are kept, all are counted).

use std::collections::HashSet;

use super::{DatasetError, DatasetFrame, SourceGrouping};
use crate::model::{Failure, FailureCode, FailureList};
use crate::protocol::{MAX_CLIP_START_SEC, MIN_CAPTION_WORDS, MIN_START_DISTANCE_SEC};
use crate::spec::{DatasetSpec, PackageCheck};

impl dyn DatasetSpec {
    /// Runs this spec's hard checks over all rows of `frame`, failures in protocol order.
    pub fn hard_checks(&self, frame: &DatasetFrame) -> Result<FailureList, DatasetError> {
        hard_checks(self.package_checks(), frame)
    }
}

/// Runs `checks` in order over all rows of `frame`.
pub fn hard_checks(checks: &[PackageCheck], frame: &DatasetFrame) -> Result<FailureList, DatasetError> {
    let mut failures = FailureList::new();
    for check in checks {
        match check {
            PackageCheck::ValueTooLong => too_long_failures(frame, &mut failures)?,
            PackageCheck::YoutubeSource => non_youtube_failures(frame, &mut failures)?,
            PackageCheck::Overlap => overlap_failures(frame, &mut failures)?,
            PackageCheck::Caption => caption_failures(frame, &mut failures)?,
            PackageCheck::ClipStart => clip_start_failures(frame, &mut failures)?,
            PackageCheck::Duplicates => duplicate_failures(frame, &mut failures)?,
        }
    }
    Ok(failures)
}

fn clip_id(frame: &DatasetFrame, row: usize) -> Result<String, DatasetError> {
    frame.clip_id(row).map(str::to_string)
}

/// `value_too_long` (rev. 2): the frame keeps the first 256 in row order, the rest are
/// counted.
fn too_long_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    for (row, column) in &frame.too_long {
        let clip_id = clip_id(frame, *row as usize)?;
        failures.push(Failure::ValueTooLong { column: column.clone(), clip_id });
    }
    failures.count(FailureCode::ValueTooLong, frame.too_long_total.saturating_sub(frame.too_long.len() as u64));
    Ok(())
}

fn non_youtube_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    for (row, youtube) in frame.youtube.iter().enumerate() {
        if !youtube {
            failures.push_with(FailureCode::NonYoutubeSource, || {
                Ok::<_, DatasetError>(Failure::NonYoutubeSource { clip_id: clip_id(frame, row)? })
            })?;
        }
    }
    Ok(())
}

/// Close starts of one declared source, then (stricter) of one canonical source key, so
/// aliases of a source are caught; each pair is reported once.
fn overlap_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    const CODE: FailureCode = FailureCode::OverlapLt5s;
    let mut reported = HashSet::new();
    let declared = frame.close_pairs(SourceGrouping::Declared, MIN_START_DISTANCE_SEC)?;
    for &(earlier, later, group) in &declared {
        reported.insert((earlier.min(later), earlier.max(later)));
        failures.push_with(CODE, || {
            Ok::<_, DatasetError>(Failure::OverlapLt5s {
                source: frame.source_ids.get(group as usize).unwrap_or_default().to_string(),
                earlier: clip_id(frame, earlier as usize)?,
                later: clip_id(frame, later as usize)?,
            })
        })?;
    }
    drop(declared);
    for (earlier, later, _) in frame.close_pairs(SourceGrouping::Canonical, MIN_START_DISTANCE_SEC)? {
        if reported.insert((earlier.min(later), earlier.max(later))) {
            failures.push_with(CODE, || {
                Ok::<_, DatasetError>(Failure::OverlapLt5s {
                    source: frame.declared_source(earlier as usize)?.to_string(),
                    earlier: clip_id(frame, earlier as usize)?,
                    later: clip_id(frame, later as usize)?,
                })
            })?;
        }
    }
    Ok(())
}

/// Empty, short and URL-holding captions (one failure per row, in that precedence).
fn caption_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    for (row, (&words, &has_url)) in frame.caption_words.iter().zip(&frame.caption_has_url).enumerate() {
        let (code, make): (_, fn(String) -> Failure) = if words == 0 {
            (FailureCode::EmptyCaption, |clip_id| Failure::EmptyCaption { clip_id })
        } else if usize::from(words) < MIN_CAPTION_WORDS {
            (FailureCode::ShortCaption, |clip_id| Failure::ShortCaption { clip_id })
        } else if has_url {
            (FailureCode::UrlLikeCaption, |clip_id| Failure::UrlLikeCaption { clip_id })
        } else {
            continue;
        };
        failures.push_with(code, || Ok::<_, DatasetError>(make(clip_id(frame, row)?)))?;
    }
    Ok(())
}

fn clip_start_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    for (row, &start) in frame.start_values().iter().enumerate() {
        if start > MAX_CLIP_START_SEC {
            failures.push_with(FailureCode::ClipStartGt5000, || {
                Ok::<_, DatasetError>(Failure::ClipStartGt5000 { clip_id: clip_id(frame, row)? })
            })?;
        }
    }
    Ok(())
}

fn duplicate_failures(frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
    for row in frame.duplicate_rows()? {
        failures.push_with(FailureCode::DuplicateClip, || {
            Ok::<_, DatasetError>(Failure::DuplicateClip { clip_id: clip_id(frame, row as usize)? })
        })?;
    }
    Ok(())
}
