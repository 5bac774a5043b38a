//! Owner bundles (protocol §13), the format the owner validator publishes and the sync
//! worker and the catalog read: the parquet side (writing an accepted package's post-prune
//! rows as a new `dataset.parquet` — the miner's own types and values of the spec's columns
//! only, only the kept rows, snappy, under the decode cap — and reading a bundle's rows
//! back), and in [`keys`] every record-info and owner-bucket key.

pub(crate) mod keys;

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::dataset::{ReadLimits, video_v1_schema, write_dataset};
use crate::spec::video_v1::columns;

/// Rows decoded per batch (kept rows hold values within the text caps, so a batch stays
/// within a few megabytes).
const BATCH_ROWS: usize = 1024;

/// Bundle parquet failures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BundleError {
    #[error("cannot open {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bundle dataset {path}: {message}")]
    Parquet { path: String, message: String },
    #[error(
        "bundle dataset declares {rows} rows, more than the cap of {cap}; raise NEXIS_VALIDATOR_MAX_DATASET_ROWS if \
         this is expected"
    )]
    TooManyRows { rows: u64, cap: u64 },
    #[error("kept row {row} is outside the dataset's {rows} rows")]
    RowOutOfRange { row: u32, rows: u64 },
    #[error("bundle dataset decodes to more than the cap of {cap} bytes")]
    TooLarge { cap: u64 },
    #[error("bundle dataset declares {declared} uncompressed bytes, more than the decode cap of {cap}")]
    DeclaredTooLarge { declared: u64, cap: u64 },
}

/// One bundle row as the sync worker needs it (strings trimmed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BundleRow {
    pub(crate) clip_id: String,
    pub(crate) clip_uri: String,
    pub(crate) clip_sha256: String,
    pub(crate) first_frame_uri: String,
    pub(crate) first_frame_sha256: String,
    pub(crate) source_video_id: String,
    pub(crate) source_video_url: String,
    pub(crate) clip_start_sec: f64,
    pub(crate) caption: String,
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> BundleError {
    BundleError::Parquet { path: path.display().to_string(), message: e.to_string() }
}

fn open(path: &Path) -> Result<File, BundleError> {
    File::open(path).map_err(|source| BundleError::Io { path: path.display().to_string(), source })
}

/// Writes the rows `kept` (ascending, distinct row numbers) of the dataset at `src` to
/// `dest`, keeping the file's types for the spec's columns and dropping any other column;
/// returns the number of rows written. With no kept row the bundle is an empty `video_v1`
/// dataset. Decoding stops at the default decode cap.
pub(crate) fn write_kept_rows(src: &Path, kept: &[u32], dest: &Path) -> Result<u64, BundleError> {
    write_kept_rows_capped(src, kept, dest, ReadLimits::default().max_decoded_bytes)
}

/// [`write_kept_rows`] with an explicit cap on the bytes decoded (counted as produced).
pub(crate) fn write_kept_rows_capped(
    src: &Path,
    kept: &[u32],
    dest: &Path,
    max_decoded: u64,
) -> Result<u64, BundleError> {
    if kept.is_empty() {
        write_dataset(dest, &[]).map_err(|e| parquet_err(dest, e))?;
        return Ok(0);
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(src)?).map_err(|e| parquet_err(src, e))?;
    let total = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let mut selectors = Vec::with_capacity(kept.len() * 2 + 1);
    let mut next = 0u64;
    for (i, &row) in kept.iter().enumerate() {
        let row64 = u64::from(row);
        if row64 >= total || (i > 0 && row <= kept[i - 1]) {
            return Err(BundleError::RowOutOfRange { row, rows: total });
        }
        if row64 > next {
            selectors.push(RowSelector::skip((row64 - next) as usize));
        }
        selectors.push(RowSelector::select(1));
        next = row64 + 1;
    }
    if total > next {
        selectors.push(RowSelector::skip((total - next) as usize));
    }
    let spec_schema = video_v1_schema().map_err(|e| parquet_err(dest, e))?;
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| spec_schema.field_with_name(f.name()).is_ok())
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_row_selection(RowSelection::from(selectors))
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| parquet_err(src, e))?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let out = File::create(dest).map_err(|source| BundleError::Io { path: dest.display().to_string(), source })?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| parquet_err(dest, e))?;
    let (mut written, mut decoded) = (0u64, 0u64);
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(src, e))?;
        decoded = decoded.saturating_add(batch.get_array_memory_size() as u64);
        if decoded > max_decoded {
            return Err(BundleError::TooLarge { cap: max_decoded });
        }
        written += batch.num_rows() as u64;
        writer.write(&batch).map_err(|e| parquet_err(dest, e))?;
    }
    writer.close().map_err(|e| parquet_err(dest, e))?;
    if written != kept.len() as u64 {
        return Err(parquet_err(src, format!("wrote {written} rows, expected {}", kept.len())));
    }
    Ok(written)
}

