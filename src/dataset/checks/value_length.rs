//! `value_too_long` (rev. 2): values longer than their column's cap. The decoder cuts
//! them and keeps the first 256 (row order, then column order); the rest are counted.

use super::{HardCheck, clip_id};
use crate::dataset::{DatasetError, DatasetFrame};
use crate::model::{Failure, FailureCode, FailureList};

/// Values longer than their column's cap.
pub(super) struct ValueLength;

impl HardCheck for ValueLength {
    fn name(&self) -> &'static str {
        "value_length"
    }

    fn run(&self, frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError> {
        for (row, column) in &frame.too_long {
            let clip_id = clip_id(frame, *row as usize)?;
            failures.push(Failure::ValueTooLong { column: column.clone(), clip_id });
        }
        failures.count(FailureCode::ValueTooLong, frame.too_long_total.saturating_sub(frame.too_long.len() as u64));
        Ok(())
    }
}
