//! `nexis commit-credentials`: a miner publishes its R2 read keys on chain (protocol §4).
//! `--dry-run` prints the signer and the exact call data instead of submitting;
//! `--metadata FILE` encodes offline from a runtime metadata file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::args::ChainArgs;
use crate::cli::secret::Secret;
use nexis::chain::ReadCredentials;
use nexis::chain::commitment::bucket_for_hotkey;
use nexis::chain::subtensor::{SubtensorChain, load_metadata, set_commitment_call_data};

/// Arguments of `nexis commit-credentials`.
#[derive(Debug, Args)]
#[command(after_help = "The bucket must be named after the hotkey in lowercase; validators read \
    it with these keys. The keys are public on chain by design: the bucket must hold nothing \
    but published packages.")]
pub(crate) struct CommitArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Cloudflare account id (32 hex characters).
    #[arg(long, env = "R2_ACCOUNT_ID", hide_env_values = true)]
    pub account_id: String,
    /// R2 read access key id (32 characters).
    #[arg(long, env = "R2_READ_ACCESS_KEY", hide_env_values = true)]
    pub read_access_key: Secret,
    /// R2 read secret key (64 characters).
    #[arg(long, env = "R2_READ_SECRET_KEY", hide_env_values = true)]
    pub read_secret_key: Secret,
    /// The miner's R2 write access key, read only to refuse committing it as the read key.
    #[arg(long, env = "R2_WRITE_ACCESS_KEY", hide_env_values = true, hide = true)]
    pub write_access_key: Option<Secret>,
    /// The miner's R2 write secret key, read only to refuse committing it as the read key.
    #[arg(long, env = "R2_WRITE_SECRET_KEY", hide_env_values = true, hide = true)]
    pub write_secret_key: Option<Secret>,
    /// Print the signer and call data instead of submitting.
    #[arg(long)]
    pub dry_run: bool,
    /// Encode offline from this runtime metadata file (SCALE, `meta` magic).
    #[arg(long)]
    pub metadata: Option<PathBuf>,
}

/// Runs `nexis commit-credentials`.
pub(crate) async fn commit(args: CommitArgs) -> anyhow::Result<ExitCode> {
    let creds = ReadCredentials::new(args.account_id.trim(), args.read_access_key.trim(), args.read_secret_key.trim())
        .context("R2 read credentials")?;
    refuse_write_keys(&args)?;
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let hotkey = args.chain.hotkey()?;
    println!("network: {network}");
    println!("netuid: {netuid}");
    println!("signer: {}", hotkey.ss58());
    println!("bucket: {}", bucket_for_hotkey(&hotkey.ss58()));
    println!("endpoint: {}", creds.endpoint());
    println!("credentials sha256: {}", creds.fingerprint());
    let payload = creds.payload();
    if args.dry_run {
        let call = match (&args.metadata, network.is_embedded()) {
            (Some(path), _) => set_commitment_call_data(&load_metadata(path)?, netuid, &payload)?,
            (None, true) => bail!("the embedded chain has no runtime metadata; pass --metadata FILE for call data"),
            (None, false) => {
                let timeout = Duration::from_secs(args.chain.chain_timeout_sec.max(1));
                let chain = SubtensorChain::connect_network(&network, timeout).await?;
                let metadata = chain.metadata().await?;
                set_commitment_call_data(&metadata, netuid, &payload)?
            }
        };
        println!("call_data: 0x{}", hex::encode(call));
        println!("dry run: nothing submitted");
        return Ok(ExitCode::SUCCESS);
    }
    let chain = args.chain.connect(&network).await?;
    chain.commit(&hotkey, netuid, &payload).await.context("committing the credentials")?;
    println!("committed on {}", chain.describe());
    Ok(ExitCode::SUCCESS)
}

/// Refuses read keys that are the configured write keys: the commitment is public.
fn refuse_write_keys(args: &CommitArgs) -> anyhow::Result<()> {
    let same = |read: &str, write: &Option<Secret>| {
        write.as_deref().is_some_and(|w| !w.trim().is_empty() && w.trim() == read.trim())
    };
    if same(&args.read_access_key, &args.write_access_key) || same(&args.read_secret_key, &args.write_secret_key) {
        bail!(
            "refusing to commit: R2_READ_ACCESS_KEY / R2_READ_SECRET_KEY are the R2_WRITE_* keys. The commitment is \
             public on chain, so anyone could overwrite or delete your packages. Create a separate R2 API token with \
             Object Read only on your bucket and set R2_READ_ACCESS_KEY and R2_READ_SECRET_KEY to it"
        );
    }
    Ok(())
}
