//! `nexis chain reveal-round`: where the chain will reveal a timelocked commit made now, and
//! the drand round to encrypt it for. With `--state FILE` the schedule comes from a file (the
//! fields of a `reveal_rounds` entry of `commit-reveal-v2-vectors.json`), otherwise from the
//! configured network's subnet, read at one block.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use crate::cli::args::ChainArgs;
use nexis::chain::commit_reveal::Beacon;
use nexis::chain::schedule::{
    EpochSchedule, RevealTarget, SafetyNet, ScheduleError, reveal_target_with, seconds_to_ms,
};
use nexis::chain::weight_rules;

/// Largest `--state` / `--cases` file read.
pub(crate) const MAX_INPUT_BYTES: u64 = 16 << 20;

#[derive(Debug, Args)]
#[command(after_help = "FILE is a JSON array of objects with the fields tempo, reveal_period_epochs, \
    last_epoch_block, pending_epoch_at, subnet_epoch_index, blocks_since_last_step, current_block, \
    block_time (seconds) and now_unix (seconds, with fraction); other fields are ignored. The round is \
    a drand quicknet round. Exit 1 when an entry cannot be placed (its entry is an error).")]
pub(crate) struct RevealRoundArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Schedules to place, instead of the live one of the configured subnet.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print a JSON array of {"reveal_round", "reveal_block"}, in order.
    #[arg(long)]
    pub json: bool,
    /// With --state, the BlocksSinceLastStep safety net: `tempo` (the chain's) or `max-tempo`
    /// (bittensor-core 0.1.5's 50 400 blocks, to reproduce the SDK's rounds).
    #[arg(long, value_enum, default_value = "tempo")]
    pub safety_net: Net,
}

/// `--safety-net`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Net {
    Tempo,
    MaxTempo,
}

impl From<Net> for SafetyNet {
    fn from(n: Net) -> Self {
        match n {
            Net::Tempo => SafetyNet::Tempo,
            Net::MaxTempo => SafetyNet::MaxTempo,
        }
    }
}

/// One `--state` entry.
#[derive(Debug, Deserialize)]
struct StateEntry {
    tempo: u16,
    reveal_period_epochs: u64,
    last_epoch_block: u64,
    pending_epoch_at: u64,
    subnet_epoch_index: u64,
    blocks_since_last_step: u64,
    current_block: u64,
    block_time: f64,
    now_unix: f64,
}

impl StateEntry {
    fn place(&self, beacon: &Beacon, net: SafetyNet) -> Result<RevealTarget, ScheduleError> {
        let schedule = EpochSchedule {
            tempo: self.tempo,
            reveal_period_epochs: self.reveal_period_epochs,
            last_epoch_block: self.last_epoch_block,
            pending_epoch_at: self.pending_epoch_at,
            subnet_epoch_index: self.subnet_epoch_index,
            blocks_since_last_step: self.blocks_since_last_step,
            current_block: self.current_block,
        };
        let block_time = seconds_to_ms(self.block_time, "block_time")?;
        let now = seconds_to_ms(self.now_unix, "now_unix")?;
        reveal_target_with(&schedule, block_time, now, beacon, net)
    }
}

/// Reads a JSON file of at most [`MAX_INPUT_BYTES`].
pub(crate) fn read_json_capped<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!("{} is larger than {MAX_INPUT_BYTES} bytes", path.display());
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not the expected JSON", path.display()))
}

/// Runs `nexis chain reveal-round`.
pub(crate) async fn run(args: RevealRoundArgs) -> anyhow::Result<ExitCode> {
    let results = match &args.state {
        Some(path) => {
            let entries: Vec<StateEntry> = read_json_capped(path)?;
            let beacon = Beacon::quicknet();
            entries.iter().map(|e| e.place(&beacon, args.safety_net.into())).collect()
        }
        None => vec![live(&args).await?],
    };
    let mut failed = false;
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| match r {
            Ok(t) => json!({ "reveal_round": t.reveal_round, "reveal_block": t.reveal_block }),
            Err(e) => {
                failed = true;
                json!({ "error": e.to_string() })
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for r in &results {
            match r {
                Ok(t) => println!("reveal_block: {} reveal_round: {}", t.reveal_block, t.reveal_round),
                Err(e) => println!("error: {e}"),
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The live subnet's reveal target, with the model and block time on stderr.
async fn live(args: &RevealRoundArgs) -> anyhow::Result<Result<RevealTarget, ScheduleError>> {
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let chain = args.chain.connect(&network).await?;
    // The schedule does not depend on who asks; the wallet's hotkey when there is one.
    let hotkey = args.chain.hotkey().map(|h| h.ss58()).unwrap_or_else(|_| placeholder_account());
    let rules = chain.weight_rules(netuid, &hotkey).await.context("reading the subnet's schedule")?;
    let model = weight_rules::schedule_model(&rules, netuid);
    eprintln!(
        "network {network}, netuid {netuid}, block {}: {} epoch schedule, {} ms blocks",
        rules.block,
        model.name(),
        rules.block_time_ms
    );
    Ok(model.reveal_target(rules.block_time_ms, rules.now_ms, &rules.beacon))
}

/// The all-zero account, a valid address for reads that need one.
fn placeholder_account() -> String {
    subxt::utils::AccountId32([0u8; 32]).to_string()
}
