//! A failure code has one home: its string is spelled in `src/model/failure.rs` only, and
//! every other module names a `FailureCode` variant (tests may spell codes to pin them).

use std::path::Path;

use nexis::model::FailureCode;

use super::support::repo;

/// Literals deliberately equal to a code, with why.
const ALLOWED: &[(&str, &str)] = &[("src/validator/service/metrics.rs", "\"duplicate_content\"")]; // the prune-kind metric label, not a failure

/// Non-test source of every Rust file under `dir`, with its path relative to the repo.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_none_or(|n| n != "tests.rs") {
            // A `tests.rs` file is a unit-test module: it may spell codes to pin them.
            let text = std::fs::read_to_string(&path).expect("read source");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            let rel = path.strip_prefix(repo()).expect("under the repo").display().to_string();
            out.push((rel, code));
        }
    }
}

#[test]
fn code_strings_are_spelled_only_in_the_failure_module() {
    let mut files = Vec::new();
    sources(&repo().join("src"), &mut files);
    assert!(files.len() > 100, "scanned only {} files", files.len());
    let mut strays = Vec::new();
    for (path, text) in files.iter().filter(|(p, _)| p != "src/model/failure.rs") {
        for code in FailureCode::ALL {
            for literal in [format!("\"{}\"", code.as_str()), format!("\"{}:", code.as_str())] {
                let allowed = ALLOWED.iter().any(|(p, l)| p == path && *l == literal);
                if text.contains(&literal) && !allowed {
                    strays.push(format!("{path}: {literal}"));
                }
            }
        }
    }
    assert!(strays.is_empty(), "failure-code strings outside src/model/failure.rs (use FailureCode): {strays:#?}");
}

#[test]
fn every_code_round_trips_through_its_failure_and_is_distinct() {
    let strings: std::collections::BTreeSet<&str> = FailureCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(strings.len(), FailureCode::ALL.len(), "two codes share a string");
    let f = nexis::model::Failure::DuplicateClip { clip_id: "c".into() };
    assert_eq!((f.kind(), f.code()), (FailureCode::DuplicateClip, "duplicate_clip"));
    assert!(f.to_string().starts_with(f.kind().as_str()));
}
