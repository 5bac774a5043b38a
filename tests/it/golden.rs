//! Every golden case runs through the validator and must match exactly; and
//! `tests/golden/` must stay identical to `../shared/golden/` when that folder exists.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::support::{check_dir_with, failures, golden_dir, shared_dir};
use nexis::protocol::{HotkeyAddr, IntervalId};
use nexis::validator::{IntervalTerms, PackageLimits, PackageRequest, interval_seed};

#[derive(Deserialize)]
struct Expect {
    accepted: bool,
    failures: Vec<String>,
    record_count: u64,
    sampled_rows: u64,
}

#[derive(Deserialize)]
struct Case {
    miner_hotkey: String,
    interval_id: u64,
    validator_hotkey: String,
    expected_category: String,
    enabled_specs: Vec<String>,
    expect: Expect,
    why: String,
}

fn cases() -> Vec<(String, Case)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(golden_dir()).expect("tests/golden") {
        let entry = entry.expect("entry");
        let path = entry.path().join("case.json");
        if path.is_file() {
            let case: Case = serde_json::from_slice(&std::fs::read(&path).expect("case")).expect("case.json");
            out.push((entry.file_name().to_string_lossy().into_owned(), case));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn request_for(case: &Case) -> PackageRequest {
    let terms = IntervalTerms {
        interval_id: IntervalId::new(case.interval_id),
        validator_hotkey: Some(HotkeyAddr::new(case.validator_hotkey.as_str())),
        interval_seed: interval_seed(case.interval_id),
        expected_category: Some(case.expected_category.clone()).filter(|c| !c.is_empty()),
        enabled_specs: case.enabled_specs.clone(),
        upload_deadline: None,
        extra_sample_seed: None,
    };
    PackageRequest::new(case.miner_hotkey.clone(), std::sync::Arc::new(terms))
}

/// Every golden case's name and the request its package is validated with.
pub(crate) fn golden_requests() -> Vec<(String, PackageRequest)> {
    cases().into_iter().map(|(name, case)| (name, request_for(&case))).collect()
}

#[tokio::test]
async fn every_golden_case_matches_exactly() {
    let cases = cases();
    assert!(cases.len() >= 22, "expected the golden cases, found {}", cases.len());
    let mut mismatches = Vec::new();
    for (name, case) in &cases {
        let req = request_for(case);
        let d = check_dir_with(&golden_dir().join(name).join("package"), &req, PackageLimits::default()).await;
        let got = (d.accepted, failures(&d), d.record_count, d.sampled_rows);
        let want =
            (case.expect.accepted, case.expect.failures.clone(), case.expect.record_count, case.expect.sampled_rows);
        if got != want {
            mismatches.push(format!("{name} ({}): got {got:?}, want {want:?}", case.why));
        }
    }
    assert!(mismatches.is_empty(), "golden mismatches:\n{}", mismatches.join("\n"));
}

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn golden_copy_equals_shared_golden() {
    let Some(shared) = shared_dir() else {
        eprintln!("../shared is absent; skipping the golden copy comparison");
        return;
    };
    let theirs = tree(&shared.join("golden"));
    let ours = tree(&golden_dir());
    let missing: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(missing.is_empty(), "copy these new golden files into tests/golden: {missing:?}");
    let differing: Vec<_> = theirs.iter().filter(|(k, v)| ours.get(*k) != Some(*v)).map(|(k, _)| k).collect();
    assert!(differing.is_empty(), "tests/golden differs from ../shared/golden: {differing:?}");
    let extra: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    assert!(extra.is_empty(), "tests/golden has files ../shared/golden lacks: {extra:?}");
}
