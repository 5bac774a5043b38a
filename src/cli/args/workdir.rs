//! `NEXIS_WORKDIR`: where nexis keeps state, ledgers, caches and scratch files.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// The work directory flag.
#[derive(Debug, Clone, Args)]
pub(crate) struct WorkdirArg {
    /// Work directory for state, ledgers, caches and scratch files (default:
    /// `$XDG_STATE_HOME/nexis`, i.e. `~/.local/state/nexis`; `check` defaults to the system
    /// temp directory).
    #[arg(long = "workdir", env = "NEXIS_WORKDIR", global = true)]
    pub(crate) workdir: Option<PathBuf>,
}

impl WorkdirArg {
    /// The given directory, unless empty.
    pub(crate) fn given(&self) -> Option<PathBuf> {
        self.workdir.clone().filter(|v| !v.as_os_str().is_empty())
    }

    /// The given directory, else the XDG state directory (`~/.local/state/nexis`).
    pub(crate) fn path(&self) -> PathBuf {
        self.given().unwrap_or_else(default_workdir)
    }

    /// [`Self::path`], created.
    pub(crate) fn create(&self) -> anyhow::Result<PathBuf> {
        let dir = self.path();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the work directory {}", dir.display()))?;
        Ok(dir)
    }
}

/// The default work directory of this process: from `XDG_STATE_HOME`, else `HOME` (see
/// [`nexis::config::default_workdir_from`]).
pub(crate) fn default_workdir() -> PathBuf {
    nexis::config::default_workdir_from(
        std::env::var_os("XDG_STATE_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    )
}
