//! `overlap_lt_5s`: clips of one source starting less than five seconds apart. Close
//! starts of one declared source, then (stricter) of one canonical source key, so aliases
//! of a source are caught; each pair is reported once.

use std::collections::HashSet;

use super::{HardCheck, clip_id};
use crate::dataset::{DatasetError, DatasetFrame, SourceGrouping};
use crate::model::{Failure, FailureCode, FailureList};
use crate::protocol::MIN_START_DISTANCE_SEC;

const CODE: FailureCode = FailureCode::OverlapLt5s;

/// Clips of one source starting too close together.
pub(super) struct Overlap;

impl HardCheck for Overlap {
    fn name(&self) -> &'static str {
        "overlap"
    }

    fn run(&self, frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
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
}
