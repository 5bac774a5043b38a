//! Fixtures of the dataset benchmarks: a catalog of any number of synthetic rows spread
//! over intervals and miners (written the way the sync writes it), and a local owner
//! bucket of random clips with their catalog, for the WebDataset export.

use std::path::Path;
use std::time::Instant;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::bundle::keys::owner_row_id;
use crate::bundle::keys::{owner_clip_key, owner_image_key, owner_metadata_key};
use crate::catalog::index::CatalogIndex;
use crate::catalog::publish::put_part;
use crate::catalog::{CatalogError, CatalogRow, INDEX_KEY, hotkey_prefix};
use crate::storage::{LocalStore, ObjectStore};

const WORDS: [&str; 16] = [
    "heron", "river", "forest", "mist", "fox", "meadow", "waves", "sunset", "deer", "snow", "pine", "eagle", "stream",
    "rocks", "moss", "dawn",
];

/// A synthetic miner hotkey (distinct 4-character prefixes for the first 58² miners).
pub fn miner(m: usize) -> String {
    const B58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let (a, b) = (B58[m % 58] as char, B58[(m / 58) % 58] as char);
    format!("5{a}{b}x{m:044}")
}

/// Synthetic row `i` of `miner` in `interval` (captions of 8 to 40 words).
pub fn row(interval: u64, miner: &str, i: usize) -> CatalogRow {
    let id = owner_row_id(miner, interval, &format!("c{i}"));
    let words = 8 + (i * 7919) % 33;
    let caption: Vec<&str> = (0..words).map(|w| WORDS[(i + w * 31) % WORDS.len()]).collect();
    let digest = |salt: &str| hex::encode(Sha256::digest(format!("{salt}{id}").as_bytes()));
    CatalogRow {
        clip_key: owner_clip_key(&id),
        image_key: owner_image_key(&id),
        metadata_key: owner_metadata_key(&id),
        clip_id: format!("c{i}"),
        caption: caption.join(" "),
        source_video_id: format!("v{:09}", i / 12),
        source_video_url: format!("https://www.youtube.com/watch?v=v{:09}", i / 12),
        clip_start_sec: (i % 12) as f64 * 5.0,
        duration_sec: Some(5.0),
        width: Some(1280),
        height: Some(720),
        fps: Some(30.0),
        num_frames: Some(150),
        has_audio: Some(i.is_multiple_of(3)),
        clip_sha256: digest("clip"),
        first_frame_sha256: digest("frame"),
        clip_bytes: 2_000_000 + (i as u64 * 7919) % 1_000_000,
        image_bytes: 90_000 + (i as u64 * 31) % 20_000,
        interval,
        miner_hotkey: miner.to_string(),
        validator_hotkey: Some("5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y".into()),
        copied_at_us: Some(1_760_000_000_000_000 + i as i64 * 1000),
        content_fingerprint: Some(digest("fingerprint")[..16].to_string()),
        id,
    }
}

/// What writing a catalog took.
#[derive(Debug, Clone, Default)]
pub struct CatalogWrite {
    /// Rows written.
    pub rows: u64,
    /// Parquet part files written.
    pub parts: u64,
    pub(crate) bytes: u64,
    /// Wall time of the write, seconds.
    pub seconds: f64,
}

/// Writes a catalog of `rows` rows over `intervals` intervals and `miners` miners per
/// interval into the bucket folder `dir` (parts and index, as the sync writes them).
pub async fn write_synthetic_catalog(
    dir: &Path,
    rows: usize,
    intervals: usize,
    miners: usize,
) -> Result<CatalogWrite, CatalogError> {
    let store = LocalStore::new(dir.to_path_buf());
    let scratch = dir.join(".scratch");
    let parts = (intervals * miners).max(1);
    let started = Instant::now();
    let mut entries = Vec::with_capacity(parts);
    let mut out = CatalogWrite::default();
    for p in 0..parts {
        let (interval, m) = ((p / miners.max(1)) as u64 * 50, miner(p % miners.max(1)));
        let n = rows / parts + usize::from(p < rows % parts);
        let part: Vec<CatalogRow> = (0..n).map(|i| row(interval, &m, p * (rows / parts + 1) + i)).collect();
        if let Some(entry) = put_part(&store, interval, &hotkey_prefix(&m), part, &scratch).await? {
            out.rows += entry.rows;
            out.bytes += entry.bytes;
            out.parts += 1;
            entries.push(entry);
        }
    }
    store.put_bytes(INDEX_KEY, &CatalogIndex::from_entries(entries).to_json()).await?;
    out.seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(scratch);
    Ok(out)
}

/// Fills the bucket folder `dir` with random clips of `clip_bytes` (and 100 KB images)
/// until `total_bytes`, and returns their catalog rows (real sizes and digests).
pub async fn write_synthetic_clips(
    dir: &Path,
    total_bytes: u64,
    clip_bytes: u64,
) -> Result<Vec<CatalogRow>, CatalogError> {
    let store = LocalStore::new(dir.to_path_buf());
    let count = total_bytes.div_ceil(clip_bytes.max(1)) as usize;
    let mut rng = rand::rng();
    let mut rows = Vec::with_capacity(count);
    let mut clip = vec![0u8; clip_bytes as usize];
    let mut image = vec![0u8; 100_000];
    for i in 0..count {
        rng.fill_bytes(&mut clip);
        rng.fill_bytes(&mut image);
        let mut r = row(0, &miner(i % 8), i);
        r.clip_bytes = clip.len() as u64;
        r.image_bytes = image.len() as u64;
        r.clip_sha256 = hex::encode(Sha256::digest(&clip));
        r.first_frame_sha256 = hex::encode(Sha256::digest(&image));
        store.put_bytes(&r.clip_key, &clip).await?;
        store.put_bytes(&r.image_key, &image).await?;
        rows.push(r);
    }
    Ok(rows)
}
