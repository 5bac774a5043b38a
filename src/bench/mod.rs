//! Benchmark fixtures: valid interval packages of any size, generated locally. Every row
//! is unique (own source, own hashes, 20-word caption) so all rules run at full cost; only
//! the rows a validator will sample get real media (made with the system ffmpeg), the
//! others reference assets that are never fetched.

pub mod catalog;
mod hostile;
pub mod loopback;
pub mod reference;
pub mod subnet;

use std::fs::File;
use std::path::Path;

use chrono::Utc;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use crate::dataset::{WriteError, to_batch, video_v1_schema};
use crate::media::MediaError;
use crate::media::synth::{SynthClip, first_frame, synth_clip};
use crate::model::{ClipRecord, IntervalManifest, SourceProof, declared_num_frames, deterministic_clip_id};
use crate::protocol::{DEFAULT_CATEGORY, DEFAULT_SPEC_ID, HotkeyAddr, PROTOCOL_VERSION, SCHEMA_VERSION};
use crate::storage::{clip_uri, frame_uri};
use crate::validator::{interval_seed, select_row_indices};

pub use hostile::generate_hostile_package;

/// Rows per record batch written, bounding the generator's memory.
const CHUNK_ROWS: usize = 64 * 1024;
const FPS: u32 = 30;

/// Who the generated package is for.
#[derive(Debug, Clone)]
pub struct PackageSpec {
    /// Dataset rows to generate.
    pub rows: usize,
    /// SS58 hotkey of the miner the package claims to be from.
    pub miner_hotkey: String,
    /// Validator hotkey whose sample seed picks the sampled rows (`None`: sample nothing).
    pub validator_hotkey: Option<String>,
    /// Interval id written to the manifest and used for sampling.
    pub interval_id: u64,
    /// Most rows the validator samples (`NEXIS_VALIDATOR_ROW_SAMPLE_MAX`).
    pub row_sample_max: usize,
    /// Added to every row's source number, so packages with different offsets share no
    /// source (and never overlap each other).
    pub source_offset: usize,
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct GeneratedPackage {
    /// Row indices the validator will sample; only these get real media files.
    pub sampled_rows: Vec<usize>,
    /// Size of the written dataset Parquet file, bytes.
    pub dataset_bytes: u64,
}

/// Why a package could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A file of the package could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file that could not be written.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The dataset Parquet could not be encoded.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A synthetic clip or frame could not be made.
    #[error(transparent)]
    Media(#[from] MediaError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io { path: path.display().to_string(), source }
}

fn sha256_file(path: &Path) -> Result<String, GenerateError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// A fake but well-formed 11-character YouTube id for row `i`.
fn video_id(i: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut n = i as u64;
    (0..11)
        .map(|_| {
            let c = ALPHABET[(n % 64) as usize] as char;
            n /= 64;
            c
        })
        .collect()
}

fn placeholder_hash(kind: &str, i: usize) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{i}").as_bytes()))
}

/// Row `i` of a generated package, with placeholder asset hashes; `source_offset` shifts
/// the source numbering.
pub(crate) fn synthetic_record(i: usize, interval_id: u64, source_offset: usize) -> ClipRecord {
    let source = video_id(i + source_offset);
    let start = ((i % 900) * 5) as f64;
    let clip_id = deterministic_clip_id(&source, start, 5.0);
    ClipRecord {
        clip_uri: clip_uri(&clip_id),
        first_frame_uri: frame_uri(&clip_id),
        clip_sha256: placeholder_hash("clip", i),
        first_frame_sha256: placeholder_hash("frame", i),
        split_group_id: format!("{source}:{interval_id}"),
        split: "train".into(),
        clip_start_sec: start,
        duration_sec: 5.0,
        width: 1280,
        height: 720,
        fps: f64::from(FPS),
        num_frames: declared_num_frames(f64::from(FPS)),
        has_audio: true,
        caption: format!(
            "A slow aerial view number {i} glides over a quiet green valley with a winding river, \
             scattered pine trees and soft morning mist drifting across distant hills"
        ),
        source_video_url: format!("https://www.youtube.com/watch?v={source}"),
        source_proof: SourceProof { extractor: "youtube".into(), source_video_id: source.clone() },
        source_video_id: source,
        clip_id,
    }
}

