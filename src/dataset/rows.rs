//! Targeted reads of the few sampled rows: only the pages holding them are decoded.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};

use super::values::{cap_text, py_trim};
use super::{DatasetError, Footer};
use crate::spec::{ColumnRole, ColumnSpec, SpecDefinition};

/// The fields of a sampled row the asset and LLM stages need (strings trimmed).
#[derive(Debug, Clone, PartialEq)]
pub struct SampledRow {
    /// The row number in `dataset.parquet`.
    pub index: usize,
    /// The clip id.
    pub clip_id: String,
    /// Where the clip lives in the bucket.
    pub clip_uri: String,
    /// The clip's declared sha256.
    pub clip_sha256: String,
    /// Where the first frame lives in the bucket.
    pub first_frame_uri: String,
    /// The first frame's declared sha256.
    pub first_frame_sha256: String,
    /// The declared frame rate.
    pub fps: f64,
    /// The caption.
    pub caption: String,
    /// The claimed source (the source check): declared video id, URL and start seconds.
    pub source_video_id: String,
    /// The claimed source URL.
    pub source_video_url: String,
    /// The claimed start in the source, seconds.
    pub clip_start_sec: f64,
}

/// A role's column: its spec and its position among the projected columns.
#[derive(Clone, Copy)]
struct Located<'s> {
    spec: &'s ColumnSpec,
    /// Index in the file's top-level fields.
    field: usize,
    /// Position in the projected batches (which keep the file's column order).
    position: usize,
}

/// The columns a [`SampledRow`] is read from, by role.
struct SampledColumns<'s> {
    clip_id: Located<'s>,
    clip_uri: Located<'s>,
    clip_sha256: Located<'s>,
    frame_uri: Located<'s>,
    frame_sha256: Located<'s>,
    fps: Located<'s>,
    caption: Located<'s>,
    source_id: Located<'s>,
    source_url: Located<'s>,
    start: Located<'s>,
}

impl<'s> SampledColumns<'s> {
    /// Finds every role's column in `spec` and in the file.
    fn locate(spec: &'s SpecDefinition, footer: &Footer) -> Result<Self, DatasetError> {
        let missing = |role| DatasetError::Internal(format!("spec {} has no {role:?} column", spec.spec_id));
        let find = |role: ColumnRole| {
            let col = spec.column_for(role).ok_or_else(|| missing(role))?;
            let field =
                footer.schema().fields().iter().position(|f| f.name() == &col.name).ok_or_else(|| missing(role))?;
            Ok::<_, DatasetError>(Located { spec: col, field, position: 0 })
        };
        let mut columns = Self {
            clip_id: find(ColumnRole::ClipId)?,
            clip_uri: find(ColumnRole::ClipUri)?,
            clip_sha256: find(ColumnRole::ClipSha256)?,
            frame_uri: find(ColumnRole::FrameUri)?,
            frame_sha256: find(ColumnRole::FrameSha256)?,
            fps: find(ColumnRole::Fps)?,
            caption: find(ColumnRole::Caption)?,
            source_id: find(ColumnRole::SourceId)?,
            source_url: find(ColumnRole::SourceUrl)?,
            start: find(ColumnRole::Start)?,
        };
        let fields = columns.fields();
        for located in columns.all_mut() {
            located.position = fields.iter().position(|&f| f == located.field).unwrap_or(0);
        }
        Ok(columns)
    }

    fn all_mut(&mut self) -> [&mut Located<'s>; 10] {
        [
            &mut self.clip_id,
            &mut self.clip_uri,
            &mut self.clip_sha256,
            &mut self.frame_uri,
            &mut self.frame_sha256,
            &mut self.fps,
            &mut self.caption,
            &mut self.source_id,
            &mut self.source_url,
            &mut self.start,
        ]
    }

    /// The file fields to project, ascending.
    fn fields(&mut self) -> Vec<usize> {
        let mut fields: Vec<usize> = self.all_mut().iter().map(|l| l.field).collect();
        fields.sort_unstable();
        fields
    }
}

/// One text column of a batch, cast once.
struct TextColumn<'s> {
    spec: &'s ColumnSpec,
    values: StringArray,
}

