//! `non_youtube_source`: a row whose source URL's host is not YouTube.

use super::{HardCheck, clip_id};
use crate::dataset::{DatasetError, DatasetFrame};
use crate::model::{Failure, FailureCode, FailureList};

/// Sources that are not YouTube.
pub(super) struct YoutubeSource;

impl HardCheck for YoutubeSource {
    fn name(&self) -> &'static str {
        "youtube_source"
    }

    fn run(&self, frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
        for (row, youtube) in frame.youtube.iter().enumerate() {
            if !youtube {
                failures.push_with(FailureCode::NonYoutubeSource, || {
                    Ok::<_, DatasetError>(Failure::NonYoutubeSource { clip_id: clip_id(frame, row)? })
                })?;
            }
        }
        Ok(())
    }
}
