//! `.env.example` documents every environment variable the code reads: a variable named in
//! a clap `env = "..."` attribute or an `env::var("...")` call must appear in it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::repo;

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

/// Upper-case identifiers quoted right after one of `markers`.
fn quoted_after(text: &str, markers: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for marker in markers {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let name: String =
                rest.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            if !name.is_empty() && rest[name.len()..].starts_with('"') {
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn env_example_lists_every_variable_the_code_reads() {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    let mut read = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        read.extend(quoted_after(&text, &["env = \"", "env::var(\"", "env::var_os(\""]));
    }
    assert!(read.contains("NEXIS_FFPROBE"), "the scan should find the check flags, found {read:?}");
    let example = std::fs::read_to_string(repo().join(".env.example")).expect(".env.example");
    let documented: BTreeSet<String> = example
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().split_once('='))
        .map(|(name, _)| name.trim().to_string())
        .collect();
    // Variables of the operating system, not of nexis.
    const SYSTEM: [&str; 3] = ["HOME", "PATH", "XDG_STATE_HOME"];
    let missing: Vec<_> = read.difference(&documented).filter(|v| !SYSTEM.contains(&v.as_str())).collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
}
