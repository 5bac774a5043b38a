//! `duplicate_clip`: rows repeating an earlier row's clip id, clip URI, clip hash or
//! frame hash (found while decoding).

use super::{HardCheck, clip_id};
use crate::dataset::{DatasetError, DatasetFrame};
use crate::model::{Failure, FailureCode, FailureList};

/// Rows repeating an earlier clip id, URI or hash.
pub(super) struct Duplicates;

impl HardCheck for Duplicates {
    fn name(&self) -> &'static str {
        "duplicates"
    }

    fn run(&self, frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
        for row in frame.duplicate_rows()? {
            failures.push_with(FailureCode::DuplicateClip, || {
                Ok::<_, DatasetError>(Failure::DuplicateClip { clip_id: clip_id(frame, row as usize)? })
            })?;
        }
        Ok(())
    }
}
