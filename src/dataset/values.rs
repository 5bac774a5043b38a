//! The value rules of one cell (protocol §6): trimming as Python does it, the text and
//! number rules of a spec column, the length caps of rev. 2, and the caption facts the
//! package-wide checks use.

use std::cmp::Ordering;

use crate::protocol::MIN_CAPTION_WORDS;
use crate::spec::{ColumnKind, ColumnSpec};

/// Text cap for columns whose spec names none (protocol §6, rev. 2).
pub const DEFAULT_TEXT_MAX_BYTES: usize = 4096;

/// Whitespace as Python's `str.split()`/`str.strip()` see it: Unicode whitespace plus the
/// information separators U+001C..U+001F (which Rust's `char::is_whitespace` leaves out).
pub(crate) fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `value.strip()` as Python does it.
pub(crate) fn py_trim(value: &str) -> &str {
    value.trim_matches(is_py_whitespace)
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

/// Applies the text rules to one value; returns the trimmed text.
pub(super) fn check_text<'a>(spec: &ColumnSpec, value: &'a str) -> Result<&'a str, String> {
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
pub(super) fn check_number(spec: &ColumnSpec, v: f64) -> Result<(), String> {
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

/// Words in a caption, counted up to the minimum a caption needs.
pub(super) fn word_count_capped(text: &str) -> u8 {
    ascii_word_count_capped(text.as_bytes())
        .unwrap_or_else(|| text.split(is_py_whitespace).filter(|w| !w.is_empty()).take(MIN_CAPTION_WORDS).count() as u8)
}

/// [`word_count_capped`] a byte at a time for ASCII text (most captions): `None` at the
/// first non-ASCII byte before the count is reached, for the Unicode-aware path.
fn ascii_word_count_capped(bytes: &[u8]) -> Option<u8> {
    let (mut words, mut in_word) = (0usize, false);
    for &b in bytes {
        if !b.is_ascii() {
            return None;
        }
        let space = is_py_whitespace(char::from(b));
        if !space && !in_word {
            words += 1;
            if words == MIN_CAPTION_WORDS {
                break;
            }
        }
        in_word = !space;
    }
    Some(words as u8)
}

/// Whether the text holds `http://` or `https://` in any case: every occurrence of
/// `://` (found with a fast substring search) is checked for an `http`/`https` before it.
pub(super) fn has_url_scheme(text: &str) -> bool {
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
        // Non-ASCII text takes the Unicode path: a no-break space and U+3000 split words.
        assert_eq!(word_count_capped("a\u{a0}b\u{3000}c d\u{85}e"), 5);
        assert_eq!(word_count_capped("caf\u{e9} au lait"), 3);
        let ascii_then_more = format!("{}\u{a0}x", "w ".repeat(25));
        assert_eq!(word_count_capped(&ascii_then_more), 20);
        assert_eq!(word_count_capped(" \t\u{b}\u{c}\r\u{1d} "), 0);
        assert_eq!(py_trim("\u{1f} x \u{1e}"), "x");
        assert!(has_url_scheme("see HTTPS://x.y"));
        assert!(has_url_scheme("hTtP://x"));
        assert!(has_url_scheme("ftp://a then http://b"));
        assert!(!has_url_scheme("see https:/x"));
        assert!(!has_url_scheme("://x and ttp://y"));
        assert!(!has_url_scheme("smb://share"));
    }
}
