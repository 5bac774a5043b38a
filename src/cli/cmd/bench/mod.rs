//! `nexis bench`: measured performance on generated data. `bench check` builds valid
//! packages of the requested sizes and runs `nexis check` on each in a child process,
//! reporting wall time and the child's peak resident memory (from `wait4`).

mod api;
mod dataset;
mod setup;
mod subnet;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use nexis::bench::{PackageSpec, generate_package};
use nexis::protocol::IntervalId;

const MINER: &str = "5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9";
const VALIDATOR: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
const INTERVAL: u64 = 7_756_800;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Generate valid packages of N rows and time `nexis check` on each (wall time and
    /// peak memory of the child process). Build with `--release` for meaningful numbers.
    Check(BenchCheckArgs),
    /// Cut every 5-second clip of a generated 720p source the way `nexis mine` does
    /// (parallel, one ffmpeg thread each) and the same ffmpeg commands one after another
    /// (ffmpeg's own threading); report clips per minute for both.
    Clips(BenchClipsArgs),
    /// Generate one hostile package at the size caps (every row over its text caps, with
    /// rule failures on every row) and validate it as N miners at once in one child
    /// process, the way `nexis validate` evaluates an interval; report the child's peak
    /// memory. The process-wide dataset memory budget keeps it bounded.
    Hostile(BenchHostileArgs),
    /// (internal) The measured child of `bench hostile`.
    #[command(hide = true)]
    HostileRun(BenchHostileRunArgs),
    /// Write a catalog of N synthetic rows (time, size on disk), then time `nexis dataset
    /// stats` and a filtered `query` on it (wall time, peak memory).
    Catalog(dataset::BenchCatalogArgs),
    /// WebDataset export throughput (MB/s) over generated clips (2 GiB by default).
    Export(dataset::BenchExportArgs),
    /// Load evidence API servers side by side: validators posting signed reports at their
    /// rate limit while miners and readers poll, against `nexis api` on SQLite, `nexis api`
    /// on a private PostgreSQL and the Python reference on the same PostgreSQL, each a
    /// separate process; posts/s, p50/p99 of posts and reads, and each server's peak memory.
    Api(api::BenchApiArgs),
    /// One validator interval at subnet scale on loopback: N miners' packages with a real
    /// clip at every row on an in-process S3 server, the content checks against a model
    /// stub with a latency and an RPM limit; wall, CPU, peak memory, model calls, 429s, and
    /// the Python reference over the same packages. Build with `--release`.
    Subnet(subnet::BenchSubnetArgs),
}

/// Arguments of `nexis bench hostile`.
#[derive(Debug, Args)]
pub(crate) struct BenchHostileArgs {
    /// Rows of the hostile package.
    #[arg(long, default_value_t = 2_000_000)]
    pub rows: usize,
    /// Miners evaluated at once (each validates the same package).
    #[arg(long, default_value_t = 8)]
    pub miners: usize,
    /// Where the package goes (default: a temporary directory removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Arguments of the hidden `nexis bench hostile-run`.
#[derive(Debug, Args)]
pub(crate) struct BenchHostileRunArgs {
    /// The package directory (the content of `{interval}/`).
    #[arg(long)]
    pub dir: PathBuf,
    /// Miners evaluated at once.
    #[arg(long, default_value_t = 8)]
    pub miners: usize,
}

/// Arguments of `nexis bench clips`.
#[derive(Debug, Args)]
pub(crate) struct BenchClipsArgs {
    /// Length of the generated 1280x720 source, seconds.
    #[arg(long, default_value_t = 600)]
    pub seconds: u32,
    /// Clips cut at once by the miner path (default: the number of cores).
    #[arg(long)]
    pub concurrency: Option<usize>,
}

/// Arguments of `nexis bench check`.
#[derive(Debug, Args)]
pub(crate) struct BenchCheckArgs {
    /// Package sizes in rows, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    pub rows: Vec<usize>,
    /// Runs per size; the fastest is reported with the largest peak memory seen.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Where generated packages go (default: a temporary directory removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON object per size instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also time the Python reference validator (nexisgen) on each package, in the same
    /// run, with this interpreter (one with nexisgen importable), and print the ratio.
    #[arg(long, value_name = "PYTHON")]
    pub reference_python: Option<PathBuf>,
}

/// One measured size.
#[derive(Debug, Serialize)]
struct Measurement {
    rows: usize,
    dataset_bytes: u64,
    sampled_rows: usize,
    accepted: bool,
    wall_sec: f64,
    peak_rss_mib: f64,
    runs: usize,
    /// The Python reference's fastest wall time on the same package (interpreter start-up
    /// excluded), when asked for.
    reference_wall_sec: Option<f64>,
    /// `wall_sec / reference_wall_sec`.
    ratio: Option<f64>,
}

/// Runs a benchmark.
pub(crate) async fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Check(args) => bench_check(args).await,
        BenchCommand::Clips(args) => bench_clips(args).await,
        BenchCommand::Hostile(args) => bench_hostile(args),
        BenchCommand::HostileRun(args) => bench_hostile_run(args).await,
        BenchCommand::Catalog(args) => dataset::bench_catalog(args).await,
        BenchCommand::Export(args) => dataset::bench_export(args).await,
        BenchCommand::Api(args) => api::bench_api(args).await,
        BenchCommand::Subnet(args) => subnet::bench_subnet(args).await,
    }
}

