//! `nexis demo --json` as a user runs it: the built binary in an empty directory, with no
//! inherited `NEXIS_`/`BT_`/`R2_`/`OPENAI_`/`GEMINI_` settings. Every cheater gets the
//! protocol's outcome (the resolution liar `invalid_resolution`, the absentee
//! `missing_submission_files` in the interval it skipped, the copier accepted but with
//! every copied row pruned to the earlier submitter, the re-uploader accepted but with
//! every row pruned as `duplicate_content` of the honest miner whose footage it re-encoded),
//! honest miners are accepted in every interval, and the one weight submission per epoch ends up favouring the honest miners.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

const INHERITED: [&str; 5] = ["NEXIS_", "BT_", "R2_", "OPENAI_", "GEMINI_"];

/// `nexis` started in `cwd` without any inherited nexis settings.
fn nexis(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars_os() {
        if INHERITED.iter().any(|p| key.to_string_lossy().starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `nexis demo --json` and returns its report and its stderr (the logs).
fn run_demo(workdir: &Path, cwd: &Path) -> (Value, String) {
    let mut cmd = nexis(cwd);
    cmd.args(["demo", "--json", "--workdir"]).arg(workdir);
    let started = Instant::now();
    let out = cmd.output().expect("run nexis demo");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "nexis demo failed ({}):\n{stderr}", out.status);
    eprintln!("nexis demo took {:.1} s", started.elapsed().as_secs_f64());
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", String::from_utf8_lossy(&out.stdout)));
    (report, stderr)
}

/// The log lines at WARN or ERROR level (the level is the word after the timestamp; the
/// logs are plain text when stderr is not a terminal).
fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| matches!(l.split_whitespace().nth(1), Some("WARN" | "ERROR"))).collect()
}

#[test]
fn warning_lines_are_recognised() {
    let logs = "2026-12-07T13:50:01.5Z  INFO nexis::demo: fine\n\
                2026-12-07T13:50:02.5Z  WARN nexis::owner::publish: no snapshot was read this interval\n\
                2026-12-07T13:50:03.5Z ERROR nexis::validator: broken";
    assert_eq!(warnings(logs).len(), 2);
}

/// (canonical source key, start ms) of every row of every owner bundle in `record_info`.
fn bundle_rows(record_info: &Path) -> BTreeSet<(String, u64)> {
    use arrow_array::{Array, Float64Array, StringArray};
    let mut rows = BTreeSet::new();
    for interval in std::fs::read_dir(record_info).expect("record-info bucket").flatten() {
        if !interval.path().is_dir() {
            continue;
        }
        for miner in std::fs::read_dir(interval.path()).expect("interval prefix").flatten() {
            let file = std::fs::File::open(miner.path().join("dataset.parquet")).expect("bundle dataset");
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("bundle parquet")
                .build()
                .expect("reader");
            for batch in reader {
                let batch = batch.expect("batch");
                let column = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("column {name}")).clone();
                let urls = column("source_video_url");
                let urls = urls.as_any().downcast_ref::<StringArray>().expect("url strings");
                let starts = column("clip_start_sec");
                let starts = starts.as_any().downcast_ref::<Float64Array>().expect("start floats");
                for i in 0..batch.num_rows() {
                    let key = nexis::index::snapshot::snapshot_key(urls.value(i)).expect("canonical key");
                    assert!(!starts.is_null(i));
                    let ms = nexis::index::snapshot::seconds_to_ms(starts.value(i)).expect("start ms");
                    rows.insert((key, ms));
                }
            }
        }
    }
    rows
}

fn events<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["timeline"].as_array().expect("timeline").iter().filter(|e| e["event"] == kind).collect()
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array().expect("list").iter().map(|s| s.as_str().expect("string").to_string()).collect()
}

