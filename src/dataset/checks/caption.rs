//! `empty_caption`, `short_caption`, `url_like_caption`: one failure per row, in that
//! precedence.

use super::{HardCheck, clip_id};
use crate::dataset::{DatasetError, DatasetFrame};
use crate::model::{Failure, FailureCode, FailureList};
use crate::protocol::MIN_CAPTION_WORDS;

/// Empty, short or URL-holding captions.
pub(super) struct Caption;

impl HardCheck for Caption {
    fn name(&self) -> &'static str {
        "caption"
    }

    fn run(&self, frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
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
}
