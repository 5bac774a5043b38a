//! How the server answers quorum questions: from the in-memory [`VoteCache`] once the
//! current block is known (built once from the store, then updated by every POST), from
//! the store otherwise (before the first block, or for a window below the cache's floor).

use super::EvidenceServer;
use super::quorum;
use super::store::StoreError;
use super::votes::{CACHE_SPAN, VoteCache, VoteChange};
use crate::protocol::IntervalId;

/// Where the quorum cache stands.
#[derive(Debug, Default)]
pub(crate) enum VoteState {
    /// Not built (no block known yet, or the last build failed).
    #[default]
    Cold,
    /// Being loaded from the store; the POSTs stored meanwhile, to replay.
    Building(Vec<VoteChange>),
    /// Built and current.
    Ready(VoteCache),
}

impl EvidenceServer {
    /// Applies a stored POST to the quorum cache.
    pub(crate) fn note_votes(&self, change: VoteChange) {
        let Ok(mut state) = self.votes.lock() else { return };
        match &mut *state {
            VoteState::Cold => {}
            VoteState::Building(pending) => pending.push(change),
            VoteState::Ready(cache) => cache.apply(&change),
        }
    }

    /// Runs `read` on the cache when it is built (building it first when it is cold and the
    /// block is known); `None` when the store must answer.
    async fn with_votes<T>(&self, read: impl Fn(&VoteCache) -> Option<T>) -> Result<Option<T>, StoreError> {
        let Some(block) = self.current_block() else { return Ok(None) };
        let floor = block.saturating_sub(CACHE_SPAN);
        let allow = self.allowlist();
        {
            let Ok(mut state) = self.votes.lock() else { return Ok(None) };
            match &mut *state {
                VoteState::Ready(cache) => {
                    cache.set_allowlist(&allow);
                    cache.raise_floor(floor);
                    return Ok(read(cache));
                }
                VoteState::Building(_) => return Ok(None),
                VoteState::Cold => *state = VoteState::Building(Vec::new()),
            }
        }
        let loaded = self.store.votes(IntervalId::new(floor)..=IntervalId::new(i64::MAX as u64)).await;
        let Ok(mut state) = self.votes.lock() else { return Ok(None) };
        let votes = match loaded {
            Ok(v) => v,
            Err(e) => {
                *state = VoteState::Cold;
                return Err(e);
            }
        };
        let pending = match std::mem::take(&mut *state) {
            VoteState::Building(p) => p,
            _ => Vec::new(),
        };
        let mut cache = VoteCache::new(floor, votes, allow, self.config.quorum);
        for change in &pending {
            cache.apply(change);
        }
        tracing::debug!(floor = cache.floor(), replayed = pending.len(), "quorum cache built");
        let out = read(&cache);
        *state = VoteState::Ready(cache);
        Ok(out)
    }

    /// The invalid hotkeys of the window of `interval_id` under the current allowlist.
    pub(crate) async fn invalid_window(&self, interval_id: u64) -> Result<Vec<String>, StoreError> {
        let (lo, hi) = quorum::window(interval_id);
        let window = IntervalId::new(lo)..=IntervalId::new(hi);
        if let Some(hit) = self.with_votes(|c| c.invalid_union(window.clone())).await? {
            return Ok(hit);
        }
        let votes = self.store.votes(window).await?;
        Ok(quorum::invalid_union(&votes, &self.allowlist(), self.config.quorum))
    }
}
