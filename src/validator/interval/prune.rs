//! Overlap pruning of one interval (protocol §10): rows that overlap the global index of
//! already published clips are dropped first, then rows that overlap a row kept from a
//! different miner of the same interval, earliest submitter first. Then near-duplicate
//! footage: a kept row whose content fingerprint matches a published clip's, or a row
//! kept from an earlier submitter of another miner this interval, is dropped too
//! (`duplicate_content`), whatever source it claims. Pruning removes rows from a miner's
//! count; it never rejects a package.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::dataset::{DatasetError, DatasetFrame};
use crate::index::fingerprints::{FingerprintEntry, nearest};
use crate::index::overlap::{IndexError, OverlapIndex};
use crate::media::fingerprint::Fingerprint;
use crate::protocol::MIN_START_DISTANCE_SEC;

/// Pruning failures (ours, not the miners').
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// The overlap index could not be read.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A kept frame could not give a row's key or start.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// One accepted package taking part in pruning.
#[derive(Debug, Clone, Copy)]
pub(super) struct PackageRows<'a> {
    /// The miner's SS58 hotkey.
    pub hotkey: &'a str,
    /// Storage LastModified of the manifest, else its `created_at`.
    pub submitted_at: Option<DateTime<Utc>>,
    /// Its loaded dataset.
    pub frame: &'a DatasetFrame,
    /// Content fingerprints of its rows, `(row, fingerprint)`, ascending by row (rows
    /// without one are absent).
    pub fingerprints: &'a [(u32, Fingerprint)],
}

/// A row pruned as near-duplicate footage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Duplicate {
    /// The pruned row.
    pub row: u32,
    /// Its `clip_id`.
    pub clip_id: String,
    /// The `clip_id` of the earlier clip it matched.
    pub matched: String,
}

/// Per package (same order as the input): rows pruned against the index, rows pruned
/// against other miners, and the rows kept (ascending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct PruneOutcome {
    /// Rows pruned because the index already holds them.
    pub global_pruned: Vec<u64>,
    /// Rows pruned because an earlier submission of this interval holds them.
    pub cross_pruned: Vec<u64>,
    /// Rows pruned as near-duplicate footage, by row.
    pub duplicates: Vec<Vec<Duplicate>>,
    /// Row numbers kept, ascending.
    pub kept: Vec<Vec<u32>>,
}

/// A total order on finite starts that sorts like the numbers.
fn ordered(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

struct Candidate<'a> {
    package: usize,
    row: u32,
    key: &'a str,
    start: f64,
    clip_id: &'a str,
}

/// Prunes the interval's accepted packages against `index` and against each other, then
/// drops near-duplicate footage against the `published` fingerprints and across miners.
pub(super) fn prune(
    packages: &[PackageRows<'_>],
    index: &OverlapIndex,
    published: &[FingerprintEntry],
) -> Result<PruneOutcome, PruneError> {
    let mut outcome = PruneOutcome {
        global_pruned: vec![0; packages.len()],
        cross_pruned: vec![0; packages.len()],
        duplicates: vec![Vec::new(); packages.len()],
        kept: vec![Vec::new(); packages.len()],
    };
    // Arbitration order of packages: submission time (unknown last), then hotkey.
    let mut order: Vec<usize> = (0..packages.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&packages[a], &packages[b]);
        (pa.submitted_at.is_none(), pa.submitted_at, pa.hotkey).cmp(&(
            pb.submitted_at.is_none(),
            pb.submitted_at,
            pb.hotkey,
        ))
    });
    let mut rank = vec![0usize; packages.len()];
    for (r, &p) in order.iter().enumerate() {
        rank[p] = r;
    }

    let mut candidates = Vec::new();
    for (p, package) in packages.iter().enumerate() {
        let starts = package.frame.starts()?;
        for (row, &start) in starts.iter().enumerate() {
            let key = package.frame.source_key(row)?;
            if index.overlaps(key, start)? {
                outcome.global_pruned[p] += 1;
                continue;
            }
            let clip_id = package.frame.clip_id(row)?;
            candidates.push(Candidate { package: p, row: row as u32, key, start, clip_id });
        }
    }
    candidates.sort_by(|a, b| {
        a.key
            .cmp(b.key)
            .then(rank[a.package].cmp(&rank[b.package]))
            .then(a.start.total_cmp(&b.start))
            .then(a.clip_id.cmp(b.clip_id))
    });

    for group in candidates.chunk_by(|a, b| a.key == b.key) {
        // Kept starts of this source, with the packages that kept them.
        let mut kept: BTreeMap<u64, Vec<(f64, usize)>> = BTreeMap::new();
        for c in group {
            let lo = ordered(c.start - MIN_START_DISTANCE_SEC);
            let hi = ordered(c.start + MIN_START_DISTANCE_SEC);
            let clash = c.start.is_finite()
                && kept
                    .range(lo..=hi)
                    .flat_map(|(_, v)| v)
                    .any(|&(start, package)| package != c.package && (c.start - start).abs() < MIN_START_DISTANCE_SEC);
            if clash {
                outcome.cross_pruned[c.package] += 1;
            } else {
                outcome.kept[c.package].push(c.row);
                if c.start.is_finite() {
                    kept.entry(ordered(c.start)).or_default().push((c.start, c.package));
                }
            }
        }
    }
    for rows in &mut outcome.kept {
        rows.sort_unstable();
    }
    prune_duplicates(packages, &order, published, &mut outcome)?;
    Ok(outcome)
}

/// Drops kept rows whose fingerprint matches a published clip, or a row kept by an
/// earlier-ranked package of another miner, visiting packages in arbitration `order`.
fn prune_duplicates(
    packages: &[PackageRows<'_>],
    order: &[usize],
    published: &[FingerprintEntry],
    outcome: &mut PruneOutcome,
) -> Result<(), PruneError> {
    // Fingerprints kept so far this interval, with the miner that kept them.
    let mut taken: Vec<(FingerprintEntry, usize)> = Vec::new();
    for &p in order {
        let package = &packages[p];
        let mut keep = Vec::with_capacity(outcome.kept[p].len());
        let mut added = Vec::new();
        for &row in &outcome.kept[p] {
            let Ok(i) = package.fingerprints.binary_search_by_key(&row, |&(r, _)| r) else {
                keep.push(row);
                continue;
            };
            let fingerprint = package.fingerprints[i].1;
            let earlier = nearest(published, fingerprint).map(|e| e.clip_id.clone()).or_else(|| {
                taken
                    .iter()
                    .filter(|(e, q)| packages[*q].hotkey != package.hotkey && e.fingerprint.matches(fingerprint))
                    .min_by_key(|(e, _)| e.fingerprint.distance(fingerprint))
                    .map(|(e, _)| e.clip_id.clone())
            });
            let clip_id = package.frame.clip_id(row as usize)?.to_string();
            match earlier {
                Some(matched) => outcome.duplicates[p].push(Duplicate { row, clip_id, matched }),
                None => {
                    keep.push(row);
                    added.push(FingerprintEntry { fingerprint, clip_id, miner_hotkey: package.hotkey.to_string() });
                }
            }
        }
        taken.extend(added.into_iter().map(|e| (e, p)));
        outcome.kept[p] = keep;
    }
    Ok(())
}
