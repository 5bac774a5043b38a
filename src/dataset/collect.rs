//! What a column keeps while its rows stream by: per role, only the compact facts the
//! package-wide checks need. Fingerprints are reduced to what the checks ask of them (the
//! rows that repeat an earlier row, the source group of each row) as soon as the column
//! ends, so a decoded dataset never holds a 16-byte fingerprint per row and column.

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128;

use super::arena::StrArena;
use super::values::{has_url_scheme, word_count_capped};
use crate::index::snapshot::MAX_KEY_BYTES;
use crate::model::source_key::{classify_source_url, fast_canonical_key};
use crate::spec::ColumnRole;
use crate::storage::normalize_uri_cow;

/// The 128-bit xxh3 fingerprint the duplicate and grouping checks trust.
fn fingerprint(bytes: &[u8]) -> u128 {
    xxh3_128(bytes)
}

/// Fingerprint of the ASCII-lowercased text, allocating only when it has capitals.
fn fingerprint_lowercase(v: &str) -> u128 {
    if v.bytes().any(|b| b.is_ascii_uppercase()) {
        fingerprint(v.to_ascii_lowercase().as_bytes())
    } else {
        fingerprint(v.as_bytes())
    }
}

/// The low 96 bits of each row's fingerprint above its row number, sorted (in place,
/// no second buffer): equal values end up next to each other, first appearance first. A
/// parallel sort of contiguous keys instead of a hash map or of row numbers sorted by a
/// looked-up key, so a million distinct values cost one cache-friendly sort. The 32 bits
/// dropped make two different values look alike with odds of about n²/2⁹⁷.
fn sorted_keys(mut fingerprints: Vec<u128>) -> Vec<u128> {
    fingerprints.par_iter_mut().enumerate().for_each(|(row, fp)| *fp = (*fp << 32) | row as u128);
    fingerprints.par_sort_unstable();
    fingerprints
}

/// The row number of a sort key.
fn row_of(key: u128) -> u32 {
    (key & u128::from(u32::MAX)) as u32
}

/// Whether two sort keys hold the same value.
fn same_value(a: &u128, b: &u128) -> bool {
    a >> 32 == b >> 32
}

/// For every row, the first row with the same fingerprint: a group id that sorts groups
/// in order of first appearance.
pub(super) fn first_rows(fingerprints: Vec<u128>) -> Vec<u32> {
    let mut first = vec![0u32; fingerprints.len()];
    for run in sorted_keys(fingerprints).chunk_by(same_value) {
        let head = row_of(run[0]);
        for &key in run {
            first[row_of(key) as usize] = head;
        }
    }
    first
}

/// Rows (ascending) whose fingerprint equals an earlier row's.
pub(super) fn repeated_rows(fingerprints: Vec<u128>) -> Vec<u32> {
    let mut repeated = Vec::new();
    for run in sorted_keys(fingerprints).chunk_by(same_value) {
        repeated.extend(run[1..].iter().map(|&key| row_of(key)));
    }
    repeated.sort_unstable();
    repeated
}

/// A text value per row with its fingerprint, while the column streams by.
#[derive(Debug, Default)]
struct KeyedRows {
    keys: StrArena,
    fingerprints: Vec<u128>,
}

impl KeyedRows {
    fn with_capacity(rows: usize) -> Self {
        Self { keys: StrArena::with_capacity(rows), fingerprints: Vec::with_capacity(rows) }
    }

    fn push(&mut self, key: &str) {
        self.keys.push(key);
        self.fingerprints.push(fingerprint(key.as_bytes()));
    }

    /// Groups by the whole key but stores at most [`MAX_KEY_BYTES`] of it, and nothing of
    /// a key that is not a YouTube source (such a row already fails `non_youtube_source`
    /// and its key is only ever grouped, never published).
    fn push_bounded(&mut self, key: &str, youtube: bool) {
        self.fingerprints.push(fingerprint(key.as_bytes()));
        let mut end = if youtube { key.len().min(MAX_KEY_BYTES) } else { 0 };
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        self.keys.push(&key[..end]);
    }

