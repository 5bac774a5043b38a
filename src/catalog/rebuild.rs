//! `nexis dataset rebuild-catalog`: the catalog of a bucket filled before the catalog
//! existed. The owner bucket's listing gives which rows were copied (all three objects
//! present), their sizes and copy times (the clip's last-modified time); each row's
//! `metadata.json` gives its caption and source; the record-info bundles give the
//! interval, miner, clip id, digests and shape of every owner id. Owner rows that no
//! bundle names are counted as orphans and left out. The whole index is rewritten.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use futures::StreamExt;
use serde::Deserialize;

use super::index::CatalogIndex;
use super::publish::put_part;
use super::row::{CatalogRow, CopiedObjects, RowBundle};
use super::shape::read_shapes;
use super::{CatalogError, INDEX_KEY, hotkey_prefix};
use crate::bundle::keys::{BundleObject, OWNER_PREFIX, bundle_dataset_key, owner_row_id, parse_bundle_key};
use crate::bundle::{plan_bundle, read_bundle_rows};
use crate::media::fingerprint::fingerprint_jpeg;
use crate::protocol::PackageKey;
use crate::storage::ObjectStore;

/// Default decode budget of one bundle dataset (owner sync and rebuild).
pub const DEFAULT_MAX_DECODED_BYTES: u64 = crate::bundle::BUNDLE_DECODE_BUDGET;

/// Caps of a rebuild.
#[derive(Debug, Clone)]
pub struct RebuildSettings {
    /// Size cap of one bundle dataset download.
    pub max_dataset_bytes: u64,
    /// Row cap of one bundle dataset.
    pub max_dataset_rows: u64,
    /// Decode budget of one bundle dataset (checked on its footer before decoding, then
    /// while decoding).
    pub max_decoded_bytes: u64,
    /// The validator written into every row, when known.
    pub validator_hotkey: Option<String>,
    /// Metadata reads at once.
    pub concurrency: usize,
}

/// What a rebuild found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Rows written to the catalog.
    pub rows: u64,
    /// Part files written.
    pub parts: u64,
    /// Owner rows with all objects that no bundle names.
    pub orphans: u64,
    /// Bundles that could not be read (their rows are left out).
    pub bundle_errors: Vec<String>,
}

#[derive(Debug, Default)]
struct Objects {
    clip: Option<(u64, Option<i64>)>,
    image: Option<u64>,
    metadata: bool,
}

#[derive(Deserialize)]
struct Metadata {
    source_id: String,
    source_url: String,
    caption: String,
}

async fn owner_objects(owner: &dyn ObjectStore) -> Result<HashMap<String, Objects>, CatalogError> {
    let mut out: HashMap<String, Objects> = HashMap::new();
    for o in owner.list(&format!("{OWNER_PREFIX}/")).await? {
        let mut parts = o.key.split('/').skip(1);
        let (Some(id), Some(name), None) = (parts.next(), parts.next(), parts.next()) else { continue };
        let e = out.entry(id.to_string()).or_default();
        match name {
            "clip.mp4" => e.clip = Some((o.size, o.last_modified.map(|t| t.timestamp_micros()))),
            "first_image.jpg" => e.image = Some(o.size),
            "metadata.json" => e.metadata = true,
            _ => {}
        }
    }
    out.retain(|_, e| e.clip.is_some() && e.image.is_some() && e.metadata);
    Ok(out)
}

