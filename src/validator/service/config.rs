//! One way to build a validator: [`ValidatorConfig`] holds every part and setting (the CLI,
//! the demo, tests and benches all fill in the same struct), and
//! [`ValidatorConfig::build`] checks it and gives the running [`ValidatorService`]. Errors
//! name the [`ConfigField`] at fault; the CLI maps each to its flag.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::metrics::Metrics;
use super::state::ValidatorState;
use super::{IntervalPublisher, ValidatorService};
use crate::chain::Chain;
use crate::chain::weight_rules::VersionKeyPolicy;
use crate::evidence::EvidenceApi;
use crate::index::refresh::SnapshotSource;
use crate::storage::MinerStores;
use crate::validator::interval::{IntervalEvaluator, IntervalSettings, Seat};
use crate::validator::package::PackageValidator;
use crate::validator::scoring::ScoringWindows;

/// How the loop polls and sets weights.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Scoring and rejection windows of the weights (protocol §11).
    pub windows: ScoringWindows,
    /// Which weights version key to send (this release's own by default).
    pub version_key: VersionKeyPolicy,
    /// The mechanism weights are set for (`NEXIS_WEIGHTS_MECHID`, 0: the main one).
    pub mecid: u8,
    /// Time between block polls.
    pub poll: Duration,
    /// Liveness file written after every iteration that reached the chain.
    pub heartbeat: Option<PathBuf>,
    /// Whether to set weights at all (off for a dry run of the evaluation loop).
    pub set_weights: bool,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            windows: ScoringWindows::default(),
            version_key: VersionKeyPolicy::default(),
            mecid: 0,
            poll: Duration::from_secs(12),
            heartbeat: None,
            set_weights: true,
        }
    }
}

/// A setting of [`ValidatorConfig`] that [`ValidatorConfig::build`] checks; the CLI names
/// the flag behind each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigField {
    /// `seat.clock.interval_blocks`: blocks per interval.
    IntervalBlocks,
    /// `seat.clock.weight_epoch_blocks`: blocks per weight epoch.
    WeightEpochBlocks,
    /// `service.poll`: the time between block polls.
    Poll,
}

impl ConfigField {
    /// The field's path in [`ValidatorConfig`].
    pub fn path(self) -> &'static str {
        match self {
            Self::IntervalBlocks => "seat.clock.interval_blocks",
            Self::WeightEpochBlocks => "seat.clock.weight_epoch_blocks",
            Self::Poll => "service.poll",
        }
    }
}

impl std::fmt::Display for ConfigField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.path())
    }
}

/// A settings error found by [`ValidatorConfig::build`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A length of the interval clock, or the poll period, is zero.
    #[error("{0} must be positive")]
    ZeroLength(ConfigField),
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
        for (field, value) in [
            (ConfigField::IntervalBlocks, clock.interval_blocks),
            (ConfigField::WeightEpochBlocks, clock.weight_epoch_blocks),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLength(field));
            }
        }
        if self.service.poll.is_zero() {
            return Err(ConfigError::ZeroLength(ConfigField::Poll));
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
