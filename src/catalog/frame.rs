//! The catalog in polars: finding the parts of a local mirror (`catalog/interval={I}/
//! part-*.parquet`), mirroring them from a bucket (verified against the index), one lazy
//! frame over every part with the `interval` partition column, SQL over it (table name
//! `catalog`), and turning result rows back into [`CatalogRow`]s.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;

use super::index::{CatalogIndex, PartEntry};
use super::part::hash_file;
use super::publish::read_index;
use super::row::CatalogRow;
use super::{CATALOG_PREFIX, CatalogError, INDEX_KEY, parse_part_key};
use crate::spec::video_v1::columns;
use crate::storage::ObjectStore;

/// The table name of the catalog in SQL.
pub(crate) const TABLE: &str = "catalog";
/// Largest part accepted when mirroring.
pub(crate) const MAX_PART_BYTES: u64 = 8 << 30;

/// The catalog folder under `root`: `root/catalog` if it exists, else `root` itself.
pub(crate) fn catalog_dir(root: &Path) -> PathBuf {
    let nested = root.join(CATALOG_PREFIX);
    if nested.is_dir() { nested } else { root.to_path_buf() }
}

/// Every part file under `root`, with its interval, sorted by path.
pub(crate) fn find_parts(root: &Path) -> Result<Vec<(u64, PathBuf)>, CatalogError> {
    let dir = catalog_dir(root);
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|e| CatalogError::io(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| CatalogError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("interval=") || !entry.path().is_dir() {
            continue;
        }
        let files = std::fs::read_dir(entry.path()).map_err(|e| CatalogError::io(&entry.path(), e))?;
        for file in files {
            let file = file.map_err(|e| CatalogError::io(&entry.path(), e))?;
            let key = format!("{CATALOG_PREFIX}/{name}/{}", file.file_name().to_string_lossy());
            if let Some((interval, _)) = parse_part_key(&key) {
                out.push((interval, file.path()));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// The catalog column holding the first image's perceptual hash.
pub(crate) const FINGERPRINT_COLUMN: &str = "content_fingerprint";

/// One lazy frame over every part under `root` (`None` when there is none), with the
/// partition column `interval` (Int64) added from each part's path.
pub fn scan(root: &Path) -> Result<Option<LazyFrame>, CatalogError> {
    let parts = find_parts(root)?;
    if parts.is_empty() {
        return Ok(None);
    }
    let mut frames = Vec::with_capacity(parts.len());
    for (interval, path) in parts {
        let path = PlRefPath::try_from_path(&path)?;
        let mut lf = LazyFrame::scan_parquet(path, ScanArgsParquet::default())?;
        // Parts written before the fingerprint column existed get it as nulls.
        if lf.collect_schema()?.get(FINGERPRINT_COLUMN).is_none() {
            lf = lf.with_column(lit(NULL).cast(DataType::String).alias(FINGERPRINT_COLUMN));
        }
        let interval = i64::try_from(interval).unwrap_or(i64::MAX);
        frames.push(lf.with_column(lit(interval).alias("interval")));
    }
    Ok(Some(concat(frames, UnionArgs::default())?))
}

/// Runs `query` over the catalog (table [`TABLE`]); a query that could read anything else
/// (table functions such as `read_csv`) or change tables is refused ([`super::sandbox`]).
pub fn sql(catalog: LazyFrame, query: &str) -> Result<LazyFrame, CatalogError> {
    super::sandbox::check_query(query)?;
    let mut ctx = SQLContext::new();
    ctx.register(TABLE, catalog);
    Ok(ctx.execute(query)?)
}

/// Mirrors the bucket's catalog into `dest` (`dest/catalog/...`): every part in the index
/// whose local copy is missing or differs is downloaded and checked against the index's
/// sha256. Returns the index.
pub async fn mirror(store: &dyn ObjectStore, dest: &Path) -> Result<CatalogIndex, CatalogError> {
    let index = read_index(store).await?;
    for part in &index.parts {
        mirror_part(store, dest, part).await?;
    }
    let path = dest.join(INDEX_KEY);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CatalogError::io(dir, e))?;
    }
    std::fs::write(&path, index.to_json()).map_err(|e| CatalogError::io(&path, e))?;
    Ok(index)
}

async fn mirror_part(store: &dyn ObjectStore, dest: &Path, part: &PartEntry) -> Result<(), CatalogError> {
    if parse_part_key(&part.key).is_none() {
        return Err(CatalogError::Invalid(format!("index names {:?}, which is not a catalog part key", part.key)));
    }
    let path = dest.join(&part.key);
    if path.is_file() && hash_file(&path)?.1 == part.sha256 {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CatalogError::io(dir, e))?;
    }
    let got = store.get_to_file(&part.key, &path, MAX_PART_BYTES).await?;
    if got.sha256 != part.sha256 {
        let _ = std::fs::remove_file(&path);
        return Err(CatalogError::PartDigest {
            key: part.key.clone(),
            expected: part.sha256.clone(),
            actual: got.sha256,
        });
    }
    Ok(())
}

fn text(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, CatalogError> {
    Ok(df.column(name)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

fn need(v: &[Option<String>], i: usize, name: &str) -> Result<String, CatalogError> {
    v[i].clone().ok_or_else(|| CatalogError::Invalid(format!("row {i}: `{name}` is null")))
}

/// The rows of a frame holding every catalog column (`SELECT *`).
pub fn rows_of(df: &DataFrame) -> Result<Vec<CatalogRow>, CatalogError> {
    let df = df
        .clone()
        .lazy()
        .with_columns([
            col("copied_at").cast(DataType::Datetime(TimeUnit::Microseconds, None)),
            col("interval").cast(DataType::Int64),
        ])
        .collect()?;
    let names =
        ["id", "clip_key", "image_key", "metadata_key", columns::CLIP_ID, columns::CAPTION, columns::SOURCE_VIDEO_ID];
    let t: Vec<Vec<Option<String>>> = names.iter().map(|n| text(&df, n)).collect::<Result<_, _>>()?;
    let more = [
        columns::SOURCE_VIDEO_URL,
        columns::CLIP_SHA256,
        columns::FIRST_FRAME_SHA256,
        "miner_hotkey",
        "validator_hotkey",
    ];
    let u: Vec<Vec<Option<String>>> = more.iter().map(|n| text(&df, n)).collect::<Result<_, _>>()?;
    let f = |n: &str| -> Result<Vec<Option<f64>>, CatalogError> { Ok(df.column(n)?.f64()?.iter().collect()) };
    let i = |n: &str| -> Result<Vec<Option<i64>>, CatalogError> { Ok(df.column(n)?.i64()?.iter().collect()) };
    let (start, duration, fps) = (f(columns::CLIP_START_SEC)?, f(columns::DURATION_SEC)?, f(columns::FPS)?);
    let (width, height, frames) = (i(columns::WIDTH)?, i(columns::HEIGHT)?, i(columns::NUM_FRAMES)?);
    let (clip_bytes, image_bytes, interval) = (i("clip_bytes")?, i("image_bytes")?, i("interval")?);
    let audio: Vec<Option<bool>> = df.column(columns::HAS_AUDIO)?.bool()?.iter().collect();
    let copied: Vec<Option<i64>> = df.column("copied_at")?.datetime()?.physical().iter().collect();
    let fingerprints = match df.column(FINGERPRINT_COLUMN) {
        Ok(_) => text(&df, FINGERPRINT_COLUMN)?,
        Err(_) => vec![None; df.height()],
    };
    let mut out = Vec::with_capacity(df.height());
    for r in 0..df.height() {
        out.push(CatalogRow {
            id: need(&t[0], r, "id")?,
            clip_key: need(&t[1], r, "clip_key")?,
            image_key: need(&t[2], r, "image_key")?,
            metadata_key: need(&t[3], r, "metadata_key")?,
            clip_id: need(&t[4], r, columns::CLIP_ID)?,
            caption: need(&t[5], r, columns::CAPTION)?,
            source_video_id: need(&t[6], r, columns::SOURCE_VIDEO_ID)?,
            source_video_url: need(&u[0], r, columns::SOURCE_VIDEO_URL)?,
            clip_start_sec: start[r].unwrap_or(f64::NAN),
            duration_sec: duration[r],
            width: width[r],
            height: height[r],
            fps: fps[r],
            num_frames: frames[r],
            has_audio: audio[r],
            clip_sha256: need(&u[1], r, columns::CLIP_SHA256)?,
            first_frame_sha256: need(&u[2], r, columns::FIRST_FRAME_SHA256)?,
            clip_bytes: clip_bytes[r].and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            image_bytes: image_bytes[r].and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            interval: interval[r].and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            miner_hotkey: need(&u[3], r, "miner_hotkey")?,
            validator_hotkey: u[4][r].clone(),
            copied_at_us: copied[r],
            content_fingerprint: fingerprints[r].clone(),
        });
    }
    Ok(out)
}
