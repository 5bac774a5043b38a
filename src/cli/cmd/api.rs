//! `nexis api`: the evidence API server (protocol §12) and `nexis api blacklist
//! add|remove|list`. See `nexis::evidence_server` for the rules it enforces.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use tracing::{info, warn};

use crate::cli::args::ChainArgs;
use crate::cli::args::WorkdirArg;
use nexis::evidence_server::listen::ConnLimits;
use nexis::evidence_server::quorum::{Fraction, parse_source_auth};
use nexis::evidence_server::store::{EvidenceStore, open_store};
use nexis::evidence_server::{EvidenceServer, ServerConfig, serve};
use nexis::shutdown::Shutdown;

/// Arguments of `nexis api`.
#[derive(Debug, Args)]
#[command(after_help = "Without a subcommand, serves the API. The allowlist is every metagraph \
    hotkey with a validator permit and at least NEXIS_API_MIN_VALIDATOR_STAKE; a miner is listed \
    invalid only when validators holding NEXIS_API_INVALID_QUORUM of that stake rejected it.")]
pub(crate) struct ApiArgs {
    #[command(subcommand)]
    pub command: Option<ApiCommand>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Where the evidence is stored.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// PostgreSQL URL (postgres://user:password@host:port/db, no TLS: keep it on loopback or
    /// a private network). Unset: the embedded SQLite store under the work directory.
    #[arg(long, global = true, env = "NEXIS_API_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The work directory (the embedded store lives in `{DIR}/api/`).
    #[command(flatten)]
    pub workdir: WorkdirArg,
}

impl StoreArgs {
    /// Opens the configured store (migrations applied).
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn EvidenceStore>> {
        let dir = self.workdir.path();
        open_store(self.database_url.as_deref(), &dir)
            .await
            .context("opening the evidence store (check NEXIS_API_DATABASE_URL or NEXIS_WORKDIR)")
    }
}

/// Settings of the server.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Address to listen on.
    #[arg(long, env = "NEXIS_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Least stake (TAO) of a validator allowed to post.
    #[arg(long, env = "NEXIS_API_MIN_VALIDATOR_STAKE", default_value_t = 0.0)]
    pub min_validator_stake: f64,
    /// Share of the allowed stake that must reject a miner (a/b or decimal).
    #[arg(long, env = "NEXIS_API_INVALID_QUORUM", default_value = "1/3")]
    pub invalid_quorum: String,
    /// Source-auth hotkeys that may post, each `HOTKEY=WEIGHT` (share of the total its vote
    /// carries; bare HOTKEY = 0), comma separated.
    #[arg(long, env = "NEXIS_API_SOURCE_AUTH_HOTKEYS", default_value = "")]
    pub source_auth_hotkeys: String,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "NEXIS_API_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Signed requests per minute per hotkey (0 = unlimited).
    #[arg(long, env = "NEXIS_API_RATE_PER_MIN", default_value_t = 120)]
    pub rate_per_min: u32,
    /// Seconds between metagraph (allowlist) refreshes.
    #[arg(long, env = "NEXIS_API_ALLOWLIST_REFRESH_SEC", default_value_t = 120)]
    pub allowlist_refresh_sec: u64,
    /// Seconds between current-block polls (latest-results cache).
    #[arg(long, env = "NEXIS_API_BLOCK_POLL_SEC", default_value_t = 12.0)]
    pub block_poll_sec: f64,
    /// Unauthenticated reads per minute per client address (0 = unlimited; behind a reverse
    /// proxy every client has the proxy's address: limit there instead).
    #[arg(long, env = "NEXIS_API_READ_RATE_PER_MIN", default_value_t = 600)]
    pub read_rate_per_min: u32,
    /// Interval ids (blocks) of history kept; older decisions and evidence are pruned
    /// (0 = keep everything).
    #[arg(long, env = "NEXIS_API_RETENTION_INTERVALS", default_value_t = nexis::evidence_server::DEFAULT_RETENTION_INTERVALS)]
    pub retention_intervals: u64,
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "NEXIS_API_HEADER_TIMEOUT_SEC", default_value_t = 10)]
    pub header_timeout_sec: u64,
    /// Seconds a connection may stay silent between requests.
    #[arg(long, env = "NEXIS_API_IDLE_TIMEOUT_SEC", default_value_t = 60)]
    pub idle_timeout_sec: u64,
    /// Most connections open at once (more are closed at once, with a warning).
    #[arg(long, env = "NEXIS_API_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
}

/// `nexis api ...` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ApiCommand {
    /// Manage the blacklist served at /v1/get_blacklist.
    #[command(subcommand)]
    Blacklist(BlacklistCommand),
}

