//! The conformance vectors of `compat-vectors.json` that concern the core (sampling,
//! clip ids, canonical source keys). The copy in `tests/` must equal `../shared/`'s.

use serde_json::Value;

use crate::support::{repo, shared_dir};
use nexis::model::deterministic_clip_id;
use nexis::model::source_key::canonical_source_key;
use nexis::protocol::HotkeyAddr;
use nexis::validator::{interval_seed, seed_int, select_miners, select_row_indices};

pub(crate) fn vectors() -> Value {
    serde_json::from_slice(&std::fs::read(repo().join("tests/compat-vectors.json")).expect("vectors")).expect("json")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|x| s(x).to_string()).collect()
}

#[test]
fn vector_copy_equals_shared() {
    let Some(shared) = shared_dir() else { return };
    let theirs = std::fs::read(shared.join("compat-vectors.json")).expect("shared vectors");
    let ours = std::fs::read(repo().join("tests/compat-vectors.json")).expect("our vectors");
    assert_eq!(ours, theirs, "copy ../shared/compat-vectors.json to tests/compat-vectors.json");
}

#[test]
fn seed_int_vectors() {
    let v = vectors();
    let cases = v["seed_int"].as_object().expect("seed_int");
    assert!(!cases.is_empty());
    for (text, want) in cases {
        assert_eq!(seed_int(text), want.as_u64().expect("u64"), "seed_int({text:?})");
    }
}

#[test]
fn default_interval_seed_vectors() {
    let v = vectors();
    for (interval, want) in v["default_interval_seed"].as_object().expect("seeds") {
        assert_eq!(interval_seed(interval.parse().expect("id")), s(want), "interval {interval}");
    }
}

#[test]
fn select_miners_vectors() {
    let v = vectors();
    let cases = v["select_miners"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    for case in cases {
        let active = strings(&case["active_hotkeys"]);
        let want = strings(&case["selected"]);
        assert_eq!(select_miners(&active, s(&case["interval_seed"]), 35), want, "{} hotkeys", active.len());
    }
}

#[test]
fn select_row_indices_vectors() {
    let v = vectors();
    let cases = v["select_row_indices"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    for case in cases {
        let total = case["total_rows"].as_u64().expect("rows") as usize;
        let validator = case["validator_hotkey"].as_str().map(HotkeyAddr::new);
        let want: Vec<usize> =
            case["indices"].as_array().expect("indices").iter().map(|i| i.as_u64().expect("idx") as usize).collect();
        let got = select_row_indices(
            total,
            &HotkeyAddr::new(s(&case["miner_hotkey"])),
            validator.as_ref(),
            s(&case["interval_seed"]),
            3,
        );
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn deterministic_clip_id_vectors() {
    let v = vectors();
    for case in v["deterministic_clip_id"].as_array().expect("cases") {
        let got = deterministic_clip_id(
            s(&case["source_video_id"]),
            case["clip_start_sec"].as_f64().expect("start"),
            case["duration_sec"].as_f64().expect("duration"),
        );
        assert_eq!(got, s(&case["clip_id"]), "{case}");
    }
}

#[test]
fn canonical_source_key_vectors() {
    let v = vectors();
    for case in v["canonical_source_key"].as_array().expect("cases") {
        assert_eq!(canonical_source_key(s(&case["source_video_url"])), s(&case["canonical_key"]), "{case}");
    }
}
