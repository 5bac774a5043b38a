//! The `nexis` binary as an operator runs it: exit codes, output shapes, usage errors.
//! Each run starts in an empty directory with no `NEXIS_*` variables, so neither a `.env`
//! file nor the caller's environment leaks in.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{CATEGORY, INTERVAL, MINER, VALIDATOR, golden_dir};

fn nexis(args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    cmd.args(args).current_dir(cwd.path());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEXIS_") {
            cmd.env_remove(key);
        }
    }
    cmd.output().expect("run nexis")
}

fn package(case: &str) -> String {
    golden_dir().join(case).join("package").to_string_lossy().into_owned()
}

fn check(case: &str, extra: &[&str]) -> Output {
    let dir = package(case);
    let interval = INTERVAL.to_string();
    let mut args = vec!["check", &dir, "--hotkey", MINER, "--interval", &interval];
    args.extend_from_slice(extra);
    nexis(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn accepted_package_exits_zero_with_a_summary() {
    let out = check("valid_12", &["--validator-hotkey", VALIDATOR]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("ACCEPTED"), "{text}");
    assert!(text.contains("records: 12") && text.contains("[5, 8, 9]"), "{text}");
}

#[test]
fn rejected_package_exits_one_and_lists_failures() {
    let out = check("short_caption", &["--validator-hotkey", VALIDATOR]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("REJECTED") && text.contains("- short_caption:"), "{text}");
}

#[test]
fn json_output_is_the_exact_decision_object() {
    let out = check("valid_12", &["--validator-hotkey", VALIDATOR, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON document");
    let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    // Field order as in protocol §8 (serde_json keeps it with preserve_order off only
    // when the text is in that order, so check the raw text as well).
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    let mut want = vec![
        "miner_hotkey",
        "interval_id",
        "accepted",
        "failures",
        "record_count",
        "sampled_rows",
        "checked_at",
        "notes",
    ];
    want.sort_unstable();
    assert_eq!(sorted, want);
    let order: Vec<usize> = ["\"miner_hotkey\"", "\"interval_id\"", "\"accepted\"", "\"failures\"", "\"notes\""]
        .iter()
        .map(|k| text.find(k).expect(k))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "field order in {text}");
    assert_eq!(v["miner_hotkey"], MINER);
    assert_eq!(v["interval_id"], INTERVAL);
    assert_eq!(v["accepted"], true);
    assert_eq!(v["failures"], serde_json::json!([]));
    assert_eq!(v["record_count"], 12);
    assert_eq!(v["sampled_rows"], 3);
    assert_eq!(v["notes"]["spec_id"], "video_v1");
    assert_eq!(v["notes"]["category"], CATEGORY);
    assert_eq!(v["notes"]["global_overlap_pruned_count"], 0);
    let at = v["checked_at"].as_str().expect("checked_at");
    assert!(at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
}

#[test]
fn rejected_json_carries_failure_codes() {
    let out = check("dataset_sha", &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["failures"], serde_json::json!(["dataset_sha256_mismatch"]));
    assert_eq!((v["record_count"].as_u64(), v["sampled_rows"].as_u64()), (Some(0), Some(0)));
    assert!(v["notes"]["actual_dataset_sha256"].is_string());
}

#[test]
fn empty_category_requires_none() {
    assert_eq!(check("wrong_category", &[]).status.code(), Some(1));
    let out = check("wrong_category", &["--category", ""]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn missing_ffprobe_is_an_environment_error_with_the_install_command() {
    let out = check("valid_12", &["--ffprobe", "/nonexistent/ffprobe"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("ffprobe") && err.contains("apt-get install -y ffmpeg"), "{err}");
    assert!(out.stdout.is_empty(), "no decision is printed: {}", stdout(&out));
}

#[test]
fn usage_errors_exit_two_and_say_what_is_wrong() {
    let out = nexis(&["check", &package("valid_12"), "--interval", "7756800"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--hotkey"), "{}", stderr(&out));

    let out = nexis(&["check", &package("valid_12"), "--hotkey", MINER, "--interval", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--interval"), "{}", stderr(&out));

    let missing = Path::new("/nonexistent/package").to_string_lossy().into_owned();
    let out = nexis(&["check", &missing, "--hotkey", MINER, "--interval", "7756800"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    let out = check("valid_12", &["--specs", "video_v1,audio_v9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("audio_v9") && stderr(&out).contains("video_v1"), "{}", stderr(&out));
}

#[test]
fn help_documents_exit_codes_and_environment_variables() {
    let out = nexis(&["check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("Exit status: 0 accepted, 1 rejected, 2"), "{text}");
    assert!(text.contains("NEXIS_VALIDATOR_ROW_SAMPLE_MAX"), "{text}");
    let out = nexis(&["--version"]);
    assert!(stdout(&out).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn environment_variables_set_flags() {
    let dir = package("valid_12");
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_nexis"))
        .args(["check", &dir, "--hotkey", MINER, "--interval", &INTERVAL.to_string(), "--json"])
        .current_dir(cwd.path())
        .env("NEXIS_VALIDATOR_HOTKEY", VALIDATOR)
        .env("NEXIS_VALIDATOR_ROW_SAMPLE_MAX", "1")
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["sampled_rows"], 1, "{}", stderr(&out));
}

#[test]
fn dotenv_in_the_working_directory_is_read() {
    let dir = package("valid_12");
    let cwd = tempfile::tempdir().expect("tempdir");
    std::fs::write(cwd.path().join(".env"), "NEXIS_VALIDATOR_ROW_SAMPLE_MAX=2\n").expect("write .env");
    let out = Command::new(env!("CARGO_BIN_EXE_nexis"))
        .args(["check", &dir, "--hotkey", MINER, "--interval", &INTERVAL.to_string(), "--json"])
        .current_dir(cwd.path())
        .env_remove("NEXIS_VALIDATOR_ROW_SAMPLE_MAX")
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["sampled_rows"], 2, "{}", stderr(&out));
}

#[test]
fn bench_check_measures_an_accepted_generated_package() {
    let out = nexis(&["bench", "check", "--rows", "40,4", "--repeat", "1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(lines.len(), 2);
    for (m, rows, sampled) in [(&lines[0], 40, 3), (&lines[1], 4, 1)] {
        assert_eq!(m["rows"], rows);
        assert_eq!(m["sampled_rows"], sampled);
        assert_eq!(m["accepted"], true);
        assert!(m["wall_sec"].as_f64().is_some_and(|s| s > 0.0), "{m}");
        assert!(m["peak_rss_mib"].as_f64().is_some_and(|s| s > 1.0), "{m}");
        assert!(m["dataset_bytes"].as_u64().is_some_and(|b| b > 1000), "{m}");
    }
}