/// Rows of one bundle whose objects are all in the owner bucket (metadata still unread).
async fn bundle_rows(
    record_info: &dyn ObjectStore,
    key: &PackageKey,
    objects: &HashMap<String, Objects>,
    scratch: &Path,
    s: &RebuildSettings,
) -> Result<Vec<CatalogRow>, CatalogError> {
    let dir =
        tempfile::Builder::new().prefix("rebuild-").tempdir_in(scratch).map_err(|e| CatalogError::io(scratch, e))?;
    let path = dir.path().join("dataset.parquet");
    record_info.get_to_file(&bundle_dataset_key(key), &path, s.max_dataset_bytes).await?;
    let (interval, hotkey) = (key.interval.get(), key.miner.as_str());
    let (max, budget) = (s.max_dataset_rows, s.max_decoded_bytes);
    let (rows, shapes) = tokio::task::spawn_blocking(move || {
        let invalid = |e: crate::bundle::BundleError| CatalogError::Invalid(format!("{}: {e}", path.display()));
        let plan = plan_bundle(&path, max, budget).map_err(invalid)?;
        let rows = read_bundle_rows(&path, max, budget).map_err(invalid)?;
        Ok::<_, CatalogError>((rows, read_shapes(&path, max, plan.batch_rows)?))
    })
    .await
    .map_err(|e| CatalogError::Invalid(format!("bundle reader task: {e}")))??;
    let bundle = RowBundle { interval, miner_hotkey: hotkey, validator_hotkey: s.validator_hotkey.as_deref() };
    let mut out = Vec::new();
    for (row, shape) in rows.iter().zip(&shapes) {
        let id = owner_row_id(hotkey, interval, &row.clip_id);
        let Some(o) = objects.get(&id) else { continue };
        let (clip_bytes, copied_at_us) = o.clip.unwrap_or_default();
        let image_bytes = o.image.unwrap_or_default();
        let copied = CopiedObjects { clip_bytes, image_bytes, copied_at_us, content_fingerprint: None };
        out.push(CatalogRow::of_bundle_row(row, shape, bundle, copied));
    }
    Ok(out)
}

/// Largest first image read back to fingerprint it.
const MAX_IMAGE_BYTES: u64 = 8 << 20;

/// Takes caption and source from the row's `metadata.json` (what the bucket holds), and
/// the content fingerprint from its first image (none when it cannot be read).
async fn with_metadata(owner: &dyn ObjectStore, mut row: CatalogRow) -> Result<CatalogRow, CatalogError> {
    let bytes = owner.get_bytes(&row.metadata_key, 1 << 20).await?;
    let m: Metadata = serde_json::from_slice(&bytes)
        .map_err(|e| CatalogError::Invalid(format!("{}: not owner metadata: {e}", row.metadata_key)))?;
    row.caption = m.caption;
    row.source_video_id = m.source_id;
    row.source_video_url = m.source_url;
    if let Ok(image) = owner.get_bytes(&row.image_key, MAX_IMAGE_BYTES).await {
        let fingerprint = tokio::task::spawn_blocking(move || fingerprint_jpeg(&image)).await.ok().flatten();
        row.content_fingerprint = fingerprint.map(|f| f.to_string());
    }
    Ok(row)
}

/// Rebuilds the catalog of `owner` from its objects and the bundles in `record_info`.
pub async fn rebuild(
    owner: &dyn ObjectStore,
    record_info: &dyn ObjectStore,
    scratch: &Path,
    s: &RebuildSettings,
) -> Result<RebuildReport, CatalogError> {
    std::fs::create_dir_all(scratch).map_err(|e| CatalogError::io(scratch, e))?;
    let objects = owner_objects(owner).await?;
    let mut report = RebuildReport::default();
    let mut groups: BTreeMap<(u64, String), Vec<CatalogRow>> = BTreeMap::new();
    let mut named = 0u64;
    for o in record_info.list("").await? {
        let Some(BundleObject::Manifest(key)) = parse_bundle_key(&o.key) else { continue };
        match bundle_rows(record_info, &key, &objects, scratch, s).await {
            Ok(rows) => {
                named += rows.len() as u64;
                groups.entry((key.interval.get(), hotkey_prefix(key.miner.as_str()))).or_default().extend(rows);
            }
            Err(e) => report.bundle_errors.push(format!("{key}: {e}")),
        }
    }
    report.orphans = (objects.len() as u64).saturating_sub(named);
    let mut entries = Vec::new();
    for ((interval, prefix), rows) in groups {
        let rows: Vec<CatalogRow> = futures::stream::iter(rows)
            .map(|r| with_metadata(owner, r))
            .buffered(s.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        report.rows += rows.len() as u64;
        if let Some(entry) = put_part(owner, interval, &prefix, rows, scratch).await? {
            entries.push(entry);
            report.parts += 1;
        }
    }
    owner.put_bytes(INDEX_KEY, &CatalogIndex::from_entries(entries).to_json()).await?;
    Ok(report)
}
