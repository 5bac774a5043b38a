//! One way to build a validator: [`ValidatorConfig`] holds every part and setting (the CLI,
//! the demo, tests and benches all fill in the same struct), and
//! [`ValidatorConfig::build`] checks it and gives the running [`ValidatorService`].

use std::sync::Arc;

use super::PackageValidator;
pub use super::interval::Seat;
use super::interval::{IntervalEvaluator, IntervalSettings};
use super::metrics::Metrics;
use super::service::{IntervalPublisher, ServiceSettings, ValidatorService};
use super::state::ValidatorState;
use crate::chain::Chain;
use crate::evidence::EvidenceApi;
use crate::index::refresh::SnapshotSource;
use crate::storage::MinerStores;

/// A settings error found by [`ValidatorConfig::build`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A length of the interval clock is zero.
    #[error("{0} must be positive")]
    ZeroLength(&'static str),
}

/// Every part and setting of a validator, filled in once, then [`Self::build`].
pub struct ValidatorConfig {
    /// Subnet, clock and hotkey.
    pub seat: Seat,
    /// The chain read and written.
    pub chain: Arc<dyn Chain>,
    /// How miner buckets are opened.
    pub stores: Arc<dyn MinerStores>,
    /// The per-package pipeline (specs, probe, limits, row checks).
    pub packages: PackageValidator,
    /// The recorded state (decisions, weights, overlap index, owner work).
    pub state: ValidatorState,
    /// How intervals are evaluated.
    pub intervals: IntervalSettings,
    /// How the loop polls and sets weights.
    pub service: ServiceSettings,
    /// The validation API (exclusions and reports), if configured.
    pub api: Option<Arc<dyn EvidenceApi>>,
    /// The shared overlap snapshot, if a record-info bucket is configured.
    pub snapshot: Option<SnapshotSource>,
    /// Post-interval work (owner mode).
    pub publisher: Option<Arc<dyn IntervalPublisher>>,
    /// Where the loop's metrics go.
    pub metrics: Arc<Metrics>,
}

impl ValidatorConfig {
    /// A validator of `seat` with default settings: no API, no snapshot, no publisher.
    pub fn new(
        seat: Seat,
        chain: Arc<dyn Chain>,
        stores: Arc<dyn MinerStores>,
        packages: PackageValidator,
        state: ValidatorState,
    ) -> Self {
        Self {
            seat,
            chain,
            stores,
            packages,
            state,
            intervals: IntervalSettings::default(),
            service: ServiceSettings::default(),
            api: None,
            snapshot: None,
            publisher: None,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Checks the settings and builds the running validator.
    pub fn build(self) -> Result<ValidatorService, ConfigError> {
        let clock = &self.seat.clock;
        for (name, value) in
            [("NEXIS_INTERVAL_BLOCKS", clock.interval_blocks), ("NEXIS_WEIGHT_EPOCH_BLOCKS", clock.weight_epoch_blocks)]
        {
            if value == 0 {
                return Err(ConfigError::ZeroLength(name));
            }
        }
        if self.service.poll.is_zero() {
            return Err(ConfigError::ZeroLength("NEXIS_BLOCK_POLL_SEC"));
        }
        let evaluator = IntervalEvaluator::new(self.seat, self.chain, self.stores, self.packages, self.intervals);
        Ok(ValidatorService::new(
            evaluator,
            self.state,
            self.api,
            self.metrics,
            self.service,
            self.snapshot,
            self.publisher,
        ))
    }
}
