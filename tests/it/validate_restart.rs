//! `kill -9` at arbitrary moments: a restarted validator neither loses an interval it
//! reported as recorded nor records or reports one twice, and its intervals stay
//! contiguous. Runs the real binary against the embedded chain with fast blocks.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use nexis::chain::{Chain, Hotkey, ReadCredentials};
use nexis::protocol::IntervalId;
use nexis::validator::ValidatorState;

const NETUID: &str = "7";
const INTERVAL: u64 = 5;

fn spawn(tmp: &Path, log: &Path) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") || k.starts_with("R2_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    let log = std::fs::File::create(log).expect("log file");
    cmd.arg("validate")
        .current_dir(tmp)
        .env("BT_NETWORK", "embedded")
        .env("NEXIS_NETUID", NETUID)
        .env("NEXIS_EMBEDDED_CHAIN_DIR", tmp.join("chain"))
        .env("NEXIS_EMBEDDED_BLOCK_MS", "20")
        .env("NEXIS_WORKDIR", tmp.join("work"))
        .env("NEXIS_LOCAL_BUCKETS_DIR", tmp.join("buckets"))
        .env("NEXIS_METRICS_ADDR", "")
        .env("NEXIS_INTERVAL_BLOCKS", INTERVAL.to_string())
        .env("NEXIS_UPLOAD_RESERVE_BLOCKS", "1")
        .env("NEXIS_WEIGHT_EPOCH_BLOCKS", "25")
        .env("NEXIS_BLOCK_POLL_SEC", "0.02")
        .env("NEXIS_LOG_FORMAT", "json")
        .env("BT_WALLET_PATH", tmp.join("wallets"))
        .env("BT_WALLET_NAME", "validator")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd.spawn().expect("spawn nexis validate")
}

/// Waits until the validator's log says its loop started (it exits only on a failure).
async fn wait_for_start(log: &Path, child: &mut std::process::Child) {
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("\"validator started\"") {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the validator exited before starting ({status}):\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Interval ids the log reports as recorded.
fn recorded_in_log(log: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(log).expect("log");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "interval recorded")
        .filter_map(|v| v["fields"]["interval_id"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_and_restart_neither_loses_nor_repeats_an_interval() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wallets/validator/hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let seed = [9u8; 32];
    std::fs::write(
        dir.join("default"),
        serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(seed)) }).to_string(),
    )
    .expect("keyfile");
    let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.path().join("chain"), 20)).expect("chain");
    let netuid: u16 = NETUID.parse().expect("netuid");
    chain.register(netuid, &Hotkey::from_seed(seed).ss58()).expect("register validator");
    let creds =
        ReadCredentials::new("0123456789abcdef0123456789abcdef", &"a".repeat(32), &"b".repeat(64)).expect("creds");
    let miners: Vec<Hotkey> = (20..23).map(|n| Hotkey::from_seed([n; 32])).collect();
    for m in &miners {
        chain.register(netuid, &m.ss58()).expect("register miner");
        chain.commit(m, netuid, &creds.payload()).await.expect("commit");
    }

    let mut logged: BTreeMap<u64, usize> = BTreeMap::new();
    // Kill after different amounts of time in the loop (counted from "validator started",
    // so a slow start-up on a loaded machine does not use up the run) so the kill lands in
    // different places.
    for (round, run_ms) in [700u64, 450, 900, 300, 650].into_iter().enumerate() {
        let log = tmp.path().join(format!("run{round}.log"));
        let mut child = spawn(tmp.path(), &log);
        wait_for_start(&log, &mut child).await;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        let state = ValidatorState::open(&tmp.path().join("work/validator-state")).expect("reopen state");
        let last = state.last_finished_interval().expect("last");
        for id in recorded_in_log(&log) {
            *logged.entry(id).or_default() += 1;
            assert!(last.is_some_and(|l| l >= id), "interval {id} was reported recorded but is not in the state");
        }
        drop(state);
        // Let the chain move on while the validator is down.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    assert!(logged.len() >= 3, "the validator recorded too few intervals to judge: {logged:?}");
    let repeated: Vec<_> = logged.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "intervals recorded more than once: {repeated:?}");
    let state = ValidatorState::open(&tmp.path().join("work/validator-state")).expect("state");
    let decisions = state.decisions_between(IntervalId::new(0)..IntervalId::new(u64::MAX)).expect("decisions");
    let mut per_interval: BTreeMap<u64, usize> = BTreeMap::new();
    for d in &decisions {
        *per_interval.entry(d.interval_id).or_default() += 1;
        assert_eq!(d.failures, ["missing_submission_files"]);
    }
    assert!(per_interval.values().all(|n| *n == miners.len()), "{per_interval:?}");
    let ids: Vec<u64> = per_interval.keys().copied().collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + INTERVAL), "intervals must be contiguous: {ids:?}");
    for id in logged.keys() {
        assert!(per_interval.contains_key(id), "logged interval {id} missing from the state");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_health_reports_progress() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wallets/validator/hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let seed = [11u8; 32];
    std::fs::write(
        dir.join("default"),
        serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(seed)) }).to_string(),
    )
    .expect("keyfile");
    let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.path().join("chain"), 20)).expect("chain");
    chain.register(NETUID.parse().expect("netuid"), &Hotkey::from_seed(seed).ss58()).expect("register");
    let log = tmp.path().join("run.log");
    let mut child = spawn(tmp.path(), &log);
    // Wait until the loop has recorded something, then ask it to stop.
    for _ in 0..200 {
        if !recorded_in_log(&log).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!recorded_in_log(&log).is_empty(), "the validator never recorded an interval");
    // The liveness file is written at the end of the poll (after weights, which may be a
    // timelocked commit), so it can trail the "interval recorded" line a little.
    let healthy = || {
        Command::new(env!("CARGO_BIN_EXE_nexis"))
            .args(["health", "--max-age-sec", "60"])
            .env("NEXIS_WORKDIR", tmp.path().join("work"))
            .output()
            .expect("nexis health")
    };
    let mut health = healthy();
    for _ in 0..100 {
        if health.status.success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        health = healthy();
    }
    assert!(health.status.success(), "{}", String::from_utf8_lossy(&health.stdout));
    // SAFETY: sending a signal to our own child process.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = child.wait().expect("wait");
    assert!(status.success(), "SIGTERM must end the validator cleanly: {status:?}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("validator stopped; state is consistent"), "{text}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = Command::new(env!("CARGO_BIN_EXE_nexis"))
        .args(["health", "--max-age-sec", "0"])
        .env("NEXIS_WORKDIR", tmp.path().join("work"))
        .output()
        .expect("nexis health");
    assert_eq!(stale.status.code(), Some(1), "a stopped loop turns unhealthy");
    assert!(String::from_utf8_lossy(&stale.stdout).contains("has not progressed"));
}
