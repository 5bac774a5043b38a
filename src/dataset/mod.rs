//! The parquet edge: footer inspection, bounded parallel decoding of `dataset.parquet`
//! into the compact [`DatasetFrame`] the checks run on, and targeted reads of sampled rows.

mod arena;
mod checks;
mod collect;
mod columns;
mod frame;
mod inspect;
pub mod memory;
mod pages;
mod rows;
pub mod types;
mod values;
mod writer;

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

pub use arena::StrArena;
pub use collect::{ColumnData, SourceGroups};
pub use columns::{DecodedBytesCap, RowError, TooLong};
pub use frame::{DatasetFrame, FrameParts, SourceGrouping};
pub use inspect::{Footer, ReadLimits, inspect};
pub use pages::MAX_PAGE_BYTES;
pub use rows::{SampledRow, read_rows};
pub use values::DEFAULT_TEXT_MAX_BYTES;
pub use writer::{WriteError, to_batch, video_v1_schema, write_dataset};

use crate::model::Failure;
use crate::spec::SpecDefinition;
use columns::ColumnOutcome;

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file breaks protocol §6 (`dataset_schema_invalid`).
    #[error("{0}")]
    Schema(String),
    /// Something failed on our side (`validation_exception`).
    #[error("{0}")]
    Internal(String),
}

impl DatasetError {
    /// The failure code this error ends in.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Schema(_) => Failure::DatasetSchemaInvalid,
            Self::Internal(_) => Failure::ValidationException,
        }
    }
}

/// A loaded dataset: its footer and its checked frame (shared, never copied), holding its
/// share of the memory budget until [`LoadedDataset::release_budget`] (or until dropped).
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    /// The checked footer.
    pub footer: Footer,
    /// The decoded, rule-checked rows.
    pub frame: Arc<DatasetFrame>,
    reservation: Option<Arc<memory::MemoryReservation>>,
}

impl LoadedDataset {
    /// Gives this dataset's memory reservation back (its evaluation is over; what stays
    /// alive for interval-level pruning is the accepted packages' frames only).
    pub fn release_budget(&mut self) {
        self.reservation = None;
    }

    /// Row count.
    pub fn num_rows(&self) -> usize {
        self.footer.num_rows as usize
    }
}

/// Inspects, decodes and checks every column of the dataset at `path` against `spec`,
/// reserving its memory from `budget` first (waiting for it here).
///
/// Columns decode in parallel (rayon), each streaming batches sized to a byte budget and
/// charging every decoded byte to one cap for the whole dataset; a rule violation reports
/// the lowest offending row (ties by column order). Values longer than their column's cap
/// are cut and their rows listed (`value_too_long`, a row failure).
pub fn load(
    path: &Path,
    spec: &SpecDefinition,
    limits: &ReadLimits,
    budget: &Arc<memory::MemoryBudget>,
) -> Result<LoadedDataset, DatasetError> {
    let footer = inspect(path, spec, limits)?;
    let reservation = (footer.num_rows > 0).then(|| budget.reserve(memory::cost_of(footer.num_rows)));
    load_inspected(path, spec, limits, footer, reservation)
}

/// [`load`] of an already inspected file whose memory the caller reserved (or, for an
/// empty dataset, did not need to).
pub fn load_inspected(
    path: &Path,
    spec: &SpecDefinition,
    limits: &ReadLimits,
    footer: Footer,
    reservation: Option<memory::MemoryReservation>,
) -> Result<LoadedDataset, DatasetError> {
    if footer.num_rows == 0 {
        let frame = Arc::new(DatasetFrame::from_parts(FrameParts::default())?);
        return Ok(LoadedDataset { footer, frame, reservation: None });
    }
    let columns = decode_columns(path, &footer, spec, limits)?;
    if let Some((e, name)) = first_error(&columns) {
        return Err(DatasetError::Schema(format!("row {}: column `{name}` {}", e.row, e.message)));
    }
    let frame = Arc::new(DatasetFrame::from_parts(assemble(columns))?);
    Ok(LoadedDataset { footer, frame, reservation: reservation.map(Arc::new) })
}