async fn bench_clips(args: BenchClipsArgs) -> anyhow::Result<ExitCode> {
    use futures::StreamExt;
    use nexis::media::ffmpeg::{FfmpegRun, clip_command};
    use nexis::media::synth::{SynthClip, synth_clip};
    use nexis::miner::clipper::{Clipper, segment_starts};
    use nexis::miner::sources::Source;
    use std::sync::Arc;

    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let source_path = tmp.path().join("source.mp4");
    eprintln!("generating a {} s 1280x720 30 fps source with audio ...", args.seconds);
    let spec = SynthClip { seconds: f64::from(args.seconds), ..SynthClip::default() };
    synth_clip(&source_path, &spec).await.context("generating the source (is ffmpeg installed?)")?;
    let starts = segment_starts(f64::from(args.seconds), |_| false);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let concurrency = args.concurrency.unwrap_or(cores).max(1);
    let timeout = Duration::from_secs(600);

    // The miner's path: parallel cuts with one ffmpeg thread each, plus first frame and probe.
    let probe = nexis::media::Ffprobe::new(None, Duration::from_secs(60));
    let clipper = Clipper { probe: Arc::new(probe), timeout, threads: 1 };
    let source = Source { video_id: "benchsource".into(), url: String::new(), line: 1 };
    let out = tmp.path().join("miner");
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(starts.iter())
        .map(|&start| clipper.cut(&source, &source_path, start, true, &out))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let miner_time = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();

    // The same encodes by hand, one after another, ffmpeg choosing its threads.
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw)?;
    let started = Instant::now();
    for (i, &start) in starts.iter().enumerate() {
        let cmd = clip_command(&source_path, start, 5.0, true, &raw.join(format!("{i}.mp4")), 0);
        FfmpegRun::new(cmd, timeout).run().await.context("raw ffmpeg run")?;
    }
    let raw_time = started.elapsed();
    let per_min = |d: Duration| starts.len() as f64 / d.as_secs_f64() * 60.0;
    println!(
        "{} clips from a {} s source on {cores} cores\n  nexis mine path ({concurrency} at once, 1 thread each, \
         + first frame + probe): {:.1} s, {:.1} clips/min, {failed} failed\n  raw ffmpeg one after another \
         (encode only): {:.1} s, {:.1} clips/min\n  per clip: {:.2} s vs {:.2} s",
        starts.len(),
        args.seconds,
        miner_time.as_secs_f64(),
        per_min(miner_time),
        raw_time.as_secs_f64(),
        per_min(raw_time),
        miner_time.as_secs_f64() / starts.len() as f64,
        raw_time.as_secs_f64() / starts.len() as f64,
    );
    Ok(ExitCode::SUCCESS)
}

