//! `nexis bench api` runs end to end at a tiny size with `--skip-reference` (a private
//! PostgreSQL is started by the bench itself): `nexis api` on SQLite and on PostgreSQL are
//! each measured as a separate process, and the JSON report carries, for each target,
//! post and read throughput and percentiles and the server's memory.

use crate::support::{nexis_command, repo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_side_by_side_run_reports_every_target_in_json() {
    let out = nexis_command(&repo(), &[])
        .args(["bench", "api", "--validators", "2", "--posts", "3", "--decisions", "4", "--miners", "1"])
        .args(["--readers", "1", "--rate-per-min", "600", "--poll-ms", "100", "--block-ms", "100"])
        .args(["--skip-reference", "--json"])
        .output()
        .await
        .expect("nexis bench api");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).expect("a JSON line");
    let report: serde_json::Value = serde_json::from_str(line).expect("json");
    assert!(matches!(report["build"].as_str(), Some("debug" | "release")), "{report}");
    assert_eq!(report["decisions_per_post"].as_u64(), Some(4), "{report}");
    let targets = report["targets"].as_array().expect("targets");
    let ids: Vec<&str> = targets.iter().filter_map(|t| t["target"].as_str()).collect();
    assert_eq!(ids, ["nexis-sqlite", "nexis-postgres", "reference-postgres"], "{report}");
    for t in &targets[..2] {
        assert_eq!(t["status"].as_str(), Some("measured"), "{t}");
        assert_eq!((t["posts"]["requests"].as_u64(), t["posts"]["errors"].as_u64()), (Some(6), Some(0)), "{t}");
        for kind in ["posts", "reads", "miner_reads"] {
            for key in ["per_sec", "p50_ms", "p99_ms"] {
                assert!(t[kind][key].as_f64().is_some_and(|v| v > 0.0), "{kind}.{key}: {t}");
            }
            assert_eq!(t[kind]["errors"].as_u64(), Some(0), "{kind}: {t}");
        }
        for key in ["peak_rss_mib", "rss_start_mib", "rss_end_mib", "wall_sec"] {
            assert!(t[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {t}");
        }
    }
    assert_eq!(targets[2]["status"].as_str(), Some("skipped"), "{report}");
    assert!(targets[2]["posts"].is_null(), "{report}");
}