/// Decodes the spec's columns present in the file, in parallel, in spec order, with
/// their names.
fn decode_columns<'s>(
    path: &Path,
    footer: &Footer,
    spec: &'s SpecDefinition,
    limits: &ReadLimits,
) -> Result<Vec<(&'s str, ColumnOutcome)>, DatasetError> {
    let cap = DecodedBytesCap::new(limits.max_decoded_bytes);
    spec.columns
        .par_iter()
        .zip(footer.column_indices.par_iter())
        .filter_map(|(col, index)| {
            index.map(|i| columns::decode_column(path, footer, col, i, &cap).map(|o| (col.name.as_str(), o)))
        })
        .collect()
}

/// The lowest offending row of all columns (ties by column order).
fn first_error<'a>(columns: &'a [(&'a str, ColumnOutcome)]) -> Option<(&'a RowError, &'a str)> {
    columns.iter().filter_map(|(name, o)| o.error.as_ref().map(|e| (e, *name))).min_by_key(|(e, _)| e.row)
}

/// Gathers the columns' facts into frame parts (too-long rows in row order, then column
/// order, at most the decision's failure bound).
fn assemble(columns: Vec<(&str, ColumnOutcome)>) -> FrameParts {
    let mut parts = FrameParts::default();
    let mut too_long: Vec<(u32, usize)> = Vec::new();
    for (position, (_, outcome)) in columns.iter().enumerate() {
        parts.too_long_total += outcome.too_long.total;
        too_long.extend(outcome.too_long.rows.iter().map(|&row| (row, position)));
    }
    too_long.sort_unstable();
    too_long.truncate(crate::model::MAX_DECISION_FAILURES);
    parts.too_long = too_long.into_iter().map(|(row, position)| (row, columns[position].0.to_string())).collect();
    for (_, outcome) in columns {
        match outcome.data {
            ColumnData::Checked => {}
            ColumnData::ClipId { values, repeated } => {
                parts.clip_ids = values;
                parts.repeated.extend(repeated);
            }
            ColumnData::Repeated(rows) => parts.repeated.extend(rows),
            ColumnData::SourceId(groups) => parts.declared = groups,
            ColumnData::SourceUrl { youtube, keys } => {
                parts.youtube = youtube;
                parts.canonical = keys;
            }
            ColumnData::Start(starts) => parts.starts = starts,
            ColumnData::Caption { words, has_url } => {
                parts.caption_words = words;
                parts.caption_has_url = has_url;
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClipRecord, SourceProof};
    use crate::spec::{DatasetSpec, VideoV1};

    fn record(i: usize) -> ClipRecord {
        ClipRecord {
            clip_id: format!("clip{i}"),
            clip_uri: format!("clips/clip{i}.mp4"),
            clip_sha256: "a".repeat(64),
            first_frame_uri: format!("frames/clip{i}.jpg"),
            first_frame_sha256: "b".repeat(64),
            source_video_id: format!("v{i}"),
            split_group_id: format!("v{i}:0"),
            split: "train".into(),
            clip_start_sec: 0.0,
            duration_sec: 5.0,
            width: 1280,
            height: 720,
            fps: 30.0,
            num_frames: 150,
            has_audio: false,
            caption: "a caption long enough to pass".into(),
            source_video_url: format!("https://www.youtube.com/watch?v=v{i}"),
            source_proof: SourceProof { extractor: "youtube".into(), source_video_id: format!("v{i}") },
        }
    }

    #[test]
    fn a_load_holds_its_share_of_the_budget_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.parquet");
        write_dataset(&path, &(0..3).map(record).collect::<Vec<_>>()).unwrap();
        let spec = VideoV1::new().unwrap();
        let budget = memory::MemoryBudget::new(1 << 20);
        let mut loaded = load(&path, spec.definition(), &ReadLimits::default(), &budget).unwrap();
        assert_eq!((loaded.num_rows(), budget.in_use()), (3, memory::cost_of(3)));
        let other = memory::MemoryBudget::new(1 << 20);
        let second = load(&path, spec.definition(), &ReadLimits::default(), &other).unwrap();
        assert_eq!((budget.in_use(), other.in_use()), (memory::cost_of(3), memory::cost_of(3)));
        loaded.release_budget();
        drop(second);
        assert_eq!((budget.in_use(), other.in_use()), (0, 0));
    }
}
