//! The "where to change what" table of `docs/architecture.md` cannot drift: every path it
//! names exists in the repository; the trait signatures `docs/adding-dataset-spec.md`
//! shows are the ones in `src/`.

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

/// Lines with their indentation removed, blank lines dropped.
fn unindented(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Every source file under `dir`, unindented.
fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(unindented(&std::fs::read_to_string(&path).expect("read source")));
        }
    }
}

#[test]
fn the_trait_signatures_in_adding_dataset_spec_are_the_real_ones() {
    let doc = std::fs::read_to_string(repo().join("docs/adding-dataset-spec.md")).expect("adding-dataset-spec.md");
    let mut files = Vec::new();
    sources(&repo().join("src"), &mut files);
    let blocks: Vec<String> =
        doc.split("```rust\n").skip(1).map(|rest| unindented(rest.split("```").next().unwrap_or_default())).collect();
    assert!(blocks.len() >= 2, "the DatasetSpec and HardCheck traits are shown");
    for block in &blocks {
        assert!(files.iter().any(|f| f.contains(block.as_str())), "not in src/ as shown:\n{block}");
    }
}