async fn bench_check(args: BenchCheckArgs) -> anyhow::Result<ExitCode> {
    setup::build_kind("check");
    let exe = std::env::current_exe().context("locating the nexis binary")?;
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    if !args.json {
        println!(
            "{:>9}  {:>11}  {:>8}  {:>10}  {:>13}  {:>10}  {:>6}  result",
            "rows", "parquet", "sampled", "wall", "peak memory", "reference", "ratio"
        );
    }
    for &rows in &args.rows {
        let dir = root.join(format!("rows-{rows}"));
        let spec = PackageSpec {
            rows,
            miner_hotkey: MINER.into(),
            validator_hotkey: Some(VALIDATOR.into()),
            interval_id: INTERVAL,
            row_sample_max: nexis::protocol::DEFAULT_ROW_SAMPLE_MAX,
            source_offset: 0,
        };
        let generated = generate_package(&dir, &spec).await.with_context(|| format!("generating {rows} rows"))?;
        forget_own_peak_rss();
        let mut best = Duration::MAX;
        let mut peak = 0u64;
        let mut accepted = true;
        for _ in 0..args.repeat.max(1) {
            let run = run_check(&exe, &dir, &root)?;
            best = best.min(run.wall);
            peak = peak.max(run.peak_rss_kib);
            accepted &= run.accepted;
        }
        let reference = match &args.reference_python {
            Some(python) => Some(reference_check(python, &dir, &root, args.repeat.max(1))?),
            None => None,
        };
        let m = Measurement {
            rows,
            dataset_bytes: generated.dataset_bytes,
            sampled_rows: generated.sampled_rows.len(),
            accepted,
            wall_sec: best.as_secs_f64(),
            peak_rss_mib: peak as f64 / 1024.0,
            runs: args.repeat.max(1),
            reference_wall_sec: reference,
            ratio: reference.map(|r| best.as_secs_f64() / r),
        };
        if args.json {
            println!("{}", serde_json::to_string(&m)?);
        } else {
            let reference = m.reference_wall_sec.map_or("-".into(), |r| format!("{r:.3} s"));
            let ratio = m.ratio.map_or("-".into(), |r| format!("{r:.4}"));
            println!(
                "{:>9}  {:>8.1} MB  {:>8}  {:>8.3} s  {:>9.1} MiB  {:>10}  {:>6}  {}",
                m.rows,
                m.dataset_bytes as f64 / 1e6,
                m.sampled_rows,
                m.wall_sec,
                m.peak_rss_mib,
                reference,
                ratio,
                if m.accepted { "accepted" } else { "REJECTED" }
            );
        }
        if !accepted {
            bail!("the generated {rows}-row package was rejected; run `nexis check` on {} to see why", dir.display());
        }
        if args.dir.is_none() {
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The Python reference's fastest of `repeat` runs over the package in `dir`, seen as
/// one bucket (a link to it at `{bucket}/{INTERVAL}` under `root`), as the bench's validator.
fn reference_check(python: &Path, dir: &Path, root: &Path, repeat: usize) -> anyhow::Result<f64> {
    use nexis::bench::reference::{ReferenceRun, ReferenceTarget, run_reference};
    let s3_root = root.join("reference-buckets");
    let bucket = s3_root.join("miner");
    std::fs::create_dir_all(&bucket).with_context(|| format!("creating {}", bucket.display()))?;
    let link = bucket.join(INTERVAL.to_string());
    std::fs::remove_file(&link).ok();
    std::os::unix::fs::symlink(std::path::absolute(dir)?, &link).context("linking the package for the reference")?;
    let target = ReferenceTarget { s3_root: &s3_root, interval: INTERVAL, validator_hotkey: Some(VALIDATOR) };
    let best = (0..repeat).try_fold(f64::MAX, |best, _| match run_reference(python, target) {
        ReferenceRun::Ran { wall_s, accepted: 1, .. } => Ok(best.min(wall_s)),
        ReferenceRun::Ran { accepted, .. } => Err(anyhow::anyhow!("the reference accepted {accepted} of 1 packages")),
        ReferenceRun::Unavailable(why) => Err(anyhow::anyhow!("the Python reference did not run: {why}")),
    });
    // The link and its bucket go whether the reference ran or not.
    std::fs::remove_dir_all(&s3_root).ok();
    best
}

fn bench_hostile(args: BenchHostileArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the nexis binary")?;
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().join("package"));
    eprintln!("generating a hostile {}-row package in {} ...", args.rows, dir.display());
    let bytes = nexis::bench::generate_hostile_package(&dir, args.rows, MINER, INTERVAL)
        .context("generating the hostile package")?;
    forget_own_peak_rss();
    eprintln!("validating it as {} miners at once ...", args.miners);
    let started = Instant::now();
    let child = Command::new(&exe)
        .args(["bench", "hostile-run", "--miners", &args.miners.to_string(), "--dir"])
        .arg(&dir)
        .env("NEXIS_LOG", "warn")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting nexis bench hostile-run")?;
    let (status, rusage) = wait_with_rusage(child.id())?;
    let peak_mib = u64::try_from(rusage.ru_maxrss).unwrap_or(0) as f64 / 1024.0;
    println!(
        "{} miners x {} hostile rows ({:.1} MB parquet): {:.1} s, peak memory {:.1} MiB (budget {} MiB)",
        args.miners,
        args.rows,
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        peak_mib,
        nexis::dataset::memory::DEFAULT_BUDGET_BYTES >> 20
    );
    if status != Some(0) {
        bail!("the measured child failed (exit {status:?})");
    }
    Ok(ExitCode::SUCCESS)
}

async fn bench_hostile_run(args: BenchHostileRunArgs) -> anyhow::Result<ExitCode> {
    use nexis::media::Ffprobe;
    use nexis::spec::SpecRegistry;
    use nexis::storage::{LocalStore, PrefixStore};
    use nexis::validator::{IntervalTerms, PackageLimits, PackageRequest, PackageValidator, interval_seed};

    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let probe = std::sync::Arc::new(Ffprobe::new(None, Duration::from_secs(60)));
    let registry = SpecRegistry::builtin().context("loading the built-in specs")?;
    let validator = PackageValidator::new(registry, probe, PackageLimits::default(), scratch.path().to_path_buf());
    let store = PrefixStore::new(LocalStore::new(&args.dir), format!("{INTERVAL}/"));
    let terms = IntervalTerms {
        interval_id: IntervalId::new(INTERVAL),
        validator_hotkey: Some(VALIDATOR.into()),
        interval_seed: interval_seed(INTERVAL),
        expected_category: Some(nexis::protocol::DEFAULT_CATEGORY.into()),
        enabled_specs: vec![nexis::protocol::DEFAULT_SPEC_ID.into()],
        upload_deadline: None,
        extra_sample_seed: None,
    };
    let request = PackageRequest::new(MINER, std::sync::Arc::new(terms));
    let runs = (0..args.miners.max(1)).map(|_| validator.validate(&store, &request));
    let outcomes = futures::future::join_all(runs).await;
    for outcome in outcomes {
        let d = outcome.context("validation environment")?.decision;
        println!(
            "  accepted={} failures listed={} total={} json={} bytes",
            d.accepted,
            d.failures.len(),
            d.notes.failures_total.unwrap_or(d.failures.len() as u64),
            d.to_json().len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

struct CheckRun {
    wall: Duration,
    peak_rss_kib: u64,
    accepted: bool,
}

/// Runs `nexis check --json` on `dir` and measures the child with `wait4`.
fn run_check(exe: &Path, dir: &Path, workdir: &Path) -> anyhow::Result<CheckRun> {
    let started = Instant::now();
    let child = Command::new(exe)
        .arg("check")
        .arg(dir)
        .args(["--hotkey", MINER, "--interval", &INTERVAL.to_string(), "--validator-hotkey", VALIDATOR])
        .arg("--workdir")
        .arg(workdir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nexis check")?;
    let (status, rusage) = wait_with_rusage(child.id())?;
    let wall = started.elapsed();
    Ok(CheckRun { wall, peak_rss_kib: u64::try_from(rusage.ru_maxrss).unwrap_or(0), accepted: status == Some(0) })
}

/// Resets this process's peak memory to its current size before a measured child starts.
/// Linux starts a child's `ru_maxrss` at the parent's high-water mark (the child begins
/// as the parent's address space, by vfork or fork), so the memory of generating a
/// package here would otherwise be reported as the measured command's peak.
fn forget_own_peak_rss() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only hands free heap pages back to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("warning: cannot reset the peak memory of the bench process ({e}); the figures include it");
    }
}

/// Waits for `pid` and returns its exit code and resource usage.
pub(super) fn wait_with_rusage(pid: u32) -> anyhow::Result<(Option<i32>, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid).context("child pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data that wait4 fills in; `status` is a valid out
    // pointer; `pid` is our own un-reaped child (std's Child is never waited on).
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context("waiting for nexis check");
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok((code, rusage))
}
