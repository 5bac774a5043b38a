//! What the benches share before they measure: the build-kind warning, a scratch
//! directory (temporary unless one is given) and the Python reference flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// `"debug"` or `"release"`; a debug build is warned about, as its figures mislead.
pub(super) fn build_kind(bench: &str) -> &'static str {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; use `cargo run --release -- bench {bench}` for real numbers");
        "debug"
    } else {
        "release"
    }
}

/// A scratch directory: the one given, or a temporary one removed when this is dropped.
pub(super) struct Scratch {
    _tmp: tempfile::TempDir,
    /// Where the bench writes.
    pub(super) path: PathBuf,
}

impl Scratch {
    /// `given`, or a new temporary directory whose name starts with `prefix`.
    pub(super) fn new(prefix: &str, given: Option<PathBuf>) -> anyhow::Result<Self> {
        let tmp = tempfile::Builder::new().prefix(prefix).tempdir().context("creating a temporary directory")?;
        let path = given.unwrap_or_else(|| tmp.path().to_path_buf());
        Ok(Self { _tmp: tmp, path })
    }
}

/// Whether and with which interpreter the Python reference runs beside nexis.
#[derive(Debug, Args)]
pub(crate) struct ReferenceArgs {
    /// Do not run the Python reference.
    #[arg(long)]
    pub skip_reference: bool,
    /// Python interpreter with the reference (nexisgen) importable (and uvicorn, for
    /// `bench api`).
    #[arg(long, default_value = "python3")]
    pub reference_python: PathBuf,
}
