//! Where and as whom chain commands run: the network, subnet and wallet flags every
//! subcommand that talks to the chain shares (btcli's spellings accepted).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::btcli;
use nexis::chain::embedded::EmbeddedChain;
use nexis::chain::network::{DEFAULT_CHAIN_TIMEOUT_SEC, DEFAULT_NETWORK, Network};
use nexis::chain::subtensor::SubtensorChain;
use nexis::chain::wallet::{WalletConfig, expand_home};
use nexis::chain::{Chain, Hotkey, NetUid};

/// Where and as whom chain commands run.
#[derive(Debug, Args)]
pub(crate) struct ChainArgs {
    /// Chain: embedded (a local simulation, no node), finney, test, local, or a ws(s):// URL.
    #[arg(long, env = "BT_NETWORK", default_value = DEFAULT_NETWORK, aliases = btcli::NETWORK)]
    pub network: String,
    /// Subnet id. Required on real networks; the embedded chain uses 1 when unset.
    #[arg(long, env = "NEXIS_NETUID")]
    pub netuid: Option<NetUid>,
    /// Wallet directory.
    #[arg(long, env = "BT_WALLET_PATH", default_value = "~/.bittensor/wallets", alias = btcli::WALLET_PATH)]
    pub wallet_path: String,
    /// Wallet name.
    #[arg(long, env = "BT_WALLET_NAME", default_value = "default", alias = btcli::WALLET_NAME)]
    pub wallet_name: String,
    /// Hotkey name inside the wallet.
    #[arg(long, env = "BT_WALLET_HOTKEY", default_value = "default", alias = btcli::WALLET_HOTKEY)]
    pub wallet_hotkey: String,
    /// Timeout of each chain call, seconds.
    #[arg(long, env = "NEXIS_CHAIN_TIMEOUT_SEC", default_value_t = DEFAULT_CHAIN_TIMEOUT_SEC)]
    pub chain_timeout_sec: u64,
}

impl ChainArgs {
    /// The network the flags name.
    pub(crate) fn network(&self) -> anyhow::Result<Network> {
        Ok(Network::parse(&self.network)?)
    }

    /// The subnet id: the flag, or 1 on the embedded chain.
    pub(crate) fn netuid(&self, network: &Network) -> anyhow::Result<NetUid> {
        match (self.netuid, network) {
            (Some(n), _) => Ok(n),
            (None, Network::Embedded) => Ok(1),
            (None, _) => bail!("set the subnet id with --netuid or NEXIS_NETUID"),
        }
    }

    /// The wallet the flags name.
    fn wallet(&self) -> WalletConfig {
        WalletConfig {
            path: expand_home(&self.wallet_path, std::env::var_os("HOME").map(PathBuf::from)),
            name: self.wallet_name.clone(),
            hotkey: self.wallet_hotkey.clone(),
        }
    }

    /// The hotkey that signs.
    pub(crate) fn hotkey(&self) -> anyhow::Result<Hotkey> {
        let password = super::chain_settings::password_source();
        self.wallet()
            .load_hotkey_with(&password)
            .map_err(super::chain_settings::wallet_error)
            .context("loading the hotkey that signs")
    }

    /// A connection to `network` (the embedded chain opens its local state).
    pub(crate) async fn connect(&self, network: &Network) -> anyhow::Result<Box<dyn Chain>> {
        if network.is_embedded() {
            return Ok(Box::new(EmbeddedChain::open(super::chain_settings::embedded_settings()?)?));
        }
        let timeout = Duration::from_secs(self.chain_timeout_sec.max(1));
        Ok(Box::new(SubtensorChain::connect_network(network, timeout).await?))
    }
}
