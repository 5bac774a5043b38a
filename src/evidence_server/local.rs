//! `nexis api` inside another process (the demo): the server on the embedded SQLite store
//! and a loopback port, its allowlist from the given chain, and an adapter through which a
//! validator reports to it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::store::{StoreError, open_store};
use super::{EvidenceServer, ServerConfig, quorum, serve};
use crate::chain::{Chain, Hotkey, NetUid};
use crate::evidence::EvidenceApi;
use crate::evidence::{DEFAULT_TIMEOUT, EvidenceClient};
use crate::model::Decision;

/// Why the local server did not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalServerError {
    /// The evidence store could not be opened.
    #[error("evidence API store: {0}")]
    Store(#[from] StoreError),
    /// Binding or serving failed.
    #[error("evidence API: {0}")]
    Other(String),
}

/// The invalid window of one interval as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct InvalidWindow {
    /// The interval asked about.
    pub(crate) interval_id: u64,
    /// First interval of the window.
    pub(crate) start: u64,
    /// Last interval of the window.
    pub(crate) end: u64,
    /// Hotkeys listed invalid (sorted).
    pub(crate) hotkeys: Vec<String>,
    /// Display names of those hotkeys, when the caller knows them (same order).
    pub(crate) names: Vec<String>,
}

/// A running local server.
pub struct LocalEvidenceServer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    server: Arc<EvidenceServer>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl LocalEvidenceServer {
    /// Starts the server with its embedded store under `workdir/api/`, the allowlist of
    /// `netuid` on `chain` (refreshed every `poll`).
    pub(crate) async fn start(
        workdir: &Path,
        chain: Arc<dyn Chain>,
        netuid: NetUid,
        poll: Duration,
    ) -> Result<Self, LocalServerError> {
        let store = open_store(None, workdir).await?;
        let config = ServerConfig { netuid, allowlist_refresh: poll, block_poll: poll, ..ServerConfig::default() };
        let server = EvidenceServer::new(store, config);
        server.refresh_allowlist(chain.as_ref()).await.map_err(|e| LocalServerError::Other(e.to_string()))?;
        let (stop, rx) = tokio::sync::watch::channel(false);
        let addr = "127.0.0.1:0".parse().map_err(|e| LocalServerError::Other(format!("{e}")))?;
        let (bound, _task) =
            serve(&server, addr, rx.clone()).await.map_err(|e| LocalServerError::Other(e.to_string()))?;
        tokio::spawn(server.clone().run_upkeep(chain, rx));
        Ok(Self { url: format!("http://{bound}"), server, stop })
    }

    /// A client of this server signing with `hotkey`.
    pub(crate) fn client(&self, hotkey: Hotkey) -> Result<EvidenceClient, LocalServerError> {
        EvidenceClient::new(&self.url, DEFAULT_TIMEOUT, hotkey).map_err(|e| LocalServerError::Other(e.to_string()))
    }

    /// The invalid window of `interval_id`.
    pub(crate) async fn invalid_window(&self, interval_id: u64) -> Result<InvalidWindow, LocalServerError> {
        let hotkeys = self.server.invalid_window(interval_id).await?;
        let (start, end) = quorum::window(interval_id);
        Ok(InvalidWindow { interval_id, start, end, hotkeys, names: Vec::new() })
    }
}

impl Drop for LocalEvidenceServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Reports to the API but applies no exclusions (a demo shows the window without acting
/// on it, so its intervals stay comparable).
pub(crate) struct ReportOnly(pub EvidenceClient);

#[async_trait]
impl EvidenceApi for ReportOnly {
    async fn excluded_hotkeys(&self, _interval_id: u64) -> BTreeSet<String> {
        BTreeSet::new()
    }

    async fn report(&self, interval_id: u64, decisions: &[Decision]) {
        self.0.report(interval_id, decisions).await;
    }
}
