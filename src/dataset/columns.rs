//! Decoding one column: stream its record batches, apply the spec's value rules to every
//! row, and keep only the compact facts the package-wide checks need.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, StringArray};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::DatasetError;
use super::collect::{Collector, ColumnData};
use super::inspect::Footer;
use super::pages::walk_column;
use super::values::{cap_text, check_number, check_text};
use crate::spec::{ColumnKind, ColumnSpec};

/// Most rows decoded per batch.
const BATCH_ROWS: usize = 8192;
/// Most bytes one batch of one column may decode to: batches shrink for columns whose
/// values can be long (a long dictionary entry repeated on every row).
const BATCH_BYTES: usize = 16 << 20;
/// Too-long rows kept per column (the decision lists at most 256 failures).
const TOO_LONG_KEPT: usize = 256;

/// The bytes all columns of one dataset may decode to, counted as they are produced
/// (never trusting the sizes the file declares). Not to be confused with the process-wide
/// [`MemoryBudget`](super::memory::MemoryBudget) concurrent loads share.
#[derive(Debug)]
pub struct DecodedBytesCap {
    used: AtomicU64,
    cap: u64,
}

impl DecodedBytesCap {
    /// A cap of `cap` bytes.
    pub fn new(cap: u64) -> Self {
        Self { used: AtomicU64::new(0), cap }
    }

    /// Charges `bytes`; fails once the total passes the cap.
    fn charge(&self, bytes: usize, column: &str) -> Result<(), DatasetError> {
        let total = self.used.fetch_add(bytes as u64, AtomicOrdering::Relaxed).saturating_add(bytes as u64);
        if total > self.cap {
            return Err(DatasetError::Schema(format!(
                "columns decode to more than the limit of {} bytes (reached in `{column}`)",
                self.cap
            )));
        }
        Ok(())
    }

    /// Bytes decoded so far.
    pub fn used(&self) -> u64 {
        self.used.load(AtomicOrdering::Relaxed)
    }
}

/// Rows of one column whose value is longer than its cap: the first ones, and how many.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TooLong {
    /// The first rows (ascending), at most 256.
    pub rows: Vec<u32>,
    /// How many rows in all.
    pub total: u64,
}

impl TooLong {
    fn push(&mut self, row: usize) {
        if self.rows.len() < TOO_LONG_KEPT {
            self.rows.push(row as u32);
        }
        self.total += 1;
    }
}

/// The first rule violation found in a column.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// The offending row.
    pub row: usize,
    /// What is wrong with its value.
    pub message: String,
}

/// Result of decoding one column.
#[derive(Debug)]
pub(crate) struct ColumnOutcome {
    /// The first rule violation, if any (then `data` is empty).
    pub error: Option<RowError>,
    /// The facts kept for the package-wide checks.
    pub data: ColumnData,
    /// Rows whose value was cut to the column's cap.
    pub too_long: TooLong,
}

impl ColumnOutcome {
    fn failed(error: RowError) -> Self {
        Self { error: Some(error), data: ColumnData::Checked, too_long: TooLong::default() }
    }
}

fn as_text(array: &ArrayRef) -> Result<StringArray, String> {
    let cast = match array.data_type() {
        DataType::Utf8 => array.clone(),
        _ => arrow_cast::cast(array, &DataType::Utf8).map_err(|e| e.to_string())?,
    };
    cast.as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| "not a text column".to_string())
}

fn as_f64(array: &ArrayRef) -> Result<Float64Array, String> {
    let cast = match array.data_type() {
        DataType::Float64 => array.clone(),
        _ => arrow_cast::cast(array, &DataType::Float64).map_err(|e| e.to_string())?,
    };
    cast.as_any().downcast_ref::<Float64Array>().cloned().ok_or_else(|| "not a numeric column".to_string())
}

/// Batch rows for a column whose values decode to at most `longest` bytes each.
fn batch_rows(longest: usize) -> usize {
    (BATCH_BYTES / longest.max(1)).clamp(1, BATCH_ROWS)
}

/// The leaf columns under top-level field `index`.
fn leaves(footer: &Footer, index: usize) -> Vec<usize> {
    let schema = footer.metadata.parquet_schema();
    (0..schema.num_columns()).filter(|&leaf| schema.get_column_root_idx(leaf) == index).collect()
}

/// Walks the column's pages (layout checks, longest value), then opens a reader of it
/// whose batches stay within [`BATCH_BYTES`].
fn open_column(
    path: &Path,
    footer: &Footer,
    spec: &ColumnSpec,
    index: usize,
) -> Result<ParquetRecordBatchReader, DatasetError> {
    let mut longest = 8;
    for leaf in leaves(footer, index) {
        longest = longest.max(walk_column(path, footer.metadata.metadata(), leaf)?);
    }
    let file = File::open(path).map_err(|e| DatasetError::Internal(format!("cannot open dataset: {e}")))?;
    let mask = ProjectionMask::roots(footer.metadata.parquet_schema(), [index]);
    ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.metadata.clone())
        .with_projection(mask)
        .with_batch_size(batch_rows(longest))
        .build()
        .map_err(|e| DatasetError::Schema(format!("column `{}` cannot be read: {e}", spec.name)))
}

