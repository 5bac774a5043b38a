//! The Python reference validator (nexisgen) run over the packages a bench generated, one
//! after another as its validator evaluates miners, through `scripts/reference-validate.py`.
//! It needs a Python with `nexisgen` importable; when there is none the run says why.

use std::path::Path;
use std::process::Command;

/// The reference's run, or why it could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum ReferenceRun {
    /// It validated `packages` packages in `wall_s` seconds, accepting `accepted`.
    Ran {
        /// Wall time of the validations, seconds (interpreter start-up excluded).
        wall_s: f64,
        /// Packages it accepted.
        accepted: u64,
        /// Packages it validated.
        packages: u64,
    },
    /// Why it did not run.
    Unavailable(String),
}

/// The driver script, relative to the repository (also embedded, so the binary can run
/// it from anywhere).
const DRIVER: &str = include_str!("../../scripts/reference-validate.py");

/// Which packages the reference validates, and as whom.
#[derive(Debug, Clone, Copy)]
pub struct ReferenceTarget<'a> {
    /// The bucket root: one directory per bucket, the package under `{bucket}/{interval}/`.
    pub s3_root: &'a Path,
    /// The interval of the packages.
    pub interval: u64,
    /// The validator hotkey that salts row sampling (none: unsalted, like the subnet bench).
    pub validator_hotkey: Option<&'a str>,
}

/// Runs the reference with `python` over every package of `target`.
pub fn run_reference(python: &Path, target: ReferenceTarget<'_>) -> ReferenceRun {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(DRIVER).arg(target.s3_root).arg(target.interval.to_string());
    if let Some(hotkey) = target.validator_hotkey {
        cmd.arg(hotkey);
    }
    let output = cmd.output();
    let output = match output {
        Ok(o) => o,
        Err(e) => return ReferenceRun::Unavailable(format!("cannot start {}: {e}", python.display())),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
    let parsed: Option<serde_json::Value> = serde_json::from_str(last).ok();
    match parsed {
        Some(v) if output.status.success() && v.get("wall_s").is_some() => ReferenceRun::Ran {
            wall_s: v["wall_s"].as_f64().unwrap_or(0.0),
            accepted: v["accepted"].as_u64().unwrap_or(0),
            packages: v["packages"].as_u64().unwrap_or(0),
        },
        Some(v) if v.get("unavailable").is_some() => {
            ReferenceRun::Unavailable(v["unavailable"].as_str().unwrap_or("unavailable").to_string())
        }
        _ => {
            let err = String::from_utf8_lossy(&output.stderr);
            let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            ReferenceRun::Unavailable(format!("the reference failed ({}): {tail}", output.status))
        }
    }
}
