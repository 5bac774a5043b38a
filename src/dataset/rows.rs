//! Targeted reads of the few sampled rows: only the pages holding them are decoded.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};

use super::columns::{cap_text, py_trim};
use super::{DatasetError, Footer};
use crate::spec::{ColumnRole, SpecDefinition};

/// The fields of a sampled row the asset and LLM stages need (strings trimmed).
#[derive(Debug, Clone, PartialEq)]
pub struct SampledRow {
    pub index: usize,
    pub clip_id: String,
    pub clip_uri: String,
    pub clip_sha256: String,
    pub first_frame_uri: String,
    pub first_frame_sha256: String,
    pub fps: f64,
    pub caption: String,
    /// The claimed source (the source check): declared video id, URL and start seconds.
    pub source_video_id: String,
    pub source_video_url: String,
    pub clip_start_sec: f64,
}

const ROLES: [ColumnRole; 10] = [
    ColumnRole::ClipId,
    ColumnRole::ClipUri,
    ColumnRole::ClipSha256,
    ColumnRole::FrameUri,
    ColumnRole::FrameSha256,
    ColumnRole::Fps,
    ColumnRole::Caption,
    ColumnRole::SourceId,
    ColumnRole::SourceUrl,
    ColumnRole::Start,
];

fn selection(indices: &[usize], total: usize) -> RowSelection {
    let mut selectors = Vec::with_capacity(indices.len() * 2 + 1);
    let mut next = 0usize;
    for &i in indices {
        if i > next {
            selectors.push(RowSelector::skip(i - next));
        }
        selectors.push(RowSelector::select(1));
        next = i + 1;
    }
    if total > next {
        selectors.push(RowSelector::skip(total - next));
    }
    selectors.into()
}

fn column_text(batch: &RecordBatch, pos: usize) -> Result<StringArray, DatasetError> {
    let array: &ArrayRef = batch.column(pos);
    let cast = arrow_cast::cast(array, &DataType::Utf8).map_err(|e| DatasetError::Internal(e.to_string()))?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DatasetError::Internal("sampled column is not text".into()))
}

fn column_f64(batch: &RecordBatch, pos: usize) -> Result<arrow_array::Float64Array, DatasetError> {
    let cast =
        arrow_cast::cast(batch.column(pos), &DataType::Float64).map_err(|e| DatasetError::Internal(e.to_string()))?;
    cast.as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .cloned()
        .ok_or_else(|| DatasetError::Internal("sampled column is not numeric".into()))
}

/// Reads the rows at `indices` (ascending, distinct, in range) of an already checked dataset.
pub fn read_rows(
    path: &Path,
    footer: &Footer,
    spec: &SpecDefinition,
    indices: &[usize],
) -> Result<Vec<SampledRow>, DatasetError> {
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    let missing = |role| DatasetError::Internal(format!("spec {} has no {role:?} column", spec.spec_id));
    let mut file_indices = Vec::with_capacity(ROLES.len());
    let mut columns = Vec::with_capacity(ROLES.len());
    for role in ROLES {
        let col = spec.column_for(role).ok_or_else(|| missing(role))?;
        columns.push(col);
        let idx = footer.schema().fields().iter().position(|f| f.name() == &col.name).ok_or_else(|| missing(role))?;
        file_indices.push(idx);
    }
    let mut sorted = file_indices.clone();
    sorted.sort_unstable();
    // Projected batches keep the file's column order.
    let pos = |role_idx: usize| sorted.iter().position(|&i| i == file_indices[role_idx]).unwrap_or(0);
    let file = File::open(path).map_err(|e| DatasetError::Internal(format!("cannot open dataset: {e}")))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.metadata.clone())
        .with_projection(ProjectionMask::roots(footer.metadata.parquet_schema(), sorted.iter().copied()))
        .with_row_selection(selection(indices, footer.num_rows as usize))
        .with_batch_size(indices.len().max(1))
        .build()
        .map_err(|e| DatasetError::Internal(format!("sampled rows: {e}")))?;
    let mut rows = Vec::with_capacity(indices.len());
    for batch in reader {
        let batch = batch.map_err(|e| DatasetError::Internal(format!("sampled rows: {e}")))?;
        let text: Vec<StringArray> =
            [0, 1, 2, 3, 4, 6, 7, 8].iter().map(|&r| column_text(&batch, pos(r))).collect::<Result<_, _>>()?;
        let (fps, start) = (column_f64(&batch, pos(5))?, column_f64(&batch, pos(9))?);
        for i in 0..batch.num_rows() {
            let index =
                *indices.get(rows.len()).ok_or_else(|| DatasetError::Internal("too many sampled rows".into()))?;
            // Values are cut to their caps, as in the frame (a too-long value already
            // failed its row).
            let t = |k: usize, role: usize| cap_text(columns[role], py_trim(text[k].value(i))).0.to_string();
            rows.push(SampledRow {
                index,
                clip_id: t(0, 0),
                clip_uri: t(1, 1),
                clip_sha256: t(2, 2),
                first_frame_uri: t(3, 3),
                first_frame_sha256: t(4, 4),
                fps: fps.value(i),
                caption: t(5, 6),
                source_video_id: t(6, 7),
                source_video_url: t(7, 8),
                clip_start_sec: start.value(i),
            });
        }
    }
    if rows.len() != indices.len() {
        return Err(DatasetError::Internal(format!("read {} sampled rows, expected {}", rows.len(), indices.len())));
    }
    Ok(rows)
}
