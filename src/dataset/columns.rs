//! Decoding one column: stream its record batches, apply the spec's value rules to every
//! row, and keep only the compact facts the package-wide checks need.

use std::cmp::Ordering;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, StringArray};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128;

use super::DatasetError;
use super::arena::StrArena;
use super::inspect::Footer;
use super::pages::walk_column;
use crate::index::snapshot::MAX_KEY_BYTES;
use crate::model::source_key::{classify_source_url, fast_canonical_key};
use crate::protocol::MIN_CAPTION_WORDS;
use crate::spec::{ColumnKind, ColumnRole, ColumnSpec};
use crate::storage::normalize_uri_cow;

/// Most rows decoded per batch.
const BATCH_ROWS: usize = 8192;
/// Most bytes one batch of one column may decode to: batches shrink for columns whose
/// values can be long (a long dictionary entry repeated on every row).
const BATCH_BYTES: usize = 16 << 20;
/// Text cap for columns whose spec names none (protocol §6, rev. 2).
pub const DEFAULT_TEXT_MAX_BYTES: usize = 4096;
/// Too-long rows kept per column (the decision lists at most 256 failures).
const TOO_LONG_KEPT: usize = 256;

/// The bytes all columns of one dataset may decode to, counted as they are produced
/// (never trusting the sizes the file declares).
#[derive(Debug)]
pub struct DecodeBudget {
    used: AtomicU64,
    cap: u64,
}

impl DecodeBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: u64) -> Self {
        Self { used: AtomicU64::new(0), cap }
    }

    /// Charges `bytes`; fails once the total passes the cap.
    fn charge(&self, bytes: usize, column: &str) -> Result<(), DatasetError> {
        let total = self.used.fetch_add(bytes as u64, AtomicOrdering::Relaxed).saturating_add(bytes as u64);
        if total > self.cap {
            return Err(DatasetError::Schema(format!(
                "columns decode to more than the limit of {} bytes (reached in `{column}`)",
                self.cap
            )));
        }
        Ok(())
    }

    /// Bytes decoded so far.
    pub fn used(&self) -> u64 {
        self.used.load(AtomicOrdering::Relaxed)
    }
}

/// Rows of one column whose value is longer than its cap: the first ones, and how many.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TooLong {
    pub rows: Vec<u32>,
    pub total: u64,
}

impl TooLong {
    fn push(&mut self, row: usize) {
        if self.rows.len() < TOO_LONG_KEPT {
            self.rows.push(row as u32);
        }
        self.total += 1;
    }
}

/// Cuts `v` to the column's cap; returns the kept text and whether it was cut.
pub(crate) fn cap_text<'a>(spec: &ColumnSpec, v: &'a str) -> (&'a str, bool) {
    if let Some(chars) = spec.rules.max_chars {
        return match v.char_indices().nth(chars) {
            Some((at, _)) => (&v[..at], true),
            None => (v, false),
        };
    }
    let bytes = spec.rules.max_bytes.unwrap_or(DEFAULT_TEXT_MAX_BYTES);
    if v.len() <= bytes {
        return (v, false);
    }
    let mut at = bytes;
    while !v.is_char_boundary(at) {
        at -= 1;
    }
    (&v[..at], true)
}

/// The first rule violation found in a column.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub row: usize,
    pub message: String,
}

/// A text value per row with its 128-bit xxh3 fingerprint (the same fingerprint the
/// duplicate check trusts); rows are grouped later by fingerprint, without a hash map.
#[derive(Debug, Default)]
pub struct KeyedRows {
    pub keys: StrArena,
    pub fingerprints: Vec<u128>,
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
}

