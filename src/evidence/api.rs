//! The evidence API as the validator loop uses it: the hotkeys to leave out of an
//! interval and the report of its decisions. The trait lets the demo report to its local
//! server and tests answer without a network.

use std::collections::BTreeSet;

use async_trait::async_trait;
use tracing::{debug, warn};

use super::EvidenceClient;
use crate::model::Decision;

/// The optional central evidence service, as the loop uses it.
#[async_trait]
pub trait EvidenceApi: Send + Sync {
    /// Hotkeys to leave out for `interval_id`: the API's invalid list and its blacklist.
    async fn excluded_hotkeys(&self, interval_id: u64) -> BTreeSet<String>;
    /// Reports an interval's decisions; failures are logged, never fatal.
    async fn report(&self, interval_id: u64, decisions: &[Decision]);
}

#[async_trait]
impl EvidenceApi for EvidenceClient {
    async fn excluded_hotkeys(&self, interval_id: u64) -> BTreeSet<String> {
        let (invalid, blacklist) = tokio::join!(self.invalid_hotkeys(interval_id), self.blacklist());
        invalid.into_iter().chain(blacklist).map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect()
    }

    async fn report(&self, interval_id: u64, decisions: &[Decision]) {
        match self.post_results(interval_id, decisions).await {
            Ok(()) => debug!(interval_id, decisions = decisions.len(), "reported to the evidence API"),
            Err(e) => {
                warn!(interval_id, error = %e, "reporting to the evidence API failed (validation is unaffected)")
            }
        }
    }
}
