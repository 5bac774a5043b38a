//! The private PostgreSQL cluster both PostgreSQL-backed servers of `nexis bench api` use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::process::free_port;

/// A private PostgreSQL cluster: `initdb` + `pg_ctl` on a directory and a loopback port,
/// trust authentication for user `nexis`. As root the server runs as `nobody` (PostgreSQL
/// refuses root), via `runuser`. Stopped (immediate) on drop.
pub(super) struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PgCluster {
    /// Creates and starts the cluster with the tools in `bin` (default: the newest installed).
    pub(super) fn start(bin: Option<&Path>) -> anyhow::Result<Self> {
        let bin = match bin {
            Some(b) => b.to_path_buf(),
            None => find_pg_bin()?,
        };
        let dir = tempfile::Builder::new().prefix("nexis-bench-pg-").tempdir().context("PostgreSQL directory")?;
        if is_root() {
            // nobody = 65534 on Debian; the cluster directory must be its own.
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534))
                .context("handing the cluster directory to nobody")?;
        }
        let data_s = dir.path().join("data").to_string_lossy().into_owned();
        run_pg(&bin.join("initdb"), &["-D", &data_s, "-U", "nexis", "--auth=trust", "-E", "UTF8"])?;
        let log = dir.path().join("log").to_string_lossy().into_owned();
        let port = free_port()?;
        let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -k {}", dir.path().display());
        let cluster = Self { dir, bin, port };
        run_pg(&cluster.bin.join("pg_ctl"), &["-D", &data_s, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"])?;
        Ok(cluster)
    }

    /// Creates database `name`.
    pub(super) fn createdb(&self, name: &str) -> anyhow::Result<()> {
        let port = self.port.to_string();
        run_pg(&self.bin.join("createdb"), &["-h", "127.0.0.1", "-p", &port, "-U", "nexis", name])
    }

    /// The URL of database `db`.
    pub(super) fn url(&self, db: &str) -> String {
        format!("postgres://nexis@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let _ = run_pg(&self.bin.join("pg_ctl"), &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// The newest `/usr/lib/postgresql/*/bin` with `initdb`.
fn find_pg_bin() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL's initdb was not found under /usr/lib/postgresql/*/bin: install the `postgresql` \
             package or pass --postgres-bin-dir"
        ),
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool as the cluster's user; fails with its output.
fn run_pg(program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).env("LC_ALL", "C").output().with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