fn text_column(path: &Path, batch: &RecordBatch, name: &str) -> Result<StringArray, BundleError> {
    let column: &ArrayRef =
        batch.column_by_name(name).ok_or_else(|| parquet_err(path, format!("missing column `{name}`")))?;
    let cast = arrow_cast::cast(column, &DataType::Utf8).map_err(|e| parquet_err(path, format!("{name}: {e}")))?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| parquet_err(path, format!("column `{name}` is not text")))
}

/// Default decode budget of one bundle: the declared uncompressed size of its columns and
/// the decoded values held while reading it.
pub(crate) const BUNDLE_DECODE_BUDGET: u64 = 256 << 20;

/// Decoded bytes one batch may hold at most (the batch size follows from it).
const BATCH_BUDGET: u64 = 16 << 20;

/// The text columns a bundle row is read from.
const TEXT: [&str; 8] = [
    columns::CLIP_ID,
    columns::CLIP_URI,
    columns::CLIP_SHA256,
    columns::FIRST_FRAME_URI,
    columns::FIRST_FRAME_SHA256,
    columns::SOURCE_VIDEO_ID,
    columns::SOURCE_VIDEO_URL,
    columns::CAPTION,
];

/// What decoding a bundle takes, known from its footer alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BundlePlan {
    /// Rows the footer declares.
    pub(crate) rows: u64,
    /// Rows per decoded batch, so that one batch stays within a few megabytes even when
    /// every value is as large as its column chunk allows (dictionary pages included).
    pub(crate) batch_rows: usize,
}

/// Checks the footer of the bundle at `path` before any page is decoded: at most
/// `max_rows` rows, and the declared uncompressed size of all its columns within
/// `max_decoded` bytes. A bundle that fails is over budget for good (the same bytes fail
/// the same way), so callers give it up at once.
pub(crate) fn plan_bundle(path: &Path, max_rows: u64, max_decoded: u64) -> Result<BundlePlan, BundleError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(path)?).map_err(|e| parquet_err(path, e))?;
    let meta = builder.metadata();
    let rows = meta.file_metadata().num_rows().max(0) as u64;
    if rows > max_rows {
        return Err(BundleError::TooManyRows { rows, cap: max_rows });
    }
    let columns = meta.file_metadata().schema_descr().num_columns();
    let (mut declared, mut widest) = (0u64, vec![0u64; columns]);
    for group in meta.row_groups() {
        for (leaf, chunk) in group.columns().iter().enumerate() {
            let size = chunk.uncompressed_size().max(0) as u64;
            declared = declared.saturating_add(size);
            if let Some(w) = widest.get_mut(leaf) {
                *w = (*w).max(size);
            }
        }
    }
    if declared > max_decoded {
        return Err(BundleError::DeclaredTooLarge { declared, cap: max_decoded });
    }
    let row_bound: u64 = widest.iter().sum::<u64>().max(1);
    let batch_rows = (BATCH_BUDGET / row_bound).clamp(1, BATCH_ROWS as u64) as usize;
    Ok(BundlePlan { rows, batch_rows })
}

