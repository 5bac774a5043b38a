//! `nexis chain status|weights|set-weights|register` (here) and `chain doctor|admin|
//! reveal-round|conform-weights` (one file each). Writing commands take `--dry-run`, which prints
//! the signer and the exact call data instead of submitting; `--metadata FILE` encodes
//! offline from a runtime metadata file instead of asking the node.

mod admin;
mod conform_weights;
mod doctor;
mod reveal_round;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::args::{ChainArgs, VersionKeyArg};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use nexis::chain::commit_reveal::{Beacon, DEFAULT_COMMIT_REVEAL_VERSION};
use nexis::chain::commitment::bucket_for_hotkey;
use nexis::chain::embedded::EmbeddedChain;
use nexis::chain::subtensor::{
    SubtensorChain, commit_timelocked_weights_call_data, load_metadata, set_weights_call_data,
};
use nexis::chain::weight_rules::{self, PlanOptions, WeightsPlan};
use nexis::chain::{Chain, Uid, WeightRules, WeightsCall};

/// `nexis chain ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ChainCommand {
    /// Network, block, netuid, our uid and whether our commitment is on chain.
    Status(StatusArgs),
    /// The weights a validator hotkey last set, read back from the chain.
    Weights(WeightsArgs),
    /// Register the wallet's hotkey (embedded chain only; use btcli on real networks).
    Register(RegisterArgs),
    /// Set weights the way the validator does: timelocked commit-reveal or plain, as the
    /// subnet requires, after the chain's rate-limit, version-key and permit checks.
    SetWeights(SetWeightsArgs),
    /// Whether this hotkey's weights will land: every rule the chain applies, its value,
    /// ✓/✗ and the fix, the reveal schedule and the version-key policy (exit 1 on a failure).
    Doctor(doctor::DoctorArgs),
    /// The subnet owner's schedule controls (set-tempo, trigger-epoch), embedded chain only.
    Admin(admin::AdminArgs),
    /// The block and drand round at which a timelocked commit made now is revealed (the
    /// chain's stateful epoch schedule, or the modulo formula on older runtimes).
    RevealRound(reveal_round::RevealRoundArgs),
    /// Conform float weights to a subnet's rules the way the SDK does (clip, u16, minimum count).
    ConformWeights(conform_weights::ConformWeightsArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "With --metadata the call is encoded offline: commit-reveal on, version 4, drand \
    quicknet, unless --commit-reveal, --commit-reveal-version or --reveal-round say otherwise. Without \
    --reveal-round the offline reveal round assumes a commit at block 0 of a tempo-360 subnet.")]
pub(crate) struct SetWeightsArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Uids, comma-separated (e.g. 1,2).
    #[arg(long, env = "NEXIS_SET_WEIGHTS_UIDS", value_delimiter = ',', required = true)]
    pub uids: Vec<Uid>,
    /// u16 weights, comma-separated, one per uid (e.g. 65535,32768).
    #[arg(long, env = "NEXIS_SET_WEIGHTS_WEIGHTS", value_delimiter = ',', required = true)]
    pub weights: Vec<u16>,
    #[command(flatten)]
    pub version_key: VersionKeyArg,
    /// Print the signer, mode, reveal round and call data instead of submitting.
    #[arg(long)]
    pub dry_run: bool,
    /// Encode offline from this runtime metadata file (implies --dry-run).
    #[arg(long, env = "NEXIS_SET_WEIGHTS_METADATA")]
    pub metadata: Option<PathBuf>,
    /// Encrypt for this drand round instead of the computed one.
    #[arg(long, env = "NEXIS_SET_WEIGHTS_REVEAL_ROUND")]
    pub reveal_round: Option<u64>,
    /// Offline only: whether the subnet uses commit-reveal.
    #[arg(long, env = "NEXIS_SET_WEIGHTS_COMMIT_REVEAL", default_value_t = true, action = clap::ArgAction::Set)]
    pub commit_reveal: bool,
    /// Offline only: the chain's CommitRevealWeightsVersion.
    #[arg(long, env = "NEXIS_SET_WEIGHTS_COMMIT_REVEAL_VERSION", default_value_t = DEFAULT_COMMIT_REVEAL_VERSION)]
    pub commit_reveal_version: u16,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WeightsArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Validator hotkey to read (default: the wallet's hotkey).
    #[arg(long)]
    pub hotkey: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// Runs `nexis chain ...`.
pub(crate) async fn run(cmd: ChainCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ChainCommand::Status(a) => status(a).await,
        ChainCommand::Weights(a) => weights(a).await,
        ChainCommand::Register(a) => register(a).await,
        ChainCommand::SetWeights(a) => set_weights(a).await,
        ChainCommand::Doctor(a) => doctor::doctor(a).await,
        ChainCommand::Admin(a) => admin::run(a).await,
        ChainCommand::RevealRound(a) => reveal_round::run(a).await,
        ChainCommand::ConformWeights(a) => conform_weights::run(a),
    }
}