impl<'s> TextColumn<'s> {
    fn read(batch: &RecordBatch, column: &Located<'s>) -> Result<Self, DatasetError> {
        Ok(TextColumn { spec: column.spec, values: column_text(batch, column.position)? })
    }

    /// Row `i`, trimmed and cut to its cap as in the frame (a too-long value already
    /// failed its row).
    fn value(&self, i: usize) -> String {
        cap_text(self.spec, py_trim(self.values.value(i))).0.to_string()
    }
}

/// The sampled-row columns of one batch, by role.
struct SampledBatch<'s> {
    clip_id: TextColumn<'s>,
    clip_uri: TextColumn<'s>,
    clip_sha256: TextColumn<'s>,
    frame_uri: TextColumn<'s>,
    frame_sha256: TextColumn<'s>,
    fps: Float64Array,
    caption: TextColumn<'s>,
    source_id: TextColumn<'s>,
    source_url: TextColumn<'s>,
    start: Float64Array,
}

impl<'s> SampledBatch<'s> {
    fn read(batch: &RecordBatch, c: &SampledColumns<'s>) -> Result<Self, DatasetError> {
        Ok(Self {
            clip_id: TextColumn::read(batch, &c.clip_id)?,
            clip_uri: TextColumn::read(batch, &c.clip_uri)?,
            clip_sha256: TextColumn::read(batch, &c.clip_sha256)?,
            frame_uri: TextColumn::read(batch, &c.frame_uri)?,
            frame_sha256: TextColumn::read(batch, &c.frame_sha256)?,
            fps: column_f64(batch, c.fps.position)?,
            caption: TextColumn::read(batch, &c.caption)?,
            source_id: TextColumn::read(batch, &c.source_id)?,
            source_url: TextColumn::read(batch, &c.source_url)?,
            start: column_f64(batch, c.start.position)?,
        })
    }

    /// Row `i` of the batch, which is dataset row `index`.
    fn row(&self, i: usize, index: usize) -> SampledRow {
        SampledRow {
            index,
            clip_id: self.clip_id.value(i),
            clip_uri: self.clip_uri.value(i),
            clip_sha256: self.clip_sha256.value(i),
            first_frame_uri: self.frame_uri.value(i),
            first_frame_sha256: self.frame_sha256.value(i),
            fps: self.fps.value(i),
            caption: self.caption.value(i),
            source_video_id: self.source_id.value(i),
            source_video_url: self.source_url.value(i),
            clip_start_sec: self.start.value(i),
        }
    }
}

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

fn column_f64(batch: &RecordBatch, pos: usize) -> Result<Float64Array, DatasetError> {
    let cast =
        arrow_cast::cast(batch.column(pos), &DataType::Float64).map_err(|e| DatasetError::Internal(e.to_string()))?;
    cast.as_any()
        .downcast_ref::<Float64Array>()
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
    let mut columns = SampledColumns::locate(spec, footer)?;
    let fields = columns.fields();
    let file = File::open(path).map_err(|e| DatasetError::Internal(format!("cannot open dataset: {e}")))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.metadata.clone())
        .with_projection(ProjectionMask::roots(footer.metadata.parquet_schema(), fields))
        .with_row_selection(selection(indices, footer.num_rows as usize))
        .with_batch_size(indices.len().max(1))
        .build()
        .map_err(|e| DatasetError::Internal(format!("sampled rows: {e}")))?;
    let mut rows = Vec::with_capacity(indices.len());
    for batch in reader {
        let batch = batch.map_err(|e| DatasetError::Internal(format!("sampled rows: {e}")))?;
        let sampled = SampledBatch::read(&batch, &columns)?;
        for i in 0..batch.num_rows() {
            let index =
                *indices.get(rows.len()).ok_or_else(|| DatasetError::Internal("too many sampled rows".into()))?;
            rows.push(sampled.row(i, index));
        }
    }
    if rows.len() != indices.len() {
        return Err(DatasetError::Internal(format!("read {} sampled rows, expected {}", rows.len(), indices.len())));
    }
    Ok(rows)
}
