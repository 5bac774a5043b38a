//! Writing the catalog into a bucket: a part (encoded in a scratch file, uploaded), then
//! the index entry for it. Callers write a part only after every object its rows point
//! to is in the bucket, so the catalog never names a missing object.

use std::path::Path;

use super::index::{CatalogIndex, MAX_INDEX_BYTES, PartEntry};
use super::part::{sort_rows, write_part};
use super::row::CatalogRow;
use super::{CatalogError, INDEX_KEY, part_key};
use crate::storage::{ObjectStore, StorageError};

/// Reads the bucket's index; an absent index is an empty one.
pub(crate) async fn read_index(store: &dyn ObjectStore) -> Result<CatalogIndex, CatalogError> {
    match store.get_bytes(INDEX_KEY, MAX_INDEX_BYTES).await {
        Ok(bytes) => CatalogIndex::parse(&bytes),
        Err(StorageError::NotFound { .. }) => Ok(CatalogIndex::from_entries([])),
        Err(e) => Err(e.into()),
    }
}

/// Writes the part of `(interval, prefix)` holding `rows` (sorted here) and returns its
/// index entry; `None` (and nothing written) when there are no rows.
pub(crate) async fn put_part(
    store: &dyn ObjectStore,
    interval: u64,
    prefix: &str,
    mut rows: Vec<CatalogRow>,
    scratch: &Path,
) -> Result<Option<PartEntry>, CatalogError> {
    if rows.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(scratch).map_err(|e| CatalogError::io(scratch, e))?;
    let tmp = tempfile::Builder::new()
        .prefix("catalog-part-")
        .suffix(".parquet")
        .tempfile_in(scratch)
        .map_err(|e| CatalogError::io(scratch, e))?;
    let path = tmp.path().to_path_buf();
    let file = tokio::task::spawn_blocking(move || {
        sort_rows(&mut rows);
        write_part(&path, &rows)
    })
    .await
    .map_err(|e| CatalogError::Invalid(format!("catalog writer task: {e}")))??;
    let key = part_key(interval, prefix);
    store.put_file(&key, tmp.path()).await?;
    Ok(Some(PartEntry { key, interval, rows: file.rows, bytes: file.bytes, sha256: file.sha256 }))
}

/// Adds or replaces `entries` in the bucket's index (read, merge, write).
pub(crate) async fn update_index(
    store: &dyn ObjectStore,
    entries: Vec<PartEntry>,
) -> Result<CatalogIndex, CatalogError> {
    let index = entries.into_iter().fold(read_index(store).await?, CatalogIndex::with);
    store.put_bytes(INDEX_KEY, &index.to_json()).await?;
    Ok(index)
}