/// Writes a valid package for `spec` into `dir` (the content of `{interval}/`).
pub async fn generate_package(dir: &Path, spec: &PackageSpec) -> Result<GeneratedPackage, GenerateError> {
    std::fs::create_dir_all(dir.join("clips")).map_err(io_err(dir))?;
    std::fs::create_dir_all(dir.join("frames")).map_err(io_err(dir))?;
    let seed = interval_seed(spec.interval_id);
    let miner = HotkeyAddr::new(spec.miner_hotkey.as_str());
    let validator = spec.validator_hotkey.as_deref().map(HotkeyAddr::new);
    let sampled = select_row_indices(spec.rows, &miner, validator.as_ref(), &seed, spec.row_sample_max);
    // Real media for the sampled rows only; their hashes go into the dataset.
    let mut real = Vec::with_capacity(sampled.len());
    for (n, &row) in sampled.iter().enumerate() {
        let mut record = synthetic_record(row, spec.interval_id, spec.source_offset);
        let clip = dir.join(&record.clip_uri);
        let frame = dir.join(&record.first_frame_uri);
        synth_clip(&clip, &SynthClip { fps: FPS, seed: n as u32, ..SynthClip::default() }).await?;
        first_frame(&clip, &frame).await?;
        record.clip_sha256 = sha256_file(&clip)?;
        record.first_frame_sha256 = sha256_file(&frame)?;
        real.push((row, record));
    }

    let path = dir.join("dataset.parquet");
    write_rows(&path, spec, &real)?;
    let dataset_bytes = std::fs::metadata(&path).map_err(io_err(&path))?.len();
    write_manifest(dir, spec, &path)?;
    Ok(GeneratedPackage { sampled_rows: sampled, dataset_bytes })
}

/// Writes the manifest of `spec`'s package in `dir`, with the hash of `dataset`.
fn write_manifest(dir: &Path, spec: &PackageSpec, dataset: &Path) -> Result<(), GenerateError> {
    let manifest = IntervalManifest {
        protocol_version: PROTOCOL_VERSION.into(),
        schema_version: SCHEMA_VERSION.into(),
        spec_id: DEFAULT_SPEC_ID.into(),
        dataset_type: DEFAULT_SPEC_ID.into(),
        category: Some(DEFAULT_CATEGORY.into()),
        netuid: 0,
        miner_hotkey: spec.miner_hotkey.clone(),
        interval_id: spec.interval_id,
        created_at: Some(Utc::now()),
        record_count: spec.rows as u64,
        dataset_sha256: sha256_file(dataset)?,
    };
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, manifest.to_pretty_json()).map_err(io_err(&manifest_path))
}

fn write_rows(path: &Path, spec: &PackageSpec, real: &[(usize, ClipRecord)]) -> Result<(), GenerateError> {
    let file = File::create(path).map_err(io_err(path))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let enc = |e: parquet::errors::ParquetError| WriteError::Encode(e.to_string());
    let mut writer = ArrowWriter::try_new(file, video_v1_schema()?, Some(props)).map_err(enc)?;
    let mut start = 0;
    while start < spec.rows {
        let end = (start + CHUNK_ROWS).min(spec.rows);
        let chunk: Vec<ClipRecord> = (start..end)
            .map(|i| match real.iter().find(|(row, _)| *row == i) {
                Some((_, r)) => r.clone(),
                None => synthetic_record(i, spec.interval_id, spec.source_offset),
            })
            .collect();
        writer.write(&to_batch(&chunk)?).map_err(enc)?;
        start = end;
    }
    writer.close().map_err(enc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unique_and_spaced() {
        let a = synthetic_record(0, 7, 0);
        let b = synthetic_record(64, 7, 0);
        assert_ne!(a.source_video_id, synthetic_record(0, 7, 1).source_video_id);
        assert_ne!(a.source_video_id, b.source_video_id);
        assert_ne!(a.clip_id, b.clip_id);
        assert_eq!(a.source_video_id.len(), 11);
        assert!(a.caption.split_whitespace().count() >= 20);
    }
}
