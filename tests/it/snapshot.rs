//! The `record_info.json` snapshot codec (protocol §10): the writer byte for byte against
//! the vector, every reader case of the vectors, and hostile inputs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::compat::vectors;
use nexis::index::snapshot::{self, Snapshot, SnapshotError, format_start, start_ms};

fn ms(secs: f64) -> u64 {
    (secs * 1000.0).round() as u64
}

#[test]
fn serialized_vector_byte_for_byte() {
    let v = vectors();
    let want = v["record_info_serialized"].as_str().expect("record_info_serialized");

    // Built from source URLs in other forms: keys canonicalised, starts sorted.
    let mut s = Snapshot::new();
    s.insert("https://youtu.be/bQO8kMZwWuQ", 10_000);
    s.insert(" https://example.com/v ", 5_000);
    s.insert("https://www.youtube.com/shorts/bQO8kMZwWuQ", 0);
    assert_eq!(String::from_utf8(snapshot::serialize(&s)).expect("utf8"), want);

    // Reading the written form back loses nothing.
    let back = snapshot::parse(want.as_bytes()).expect("parse");
    assert_eq!(back, s);
    assert_eq!(snapshot::serialize(&back), want.as_bytes());
}

#[test]
fn parse_vector_cases() {
    let v = vectors();
    let cases = v["record_info_parse_cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    for case in cases {
        let input = case["input"].as_str().expect("input");
        let want: BTreeMap<String, BTreeSet<u64>> = case["parsed"]
            .as_object()
            .expect("parsed")
            .iter()
            .map(|(k, starts)| {
                let starts = starts.as_array().expect("starts").iter().map(|x| ms(x.as_f64().expect("f64"))).collect();
                (k.clone(), starts)
            })
            .collect();
        match snapshot::parse(input.as_bytes()) {
            Ok(got) => assert_eq!(got.entries, want, "{input}"),
            Err(e) => {
                // The existing reader returns `{}` for these; ours marks them untrusted.
                assert!(want.is_empty(), "{input}: {e}");
                let as_json: Option<Value> = serde_json::from_str(input).ok();
                assert!(!as_json.is_some_and(|j| j.is_object()), "a JSON object must parse: {input}");
            }
        }
    }
}

#[test]
fn forms_and_merge() {
    let flat =
        snapshot::parse(br#"{"https://www.youtube.com/embed/abc": ["1.000"], "video_v1:xyz": [2]}"#).expect("flat");
    let legacy = snapshot::parse(br#"{"entries": {"abc": [3.25, "1"]}}"#).expect("legacy");
    let mut merged = flat.clone();
    merged.merge(&legacy);
    let abc = merged.starts("https://youtu.be/abc").expect("abc");
    assert_eq!(abc.iter().copied().collect::<Vec<_>>(), [1000, 3250]);
    assert_eq!((merged.len(), merged.key_count()), (3, 2));
    assert_eq!(
        String::from_utf8(snapshot::serialize(&merged)).expect("utf8"),
        "{\n  \"video_v1\": {\n    \"https://www.youtube.com/watch?v=abc\": [\n      \"1.000\",\n      \"3.250\"\n    ],\n    \"https://www.youtube.com/watch?v=xyz\": [\n      \"2.000\"\n    ]\n  }\n}"
    );
    // Lists sort numerically, not as text ("10.000" after "9.000").
    let mut s = Snapshot::new();
    for start in [10_000, 9_000, 100_500] {
        s.insert("https://youtu.be/q", start);
    }
    let text = String::from_utf8(snapshot::serialize(&s)).expect("utf8");
    assert!(text.contains("\"9.000\",\n      \"10.000\",\n      \"100.500\""), "{text}");
    // The empty snapshot as Python writes it.
    assert_eq!(snapshot::serialize(&Snapshot::new()), b"{\n  \"video_v1\": {}\n}");
    assert_eq!(snapshot::parse(b"{}"), Ok(Snapshot::new()));
}

#[test]
fn non_ascii_keys_round_trip_escaped() {
    let mut s = Snapshot::new();
    s.insert("https://example.com/caf\u{e9}", 1);
    let bytes = snapshot::serialize(&s);
    assert!(bytes.is_ascii());
    assert!(String::from_utf8_lossy(&bytes).contains(r#""https://example.com/caf\u00e9""#));
    assert_eq!(snapshot::parse(&bytes), Ok(s));
}

#[test]
fn untrusted_inputs_are_errors() {
    let deep_array = "[".repeat(100_000) + &"]".repeat(100_000);
    let deep_value = format!("{{\"k\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = "{\"a\":".repeat(50_000) + "1" + &"}".repeat(50_000);
    for input in [
        b"".as_slice(),
        b"   ",
        b"not json",
        b"[1, 2]",
        b"\"text\"",
        b"42",
        b"null",
        b"true",
        b"{} trailing",
        b"{\"a\": [1,",
        b"\xff\xfe{}",
        deep_array.as_bytes(),
        deep_value.as_bytes(),
        deep_object.as_bytes(),
    ] {
        let got = snapshot::parse(input);
        assert!(
            matches!(got, Err(SnapshotError::NotJson(_) | SnapshotError::NotAnObject)),
            "{:?} -> {got:?}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
    }
    assert_eq!(snapshot::parse(b"[]"), Err(SnapshotError::NotAnObject));
    assert!(snapshot::parse(b"\xEF\xBB\xBF{\"abc\": [1]}").is_ok(), "a UTF-8 BOM is tolerated");
}

#[test]
fn bad_items_and_values_are_skipped() {
    let input = br#"{"video_v1": {
        "https://youtu.be/ok": [1, "2.5", " 3 ", "-0", -1, "-1", "NaN", "nan", "inf", "-inf", "Infinity",
            "1e400", "", "  ", "0x10", "abc", true, null, [], {}, 1e300, 123456789012345678901234567890,
            18446744073709551615, "99999999999999999999"],
        "https://youtu.be/none": ["x", null],
        "https://youtu.be/notalist": "5",
        "https://youtu.be/object": {"a": 1},
        "": [1],
        "video_v1:": [1]
    }}"#;
    let s = snapshot::parse(input).expect("parse");
    let keys: Vec<&str> = s.entries.keys().map(String::as_str).collect();
    assert_eq!(keys, ["https://www.youtube.com/watch?v=ok"]);
    let starts: Vec<u64> = s.entries.values().flatten().copied().collect();
    assert_eq!(starts, [0, 1000, 2500, 3000]);

    // A number too large for an f64 makes the whole document unreadable (untrusted), never a panic.
    let huge = snapshot::parse(br#"{"abc": [1e400]}"#);
    assert!(huge.is_err() || huge.as_ref().is_ok_and(Snapshot::is_empty), "{huge:?}");

    // A megabyte-long numeric string is skipped cheaply.
    let long = format!("{{\"abc\": [\"{}\"]}}", "9".repeat(1 << 20));
    assert_eq!(snapshot::parse(long.as_bytes()).map(|s| s.len()), Ok(0));
}

#[test]
fn item_conversion_helpers() {
    assert_eq!(start_ms(&Value::from(4.5)), Some(4500));
    assert_eq!(start_ms(&Value::from("4.5")), Some(4500));
    assert_eq!(start_ms(&Value::from(-4.5)), None);
    assert_eq!(start_ms(&Value::Bool(true)), None);
    assert_eq!(format_start(4500), "4.500");
}
