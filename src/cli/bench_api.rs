//! `nexis bench api`: one load (validators posting signed reports at their rate limit,
//! miners and readers polling) against three evidence API servers, one after another, each
//! a separate process on loopback: `nexis api` on SQLite, `nexis api` on PostgreSQL, and the
//! Python reference (nexisgen's FastAPI app under uvicorn, `scripts/reference-api.py`) on
//! the same PostgreSQL. The chain is an embedded one whose clock both kinds of server
//! follow; PostgreSQL is a private cluster (initdb + pg_ctl on a temporary directory and a
//! loopback port). Prints posts/s, p50/p99 of posts and reads and the peak resident memory
//! (VmHWM) of each server process, as a table or JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;

use nexis::api::server::load::{ChainClock, LoadReport, LoadSpec, run_load, validator_keys};
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};

/// The driver of the reference server (embedded so the binary runs it from anywhere).
const REFERENCE_DRIVER: &str = include_str!("../../scripts/reference-api.py");
/// Subnet of the bench's embedded chain.
const NETUID: u16 = 1;
/// How long a server may take to answer its first `get_latest_result`.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Arguments of `nexis bench api`.
#[derive(Debug, Args)]
pub(crate) struct BenchApiArgs {
    /// Concurrent simulated validators (each on the servers' allowlist).
    #[arg(long, default_value_t = 64)]
    pub validators: usize,
    /// Signed posts per validator (the run lasts about posts x 60 / rate-per-min seconds).
    #[arg(long, default_value_t = 20)]
    pub posts: usize,
    /// Decisions (miners judged) per post.
    #[arg(long, default_value_t = 256)]
    pub decisions: usize,
    /// Concurrent miners polling their results (`GET /v1/validation-results`).
    #[arg(long, default_value_t = 32)]
    pub miners: usize,
    /// Concurrent `get_latest_result` readers.
    #[arg(long, default_value_t = 8)]
    pub readers: usize,
    /// Posts per minute of each validator: its rate limit (also our server's
    /// `NEXIS_API_RATE_PER_MIN`).
    #[arg(long, default_value_t = 120)]
    pub rate_per_min: u32,
    /// Milliseconds between one miner's or reader's polls.
    #[arg(long, default_value_t = 1000)]
    pub poll_ms: u64,
    /// Milliseconds per block of the embedded chain (50 blocks an interval; both kinds of
    /// server rebuild their latest-results cache every 30 blocks).
    #[arg(long, default_value_t = 1000)]
    pub block_ms: u64,
    /// Timeout of each request, seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_sec: u64,
    /// Longest load on one server, seconds: no post starts later, and a server too slow
    /// for every post is measured on what it completed.
    #[arg(long, default_value_t = 300)]
    pub max_sec_per_target: u64,
    /// Directory of PostgreSQL's initdb and pg_ctl (default: the newest
    /// /usr/lib/postgresql/*/bin).
    #[arg(long)]
    pub postgres_bin_dir: Option<PathBuf>,
    /// Do not measure the Python reference.
    #[arg(long)]
    pub skip_reference: bool,
    /// Python interpreter with the reference (nexisgen) and uvicorn importable.
    #[arg(long, default_value = "python3")]
    pub reference_python: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The servers measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    NexisSqlite,
    NexisPostgres,
    Reference,
}

impl Target {
    fn id(self) -> &'static str {
        match self {
            Self::NexisSqlite => "nexis-sqlite",
            Self::NexisPostgres => "nexis-postgres",
            Self::Reference => "reference-postgres",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::NexisSqlite => "nexis api, SQLite",
            Self::NexisPostgres => "nexis api, PostgreSQL",
            Self::Reference => "reference, PostgreSQL",
        }
    }
}

/// Resident memory of a server process over a run, MiB.
#[derive(Debug, Clone, Default, Serialize)]
struct Memory {
    /// When the load started.
    rss_start_mib: f64,
    /// Largest sample of the first half of the run.
    rss_first_half_max_mib: f64,
    /// Largest sample of the second half of the run.
    rss_second_half_max_mib: f64,
    /// When the load ended.
    rss_end_mib: f64,
    /// The process's peak (VmHWM), start-up included.
    peak_rss_mib: f64,
}

/// One target's result.
#[derive(Debug, Clone, Serialize)]
struct TargetReport {
    target: &'static str,
    server: &'static str,
    /// `measured`, `skipped` or `unavailable`.
    status: &'static str,
    /// Why it was not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    load: Option<LoadReport>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
}

impl TargetReport {
    fn not_measured(target: Target, status: &'static str, reason: String) -> Self {
        Self { target: target.id(), server: target.label(), status, reason: Some(reason), load: None, memory: None }
    }
}

/// The whole run.
#[derive(Debug, Serialize)]
struct BenchReport {
    /// `debug` or `release`.
    build: &'static str,
    validators: usize,
    posts_per_validator: usize,
    decisions_per_post: usize,
    miners: usize,
    readers: usize,
    rate_per_min: u32,
    poll_ms: u64,
    block_ms: u64,
    max_sec_per_target: u64,
    targets: Vec<TargetReport>,
}