/// Reads every row of a bundle dataset under its [`plan_bundle`] checks, stopping once
/// the decoded values pass `max_decoded` bytes. Text columns may use any string encoding;
/// the start any numeric type.
pub(crate) fn read_bundle_rows(path: &Path, max_rows: u64, max_decoded: u64) -> Result<Vec<BundleRow>, BundleError> {
    let plan = plan_bundle(path, max_rows, max_decoded)?;
    if plan.rows == 0 {
        return Ok(Vec::new());
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(path)?).map_err(|e| parquet_err(path, e))?;
    let schema = builder.parquet_schema();
    let wanted: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| {
            let name = schema.column(i).path().string();
            TEXT.contains(&name.as_str()) || name == columns::CLIP_START_SEC
        })
        .collect();
    let mask = ProjectionMask::leaves(schema, wanted);
    let reader =
        builder.with_projection(mask).with_batch_size(plan.batch_rows).build().map_err(|e| parquet_err(path, e))?;
    let mut out = Vec::with_capacity(plan.rows.min(BATCH_ROWS as u64 * 64) as usize);
    let mut decoded = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(path, e))?;
        decoded = decoded.saturating_add(batch.get_array_memory_size() as u64);
        if decoded > max_decoded {
            return Err(BundleError::TooLarge { cap: max_decoded });
        }
        let text: Vec<StringArray> =
            TEXT.iter().map(|name| text_column(path, &batch, name)).collect::<Result<_, _>>()?;
        let start = columns::CLIP_START_SEC;
        let start =
            batch.column_by_name(start).ok_or_else(|| parquet_err(path, format!("missing column `{start}`")))?;
        let start = arrow_cast::cast(start, &DataType::Float64).map_err(|e| parquet_err(path, e))?;
        let start = start
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| parquet_err(path, format!("{} is not numeric", columns::CLIP_START_SEC)))?;
        for i in 0..batch.num_rows() {
            let t = |k: usize| if text[k].is_null(i) { String::new() } else { text[k].value(i).trim().to_string() };
            out.push(BundleRow {
                clip_id: t(0),
                clip_uri: t(1),
                clip_sha256: t(2),
                first_frame_uri: t(3),
                first_frame_sha256: t(4),
                source_video_id: t(5),
                source_video_url: t(6),
                clip_start_sec: if start.is_null(i) { f64::NAN } else { start.value(i) },
                caption: t(7),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClipRecord, SourceProof};

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
            clip_start_sec: i as f64 * 5.0,
            duration_sec: 5.0,
            width: 1280,
            height: 720,
            fps: 30.0,
            num_frames: 150,
            has_audio: false,
            caption: format!(" caption {i} "),
            source_video_url: format!("https://www.youtube.com/watch?v=v{i}"),
            source_proof: SourceProof { extractor: "youtube".into(), source_video_id: format!("v{i}") },
        }
    }

    #[test]
    fn kept_rows_round_trip_and_bad_selections_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src.parquet");
        let records: Vec<ClipRecord> = (0..5).map(record).collect();
        write_dataset(&src, &records).expect("write");
        let dest = dir.path().join("kept.parquet");
        assert_eq!(write_kept_rows(&src, &[0, 3, 4], &dest).expect("kept"), 3);
        let rows = read_bundle_rows(&dest, 10, BUNDLE_DECODE_BUDGET).expect("read");
        assert_eq!(rows.iter().map(|r| r.clip_id.as_str()).collect::<Vec<_>>(), ["clip0", "clip3", "clip4"]);
        assert_eq!((rows[1].clip_start_sec, rows[1].caption.as_str()), (15.0, "caption 3"));
        assert!(matches!(
            read_bundle_rows(&dest, 2, BUNDLE_DECODE_BUDGET),
            Err(BundleError::TooManyRows { rows: 3, cap: 2 })
        ));
        assert!(matches!(write_kept_rows(&src, &[5], &dest), Err(BundleError::RowOutOfRange { row: 5, .. })));
        assert!(matches!(write_kept_rows(&src, &[2, 1], &dest), Err(BundleError::RowOutOfRange { row: 1, .. })));
        assert!(matches!(write_kept_rows(&src, &[2, 2], &dest), Err(BundleError::RowOutOfRange { row: 2, .. })));
        assert_eq!(write_kept_rows(&src, &[], &dest).expect("empty"), 0);
        assert!(read_bundle_rows(&dest, 10, BUNDLE_DECODE_BUDGET).expect("read").is_empty());
    }

    #[test]
    fn bundles_keep_only_the_spec_columns_under_the_decode_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src.parquet");
        let records: Vec<ClipRecord> = (0..4).map(record).collect();
        let batch = crate::dataset::to_batch(&records).expect("batch");
        let mut fields: Vec<arrow_schema::Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut columns = batch.columns().to_vec();
        fields.push(arrow_schema::Field::new("payload", DataType::Utf8, true));
        columns.push(std::sync::Arc::new(StringArray::from(vec!["x".repeat(100_000); 4])));
        let batch =
            RecordBatch::try_new(std::sync::Arc::new(arrow_schema::Schema::new(fields)), columns).expect("batch");
        let mut w = ArrowWriter::try_new(File::create(&src).expect("create"), batch.schema(), None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        let dest = dir.path().join("kept.parquet");
        assert_eq!(write_kept_rows(&src, &[1, 2], &dest).expect("kept"), 2);
        let kept = ParquetRecordBatchReaderBuilder::try_new(open(&dest).expect("open")).expect("parquet");
        let names: Vec<String> = kept.schema().fields().iter().map(|f| f.name().clone()).collect();
        let spec: Vec<String> = video_v1_schema().unwrap().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, spec);
        assert!(matches!(write_kept_rows_capped(&src, &[1, 2], &dest, 100), Err(BundleError::TooLarge { cap: 100 })));
    }
}