#[test]
fn demo_rejects_every_cheater_and_weights_favour_the_honest_miners() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let workdir = tmp.path().join("work");
    let (report, stderr) = run_demo(&workdir, tmp.path());
    // The demo runs the validator as an owner would: nothing it does deserves a warning.
    assert_eq!(warnings(&stderr), Vec::<&str>::new(), "the demo logged warnings or errors");

    // The world: one validator and seven miners, with buckets named after their hotkeys.
    let ready = events(&report, "subnet_ready");
    assert_eq!(ready.len(), 1);
    let participants = ready[0]["participants"].as_array().expect("participants");
    let role_of: BTreeMap<String, String> = participants
        .iter()
        .map(|p| (p["name"].as_str().expect("name").to_string(), p["role"].as_str().expect("role").to_string()))
        .collect();
    let roles: BTreeSet<&str> = role_of.values().map(String::as_str).collect();
    assert_eq!(
        roles,
        BTreeSet::from(["validator", "honest", "resolution_liar", "copier", "absentee", "fabricator", "reuploader"])
    );
    let bucket_of: BTreeMap<String, String> = participants
        .iter()
        .filter(|p| p["role"] != "validator")
        .map(|p| (p["name"].as_str().expect("name").to_string(), p["bucket"].as_str().expect("bucket").to_string()))
        .collect();
    for p in participants.iter().filter(|p| p["role"] != "validator") {
        let bucket = p["bucket"].as_str().expect("bucket");
        assert_eq!(bucket, p["hotkey"].as_str().expect("hotkey").to_lowercase());
        assert!(workdir.join("buckets").join(bucket).is_dir(), "bucket directory {bucket}");
    }
    let honest: Vec<&String> = role_of.iter().filter(|(_, r)| *r == "honest").map(|(n, _)| n).collect();
    assert!(honest.len() >= 2, "{honest:?}");

    // The demo ends with the owner dataset: clips copied and a catalog `nexis dataset` reads.
    let owner_db = workdir.join("buckets/owner-db");
    let index: Value = serde_json::from_slice(&std::fs::read(owner_db.join("catalog/_index.json")).expect("index"))
        .expect("index json");
    let rows = index["rows"].as_u64().expect("rows");
    assert!(rows > 0, "{index}");
    let stats = nexis(tmp.path()).args(["dataset", "stats", "--from"]).arg(&owner_db).output().expect("stats");
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.status.success() && text.contains(&format!("rows            {rows}\n")), "{text}");

    // Every interval opened, closed and was evaluated for every miner.
    let intervals: Vec<u64> =
        events(&report, "interval_opened").iter().map(|e| e["interval_id"].as_u64().expect("id")).collect();
    assert_eq!(intervals, [0, 10, 20]);
    assert_eq!(events(&report, "interval_closed").len(), intervals.len());
    let decisions = events(&report, "decision");
    assert_eq!(decisions.len(), intervals.len() * 7);
    let published: BTreeSet<(u64, String)> = events(&report, "package_published")
        .iter()
        .map(|e| (e["interval_id"].as_u64().expect("id"), e["miner"].as_str().expect("miner").to_string()))
        .collect();

    for d in &decisions {
        let miner = d["miner"].as_str().expect("miner");
        let interval = d["interval_id"].as_u64().expect("interval");
        let codes = str_list(&d["codes"]);
        let accepted = d["accepted"].as_bool().expect("accepted");
        let role = d["role"].as_str().expect("role");
        if role != "reuploader" {
            // Distinct footage is never taken for a duplicate (the copier's rows go to
            // overlap pruning first: same sources and starts).
            assert_eq!(d["duplicate_content_pruned"], 0, "{d}");
        }
        match role {
            "honest" => {
                assert!(published.contains(&(interval, miner.to_string())));
                assert!(accepted && codes.is_empty(), "{d}");
                assert_eq!(d["record_count"], 2, "{d}");
            }
            "resolution_liar" => {
                assert!(!accepted, "{d}");
                assert!(!codes.is_empty() && codes.iter().all(|c| c == "invalid_resolution"), "{d}");
                assert!(str_list(&d["failures"]).iter().all(|f| f.ends_with(":854x480")), "{d}");
            }
            "copier" => {
                // Copying breaks no package rule; cross-miner arbitration gives every copied
                // row to the miner that published it first (protocol §10).
                assert!(accepted && codes.is_empty(), "{d}");
                assert_eq!(d["record_count"], 0, "{d}");
                assert_eq!(d["cross_miner_overlap_pruned"], 2, "{d}");
            }
            "absentee" if interval == 10 => {
                assert!(!published.contains(&(interval, miner.to_string())));
                assert!(!accepted && codes == ["missing_submission_files"], "{d}");
            }
            "absentee" => assert!(accepted && d["record_count"] == 2, "{d}"),
            "fabricator" => {
                // Real 1280x720 clips with correct hashes: only the source check sees that
                // they were not cut from the videos they claim.
                assert!(!accepted, "{d}");
                assert!(!codes.is_empty() && codes.iter().all(|c| c == "source_frame_mismatch"), "{d}");
            }
            "reuploader" => {
                // Its own clip ids, hashes and claimed videos (served by "YouTube" as the
                // re-upload it cut from): every package rule and the source check pass; the
                // first-frame fingerprints give each row to honest-2's earlier clip.
                assert!(published.contains(&(interval, miner.to_string())));
                assert!(accepted && codes.is_empty(), "{d}");
                assert_eq!(d["record_count"], 0, "{d}");
                assert_eq!(
                    (d["global_overlap_pruned"].as_u64(), d["cross_miner_overlap_pruned"].as_u64()),
                    (Some(0), Some(0)),
                    "{d}"
                );
                assert_eq!(d["duplicate_content_pruned"], 2, "{d}");
                let notes = str_list(&d["duplicate_content"]);
                assert_eq!(notes.len(), 2, "{d}");
                let victim_clips =
                    workdir.join("buckets").join(&bucket_of["honest-2"]).join(interval.to_string()).join("clips");
                let own_clips =
                    workdir.join("buckets").join(&bucket_of["reuploader"]).join(interval.to_string()).join("clips");
                for note in &notes {
                    let parts: Vec<&str> = note.split(':').collect();
                    assert_eq!((parts.len(), parts[0]), (3, "duplicate_content"), "{note}");
                    assert!(own_clips.join(format!("{}.mp4", parts[1])).is_file(), "{note}: its own clip");
                    assert!(victim_clips.join(format!("{}.mp4", parts[2])).is_file(), "{note}: honest-2's clip");
                }
            }
            other => panic!("unexpected role {other}"),
        }
    }

    // Owner mode (the same `OwnerMode` as `nexis validate`) publishes the overlap snapshot
    // after every interval; the last one holds exactly the kept (accepted, unpruned) clips.
    let owner = events(&report, "owner_published");
    assert_eq!(owner.iter().map(|e| e["interval_id"].as_u64().expect("id")).collect::<Vec<_>>(), intervals);
    let record_info = workdir.join("buckets/nexis-record-info");
    let snapshot =
        nexis::index::snapshot::parse(&std::fs::read(record_info.join("record_info.json")).expect("snapshot"))
            .expect("record_info.json parses");
    let in_snapshot: BTreeSet<(String, u64)> =
        snapshot.entries.iter().flat_map(|(k, starts)| starts.iter().map(move |ms| (k.clone(), *ms))).collect();
    let kept_rows: u64 =
        decisions.iter().filter(|d| d["accepted"] == true).map(|d| d["record_count"].as_u64().expect("n")).sum();
    assert!(kept_rows > 0);
    assert_eq!(in_snapshot.len() as u64, kept_rows, "one entry per kept clip");
    assert_eq!(owner.last().expect("owner events")["snapshot_entries"].as_u64(), Some(kept_rows));
    assert_eq!(in_snapshot, bundle_rows(&record_info), "the snapshot lists exactly the published bundles' clips");

    // Weights: once per epoch (0 at block 12, nothing scored yet; 1 at block 32).
    let weights = events(&report, "weights_set");
    let epochs: Vec<u64> = weights.iter().map(|w| w["epoch"].as_u64().expect("epoch")).collect();
    assert_eq!(epochs, [0, 1], "one submission per epoch");
    assert_eq!(weights[0]["burned"], true);
    let last: BTreeMap<String, u64> = weights[1]["weights"]
        .as_array()
        .expect("weights")
        .iter()
        .map(|w| (w["name"].as_str().expect("name").to_string(), w["weight"].as_u64().expect("weight")))
        .collect();
    assert_eq!(last.keys().collect::<Vec<_>>(), honest, "only the honest miners get weight: {last:?}");
    assert!(last.values().all(|w| *w == 65535), "{last:?}");

    // The summary agrees, read back from the chain.
    let summary = report["summary"].as_array().expect("summary");
    assert_eq!(summary.len(), 7);
    let row = |role: &str| summary.iter().filter(move |r| r["role"] == role).collect::<Vec<_>>();
    for r in row("honest") {
        assert_eq!((r["intervals_accepted"].as_u64(), r["intervals_rejected"].as_u64()), (Some(3), Some(0)), "{r}");
        assert_eq!(r["rows_kept"], 6);
        assert_eq!(r["final_weight"], 65535);
    }
    let best_cheater = summary
        .iter()
        .filter(|r| r["role"] != "honest")
        .map(|r| r["final_weight"].as_u64().expect("weight"))
        .max()
        .expect("cheaters");
    assert_eq!(best_cheater, 0);
    assert_eq!(row("resolution_liar")[0]["failure_codes"], serde_json::json!(["invalid_resolution"]));
    assert_eq!(row("absentee")[0]["failure_codes"], serde_json::json!(["missing_submission_files"]));
    assert_eq!(row("fabricator")[0]["failure_codes"], serde_json::json!(["source_frame_mismatch"]));
    assert_eq!((row("copier")[0]["rows_kept"].as_u64(), row("copier")[0]["rows_pruned"].as_u64()), (Some(0), Some(6)));
    let reuploader = &row("reuploader")[0];
    assert_eq!((reuploader["rows_kept"].as_u64(), reuploader["rows_pruned"].as_u64()), (Some(0), Some(6)));
    assert_eq!(reuploader["failure_codes"], serde_json::json!([]));
    assert!(report["elapsed_sec"].as_f64().is_some_and(|s| s > 0.0));
    assert_eq!(report["workdir_temporary"], false);
}

#[test]
fn demo_refuses_a_used_workdir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("something"), b"x").expect("write");
    let out = nexis(tmp.path()).args(["demo", "--workdir"]).arg(tmp.path()).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&out.stderr));
}
