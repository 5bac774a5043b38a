//! The repository alone runs every chain test: the runtime metadata and vector files the tests
//! read live under `tests/`, and each equals its `../shared/` original when that folder exists
//! (beside the checkout, as in the project workspace).

use std::path::Path;

use crate::support::{chain_data_dir, repo, shared_dir};
use nexis::chain::subtensor::load_metadata;

/// Files under `tests/` and the `../shared/` path they copy.
const COPIES: [(&str, &str); 6] = [
    ("tests/chain/finney-spec365.scale", "chain/finney-spec365.scale"),
    ("tests/chain/finney-spec393.scale", "chain/finney-spec393.scale"),
    ("tests/chain/SOURCES.md", "chain/SOURCES.md"),
    ("tests/compat-vectors.json", "compat-vectors.json"),
    ("tests/commit-reveal-vectors.json", "commit-reveal-vectors.json"),
    ("tests/commit-reveal-v2-vectors.json", "commit-reveal-v2-vectors.json"),
];

#[test]
fn chain_test_data_is_in_the_repository() {
    for (ours, _) in COPIES {
        let path = repo().join(ours);
        let len = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{ours}: {e}")).len();
        assert!(len > 0, "{ours} is empty");
    }
    for name in ["finney-spec365.scale", "finney-spec393.scale"] {
        load_metadata(chain_data_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn copies_equal_shared() {
    let Some(shared) = shared_dir() else { return };
    for (ours, theirs) in COPIES {
        let theirs_path = shared.join(theirs);
        if !theirs_path.exists() {
            continue;
        }
        let a = std::fs::read(repo().join(ours)).unwrap_or_else(|e| panic!("{ours}: {e}"));
        let b = std::fs::read(&theirs_path).unwrap_or_else(|e| panic!("{}: {e}", theirs_path.display()));
        assert!(a == b, "{ours} differs from ../shared/{theirs}: copy it again");
    }
    // Every runtime metadata file of ../shared/chain is copied (a new spec must be added here).
    let shared_chain = shared.join("chain");
    if shared_chain.is_dir() {
        for entry in std::fs::read_dir(&shared_chain).expect("read ../shared/chain") {
            let name = entry.expect("entry").file_name();
            assert!(
                Path::new(&chain_data_dir()).join(&name).exists(),
                "../shared/chain/{} has no copy in tests/chain/",
                name.to_string_lossy()
            );
        }
    }
}
