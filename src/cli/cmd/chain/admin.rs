//! `nexis chain admin`: the subnet owner's schedule controls, on the embedded chain only
//! (real networks take them from the owner's coldkey through btcli): change the tempo,
//! trigger an epoch, cap the epochs per block.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::cli::args::ChainArgs;
use nexis::chain::embedded::EmbeddedChain;

/// Arguments of `nexis chain admin`.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(subcommand)]
    pub action: AdminAction,
}

/// What `nexis chain admin` changes.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminAction {
    /// Set the subnet's tempo (blocks between epochs); the epoch count restarts now.
    SetTempo {
        /// The new tempo, in blocks (1 or more).
        tempo: u16,
    },
    /// Trigger an epoch at the next block, as the subnet owner can.
    TriggerEpoch,
    /// Cap how many subnets' epochs run in one block (0: no cap); the rest are deferred.
    SetEpochCap {
        /// Most epochs per block.
        cap: u32,
    },
}

/// Runs `nexis chain admin`.
pub(crate) async fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let network = args.chain.network()?;
    if !network.is_embedded() {
        bail!(
            "nexis chain admin changes the embedded chain only; on {network} the subnet owner uses btcli \
             (sudo_set_tempo, trigger_epoch) with the owner's coldkey"
        );
    }
    let netuid = args.chain.netuid(&network)?;
    let chain = EmbeddedChain::open(crate::cli::args::embedded_settings()?)?;
    match args.action {
        AdminAction::SetTempo { tempo: 0 } => bail!("a tempo of 0 stops the subnet's epochs; give 1 or more"),
        AdminAction::SetTempo { tempo } => {
            chain.set_tempo(netuid, tempo)?;
            println!("netuid {netuid}: tempo {tempo}, epochs counted from block {}", chain_block(&chain).await?);
        }
        AdminAction::TriggerEpoch => {
            let at = chain.trigger_epoch(netuid)?;
            println!("netuid {netuid}: epoch triggered for block {at}");
        }
        AdminAction::SetEpochCap { cap } => {
            chain.set_epochs_per_block((cap > 0).then_some(cap))?;
            println!("epochs per block: {}", if cap > 0 { cap.to_string() } else { "no cap".into() });
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn chain_block(chain: &EmbeddedChain) -> anyhow::Result<u64> {
    use nexis::chain::Chain;
    Ok(chain.current_block().await?)
}
