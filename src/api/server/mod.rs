//! `nexis api`: the validation evidence server, wire-compatible with the reference
//! (FastAPI) server and with both validator clients (protocol §12).
//!
//! Improvements over the reference, each tested: the allowlist comes from the metagraph
//! (validator permit and minimum stake) refreshed in the background over one chain
//! connection; an invalid mark needs a stake quorum ([`quorum`]); the body is validated
//! before the nonce is consumed; nonces are swept on a timer; bodies are capped and each
//! hotkey is rate limited; every stored row keeps its signed request (evidence); a status
//! page is served at `/`.

pub mod body;
mod handlers;
pub mod load;
pub mod local;
pub mod quorum;
mod status;
pub mod store;
pub mod verify;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use serde::Serialize;

use crate::chain::{Chain, NetUid};
use quorum::{Allowlist, Fraction};
use store::{EvidenceStore, ResultFilter, StoreError, StoredDecision};

/// Blocks between refreshes of the latest-results cache.
pub(crate) const LATEST_REFRESH_BLOCKS: u64 = 30;
/// Blocks of history in the latest-results view.
pub(crate) const LATEST_SPAN_BLOCKS: u64 = 25_000;
/// Most rows in the latest-results view.
const LATEST_MAX_ROWS: usize = 100_000;
/// How long nonces are kept: past the ±300 s window in both directions, with a margin.
pub(crate) const NONCE_TTL_SEC: i64 = 2 * verify::MAX_SKEW_SEC + 60;

/// Settings of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Subnet whose metagraph gives the allowlist.
    pub netuid: NetUid,
    /// Share of the allowed stake whose rejections make a miner invalid.
    pub quorum: Fraction,
    /// Least stake (rao) of an allowed validator.
    pub min_stake_rao: u64,
    /// Source-auth hotkeys and their vote weights.
    pub source_auth: HashMap<String, Fraction>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Signed requests per minute per hotkey (burst of the same size); 0 turns limiting off.
    pub rate_per_min: u32,
    /// How often the allowlist is re-read from the metagraph.
    pub allowlist_refresh: Duration,
    /// How often the current block is polled.
    pub block_poll: Duration,
    /// How often used nonces are swept.
    pub nonce_sweep: Duration,
    /// Longest time to receive a request body.
    pub body_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            netuid: 1,
            quorum: Fraction { num: 1, den: 3 },
            min_stake_rao: 0,
            source_auth: HashMap::new(),
            max_body_bytes: 1 << 20,
            rate_per_min: 120,
            allowlist_refresh: Duration::from_secs(120),
            block_poll: Duration::from_secs(12),
            nonce_sweep: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// The cached `get_latest_result` reply.
#[derive(Debug, Clone)]
pub(crate) struct LatestCache {
    block: u64,
    body: Bytes,
}

#[derive(Serialize)]
struct LatestBody<'a> {
    current_block: u64,
    start_interval_id: u64,
    end_interval_id: u64,
    refreshed_every_blocks: u64,
    cached_at: String,
    decisions: &'a [StoredDecision],
}

/// A token bucket per hotkey.
#[derive(Debug, Default)]
struct Limiter {
    buckets: HashMap<String, (f64, Instant)>,
}