/// The facts kept from one column, by role.
#[derive(Debug, Default)]
pub enum ColumnData {
    /// Validated only.
    #[default]
    Checked,
    /// Trimmed clip ids and their fingerprints.
    ClipId { values: StrArena, fingerprints: Vec<u128> },
    /// Fingerprints of a value compared for duplicates (URIs normalised, hashes lowercased).
    Fingerprints(ColumnRole, Vec<u128>),
    /// Declared source ids.
    SourceId(KeyedRows),
    /// Whether each URL's host is YouTube, and its canonical key.
    SourceUrl { youtube: Vec<bool>, keys: KeyedRows },
    /// Clip starts.
    Start(Vec<f64>),
    /// Caption facts: word count (capped at the minimum) and whether it holds a URL.
    Caption { words: Vec<u8>, has_url: Vec<bool> },
}

/// Result of decoding one column.
#[derive(Debug)]
pub struct ColumnOutcome {
    pub error: Option<RowError>,
    pub data: ColumnData,
    /// Rows whose value was cut to the column's cap.
    pub too_long: TooLong,
}

fn as_text(array: &ArrayRef) -> Result<StringArray, String> {
    let cast = match array.data_type() {
        DataType::Utf8 => array.clone(),
        _ => arrow_cast::cast(array, &DataType::Utf8).map_err(|e| e.to_string())?,
    };
    cast.as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| "not a text column".to_string())
}

fn as_f64(array: &ArrayRef) -> Result<Float64Array, String> {
    let cast = match array.data_type() {
        DataType::Float64 => array.clone(),
        _ => arrow_cast::cast(array, &DataType::Float64).map_err(|e| e.to_string())?,
    };
    cast.as_any().downcast_ref::<Float64Array>().cloned().ok_or_else(|| "not a numeric column".to_string())
}

/// Whitespace as Python's `str.split()`/`str.strip()` see it: Unicode whitespace plus the
/// information separators U+001C..U+001F (which Rust's `char::is_whitespace` leaves out).
pub(crate) fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `value.strip()` as Python does it.
pub(crate) fn py_trim(value: &str) -> &str {
    value.trim_matches(is_py_whitespace)
}

/// Applies the text rules to one value; returns the trimmed text.
fn check_text<'a>(spec: &ColumnSpec, value: &'a str) -> Result<&'a str, String> {
    let v = py_trim(value);
    if spec.rules.non_empty && v.is_empty() {
        return Err("is empty".into());
    }
    if let Some(n) = spec.rules.exact_chars {
        let count = v.chars().count();
        if count != n {
            return Err(format!("must have exactly {n} characters, has {count}"));
        }
    }
    Ok(v)
}

/// Applies the numeric rules to one value. Non-finite values (NaN, ±inf) are refused
/// outright (rev. 2): `inf <= inf` would otherwise pass an upper bound.
fn check_number(spec: &ColumnSpec, v: f64) -> Result<(), String> {
    let r = &spec.rules;
    if !v.is_finite() {
        return Err(format!("must be a finite number, is {v}"));
    }
    if spec.kind == ColumnKind::Integer && !(v.is_finite() && v.fract() == 0.0) {
        return Err(format!("must be an integer, is {v}"));
    }
    // `is_some_and(|m| v < m)` would let NaN through; `v >= m` is false for NaN.
    if let Some(min) = r.min
        && !matches!(v.partial_cmp(&min), Some(Ordering::Greater | Ordering::Equal))
    {
        return Err(format!("must be >= {min}, is {v}"));
    }
    if let Some(gt) = r.gt
        && v.partial_cmp(&gt) != Some(Ordering::Greater)
    {
        return Err(format!("must be > {gt}, is {v}"));
    }
    if let Some(a) = r.around {
        let (lo, hi) = (a.value - a.tolerance, a.value + a.tolerance);
        if !(v >= lo && v <= hi) {
            return Err(format!("must be within {} ± {}, is {v}", a.value, a.tolerance));
        }
    }
    Ok(())
}

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

fn word_count_capped(text: &str) -> u8 {
    text.split(is_py_whitespace).filter(|w| !w.is_empty()).take(MIN_CAPTION_WORDS).count() as u8
}

