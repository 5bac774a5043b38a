//! The compact frame the package-wide checks run on: per dataset row its clip id, source
//! groups and start, plus the per-row facts (YouTube host, caption words, URL in the
//! caption) and the rows that repeat an earlier row. Plain vectors, no copies: a
//! million-row frame costs about a hundred bytes per row.

use super::DatasetError;
use super::arena::StrArena;
use super::collect::SourceGroups;

/// Which grouping an overlap query uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceGrouping {
    /// The declared (trimmed) `source_video_id`.
    Declared,
    /// The canonical source key of `source_video_url` (protocol §10).
    Canonical,
}

/// A decoded, rule-checked dataset.
#[derive(Debug, Clone, Default)]
pub struct DatasetFrame {
    /// Trimmed (and capped) clip id of each row.
    clip_ids: StrArena,
    /// Declared source id of each row. A source group's id is the row where it first
    /// appears, so `source_ids.get(group)` is that group's key.
    pub source_ids: StrArena,
    /// Canonical source key of each row (same group-id convention).
    pub source_keys: StrArena,
    declared_groups: Vec<u32>,
    canonical_groups: Vec<u32>,
    starts: Vec<f64>,
    /// Rows (ascending) whose clip id, clip URI, clip hash or frame hash repeats an
    /// earlier row's.
    duplicates: Vec<u32>,
    /// Whether each row's URL host is YouTube.
    pub youtube: Vec<bool>,
    /// Caption word counts, capped at the minimum.
    pub caption_words: Vec<u8>,
    /// Whether each caption holds a URL.
    pub caption_has_url: Vec<bool>,
    /// The first rows (in row order, then column order) whose value was longer than its
    /// column's cap, with that column's name; at most 256.
    pub too_long: Vec<(u32, String)>,
    /// How many values were longer than their cap in all.
    pub too_long_total: u64,
}

/// Everything decoded from the columns, before it becomes a frame.
#[derive(Debug, Default)]
pub struct FrameParts {
    /// Trimmed clip ids.
    pub clip_ids: StrArena,
    /// Rows repeating an earlier row in any duplicate column (any order, repeats allowed).
    pub repeated: Vec<u32>,
    /// Declared source ids and their groups.
    pub declared: SourceGroups,
    /// Canonical source keys and their groups.
    pub canonical: SourceGroups,
    /// Clip starts.
    pub starts: Vec<f64>,
    /// Whether each row's URL host is YouTube.
    pub youtube: Vec<bool>,
    /// Caption word counts, capped at the minimum.
    pub caption_words: Vec<u8>,
    /// Whether each caption holds a URL.
    pub caption_has_url: Vec<bool>,
    /// The first too-long values (row, column name).
    pub too_long: Vec<(u32, String)>,
    /// How many values were too long in all.
    pub too_long_total: u64,
}

fn out_of_range(row: usize) -> DatasetError {
    DatasetError::Internal(format!("row {row} out of range"))
}

