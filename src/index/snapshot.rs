//! The `record_info.json` snapshot codec (protocol §10): the shared object that seeds and
//! refreshes the global overlap index.
//!
//! The writer emits exactly one form, byte-identical to Python's
//! `json.dumps(obj, indent=2, sort_keys=True)`:
//! `{"video_v1": {"<canonical url>": ["0.000", "10.000", ...]}}`, keys sorted, starts
//! ascending as strings with three decimals, no trailing newline.
//!
//! The reader is lenient about what circulates: the `video_v1` section, a flat
//! `{key: [...]}` map or the legacy `{"entries": {...}}`; keys as bare YouTube ids,
//! `video_v1:`-prefixed ids or any URL form (all canonicalised with
//! [`crate::model::source_key`]); starts as numbers or numeric strings, with unusable
//! items and non-list values skipped. Only bytes that are not a JSON object are an error,
//! and such a snapshot is *untrusted*: never used to overwrite the published index.
//!
//! Starts are held as integer milliseconds: a start of `x` seconds is the value Python's
//! `f"{x:.3f}"` writes, so reading a written snapshot back loses nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::model::source_key::{canonical_key_for_id, canonical_source_key, fast_canonical_key};

/// The spec section of the written form.
pub(crate) const SPEC_SECTION: &str = "video_v1";
/// The section of the legacy form.
const LEGACY_SECTION: &str = "entries";
/// Prefix of spec-qualified bare ids (`video_v1:{id}`).
const ID_PREFIX: &str = "video_v1:";
/// Largest start accepted, in seconds: far past the latest allowed clip start (5000 s)
/// while keeping every millisecond exact in an `f64`.
pub(crate) const MAX_START_SEC: f64 = 1e12;

/// Longest canonical key kept, in bytes: a YouTube key is 43 bytes; longer keys (only a
/// hostile URL makes them) are skipped when reading and never written.
pub(crate) const MAX_KEY_BYTES: usize = 256;
/// Every validator refuses to read a snapshot above this size (512 MiB).
pub(crate) const MAX_SNAPSHOT_BYTES: u64 = 512 << 20;
/// [`MAX_SNAPSHOT_BYTES`] as a length.
const READ_LIMIT_BYTES: usize = MAX_SNAPSHOT_BYTES as usize;
/// The owner never publishes a snapshot above this size: half the readers' limit, so
/// there is always room to grow after an operator reacts.
pub(crate) const PUBLISH_LIMIT_BYTES: usize = READ_LIMIT_BYTES / 2;
/// Above this size the owner publishes but raises an alert (error log) every interval.
pub(crate) const ALERT_BYTES: usize = READ_LIMIT_BYTES / 4;

/// What the owner does with a snapshot of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublishSize {
    /// Publish.
    Fine,
    /// Publish and alert: the snapshot is approaching the publish limit.
    Alert,
    /// Do not publish: above [`PUBLISH_LIMIT_BYTES`].
    Refuse,
}

/// The owner's verdict for a serialized snapshot of `len` bytes.
pub(crate) fn publish_size(len: usize) -> PublishSize {
    if len > PUBLISH_LIMIT_BYTES {
        PublishSize::Refuse
    } else if len > ALERT_BYTES {
        PublishSize::Alert
    } else {
        PublishSize::Fine
    }
}

/// Why a snapshot is untrusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes are not JSON.
    #[error("record_info snapshot is not valid JSON: {0}")]
    NotJson(String),
    /// The JSON is not an object of source key → start times.
    #[error("record_info snapshot is not a JSON object")]
    NotAnObject,
}