/// The rules `--metadata` assumes when no chain is asked.
fn offline_rules(args: &SetWeightsArgs) -> WeightRules {
    WeightRules {
        block: 0,
        now_ms: chrono::Utc::now().timestamp_millis().max(0) as u64,
        block_time_ms: 12_000,
        commit_reveal: args.commit_reveal,
        commit_reveal_version: args.commit_reveal_version,
        rate_limit: 0,
        version_key: 0,
        tempo: 360,
        reveal_period_epochs: 1,
        uid: None,
        last_update: None,
        validator_permit: None,
        beacon: Beacon::quicknet(),
        limits: Default::default(),
        epoch_schedule: None,
        min_allowed_weights: 0,
        max_weight_limit: u16::MAX,
        subnet_n: u16::MAX,
    }
}

async fn set_weights(args: SetWeightsArgs) -> anyhow::Result<ExitCode> {
    if args.uids.len() != args.weights.len() {
        bail!("--uids has {} entries but --weights {}; give one weight per uid", args.uids.len(), args.weights.len());
    }
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let hotkey = args.chain.hotkey()?;
    let call = WeightsCall {
        netuid,
        uids: args.uids.clone(),
        weights: args.weights.clone(),
        version_key: args.version_key.version_key.key(0),
    };
    let options =
        PlanOptions { reveal_round: args.reveal_round, seed: None, version_key: args.version_key.version_key };
    println!("network: {network}");
    println!("netuid: {netuid}");
    println!("signer: {}", hotkey.ss58());
    if let Some(path) = &args.metadata {
        let plan = weight_rules::plan(&offline_rules(&args), hotkey.public(), &call, options)?;
        print_plan(&plan, &call_data(&load_metadata(path)?, &plan)?);
        println!("dry run: nothing submitted");
        return Ok(ExitCode::SUCCESS);
    }
    let chain = args.chain.connect(&network).await?;
    let rules = chain.weight_rules(netuid, &hotkey.ss58()).await?;
    let keyed = WeightsCall { version_key: args.version_key.version_key.key(rules.version_key), ..call.clone() };
    weight_rules::check(&rules, &hotkey.ss58(), &keyed, args.version_key.version_key)?;
    let plan = weight_rules::plan(&rules, hotkey.public(), &call, options)?;
    if args.dry_run {
        let data = if network.is_embedded() {
            None
        } else {
            let timeout = Duration::from_secs(args.chain.chain_timeout_sec.max(1));
            let metadata = SubtensorChain::connect_network(&network, timeout).await?.metadata().await?;
            Some(call_data(&metadata, &plan)?)
        };
        match data {
            Some(d) => print_plan(&plan, &d),
            None => print_plan(&plan, &[]),
        }
        println!("dry run: nothing submitted");
        return Ok(ExitCode::SUCCESS);
    }
    weight_rules::submit(chain.as_ref(), &hotkey, &plan).await.context("setting weights")?;
    print_plan(&plan, &[]);
    println!("submitted on {}", chain.describe());
    Ok(ExitCode::SUCCESS)
}

fn call_data(metadata: &subxt::Metadata, plan: &WeightsPlan) -> anyhow::Result<Vec<u8>> {
    Ok(match &plan.commit {
        Some(commit) => commit_timelocked_weights_call_data(metadata, commit)?,
        None => set_weights_call_data(metadata, &plan.call)?,
    })
}

