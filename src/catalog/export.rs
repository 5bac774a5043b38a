//! `nexis dataset export --format webdataset`: the selected catalog rows as tar shards
//! `shard-000000.tar`, … of at most `shard_bytes` each (a sample larger than that gets a
//! shard to itself; samples are never split). Each sample is `{id}.mp4`, `{id}.jpg` and
//! `{id}.json` (the catalog row), stored in key order with fixed headers (mode 0644, time
//! 0), so a shard's bytes depend only on its samples. Every clip and image is checked
//! against the catalog's sha256 before it is written.
//!
//! The shard plan is a pure function of the sorted rows and the shard size. A shard is
//! written as `.partial`, renamed when complete, then recorded in `index.json`; a rerun
//! skips every shard whose index entry matches the plan and whose file has the recorded
//! size, so an interrupted export resumes where it stopped.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::CatalogError;
use super::part::hash_file;
use super::row::CatalogRow;
use crate::storage::ObjectStore;

/// Format name of the shard index.
pub(crate) const EXPORT_FORMAT: &str = "nexis-webdataset-1";
/// Name of the shard index in the output folder.
pub(crate) const SHARD_INDEX: &str = "index.json";
const BLOCK: u64 = 512;
/// Samples downloaded ahead of the one being written.
const PREFETCH: usize = 4;

/// Export settings.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Output folder of the shards and their index.
    pub out: PathBuf,
    /// Target size of one tar shard in bytes.
    pub shard_bytes: u64,
    /// Size cap of one downloaded clip.
    pub max_clip_bytes: u64,
    /// Size cap of one downloaded first frame.
    pub max_image_bytes: u64,
}

/// One shard in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShardEntry {
    pub(crate) name: String,
    pub(crate) samples: u64,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    pub(crate) first_key: String,
    pub(crate) last_key: String,
    /// sha256 of the shard's sample keys joined by newlines (matches a shard to its plan).
    pub(crate) keys_sha256: String,
}

/// `index.json` of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShardIndex {
    pub(crate) format: String,
    pub(crate) shard_bytes: u64,
    pub(crate) samples: u64,
    pub(crate) shards: Vec<ShardEntry>,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportReport {
    /// Shards written this run.
    pub shards: u64,
    /// Shards already complete from an earlier run, left as they are.
    pub shards_skipped: u64,
    /// Samples (clip, frame, metadata) in the export.
    pub samples: u64,
    /// Bytes of shards written this run.
    pub bytes_written: u64,
    /// Wall time of the run in seconds.
    pub seconds: f64,
}

impl ExportReport {
    /// Throughput of this run in MB/s (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        if self.seconds > 0.0 { self.bytes_written as f64 / 1e6 / self.seconds } else { 0.0 }
    }
}

fn padded(size: u64) -> u64 {
    BLOCK + size.div_ceil(BLOCK) * BLOCK
}

/// Bytes a sample takes in a tar.
pub(crate) fn sample_bytes(row: &CatalogRow) -> u64 {
    padded(row.clip_bytes) + padded(row.image_bytes) + padded(row.to_json().len() as u64)
}

/// Sorts rows into export order and cuts them into shards of at most `shard_bytes`.
pub(crate) fn plan(mut rows: Vec<CatalogRow>, shard_bytes: u64) -> Vec<Vec<CatalogRow>> {
    rows.sort_by(|a, b| {
        (a.interval, &a.miner_hotkey, &a.clip_id, &a.id).cmp(&(b.interval, &b.miner_hotkey, &b.clip_id, &b.id))
    });
    let mut shards: Vec<Vec<CatalogRow>> = Vec::new();
    let mut size = 0u64;
    for row in rows {
        let bytes = sample_bytes(&row);
        match shards.last_mut() {
            Some(shard) if size + bytes <= shard_bytes => {
                size += bytes;
                shard.push(row);
            }
            _ => {
                size = 2 * BLOCK + bytes;
                shards.push(vec![row]);
            }
        }
    }
    shards
}