/// One column's state while its batches stream by.
struct ColumnDecoder<'a> {
    spec: &'a ColumnSpec,
    cap: &'a DecodedBytesCap,
    collector: Collector,
    too_long: TooLong,
    /// Rows decoded so far (the first row of the next batch).
    row: usize,
}

/// A batch either passes or names its first bad row.
type BatchResult = Result<Option<RowError>, DatasetError>;

impl ColumnDecoder<'_> {
    fn bad_type(&self, e: String) -> DatasetError {
        DatasetError::Schema(format!("column `{}`: {e}", self.spec.name))
    }

    fn row_error(&self, i: usize, message: impl Into<String>) -> BatchResult {
        Ok(Some(RowError { row: self.row + i, message: message.into() }))
    }

    /// Checks and collects one batch.
    fn batch(&mut self, array: &ArrayRef) -> BatchResult {
        let error = match self.spec.kind {
            ColumnKind::Text => self.text_batch(array)?,
            ColumnKind::Integer | ColumnKind::Float => self.number_batch(array)?,
            ColumnKind::Boolean => self.boolean_batch(array)?,
            ColumnKind::Struct => None,
        };
        self.row += array.len();
        Ok(error)
    }

    /// Text: trimmed, checked, cut to the column's cap (the cut rows listed).
    fn text_batch(&mut self, array: &ArrayRef) -> BatchResult {
        let text = as_text(array).map_err(|e| self.bad_type(e))?;
        self.cap.charge(text.value_data().len() + 4 * text.len(), &self.spec.name)?;
        for i in 0..text.len() {
            if text.is_null(i) {
                return self.row_error(i, "is null");
            }
            match check_text(self.spec, text.value(i)) {
                Ok(v) => {
                    let (kept, cut) = cap_text(self.spec, v);
                    if cut {
                        self.too_long.push(self.row + i);
                    }
                    self.collector.text(kept);
                }
                Err(m) => return self.row_error(i, m),
            }
        }
        Ok(None)
    }

    /// Integers and floats, read as floats.
    fn number_batch(&mut self, array: &ArrayRef) -> BatchResult {
        let numbers = as_f64(array).map_err(|e| self.bad_type(e))?;
        self.cap.charge(8 * numbers.len(), &self.spec.name)?;
        for i in 0..numbers.len() {
            if numbers.is_null(i) {
                return self.row_error(i, "is null");
            }
            let v = numbers.value(i);
            if let Err(m) = check_number(self.spec, v) {
                return self.row_error(i, m);
            }
            self.collector.number(v);
        }
        Ok(None)
    }

    /// Booleans, or integers that are 0 or 1.
    fn boolean_batch(&mut self, array: &ArrayRef) -> BatchResult {
        self.cap.charge(array.len(), &self.spec.name)?;
        if let Some(flags) = array.as_any().downcast_ref::<BooleanArray>() {
            return match (0..flags.len()).find(|&i| flags.is_null(i)) {
                Some(i) => self.row_error(i, "is null"),
                None => Ok(None),
            };
        }
        let numbers = as_f64(array).map_err(|e| self.bad_type(e))?;
        for i in 0..numbers.len() {
            if numbers.is_null(i) {
                return self.row_error(i, "is null");
            }
            let v = numbers.value(i);
            if v != 0.0 && v != 1.0 {
                return self.row_error(i, format!("must be a boolean, is {v}"));
            }
        }
        Ok(None)
    }
}

/// Decodes and checks column `spec` (file field `index`) of the dataset at `path`,
/// charging every decoded byte to `cap`.
pub(crate) fn decode_column(
    path: &Path,
    footer: &Footer,
    spec: &ColumnSpec,
    index: usize,
    cap: &DecodedBytesCap,
) -> Result<ColumnOutcome, DatasetError> {
    let rows = footer.num_rows as usize;
    let collector = Collector::new(spec.role, rows);
    if spec.kind == ColumnKind::Struct {
        return Ok(ColumnOutcome { error: None, data: collector.finish(), too_long: TooLong::default() });
    }
    let reader = open_column(path, footer, spec, index)?;
    let mut decoder = ColumnDecoder { spec, cap, collector, too_long: TooLong::default(), row: 0 };
    for batch in reader {
        let batch =
            batch.map_err(|e| DatasetError::Schema(format!("column `{}` cannot be decoded: {e}", spec.name)))?;
        let Some(array) = batch.columns().first() else { continue };
        if let Some(error) = decoder.batch(array)? {
            return Ok(ColumnOutcome::failed(error));
        }
    }
    if decoder.row != rows {
        return Err(DatasetError::Schema(format!(
            "column `{}` holds {} values but the footer declares {rows} rows",
            spec.name, decoder.row
        )));
    }
    Ok(ColumnOutcome { error: None, data: decoder.collector.finish(), too_long: decoder.too_long })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_for_long_values() {
        assert_eq!(batch_rows(1 << 30), 1);
        assert_eq!(batch_rows(10), BATCH_ROWS);
        assert_eq!(batch_rows(BATCH_BYTES / 100), 100);
    }
}
