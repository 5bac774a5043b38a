//! The "where to change what" table of `docs/architecture.md` cannot drift: every path it
//! names exists in the repository.

use super::support::repo;

/// The backticked repository paths in the table's rows.
fn table_paths(doc: &str) -> Vec<String> {
    let start = doc.find("## Where to change what").expect("the table's heading");
    let section = &doc[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    let mut paths = Vec::new();
    for line in section[..end].lines().filter(|l| l.starts_with('|')) {
        for (i, piece) in line.split('`').enumerate() {
            let looks_like_path = piece.contains('/') || piece.starts_with('.');
            if i % 2 == 1 && looks_like_path && !piece.contains(' ') {
                paths.push(piece.to_string());
            }
        }
    }
    paths
}

#[test]
fn every_path_in_the_where_to_change_what_table_exists() {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).expect("architecture.md");
    let paths = table_paths(&doc);
    assert!(paths.len() >= 20, "only {} paths found: is the table still there? {paths:?}", paths.len());
    let missing: Vec<&String> = paths.iter().filter(|p| !repo().join(p).exists()).collect();
    assert!(missing.is_empty(), "docs/architecture.md names paths that do not exist: {missing:?}");
}

#[test]
fn a_moved_file_is_caught() {
    let doc =
        "## Where to change what\n\n| a | `src/no/such/file.rs` | `docs/validator.md` |\n\n## Next\n| `src/other.rs` |";
    assert_eq!(table_paths(doc), ["src/no/such/file.rs", "docs/validator.md"]);
}
