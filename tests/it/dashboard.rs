//! The Grafana dashboard cannot rot: every metric name its Prometheus queries use is one
//! the binary exports — the validator's read from `/metrics` of a running `nexis validate`
//! on the embedded chain, owner sync's from its registry — and every datasource it uses is
//! provisioned.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nexis::chain::Hotkey;
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use nexis::owner::metrics::SyncMetrics;

const DASHBOARD: &str = "docker/observability/grafana/dashboards/nexis.json";
const DATASOURCES: &str = "docker/observability/grafana/provisioning/datasources/nexis.yml";

/// Every `nexis_*` metric name in the dashboard's Prometheus queries.
fn queried_metrics(dashboard: &serde_json::Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![dashboard];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                let prometheus = map.get("datasource").is_some_and(|d| d["type"] == "prometheus");
                if let (true, Some(expr)) = (prometheus, map.get("expr").and_then(|e| e.as_str())) {
                    names.extend(metric_names(expr));
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("nexis_"))
        .map(String::from)
        .collect()
}

/// `(name, kind)` of every `# TYPE` line of a text exposition.
fn exported(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// Whether the queried series name belongs to an exported metric (counters add
/// `_total`, histograms `_bucket`, `_sum` and `_count`).
fn is_exported(name: &str, types: &BTreeSet<(String, String)>) -> bool {
    let has = |base: &str, kind: &str| types.contains(&(base.to_string(), kind.to_string()));
    let suffixed = |suffix: &str, kind: &str| name.strip_suffix(suffix).is_some_and(|base| has(base, kind));
    types.iter().any(|(n, k)| n == name && k != "counter")
        || suffixed("_total", "counter")
        || ["_bucket", "_sum", "_count"].iter().any(|s| suffixed(s, "histogram"))
}

fn spawn_validator(tmp: &Path, log: &Path) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") || k.starts_with("R2_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    cmd.arg("validate")
        .current_dir(tmp)
        .env("BT_NETWORK", "embedded")
        .env("NEXIS_NETUID", "9")
        .env("NEXIS_EMBEDDED_CHAIN_DIR", tmp.join("chain"))
        .env("NEXIS_EMBEDDED_BLOCK_MS", "20")
        .env("NEXIS_WORKDIR", tmp.join("work"))
        .env("NEXIS_LOCAL_BUCKETS_DIR", tmp.join("buckets"))
        .env("NEXIS_METRICS_ADDR", "127.0.0.1:0")
        .env("NEXIS_INTERVAL_BLOCKS", "5")
        .env("NEXIS_UPLOAD_RESERVE_BLOCKS", "1")
        .env("NEXIS_WEIGHT_EPOCH_BLOCKS", "25")
        .env("NEXIS_BLOCK_POLL_SEC", "0.02")
        .env("NEXIS_LOG_FORMAT", "json")
        .env("BT_WALLET_PATH", tmp.join("wallets"))
        .env("BT_WALLET_NAME", "validator")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"));
    cmd.spawn().expect("spawn nexis validate")
}

/// The `/metrics` URL the validator logged, once it did.
fn metrics_url(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["fields"]["message"].as_str()?.strip_prefix("metrics on ").map(String::from))
}

/// The validator's `/metrics` once it recorded an interval (so its stage metrics exist).
async fn running_validator_metrics(tmp: &Path) -> String {
    let dir = tmp.join("wallets/validator/hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let seed = [13u8; 32];
    let key = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(seed)) });
    std::fs::write(dir.join("default"), key.to_string()).expect("keyfile");
    let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.join("chain"), 20)).expect("chain");
    chain.register(9, &Hotkey::from_seed(seed).ss58()).expect("register");
    let log = tmp.join("validate.log");
    let mut child = spawn_validator(tmp, &log);
    let client = reqwest::Client::new();
    let mut last = String::new();
    // Generous: the test fails instead of hanging when the validator never serves metrics.
    for _ in 0..1200 {
        if let Some(url) = metrics_url(&log)
            && let Ok(resp) = client.get(&url).send().await
            && let Ok(text) = resp.text().await
        {
            last = text;
            if last.contains("nexis_validator_intervals_total 1")
                || last.contains("nexis_validator_stage_seconds_bucket")
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(last.contains("# TYPE nexis_validator_intervals counter"), "no /metrics from the validator:\n{log_text}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_exported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(DASHBOARD)).expect("dashboard")).expect("dashboard JSON");
    let queried = queried_metrics(&dashboard);
    assert!(queried.iter().any(|n| n.starts_with("nexis_validator_")), "{queried:?}");
    assert!(queried.iter().any(|n| n.starts_with("nexis_owner_sync_")), "{queried:?}");
    for reveal in
        ["nexis_weights_committed_total", "nexis_weights_revealed_total", "nexis_weights_reveal_missing_total"]
    {
        assert!(queried.contains(reveal), "the commit-reveal panel queries {reveal}: {queried:?}");
    }
    assert!(queried.len() >= 15, "the dashboard queries too few metrics to be the nexis one: {queried:?}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let mut types = exported(&running_validator_metrics(tmp.path()).await);
    types.extend(exported(&SyncMetrics::new().render()));
    let missing: Vec<&String> = queried.iter().filter(|n| !is_exported(n, &types)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics nexis does not export: {missing:?}\nexported: {types:?}"
    );

    // The check itself tells a missing name from an exported one.
    assert!(!is_exported("nexis_validator_no_such_metric_total", &types));
    assert!(!is_exported("nexis_validator_intervals", &types), "a counter is only queried with _total");

    // Every datasource uid the dashboard uses is provisioned.
    let provisioned = std::fs::read_to_string(root.join(DATASOURCES)).expect("datasources");
    for uid in ["prometheus", "loki"] {
        assert!(dashboard.to_string().contains(&format!("\"uid\":\"{uid}\"")), "dashboard does not use {uid}");
        assert!(provisioned.contains(&format!("uid: {uid}")), "datasource {uid} is not provisioned");
    }
}