fn keys_digest(rows: &[CatalogRow]) -> String {
    let mut h = Sha256::new();
    for r in rows {
        h.update(r.id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The shard file name of shard `n`.
pub(crate) fn shard_name(n: usize) -> String {
    format!("shard-{n:06}.tar")
}

/// Whether `name` is a shard file name this export writes (`shard-NNNNNN.tar`): nothing
/// with a separator, `..` or any other form is ever opened or deleted.
fn is_shard_name(name: &str) -> bool {
    name.strip_prefix("shard-")
        .and_then(|n| n.strip_suffix(".tar"))
        .is_some_and(|digits| digits.len() >= 6 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The previous export's index in `out`, if any; one that names anything but shard files
/// of `out` (a stale or hostile `index.json`) is refused.
fn read_index(out: &Path) -> Result<Option<ShardIndex>, CatalogError> {
    let path = out.join(SHARD_INDEX);
    let Ok(bytes) = std::fs::read(&path) else { return Ok(None) };
    let Some(index) = serde_json::from_slice::<ShardIndex>(&bytes).ok().filter(|i| i.format == EXPORT_FORMAT) else {
        return Ok(None);
    };
    if let Some(bad) = index.shards.iter().find(|e| !is_shard_name(&e.name)) {
        return Err(CatalogError::Invalid(format!(
            "{} names {:?}, which is not a shard of an export (shard-NNNNNN.tar); refusing to touch it: \
             remove that index.json or export into an empty --out",
            path.display(),
            bad.name
        )));
    }
    Ok(Some(index))
}

fn write_index(out: &Path, index: &ShardIndex) -> Result<(), CatalogError> {
    let tmp = out.join(format!("{SHARD_INDEX}.tmp"));
    let bytes = serde_json::to_vec_pretty(index).unwrap_or_default();
    std::fs::write(&tmp, bytes).map_err(|e| CatalogError::io(&tmp, e))?;
    std::fs::rename(&tmp, out.join(SHARD_INDEX)).map_err(|e| CatalogError::io(&tmp, e))
}

/// Exports `rows` from `store` into `settings.out`.
pub async fn export(
    store: &dyn ObjectStore,
    rows: Vec<CatalogRow>,
    settings: &ExportSettings,
    bar: &ProgressBar,
) -> Result<ExportReport, CatalogError> {
    let started = Instant::now();
    let out = &settings.out;
    std::fs::create_dir_all(out).map_err(|e| CatalogError::io(out, e))?;
    let shards = plan(rows, settings.shard_bytes.max(4 * BLOCK));
    let previous = read_index(out)?;
    let total: u64 = shards.iter().flatten().map(sample_bytes).sum();
    bar.set_length(total);
    let mut index =
        ShardIndex { format: EXPORT_FORMAT.into(), shard_bytes: settings.shard_bytes, samples: 0, shards: vec![] };
    let mut report = ExportReport::default();
    for (n, shard) in shards.iter().enumerate() {
        let name = shard_name(n);
        let keys = keys_digest(shard);
        let done = previous.as_ref().and_then(|p| p.shards.iter().find(|e| e.name == name && e.keys_sha256 == keys));
        let entry = match done {
            Some(e) if std::fs::metadata(out.join(&name)).is_ok_and(|m| m.len() == e.bytes) => {
                report.shards_skipped += 1;
                bar.inc(shard.iter().map(sample_bytes).sum());
                e.clone()
            }
            _ => {
                let e = write_shard(store, shard, &out.join(&name), settings, bar).await?;
                report.bytes_written += e.bytes;
                ShardEntry { name, keys_sha256: keys, ..e }
            }
        };
        index.samples += entry.samples;
        index.shards.push(entry);
        write_index(out, &index)?;
        report.shards += 1;
    }
    for stale in
        previous.iter().flat_map(|p| p.shards.iter()).filter(|e| !index.shards.iter().any(|s| s.name == e.name))
    {
        let _ = std::fs::remove_file(out.join(&stale.name));
    }
    report.samples = index.samples;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A sample's two assets, downloaded and verified.
struct Fetched {
    _dir: tempfile::TempDir,
    clip: PathBuf,
    image: PathBuf,
}

async fn fetch(
    store: &dyn ObjectStore,
    row: &CatalogRow,
    scratch: &Path,
    s: &ExportSettings,
) -> Result<Fetched, CatalogError> {
    let dir =
        tempfile::Builder::new().prefix("sample-").tempdir_in(scratch).map_err(|e| CatalogError::io(scratch, e))?;
    let (clip, image) = (dir.path().join("clip"), dir.path().join("image"));
    for (key, path, expected, cap) in [
        (&row.clip_key, &clip, &row.clip_sha256, s.max_clip_bytes),
        (&row.image_key, &image, &row.first_frame_sha256, s.max_image_bytes),
    ] {
        let got = store.get_to_file(key, path, cap).await?;
        if got.sha256 != *expected {
            return Err(CatalogError::Invalid(format!(
                "{key}: sha256 {} differs from the catalog's {expected}; the export stops (re-copy the row or rebuild \
                 the catalog)",
                got.sha256
            )));
        }
    }
    Ok(Fetched { _dir: dir, clip, image })
}

fn header(name: &str, size: u64) -> Result<tar::Header, std::io::Error> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

fn append_sample(tar: &mut tar::Builder<BufWriter<File>>, row: &CatalogRow, f: &Fetched) -> Result<(), std::io::Error> {
    for (ext, path) in [("mp4", &f.clip), ("jpg", &f.image)] {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        tar.append(&header(&format!("{}.{ext}", row.id), size)?, file)?;
    }
    let json = row.to_json();
    tar.append(&header(&format!("{}.json", row.id), json.len() as u64)?, json.as_slice())
}

async fn write_shard(
    store: &dyn ObjectStore,
    shard: &[CatalogRow],
    path: &Path,
    settings: &ExportSettings,
    bar: &ProgressBar,
) -> Result<ShardEntry, CatalogError> {
    let partial = path.with_extension("tar.partial");
    let file = File::create(&partial).map_err(|e| CatalogError::io(&partial, e))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    let scratch = settings.out.join(".scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| CatalogError::io(&scratch, e))?;
    let mut samples = futures::stream::iter(shard).map(|row| fetch(store, row, &scratch, settings)).buffered(PREFETCH);
    let mut i = 0;
    while let Some(fetched) = samples.next().await {
        let row = &shard[i];
        append_sample(&mut tar, row, &fetched?).map_err(|e| CatalogError::io(&partial, e))?;
        bar.inc(sample_bytes(row));
        i += 1;
    }
    let mut writer = tar.into_inner().map_err(|e| CatalogError::io(&partial, e))?;
    writer.flush().map_err(|e| CatalogError::io(&partial, e))?;
    writer.get_ref().sync_all().map_err(|e| CatalogError::io(&partial, e))?;
    drop(writer);
    std::fs::rename(&partial, path).map_err(|e| CatalogError::io(path, e))?;
    let (bytes, sha256) = hash_file(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(ShardEntry {
        name,
        samples: shard.len() as u64,
        bytes,
        sha256,
        first_key: shard.first().map(|r| r.id.clone()).unwrap_or_default(),
        last_key: shard.last().map(|r| r.id.clone()).unwrap_or_default(),
        keys_sha256: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::part::tests::row;

    #[test]
    fn samples_are_never_split_and_shards_stay_under_the_cap() {
        let rows: Vec<CatalogRow> = (0..50).map(|i| row("5Abc", 3, i)).collect();
        let one = sample_bytes(&rows[0]);
        let cap = 2 * BLOCK + 3 * one + one / 2;
        let shards = plan(rows.clone(), cap);
        assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), 50);
        for s in &shards {
            assert!(2 * BLOCK + s.iter().map(sample_bytes).sum::<u64>() <= cap || s.len() == 1);
        }
        assert!(shards.len() >= 50 / 3, "{}", shards.len());
        let giant = plan(rows[..2].to_vec(), 10);
        assert_eq!(giant.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1], "an oversize sample gets its own shard");
        assert_eq!(shard_name(7), "shard-000007.tar");
    }
}