/// Published start times (integer milliseconds) per canonical source key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Start times in integer milliseconds, per canonical source key.
    pub entries: BTreeMap<String, BTreeSet<u64>>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `start_ms` under the canonical source key of `key` (a source URL or an
    /// already canonical key). Returns whether the pair is new; a blank key is ignored.
    pub fn insert(&mut self, key: &str, start_ms: u64) -> bool {
        let key = key.trim();
        if key.is_empty() {
            return false;
        }
        let canonical = fast_canonical_key(key).unwrap_or_else(|| canonical_source_key(key));
        if canonical.len() > MAX_KEY_BYTES {
            return false;
        }
        self.entries.entry(canonical).or_default().insert(start_ms)
    }

    /// Adds every pair of `other` (both sides are already canonical).
    pub fn merge(&mut self, other: &Snapshot) {
        for (key, starts) in &other.entries {
            self.entries.entry(key.clone()).or_default().extend(starts.iter().copied());
        }
    }

    /// Number of (key, start) pairs.
    pub fn len(&self) -> usize {
        self.entries.values().map(BTreeSet::len).sum()
    }

    /// Whether there is no pair at all.
    pub fn is_empty(&self) -> bool {
        self.entries.values().all(BTreeSet::is_empty)
    }

    /// Number of source keys.
    pub fn key_count(&self) -> usize {
        self.entries.len()
    }

    /// The starts recorded for the canonical key of `url`.
    pub fn starts(&self, url: &str) -> Option<&BTreeSet<u64>> {
        let url = url.trim();
        let canonical = fast_canonical_key(url).unwrap_or_else(|| canonical_source_key(url));
        self.entries.get(&canonical)
    }
}

/// Reads a snapshot in any accepted form; `Err` (untrusted) only when `bytes` are not a
/// JSON object.
pub fn parse(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    // serde_json bounds nesting depth (128), so hostile nesting is an error, not a crash.
    let value: Value = serde_json::from_slice(bytes).map_err(|e| SnapshotError::NotJson(e.to_string()))?;
    let Value::Object(top) = value else {
        return Err(SnapshotError::NotAnObject);
    };
    let section: &Map<String, Value> = match (top.get(SPEC_SECTION), top.get(LEGACY_SECTION)) {
        (Some(Value::Object(section)), _) | (_, Some(Value::Object(section))) => section,
        _ => &top,
    };
    let mut snapshot = Snapshot::new();
    for (raw_key, items) in section {
        let (Some(key), Value::Array(items)) = (snapshot_key(raw_key), items) else {
            continue;
        };
        let starts: BTreeSet<u64> = items.iter().filter_map(start_ms).collect();
        if !starts.is_empty() {
            snapshot.entries.entry(key).or_default().extend(starts);
        }
    }
    Ok(snapshot)
}

/// Writes the canonical form (see the module docs); keys over [`MAX_KEY_BYTES`] are left out.
pub fn serialize(snapshot: &Snapshot) -> Vec<u8> {
    let section: Map<String, Value> = snapshot
        .entries
        .iter()
        .filter(|(key, _)| key.len() <= MAX_KEY_BYTES)
        .map(|(key, starts)| {
            let starts = starts.iter().map(|ms| Value::String(format_start(*ms))).collect();
            (key.clone(), Value::Array(starts))
        })
        .collect();
    let mut top = Map::new();
    top.insert(SPEC_SECTION.to_string(), Value::Object(section));
    crate::pyjson::to_indented(&Value::Object(top), 2)
}

/// The canonical key of a snapshot key: `video_v1:` prefix removed; a URL (anything with
/// `://`) canonicalised as a source URL; a bare id `X` taken as
/// `https://www.youtube.com/watch?v=X`. `None` for a blank key.
/// Keys longer than [`MAX_KEY_BYTES`] (after canonicalisation) are `None` too.
pub fn snapshot_key(raw: &str) -> Option<String> {
    let key = raw.trim();
    let key = key.strip_prefix(ID_PREFIX).map(str::trim).unwrap_or(key);
    let canonical = if key.is_empty() {
        return None;
    } else if key.contains("://") {
        fast_canonical_key(key).unwrap_or_else(|| canonical_source_key(key))
    } else {
        canonical_key_for_id(key)
    };
    (canonical.len() <= MAX_KEY_BYTES).then_some(canonical)
}

/// A start item in milliseconds: a JSON number or numeric string of finite seconds in
/// `[0, MAX_START_SEC]`; anything else is `None` (skipped).
pub fn start_ms(item: &Value) -> Option<u64> {
    let secs = match item {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => parse_seconds(s)?,
        _ => return None,
    };
    seconds_to_ms(secs)
}

