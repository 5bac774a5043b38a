//! `nexis bench catalog` and `nexis bench export`: the dataset figures of issue 18 — a
//! catalog of N synthetic rows (write time, size on disk, then `nexis dataset stats` and
//! a filtered `nexis dataset query` in child processes: wall time and peak memory from
//! `wait4`), and WebDataset export throughput over generated clips.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::ProgressBar;

use super::wait_with_rusage;
use crate::cli::args::parse_bytes;
use nexis::bench::catalog::{write_synthetic_catalog, write_synthetic_clips};
use nexis::catalog::export::{ExportSettings, export};
use nexis::storage::LocalStore;

/// Arguments of `nexis bench catalog`.
#[derive(Debug, Args)]
pub(crate) struct BenchCatalogArgs {
    /// Catalog rows.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Intervals the rows are spread over.
    #[arg(long, default_value_t = 20)]
    pub intervals: usize,
    /// Miners (parts) per interval.
    #[arg(long, default_value_t = 32)]
    pub miners: usize,
    /// Where the catalog goes (default: a temporary directory removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Arguments of `nexis bench export`.
#[derive(Debug, Args)]
pub(crate) struct BenchExportArgs {
    /// Bytes of clips to export.
    #[arg(long, default_value = "2GiB", value_parser = parse_bytes)]
    pub bytes: u64,
    /// Size of each generated clip.
    #[arg(long, default_value = "8MiB", value_parser = parse_bytes)]
    pub clip_bytes: u64,
    /// Shard size.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    pub shard_bytes: u64,
    /// Where the bucket and the shards go (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs `nexis dataset {args}` and returns (wall seconds, peak RSS MiB).
fn measure(exe: &Path, args: &[&str]) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let child = Command::new(exe)
        .arg("dataset")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nexis dataset")?;
    let (status, usage) = wait_with_rusage(child.id())?;
    if status != Some(0) {
        bail!("nexis dataset {} failed (exit {status:?}); run it by hand to see why", args.join(" "));
    }
    Ok((started.elapsed().as_secs_f64(), usage.ru_maxrss as f64 / 1024.0))
}

/// `nexis bench catalog`.
pub(crate) async fn bench_catalog(args: BenchCatalogArgs) -> anyhow::Result<ExitCode> {
    super::setup::build_kind("catalog");
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().join("owner-db"));
    let w = write_synthetic_catalog(&dir, args.rows, args.intervals, args.miners).await?;
    let on_disk = dir_bytes(&dir.join("catalog"));
    println!(
        "catalog write   {} rows in {} parts: {:.2} s ({:.0} rows/s), {:.1} MB on disk ({:.1} bytes/row)",
        w.rows,
        w.parts,
        w.seconds,
        w.rows as f64 / w.seconds.max(1e-9),
        on_disk as f64 / 1e6,
        on_disk as f64 / (w.rows.max(1) as f64)
    );
    let exe = std::env::current_exe().context("locating the nexis binary")?;
    let from = dir.to_str().context("the bench directory is not UTF-8")?;
    let (wall, peak) = measure(&exe, &["stats", "--from", from])?;
    println!("dataset stats   {wall:.2} s, peak memory {peak:.1} MiB");
    let sql = "SELECT miner_hotkey, count(*) AS clips, avg(clip_bytes) AS avg_bytes FROM catalog \
               WHERE \"interval\" >= 500 AND caption LIKE '%heron%' AND has_audio GROUP BY miner_hotkey";
    let (wall, peak) = measure(&exe, &["query", "--from", from, "--format", "csv", sql])?;
    println!("dataset query   {wall:.2} s, peak memory {peak:.1} MiB  ({sql})");
    Ok(ExitCode::SUCCESS)
}

/// `nexis bench export`.
pub(crate) async fn bench_export(args: BenchExportArgs) -> anyhow::Result<ExitCode> {
    super::setup::build_kind("export");
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let bucket = root.join("owner-db");
    let rows = write_synthetic_clips(&bucket, args.bytes, args.clip_bytes).await?;
    let clips: u64 = rows.iter().map(|r| r.clip_bytes + r.image_bytes).sum();
    let settings = ExportSettings {
        out: root.join("shards"),
        shard_bytes: args.shard_bytes,
        max_clip_bytes: args.clip_bytes.max(1) * 2,
        max_image_bytes: 1 << 20,
    };
    let _ = std::fs::remove_dir_all(&settings.out);
    let store = LocalStore::new(bucket);
    let n = rows.len();
    let report = export(&store, rows, &settings, &ProgressBar::hidden()).await?;
    println!(
        "export          {n} samples, {:.1} MB of clips and images into {} shards: {:.2} s, {:.1} MB/s written \
         ({:.1} MB/s of media, every digest verified)",
        clips as f64 / 1e6,
        report.shards,
        report.seconds,
        report.mb_per_sec(),
        clips as f64 / 1e6 / report.seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