    fn into_groups(self) -> SourceGroups {
        let groups = first_rows(self.fingerprints);
        SourceGroups { keys: self.keys, groups }
    }
}

/// A source value per row and the group each row belongs to: a group's id is the row
/// where its value first appears, so `keys.get(group)` is that group's value.
#[derive(Debug, Clone, Default)]
pub struct SourceGroups {
    /// The (possibly shortened) value of each row.
    pub keys: StrArena,
    /// The group id of each row.
    pub groups: Vec<u32>,
}

/// The facts kept from one column, by role.
#[derive(Debug, Default)]
pub enum ColumnData {
    /// Validated only.
    #[default]
    Checked,
    /// Trimmed clip ids, and the rows repeating an earlier clip id.
    ClipId {
        /// The trimmed clip ids.
        values: StrArena,
        /// Rows repeating an earlier clip id.
        repeated: Vec<u32>,
    },
    /// Rows repeating an earlier row's value (URIs normalised, hashes lowercased).
    Repeated(Vec<u32>),
    /// Declared source ids and their groups.
    SourceId(SourceGroups),
    /// Whether each URL's host is YouTube, and its canonical key and groups.
    SourceUrl {
        /// Whether each URL's host is YouTube.
        youtube: Vec<bool>,
        /// Canonical keys and their groups.
        keys: SourceGroups,
    },
    /// Clip starts.
    Start(Vec<f64>),
    /// Caption facts: word count (capped at the minimum) and whether it holds a URL.
    Caption {
        /// Word count of each caption, capped at the minimum.
        words: Vec<u8>,
        /// Whether each caption holds a URL.
        has_url: Vec<bool>,
    },
}

/// What a column accumulates, by role, before [`Collector::finish`] reduces it.
enum Collecting {
    Checked,
    ClipId { values: StrArena, fingerprints: Vec<u128> },
    ClipUri(Vec<u128>),
    Hash(Vec<u128>),
    SourceId(KeyedRows),
    SourceUrl { youtube: Vec<bool>, keys: KeyedRows },
    Start(Vec<f64>),
    Caption { words: Vec<u8>, has_url: Vec<bool> },
}

/// Per-role accumulation while rows stream by.
pub(super) struct Collector {
    data: Collecting,
    /// URL fingerprint → (YouTube host, canonical key) for URLs the fast path does not
    /// recognise: sources repeat across rows and parsing is the slow part.
    url_cache: FxHashMap<u128, (bool, String)>,
}

impl Collector {
    /// A collector for a column of `role` with `rows` rows.
    pub(super) fn new(role: Option<ColumnRole>, rows: usize) -> Self {
        let data = match role {
            None | Some(ColumnRole::FrameUri | ColumnRole::Fps) => Collecting::Checked,
            Some(ColumnRole::ClipId) => {
                Collecting::ClipId { values: StrArena::with_capacity(rows), fingerprints: Vec::with_capacity(rows) }
            }
            Some(ColumnRole::ClipUri) => Collecting::ClipUri(Vec::with_capacity(rows)),
            Some(ColumnRole::ClipSha256 | ColumnRole::FrameSha256) => Collecting::Hash(Vec::with_capacity(rows)),
            Some(ColumnRole::SourceId) => Collecting::SourceId(KeyedRows::with_capacity(rows)),
            Some(ColumnRole::SourceUrl) => {
                Collecting::SourceUrl { youtube: Vec::with_capacity(rows), keys: KeyedRows::with_capacity(rows) }
            }
            Some(ColumnRole::Start) => Collecting::Start(Vec::with_capacity(rows)),
            Some(ColumnRole::Caption) => {
                Collecting::Caption { words: Vec::with_capacity(rows), has_url: Vec::with_capacity(rows) }
            }
        };
        Self { data, url_cache: FxHashMap::default() }
    }