/// Numeric text as Python's `float()` reads the usual forms (surrounding whitespace,
/// sign, exponent); `nan`/`inf` parse but are refused later as non-finite.
fn parse_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    // Rust's parser takes the same grammar minus Python's digit separators; cap the length
    // so a megabyte of digits costs nothing.
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Seconds to milliseconds as `f"{secs:.3f}"` rounds them (correctly rounded decimal, ties
/// to even on exact halves); `None` outside `[0, MAX_START_SEC]` or non-finite.
pub fn seconds_to_ms(secs: f64) -> Option<u64> {
    if !secs.is_finite() || !(0.0..=MAX_START_SEC).contains(&secs) {
        return None;
    }
    if secs == 0.0 {
        return Some(0); // also -0.0, which would format with a sign
    }
    let text = format!("{secs:.3}");
    let (whole, frac) = text.split_once('.')?;
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = frac.parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

/// A start in the written form: seconds with exactly three decimals (`10500` → `"10.500"`).
pub fn format_start(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_like_python_format() {
        assert_eq!(seconds_to_ms(1.5), Some(1500));
        // Expected values are CPython's f"{x:.3f}" of the same floats.
        assert_eq!(seconds_to_ms(0.0005), Some(1)); // binary 0.000500000000000000010...
        assert_eq!(seconds_to_ms(2.0005), Some(2001));
        assert_eq!(seconds_to_ms(0.0015), Some(2));
        assert_eq!(seconds_to_ms(0.0625), Some(62)); // an exact tie rounds to even
        assert_eq!(seconds_to_ms(0.0635), Some(64));
        assert_eq!(seconds_to_ms(-0.0), Some(0));
        assert_eq!(seconds_to_ms(-1.0), None);
        assert_eq!(seconds_to_ms(f64::NAN), None);
        assert_eq!(seconds_to_ms(1e13), None);
        assert_eq!(seconds_to_ms(MAX_START_SEC), Some(1_000_000_000_000_000));
        assert_eq!(format_start(0), "0.000");
        assert_eq!(format_start(10_500), "10.500");
        assert_eq!(format_start(7), "0.007");
    }

    #[test]
    fn snapshot_keys() {
        let k = canonical_key_for_id("abc");
        assert_eq!(snapshot_key("abc").as_deref(), Some(k.as_str()));
        assert_eq!(snapshot_key(" video_v1:abc ").as_deref(), Some(k.as_str()));
        assert_eq!(snapshot_key("video_v1:https://youtu.be/abc").as_deref(), Some(k.as_str()));
        assert_eq!(snapshot_key("https://www.youtube.com/embed/abc").as_deref(), Some(k.as_str()));
        assert_eq!(snapshot_key("https://example.com/v").as_deref(), Some("https://example.com/v"));
        assert_eq!(snapshot_key("  "), None);
        assert_eq!(snapshot_key("video_v1:"), None);
    }

    #[test]
    fn insert_merge_len() {
        let mut a = Snapshot::new();
        assert!(a.is_empty());
        assert!(a.insert("https://youtu.be/abc", 0));
        assert!(!a.insert("https://www.youtube.com/watch?v=abc", 0));
        assert!(!a.insert(" ", 5));
        let mut b = Snapshot::new();
        b.insert("https://m.youtube.com/shorts/abc", 5000);
        b.insert("https://example.com/v", 1);
        a.merge(&b);
        assert_eq!((a.len(), a.key_count()), (3, 2));
        assert_eq!(
            a.starts("https://youtu.be/abc").map(|s| s.iter().copied().collect::<Vec<_>>()),
            Some(vec![0, 5000])
        );
    }

    #[test]
    fn long_keys_are_skipped_and_large_snapshots_are_not_published() {
        let long = format!("https://www.youtube.com/watch?v={}", "x".repeat(1 << 20));
        let mut snap = Snapshot::new();
        assert!(!snap.insert(&long, 0));
        assert!(snap.insert("https://youtu.be/abcdefghijk", 0));
        let text = format!(r#"{{"video_v1": {{"{long}": ["1.000"], "abcdefghijk": ["5.000"]}}}}"#);
        let read = parse(text.as_bytes()).unwrap();
        assert_eq!(read.key_count(), 1);
        snap.entries.insert("k".repeat(MAX_KEY_BYTES + 1), [1].into());
        assert!(serialize(&snap).len() < 200);
        assert_eq!(publish_size(1 << 20), PublishSize::Fine);
        assert_eq!(publish_size(ALERT_BYTES + 1), PublishSize::Alert);
        assert_eq!(publish_size(PUBLISH_LIMIT_BYTES), PublishSize::Alert);
        assert_eq!(publish_size(PUBLISH_LIMIT_BYTES + 1), PublishSize::Refuse);
        assert!(PUBLISH_LIMIT_BYTES < MAX_SNAPSHOT_BYTES as usize);
    }
}
