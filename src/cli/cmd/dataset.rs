//! `nexis dataset`: the owner dataset as a dataset — statistics, SQL, WebDataset export
//! and the catalog rebuild, over the parquet catalog in the owner bucket (or a local
//! mirror of it, `--from DIR`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::*;

use crate::cli::args::R2Credentials;
use crate::cli::args::{CatalogValidatorArg, LocalBucketsArg, OwnerDbArgs, S3EndpointArg, WorkdirArg, parse_bytes};
use crate::cli::args::{RecordInfoArgs, RecordInfoWriteArgs};
use nexis::catalog::export::{ExportSettings, export};
use nexis::catalog::frame::{mirror, rows_of, scan, sql};
use nexis::catalog::plot::draw as plot;
use nexis::catalog::rebuild::{RebuildSettings, rebuild};
use nexis::catalog::stats::compute;
use nexis::shutdown::Shutdown;
use nexis::storage::{LocalStore, ObjectStore};

/// `nexis dataset` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum DatasetCommand {
    /// Rows, hours of video, clips per interval and per miner, caption lengths.
    Stats(StatsArgs),
    /// Run SQL over the catalog (table `catalog`), print a table or write CSV/parquet.
    Query(QueryArgs),
    /// Export clips as WebDataset tar shards (resumable, every digest verified).
    Export(ExportArgs),
    /// Rebuild the catalog from the objects already in the owner bucket.
    RebuildCatalog(RebuildArgs),
}

/// Where the catalog and the clips are read from.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// A local copy of the owner bucket (the folder holding `catalog/` and `nature/`);
    /// without it the owner bucket is read (NEXIS_OWNER_DB_*).
    #[arg(long, env = "NEXIS_DATASET_FROM")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub owner_db: OwnerDbArgs,
    #[command(flatten)]
    pub buckets: LocalBucketsArg,
    #[command(flatten)]
    pub s3: S3EndpointArg,
    #[command(flatten)]
    pub workdir: WorkdirArg,
    /// Where parts read from the bucket are cached (default: NEXIS_WORKDIR/dataset-cache).
    #[arg(long, env = "NEXIS_DATASET_CACHE")]
    pub cache: Option<PathBuf>,
}

impl SourceArgs {
    /// The owner bucket (or the local copy).
    fn store(&self) -> anyhow::Result<Arc<dyn ObjectStore>> {
        if let Some(dir) = &self.from {
            if !dir.is_dir() {
                bail!("--from {}: no such directory", dir.display());
            }
            return Ok(Arc::new(LocalStore::new(dir.clone())));
        }
        let Some(bucket) = self.owner_db.bucket() else {
            bail!("set --from DIR (a local copy) or NEXIS_OWNER_DB_BUCKET (the owner dataset bucket)");
        };
        if let Some(dir) = &self.buckets.buckets_dir {
            return Ok(Arc::new(LocalStore::new(dir.join(bucket))));
        }
        let [account_id, access_key, secret_key] = self.owner_db.credentials();
        let credentials = R2Credentials { account_id, access_key, secret_key };
        let keys = credentials.required("reading the owner bucket (or use --from DIR)")?;
        keys.store(bucket, self.s3.get(), "owner dataset bucket")
    }

    /// The local folder holding `catalog/`: `--from`, or a verified mirror of the bucket.
    async fn catalog_root(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.from {
            return Ok(dir.clone());
        }
        let store = self.store()?;
        let cache = self.cache.clone().unwrap_or_else(|| self.workdir.path().join("dataset-cache"));
        let index = mirror(store.as_ref(), &cache).await.context("mirroring the catalog from the owner bucket")?;
        tracing::info!(parts = index.parts.len(), rows = index.rows, cache = %cache.display(), "catalog mirrored");
        Ok(cache)
    }

    async fn catalog(&self) -> anyhow::Result<LazyFrame> {
        let root = self.catalog_root().await?;
        let found = tokio::task::spawn_blocking(move || scan(&root)).await??;
        found.context(
            "the catalog has no parts yet (run `nexis sync-owner-datasets`, or `nexis dataset rebuild-catalog`)",
        )
    }
}

/// Arguments of `nexis dataset stats`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  nexis dataset stats --from ./buckets/owner-db --plot stats.png")]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Also draw the numbers as a PNG chart.
    #[arg(long, env = "NEXIS_DATASET_PLOT")]
    pub plot: Option<PathBuf>,
    /// Miners listed (by clips, most first).
    #[arg(long, default_value_t = 20)]
    pub top_miners: usize,
}