/// Whether the text holds `http://` or `https://` in any case: every occurrence of
/// `://` (found with a fast substring search) is checked for an `http`/`https` before it.
fn has_url_scheme(text: &str) -> bool {
    let bytes = text.as_bytes();
    let ends_with_ci =
        |end: usize, word: &[u8]| end >= word.len() && bytes[end - word.len()..end].eq_ignore_ascii_case(word);
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let end = from + at;
        if ends_with_ci(end, b"http") || ends_with_ci(end, b"https") {
            return true;
        }
        from = end + 3;
    }
    false
}

/// Per-role accumulation while rows stream by.
struct Collector {
    data: ColumnData,
    /// URL fingerprint → (YouTube host, canonical key) for URLs the fast path does not
    /// recognise: sources repeat across rows and parsing is the slow part.
    url_cache: FxHashMap<u128, (bool, String)>,
}

impl Collector {
    fn new(role: Option<ColumnRole>, rows: usize) -> Self {
        let data = match role {
            None | Some(ColumnRole::FrameUri | ColumnRole::Fps) => ColumnData::Checked,
            Some(ColumnRole::ClipId) => {
                ColumnData::ClipId { values: StrArena::with_capacity(rows), fingerprints: Vec::with_capacity(rows) }
            }
            Some(role @ (ColumnRole::ClipUri | ColumnRole::ClipSha256 | ColumnRole::FrameSha256)) => {
                ColumnData::Fingerprints(role, Vec::with_capacity(rows))
            }
            Some(ColumnRole::SourceId) => ColumnData::SourceId(KeyedRows::with_capacity(rows)),
            Some(ColumnRole::SourceUrl) => {
                ColumnData::SourceUrl { youtube: Vec::with_capacity(rows), keys: KeyedRows::with_capacity(rows) }
            }
            Some(ColumnRole::Start) => ColumnData::Start(Vec::with_capacity(rows)),
            Some(ColumnRole::Caption) => {
                ColumnData::Caption { words: Vec::with_capacity(rows), has_url: Vec::with_capacity(rows) }
            }
        };
        Self { data, url_cache: FxHashMap::default() }
    }

