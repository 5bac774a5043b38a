//! The servers `nexis bench api` measures, each a separate process on loopback: the
//! shared embedded chain and allowlist, how each server is started, and the measurement of
//! one (readiness, load, resident memory).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::report::{Memory, TargetReport};
use super::{BenchApiArgs, NETUID, READY_TIMEOUT, REFERENCE_DRIVER, Target};
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use nexis::evidence_server::load::{ChainClock, LoadSpec, run_load, validator_keys};

/// The embedded chain, the allowlist and the scratch directories the servers share.
pub(super) struct Setup {
    dir: PathBuf,
    exe: PathBuf,
    chain_dir: PathBuf,
    clock: ChainClock,
    allowlist: PathBuf,
}

/// A server to start: its command and where its output goes.
pub(super) struct ServerCommand {
    cmd: Command,
    log: PathBuf,
}

impl Setup {
    /// Creates the embedded chain with `validators` permitted, staked validators (the
    /// clock set 10 000 blocks in) and the allowlist file the reference reads.
    pub(super) fn new(dir: &Path, args: &BenchApiArgs, validators: usize) -> anyhow::Result<Self> {
        let chain_dir = dir.join("chain");
        let chain = EmbeddedChain::open(EmbeddedSettings::new(&chain_dir, args.block_ms.max(1)))
            .context("creating the embedded chain")?;
        let keys: Vec<String> = validator_keys(validators).iter().map(|k| k.ss58()).collect();
        for key in &keys {
            chain.register(NETUID, key).context("registering a validator")?;
            chain.set_stake(NETUID, key, 1_000_000_000_000).context("staking a validator")?;
        }
        chain.advance(10_000).context("advancing the embedded chain")?;
        let genesis = chain.timestamp_of(0).context("reading the chain's genesis")?;
        let clock = ChainClock { genesis_ms: genesis.timestamp_millis().max(0) as u64, block_ms: args.block_ms.max(1) };
        let allowlist = dir.join("allowlist.json");
        std::fs::write(&allowlist, serde_json::to_vec(&keys)?).context("writing the allowlist")?;
        let exe = std::env::current_exe().context("locating the nexis binary")?;
        Ok(Self { dir: dir.to_path_buf(), exe, chain_dir, clock, allowlist })
    }

    /// `nexis api` on `database_url`, or on SQLite in a fresh work directory.
    pub(super) fn nexis_server(&self, database_url: Option<String>, rate_per_min: u32) -> ServerCommand {
        let name = if database_url.is_some() { "nexis-postgres" } else { "nexis-sqlite" };
        let mut cmd = Command::new(&self.exe);
        cmd.args(["api", "--network", "embedded", "--netuid", &NETUID.to_string()])
            .env("NEXIS_WORKDIR", self.dir.join(name))
            .env("NEXIS_EMBEDDED_CHAIN_DIR", &self.chain_dir)
            .env("NEXIS_EMBEDDED_BLOCK_MS", self.clock.block_ms.to_string())
            .env("NEXIS_API_BLOCK_POLL_SEC", "1")
            .env("NEXIS_API_RATE_PER_MIN", rate_per_min.to_string())
            // Every bench client reads from 127.0.0.1, as behind a reverse proxy.
            .env("NEXIS_API_READ_RATE_PER_MIN", "0")
            .env("NEXIS_API_MIN_VALIDATOR_STAKE", "0")
            .env("RUST_LOG", "warn");
        match database_url {
            Some(url) => cmd.env("NEXIS_API_DATABASE_URL", url),
            None => cmd.env_remove("NEXIS_API_DATABASE_URL"),
        };
        ServerCommand { cmd, log: self.dir.join(format!("{name}.log")) }
    }

    /// The reference app under `python`, on `database_url`.
    pub(super) fn reference_server(&self, python: &Path, database_url: &str) -> ServerCommand {
        let mut cmd = Command::new(python);
        cmd.arg("-c")
            .arg(REFERENCE_DRIVER)
            // Its settings also read a `.env` in the working directory: use an empty one.
            .current_dir(&self.dir)
            .env("NEXIS_VALIDATION_API_POSTGRES_DSN", database_url)
            .env("NEXIS_VALIDATION_API_MIN_VALIDATOR_STAKE", "0")
            .env("NEXIS_BLOCK_POLL_SEC", "1")
            .env("NEXIS_BENCH_ALLOWLIST", &self.allowlist)
            .env("NEXIS_BENCH_GENESIS_MS", self.clock.genesis_ms.to_string())
            .env("NEXIS_BENCH_BLOCK_MS", self.clock.block_ms.to_string());
        ServerCommand { cmd, log: self.dir.join("reference.log") }
    }
}

/// Starts `server` on a free loopback port, waits until it serves `get_latest_result`,
/// runs the load while sampling its memory, and stops it.
pub(super) async fn measure(
    mut server: ServerCommand,
    target: Target,
    setup: &Setup,
    spec: &LoadSpec,
) -> anyhow::Result<TargetReport> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(&server.log).context("creating the server log")?;
    server
        .cmd
        .env("NEXIS_API_LISTEN", &listen)
        .env("NEXIS_BENCH_LISTEN", &listen)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = server.cmd.spawn().with_context(|| format!("starting {:?}", server.cmd.get_program()))?;
    let mut child = ChildGuard(child);
    let base = format!("http://{listen}");
    wait_ready(&mut child.0, &base, &server.log).await?;
    let pid = child.0.id();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_rss(pid, stop_rx));
    let load = run_load(&base, setup.clock, spec).await.context("running the load")?;
    let _ = stop_tx.send(true);
    let samples = sampler.await.unwrap_or_default();
    let peak = proc_status_kib(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    child.stop();
    let half = samples.len() / 2;
    let max = |s: &[f64]| s.iter().copied().fold(0.0, f64::max);
    let memory = Memory {
        rss_start_mib: samples.first().copied().unwrap_or(0.0),
        rss_first_half_max_mib: max(&samples[..half]),
        rss_second_half_max_mib: max(&samples[half..]),
        rss_end_mib: samples.last().copied().unwrap_or(0.0),
        peak_rss_mib: peak,
    };
    Ok(TargetReport {
        target: target.id(),
        server: target.label(),
        status: "measured",
        reason: None,
        load: Some(load),
        memory: Some(memory),
    })
}

/// A server process, stopped (SIGTERM, then SIGKILL) when dropped.
struct ChildGuard(std::process::Child);

impl ChildGuard {
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: kill has no memory preconditions; `pid` is our own un-reaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `{base}/v1/get_latest_result` until it answers 200; fails with the end of the log
/// when the process exits first or [`READY_TIMEOUT`] passes.
async fn wait_ready(child: &mut std::process::Child, base: &str, log: &Path) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let url = format!("{base}/v1/get_latest_result");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited ({status}) before serving: {}", log_tail(log));
        }
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server did not serve {url} within {READY_TIMEOUT:?}: {}", log_tail(log));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The last lines of a server log (a reference that is not installed says why there).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    if tail.is_empty() { format!("(nothing in {})", log.display()) } else { tail }
}

/// Samples the resident memory of `pid` (MiB) every 500 ms until `stop` turns true.
async fn sample_rss(pid: u32, mut stop: tokio::sync::watch::Receiver<bool>) -> Vec<f64> {
    let mut samples = Vec::new();
    loop {
        if let Some(kib) = proc_status_kib(pid, "VmRSS:") {
            samples.push(kib as f64 / 1024.0);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => return samples,
        }
    }
}

/// A `kB` field of `/proc/{pid}/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// A loopback port free right now.
pub(super) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}
