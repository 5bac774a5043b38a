//! The flag names operators paste from btcli set-ups (`--wallet.name`, `--wallet.hotkey`,
//! `--wallet.path`, `--subtensor.network`, `--subtensor.chain_endpoint`, `--netuid`,
//! `--logging.debug`, `--logging.trace`): a validator started with them alone (no
//! `BT_*` variables) runs as the named hotkey on the named subnet with debug logs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use nexis::chain::Hotkey;
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};

/// A command with no nexis settings inherited from the caller.
fn clean(tmp: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if ["NEXIS_", "BT_", "R2_", "OPENAI_", "GEMINI_"].iter().any(|p| k.starts_with(p)) || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    cmd.current_dir(tmp).stdin(Stdio::null());
    cmd
}

#[test]
fn a_validator_starts_with_btcli_style_flags() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seed = [11u8; 32];
    let hotkeys = tmp.path().join("keys/owner-wallet/hotkeys");
    std::fs::create_dir_all(&hotkeys).expect("mkdir");
    let key = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(seed)) });
    std::fs::write(hotkeys.join("validator-hk"), key.to_string()).expect("keyfile");
    let ss58 = Hotkey::from_seed(seed).ss58();
    let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.path().join("chain"), 50)).expect("chain");
    chain.register(9, &ss58).expect("register");

    let wallets = tmp.path().join("keys").display().to_string();
    let mut child = clean(tmp.path())
        .args(["validate", "--wallet.name", "owner-wallet", "--wallet.hotkey", "validator-hk"])
        .args(["--wallet.path", &wallets, "--subtensor.network", "embedded", "--netuid", "9", "--logging.debug"])
        .env("NEXIS_EMBEDDED_CHAIN_DIR", tmp.path().join("chain"))
        .env("NEXIS_WORKDIR", tmp.path().join("work"))
        .env("NEXIS_LOCAL_BUCKETS_DIR", tmp.path().join("buckets"))
        .env("NEXIS_METRICS_ADDR", "")
        .env("NEXIS_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nexis validate");
    let stderr = child.stderr.take().expect("stderr");
    let mut started = None;
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["fields"]["message"] == "validator started" {
            started = Some(v["fields"].clone());
        }
        seen.push(line);
        if started.is_some() || seen.len() > 2000 {
            break;
        }
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let started = started.unwrap_or_else(|| panic!("the validator did not start:\n{}", seen.join("\n")));
    assert_eq!(started["hotkey"], ss58.as_str(), "--wallet.* chose the hotkey");
    assert_eq!(started["netuid"], 9, "--netuid chose the subnet");
    assert!(started["chain"].as_str().is_some_and(|c| c.contains("embedded")), "{started}");
}

#[test]
fn logging_debug_turns_on_the_debug_logs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let package = crate::support::golden_dir().join("valid_12/package");
    let package = package.display().to_string();
    let check = |extra: &[&str]| {
        let out = clean(tmp.path())
            .args(["check", &package, "--hotkey", "5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9"])
            .args(["--interval", "7756800"])
            .args(extra)
            .output()
            .expect("run nexis check");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(!check(&[]).contains("stage finished"), "no debug lines by default");
    assert!(check(&["--logging.debug"]).contains("stage finished"), "per-stage timings are debug lines");
}

#[test]
fn chain_endpoint_and_trace_are_understood() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A ws:// endpoint goes where BT_NETWORK would; nothing listens there, so the command
    // fails on the connection, after the flags were accepted.
    let out = clean(tmp.path())
        .args(["chain", "status", "--subtensor.chain_endpoint", "ws://127.0.0.1:9", "--netuid", "3"])
        .args(["--logging.trace", "--chain-timeout-sec", "1"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9"), "the endpoint was used: {stderr}");

    let out = clean(tmp.path()).args(["mine", "--wallet.nme", "x"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument"), "a typo is still refused");
}