/// Runs `nexis bench api`.
pub(crate) async fn bench_api(args: BenchApiArgs) -> anyhow::Result<ExitCode> {
    // On Ctrl-C or SIGTERM the run is dropped, and with it every server and the cluster.
    let shutdown = nexis::shutdown::Shutdown::on_signal("the bench stops its servers");
    match shutdown.unless_stopped(run_bench(args)).await {
        Some(result) => result,
        None => bail!("interrupted; the servers and the PostgreSQL cluster were stopped"),
    }
}

async fn run_bench(args: BenchApiArgs) -> anyhow::Result<ExitCode> {
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build of nexis; build with --release for real numbers");
    }
    let tmp = tempfile::Builder::new().prefix("nexis-bench-api-").tempdir().context("temporary directory")?;
    let spec = LoadSpec {
        validators: args.validators.max(1),
        posts: args.posts.max(1),
        decisions: args.decisions.max(1),
        miners: args.miners,
        readers: args.readers,
        post_every: Duration::from_secs(60) / args.rate_per_min.max(1),
        poll_every: Duration::from_millis(args.poll_ms.max(1)),
        timeout: Duration::from_secs(args.timeout_sec.max(1)),
        max_duration: Duration::from_secs(args.max_sec_per_target.max(1)),
    };
    let setup = Setup::new(tmp.path(), &args, spec.validators)?;
    let pg = PgCluster::start(args.postgres_bin_dir.as_deref())?;
    for db in ["nexis_bench", "reference_bench"] {
        pg.createdb(db)?;
    }
    eprintln!(
        "{} validators x {} posts of {} decisions ({} a minute each), {} miners and {} readers polling every {} ms",
        spec.validators, spec.posts, spec.decisions, args.rate_per_min, spec.miners, spec.readers, args.poll_ms
    );
    let targets = measure_all(&args, &setup, &pg, &spec).await?;
    let report = BenchReport {
        build,
        validators: spec.validators,
        posts_per_validator: spec.posts,
        decisions_per_post: spec.decisions,
        miners: spec.miners,
        readers: spec.readers,
        rate_per_min: args.rate_per_min,
        poll_ms: args.poll_ms,
        block_ms: args.block_ms,
        max_sec_per_target: args.max_sec_per_target,
        targets,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
        print_verdicts(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Measures each target in turn; a reference that cannot run is reported, not fatal.
async fn measure_all(
    args: &BenchApiArgs,
    setup: &Setup,
    pg: &PgCluster,
    spec: &LoadSpec,
) -> anyhow::Result<Vec<TargetReport>> {
    let mut targets = Vec::new();
    for target in [Target::NexisSqlite, Target::NexisPostgres, Target::Reference] {
        if target == Target::Reference && args.skip_reference {
            targets.push(TargetReport::not_measured(target, "skipped", "--skip-reference".into()));
            continue;
        }
        eprintln!("measuring {} ...", target.label());
        let server = match target {
            Target::NexisSqlite => setup.nexis_server(None, args.rate_per_min),
            Target::NexisPostgres => setup.nexis_server(Some(pg.url("nexis_bench")), args.rate_per_min),
            Target::Reference => setup.reference_server(&args.reference_python, &pg.url("reference_bench")),
        };
        let report = match measure(server, target, setup, spec).await {
            Ok(r) => r,
            Err(e) if target == Target::Reference => {
                TargetReport::not_measured(target, "unavailable", format!("{e:#}"))
            }
            Err(e) => return Err(e.context(format!("measuring {}", target.label()))),
        };
        if let Some(l) = &report.load {
            eprintln!(
                "  {} posts ({} failed) at {:.1}/s, post p99 {:.0} ms, read p99 {:.0} ms",
                l.posts.requests, l.posts.errors, l.posts.per_sec, l.posts.p99_ms, l.reads.p99_ms
            );
        }
        targets.push(report);
    }
    Ok(targets)
}

/// The embedded chain, the allowlist and the scratch directories the servers share.
struct Setup {
    dir: PathBuf,
    exe: PathBuf,
    chain_dir: PathBuf,
    clock: ChainClock,
    allowlist: PathBuf,
}

/// A server to start: its command and where its output goes.
struct ServerCommand {
    cmd: Command,
    log: PathBuf,
}

impl Setup {
    /// Creates the embedded chain with `validators` permitted, staked validators (the
    /// clock set 10 000 blocks in) and the allowlist file the reference reads.
    fn new(dir: &Path, args: &BenchApiArgs, validators: usize) -> anyhow::Result<Self> {
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
    fn nexis_server(&self, database_url: Option<String>, rate_per_min: u32) -> ServerCommand {
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
    fn reference_server(&self, python: &Path, database_url: &str) -> ServerCommand {
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
async fn measure(
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

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn print_table(r: &BenchReport) {
    println!(
        "{} build; {} validators x {} posts of {} decisions at {} a minute each; {} miners and {} readers polling every {} ms",
        r.build,
        r.validators,
        r.posts_per_validator,
        r.decisions_per_post,
        r.rate_per_min,
        r.miners,
        r.readers,
        r.poll_ms
    );
    println!(
        "{:<24} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10} {:>15}",
        "server",
        "posts/s",
        "post p50",
        "post p99",
        "read p50",
        "read p99",
        "miner p50",
        "miner p99",
        "errors",
        "peak RSS",
        "RSS 1st/2nd half"
    );
    for t in &r.targets {
        let (Some(l), Some(m)) = (&t.load, &t.memory) else {
            println!("{:<24} {} ({})", t.server, t.status, t.reason.as_deref().unwrap_or(""));
            continue;
        };
        println!(
            "{:<24} {:>8.1} {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>7} {:>6.0} MiB {:>6.0}/{:.0} MiB",
            t.server,
            l.posts.per_sec,
            l.posts.p50_ms,
            l.posts.p99_ms,
            l.reads.p50_ms,
            l.reads.p99_ms,
            l.miner_reads.p50_ms,
            l.miner_reads.p99_ms,
            l.posts.errors + l.reads.errors + l.miner_reads.errors,
            m.peak_rss_mib,
            m.rss_first_half_max_mib,
            m.rss_second_half_max_mib
        );
        if let Some(e) = &l.first_error {
            println!("{:<24} first error: {e}", "");
        }
    }
}

/// The targets, judged on this run: our PostgreSQL server at least 5x the
/// reference's posts/s at a lower post p99, our reads under 50 ms p99 while posts run, and
/// memory flat (the second half's largest RSS within 10 % of the first half's).
fn print_verdicts(r: &BenchReport) {
    let find =
        |id: &str| r.targets.iter().find(|t| t.target == id).and_then(|t| Some((t.load.as_ref()?, t.memory.as_ref()?)));
    if let (Some((ours, _)), Some((reference, _))) = (find("nexis-postgres"), find("reference-postgres")) {
        let ratio = ours.posts.per_sec / reference.posts.per_sec.max(1e-9);
        let lower = ours.posts.p99_ms < reference.posts.p99_ms;
        println!(
            "posts/s nexis-postgres / reference: {ratio:.1}x (target >= 5x: {}); post p99 {:.0} vs {:.0} ms (lower: {})",
            yes(ratio >= 5.0),
            ours.posts.p99_ms,
            reference.posts.p99_ms,
            yes(lower)
        );
    }
    for id in ["nexis-sqlite", "nexis-postgres"] {
        if let Some((l, m)) = find(id) {
            let reads = l.reads.p99_ms.max(l.miner_reads.p99_ms);
            let flat = m.rss_second_half_max_mib <= m.rss_first_half_max_mib * 1.1;
            println!(
                "{id}: reads p99 {reads:.0} ms (target < 50 ms: {}); memory flat: {}",
                yes(reads < 50.0),
                yes(flat)
            );
        }
    }
}

fn yes(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// A private PostgreSQL cluster: `initdb` + `pg_ctl` on a directory and a loopback port,
/// trust authentication for user `nexis`. As root the server runs as `nobody` (PostgreSQL
/// refuses root), via `runuser`. Stopped (immediate) on drop.
struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PgCluster {
    fn start(bin: Option<&Path>) -> anyhow::Result<Self> {
        let bin = match bin {
            Some(b) => b.to_path_buf(),
            None => find_pg_bin()?,
        };
        let dir = tempfile::Builder::new().prefix("nexis-bench-pg-").tempdir().context("PostgreSQL directory")?;
        if is_root() {
            // nobody = 65534 on Debian; the cluster directory must be its own.
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534))
                .context("handing the cluster directory to nobody")?;
        }
        let data_s = dir.path().join("data").to_string_lossy().into_owned();
        run_pg(&bin.join("initdb"), &["-D", &data_s, "-U", "nexis", "--auth=trust", "-E", "UTF8"])?;
        let log = dir.path().join("log").to_string_lossy().into_owned();
        let port = free_port()?;
        let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -k {}", dir.path().display());
        let cluster = Self { dir, bin, port };
        run_pg(&cluster.bin.join("pg_ctl"), &["-D", &data_s, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"])?;
        Ok(cluster)
    }

    fn createdb(&self, name: &str) -> anyhow::Result<()> {
        let port = self.port.to_string();
        run_pg(&self.bin.join("createdb"), &["-h", "127.0.0.1", "-p", &port, "-U", "nexis", name])
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://nexis@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let _ = run_pg(&self.bin.join("pg_ctl"), &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

fn find_pg_bin() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL's initdb was not found under /usr/lib/postgresql/*/bin: install the `postgresql` \
             package or pass --postgres-bin-dir"
        ),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool as the cluster's user; fails with its output.
fn run_pg(program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).env("LC_ALL", "C").output().with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
