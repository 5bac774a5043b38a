//! One validator interval against a loopback S3 server: `miners` packages of `rows` rows
//! (3 sampled assets each, real 1280x720 clips), discovered on the embedded chain, fetched,
//! checked, sampled, probed and pruned exactly as `nexis validate` does.
//!
//! `cargo bench --bench interval -- [--miners 35] [--rows 10000] [--runs 3]`

#[path = "../tests/it/s3_server.rs"]
mod s3_server;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nexis::bench::{PackageSpec, generate_package};
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use nexis::chain::{Chain, Hotkey, ReadCredentials};
use nexis::index::overlap::OverlapIndex;
use nexis::media::{Ffprobe, NativeProbe};
use nexis::protocol::{Block, IntervalClock, IntervalId};
use nexis::spec::SpecRegistry;
use nexis::storage::S3Buckets;
use nexis::validator::{IntervalSettings, PackageLimits, PackageValidator, Seat, ValidatorConfig, ValidatorState};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let (miners, rows, runs) = (arg("--miners", 35), arg("--rows", 10_000), arg("--runs", 3));
    let tmp = tempfile::tempdir()?;
    let server = s3_server::S3Server::start().await;
    let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.path().join("chain"), 3_600_000))?;
    let netuid = 1;
    let validator = Hotkey::from_seed([1; 32]);
    chain.register(netuid, &validator.ss58())?;
    let (access, secret) = s3_server::KEYS;
    let creds = ReadCredentials::new("0123456789abcdef0123456789abcdef", access, secret)?;

    eprintln!("generating {miners} packages of {rows} rows (3 real clips each) and uploading them ...");
    let started = Instant::now();
    for m in 0..miners {
        let miner = Hotkey::from_seed([m as u8 + 10; 32]);
        chain.register(netuid, &miner.ss58())?;
        chain.commit(&miner, netuid, &creds.payload()).await?;
        let dir = tmp.path().join(format!("pkg{m}"));
        let spec = PackageSpec {
            rows,
            miner_hotkey: miner.ss58(),
            validator_hotkey: Some(validator.ss58()),
            interval_id: 0,
            row_sample_max: 3,
            source_offset: m * rows,
        };
        generate_package(&dir, &spec).await.with_context(|| format!("package {m}"))?;
        let bucket = nexis::chain::commitment::bucket_for_hotkey(&miner.ss58());
        server.create_bucket(&bucket).await;
        server.upload_dir(&bucket, &dir, "0/").await;
    }
    eprintln!("setup took {:.1} s", started.elapsed().as_secs_f64());
    chain.advance(52)?;

    let chain: Arc<dyn Chain> = Arc::new(chain);
    // Clips are probed as `nexis validate` does by default: in process, ffprobe for the unusual.
    let timeout = Duration::from_secs(30);
    let probe = NativeProbe::new(Ffprobe::new(None, timeout), timeout);
    // The generated packages have real clips at the deterministic sample only, so the
    // unpredictable extra samples (§9 rev. 2) are off: this measures the regular path.
    let limits = PackageLimits { extra_samples: 0, ..PackageLimits::default() };
    let packages = PackageValidator::new(SpecRegistry::builtin()?, Arc::new(probe), limits, tmp.path().join("scratch"));
    let seat = Seat { netuid, clock: IntervalClock::default(), hotkey: Arc::new(validator.clone()) };
    let stores = Arc::new(S3Buckets::new(Some(server.endpoint())));
    let state = ValidatorState::open(&tmp.path().join("state"))?;
    let mut config = ValidatorConfig::new(seat, chain, stores, packages, state);
    config.intervals = IntervalSettings { upload_grace: Duration::from_secs(86_400), ..IntervalSettings::default() };
    let evaluator = config.build()?.evaluator;
    let mut times = Vec::new();
    for run in 0..runs {
        let db = sled::Config::new().temporary(true).open()?;
        let index = OverlapIndex::new(db.open_tree("bench")?);
        let t = Instant::now();
        let ctx = evaluator.context(IntervalId::new(0), Block::new(52), BTreeSet::new(), None).await?;
        let report = evaluator.evaluate(&ctx, &index).await?;
        let took = t.elapsed();
        let accepted = report.record.decisions.iter().filter(|d| d.accepted).count();
        anyhow::ensure!(accepted == miners, "only {accepted} of {miners} packages were accepted");
        println!(
            "run {run}: {:.2} s (discover {:.2} s, miners {:.2} s, prune {:.2} s), {} decisions, {} rows kept",
            took.as_secs_f64(),
            report.timings.discover.as_secs_f64(),
            report.timings.miners.as_secs_f64(),
            report.timings.prune.as_secs_f64(),
            report.record.decisions.len(),
            report.record.index_entries.len()
        );
        times.push(took);
    }
    times.sort();
    println!(
        "interval of {miners} miners x {rows} rows: best {:.2} s, median {:.2} s",
        times[0].as_secs_f64(),
        times[times.len() / 2].as_secs_f64()
    );
    Ok(())
}