/// Output format of `nexis dataset query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Table,
    Csv,
    Parquet,
}

/// Arguments of `nexis dataset query`.
#[derive(Debug, Args)]
#[command(after_help = "The catalog is the table `catalog` (columns: see docs/dataset.md).\n\nExample:\n  \
    nexis dataset query --from ./buckets/owner-db \\\n    \"SELECT miner_hotkey, count(*) AS clips FROM catalog \
    GROUP BY miner_hotkey ORDER BY clips DESC\"")]
pub(crate) struct QueryArgs {
    /// The SQL query.
    pub sql: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, env = "NEXIS_DATASET_FORMAT")]
    pub format: OutputFormat,
    /// Write the result to this file (needed for parquet; stdout otherwise).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Rows printed in table format.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    Webdataset,
}

/// Arguments of `nexis dataset export`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  nexis dataset export --from ./buckets/owner-db --format webdataset \
    --shard-bytes 1GiB --out ./shards --where \"interval >= 100\"")]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Webdataset)]
    pub format: ExportFormat,
    /// Largest shard (e.g. 1GiB, 500MB, 1048576); a larger sample gets its own shard.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes, env = "NEXIS_DATASET_SHARD_BYTES")]
    pub shard_bytes: u64,
    /// Output folder (shards and index.json); rerunning resumes.
    #[arg(long)]
    pub out: PathBuf,
    /// SQL condition selecting the rows (`WHERE` clause over `catalog`).
    #[arg(long = "where")]
    pub filter: Option<String>,
    /// Largest clip accepted.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes)]
    pub max_clip_bytes: u64,
    /// Largest first image accepted.
    #[arg(long, default_value = "8MiB", value_parser = parse_bytes)]
    pub max_image_bytes: u64,
}

/// Arguments of `nexis dataset rebuild-catalog`.
#[derive(Debug, Args)]
#[command(after_help = "Reads nature/{id}/... in the owner bucket and the bundles in the record-info bucket, \
    and rewrites catalog/ and catalog/_index.json.\n\nExample:\n  nexis dataset rebuild-catalog --buckets-dir \
    ./buckets --owner-db-bucket owner-db")]
pub(crate) struct RebuildArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub record_info: RecordInfoArgs,
    #[command(flatten)]
    pub record_info_write: RecordInfoWriteArgs,
    #[command(flatten)]
    pub validator: CatalogValidatorArg,
    /// Largest bundle dataset accepted.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    pub max_dataset_bytes: u64,
}

/// Runs `nexis dataset ...`.
pub(crate) async fn run(cmd: DatasetCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DatasetCommand::Stats(args) => stats(args).await,
        DatasetCommand::Query(args) => query(args).await,
        DatasetCommand::Export(args) => export_cmd(args).await,
        DatasetCommand::RebuildCatalog(args) => rebuild_cmd(args).await,
    }
}

async fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let catalog = args.source.catalog().await?;
    let s = tokio::task::spawn_blocking(move || compute(catalog)).await??;
    print!("{}", s.render(args.top_miners));
    if let Some(path) = &args.plot {
        let (s, p) = (s.clone(), path.clone());
        tokio::task::spawn_blocking(move || plot(&s, &p)).await??;
        println!("\nchart written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// An aligned text table of at most `limit` rows.
fn render_table(df: &DataFrame, limit: usize) -> String {
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let shown = df.height().min(limit);
    let mut cells: Vec<Vec<String>> = vec![names];
    for r in 0..shown {
        let row = df
            .columns()
            .iter()
            .map(|c| match c.get(r) {
                Ok(AnyValue::Null) => "null".to_string(),
                Ok(AnyValue::String(s)) => s.to_string(),
                Ok(AnyValue::StringOwned(s)) => s.to_string(),
                Ok(v) => v.to_string(),
                Err(e) => format!("<{e}>"),
            })
            .collect();
        cells.push(row);
    }
    let widths: Vec<usize> =
        (0..cells[0].len()).map(|i| cells.iter().map(|r| r[i].chars().count().min(60)).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (n, row) in cells.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(60).collect();
                format!("{c:<w$}")
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
            out.push('\n');
        }
    }
    if df.height() > shown {
        out.push_str(&format!("... {} rows in all (--limit {limit})\n", df.height()));
    } else {
        out.push_str(&format!("({} rows)\n", df.height()));
    }
    out
}

fn write_result(mut df: DataFrame, format: OutputFormat, out: Option<&Path>, limit: usize) -> anyhow::Result<()> {
    match (format, out) {
        (OutputFormat::Table, None) => print!("{}", render_table(&df, limit)),
        (OutputFormat::Table, Some(path)) => std::fs::write(path, render_table(&df, usize::MAX))?,
        (OutputFormat::Csv, None) => CsvWriter::new(std::io::stdout().lock()).finish(&mut df)?,
        (OutputFormat::Csv, Some(path)) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            CsvWriter::new(file).finish(&mut df)?;
        }
        (OutputFormat::Parquet, None) => bail!("--format parquet needs --out FILE"),
        (OutputFormat::Parquet, Some(path)) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            ParquetWriter::new(file).with_compression(ParquetCompression::Zstd(None)).finish(&mut df)?;
        }
    }
    Ok(())
}

