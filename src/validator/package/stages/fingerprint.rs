//! The fingerprint stage of an accepted package: the first frame of every row (up to
//! [`MAX_FINGERPRINT_ROWS`]) is fetched under the first-frame size cap, checked against
//! its recorded sha256 and reduced to a perceptual hash
//! ([`crate::media::fingerprint`]); overlap pruning then drops rows showing footage
//! already published. A frame that cannot be had or decoded (or shows no structure)
//! gives its row no fingerprint; nothing here fails a package.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tracing::debug;

use crate::dataset::{self, LoadedDataset, SampledRow};
use crate::media::fingerprint::{Fingerprint, fingerprint_jpeg};
use crate::spec::DatasetSpec;
use crate::storage::{ObjectStore, asset_key, normalize_uri};
use crate::validator::package::{PackageLimits, PackageRequest};

/// Most rows of one package whose first frame is fingerprinted (the rest are not).
pub(crate) const MAX_FINGERPRINT_ROWS: usize = 4096;

/// `(row, fingerprint)` of every row of `loaded` whose first frame could be had, in row
/// order.
pub(crate) async fn fingerprint_rows(
    store: &dyn ObjectStore,
    req: &PackageRequest,
    path: PathBuf,
    loaded: &LoadedDataset,
    spec: Arc<dyn DatasetSpec>,
    limits: &PackageLimits,
) -> Vec<(u32, Fingerprint)> {
    let indices: Vec<usize> = (0..loaded.num_rows().min(MAX_FINGERPRINT_ROWS)).collect();
    let footer = loaded.footer.clone();
    let rows = tokio::task::spawn_blocking(move || dataset::read_rows(&path, &footer, spec.definition(), &indices))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let interval = req.interval_id();
    let cap = limits.max_frame_bytes;
    let hashed: Vec<Option<(u32, Fingerprint)>> = futures::stream::iter(rows)
        .map(|row| async move {
            let fingerprint = first_frame_fingerprint(store, interval, &row, cap).await?;
            Some((u32::try_from(row.index).ok()?, fingerprint))
        })
        .buffered(limits.asset_concurrency.max(1) * 2)
        .collect()
        .await;
    let out: Vec<(u32, Fingerprint)> = hashed.into_iter().flatten().collect();
    debug!(miner = %req.miner_hotkey, rows = loaded.num_rows(), fingerprinted = out.len(), "first frames fingerprinted");
    out
}

/// The fingerprint of `row`'s first frame, when it is there, matches its hash and has
/// structure.
async fn first_frame_fingerprint(
    store: &dyn ObjectStore,
    interval_id: u64,
    row: &SampledRow,
    cap: u64,
) -> Option<Fingerprint> {
    let key = asset_key(interval_id, &normalize_uri(&row.first_frame_uri)?);
    let bytes = store.get_bytes(&key, cap).await.ok()?;
    if hex::encode(Sha256::digest(&bytes)) != row.first_frame_sha256.to_ascii_lowercase() {
        return None;
    }
    tokio::task::spawn_blocking(move || fingerprint_jpeg(&bytes)).await.ok()?
}