fn print_plan(plan: &WeightsPlan, call_data: &[u8]) {
    println!("mode: {}", plan.mode.as_str());
    println!("version_key: {}", plan.call.version_key);
    if let Some(commit) = &plan.commit {
        println!("reveal_round: {}", commit.reveal_round);
        println!("commit_reveal_version: {}", commit.version);
        if let Some(at) = plan.reveal_at {
            println!("reveal_expected_at: {}", at.to_rfc3339());
        }
        if let Some(block) = plan.reveal_block {
            println!("reveal_block: {block}");
        }
    }
    if !call_data.is_empty() {
        println!("call_data: 0x{}", hex::encode(call_data));
    }
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let chain = args.chain.connect(&network).await?;
    let block = chain.current_block().await?;
    let hotkey = args.chain.hotkey().ok().map(|h| h.ss58());
    let metagraph = chain.metagraph(netuid).await.ok();
    let uid = hotkey.as_deref().and_then(|h| metagraph.as_ref().and_then(|m| m.uid_of(h)));
    let commitment = match (&hotkey, &metagraph) {
        (Some(h), Some(_)) => chain.commitments(netuid).await?.into_iter().find(|c| &c.hotkey == h),
        _ => None,
    };
    let out = json!({
        "network": network.to_string(),
        "chain": chain.describe(),
        "block": block,
        "netuid": netuid,
        "subnet_exists": metagraph.is_some(),
        "neurons": metagraph.as_ref().map(|m| m.neurons.len()),
        "hotkey": hotkey,
        "uid": uid,
        "commitment": commitment.as_ref().map(|c| json!({
            "block": c.block,
            "bucket": bucket_for_hotkey(&c.hotkey),
            "credentials_sha256": c.credentials.fingerprint(),
        })),
    });
    if args.json {
        println!("{out}");
    } else {
        println!("network: {network} ({})", chain.describe());
        println!("block: {block}");
        println!("netuid: {netuid}{}", if metagraph.is_some() { "" } else { " (no such subnet)" });
        match (&hotkey, uid) {
            (Some(h), Some(u)) => println!("hotkey: {h} (uid {u})"),
            (Some(h), None) => println!("hotkey: {h} (not registered)"),
            (None, _) => println!("hotkey: no wallet hotkey found (set BT_WALLET_*)"),
        }
        match &commitment {
            Some(c) => println!("commitment: present and valid, credentials sha256 {}", c.credentials.fingerprint()),
            None => println!("commitment: none (run `nexis commit-credentials`)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn weights(args: WeightsArgs) -> anyhow::Result<ExitCode> {
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let hotkey = match args.hotkey {
        Some(h) => h,
        None => args.chain.hotkey()?.ss58(),
    };
    let chain = args.chain.connect(&network).await?;
    let weights = chain.weights_of(netuid, &hotkey).await?;
    let pending = chain.pending_commits(netuid, &hotkey).await?;
    let beacon = if pending.is_empty() { None } else { Some(chain.weight_rules(netuid, &hotkey).await?.beacon) };
    let reveal_at = |round: u64| {
        beacon
            .as_ref()
            .and_then(|b| i64::try_from(b.round_time_ms(round)).ok())
            .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
            .map(|t| t.to_rfc3339())
    };
    if args.json {
        let list: Vec<_> = weights.iter().map(|(uid, w)| json!({"uid": uid, "weight": w})).collect();
        let commits: Vec<_> = pending
            .iter()
            .map(|c| {
                json!({"commit_block": c.commit_block, "reveal_round": c.reveal_round,
                       "reveal_expected_at": reveal_at(c.reveal_round), "commit_bytes": c.commit_len})
            })
            .collect();
        println!("{}", json!({"netuid": netuid, "hotkey": hotkey, "weights": list, "pending_commits": commits}));
        return Ok(ExitCode::SUCCESS);
    }
    if weights.is_empty() {
        println!("{hotkey} has set no weights on netuid {netuid}");
    } else {
        println!("weights set by {hotkey} on netuid {netuid}:");
        for (uid, w) in &weights {
            println!("  uid {uid:>5}  {w:>5}  ({:.4})", f64::from(*w) / 65535.0);
        }
    }
    if !pending.is_empty() {
        println!("timelocked commits waiting for their reveal:");
        for c in &pending {
            let at = reveal_at(c.reveal_round).unwrap_or_else(|| "unknown".into());
            println!("  committed at block {}  reveal round {}  expected at {at}", c.commit_block, c.reveal_round);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn register(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    if !network.is_embedded() {
        bail!(
            "registration on {network} costs TAO and is done with btcli: \
             `btcli subnet register --netuid {netuid} --wallet.name {} --wallet.hotkey {}`",
            args.chain.wallet_name,
            args.chain.wallet_hotkey
        );
    }
    let hotkey = args.chain.hotkey()?;
    let chain = EmbeddedChain::open(crate::cli::args::embedded_settings()?)?;
    let uid = chain.register(netuid, &hotkey.ss58())?;
    println!("registered {} as uid {uid} on netuid {netuid} ({})", hotkey.ss58(), chain.describe());
    Ok(ExitCode::SUCCESS)
}
