//! The parquet writer our miner uses: exactly the column types of protocol §6 (nullable
//! columns, snappy), with `source_proof` as a non-empty struct.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::model::ClipRecord;

/// Errors writing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The rows could not be encoded as parquet.
    #[error("cannot encode the dataset: {0}")]
    Encode(String),
}

fn proof_fields() -> Fields {
    Fields::from(vec![
        Field::new("extractor", DataType::Utf8, true),
        Field::new("source_video_id", DataType::Utf8, true),
    ])
}

/// The arrow schema of `video_v1` as written.
pub fn video_v1_schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("clip_id"),
        text("clip_uri"),
        text("clip_sha256"),
        text("first_frame_uri"),
        text("first_frame_sha256"),
        text("source_video_id"),
        text("split_group_id"),
        text("split"),
        Field::new("clip_start_sec", DataType::Float64, true),
        Field::new("duration_sec", DataType::Float64, true),
        Field::new("width", DataType::Int64, true),
        Field::new("height", DataType::Int64, true),
        Field::new("fps", DataType::Float64, true),
        Field::new("num_frames", DataType::Int64, true),
        Field::new("has_audio", DataType::Boolean, true),
        text("caption"),
        text("source_video_url"),
        Field::new("source_proof", DataType::Struct(proof_fields()), true),
    ]))
}

fn text_column<'a>(records: &'a [ClipRecord], f: impl Fn(&'a ClipRecord) -> &'a str) -> ArrayRef {
    let bytes: usize = records.iter().map(|r| f(r).len()).sum();
    let mut b = StringBuilder::with_capacity(records.len(), bytes);
    for r in records {
        b.append_value(f(r));
    }
    Arc::new(b.finish())
}

fn f64_column(records: &[ClipRecord], f: impl Fn(&ClipRecord) -> f64) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(records.len());
    records.iter().for_each(|r| b.append_value(f(r)));
    Arc::new(b.finish())
}

fn i64_column(records: &[ClipRecord], f: impl Fn(&ClipRecord) -> i64) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(records.len());
    records.iter().for_each(|r| b.append_value(f(r)));
    Arc::new(b.finish())
}

/// Builds the record batch of `records`.
pub fn to_batch(records: &[ClipRecord]) -> Result<RecordBatch, WriteError> {
    let mut audio = BooleanBuilder::with_capacity(records.len());
    records.iter().for_each(|r| audio.append_value(r.has_audio));
    let proof = StructArray::new(
        proof_fields(),
        vec![
            text_column(records, |r| &r.source_proof.extractor),
            text_column(records, |r| &r.source_proof.source_video_id),
        ],
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        text_column(records, |r| &r.clip_id),
        text_column(records, |r| &r.clip_uri),
        text_column(records, |r| &r.clip_sha256),
        text_column(records, |r| &r.first_frame_uri),
        text_column(records, |r| &r.first_frame_sha256),
        text_column(records, |r| &r.source_video_id),
        text_column(records, |r| &r.split_group_id),
        text_column(records, |r| &r.split),
        f64_column(records, |r| r.clip_start_sec),
        f64_column(records, |r| r.duration_sec),
        i64_column(records, |r| r.width),
        i64_column(records, |r| r.height),
        f64_column(records, |r| r.fps),
        i64_column(records, |r| r.num_frames),
        Arc::new(audio.finish()),
        text_column(records, |r| &r.caption),
        text_column(records, |r| &r.source_video_url),
        Arc::new(proof),
    ];
    RecordBatch::try_new(video_v1_schema(), columns).map_err(|e| WriteError::Encode(e.to_string()))
}

/// Writes `records` as `dataset.parquet` at `path`.
pub fn write_dataset(path: &Path, records: &[ClipRecord]) -> Result<(), WriteError> {
    let io = |source| WriteError::Io { path: path.display().to_string(), source };
    let file = File::create(path).map_err(io)?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let enc = |e: parquet::errors::ParquetError| WriteError::Encode(e.to_string());
    let mut writer = ArrowWriter::try_new(file, video_v1_schema(), Some(props)).map_err(enc)?;
    for chunk in records.chunks(64 * 1024) {
        writer.write(&to_batch(chunk)?).map_err(enc)?;
    }
    writer.close().map_err(enc)?;
    Ok(())
}
