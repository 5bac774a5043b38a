//! `nexis check`: validate one package directory offline and print its decision.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::args::ContentCheckArgs;
use crate::cli::args::{CategoryArg, EnabledSpecsArg, PackageArgs, SourceCheckArgs, WorkdirArg, registry_for};
use anyhow::{Context, bail};
use clap::Args;

use nexis::model::Decision;
use nexis::protocol::{HotkeyAddr, IntervalId};
use nexis::storage::LocalStore;
use nexis::validator::{
    IntervalTerms, PackageRequest, PackageValidator, forgive_unusable_replies, interval_seed, normalize_block_hash,
};

/// Arguments of `nexis check`.
#[derive(Debug, Args)]
#[command(after_help = "Exit status: 0 accepted, 1 rejected, 2 usage or environment error.\n\n\
    Example:\n  nexis check tests/golden/valid_12/package \\\n    \
    --hotkey 5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9 --interval 7756800")]
pub(crate) struct CheckArgs {
    /// Directory holding the contents of a bucket's `{interval_id}/` prefix
    /// (manifest.json, dataset.parquet, clips/, frames/).
    pub package_dir: PathBuf,
    /// SS58 hotkey of the miner the package belongs to.
    #[arg(long)]
    pub hotkey: String,
    /// Interval id (the interval's first block).
    #[arg(long)]
    pub interval: u64,
    /// Validator hotkey that seeds row sampling (as in the live validator).
    #[arg(long, env = "NEXIS_VALIDATOR_HOTKEY")]
    pub validator_hotkey: Option<String>,
    #[command(flatten)]
    pub category: CategoryArg,
    #[command(flatten)]
    pub specs: EnabledSpecsArg,
    /// Hex hash of the interval's deadline block (`I + 52`): also check the unpredictable
    /// extra rows it selects (protocol §9 rev. 2). Without it there are no extra samples.
    #[arg(long, value_name = "HEX")]
    pub extra_sample_seed: Option<String>,
    /// Print the exact decision JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub package: PackageArgs,
    #[command(flatten)]
    pub content: ContentCheckArgs,
    #[command(flatten)]
    pub source: SourceCheckArgs,
    /// Temporary downloads go under the work directory (default: the system temp directory).
    #[command(flatten)]
    pub workdir: WorkdirArg,
}

impl CheckArgs {
    fn request(&self) -> anyhow::Result<PackageRequest> {
        let category = self.category.category.trim();
        let extra_sample_seed = match &self.extra_sample_seed {
            Some(hex) => Some(normalize_block_hash(hex).with_context(|| {
                format!("--extra-sample-seed {hex:?} is not a hex block hash (the hash of block interval + 52)")
            })?),
            None => None,
        };
        let terms = IntervalTerms {
            interval_id: IntervalId::new(self.interval),
            validator_hotkey: self.validator_hotkey.clone().filter(|v| !v.is_empty()).map(HotkeyAddr::from),
            interval_seed: interval_seed(self.interval),
            expected_category: (!category.is_empty()).then(|| category.to_string()),
            enabled_specs: self.specs.specs.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            upload_deadline: None,
            extra_sample_seed,
        };
        Ok(PackageRequest::new(self.hotkey.clone(), Arc::new(terms)))
    }
}

/// Prints a readable summary of a decision.
pub(crate) fn print_summary(d: &Decision) {
    let verdict = if d.accepted { "ACCEPTED" } else { "REJECTED" };
    println!("{verdict}  miner {}  interval {}", d.miner_hotkey, d.interval_id);
    let sampled = d
        .notes
        .sampled_row_indices
        .as_ref()
        .map(|rows| rows.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    println!("  records: {}   sampled: {} [{}]", d.record_count, d.sampled_rows, sampled);
    if let Some(extra) = &d.notes.extra_sampled_row_indices {
        let list = extra.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        println!("  extra sampled: {} [{list}]", extra.len());
    }
    if let Some(spec) = &d.notes.spec_id {
        println!("  spec: {spec}   category: {}", d.notes.category.as_deref().unwrap_or("-"));
    }
    if !d.failures.is_empty() {
        println!("  failures ({}):", d.failures.len());
        for f in &d.failures {
            println!("    - {f}");
        }
    }
    if let Some(e) = &d.notes.error {
        println!("  detail: {e}");
    }
    if let (Some(want), Some(got)) = (&d.notes.expected_dataset_sha256, &d.notes.actual_dataset_sha256) {
        println!("  dataset sha256: manifest {want}, file {got}");
    }
    if let (Some(m), Some(r)) = (d.notes.manifest_record_count, d.notes.dataset_record_count) {
        println!("  record count: manifest {m}, dataset {r}");
    }
    for u in &d.notes.unavailable_checks {
        println!("  unavailable (not the miner's fault): {u}");
    }
    for r in &d.notes.check_remarks {
        println!("  remark: {r}");
    }
}

/// Runs `nexis check`.
pub(crate) async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    if !args.package_dir.is_dir() {
        bail!("package directory {} does not exist or is not a directory", args.package_dir.display());
    }
    let request = args.request()?;
    let probe = args.package.probe().await?;
    let registry = registry_for(&args.specs.specs)?;
    let scratch = args.workdir.given().unwrap_or_else(std::env::temp_dir).join("check");
    // The directory stands in for the bucket prefix `{interval}/`; a store rooted one level
    // up would expose siblings, so the store gets a private root with just this package.
    let store = PackageDirStore::new(&args.package_dir, args.interval);
    let mut validator = PackageValidator::new(registry, probe, args.package.limits(), scratch);
    if let Some(checks) = args.content.content_checks(request.terms.expected_category.as_deref())? {
        validator = validator.with_content_checks(checks);
    }
    // Source sections are cached where `nexis validate` keeps them, so checks reuse them.
    let validator = args.source.apply(validator, &args.workdir.path())?;
    let mut outcome = validator.validate(&store.0, &request).await.context("validation could not run")?;
    forgive_unusable_replies(&mut [&mut outcome.decision], &outcome.llm);
    if args.json {
        println!("{}", outcome.decision.to_json());
    } else {
        print_summary(&outcome.decision);
    }
    Ok(if outcome.decision.accepted { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A package directory seen as the `{interval}/` prefix of a bucket.
struct PackageDirStore(nexis::storage::PrefixStore<LocalStore>);

impl PackageDirStore {
    fn new(dir: &std::path::Path, interval: u64) -> Self {
        Self(nexis::storage::PrefixStore::new(LocalStore::new(dir), format!("{interval}/")))
    }
}
