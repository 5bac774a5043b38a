//! One home per flag: every environment variable is declared by one `#[arg]` in
//! `src/cli` (shared ones in `src/cli/args/`), so two subcommands cannot drift apart in
//! name, default or checks; the settings that had drifted now agree.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use super::support::repo;

/// Environment variables deliberately declared twice, with why.
const ALLOWED_TWICE: &[(&str, &str)] = &[
    ("R2_ACCOUNT_ID", "`mine` uploads with it (optional with --out); `commit-credentials` requires it"),
    (
        "R2_WRITE_ACCESS_KEY",
        "`mine` uploads with it; `commit-credentials` reads it (hidden) only to refuse committing it",
    ),
    (
        "R2_WRITE_SECRET_KEY",
        "`mine` uploads with it; `commit-credentials` reads it (hidden) only to refuse committing it",
    ),
];

/// `env = "NAME"` declarations in the Rust files under `dir`, by name, with their files.
fn declarations(dir: &Path, out: &mut BTreeMap<String, Vec<String>>) {
    for entry in std::fs::read_dir(dir).expect("read src/cli") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            declarations(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for (at, _) in text.match_indices("env = \"") {
            let rest = &text[at + 7..];
            let name = &rest[..rest.find('"').expect("closing quote")];
            out.entry(name.to_string()).or_default().push(path.display().to_string());
        }
    }
}

#[test]
fn every_environment_variable_is_declared_by_one_arg() {
    let mut found = BTreeMap::new();
    declarations(&repo().join("src/cli"), &mut found);
    assert!(found.len() > 100, "the scan found only {} variables: is it reading src/cli?", found.len());
    let twice: Vec<String> = found
        .iter()
        .filter(|(name, files)| files.len() > 1 && !ALLOWED_TWICE.iter().any(|(n, _)| n == name))
        .map(|(name, files)| format!("{name}: {files:?}"))
        .collect();
    assert!(twice.is_empty(), "declared more than once (move them to a group in src/cli/args/): {twice:#?}");
    for (name, _) in ALLOWED_TWICE {
        assert_eq!(found.get(*name).map(Vec::len), Some(2), "{name} is allowlisted but not declared twice");
    }
}

/// The Rust files of `dir` and its subfolders.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn subcommands_take_flag_groups_from_args_never_from_each_other() {
    let cmd = repo().join("src/cli/cmd");
    let mut files = Vec::new();
    rust_files(&cmd, &mut files);
    assert!(files.len() > 10, "found only {} files under src/cli/cmd", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read source");
        // A subcommand's `super` is `cmd` (its siblings) unless it is inside a folder.
        let parent = path.parent().expect("parent");
        let top = parent == cmd || (path.ends_with("mod.rs") && parent.parent() == Some(cmd.as_path()));
        let code: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
        for line in code {
            assert!(!line.contains("crate::cli::cmd"), "{}: {line}", path.display());
            if top {
                let reaches_up = line.contains("super::") && !line.contains("use super::*;");
                assert!(!reaches_up, "{} imports a sibling subcommand: {line}", path.display());
            }
        }
    }
}

fn nexis(args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if ["NEXIS_", "BT_", "R2_"].iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
    let out = cmd.args(args).stdin(Stdio::null()).output().expect("run nexis");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The help line of `--flag` and the lines after it up to the next flag.
fn help_of(help: &str, flag: &str) -> String {
    let start = help.find(&format!("--{flag} ")).unwrap_or_else(|| panic!("--{flag} not in help:\n{help}"));
    let rest = &help[start..];
    let end = rest[2..].find("\n      --").map_or(rest.len(), |e| e + 2);
    rest[..end].to_string()
}

#[test]
fn the_miner_budget_has_one_default_in_validate_and_the_source_auth_sidecar() {
    for command in ["validate", "validate-source-auth"] {
        let (ok, help, _) = nexis(&[command, "--help"]);
        assert!(ok, "{command} --help");
        let budget = help_of(&help, "miner-budget-sec");
        assert!(budget.contains("NEXIS_VALIDATOR_MINER_BUDGET_SEC"), "{command}: {budget}");
        assert!(budget.contains("[default: 300]"), "{command}: {budget}");
    }
}

#[test]
fn the_owner_sync_checks_the_interval_length_like_the_other_services() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ok, _, stderr) = nexis(&[
        "sync-owner-datasets",
        "--network",
        "embedded",
        "--interval-blocks",
        "0",
        "--once",
        "--buckets-dir",
        &tmp.path().join("buckets").display().to_string(),
        "--workdir",
        &tmp.path().join("work").display().to_string(),
        "--owner-db-bucket",
        "owner-db",
    ]);
    assert!(!ok, "an interval of 0 blocks must be refused");
    assert!(stderr.contains("NEXIS_INTERVAL_BLOCKS must be positive"), "{stderr}");
}

#[test]
fn weight_flags_keep_both_spellings_everywhere() {
    for command in [&["validate"][..], &["chain", "set-weights"], &["chain", "doctor"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let (ok, help, _) = nexis(&args);
        assert!(ok, "{command:?} --help");
        let key = help_of(&help, "weights-version-key");
        assert!(key.contains("NEXIS_WEIGHTS_VERSION_KEY") && key.contains("version-key"), "{command:?}: {key}");
    }
    for command in [&["validate"][..], &["chain", "doctor"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let (_, help, _) = nexis(&args);
        assert!(help_of(&help, "mechid").contains("NEXIS_WEIGHTS_MECHID"), "{command:?}");
    }
}
