//! The parquet writer our miner uses: exactly the column types of protocol §6 (nullable
//! columns, snappy), with `source_proof` as a non-empty struct. The arrow schema is
//! derived from the spec definition (`specs/video_v1.json`), one type per column kind.

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
use crate::spec::video_v1::columns;
use crate::spec::{ColumnKind, DatasetSpec, SpecDefinition, VideoV1};

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

/// The fields of the struct column (the source proof), which the definition types only
/// as `struct`.
fn proof_fields() -> Fields {
    Fields::from(vec![
        Field::new("extractor", DataType::Utf8, true),
        Field::new(columns::SOURCE_VIDEO_ID, DataType::Utf8, true),
    ])
}

/// The arrow type a column of `kind` is written as.
fn written_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Text => DataType::Utf8,
        ColumnKind::Integer => DataType::Int64,
        ColumnKind::Float => DataType::Float64,
        ColumnKind::Boolean => DataType::Boolean,
        ColumnKind::Struct => DataType::Struct(proof_fields()),
    }
}

/// The arrow schema `definition` is written as: its columns in order, all nullable.
pub(crate) fn schema_of(definition: &SpecDefinition) -> SchemaRef {
    let fields: Vec<Field> =
        definition.columns.iter().map(|c| Field::new(&c.name, written_type(c.kind), true)).collect();
    Arc::new(Schema::new(fields))
}

/// The arrow schema of `video_v1` as written, derived from its definition.
pub fn video_v1_schema() -> Result<SchemaRef, WriteError> {
    let spec = VideoV1::new().map_err(|e| WriteError::Encode(e.to_string()))?;
    Ok(schema_of(spec.definition()))
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

fn proof_column(records: &[ClipRecord]) -> ArrayRef {
    Arc::new(StructArray::new(
        proof_fields(),
        vec![
            text_column(records, |r| &r.source_proof.extractor),
            text_column(records, |r| &r.source_proof.source_video_id),
        ],
        None,
    ))
}

/// The values of the column called `name`, one per record.
fn column(records: &[ClipRecord], name: &str) -> Result<ArrayRef, WriteError> {
    Ok(match name {
        columns::CLIP_ID => text_column(records, |r| &r.clip_id),
        columns::CLIP_URI => text_column(records, |r| &r.clip_uri),
        columns::CLIP_SHA256 => text_column(records, |r| &r.clip_sha256),
        columns::FIRST_FRAME_URI => text_column(records, |r| &r.first_frame_uri),
        columns::FIRST_FRAME_SHA256 => text_column(records, |r| &r.first_frame_sha256),
        columns::SOURCE_VIDEO_ID => text_column(records, |r| &r.source_video_id),
        columns::SPLIT_GROUP_ID => text_column(records, |r| &r.split_group_id),
        columns::SPLIT => text_column(records, |r| &r.split),
        columns::CLIP_START_SEC => f64_column(records, |r| r.clip_start_sec),
        columns::DURATION_SEC => f64_column(records, |r| r.duration_sec),
        columns::WIDTH => i64_column(records, |r| r.width),
        columns::HEIGHT => i64_column(records, |r| r.height),
        columns::FPS => f64_column(records, |r| r.fps),
        columns::NUM_FRAMES => i64_column(records, |r| r.num_frames),
        columns::HAS_AUDIO => {
            let mut audio = BooleanBuilder::with_capacity(records.len());
            records.iter().for_each(|r| audio.append_value(r.has_audio));
            Arc::new(audio.finish())
        }
        columns::CAPTION => text_column(records, |r| &r.caption),
        columns::SOURCE_VIDEO_URL => text_column(records, |r| &r.source_video_url),
        columns::SOURCE_PROOF => proof_column(records),
        other => return Err(WriteError::Encode(format!("a clip record has no column `{other}`"))),
    })
}

/// Builds the record batch of `records`, one column per field of the written schema.
pub fn to_batch(records: &[ClipRecord]) -> Result<RecordBatch, WriteError> {
    let schema = video_v1_schema()?;
    let columns: Vec<ArrayRef> = schema.fields().iter().map(|f| column(records, f.name())).collect::<Result<_, _>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| WriteError::Encode(e.to_string()))
}

/// Writes `records` as `dataset.parquet` at `path`.
pub fn write_dataset(path: &Path, records: &[ClipRecord]) -> Result<(), WriteError> {
    let io = |source| WriteError::Io { path: path.display().to_string(), source };
    let file = File::create(path).map_err(io)?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let enc = |e: parquet::errors::ParquetError| WriteError::Encode(e.to_string());
    let mut writer = ArrowWriter::try_new(file, video_v1_schema()?, Some(props)).map_err(enc)?;
    for chunk in records.chunks(64 * 1024) {
        writer.write(&to_batch(chunk)?).map_err(enc)?;
    }
    writer.close().map_err(enc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema as protocol §6 lists it, spelled out: the derived schema must equal it,
    /// so the written bytes stay those of the golden and compat vectors.
    fn protocol_schema() -> Schema {
        let text = |n: &str| Field::new(n, DataType::Utf8, true);
        let proof = Fields::from(vec![
            Field::new("extractor", DataType::Utf8, true),
            Field::new("source_video_id", DataType::Utf8, true),
        ]);
        Schema::new(vec![
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
            Field::new("source_proof", DataType::Struct(proof), true),
        ])
    }

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
            clip_start_sec: i as f64 * 5.5,
            duration_sec: 5.0,
            width: 1280,
            height: 720,
            fps: 29.97,
            num_frames: 150 + i as i64,
            has_audio: i.is_multiple_of(2),
            caption: format!("caption number {i}"),
            source_video_url: format!("https://www.youtube.com/watch?v=v{i}"),
            source_proof: crate::model::SourceProof { extractor: "youtube".into(), source_video_id: format!("v{i}") },
        }
    }

    /// The batch as the writer built it before the schema was derived: the protocol
    /// schema spelled out, the columns in its order.
    fn positional_batch(records: &[ClipRecord]) -> RecordBatch {
        let mut audio = BooleanBuilder::with_capacity(records.len());
        records.iter().for_each(|r| audio.append_value(r.has_audio));
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
            proof_column(records),
        ];
        RecordBatch::try_new(Arc::new(protocol_schema()), columns).unwrap()
    }

    #[test]
    fn written_bytes_are_those_of_the_spelled_out_schema() {
        let records: Vec<ClipRecord> = (0..5).map(record).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dataset.parquet");
        write_dataset(&path, &records).unwrap();
        let mut expected = Vec::new();
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut writer = ArrowWriter::try_new(&mut expected, Arc::new(protocol_schema()), Some(props)).unwrap();
        writer.write(&positional_batch(&records)).unwrap();
        writer.close().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn the_written_schema_is_the_spec_definitions() {
        assert_eq!(*video_v1_schema().unwrap(), protocol_schema());
        assert_eq!(to_batch(&[]).unwrap().schema(), video_v1_schema().unwrap());
    }
}
