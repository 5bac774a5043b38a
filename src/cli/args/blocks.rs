//! Block constants of the interval clock and the scoring windows, as flags; the live
//! network's values are the defaults and any override is logged.

use anyhow::bail;
use clap::Args;
use nexis::protocol::IntervalClock;
use nexis::validator::ScoringWindows;
use tracing::warn;

/// The interval length alone (for commands that need no other block constant).
#[derive(Debug, Args)]
pub(crate) struct IntervalBlocksArg {
    /// Interval length in blocks (50).
    #[arg(long, env = "NEXIS_INTERVAL_BLOCKS")]
    pub(crate) interval_blocks: Option<u64>,
}

impl IntervalBlocksArg {
    /// The interval length: the live network's unless overridden (logged); zero is refused.
    pub(crate) fn resolve(&self) -> anyhow::Result<u64> {
        let default = IntervalClock::default().interval_blocks;
        match self.interval_blocks {
            None => Ok(default),
            Some(0) => bail!("NEXIS_INTERVAL_BLOCKS must be positive"),
            Some(v) => {
                warn!(setting = "NEXIS_INTERVAL_BLOCKS", value = v, default, "block constant overridden");
                Ok(v)
            }
        }
    }
}

/// Block constants; the live-network values are the defaults and any override is logged.
#[derive(Debug, Args)]
pub(crate) struct BlockArgs {
    #[command(flatten)]
    pub(crate) interval: IntervalBlocksArg,
    /// Blocks after an interval before it is validated (2).
    #[arg(long, env = "NEXIS_UPLOAD_RESERVE_BLOCKS")]
    pub(crate) upload_reserve_blocks: Option<u64>,
    /// Weight epoch length in blocks (250).
    #[arg(long, env = "NEXIS_WEIGHT_EPOCH_BLOCKS")]
    pub(crate) weight_epoch_blocks: Option<u64>,
    /// Block time used to estimate timestamps, seconds (12).
    #[arg(long, env = "NEXIS_BLOCK_TIME_SEC")]
    pub(crate) block_time_sec: Option<u64>,
    /// Blocks of intervals summed into one epoch's scores (1600).
    #[arg(long, env = "NEXIS_SCORE_WINDOW_BLOCKS")]
    pub(crate) score_window_blocks: Option<u64>,
    /// A rejection within this many blocks zeroes a miner (500).
    #[arg(long, env = "NEXIS_REJECTION_WINDOW_BLOCKS")]
    pub(crate) rejection_window_blocks: Option<u64>,
}

impl BlockArgs {
    /// The clock and windows, refusing zero lengths and logging every override.
    pub(crate) fn resolve(&self) -> anyhow::Result<(IntervalClock, ScoringWindows)> {
        let mut clock = IntervalClock::default();
        let mut windows = ScoringWindows::default();
        clock.interval_blocks = self.interval.resolve()?;
        let overrides = [
            ("NEXIS_UPLOAD_RESERVE_BLOCKS", self.upload_reserve_blocks, &mut clock.upload_reserve_blocks),
            ("NEXIS_WEIGHT_EPOCH_BLOCKS", self.weight_epoch_blocks, &mut clock.weight_epoch_blocks),
            ("NEXIS_BLOCK_TIME_SEC", self.block_time_sec, &mut clock.block_time_sec),
            ("NEXIS_SCORE_WINDOW_BLOCKS", self.score_window_blocks, &mut windows.score_blocks),
            ("NEXIS_REJECTION_WINDOW_BLOCKS", self.rejection_window_blocks, &mut windows.rejection_blocks),
        ];
        for (name, value, slot) in overrides {
            if let Some(v) = value {
                if v == 0 && name != "NEXIS_UPLOAD_RESERVE_BLOCKS" {
                    bail!("{name} must be positive");
                }
                warn!(setting = name, value = v, default = *slot, "block constant overridden");
                *slot = v;
            }
        }
        Ok((clock, windows))
    }
}