impl Limiter {
    fn allow(&mut self, hotkey: &str, per_min: u32, now: Instant) -> bool {
        if per_min == 0 {
            return true;
        }
        let cap = f64::from(per_min);
        let (tokens, at) = self.buckets.entry(hotkey.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * cap / 60.0).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The shared state behind every handler.
pub struct ApiServer {
    store: Arc<dyn EvidenceStore>,
    config: ServerConfig,
    allow: RwLock<Arc<Allowlist>>,
    latest: RwLock<Option<LatestCache>>,
    limiter: Mutex<Limiter>,
}

impl ApiServer {
    /// A server over `store` with an empty allowlist (nobody may post until
    /// [`Self::set_allowlist`] or the refresher fills it).
    pub fn new(store: Arc<dyn EvidenceStore>, config: ServerConfig) -> Arc<Self> {
        let allow = Allowlist { source_auth: config.source_auth.clone(), ..Default::default() };
        Arc::new(Self {
            store,
            config,
            allow: RwLock::new(Arc::new(allow)),
            latest: RwLock::new(None),
            limiter: Mutex::new(Limiter::default()),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn EvidenceStore> {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The current allowlist.
    pub fn allowlist(&self) -> Arc<Allowlist> {
        self.allow.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// Replaces the allowlist.
    pub fn set_allowlist(&self, allow: Allowlist) {
        if let Ok(mut slot) = self.allow.write() {
            *slot = Arc::new(allow);
        }
    }

    fn rate_ok(&self, hotkey: &str) -> bool {
        self.limiter.lock().map(|mut l| l.allow(hotkey, self.config.rate_per_min, Instant::now())).unwrap_or(true)
    }

    /// Rebuilds the `get_latest_result` cache for `block` now.
    pub async fn refresh_latest(&self, block: u64) -> Result<(), StoreError> {
        let start = block.saturating_sub(LATEST_SPAN_BLOCKS);
        let filter =
            ResultFilter { interval_range: Some((start, block)), limit: LATEST_MAX_ROWS, ..Default::default() };
        let decisions = self.store.results(&filter).await?;
        let body = LatestBody {
            current_block: block,
            start_interval_id: start,
            end_interval_id: block,
            refreshed_every_blocks: LATEST_REFRESH_BLOCKS,
            cached_at: chrono::Utc::now().to_rfc3339(),
            decisions: &decisions,
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Ok(mut slot) = self.latest.write() {
            *slot = Some(LatestCache { block, body: Bytes::from(bytes) });
        }
        Ok(())
    }

    fn latest(&self) -> Option<LatestCache> {
        self.latest.read().ok().and_then(|l| l.clone())
    }

    /// Reads the metagraph once and installs its allowlist.
    pub async fn refresh_allowlist(&self, chain: &dyn Chain) -> Result<usize, crate::chain::ChainError> {
        let metagraph = chain.metagraph(self.config.netuid).await?;
        let allow = Allowlist::from_metagraph(&metagraph, self.config.min_stake_rao, &self.config.source_auth);
        let n = allow.stakes.len();
        self.set_allowlist(allow);
        Ok(n)
    }

    /// The HTTP routes.
    pub(crate) fn router(self: &Arc<Self>) -> Router {
        handlers::routes().with_state(self.clone())
    }

    /// Background upkeep until `shutdown` turns true: the allowlist from `chain` every
    /// `allowlist_refresh`, the latest-results cache every 30 blocks, nonce sweeping every
    /// `nonce_sweep`. Failures are logged and retried on the next tick.
    pub async fn run_upkeep(self: Arc<Self>, chain: Arc<dyn Chain>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut next_allow = Instant::now();
        let mut next_sweep = Instant::now() + self.config.nonce_sweep;
        let tick = self.config.block_poll.min(self.config.nonce_sweep).max(Duration::from_millis(10));
        loop {
            let now = Instant::now();
            if now >= next_allow {
                match self.refresh_allowlist(chain.as_ref()).await {
                    Ok(n) => tracing::debug!(validators = n, "allowlist refreshed"),
                    Err(e) => tracing::warn!(error = %e, "allowlist refresh failed; keeping the previous list"),
                }
                next_allow = now + self.config.allowlist_refresh;
            }
            match chain.current_block().await {
                Ok(block) => {
                    let due = self.latest().is_none_or(|c| block >= c.block + LATEST_REFRESH_BLOCKS || block < c.block);
                    if due && let Err(e) = self.refresh_latest(block).await {
                        tracing::warn!(error = %e, "latest-results refresh failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the current block"),
            }
            if now >= next_sweep {
                match self.store.sweep_nonces(crate::api::unix_now() as i64 - NONCE_TTL_SEC).await {
                    Ok(n) => tracing::debug!(swept = n, "old nonces swept"),
                    Err(e) => tracing::warn!(error = %e, "nonce sweep failed"),
                }
                next_sweep = now + self.config.nonce_sweep;
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

/// Binds `addr` and serves `server` until `shutdown` turns true; returns the bound
/// address and the serving task.
pub async fn serve(
    server: &Arc<ApiServer>,
    addr: SocketAddr,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = server.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                while !*shutdown.borrow() {
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refills() {
        let mut l = Limiter::default();
        let t = Instant::now();
        assert!(l.allow("a", 2, t) && l.allow("a", 2, t));
        assert!(!l.allow("a", 2, t), "burst of 2 spent");
        assert!(l.allow("b", 2, t), "per hotkey");
        assert!(l.allow("a", 2, t + Duration::from_secs(30)), "one token per 30 s at 2/min");
        assert!(l.allow("x", 0, t) && l.allow("x", 0, t), "0 = off");
    }
}
