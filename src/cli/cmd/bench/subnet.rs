//! `nexis bench subnet`: one validator interval at subnet scale on loopback (see
//! `nexis::bench::subnet`), optionally with the Python reference validating the same
//! packages one after another; prints a table or, with `--json`, one object.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::setup::{ReferenceArgs, Scratch, build_kind};
use crate::cli::args::ProbeKind;
use nexis::bench::reference::{ReferenceRun, ReferenceTarget, run_reference};
use nexis::bench::subnet::{SubnetBench, SubnetReport, run_subnet_bench};

/// Arguments of `nexis bench subnet`.
#[derive(Debug, Args)]
pub(crate) struct BenchSubnetArgs {
    /// Miners with a package (a full subnet: 256 UIDs, one of them this validator).
    #[arg(long, default_value_t = 255)]
    pub miners: usize,
    /// Rows per package; every row has its own real clip and first frame.
    #[arg(long, default_value_t = 40)]
    pub rows: usize,
    /// How long the model stub takes to answer, milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub model_latency_ms: u64,
    /// The model stub's requests-per-minute limit (429 with Retry-After beyond it; 0: none).
    #[arg(long, default_value_t = 1000)]
    pub model_rpm: u32,
    /// Model requests in flight at once (default: what the provider's limit allows,
    /// rpm x latency / 60 s).
    #[arg(long)]
    pub llm_concurrency: Option<usize>,
    /// Requests per minute the validator paces itself to (default: the stub's limit).
    #[arg(long)]
    pub llm_rpm: Option<u32>,
    /// Miners validated at once.
    #[arg(long, default_value_t = 32)]
    pub miner_concurrency: usize,
    /// How clips are probed.
    #[arg(long, value_enum, default_value_t = ProbeKind::Native)]
    pub probe: ProbeKind,
    #[command(flatten)]
    pub reference: ReferenceArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where packages and state go (default: a temporary directory removed afterwards).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
}

impl BenchSubnetArgs {
    fn bench(&self, workdir: PathBuf) -> SubnetBench {
        let latency = Duration::from_millis(self.model_latency_ms);
        let rpm = self.model_rpm;
        let follows_provider = if rpm == 0 { 64 } else { (u128::from(rpm) * latency.as_millis()).div_ceil(60_000) };
        SubnetBench {
            miners: self.miners,
            rows: self.rows,
            model_latency: latency,
            model_rpm: rpm,
            llm_concurrency: self.llm_concurrency.unwrap_or(follows_provider.max(1) as usize),
            llm_rpm: self.llm_rpm.unwrap_or(rpm),
            miner_concurrency: self.miner_concurrency,
            native_probe: self.probe == ProbeKind::Native,
            workdir,
        }
    }
}

fn print_table(bench: &SubnetBench, r: &SubnetReport, reference: &Option<ReferenceRun>) {
    println!(
        "subnet interval: {} miners x {} rows (real clip at every row), model {} ms, {} rpm; \
         llm concurrency {}, pacing {} rpm, {} miners at once",
        bench.miners,
        bench.rows,
        bench.model_latency.as_millis(),
        bench.model_rpm,
        bench.llm_concurrency,
        bench.llm_rpm,
        bench.miner_concurrency
    );
    println!("  accepted        {} of {}", r.accepted, r.miners);
    println!("  wall            {:.2} s", r.wall_s);
    println!(
        "  cpu             {:.2} s, {:.2} s of it in ffmpeg/ffprobe ({:.0} % of one core over the wall time; \
         {:.1} % of one core's time over a 600 s interval)",
        r.cpu_s,
        r.children_cpu_s,
        100.0 * r.cpu_s / r.wall_s,
        100.0 * r.interval_core_share
    );
    println!("  peak memory     {:.0} MiB (bench process, loopback servers included)", r.peak_mib);
    println!("  model calls     {}", r.model_calls);
    println!("  429s            {}", r.rate_limited);
    println!("  probes          {} in process, {} by ffprobe", r.native_probes, r.ffprobe_probes);
    println!("  setup           {:.1} s (not measured)", r.setup_s);
    match reference {
        Some(ReferenceRun::Ran { wall_s, accepted, packages }) => {
            println!(
                "  reference       {wall_s:.2} s for {packages} packages one after another ({accepted} accepted), \
                 without its model checks"
            );
            println!("  ratio           {:.3} (nexis / reference)", r.wall_s / wall_s);
            // The reference calls the model one request at a time: the same calls would add
            // their latency end to end (an estimate, not measured).
            let with_model = wall_s + r.model_calls as f64 * bench.model_latency.as_secs_f64();
            println!(
                "  with its model  about {with_model:.0} s if it made the same {} calls one after another \
                 (ratio about {:.3}; estimated)",
                r.model_calls,
                r.wall_s / with_model
            );
        }
        Some(ReferenceRun::Unavailable(why)) => println!("  reference       not run: {why}"),
        None => println!("  reference       skipped"),
    }
}

/// Runs `nexis bench subnet`.
pub(crate) async fn bench_subnet(args: BenchSubnetArgs) -> anyhow::Result<ExitCode> {
    build_kind("subnet");
    let scratch = Scratch::new("nexis-bench-subnet-", args.workdir.clone())?;
    let workdir = scratch.path.clone();
    let bench = args.bench(workdir.clone());
    let report = run_subnet_bench(&bench).await.context("the subnet bench failed")?;
    let s3_root = workdir.join("s3");
    let target = ReferenceTarget { s3_root: &s3_root, interval: 0, validator_hotkey: None };
    let reference = (!args.reference.skip_reference).then(|| run_reference(&args.reference.reference_python, target));
    if args.json {
        let (reference_wall_s, reference_note) = match &reference {
            Some(ReferenceRun::Ran { wall_s, .. }) => (Some(*wall_s), None),
            Some(ReferenceRun::Unavailable(why)) => (None, Some(why.clone())),
            None => (None, Some("skipped".to_string())),
        };
        let mut out = serde_json::to_value(&report)?;
        out["reference_wall_s"] = json!(reference_wall_s);
        out["reference_note"] = json!(reference_note);
        out["ratio"] = json!(reference_wall_s.map(|r| report.wall_s / r));
        out["llm_concurrency"] = json!(bench.llm_concurrency);
        out["miner_concurrency"] = json!(bench.miner_concurrency);
        println!("{out}");
    } else {
        print_table(&bench, &report, &reference);
    }
    Ok(if report.accepted == report.miners { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
