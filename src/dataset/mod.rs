//! The parquet edge: footer inspection, bounded parallel decoding of `dataset.parquet`
//! into the compact [`DatasetFrame`] the checks run on, and targeted reads of sampled rows.

mod arena;
pub mod budget;
mod columns;
mod frame;
mod inspect;
mod pages;
mod rows;
pub mod types;
mod writer;

use std::path::Path;

use rayon::prelude::*;

pub use arena::StrArena;
pub use columns::{ColumnData, DEFAULT_TEXT_MAX_BYTES, DecodeBudget, KeyedRows, RowError, TooLong};
pub use frame::{DUPLICATE_COLUMNS, DatasetFrame, FrameParts, SourceGrouping};
pub use inspect::{Footer, ReadLimits, inspect};
pub use pages::MAX_PAGE_BYTES;
pub use rows::{SampledRow, read_rows};
pub use writer::{WriteError, to_batch, video_v1_schema, write_dataset};

use crate::model::Failure;
use crate::spec::{ColumnRole, SpecDefinition};

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

/// A loaded dataset: its footer and its checked frame, holding its share of the memory
/// budget until [`LoadedDataset::release_budget`] (or until dropped).
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    pub footer: Footer,
    pub frame: DatasetFrame,
    reservation: Option<std::sync::Arc<budget::Reservation>>,
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

/// Inspects, decodes and checks every column of the dataset at `path` against `spec`.
///
/// Columns decode in parallel (rayon), each streaming batches sized to a byte budget and
/// charging every decoded byte to one cap for the whole dataset; a rule violation reports
/// the lowest offending row (ties by column order). Values longer than their column's cap
/// are cut and their rows listed (`value_too_long`, a row failure).
pub fn load(path: &Path, spec: &SpecDefinition, limits: &ReadLimits) -> Result<LoadedDataset, DatasetError> {
    let footer = inspect(path, spec, limits)?;
    if footer.num_rows == 0 {
        let frame = DatasetFrame::from_parts(FrameParts::default())?;
        return Ok(LoadedDataset { footer, frame, reservation: None });
    }
    let reservation = budget::global().reserve(footer.num_rows.saturating_mul(budget::ROW_COST_BYTES));
    let budget = DecodeBudget::new(limits.max_decoded_bytes);
    let outcomes: Vec<columns::ColumnOutcome> = spec
        .columns
        .par_iter()
        .zip(footer.column_indices.par_iter())
        .filter_map(|(col, index)| index.map(|i| columns::decode_column(path, &footer, col, i, &budget)))
        .collect::<Result<_, _>>()?;
    let names: Vec<&str> = spec
        .columns
        .iter()
        .zip(&footer.column_indices)
        .filter(|(_, i)| i.is_some())
        .map(|(c, _)| c.name.as_str())
        .collect();
    let first_error = outcomes
        .iter()
        .zip(&names)
        .filter_map(|(o, name)| o.error.as_ref().map(|e| (e, *name)))
        .min_by_key(|(e, _)| e.row);
    if let Some((e, name)) = first_error {
        return Err(DatasetError::Schema(format!("row {}: column `{name}` {}", e.row, e.message)));
    }
    let mut parts = FrameParts::default();
    let mut too_long: Vec<(u32, usize)> = Vec::new();
    for (position, outcome) in outcomes.iter().enumerate() {
        parts.too_long_total += outcome.too_long.total;
        too_long.extend(outcome.too_long.rows.iter().map(|&row| (row, position)));
    }
    too_long.sort_unstable();
    too_long.truncate(crate::model::MAX_DECISION_FAILURES);
    parts.too_long = too_long.into_iter().map(|(row, position)| (row, names[position].to_string())).collect();
    for outcome in outcomes {
        match outcome.data {
            ColumnData::Checked => {}
            ColumnData::ClipId { values, fingerprints } => {
                parts.clip_ids = values;
                parts.clip_id_fps = fingerprints;
            }
            ColumnData::Fingerprints(role, fps) => match role {
                ColumnRole::ClipUri => parts.clip_uri_fps = fps,
                ColumnRole::ClipSha256 => parts.clip_sha_fps = fps,
                _ => parts.frame_sha_fps = fps,
            },
            ColumnData::SourceId(keyed) => parts.declared = keyed,
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
    let frame = DatasetFrame::from_parts(parts)?;
    Ok(LoadedDataset { footer, frame, reservation: Some(std::sync::Arc::new(reservation)) })
}