/// What to say when a query fails: the table name, and the quoting `interval` needs
/// (a reserved word in SQL).
fn sql_hint(sql: &str) -> String {
    let bare = sql.to_ascii_lowercase().contains("interval") && !sql.contains("\"interval\"");
    let quote = if bare { "; `interval` is an SQL keyword: write it as \"interval\"" } else { "" };
    format!("running the query (the table is `catalog`{quote})")
}

async fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let catalog = args.source.catalog().await?;
    let text = args.sql.clone();
    let df = tokio::task::spawn_blocking(move || sql(catalog, &text)?.collect().map_err(anyhow::Error::from))
        .await?
        .context(sql_hint(&args.sql))?;
    write_result(df, args.format, args.out.as_deref(), args.limit)?;
    if let Some(path) = &args.out {
        eprintln!("result written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn export_bar() -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "[{elapsed_precise}] [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ({eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

async fn export_cmd(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let ExportFormat::Webdataset = args.format;
    let store = args.source.store()?;
    let catalog = args.source.catalog().await?;
    let filter = args.filter.clone();
    let rows = tokio::task::spawn_blocking(move || {
        let query = match filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => format!("SELECT * FROM catalog WHERE {f}"),
            None => "SELECT * FROM catalog".to_string(),
        };
        let df = sql(catalog, &query)?.collect()?;
        rows_of(&df).map_err(anyhow::Error::from)
    })
    .await?
    .with_context(|| {
        format!(
            "selecting the rows to export (--where is an SQL condition over `catalog`); {}",
            sql_hint(args.filter.as_deref().unwrap_or_default())
        )
    })?;
    let settings = ExportSettings {
        out: args.out.clone(),
        shard_bytes: args.shard_bytes,
        max_clip_bytes: args.max_clip_bytes,
        max_image_bytes: args.max_image_bytes,
    };
    let bar = export_bar();
    let shutdown = Shutdown::on_signal("the export stops after its last complete shard");
    let report = tokio::select! {
        r = export(store.as_ref(), rows, &settings, &bar) => r?,
        () = shutdown.requested() => {
            bar.abandon();
            eprintln!("interrupted; rerun the same command to resume from the last complete shard");
            return Ok(ExitCode::from(130));
        }
    };
    bar.finish_and_clear();
    println!(
        "exported {} samples in {} shards ({} already done) to {}: {:.1} MB written in {:.1} s, {:.1} MB/s",
        report.samples,
        report.shards,
        report.shards_skipped,
        args.out.display(),
        report.bytes_written as f64 / 1e6,
        report.seconds,
        report.mb_per_sec()
    );
    Ok(ExitCode::SUCCESS)
}

async fn rebuild_cmd(args: RebuildArgs) -> anyhow::Result<ExitCode> {
    let owner = args.source.store()?;
    let endpoint = args.source.s3.get();
    let record_info = args.record_info_write.store(
        &args.record_info,
        args.source.buckets.buckets_dir.as_ref(),
        endpoint,
        "the catalog rebuild",
    )?;
    let scratch = args.source.workdir.path().join("catalog-rebuild");
    let settings = RebuildSettings {
        max_dataset_bytes: args.max_dataset_bytes,
        max_dataset_rows: nexis::protocol::DEFAULT_MAX_DATASET_ROWS,
        max_decoded_bytes: nexis::catalog::rebuild::DEFAULT_MAX_DECODED_BYTES,
        validator_hotkey: args.validator.hotkey(),
        concurrency: 16,
    };
    let report = rebuild(owner.as_ref(), record_info.as_ref(), &scratch, &settings).await?;
    for e in &report.bundle_errors {
        eprintln!("bundle skipped: {e}");
    }
    println!(
        "catalog rebuilt: {} rows in {} parts; {} owner rows no bundle names (left out); {} unreadable bundles",
        report.rows,
        report.parts,
        report.orphans,
        report.bundle_errors.len()
    );
    Ok(if report.bundle_errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