/// `nexis api blacklist ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum BlacklistCommand {
    /// Add a hotkey.
    Add {
        /// SS58 hotkey.
        hotkey: String,
        /// Why (kept with the entry).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove a hotkey.
    Remove {
        /// SS58 hotkey.
        hotkey: String,
    },
    /// Print the blacklisted hotkeys, one per line.
    List,
}

impl ServeArgs {
    /// The server settings these flags describe.
    pub(crate) fn config(&self, netuid: u16) -> anyhow::Result<ServerConfig> {
        let quorum: Fraction =
            self.invalid_quorum.parse().map_err(|e| anyhow::anyhow!("NEXIS_API_INVALID_QUORUM: {e}"))?;
        if quorum.num == 0 || quorum.num > quorum.den {
            bail!("NEXIS_API_INVALID_QUORUM must be in (0, 1]");
        }
        let stake = self.min_validator_stake;
        if !(stake.is_finite() && (0.0..=1e12).contains(&stake)) {
            bail!("NEXIS_API_MIN_VALIDATOR_STAKE must be a number of TAO between 0 and 1e12");
        }
        let source_auth = parse_source_auth(&self.source_auth_hotkeys)
            .map_err(|e| anyhow::anyhow!("NEXIS_API_SOURCE_AUTH_HOTKEYS: {e}"))?;
        if !(self.block_poll_sec > 0.0 && self.block_poll_sec.is_finite()) {
            bail!("NEXIS_API_BLOCK_POLL_SEC must be a positive number of seconds");
        }
        if self.max_body_bytes < 1024 {
            bail!("NEXIS_API_MAX_BODY_BYTES must be at least 1024");
        }
        Ok(ServerConfig {
            netuid,
            quorum,
            min_stake_rao: (stake * 1e9).round() as u64,
            source_auth,
            max_body_bytes: self.max_body_bytes,
            rate_per_min: self.rate_per_min,
            allowlist_refresh: Duration::from_secs(self.allowlist_refresh_sec.max(1)),
            block_poll: Duration::from_secs_f64(self.block_poll_sec),
            read_rate_per_min: self.read_rate_per_min,
            retention_intervals: self.retention_intervals,
            conn: ConnLimits {
                header_timeout: Duration::from_secs(self.header_timeout_sec.max(1)),
                idle_timeout: Duration::from_secs(self.idle_timeout_sec.max(1)),
                max_connections: self.max_connections.max(1),
            },
            ..ServerConfig::default()
        })
    }
}

/// Runs `nexis api`.
pub(crate) async fn run(args: ApiArgs) -> anyhow::Result<ExitCode> {
    if let Some(ApiCommand::Blacklist(cmd)) = args.command {
        return blacklist(&args.store, cmd).await;
    }
    let network = args.serve.chain.network()?;
    let netuid = args.serve.chain.netuid(&network)?;
    let config = args.serve.config(netuid)?;
    if args.serve.listen.ip().is_unspecified() {
        warn!(listen = %args.serve.listen, "listening on all interfaces; put a TLS proxy in front");
    }
    let store = args.store.open().await?;
    info!(store = %store.describe(), "evidence store open");
    // One long-lived chain connection for the whole run.
    let chain: Arc<dyn nexis::chain::Chain> = Arc::from(args.serve.chain.connect(&network).await?);
    let server = EvidenceServer::new(store, config);
    let validators = server
        .refresh_allowlist(chain.as_ref())
        .await
        .with_context(|| format!("reading the metagraph of netuid {netuid} on {}", chain.describe()))?;
    info!(validators, network = %chain.describe(), "allowlist loaded");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (bound, task) = serve(&server, args.serve.listen, rx.clone())
        .await
        .with_context(|| format!("binding {}", args.serve.listen))?;
    info!(%bound, "evidence API on http://{bound}/");
    let upkeep = tokio::spawn(server.clone().run_upkeep(chain, rx));
    Shutdown::on_signal("the API server stops").requested().await;
    let _ = tx.send(true);
    let _ = upkeep.await;
    task.await.context("server task")?.context("serving")?;
    Ok(ExitCode::SUCCESS)
}

async fn blacklist(store: &StoreArgs, cmd: BlacklistCommand) -> anyhow::Result<ExitCode> {
    let store = store.open().await?;
    match cmd {
        BlacklistCommand::Add { hotkey, reason } => {
            let hotkey = hotkey.trim();
            if hotkey.is_empty() {
                bail!("give the hotkey to blacklist");
            }
            let added = store.blacklist_add(hotkey, reason.trim()).await?;
            println!("{} {hotkey}", if added { "added" } else { "already listed:" });
        }
        BlacklistCommand::Remove { hotkey } => {
            let removed = store.blacklist_remove(hotkey.trim()).await?;
            println!("{} {}", if removed { "removed" } else { "not listed:" }, hotkey.trim());
        }
        BlacklistCommand::List => {
            for h in store.blacklist().await? {
                println!("{h}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
