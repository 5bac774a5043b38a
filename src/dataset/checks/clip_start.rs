//! `clip_start_gt_5000`: clips starting too late in their source.

use super::{HardCheck, clip_id};
use crate::dataset::{DatasetError, DatasetFrame};
use crate::model::{Failure, FailureCode, FailureList};
use crate::protocol::MAX_CLIP_START_SEC;

/// Clips starting after the latest allowed start.
pub(super) struct ClipStart;

impl HardCheck for ClipStart {
    fn name(&self) -> &'static str {
        "clip_start"
    }

    fn run(&self, frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
        for (row, &start) in frame.start_values().iter().enumerate() {
            if start > MAX_CLIP_START_SEC {
                failures.push_with(FailureCode::ClipStartGt5000, || {
                    Ok::<_, DatasetError>(Failure::ClipStartGt5000 { clip_id: clip_id(frame, row)? })
                })?;
            }
        }
        Ok(())
    }
}
