//! `nexis bench api`: one load (validators posting signed reports at their rate limit,
//! miners and readers polling) against three evidence API servers, one after another, each
//! a separate process on loopback: `nexis api` on SQLite, `nexis api` on PostgreSQL, and the
//! Python reference (nexisgen's FastAPI app under uvicorn, `scripts/reference-api.py`) on
//! the same PostgreSQL. The chain is an embedded one whose clock both kinds of server
//! follow; PostgreSQL is a private cluster (initdb + pg_ctl on a temporary directory and a
//! loopback port). Prints posts/s, p50/p99 of posts and reads and the peak resident memory
//! (VmHWM) of each server process, as a table or JSON.

mod postgres;
mod process;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::setup::{ReferenceArgs, Scratch, build_kind};
use nexis::evidence_server::load::LoadSpec;
use postgres::PgCluster;
use process::{Setup, measure};
use report::{BenchReport, TargetReport, print_table, print_verdicts};

/// The driver of the reference server (embedded so the binary runs it from anywhere).
const REFERENCE_DRIVER: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/reference-api.py"));
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
    #[command(flatten)]
    pub reference: ReferenceArgs,
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
    /// The target's id in JSON.
    fn id(self) -> &'static str {
        match self {
            Self::NexisSqlite => "nexis-sqlite",
            Self::NexisPostgres => "nexis-postgres",
            Self::Reference => "reference-postgres",
        }
    }

    /// The target's name in the table.
    fn label(self) -> &'static str {
        match self {
            Self::NexisSqlite => "nexis api, SQLite",
            Self::NexisPostgres => "nexis api, PostgreSQL",
            Self::Reference => "reference, PostgreSQL",
        }
    }
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
    let build = build_kind("api");
    let scratch = Scratch::new("nexis-bench-api-", None)?;
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
    let setup = Setup::new(&scratch.path, &args, spec.validators)?;
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
        if target == Target::Reference && args.reference.skip_reference {
            targets.push(TargetReport::not_measured(target, "skipped", "--skip-reference".into()));
            continue;
        }
        eprintln!("measuring {} ...", target.label());
        let server = match target {
            Target::NexisSqlite => setup.nexis_server(None, args.rate_per_min),
            Target::NexisPostgres => setup.nexis_server(Some(pg.url("nexis_bench")), args.rate_per_min),
            Target::Reference => setup.reference_server(&args.reference.reference_python, &pg.url("reference_bench")),
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
