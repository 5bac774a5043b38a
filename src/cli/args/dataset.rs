//! What is validated or mined, and how often the chain is polled: the dataset category,
//! the validator's enabled specs and the block poll period.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use nexis::protocol::{DEFAULT_CATEGORY, DEFAULT_SPEC_ID};

/// The dataset category packages declare and validators require.
#[derive(Debug, Clone, Args)]
pub(crate) struct CategoryArg {
    /// Dataset category: the one written in a miner's manifest and the one validators
    /// require; an empty string means none.
    #[arg(long, env = "NEXIS_DATASET_CATEGORY", default_value = DEFAULT_CATEGORY)]
    pub(crate) category: String,
}

impl CategoryArg {
    /// The category, `None` when empty.
    pub(crate) fn get(&self) -> Option<&str> {
        Some(self.category.trim()).filter(|c| !c.is_empty())
    }
}

/// The dataset specs a validator accepts.
#[derive(Debug, Clone, Args)]
pub(crate) struct EnabledSpecsArg {
    /// Enabled dataset specs, comma-separated.
    #[arg(long, env = "NEXIS_VALIDATOR_ENABLED_SPECS", value_delimiter = ',', default_value = DEFAULT_SPEC_ID)]
    pub(crate) specs: Vec<String>,
}

/// How often the chain's head is polled.
#[derive(Debug, Clone, Args)]
pub(crate) struct PollArg {
    /// Seconds between block polls.
    #[arg(long, env = "NEXIS_BLOCK_POLL_SEC", default_value_t = 12.0)]
    pub(crate) poll_sec: f64,
}

impl PollArg {
    /// The poll period, refusing what is not a positive number of seconds.
    pub(crate) fn period(&self) -> anyhow::Result<Duration> {
        if !(self.poll_sec > 0.0 && self.poll_sec.is_finite()) {
            bail!("--poll-sec / NEXIS_BLOCK_POLL_SEC must be a positive number of seconds");
        }
        Ok(Duration::from_secs_f64(self.poll_sec))
    }
}
