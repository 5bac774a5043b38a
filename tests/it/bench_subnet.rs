//! `nexis bench subnet` runs end to end at a tiny size (2 miners x 2 rows, no reference):
//! every package accepted over loopback S3, model calls made, clips probed in process,
//! and the JSON carries the documented fields.

use crate::support::{nexis_command, repo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_subnet_interval_runs_and_reports_json() {
    let out = nexis_command(&repo(), &[])
        .args(["bench", "subnet", "--miners", "2", "--rows", "2", "--model-latency-ms", "10"])
        .args(["--skip-reference", "--json"])
        .output()
        .await
        .expect("nexis bench subnet");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).expect("a JSON line");
    let report: serde_json::Value = serde_json::from_str(line).expect("json");
    assert_eq!((report["miners"].as_u64(), report["accepted"].as_u64()), (Some(2), Some(2)), "{report}");
    for key in ["wall_s", "cpu_s", "peak_mib", "children_cpu_s", "interval_core_share"] {
        assert!(report[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {report}");
    }
    // ffmpeg extracted the content-checked clips' frames: part of the CPU, never more.
    let (cpu, children) = (report["cpu_s"].as_f64().unwrap_or(0.0), report["children_cpu_s"].as_f64().unwrap_or(0.0));
    assert!(children <= cpu, "{report}");
    let share = report["interval_core_share"].as_f64().unwrap_or(0.0);
    assert!((share - cpu / 600.0).abs() < 1e-9, "a 50-block interval of 12 s blocks: {report}");
    // Two checks (semantic, category) on each package's sampled rows.
    assert!(report["model_calls"].as_u64().is_some_and(|n| n >= 4 && n % 2 == 0), "{report}");
    assert_eq!(report["rate_limited"].as_u64(), Some(0));
    assert!(report["native_probes"].as_u64().is_some_and(|n| n >= 2), "{report}");
    assert!(report["reference_wall_s"].is_null(), "skipped: {report}");
}
