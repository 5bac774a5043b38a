//! Listing the record-info bucket for a pass: the whole bucket, or only the interval
//! prefixes from the high-water mark to the current interval.

use super::{OwnerSync, SyncError, now_unix};

use crate::storage::ObjectMeta;

/// More interval prefixes than this since the high-water mark: list the whole bucket.
const MAX_PREFIX_LISTS: u64 = 500;

impl OwnerSync {
    /// Lists the record-info bucket: the whole bucket, or only the intervals from the
    /// high-water mark to the current one. Returns the objects and whether it was whole.
    pub(super) async fn list_bundles(&self, block: Option<u64>) -> Result<(Vec<ObjectMeta>, bool), SyncError> {
        let list = |prefix: String| async move { self.record_info.list(&prefix).await.map_err(SyncError::List) };
        let step = self.settings.interval_blocks.max(1);
        let now = now_unix();
        let last_full = self.progress.last_full_list()?;
        let stale = last_full.is_none_or(|t| now.saturating_sub(t) >= self.settings.full_list_every.as_secs() as i64);
        let (Some(high), Some(block), false) = (self.progress.high_water()?, block, stale) else {
            let objects = list(String::new()).await?;
            self.progress.set_last_full_list(now)?;
            return Ok((objects, true));
        };
        // Up to the current interval, or the highest one ever listed if the chain is behind.
        let seen = self.progress.max_seen()?.unwrap_or(0);
        let (first, current) = (high - high % step, (block - block % step).max(seen));
        if current.saturating_sub(first) / step > MAX_PREFIX_LISTS {
            let objects = list(String::new()).await?;
            self.progress.set_last_full_list(now)?;
            return Ok((objects, true));
        }
        let mut objects = Vec::new();
        for interval in (first..=current).step_by(step as usize) {
            objects.extend(list(format!("{interval}/")).await?);
        }
        Ok((objects, false))
    }
}
