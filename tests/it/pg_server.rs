//! A real PostgreSQL server for the tests: `initdb` + `pg_ctl` (Debian `postgresql`,
//! `/usr/lib/postgresql/15/bin` or `PG_BIN`) on a temporary directory and a loopback
//! port, trust authentication for the loopback test user. As root the server runs as
//! `nobody` (PostgreSQL refuses root), via `runuser`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running PostgreSQL cluster, stopped (immediate) on drop.
pub(crate) struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The loopback port.
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    for v in ["17", "16", "15"] {
        let dir = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    panic!("PostgreSQL binaries not found: install the Debian `postgresql` package (scripts/test does) or set PG_BIN")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `program args` as the server's user; panics with its output on failure.
fn run_as(program: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).env("LC_ALL", "C").output().expect("running a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl PgServer {
    /// Initialises and starts a fresh cluster.
    pub(crate) fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("nexis-pg-").tempdir().expect("tempdir");
        if is_root() {
            // nobody = 65534 on Debian; the cluster directory must be its own.
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown the cluster dir");
        }
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().into_owned();
        run_as(&bin.join("initdb"), &["-D", &data_s, "-U", "nexis", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        let server = Self { port: free_port(), bin, dir };
        server.pg_ctl_start();
        server
    }

    fn pg_ctl_start(&self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let log = self.dir.path().join("log").to_string_lossy().into_owned();
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        run_as(&self.bin.join("pg_ctl"), &["-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"]);
    }

    /// Stops the server (fast) and starts it again on the same port and data.
    pub(crate) fn restart(&self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        run_as(&self.bin.join("pg_ctl"), &["-D", &data, "-m", "fast", "-w", "stop"]);
        self.pg_ctl_start();
    }

    /// A connection URL for database `postgres`.
    pub(crate) fn url(&self) -> String {
        format!("postgres://nexis@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}
