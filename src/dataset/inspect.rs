//! Footer inspection with the parquet crate: row count, column types and declared sizes,
//! all checked before any column is decoded.

use std::fs::File;
use std::path::Path;

use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::ParquetMetaData;

use super::DatasetError;
use super::pages::check_chunk_ranges;
use super::types::{accepts, kind_name};
use crate::spec::SpecDefinition;

/// Limits applied while reading a dataset.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Most rows a dataset may declare.
    pub max_rows: u64,
    /// Most bytes the spec's columns may decode to: the footer's declared sizes are
    /// checked against it first, then the bytes actually decoded, as they are produced.
    pub max_decoded_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self { max_rows: 2_000_000, max_decoded_bytes: 2 << 30 }
    }
}

/// What the footer says, after the checks.
#[derive(Debug, Clone)]
pub struct Footer {
    /// The parsed parquet metadata.
    pub metadata: ArrowReaderMetadata,
    /// Rows the footer declares (checked against the cap).
    pub num_rows: u64,
    /// For every spec column: its index in the file's top-level fields, if present.
    pub column_indices: Vec<Option<usize>>,
}

impl Footer {
    /// The file's arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        self.metadata.schema()
    }
}

/// Reads and checks the footer of `path` against `spec`.
pub fn inspect(path: &Path, spec: &SpecDefinition, limits: &ReadLimits) -> Result<Footer, DatasetError> {
    let file = File::open(path).map_err(|e| DatasetError::Internal(format!("cannot open dataset: {e}")))?;
    let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| DatasetError::Schema(format!("dataset.parquet is not a readable parquet file: {e}")))?;
    let num_rows = row_count(metadata.metadata(), limits)?;
    let column_indices = spec_columns(metadata.schema(), spec, num_rows)?;
    if num_rows > 0 {
        check_layout(path, &metadata, &column_indices, limits)?;
    }
    Ok(Footer { metadata, num_rows, column_indices })
}

/// The declared row count: consistent with the row groups and within the limit.
fn row_count(pq: &ParquetMetaData, limits: &ReadLimits) -> Result<u64, DatasetError> {
    let declared = pq.file_metadata().num_rows();
    let group_sum: i64 = pq
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .try_fold(0i64, |acc, n| (n >= 0).then(|| acc.checked_add(n)).flatten())
        .ok_or_else(|| DatasetError::Schema("row groups declare an invalid row count".into()))?;
    if declared < 0 || declared != group_sum {
        return Err(DatasetError::Schema(format!(
            "footer declares {declared} rows but its row groups hold {group_sum}"
        )));
    }
    let num_rows = declared as u64;
    if num_rows > limits.max_rows {
        return Err(DatasetError::Schema(format!(
            "dataset declares {num_rows} rows, more than the limit of {}",
            limits.max_rows
        )));
    }
    Ok(num_rows)
}

/// For every spec column, its index among the file's fields: names unique, required
/// columns present and of an accepted type (an empty dataset only needs unique names).
fn spec_columns(schema: &SchemaRef, spec: &SpecDefinition, num_rows: u64) -> Result<Vec<Option<usize>>, DatasetError> {
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    if let Some(dup) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(*n)) {
        return Err(DatasetError::Schema(format!("column `{dup}` appears more than once")));
    }
    let mut column_indices = Vec::with_capacity(spec.columns.len());
    for col in &spec.columns {
        let index = schema.fields().iter().position(|f| f.name() == &col.name);
        if num_rows > 0 {
            match index {
                None if col.required => {
                    return Err(DatasetError::Schema(format!("required column `{}` is missing", col.name)));
                }
                Some(i) if !accepts(col.kind, schema.field(i).data_type()) => {
                    return Err(DatasetError::Schema(format!(
                        "column `{}` has type {}, expected {}",
                        col.name,
                        schema.field(i).data_type(),
                        kind_name(col.kind)
                    )));
                }
                _ => {}
            }
        }
        column_indices.push(index);
    }
    Ok(column_indices)
}

/// The spec columns' chunks lie inside the data area without sharing bytes, and their
/// declared uncompressed size is within the decode limit.
fn check_layout(
    path: &Path,
    metadata: &ArrowReaderMetadata,
    column_indices: &[Option<usize>],
    limits: &ReadLimits,
) -> Result<(), DatasetError> {
    let pq = metadata.metadata();
    let schema = metadata.parquet_schema();
    let wanted: Vec<usize> = column_indices.iter().flatten().copied().collect();
    let leaves: Vec<usize> =
        (0..schema.num_columns()).filter(|&leaf| wanted.contains(&schema.get_column_root_idx(leaf))).collect();
    check_chunk_ranges(path, pq, &leaves)?;
    let mut decoded: i64 = 0;
    for group in pq.row_groups() {
        for (leaf, chunk) in group.columns().iter().enumerate() {
            if wanted.contains(&schema.get_column_root_idx(leaf)) {
                decoded = decoded.saturating_add(chunk.uncompressed_size().max(0));
            }
        }
    }
    if decoded as u64 > limits.max_decoded_bytes {
        return Err(DatasetError::Schema(format!(
            "columns declare {decoded} uncompressed bytes, more than the limit of {}",
            limits.max_decoded_bytes
        )));
    }
    Ok(())
}
