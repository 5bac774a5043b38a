//! A whole validator interval at subnet scale on one machine: `miners` packages of `rows`
//! rows with a real, distinct clip and first frame at every row, served by an in-process
//! S3 server on loopback; miners discovered on the embedded chain; the semantic and
//! category checks asking a chat-completions stub that answers after a fixed latency and
//! refuses requests beyond its requests-per-minute limit (429 with `Retry-After`).
//!
//! The validator runs exactly as `nexis validate` evaluates an interval. The loopback
//! servers run on their own runtime whose threads are named `nexis-loopback`, so their CPU
//! time is subtracted from the process's: the CPU figure is the validator's own (with its
//! ffmpeg and ffprobe children).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::loopback::{CHAT_KEY, ChatStub, S3_ACCESS_KEY, S3_SECRET_KEY, S3Loopback};
use super::{GenerateError, PackageSpec, io_err, synthetic_record, write_manifest, write_rows};
use crate::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use crate::chain::{Chain, Hotkey, ReadCredentials};
use crate::index::overlap::OverlapIndex;
use crate::llm::{ChatClient, LlmProvider, RateLimiter};
use crate::media::{Ffprobe, MediaProbe, NativeProbe, ProbeCounts};
use crate::model::ClipRecord;
use crate::protocol::{Block, IntervalClock, IntervalId};
use crate::spec::SpecRegistry;
use crate::storage::S3Buckets;
use crate::validator::{
    ContentChecks, IntervalSettings, PackageLimits, PackageValidator, Seat, ValidatorConfig, ValidatorState,
};

/// Name prefix of the loopback servers' threads (their CPU is not the validator's).
const LOOPBACK_THREADS: &str = "nexis-loopback";

/// One subnet-scale interval to measure.
#[derive(Debug, Clone)]
pub struct SubnetBench {
    /// Miners with a package.
    pub miners: usize,
    /// Rows per package (each with its own real clip and frame).
    pub rows: usize,
    /// How long the model stub takes to answer.
    pub model_latency: Duration,
    /// The stub's requests-per-minute limit (0: none).
    pub model_rpm: u32,
    /// Model requests in flight at once (`NEXIS_LLM_CONCURRENCY`).
    pub llm_concurrency: usize,
    /// Requests per minute the validator paces itself to (`NEXIS_LLM_RPM`, 0: none).
    pub llm_rpm: u32,
    /// Miners validated at once (`NEXIS_VALIDATOR_MINER_CONCURRENCY`).
    pub miner_concurrency: usize,
    /// Probe clips in process (`--probe native`) rather than with ffprobe.
    pub native_probe: bool,
    /// Where packages, buckets and state go.
    pub workdir: PathBuf,
}

/// What one measured interval cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubnetReport {
    /// Miners evaluated.
    pub miners: usize,
    /// Rows per package.
    pub rows: usize,
    /// Packages accepted (all should be).
    pub accepted: usize,
    /// Wall time of the interval's evaluation, seconds.
    pub wall_s: f64,
    /// CPU time of the validator (its threads and child processes), seconds.
    pub cpu_s: f64,
    /// The part of `cpu_s` spent in ffmpeg/ffprobe child processes, seconds.
    pub children_cpu_s: f64,
    /// `cpu_s` as a share of one core's time over a live interval (50 blocks of 12 s).
    pub interval_core_share: f64,
    /// Peak resident memory of the bench process (loopback servers included), MiB.
    pub peak_mib: f64,
    /// Model requests sent.
    pub model_calls: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Clips read in process.
    pub native_probes: u64,
    /// Clips probed with ffprobe.
    pub ffprobe_probes: u64,
    /// Preparing the packages, seconds (not measured as validation).
    pub setup_s: f64,
}

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

fn err(context: &str) -> impl FnOnce(String) -> BenchError + '_ {
    move |e| BenchError(format!("{context}: {e}"))
}

