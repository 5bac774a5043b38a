//! How the demo's dishonest miners cheat, each starting from what a real miner produces:
//!
//! - the resolution liar takes its own finished package, re-encodes every clip to a
//!   smaller size, updates the clip hashes in `dataset.parquet` and the dataset hash in
//!   the manifest (so every integrity check passes) but leaves the declared 1280x720, then
//!   uploads in the protocol's order;
//! - the copier takes another miner's published package from that miner's bucket and
//!   publishes it, later, as its own (only the manifest's hotkey and time change);
//! - the fabricator mines by the rules from its own `raw/` videos — real 1280x720 clips,
//!   correct hashes — but the YouTube ids it claims are other videos: what "YouTube"
//!   serves under those ids ([`serve_sources`]) is unrelated footage;
//! - the re-uploader mines by the rules from a re-encoded copy of another miner's videos
//!   ([`reencode_source`]) saved under its own video ids, after that miner: its clips,
//!   clip ids, hashes and claimed sources are its own, only the footage is not.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use chrono::Utc;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::DemoError;
use crate::media::ffmpeg::run_ffmpeg;
use crate::miner::package::{UploadPolicy, upload_package};
use crate::model::IntervalManifest;
use crate::storage::{ObjectStore, dataset_key, manifest_key};

/// Fills `youtube` (the validator's source mirror, `{video_id}.mp4`) with the videos
/// behind the ids of the sources in `raw`: the same files for an honest miner (hard
/// links, or copies), and for the fabricator (`fake`) an unrelated moving video (a
/// Mandelbrot zoom) of the same length under each id it claims.
pub(crate) async fn serve_sources(
    raw: &Path,
    youtube: &Path,
    fake: bool,
    seconds: f64,
    fps: u32,
) -> Result<usize, DemoError> {
    std::fs::create_dir_all(youtube).map_err(io(youtube))?;
    let mut served = 0;
    let Ok(entries) = std::fs::read_dir(raw) else { return Ok(0) };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "mp4") {
            continue;
        }
        let dest = youtube.join(entry.file_name());
        if fake {
            let args: Vec<String> = vec![
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("mandelbrot=size=640x360:rate={fps}"),
                "-t".into(),
                format!("{seconds:.3}"),
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                "ultrafast".into(),
                "-pix_fmt".into(),
                "yuv420p".into(),
                dest.display().to_string(),
            ];
            run_ffmpeg(&args, Duration::from_secs(120)).await?;
        } else if std::fs::hard_link(&path, &dest).is_err() {
            std::fs::copy(&path, &dest).map_err(io(&dest))?;
        }
        served += 1;
    }
    Ok(served)
}

/// Draws a demo source video at `path`: rule 30 (a chaotic cellular automaton) from a
/// random row seeded by `seed`, 64x36 cells scrolling one row a frame, scaled to 640x360.
/// Every seed gives another picture and every few seconds a new one, so no two sources,
/// nor two segments of one source, share a first-frame fingerprint (a test pattern
/// recoloured per seed would: its grey structure is the same).
pub(crate) async fn draw_source(path: &Path, seed: u32, seconds: f64, fps: u32) -> Result<(), DemoError> {
    let args: Vec<String> = vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("cellauto=size=64x36:rate={fps}:rule=30:random_seed={seed}:full=1"),
        "-t".into(),
        format!("{seconds:.3}"),
        "-vf".into(),
        "scale=640:360:flags=neighbor,format=yuv420p".into(),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "ultrafast".into(),
        "-movflags".into(),
        "+faststart".into(),
        path.display().to_string(),
    ];
    run_ffmpeg(&args, Duration::from_secs(120)).await?;
    Ok(())
}

/// Re-encodes the video `from` to `to` as a re-upload would: another encoder quality
/// (CRF 30) and a slight rescale and back, same length and frame rate.
pub(crate) async fn reencode_source(from: &Path, to: &Path) -> Result<(), DemoError> {
    let args: Vec<String> = vec![
        "-i".into(),
        from.display().to_string(),
        "-vf".into(),
        "scale=600:338,scale=640:360,format=yuv420p".into(),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "veryfast".into(),
        "-crf".into(),
        "30".into(),
        "-movflags".into(),
        "+faststart".into(),
        to.display().to_string(),
    ];
    run_ffmpeg(&args, Duration::from_secs(120)).await?;
    Ok(())
}

/// Largest object the copier reads from another bucket.
const MAX_OBJECT_BYTES: u64 = 64 << 20;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |e| DemoError::Io { path: path.display().to_string(), message: e.to_string() }
}

fn sha256_file(path: &Path) -> Result<String, DemoError> {
    Ok(hex::encode(Sha256::digest(std::fs::read(path).map_err(io(path))?)))
}

/// What the resolution liar did to one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shrunk {
    pub(crate) clips: usize,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// Re-encodes every clip of the package in `dir` (a finished `{interval}/` package:
/// clips, frames, dataset, manifest) to `width`x`height`, then makes the dataset's clip
/// hashes and the manifest's dataset hash match the new bytes. Declared sizes stay.
pub(crate) async fn shrink_clips(dir: &Path, width: u32, height: u32, timeout: Duration) -> Result<Shrunk, DemoError> {
    let clips_dir = dir.join("clips");
    let mut clips: Vec<PathBuf> = match std::fs::read_dir(&clips_dir) {
        Ok(entries) => {
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "mp4")).collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&clips_dir)(e)),
    };
    clips.sort();
    let mut hashes = HashMap::new();
    for clip in &clips {
        let smaller = clip.with_extension("small.mp4");
        let args: Vec<String> = vec![
            "-i".into(),
            clip.display().to_string(),
            "-map".into(),
            "0".into(),
            "-vf".into(),
            format!("scale={width}:{height},setsar=1"),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-threads".into(),
            "1".into(),
            "-c:a".into(),
            "copy".into(),
            "-movflags".into(),
            "+faststart".into(),
            smaller.display().to_string(),
        ];
        run_ffmpeg(&args, timeout).await?;
        std::fs::rename(&smaller, clip).map_err(io(clip))?;
        let clip_id = clip.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        hashes.insert(clip_id, sha256_file(clip)?);
    }
    let dataset = dir.join("dataset.parquet");
    rewrite_clip_hashes(&dataset, &hashes)?;
    let manifest_path = dir.join("manifest.json");
    let mut manifest = IntervalManifest::parse(&std::fs::read(&manifest_path).map_err(io(&manifest_path))?)
        .map_err(|e| DemoError::Cheat(format!("the liar's own manifest does not parse: {e}")))?;
    manifest.dataset_sha256 = sha256_file(&dataset)?;
    std::fs::write(&manifest_path, manifest.to_pretty_json()).map_err(io(&manifest_path))?;
    Ok(Shrunk { clips: clips.len(), width, height })
}

/// Replaces the `clip_sha256` of every row whose `clip_id` is in `hashes`, keeping the
/// file's schema and every other value.
fn rewrite_clip_hashes(dataset: &Path, hashes: &HashMap<String, String>) -> Result<(), DemoError> {
    let bad = |e: &dyn std::fmt::Display| DemoError::Cheat(format!("rewriting {}: {e}", dataset.display()));
    let file = File::open(dataset).map_err(io(dataset))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(&e))?;
    let schema = reader.schema().clone();
    let id_col = schema.index_of("clip_id").map_err(|e| bad(&e))?;
    let hash_col = schema.index_of("clip_sha256").map_err(|e| bad(&e))?;
    let mut batches = Vec::new();
    for batch in reader.build().map_err(|e| bad(&e))? {
        let batch = batch.map_err(|e| bad(&e))?;
        let text = |i: usize| {
            batch.column(i).as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| bad(&"not a text column"))
        };
        let (ids, old) = (text(id_col)?, text(hash_col)?);
        let new: StringArray = (0..batch.num_rows())
            .map(|row| {
                if ids.is_null(row) {
                    return old.is_valid(row).then(|| old.value(row).to_string());
                }
                hashes
                    .get(ids.value(row).trim())
                    .cloned()
                    .or_else(|| old.is_valid(row).then(|| old.value(row).to_string()))
            })
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[hash_col] = Arc::new(new);
        batches.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| bad(&e))?);
    }
    let tmp = dataset.with_extension("rewritten.parquet");
    let out = File::create(&tmp).map_err(io(&tmp))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| bad(&e))?;
    for batch in &batches {
        writer.write(batch).map_err(|e| bad(&e))?;
    }
    writer.close().map_err(|e| bad(&e))?;
    std::fs::rename(&tmp, dataset).map_err(io(dataset))
}

/// Uploads the (doctored) package in `dir` in the protocol's order: assets, dataset,
/// manifest last.
pub(crate) async fn publish(store: &dyn ObjectStore, dir: &Path, interval_id: u64) -> Result<usize, DemoError> {
    let policy = UploadPolicy { attempts: 2, backoff: Duration::from_millis(50), concurrency: 4 };
    Ok(upload_package(store, dir, interval_id, policy, &indicatif::ProgressBar::hidden()).await?)
}

/// Copies `victim`'s published package of `interval_id` into `thief`'s bucket as
/// `thief_hotkey`'s own: the same clips, frames and dataset, a manifest with the thief's
/// hotkey and a fresh `created_at`, uploaded last. Returns the rows copied, or `None`
/// when the victim published nothing to copy.
pub(crate) async fn copy_package(
    victim: &dyn ObjectStore,
    thief: &dyn ObjectStore,
    interval_id: u64,
    thief_hotkey: &str,
) -> Result<Option<u64>, DemoError> {
    let manifest_key = manifest_key(interval_id);
    let dataset_key = dataset_key(interval_id);
    if victim.head(&manifest_key).await?.is_none() {
        return Ok(None);
    }
    let bytes = victim.get_bytes(&manifest_key, MAX_OBJECT_BYTES).await?;
    let mut manifest = IntervalManifest::parse(&bytes)
        .map_err(|e| DemoError::Cheat(format!("the copied manifest does not parse: {e}")))?;
    let objects = victim.list(&format!("{interval_id}/")).await?;
    for object in objects.iter().filter(|o| o.key != manifest_key && o.key != dataset_key) {
        let bytes = victim.get_bytes(&object.key, MAX_OBJECT_BYTES).await?;
        thief.put_bytes(&object.key, &bytes).await?;
    }
    let dataset = victim.get_bytes(&dataset_key, MAX_OBJECT_BYTES).await?;
    thief.put_bytes(&dataset_key, &dataset).await?;
    manifest.miner_hotkey = thief_hotkey.to_string();
    manifest.created_at = Some(Utc::now());
    thief.put_bytes(&manifest_key, manifest.to_pretty_json().as_bytes()).await?;
    Ok(Some(manifest.record_count))
}
