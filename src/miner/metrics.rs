//! The miner's Prometheus metrics (served on `/metrics` by [`crate::telemetry`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The `code` label: a failure code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The failure code (protocol §8), without its detail.
    pub code: String,
}

/// The miner's Prometheus metrics.
#[derive(Clone, Default)]
pub struct MinerMetrics {
    /// Rows dropped before upload, by the failure code that dropped them.
    pub dropped: Family<CodeLabel, Counter>,
    /// Rows given a new caption after the self-check failed their caption.
    pub recaptioned: Counter,
    /// Rows published.
    pub published: Counter,
    /// Discovered videos skipped before download by the category pre-check.
    pub precheck_skipped: Counter,
}

impl MinerMetrics {
    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix("nexis_miner");
        registry.register(
            "self_check_dropped_rows",
            "Rows dropped before upload because our own validator would reject them, by failure code",
            self.dropped.clone(),
        );
        registry.register(
            "self_check_recaptioned_rows",
            "Rows captioned again because the self-check rejected their caption",
            self.recaptioned.clone(),
        );
        registry.register("published_rows", "Rows published in packages", self.published.clone());
        registry.register(
            "discovery_precheck_skipped_sources",
            "Discovered videos skipped before download because the category pre-check found their thumbnail off-category",
            self.precheck_skipped.clone(),
        );
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}
