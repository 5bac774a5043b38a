//! No two top-level library modules import each other (architecture: lower layers never
//! import higher ones). Reads `src/` as text: every `crate::x` path outside comments and
//! `#[cfg(test)]` code counts as an import of `x`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::support::repo;

/// The top-level module a file under `src/` belongs to (`None` for the crate roots and the CLI).
fn top_module(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    (!["main", "lib", "cli"].contains(&first.as_str())).then_some(first)
}

/// The modules `text` imports through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let name: String = line[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
    }
    out
}

fn walk(dir: &Path, graph: &mut BTreeMap<String, BTreeSet<String>>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, graph);
            continue;
        }
        let rel = path.strip_prefix(repo().join("src")).expect("under src");
        let Some(top) = top_module(rel) else { continue };
        let text = std::fs::read_to_string(&path).expect("read source");
        let deps = graph.entry(top.clone()).or_default();
        deps.extend(imports(&text).into_iter().filter(|m| *m != top));
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let mut graph = BTreeMap::new();
    walk(&repo().join("src"), &mut graph);
    assert!(graph.len() > 15, "found only {} modules", graph.len());
    let cycles: Vec<(String, String)> = graph
        .iter()
        .flat_map(|(a, deps)| deps.iter().map(move |b| (a.clone(), b.clone())))
        .filter(|(a, b)| a < b && graph.get(b).is_some_and(|d| d.contains(a)))
        .collect();
    assert!(cycles.is_empty(), "modules that import each other: {cycles:?}");
}

#[test]
fn the_scan_sees_an_import() {
    let found = imports("use crate::media::ytdlp::run;\n// crate::demo\nfn f() { crate::model::x(); }");
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["media", "model"]);
}
