//! `nexis demo`: a whole subnet on one machine, with no accounts and no network. An
//! embedded chain stepped block by block, one directory per miner bucket, one validator
//! and several miners — honest ones and three that cheat in different ways — all running
//! the real code: [`Miner::mine_interval`](crate::miner::Miner::mine_interval) for every
//! package and [`ValidatorService::tick`](crate::validator::ValidatorService::tick)
//! for every decision and weight submission.
//!
//! [`subnet`] sets the world up (chain, keys, buckets, synthetic sources, miners,
//! validator), [`cheats`] holds what the dishonest miners do, [`captions`] the
//! deterministic caption provider, [`run`] the interval loop and [`report`] the timeline,
//! the summary table and the JSON document.

pub mod captions;
pub(crate) mod cheats;
mod dataset;
pub mod report;
pub mod run;
pub mod subnet;

use std::path::PathBuf;
use std::time::Duration;

use crate::chain::ChainError;
use crate::chain::commitment::CommitmentError;
use crate::media::MediaError;
use crate::miner::MineError;
use crate::miner::ledger::LedgerError;
use crate::miner::package::PackageError;
use crate::protocol::IntervalClock;
use crate::spec::SpecError;
use crate::storage::StorageError;
use crate::validator::ScoringWindows;
use crate::validator::{ServiceError, StateError};

pub use report::DemoReport;
pub use run::run;

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    /// An empty (or absent) directory for the chain, buckets, miners and validator state.
    pub workdir: PathBuf,
    /// Block constants; the demo's defaults are short (see [`DemoSettings::demo_clock`]).
    pub clock: IntervalClock,
    /// Scoring windows used to turn decisions into weights.
    pub windows: ScoringWindows,
    /// Intervals to mine and validate.
    pub intervals: u64,
    /// Clips each miner packages per interval.
    pub clips_per_interval: usize,
    /// Wall time between two blocks while the demo steps the chain.
    pub block_time: Duration,
}

impl DemoSettings {
    /// The demo's block constants: 10-block intervals, 2 blocks of upload reserve, a
    /// 30-block weight epoch.
    pub fn demo_clock() -> IntervalClock {
        IntervalClock { interval_blocks: 10, upload_reserve_blocks: 2, weight_epoch_blocks: 30, block_time_sec: 12 }
    }

    /// Enough intervals that the last one closes in the second weight epoch, so one full
    /// epoch of decisions is turned into weights.
    pub fn intervals_for_one_epoch(clock: &IntervalClock) -> u64 {
        let blocks = clock.weight_epoch_blocks.saturating_sub(clock.upload_reserve_blocks).max(1);
        blocks.div_ceil(clock.interval_blocks.max(1)).max(1)
    }

    /// Defaults for `workdir`.
    pub fn new(workdir: PathBuf) -> Self {
        let clock = Self::demo_clock();
        Self {
            workdir,
            clock,
            windows: ScoringWindows::default(),
            intervals: Self::intervals_for_one_epoch(&clock),
            clips_per_interval: 2,
            block_time: Duration::from_millis(20),
        }
    }
}

/// Why the demo could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The settings make no demo (e.g. zero intervals).
    #[error("{0}")]
    Settings(String),
    /// A file or directory of the work directory failed.
    #[error("{path}: {message}")]
    Io {
        /// The path at fault.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// Synthetic media could not be made.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The embedded chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The demo's generated read credentials were refused.
    #[error("demo credentials: {0}")]
    Commitment(#[from] CommitmentError),
    /// The dataset spec could not be loaded.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A demo bucket failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A miner's source ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A miner's package could not be built.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A miner's interval failed.
    #[error("miner {miner}: {source}")]
    Mine {
        /// The miner's name in the demo.
        miner: String,
        /// What went wrong.
        #[source]
        source: MineError,
    },
    /// The validator's state file failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The validator service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A dishonest miner's trick could not be staged.
    #[error("cheating miner: {0}")]
    Cheat(String),
    /// The local validation API could not start.
    #[error(transparent)]
    Api(#[from] crate::evidence_server::local::LocalServerError),
    /// The validator skipped an interval the demo expected it to evaluate.
    #[error("the validator did not evaluate interval {0} (see the log for why)")]
    NotEvaluated(u64),
    /// The owner's dataset sync failed.
    #[error("owner dataset sync: {0}")]
    OwnerSync(String),
}