/// A base clip and frame, made distinct per row: a `free` box after the movie (MP4) and
/// bytes after the end-of-image marker (JPEG) carry the row's number, so every row has
/// its own hashes and both files stay valid.
struct Media {
    clip: Vec<u8>,
    frame: Vec<u8>,
}

impl Media {
    async fn make(dir: &Path) -> Result<Self, BenchError> {
        let clip = dir.join("base.mp4");
        let args: Vec<String> = [
            "-f",
            "lavfi",
            "-i",
            "color=c=0x3a6b35:size=1280x720:rate=30:duration=5",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=220:duration=5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "16k",
            "-shortest",
            "-movflags",
            "+faststart",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([clip.display().to_string()])
        .collect();
        crate::media::ffmpeg::run_ffmpeg(&args, Duration::from_secs(120))
            .await
            .map_err(|e| BenchError(e.to_string()))?;
        let frame = dir.join("base.jpg");
        crate::media::synth::first_frame(&clip, &frame).await.map_err(|e| BenchError(e.to_string()))?;
        let read = |p: &Path| std::fs::read(p).map_err(|e| BenchError(format!("{}: {e}", p.display())));
        Ok(Self { clip: read(&clip)?, frame: read(&frame)? })
    }

    fn for_row(&self, tag: u64) -> (Vec<u8>, Vec<u8>) {
        let mut clip = self.clip.clone();
        clip.extend_from_slice(&24u32.to_be_bytes());
        clip.extend_from_slice(b"free");
        clip.extend_from_slice(&tag.to_be_bytes());
        clip.extend_from_slice(&[0; 8]);
        let mut frame = self.frame.clone();
        frame.extend_from_slice(&tag.to_be_bytes());
        (clip, frame)
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<String, GenerateError> {
    std::fs::write(path, bytes).map_err(io_err(path))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Writes miner `m`'s package into `dir` with real media at every row.
fn write_package(dir: &Path, spec: &PackageSpec, media: &Media, m: usize) -> Result<(), GenerateError> {
    std::fs::create_dir_all(dir.join("clips")).map_err(io_err(dir))?;
    std::fs::create_dir_all(dir.join("frames")).map_err(io_err(dir))?;
    let mut real: Vec<(usize, ClipRecord)> = Vec::with_capacity(spec.rows);
    for row in 0..spec.rows {
        let mut record = synthetic_record(row, spec.interval_id, spec.source_offset);
        let (clip, frame) = media.for_row((m * spec.rows + row) as u64);
        record.clip_sha256 = write(&dir.join(&record.clip_uri), &clip)?;
        record.first_frame_sha256 = write(&dir.join(&record.first_frame_uri), &frame)?;
        real.push((row, record));
    }
    let path = dir.join("dataset.parquet");
    write_rows(&path, spec, &real)?;
    write_manifest(dir, spec, &path)
}

/// The prepared subnet: chain, buckets and the servers.
struct Subnet {
    chain: EmbeddedChain,
    validator: Hotkey,
    s3: S3Loopback,
    chat: ChatStub,
}

async fn prepare(bench: &SubnetBench, loopback: &tokio::runtime::Handle) -> Result<Subnet, BenchError> {
    let root = bench.workdir.join("s3");
    std::fs::create_dir_all(&root).map_err(|e| BenchError(e.to_string()))?;
    let s3 = loopback.spawn(S3Loopback::start(root.clone())).await.map_err(|e| BenchError(e.to_string()))?;
    let s3 = s3.map_err(|e| BenchError(format!("S3 server: {e}")))?;
    let (latency, rpm) = (bench.model_latency, bench.model_rpm);
    let chat = loopback.spawn(ChatStub::start(latency, rpm)).await.map_err(|e| BenchError(e.to_string()))?;
    let chat = chat.map_err(|e| BenchError(format!("chat stub: {e}")))?;
    let chain = EmbeddedChain::open(EmbeddedSettings::new(bench.workdir.join("chain"), 3_600_000))
        .map_err(|e| BenchError(e.to_string()))?;
    let validator = Hotkey::from_seed([1; 32]);
    chain.register(1, &validator.ss58()).map_err(|e| BenchError(e.to_string()))?;
    let creds = ReadCredentials::new("0123456789abcdef0123456789abcdef", S3_ACCESS_KEY, S3_SECRET_KEY)
        .map_err(|e| BenchError(e.to_string()))?;
    let media = Media::make(&bench.workdir).await?;
    for m in 0..bench.miners {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(m as u64 + 1000).to_le_bytes());
        let miner = Hotkey::from_seed(seed);
        chain.register(1, &miner.ss58()).map_err(|e| BenchError(e.to_string()))?;
        chain.commit(&miner, 1, &creds.payload()).await.map_err(|e| BenchError(e.to_string()))?;
        let spec = PackageSpec {
            rows: bench.rows,
            miner_hotkey: miner.ss58(),
            validator_hotkey: Some(validator.ss58()),
            interval_id: 0,
            row_sample_max: crate::protocol::DEFAULT_ROW_SAMPLE_MAX,
            source_offset: m * bench.rows,
        };
        let bucket = crate::chain::commitment::bucket_for_hotkey(&miner.ss58());
        let dir = s3.object_path(&bucket, "0");
        write_package(&dir, &spec, &media, m).map_err(|e| err("package")(e.to_string()))?;
    }
    chain.advance(52).map_err(|e| BenchError(e.to_string()))?;
    Ok(Subnet { chain, validator, s3, chat })
}

/// The content checks asking the stub, with the concurrency and pacing of `bench`.
fn content_checks(bench: &SubnetBench, chat: &ChatStub) -> Result<(ContentChecks, Arc<RateLimiter>), BenchError> {
    let provider = LlmProvider::from_settings(Some(CHAT_KEY), Some(&chat.base_url()), None)
        .ok_or_else(|| BenchError("no provider".into()))?;
    let limit = Arc::new(Semaphore::new(bench.llm_concurrency.max(1)));
    let rate = Arc::new(RateLimiter::new(Some(bench.llm_rpm)));
    let timeout = bench.model_latency + Duration::from_secs(30);
    let client = |model: &str| -> Result<ChatClient, BenchError> {
        Ok(ChatClient::new(provider.clone(), model.into(), timeout, 1)
            .map_err(|e| BenchError(e.to_string()))?
            .with_limit(limit.clone())
            .with_rate_limiter(rate.clone()))
    };
    let checks = ContentChecks {
        semantic: Some(client("bench-semantic")?),
        category: Some(client("bench-category")?),
        semantic_max_samples: 8,
        category_max_samples: 8,
        ffmpeg_timeout: Duration::from_secs(60),
    };
    Ok((checks, rate))
}

/// Prepares the subnet, then evaluates one interval and measures it.
pub async fn run_subnet_bench(bench: &SubnetBench) -> Result<SubnetReport, BenchError> {
    let loopback = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(LOOPBACK_THREADS)
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .enable_all()
        .build()
        .map_err(|e| BenchError(e.to_string()))?;
    let result = measure(bench, loopback.handle()).await;
    loopback.shutdown_background();
    result
}

async fn measure(bench: &SubnetBench, loopback: &tokio::runtime::Handle) -> Result<SubnetReport, BenchError> {
    let setup = Instant::now();
    let subnet = prepare(bench, loopback).await?;
    let setup_s = setup.elapsed().as_secs_f64();
    let ffprobe = Ffprobe::new(None, Duration::from_secs(30));
    let native = NativeProbe::new(ffprobe.clone(), Duration::from_secs(30));
    let counts: Arc<ProbeCounts> = native.counts();
    let probe: Arc<dyn MediaProbe> = if bench.native_probe { Arc::new(native) } else { Arc::new(ffprobe) };
    let registry = SpecRegistry::builtin().map_err(|e| BenchError(e.to_string()))?;
    let (checks, rate) = content_checks(bench, &subnet.chat)?;
    let packages = PackageValidator::new(registry, probe, PackageLimits::default(), bench.workdir.join("scratch"))
        .with_content_checks(checks);
    let seat = Seat { netuid: 1, clock: IntervalClock::default(), hotkey: Arc::new(subnet.validator.clone()) };
    let stores = Arc::new(S3Buckets::new(Some(subnet.s3.endpoint())));
    let state = ValidatorState::open(&bench.workdir.join("state")).map_err(|e| BenchError(e.to_string()))?;
    let chain: Arc<dyn Chain> = Arc::new(subnet.chain);
    let mut config = ValidatorConfig::new(seat, chain, stores, packages, state);
    config.intervals = IntervalSettings {
        // Protocol §7 selects at most 35 miners; the bench measures every package (a full
        // subnet), so the cap is lifted here.
        max_miners: bench.miners.max(1),
        miner_concurrency: bench.miner_concurrency,
        upload_grace: Duration::from_secs(86_400),
        ..IntervalSettings::default()
    };
    let evaluator = config.build().map_err(|e| BenchError(e.to_string()))?.evaluator;
    let db = sled::Config::new().temporary(true).open().map_err(|e| BenchError(e.to_string()))?;
    let index = OverlapIndex::new(db.open_tree("bench").map_err(|e| BenchError(e.to_string()))?);

    let cpu_before = CpuTimes::now();
    let started = Instant::now();
    let ctx = evaluator
        .context(IntervalId::new(0), Block::new(52), BTreeSet::new(), None)
        .await
        .map_err(|e| BenchError(e.to_string()))?;
    let report = evaluator.evaluate(&ctx, &index).await.map_err(|e| BenchError(e.to_string()))?;
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_after = CpuTimes::now();
    let cpu_s = cpu_after.validator_since(&cpu_before);
    let interval = IntervalClock::default();
    let interval_s = (interval.interval_blocks * interval.block_time_sec) as f64;
    let accepted = report.record.decisions.iter().filter(|d| d.accepted).count();
    if let Some(d) = report.record.decisions.iter().find(|d| !d.accepted) {
        tracing::warn!(decision = %d.to_json(), "a benchmark package was rejected");
    }
    Ok(SubnetReport {
        miners: report.record.decisions.len(),
        rows: bench.rows,
        accepted,
        wall_s,
        cpu_s,
        children_cpu_s: cpu_after.children - cpu_before.children,
        interval_core_share: cpu_s / interval_s,
        peak_mib: peak_rss_mib(),
        model_calls: rate.requests(),
        rate_limited: rate.rate_limited(),
        native_probes: counts.native(),
        ffprobe_probes: if bench.native_probe { counts.fallback() } else { report_probes(&report) },
        setup_s,
    })
}

/// Clips probed in an interval (one per sampled row of every package evaluated).
fn report_probes(report: &crate::validator::IntervalReport) -> u64 {
    report
        .record
        .decisions
        .iter()
        .map(|d| d.sampled_rows + d.notes.extra_sampled_row_indices.as_ref().map_or(0, Vec::len) as u64)
        .sum()
}

/// CPU seconds of this process, of its reaped children, and of the loopback threads.
struct CpuTimes {
    process: f64,
    children: f64,
    loopback: f64,
}

fn rusage_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage fills the plain-data struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// CPU seconds of this process's threads whose name starts with `prefix` (Linux; 0 elsewhere).
fn threads_cpu(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut total = 0.0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state is field 3, utime field 14, stime field 15.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        total += (field(14) + field(15)) / ticks;
    }
    total
}

impl CpuTimes {
    fn now() -> Self {
        Self {
            process: rusage_seconds(libc::RUSAGE_SELF),
            children: rusage_seconds(libc::RUSAGE_CHILDREN),
            loopback: threads_cpu(LOOPBACK_THREADS),
        }
    }

    fn validator_since(&self, before: &Self) -> f64 {
        let own = (self.process - before.process) - (self.loopback - before.loopback);
        own.max(0.0) + (self.children - before.children)
    }
}

/// This process's peak resident memory, MiB.
fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage fills the plain-data struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    usage.ru_maxrss as f64 / 1024.0
}
