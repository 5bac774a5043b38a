//! The evidence API server (`nexis api`), wire-compatible with the reference (FastAPI)
//! server and with both validator clients (protocol §12). It sits above the client module
//! [`crate::evidence`], whose request signing and bodies it verifies; the client never
//! imports the server.
//!
//! Improvements over the reference, each tested: the allowlist comes from the metagraph
//! (validator permit and minimum stake) refreshed in the background over one chain
//! connection; an invalid mark needs a stake quorum ([`quorum`]); the body is validated
//! before the nonce is consumed; nonces are swept on a timer; bodies are capped and each
//! hotkey is rate limited; every stored row keeps its signed request (evidence); a status
//! page is served at `/`.

pub mod body;
mod handlers;
mod latest;
mod limit;
pub mod listen;
pub mod load;
pub mod local;
pub mod quorum;
mod status;
pub mod store;
pub mod verify;
mod votes;
mod window;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;

use crate::chain::{Chain, NetUid};
use latest::LatestCache;
use limit::Limiter;
use quorum::{Allowlist, Fraction};
use store::{EvidenceStore, ResultFilter, StoreError};

/// Blocks between refreshes of the latest-results cache.
pub(crate) const LATEST_REFRESH_BLOCKS: u64 = 30;
/// Blocks of history in the latest-results view.
pub(crate) const LATEST_SPAN_BLOCKS: u64 = 25_000;
/// Most rows in the latest-results view.
const LATEST_MAX_ROWS: usize = 100_000;
/// Most bytes of rows in the latest-results view.
const LATEST_MAX_BYTES: usize = 32 << 20;
/// Default retention, interval ids (blocks): the latest-results view and a margin; the
/// quorum window (500) and the status page (the current block − 2000) need less.
pub const DEFAULT_RETENTION_INTERVALS: u64 = LATEST_SPAN_BLOCKS + 5_000;
/// Rows of each table deleted per pruning statement.
const PRUNE_BATCH: usize = 1000;
/// Evidence no row refers to any more (superseded) is kept this long.
const SUPERSEDED_GRACE_SEC: i64 = 3600;
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
    /// Unauthenticated reads per minute per client address (burst of the same size); 0
    /// turns limiting off (behind a reverse proxy every client has the proxy's address).
    pub read_rate_per_min: u32,
    /// How often the allowlist is re-read from the metagraph.
    pub allowlist_refresh: Duration,
    /// How often the current block is polled.
    pub block_poll: Duration,
    /// How often used nonces are swept.
    pub nonce_sweep: Duration,
    /// Longest time to receive a request body.
    pub body_timeout: Duration,
    /// Decisions, invalid marks and evidence of intervals more than this many interval ids
    /// (blocks) below the current block are pruned; 0 keeps everything.
    pub retention_intervals: u64,
    /// Header and idle timeouts and the connection cap.
    pub conn: listen::ConnLimits,
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
            read_rate_per_min: 600,
            allowlist_refresh: Duration::from_secs(120),
            block_poll: Duration::from_secs(12),
            nonce_sweep: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            retention_intervals: DEFAULT_RETENTION_INTERVALS,
            conn: listen::ConnLimits::default(),
        }
    }
}

/// The shared state behind every handler.
pub struct EvidenceServer {
    store: Arc<dyn EvidenceStore>,
    config: ServerConfig,
    allow: RwLock<Arc<Allowlist>>,
    latest: RwLock<Option<LatestCache>>,
    limiter: Mutex<Limiter>,
    readers: Mutex<Limiter>,
    votes: Mutex<window::VoteState>,
    block: AtomicU64,
}

impl EvidenceServer {
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
            readers: Mutex::new(Limiter::default()),
            votes: Mutex::new(window::VoteState::default()),
            block: AtomicU64::new(0),
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

    fn read_ok(&self, client: IpAddr) -> bool {
        let key = client.to_string();
        self.readers.lock().map(|mut l| l.allow(&key, self.config.read_rate_per_min, Instant::now())).unwrap_or(true)
    }

    /// Records the chain's current block (the upkeep does this on every poll; the quorum
    /// cache keeps the intervals from this block minus its span up, and is used only once a
    /// block is known).
    pub fn set_current_block(&self, block: u64) {
        self.block.store(block, Ordering::Relaxed);
    }

    /// The current block, when known.
    pub(crate) fn current_block(&self) -> Option<u64> {
        Some(self.block.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }

    /// Rebuilds the `get_latest_result` cache for `block` now.
    pub async fn refresh_latest(&self, block: u64) -> Result<(), StoreError> {
        let start = block.saturating_sub(LATEST_SPAN_BLOCKS);
        let filter = ResultFilter {
            interval_range: Some((start, block)),
            limit: LATEST_MAX_ROWS,
            max_bytes: LATEST_MAX_BYTES,
            ..Default::default()
        };
        let listing = self.store.results(&filter).await?;
        let cache = tokio::task::spawn_blocking(move || LatestCache::build(block, start, &listing))
            .await
            .map_err(|e| StoreError::Corrupt(format!("building the latest results: {e}")))??;
        if let Ok(mut slot) = self.latest.write() {
            *slot = Some(cache);
        }
        latest::return_free_heap();
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

    /// Prunes what retention drops at `block`, [`PRUNE_BATCH`] rows per table at a time
    /// (yielding between batches, so posts interleave); returns the rows deleted.
    pub async fn prune(&self, block: u64) -> Result<u64, StoreError> {
        let before_interval = match self.config.retention_intervals {
            0 => 0,
            keep => block.saturating_sub(keep),
        };
        let superseded_before = crate::evidence::unix_now() as i64 - SUPERSEDED_GRACE_SEC;
        let mut total = 0;
        loop {
            let n = self.store.prune(before_interval, superseded_before, PRUNE_BATCH).await?;
            total += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// The HTTP routes.
    pub(crate) fn router(self: &Arc<Self>) -> Router {
        handlers::routes(self).with_state(self.clone())
    }

    /// Background upkeep until `shutdown` turns true: the allowlist from `chain` every
    /// `allowlist_refresh`, the latest-results cache every 30 blocks, nonce sweeping and
    /// retention pruning every `nonce_sweep`. Failures are logged and retried on the next tick.
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
                    self.set_current_block(block);
                    let due = self.latest().is_none_or(|c| block >= c.block + LATEST_REFRESH_BLOCKS || block < c.block);
                    if due && let Err(e) = self.refresh_latest(block).await {
                        tracing::warn!(error = %e, "latest-results refresh failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the current block"),
            }
            if now >= next_sweep {
                match self.store.sweep_nonces(crate::evidence::unix_now() as i64 - NONCE_TTL_SEC).await {
                    Ok(n) => tracing::debug!(swept = n, "old nonces swept"),
                    Err(e) => tracing::warn!(error = %e, "nonce sweep failed"),
                }
                if let Some(block) = self.current_block() {
                    match self.prune(block).await {
                        Ok(n) => tracing::debug!(pruned = n, "old evidence pruned"),
                        Err(e) => tracing::warn!(error = %e, "evidence pruning failed"),
                    }
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

/// Binds `addr` and serves `server` until `shutdown` turns true (under its connection
/// limits, [`listen`]); returns the bound address and the serving task.
pub async fn serve(
    server: &Arc<EvidenceServer>,
    addr: SocketAddr,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(listen::accept_loop(listener, server.router(), server.config.conn, shutdown));
    Ok((bound, task))
}
