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
use super::{ApiServer, ServerConfig, quorum, serve};
use crate::api::EvidenceApi;
use crate::api::{DEFAULT_TIMEOUT, ValidationApi};
use crate::chain::{Chain, Hotkey, NetUid};
use crate::model::Decision;

/// Why the local server did not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalApiError {
    /// The evidence store could not be opened.
    #[error("validation API store: {0}")]
    Store(#[from] StoreError),
    /// Binding or serving failed.
    #[error("validation API: {0}")]
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
pub struct LocalApi {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    server: Arc<ApiServer>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl LocalApi {
    /// Starts the server with its embedded store under `workdir/api/`, the allowlist of
    /// `netuid` on `chain` (refreshed every `poll`).
    pub(crate) async fn start(
        workdir: &Path,
        chain: Arc<dyn Chain>,
        netuid: NetUid,
        poll: Duration,
    ) -> Result<Self, LocalApiError> {
        let store = open_store(None, workdir).await?;
        let config = ServerConfig { netuid, allowlist_refresh: poll, block_poll: poll, ..ServerConfig::default() };
        let server = ApiServer::new(store, config);
        server.refresh_allowlist(chain.as_ref()).await.map_err(|e| LocalApiError::Other(e.to_string()))?;
        let (stop, rx) = tokio::sync::watch::channel(false);
        let addr = "127.0.0.1:0".parse().map_err(|e| LocalApiError::Other(format!("{e}")))?;
        let (bound, _task) = serve(&server, addr, rx.clone()).await.map_err(|e| LocalApiError::Other(e.to_string()))?;
        tokio::spawn(server.clone().run_upkeep(chain, rx));
        Ok(Self { url: format!("http://{bound}"), server, stop })
    }

    /// A client of this server signing with `hotkey`.
    pub(crate) fn client(&self, hotkey: Hotkey) -> Result<ValidationApi, LocalApiError> {
        ValidationApi::new(&self.url, DEFAULT_TIMEOUT, hotkey).map_err(|e| LocalApiError::Other(e.to_string()))
    }

    /// The invalid window of `interval_id`.
    pub(crate) async fn invalid_window(&self, interval_id: u64) -> Result<InvalidWindow, LocalApiError> {
        let hotkeys = self.server.invalid_window(interval_id).await?;
        let (start, end) = quorum::window(interval_id);
        Ok(InvalidWindow { interval_id, start, end, hotkeys, names: Vec::new() })
    }
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Reports to the API but applies no exclusions (a demo shows the window without acting
/// on it, so its intervals stay comparable).
pub(crate) struct ReportOnly(pub ValidationApi);

#[async_trait]
impl EvidenceApi for ReportOnly {
    async fn excluded_hotkeys(&self, _interval_id: u64) -> BTreeSet<String> {
        BTreeSet::new()
    }

    async fn report(&self, interval_id: u64, decisions: &[Decision]) {
        self.0.report(interval_id, decisions).await;
    }
}