impl DatasetFrame {
    /// Builds the frame from decoded columns.
    pub fn from_parts(parts: FrameParts) -> Result<Self, DatasetError> {
        let height = parts.clip_ids.len();
        let lengths = [parts.declared.groups.len(), parts.canonical.groups.len(), parts.starts.len()];
        if lengths.iter().any(|&n| n != height) {
            return Err(DatasetError::Internal(format!(
                "dataset frame: columns of {lengths:?} rows beside {height} clip ids"
            )));
        }
        let mut duplicates = parts.repeated;
        duplicates.sort_unstable();
        duplicates.dedup();
        Ok(Self {
            clip_ids: parts.clip_ids,
            source_ids: parts.declared.keys,
            source_keys: parts.canonical.keys,
            declared_groups: parts.declared.groups,
            canonical_groups: parts.canonical.groups,
            starts: parts.starts,
            duplicates,
            youtube: parts.youtube,
            caption_words: parts.caption_words,
            caption_has_url: parts.caption_has_url,
            too_long: parts.too_long,
            too_long_total: parts.too_long_total,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.clip_ids.len()
    }

    /// Whether the dataset has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Trimmed clip id of `row`.
    pub fn clip_id(&self, row: usize) -> Result<&str, DatasetError> {
        self.clip_ids.get(row).ok_or_else(|| out_of_range(row))
    }

    /// Declared source id of `row`.
    pub fn declared_source(&self, row: usize) -> Result<&str, DatasetError> {
        self.source_ids.get(row).ok_or_else(|| out_of_range(row))
    }

    /// Canonical source key of `row`.
    pub fn source_key(&self, row: usize) -> Result<&str, DatasetError> {
        self.source_keys.get(row).ok_or_else(|| out_of_range(row))
    }

    /// Clip starts, in row order.
    pub fn starts(&self) -> Result<Vec<f64>, DatasetError> {
        Ok(self.starts.clone())
    }

    /// Clip starts, in row order, without a copy.
    pub(crate) fn start_values(&self) -> &[f64] {
        &self.starts
    }

    /// Adjacent close pairs `(earlier_row, later_row, group_id)`: rows grouped by
    /// `grouping`, groups in first-appearance order, each sorted stably by start, every
    /// adjacent pair less than `min_distance` apart.
    pub fn close_pairs(
        &self,
        grouping: SourceGrouping,
        min_distance: f64,
    ) -> Result<Vec<(u32, u32, u32)>, DatasetError> {
        let groups = match grouping {
            SourceGrouping::Declared => &self.declared_groups,
            SourceGrouping::Canonical => &self.canonical_groups,
        };
        let starts = &self.starts;
        Ok(by_group_then_start(groups, starts)
            .windows(2)
            .filter_map(|pair| {
                let (prev, row) = (pair[0], pair[1]);
                let group = groups[row as usize];
                let close = starts[row as usize] - starts[prev as usize] < min_distance;
                (group == groups[prev as usize] && close).then_some((prev, row, group))
            })
            .collect())
    }

    /// Rows (ascending) whose clip id, clip URI, clip hash or frame hash repeats an
    /// earlier row's (found while decoding, by sorting fingerprints: no hash sets).
    pub fn duplicate_rows(&self) -> Result<Vec<u32>, DatasetError> {
        Ok(self.duplicates.clone())
    }
}

/// Row numbers in (group, start, row) order, the stable sort by (group, start): a counting
/// sort by group (group ids are row numbers, so they index a table), then each group's
/// rows, already ascending, sorted stably by start. Two tables of one u32 a row and no
/// comparison sort across groups.
fn by_group_then_start(groups: &[u32], starts: &[f64]) -> Vec<u32> {
    let n = groups.len().min(starts.len());
    // Group ids are first rows (< n) by construction; clamping only keeps this total.
    let group_of = |row: usize| (groups[row] as usize).min(n.saturating_sub(1));
    let mut ends = vec![0u32; n + 1];
    for row in 0..n {
        ends[group_of(row) + 1] += 1;
    }
    for g in 1..=n {
        ends[g] += ends[g - 1];
    }
    // Now ends[g] is where group g begins; placing its rows moves it to where g ends.
    let mut order = vec![0u32; n];
    for row in 0..n {
        let slot = &mut ends[group_of(row)];
        order[*slot as usize] = row as u32;
        *slot += 1;
    }
    let mut begin = 0;
    for &end in &ends[..n] {
        let end = end as usize;
        if end > begin {
            order[begin..end].sort_by_key(|&row| ordered_bits(starts[row as usize]));
            begin = end;
        }
    }
    order
}

/// The bits of `x` as an unsigned number that sorts the way the value does (starts are
/// finite: the value rules refuse the rest); -0.0 and 0.0 map to the same number.
fn ordered_bits(x: f64) -> u64 {
    let bits = if x == 0.0 { 0 } else { x.to_bits() };
    if bits >> 63 == 1 { !bits } else { bits | 1 << 63 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(keys: &[&str], groups: Vec<u32>) -> SourceGroups {
        let mut arena = StrArena::with_capacity(keys.len());
        keys.iter().for_each(|k| {
            arena.push(k);
        });
        SourceGroups { keys: arena, groups }
    }

    #[test]
    fn close_pairs_sort_stably_within_groups_in_appearance_order() {
        let mut clip_ids = StrArena::with_capacity(5);
        for id in ["a", "b", "c", "d", "e"] {
            clip_ids.push(id);
        }
        let parts = FrameParts {
            clip_ids,
            repeated: vec![3, 1, 3],
            declared: groups(&["s", "t", "s", "t", "s"], vec![0, 1, 0, 1, 0]),
            canonical: groups(&["k"; 5], vec![0; 5]),
            starts: vec![10.0, 0.0, 12.0, 3.0, 10.0],
            ..FrameParts::default()
        };
        let frame = DatasetFrame::from_parts(parts).unwrap();
        // Group 0 sorted by start: rows 0 (10), 4 (10, later row), 2 (12); group 1: 1, 3.
        assert_eq!(frame.close_pairs(SourceGrouping::Declared, 5.0).unwrap(), [(0, 4, 0), (4, 2, 0), (1, 3, 1)]);
        // One group: 1 (0), 3 (3), 0 (10), 4 (10), 2 (12).
        assert_eq!(frame.close_pairs(SourceGrouping::Canonical, 2.5).unwrap(), [(0, 4, 0), (4, 2, 0)]);
        assert_eq!(frame.duplicate_rows().unwrap(), [1, 3]);
        assert_eq!((frame.clip_id(4).unwrap(), frame.declared_source(1).unwrap()), ("e", "t"));
        assert!(frame.clip_id(5).is_err());
    }

    /// The counting sort gives the order of a plain stable sort by (group, start).
    #[test]
    fn rows_order_by_group_then_start_like_a_stable_sort() {
        let n = 2_000u32;
        let groups: Vec<u32> = (0..n).map(|r| if r % 7 == 3 { r } else { (r * 31 % 97).min(r) }).collect();
        let starts: Vec<f64> =
            (0..n).map(|r| [0.0, -0.0, 4.5, 1.25, 4.5][(r * 13 % 5) as usize] + f64::from(r % 3)).collect();
        let mut expected: Vec<u32> = (0..n).collect();
        expected.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            groups[a].cmp(&groups[b]).then(starts[a].partial_cmp(&starts[b]).unwrap_or(std::cmp::Ordering::Equal))
        });
        assert_eq!(by_group_then_start(&groups, &starts), expected);
        assert!(by_group_then_start(&[], &[]).is_empty());
    }

    #[test]
    fn start_bits_sort_like_the_starts() {
        let starts = [-5.5, -1.0, -0.0, 0.0, 1e-300, 0.5, 4.5, 4999.75, f64::MAX];
        for pair in starts.windows(2) {
            let (a, b) = (ordered_bits(pair[0]), ordered_bits(pair[1]));
            assert!(a < b || (pair[0] == pair[1] && a == b), "{pair:?}");
        }
        assert_eq!(ordered_bits(-0.0), ordered_bits(0.0));
    }
}
