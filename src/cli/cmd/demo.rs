//! `nexis demo`: a whole subnet on this machine — embedded chain, local bucket
//! directories, one validator, honest and cheating miners on synthetic videos — running
//! the real mine and validate code for a few intervals and one weight epoch. Prints a
//! timeline and a summary table (or, with `--json`, one JSON document) on stdout; logs go
//! to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tracing::info;

use crate::cli::args::BlockArgs;
use nexis::demo::report::{Timed, render_event, render_invalid_window, render_summary};
use nexis::demo::{DemoSettings, run};
use nexis::shutdown::Shutdown;

/// Arguments of `nexis demo`.
#[derive(Debug, Args)]
#[command(after_help = "Needs ffmpeg and ffprobe; no accounts, keys or network. The chain, buckets, \
    miners and validator state live in a temporary directory that is removed at the end, unless \
    --workdir names an (empty) directory to keep them in.\n\n\
    Example:\n  nexis demo\n  nexis demo --json > demo.json")]
pub(crate) struct DemoArgs {
    /// Keep everything in DIR (must be empty or absent) instead of a temporary directory.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Print one JSON document (timeline and summary) instead of the readable timeline.
    #[arg(long)]
    pub json: bool,
    /// Intervals to run (default: enough for one full weight epoch).
    #[arg(long)]
    pub intervals: Option<u64>,
    /// Clips each miner packages per interval.
    #[arg(long, default_value_t = 2)]
    pub clips_per_interval: usize,
    /// Wall time between two blocks while the demo steps the chain, milliseconds.
    #[arg(long, default_value_t = 20)]
    pub block_ms: u64,
    #[command(flatten)]
    pub blocks: BlockArgs,
}

/// Runs `nexis demo`.
pub(crate) async fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let demo = DemoSettings::demo_clock();
    // The demo's own short intervals and epoch are not operator overrides, so they are
    // applied after `resolve` (which warns about overrides); the upload reserve keeps the
    // live value (2 blocks).
    let (mut clock, windows) = args.blocks.resolve()?;
    if args.blocks.interval.interval_blocks.is_none() {
        clock.interval_blocks = demo.interval_blocks;
    }
    if args.blocks.weight_epoch_blocks.is_none() {
        clock.weight_epoch_blocks = demo.weight_epoch_blocks;
    }

    let (workdir, temporary) = match &args.workdir {
        Some(dir) => (dir.clone(), None),
        None => {
            let tmp =
                tempfile::Builder::new().prefix("nexis-demo-").tempdir().context("creating a temporary directory")?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let settings = DemoSettings {
        workdir,
        clock,
        windows,
        intervals: args.intervals.unwrap_or_else(|| DemoSettings::intervals_for_one_epoch(&clock)),
        clips_per_interval: args.clips_per_interval,
        block_time: Duration::from_millis(args.block_ms),
    };
    info!(workdir = %settings.workdir.display(), intervals = settings.intervals, "starting the demo");

    let json = args.json;
    let mut live = |t: &Timed| {
        if !json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", render_event(t));
            let _ = out.flush();
        }
    };
    let shutdown = Shutdown::on_signal("the demo stops");
    let report = tokio::select! {
        r = run(&settings, temporary.is_some(), &mut live) => r.context("the demo failed")?,
        () = shutdown.requested() => {
            match &args.workdir {
                Some(dir) => eprintln!("interrupted: the demo stopped; its partial state is in {}", dir.display()),
                None => eprintln!("interrupted: the demo stopped and its temporary directory is removed"),
            }
            return Ok(ExitCode::from(130));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).context("encoding the report")?);
    } else {
        println!();
        print!("{}", render_summary(&report.summary));
        print!("{}", render_invalid_window(&report));
        println!();
        match &args.workdir {
            Some(dir) => println!(
                "Done in {:.1} s. Chain, buckets and validator state are in {}.",
                report.elapsed_sec,
                dir.display()
            ),
            None => println!(
                "Done in {:.1} s. The temporary work directory is removed; use --workdir DIR to keep it.",
                report.elapsed_sec
            ),
        }
    }
    drop(temporary);
    Ok(ExitCode::SUCCESS)
}