    /// Takes the next row's (trimmed, capped) text.
    pub(super) fn text(&mut self, v: &str) {
        match &mut self.data {
            Collecting::ClipId { values, fingerprints } => {
                fingerprints.push(fingerprint(v.as_bytes()));
                values.push(v);
            }
            Collecting::ClipUri(fps) => {
                let fp = match normalize_uri_cow(v) {
                    Some(n) => fingerprint(n.as_bytes()),
                    None => fingerprint(format!("\0invalid\0{v}").as_bytes()),
                };
                fps.push(fp);
            }
            Collecting::Hash(fps) => fps.push(fingerprint_lowercase(v)),
            Collecting::SourceId(keyed) => keyed.push(v),
            Collecting::SourceUrl { youtube, keys } => {
                if let Some(key) = fast_canonical_key(v) {
                    youtube.push(true);
                    keys.push_bounded(&key, true);
                    return;
                }
                let (yt, key) =
                    self.url_cache.entry(fingerprint(v.as_bytes())).or_insert_with(|| classify_source_url(v));
                youtube.push(*yt);
                keys.push_bounded(key, *yt);
            }
            Collecting::Caption { words, has_url } => {
                words.push(word_count_capped(v));
                has_url.push(has_url_scheme(v));
            }
            Collecting::Checked | Collecting::Start(_) => {}
        }
    }

    /// Takes the next row's number.
    pub(super) fn number(&mut self, v: f64) {
        if let Collecting::Start(starts) = &mut self.data {
            starts.push(v);
        }
    }

    /// The column's facts, fingerprints reduced to repeated rows and source groups.
    pub(super) fn finish(self) -> ColumnData {
        match self.data {
            Collecting::Checked => ColumnData::Checked,
            Collecting::ClipId { values, fingerprints } => {
                ColumnData::ClipId { repeated: repeated_rows(fingerprints), values }
            }
            Collecting::ClipUri(fps) | Collecting::Hash(fps) => ColumnData::Repeated(repeated_rows(fps)),
            Collecting::SourceId(keyed) => ColumnData::SourceId(keyed.into_groups()),
            Collecting::SourceUrl { youtube, keys } => ColumnData::SourceUrl { youtube, keys: keys.into_groups() },
            Collecting::Start(starts) => ColumnData::Start(starts),
            Collecting::Caption { words, has_url } => ColumnData::Caption { words, has_url },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_first_rows_in_appearance_order() {
        assert_eq!(first_rows(vec![7, 3, 7, 9, 3, 7]), [0, 1, 0, 3, 1, 0]);
        assert_eq!(first_rows(vec![]), Vec::<u32>::new());
        assert_eq!(first_rows(vec![u128::MAX, 0]), [0, 1]);
    }

    #[test]
    fn repeated_rows_are_every_appearance_after_the_first() {
        assert_eq!(repeated_rows(vec![7, 3, 7, 9, 3, 7]), [2, 4, 5]);
        assert_eq!(repeated_rows(vec![1, 2, 3]), Vec::<u32>::new());
        assert_eq!(repeated_rows(vec![]), Vec::<u32>::new());
    }

    #[test]
    fn hashes_group_case_insensitively_and_uris_after_normalising() {
        let mut hashes = Collector::new(Some(ColumnRole::ClipSha256), 3);
        for v in ["ab", "AB", "ac"] {
            hashes.text(v);
        }
        assert!(matches!(hashes.finish(), ColumnData::Repeated(rows) if rows == [1]));
        let mut ids = Collector::new(Some(ColumnRole::ClipId), 3);
        for v in ["a", "A", "a"] {
            ids.text(v);
        }
        assert!(
            matches!(ids.finish(), ColumnData::ClipId { repeated, values } if repeated == [2] && values.len() == 3)
        );
    }
}
