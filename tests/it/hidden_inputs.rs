//! No hidden inputs: the library reads no environment variable and names none. Only the
//! CLI (`src/cli`) and the demo (`src/demo`) read the environment and spell `NEXIS_*`
//! names; the library takes settings structs and its errors name their fields (the CLI maps
//! them back to its flags and variables).

use std::path::Path;

use super::support::repo;

/// Folders whose files may read the environment and name its variables.
const OWNERS: &[&str] = &["src/cli/", "src/demo/"];

/// Folders not yet converted, with why. Other issue-28 helpers are moving the environment
/// reads and variable names out of these folders; the merge empties this list.
const NOT_YET: &[(&str, &str)] = &[
    ("src/api/", "the validation API client's and server's settings (issue 28, item 7: another helper)"),
    ("src/validator/", "the validator's config errors name NEXIS_* variables (issue 28, item 7: another helper)"),
];

/// What a library file must not contain.
const FORBIDDEN: &[&str] = &["env::var", "\"NEXIS_"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_cli_and_the_demo_read_the_environment() {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    assert!(files.len() > 100, "scanned only {} files", files.len());
    let mut found = Vec::new();
    let mut still_needed = vec![false; NOT_YET.len()];
    for path in files {
        let rel = path.strip_prefix(repo()).expect("under the repo").display().to_string();
        if OWNERS.iter().any(|o| rel.starts_with(o)) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for needle in FORBIDDEN.iter().filter(|n| text.contains(**n)) {
            match NOT_YET.iter().position(|(dir, _)| rel.starts_with(dir)) {
                Some(i) => still_needed[i] = true,
                None => found.push(format!("{rel}: {needle}")),
            }
        }
    }
    assert!(
        found.is_empty(),
        "library files read the environment or name its variables (pass settings in from src/cli): {found:#?}"
    );
    for ((dir, _), needed) in NOT_YET.iter().zip(still_needed) {
        assert!(needed, "{dir} no longer reads the environment: remove it from NOT_YET");
    }
}
