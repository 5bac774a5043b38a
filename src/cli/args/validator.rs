//! Validator settings that more than one command applies the validator's way: the
//! per-miner time budget and the models of the content checks.

use std::time::Duration;

use clap::Args;

/// How long one miner's validation may take.
#[derive(Debug, Clone, Args)]
pub(crate) struct MinerBudgetArg {
    /// Time budget of one miner's validation, seconds (time waiting on the model, on source
    /// downloads or for the memory budget is not counted).
    #[arg(long, env = "NEXIS_VALIDATOR_MINER_BUDGET_SEC", default_value_t = 300)]
    pub(crate) miner_budget_sec: u64,
}

impl MinerBudgetArg {
    /// The budget.
    pub(crate) fn budget(&self) -> Duration {
        Duration::from_secs(self.miner_budget_sec)
    }
}

/// The models of the validators' semantic caption and category checks.
#[derive(Debug, Clone, Args)]
pub(crate) struct ModelNamesArgs {
    /// Model of the semantic caption check on OpenAI-compatible servers.
    #[arg(long, env = "NEXIS_VALIDATOR_SEMANTIC_MODEL", default_value = "gpt-4o")]
    pub(crate) semantic_model: String,
    /// Model of the category check on OpenAI-compatible servers.
    #[arg(long, env = "NEXIS_VALIDATOR_CATEGORY_MODEL", default_value = "gpt-4o")]
    pub(crate) category_model: String,
}