    fn text(&mut self, v: &str) {
        match &mut self.data {
            ColumnData::ClipId { values, fingerprints } => {
                fingerprints.push(fingerprint(v.as_bytes()));
                values.push(v);
            }
            ColumnData::Fingerprints(ColumnRole::ClipUri, fps) => {
                let fp = match normalize_uri_cow(v) {
                    Some(n) => fingerprint(n.as_bytes()),
                    None => fingerprint(format!("\0invalid\0{v}").as_bytes()),
                };
                fps.push(fp);
            }
            ColumnData::Fingerprints(_, fps) => fps.push(fingerprint_lowercase(v)),
            ColumnData::SourceId(keyed) => keyed.push(v),
            ColumnData::SourceUrl { youtube, keys } => {
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
            ColumnData::Caption { words, has_url } => {
                words.push(word_count_capped(v));
                has_url.push(has_url_scheme(v));
            }
            ColumnData::Checked | ColumnData::Start(_) => {}
        }
    }

    fn number(&mut self, v: f64) {
        if let ColumnData::Start(starts) = &mut self.data {
            starts.push(v);
        }
    }
}

/// Batch rows for a column whose values decode to at most `longest` bytes each.
fn batch_rows(longest: usize) -> usize {
    (BATCH_BYTES / longest.max(1)).clamp(1, BATCH_ROWS)
}

/// The leaf columns under top-level field `index`.
fn leaves(footer: &Footer, index: usize) -> Vec<usize> {
    let schema = footer.metadata.parquet_schema();
    (0..schema.num_columns()).filter(|&leaf| schema.get_column_root_idx(leaf) == index).collect()
}

/// Decodes and checks column `spec` (file field `index`) of the dataset at `path`,
/// charging every decoded byte to `budget`.
pub fn decode_column(
    path: &Path,
    footer: &Footer,
    spec: &ColumnSpec,
    index: usize,
    budget: &DecodeBudget,
) -> Result<ColumnOutcome, DatasetError> {
    let rows = footer.num_rows as usize;
    let mut collector = Collector::new(spec.role, rows);
    if spec.kind == ColumnKind::Struct {
        return Ok(ColumnOutcome { error: None, data: collector.data, too_long: TooLong::default() });
    }
    let mut longest = 8;
    for leaf in leaves(footer, index) {
        longest = longest.max(walk_column(path, footer.metadata.metadata(), leaf)?);
    }
    let file = File::open(path).map_err(|e| DatasetError::Internal(format!("cannot open dataset: {e}")))?;
    let mask = ProjectionMask::roots(footer.metadata.parquet_schema(), [index]);
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.metadata.clone())
        .with_projection(mask)
        .with_batch_size(batch_rows(longest))
        .build()
        .map_err(|e| DatasetError::Schema(format!("column `{}` cannot be read: {e}", spec.name)))?;
    let fail = |row: usize, message: String| {
        Ok(ColumnOutcome {
            error: Some(RowError { row, message }),
            data: ColumnData::Checked,
            too_long: TooLong::default(),
        })
    };
    let mut too_long = TooLong::default();
    let mut row = 0usize;
    for batch in reader {
        let batch =
            batch.map_err(|e| DatasetError::Schema(format!("column `{}` cannot be decoded: {e}", spec.name)))?;
        let Some(array) = batch.columns().first() else { continue };
        let bad_type = |e: String| DatasetError::Schema(format!("column `{}`: {e}", spec.name));
        match spec.kind {
            ColumnKind::Text => {
                let text = as_text(array).map_err(bad_type)?;
                budget.charge(text.value_data().len() + 4 * text.len(), &spec.name)?;
                for i in 0..text.len() {
                    if text.is_null(i) {
                        return fail(row + i, "is null".into());
                    }
                    match check_text(spec, text.value(i)) {
                        Ok(v) => {
                            let (kept, cut) = cap_text(spec, v);
                            if cut {
                                too_long.push(row + i);
                            }
                            collector.text(kept);
                        }
                        Err(m) => return fail(row + i, m),
                    }
                }
            }
            ColumnKind::Integer | ColumnKind::Float => {
                let numbers = as_f64(array).map_err(bad_type)?;
                budget.charge(8 * numbers.len(), &spec.name)?;
                for i in 0..numbers.len() {
                    if numbers.is_null(i) {
                        return fail(row + i, "is null".into());
                    }
                    let v = numbers.value(i);
                    if let Err(m) = check_number(spec, v) {
                        return fail(row + i, m);
                    }
                    collector.number(v);
                }
            }
            ColumnKind::Boolean => {
                budget.charge(array.len(), &spec.name)?;
                if let Some(flags) = array.as_any().downcast_ref::<BooleanArray>() {
                    if let Some(i) = (0..flags.len()).find(|&i| flags.is_null(i)) {
                        return fail(row + i, "is null".into());
                    }
                } else {
                    let numbers = as_f64(array).map_err(bad_type)?;
                    for i in 0..numbers.len() {
                        if numbers.is_null(i) {
                            return fail(row + i, "is null".into());
                        }
                        let v = numbers.value(i);
                        if v != 0.0 && v != 1.0 {
                            return fail(row + i, format!("must be a boolean, is {v}"));
                        }
                    }
                }
            }
            ColumnKind::Struct => {}
        }
        row += array.len();
    }
    if row != rows {
        return Err(DatasetError::Schema(format!(
            "column `{}` holds {row} values but the footer declares {rows} rows",
            spec.name
        )));
    }
    Ok(ColumnOutcome { error: None, data: collector.data, too_long })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Around, ColumnRules};

    fn col(kind: ColumnKind, rules: ColumnRules) -> ColumnSpec {
        ColumnSpec { name: "c".into(), kind, role: None, required: true, rules }
    }

    #[test]
    fn number_rules_and_boundaries() {
        let duration = col(
            ColumnKind::Float,
            ColumnRules { gt: Some(0.0), around: Some(Around { value: 5.0, tolerance: 0.15 }), ..Default::default() },
        );
        assert!(check_number(&duration, 5.15).is_ok());
        assert!(check_number(&duration, 4.85).is_ok());
        assert!(check_number(&duration, 5.16).is_err());
        assert!(check_number(&duration, 4.84).is_err());
        assert!(check_number(&duration, f64::from(5.15f32)).is_err());
        assert!(check_number(&duration, f64::NAN).is_err());
        let start = col(ColumnKind::Float, ColumnRules { min: Some(0.0), ..Default::default() });
        assert!(check_number(&start, 0.0).is_ok());
        assert!(check_number(&start, -0.001).is_err());
        let width = col(ColumnKind::Integer, ColumnRules { gt: Some(0.0), ..Default::default() });
        assert!(check_number(&width, 1280.0).is_ok());
        assert!(check_number(&width, 1280.5).is_err());
        assert!(check_number(&width, 0.0).is_err());
        let fps = col(ColumnKind::Float, ColumnRules { gt: Some(0.0), ..Default::default() });
        for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            assert!(check_number(&fps, v).is_err(), "{v}");
        }
        assert!(check_number(&start, f64::INFINITY).is_err());
    }

    #[test]
    fn text_caps_cut_at_character_boundaries() {
        let id = col(ColumnKind::Text, ColumnRules { max_chars: Some(3), ..Default::default() });
        assert_eq!(cap_text(&id, "äöü"), ("äöü", false));
        assert_eq!(cap_text(&id, "äöüx"), ("äöü", true));
        let url = col(ColumnKind::Text, ColumnRules { max_bytes: Some(3), ..Default::default() });
        assert_eq!(cap_text(&url, "aä"), ("aä", false));
        assert_eq!(cap_text(&url, "aäb"), ("aä", true));
        assert_eq!(cap_text(&url, "aaä"), ("aa", true));
        let other = col(ColumnKind::Text, ColumnRules::default());
        assert!(!cap_text(&other, &"x".repeat(DEFAULT_TEXT_MAX_BYTES)).1);
        assert!(cap_text(&other, &"x".repeat(DEFAULT_TEXT_MAX_BYTES + 1)).1);
        assert_eq!(batch_rows(1 << 30), 1);
        assert_eq!(batch_rows(10), BATCH_ROWS);
    }

    #[test]
    fn text_rules() {
        let sha = col(ColumnKind::Text, ColumnRules { exact_chars: Some(64), ..Default::default() });
        assert_eq!(check_text(&sha, &format!(" {} ", "a".repeat(64))).unwrap().len(), 64);
        assert!(check_text(&sha, &"a".repeat(63)).is_err());
        let id = col(ColumnKind::Text, ColumnRules { non_empty: true, ..Default::default() });
        assert!(check_text(&id, "  \t").is_err());
        assert_eq!(check_text(&id, " x ").unwrap(), "x");
    }

    #[test]
    fn caption_facts() {
        assert_eq!(word_count_capped("a b  c\td\ne"), 5);
        assert_eq!(word_count_capped(&"w ".repeat(500)), 20);
        assert_eq!(word_count_capped("a\u{1f}b\u{1c}c d"), 4);
        assert_eq!(py_trim("\u{1f} x \u{1e}"), "x");
        assert!(has_url_scheme("see HTTPS://x.y"));
        assert!(has_url_scheme("hTtP://x"));
        assert!(has_url_scheme("ftp://a then http://b"));
        assert!(!has_url_scheme("see https:/x"));
        assert!(!has_url_scheme("://x and ttp://y"));
        assert!(!has_url_scheme("smb://share"));
    }
}
