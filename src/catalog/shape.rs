//! The shape columns of a bundle's rows (duration, size, fps, frames, audio) for the
//! catalog, read in row order beside the owner sync's own reader. A column that is
//! missing or of an unusable type gives nulls rather than failing the bundle: the clip
//! itself was already verified by the validator.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::CatalogError;
use crate::spec::video_v1::columns;

/// The shape of one clip.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ClipShape {
    pub(crate) duration_sec: Option<f64>,
    pub(crate) width: Option<i64>,
    pub(crate) height: Option<i64>,
    pub(crate) fps: Option<f64>,
    pub(crate) num_frames: Option<i64>,
    pub(crate) has_audio: Option<bool>,
}

const SHAPE_COLUMNS: [&str; 6] =
    [columns::DURATION_SEC, columns::WIDTH, columns::HEIGHT, columns::FPS, columns::NUM_FRAMES, columns::HAS_AUDIO];

fn column<T: Array + Clone + 'static>(batch: &RecordBatch, name: &str, to: &DataType) -> Option<T> {
    let col = batch.column_by_name(name)?;
    let cast = arrow_cast::cast(col, to).ok()?;
    cast.as_any().downcast_ref::<T>().cloned()
}

fn value<T, A: Array>(a: &Option<A>, i: usize, get: impl Fn(&A, usize) -> T) -> Option<T> {
    a.as_ref().filter(|a| !a.is_null(i)).map(|a| get(a, i))
}

/// Reads the shape of every row of the dataset at `path` (at most `max_rows` rows),
/// `batch_rows` rows at a time (the bundle's plan, so a batch stays small).
pub(crate) fn read_shapes(path: &Path, max_rows: u64, batch_rows: usize) -> Result<Vec<ClipShape>, CatalogError> {
    let file = File::open(path).map_err(|e| CatalogError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| CatalogError::parquet(path, e))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    if rows > max_rows {
        return Err(CatalogError::Invalid(format!("{}: {rows} rows, more than the cap of {max_rows}", path.display())));
    }
    let schema = builder.parquet_schema();
    let wanted: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| SHAPE_COLUMNS.contains(&schema.column(i).path().string().as_str()))
        .collect();
    let mask = ProjectionMask::leaves(schema, wanted);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(batch_rows.max(1))
        .build()
        .map_err(|e| CatalogError::parquet(path, e))?;
    let mut out = Vec::with_capacity(rows as usize);
    for batch in reader {
        let batch = batch.map_err(|e| CatalogError::parquet(path, e))?;
        let duration: Option<Float64Array> = column(&batch, columns::DURATION_SEC, &DataType::Float64);
        let width: Option<Int64Array> = column(&batch, columns::WIDTH, &DataType::Int64);
        let height: Option<Int64Array> = column(&batch, columns::HEIGHT, &DataType::Int64);
        let fps: Option<Float64Array> = column(&batch, columns::FPS, &DataType::Float64);
        let frames: Option<Int64Array> = column(&batch, columns::NUM_FRAMES, &DataType::Int64);
        let audio: Option<BooleanArray> = column(&batch, columns::HAS_AUDIO, &DataType::Boolean);
        for i in 0..batch.num_rows() {
            out.push(ClipShape {
                duration_sec: value(&duration, i, |a, i| a.value(i)).filter(|v| v.is_finite()),
                width: value(&width, i, |a, i| a.value(i)),
                height: value(&height, i, |a, i| a.value(i)),
                fps: value(&fps, i, |a, i| a.value(i)).filter(|v| v.is_finite()),
                num_frames: value(&frames, i, |a, i| a.value(i)),
                has_audio: value(&audio, i, |a, i| a.value(i)),
            });
        }
    }
    Ok(out)
}
