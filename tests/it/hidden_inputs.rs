//! No hidden inputs: the library reads no environment variable and names none. Only the
//! CLI (`src/cli`) and the demo (`src/demo`) read the environment and spell `NEXIS_*`
//! names; the library takes settings structs and its errors name their fields (the CLI maps
//! them back to its flags and variables).

use std::path::Path;

use super::support::repo;

/// Folders whose files may read the environment and name its variables.
const OWNERS: &[&str] = &["src/cli/", "src/demo/"];

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
    for path in files {
        let rel = path.strip_prefix(repo()).expect("under the repo").display().to_string();
        if OWNERS.iter().any(|o| rel.starts_with(o)) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        found.extend(FORBIDDEN.iter().filter(|n| text.contains(**n)).map(|needle| format!("{rel}: {needle}")));
    }
    assert!(
        found.is_empty(),
        "library files read the environment or name its variables (pass settings in from src/cli): {found:#?}"
    );
}
