//! JSON text byte-identical to Python's `json.dumps(obj, sort_keys=True)` with the default
//! `ensure_ascii=True`, in the two shapes the protocol signs or publishes: compact
//! (`separators=(",", ":")`, the validation API bodies of §12) and indented (`indent=2`, the
//! `record_info.json` snapshot of §10).
//!
//! Byte equality matters because other participants hash and sign these bytes. Keys are
//! sorted by code point, every character outside printable ASCII is escaped as `\uXXXX`
//! (lowercase hex, surrogate pairs above U+FFFF) and floats are written as Python's `repr`
//! writes them (`1.0`, `1e-05`, `1e+16`).

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Compact form: `json.dumps(v, sort_keys=True, separators=(",", ":"))`.
pub(crate) fn to_compact(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, value, None, 0);
    out.into_bytes()
}

/// Indented form: `json.dumps(v, sort_keys=True, indent=indent)` (item separator `,` at
/// line ends, key separator `: `, no trailing newline).
pub(crate) fn to_indented(value: &Value, indent: usize) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, value, Some(indent), 0);
    out.into_bytes()
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', width * level));
    }
}

fn write_value(out: &mut String, value: &Value, indent: Option<usize>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_value(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, indent, level),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>, indent: Option<usize>, level: usize) {
    if map.is_empty() {
        out.push_str("{}");
        return;
    }
    // Sorted explicitly: `serde_json::Map` keeps insertion order when another crate in the
    // build enables `preserve_order`.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, indent, level + 1);
        write_str(out, key);
        out.push_str(if indent.is_some() { ": " } else { ":" });
        write_value(out, item, indent, level + 1);
    }
    newline(out, indent, level);
    out.push('}');
}

/// A JSON string literal as Python writes it with `ensure_ascii=True`.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        out.push_str(&float_repr(f));
    } else {
        // Only reachable with serde_json's `arbitrary_precision`; its text is already JSON.
        let _ = write!(out, "{n}");
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, positional when the decimal
/// exponent is in `[-4, 16)`, otherwise `d.ddde±XX`. Non-finite values (which a
/// `serde_json::Value` cannot hold) come out as Python's `NaN`/`Infinity`.
pub(crate) fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // `{:e}` writes the shortest round-trip digits as `d[.ddd]e[-]N`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let padded = format!("{digits:0<int_len$}");
            let (int_part, frac) = padded.split_at(int_len);
            let frac = if frac.is_empty() { "0" } else { frac };
            format!("{sign}{int_part}.{frac}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let rest = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{rest}e{exp_sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_like_python_repr() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (123456789012345.0, "123456789012345.0"),
            (1e16, "1e+16"),
            (1.2e100, "1.2e+100"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (-2.5e-7, "-2.5e-07"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1234.5678, "1234.5678"),
        ] {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn strings_escaped_like_ensure_ascii() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{7f}/é€😀");
        assert_eq!(out, r#""a\"b\\c\n\r\t\b\f\u0001\u007f/\u00e9\u20ac\ud83d\ude00""#);
    }

    #[test]
    fn compact_and_indented_shapes() {
        let v = json!({"b": [1, -2, 2.5, null, true], "a": {}, "c": [], "d": {"y": "x", "x": false}});
        assert_eq!(
            String::from_utf8(to_compact(&v)).unwrap(),
            r#"{"a":{},"b":[1,-2,2.5,null,true],"c":[],"d":{"x":false,"y":"x"}}"#
        );
        assert_eq!(
            String::from_utf8(to_indented(&v, 2)).unwrap(),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    -2,\n    2.5,\n    null,\n    true\n  ],\n  \"c\": [],\n  \"d\": {\n    \"x\": false,\n    \"y\": \"x\"\n  }\n}"
        );
    }
}
