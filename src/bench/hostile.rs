//! A hostile package at the size caps for the bounded-memory benchmark: every row breaks
//! several rules with values at (or just over) their length caps, long values repeat so
//! the file stays small while decoding is large, and no media exists.

use std::fs::File;
use std::path::Path;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use chrono::Utc;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{GenerateError, io_err, sha256_file};
use crate::dataset::{WriteError, to_batch, video_v1_schema};
use crate::model::{ClipRecord, IntervalManifest, SourceProof};
use crate::protocol::{DEFAULT_CATEGORY, DEFAULT_SPEC_ID, PROTOCOL_VERSION, SCHEMA_VERSION};

/// Rows per written batch: hostile rows are ~20 KB each, so batches stay small.
const CHUNK_ROWS: usize = 2048;

/// One hostile row: a unique 65-character clip id (one over its cap), a 2,049-byte
/// non-YouTube URL, a 4,097-byte caption, 64-character source ids and repeated URIs.
pub(crate) fn hostile_record(i: usize) -> ClipRecord {
    ClipRecord {
        clip_id: hostile_clip_id(i),
        clip_uri: format!("clips/{}", "c".repeat(2042)),
        clip_sha256: "a".repeat(64),
        first_frame_uri: format!("frames/{}", "f".repeat(2041)),
        first_frame_sha256: "b".repeat(64),
        source_video_id: "v".repeat(64),
        split_group_id: "g".repeat(4096),
        split: "train".into(),
        clip_start_sec: hostile_start(i),
        duration_sec: 5.0,
        width: 1280,
        height: 720,
        fps: 30.0,
        num_frames: 150,
        has_audio: false,
        caption: format!("{} https://x.example/", "word ".repeat(816)),
        source_video_url: format!("https://vimeo.com/{}", "u".repeat(2031)),
        source_proof: SourceProof { extractor: "e".repeat(4096), source_video_id: "v".repeat(64) },
    }
}

/// The clip id of hostile row `i`: unique, 65 characters (one over the cap).
fn hostile_clip_id(i: usize) -> String {
    format!("{i:0>65}")
}

/// The clip start of hostile row `i`.
fn hostile_start(i: usize) -> f64 {
    (i % 1000) as f64
}

/// The batch of hostile rows `start..end`. Only the clip id and the start differ between
/// rows, so every other column is a slice of one `template` batch built once: no 20 KB of
/// strings built and copied per row, which made 2,000,000 rows take minutes.
fn hostile_batch(template: &RecordBatch, start: usize, end: usize) -> Result<RecordBatch, WriteError> {
    let schema = template.schema();
    let position = |name: &str| schema.index_of(name).map_err(|e| WriteError::Encode(e.to_string()));
    let (id_at, start_at) = (position("clip_id")?, position("clip_start_sec")?);
    let mut columns: Vec<ArrayRef> = template.columns().iter().map(|c| c.slice(0, end - start)).collect();
    columns[id_at] = Arc::new(StringArray::from_iter_values((start..end).map(hostile_clip_id)));
    columns[start_at] = Arc::new(Float64Array::from_iter_values((start..end).map(hostile_start)));
    RecordBatch::try_new(schema, columns).map_err(|e| WriteError::Encode(e.to_string()))
}

/// Writes a hostile package of `rows` rows for `miner_hotkey` and `interval_id` into
/// `dir`; returns the dataset's size in bytes.
pub fn generate_hostile_package(
    dir: &Path,
    rows: usize,
    miner_hotkey: &str,
    interval_id: u64,
) -> Result<u64, GenerateError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join("dataset.parquet");
    let file = File::create(&path).map_err(io_err(&path))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let enc = |e: parquet::errors::ParquetError| WriteError::Encode(e.to_string());
    let mut writer = ArrowWriter::try_new(file, video_v1_schema()?, Some(props)).map_err(enc)?;
    let template: Vec<ClipRecord> = (0..CHUNK_ROWS.min(rows)).map(hostile_record).collect();
    let template = to_batch(&template)?;
    let mut start = 0;
    while start < rows {
        let end = (start + CHUNK_ROWS).min(rows);
        writer.write(&hostile_batch(&template, start, end)?).map_err(enc)?;
        start = end;
    }
    writer.close().map_err(enc)?;
    let manifest = IntervalManifest {
        protocol_version: PROTOCOL_VERSION.into(),
        schema_version: SCHEMA_VERSION.into(),
        spec_id: DEFAULT_SPEC_ID.into(),
        dataset_type: DEFAULT_SPEC_ID.into(),
        category: Some(DEFAULT_CATEGORY.into()),
        netuid: 0,
        miner_hotkey: miner_hotkey.into(),
        interval_id,
        created_at: Some(Utc::now()),
        record_count: rows as u64,
        dataset_sha256: sha256_file(&path)?,
    };
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, manifest.to_pretty_json()).map_err(io_err(&manifest_path))?;
    std::fs::metadata(&path).map(|m| m.len()).map_err(io_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_batches_hold_exactly_the_hostile_records() {
        let template = to_batch(&(0..4).map(hostile_record).collect::<Vec<_>>()).unwrap();
        let expected = to_batch(&(1998..2001).map(hostile_record).collect::<Vec<_>>()).unwrap();
        assert_eq!(hostile_batch(&template, 1998, 2001).unwrap(), expected);
    }
}
