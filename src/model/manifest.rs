//! `manifest.json` (protocol §7): tolerant parsing with normalisation, and the exact
//! writer our miner uses (fields in protocol order, 2-space indent).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Timelike, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::protocol::{DEFAULT_SPEC_ID, PROTOCOL_VERSION, SCHEMA_VERSION};

/// Why a manifest was refused; every variant maps to `manifest_schema_invalid`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Not UTF-8 JSON.
    #[error("manifest is not valid UTF-8 JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("manifest must be a JSON object")]
    NotObject,
    /// A required field is absent or null.
    #[error("manifest field `{0}` is required")]
    Missing(&'static str),
    /// A field has the wrong type or value.
    #[error("manifest field `{field}` is invalid: {reason}")]
    Invalid {
        /// The manifest field.
        field: &'static str,
        /// Why its value is refused.
        reason: String,
    },
}

/// A normalised interval manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalManifest {
    /// Protocol version (`1.0.0`).
    pub protocol_version: String,
    /// Dataset schema version (`1.0.0`).
    pub schema_version: String,
    /// Dataset spec id, e.g. `video_v1`.
    pub spec_id: String,
    /// Dataset type the spec defines.
    pub dataset_type: String,
    /// Category the clips belong to, when declared.
    pub category: Option<String>,
    /// Subnet id.
    pub netuid: u64,
    /// SS58 hotkey of the miner.
    pub miner_hotkey: String,
    /// Interval id (its first block).
    pub interval_id: u64,
    /// When the package was made, when declared.
    #[serde(serialize_with = "serialize_created_at")]
    pub created_at: Option<DateTime<Utc>>,
    /// Rows in the dataset.
    pub record_count: u64,
    /// Lowercase hex sha256 of the dataset file.
    pub dataset_sha256: String,
}

fn serialize_created_at<S: serde::Serializer>(value: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(t) => s.serialize_str(&format_timestamp(t)),
        None => s.serialize_none(),
    }
}

/// RFC 3339 in UTC with `Z`, microseconds only when non-zero (protocol §7).
pub(crate) fn format_timestamp(t: &DateTime<Utc>) -> String {
    let t = t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(*t);
    if t.nanosecond() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

fn optional_string(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, ManifestError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ManifestError::Invalid { field, reason: format!("expected a string, got {other}") }),
    }
}

fn required_string(obj: &Map<String, Value>, field: &'static str) -> Result<String, ManifestError> {
    optional_string(obj, field)?.ok_or(ManifestError::Missing(field))
}

/// Integer >= 0: a JSON integer, an integral float, or a numeric string ("5").
fn required_u64(obj: &Map<String, Value>, field: &'static str) -> Result<u64, ManifestError> {
    let invalid = |reason: String| ManifestError::Invalid { field, reason };
    match obj.get(field) {
        None | Some(Value::Null) => Err(ManifestError::Missing(field)),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(v)
            } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19) {
                Ok(f as u64)
            } else {
                Err(invalid(format!("expected an integer >= 0, got {n}")))
            }
        }
        Some(Value::String(s)) => s
            .trim()
            .strip_prefix('+')
            .unwrap_or(s.trim())
            .parse::<u64>()
            .map_err(|_| invalid(format!("expected an integer >= 0, got {s:?}"))),
        Some(other) => Err(invalid(format!("expected an integer >= 0, got {other}"))),
    }
}

fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    // Naive timestamps (no offset) are taken as UTC, as the reference does.
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|n| n.and_utc())
}

impl IntervalManifest {
    /// Parses and normalises a manifest (protocol §7).
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let value: Value = serde_json::from_str(text).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let Value::Object(obj) = value else {
            return Err(ManifestError::NotObject);
        };
        let protocol_version = optional_string(&obj, "protocol_version")?.unwrap_or_else(|| PROTOCOL_VERSION.into());
        let schema_version = optional_string(&obj, "schema_version")?.unwrap_or_else(|| SCHEMA_VERSION.into());
        let spec_field = optional_string(&obj, "spec_id")?;
        let type_field = optional_string(&obj, "dataset_type")?;
        let spec_id = [spec_field, type_field]
            .into_iter()
            .flatten()
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SPEC_ID.into());
        let category = optional_string(&obj, "category")?.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        let created_at = match optional_string(&obj, "created_at")? {
            None => None,
            Some(text) => Some(parse_timestamp(&text).ok_or_else(|| ManifestError::Invalid {
                field: "created_at",
                reason: format!("not an RFC 3339 timestamp: {text:?}"),
            })?),
        };
        let dataset_sha256 = required_string(&obj, "dataset_sha256")?;
        if dataset_sha256.chars().count() != 64 {
            return Err(ManifestError::Invalid {
                field: "dataset_sha256",
                reason: format!("expected 64 characters, got {}", dataset_sha256.chars().count()),
            });
        }
        Ok(Self {
            protocol_version,
            schema_version,
            dataset_type: spec_id.clone(),
            spec_id,
            category,
            netuid: required_u64(&obj, "netuid")?,
            miner_hotkey: required_string(&obj, "miner_hotkey")?,
            interval_id: required_u64(&obj, "interval_id")?,
            created_at,
            record_count: required_u64(&obj, "record_count")?,
            dataset_sha256,
        })
    }

    /// The manifest as our miner writes it: protocol field order, 2-space indent.
    pub(crate) fn to_pretty_json(&self) -> String {
        // Serialising a plain struct of strings and integers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "1567984df9a032e1e28c855e8281e2cfcbee3e44ab84ac62d707cfc5ca9945ec";

    fn base() -> Value {
        serde_json::json!({
            "netuid": 1, "miner_hotkey": "5H", "interval_id": 100,
            "record_count": 2, "dataset_sha256": SHA
        })
    }

    fn parse(v: &Value) -> Result<IntervalManifest, ManifestError> {
        IntervalManifest::parse(v.to_string().as_bytes())
    }

    #[test]
    fn defaults_and_normalisation() {
        let m = parse(&base()).unwrap();
        assert_eq!(m.protocol_version, "1.0.0");
        assert_eq!(m.schema_version, "1.0.0");
        assert_eq!((m.spec_id.as_str(), m.dataset_type.as_str()), ("video_v1", "video_v1"));
        assert_eq!(m.category, None);
        let mut v = base();
        v["spec_id"] = " ".into();
        v["dataset_type"] = " other_v2 ".into();
        v["category"] = "   ".into();
        let m = parse(&v).unwrap();
        assert_eq!((m.spec_id.as_str(), m.dataset_type.as_str()), ("other_v2", "other_v2"));
        assert_eq!(m.category, None);
        v["spec_id"] = "video_v1".into();
        v["category"] = " nature_landscape_scenery ".into();
        let m = parse(&v).unwrap();
        assert_eq!(m.spec_id, "video_v1");
        assert_eq!(m.category.as_deref(), Some("nature_landscape_scenery"));
    }

    #[test]
    fn numeric_strings_and_unknown_fields() {
        let mut v = base();
        v["interval_id"] = "100".into();
        v["record_count"] = serde_json::json!(2.0);
        v["extra"] = serde_json::json!({"x": [1, 2]});
        let m = parse(&v).unwrap();
        assert_eq!((m.interval_id, m.record_count), (100, 2));
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(matches!(IntervalManifest::parse(b"{bad"), Err(ManifestError::NotJson(_))));
        assert_eq!(IntervalManifest::parse(b"[1,2]"), Err(ManifestError::NotObject));
        assert!(IntervalManifest::parse(&[0xff, 0xfe]).is_err());
        let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(IntervalManifest::parse(nested.as_bytes()).is_err());
        for (field, bad) in [
            ("netuid", serde_json::json!(-1)),
            ("interval_id", serde_json::json!(1.5)),
            ("record_count", serde_json::json!("x")),
            ("miner_hotkey", serde_json::json!(5)),
            ("dataset_sha256", serde_json::json!("abc")),
            ("created_at", serde_json::json!("yesterday")),
            ("category", serde_json::json!(3)),
        ] {
            let mut v = base();
            v[field] = bad;
            assert!(parse(&v).is_err(), "{field} should be refused");
        }
        let mut v = base();
        v.as_object_mut().unwrap().remove("miner_hotkey");
        assert_eq!(parse(&v), Err(ManifestError::Missing("miner_hotkey")));
    }

    #[test]
    fn writer_field_order_and_timestamp_format() {
        let mut v = base();
        v["created_at"] = "2026-11-22T03:00:00Z".into();
        let m = parse(&v).unwrap();
        let text = m.to_pretty_json();
        let keys: Vec<&str> =
            text.lines().filter_map(|l| l.trim().strip_prefix('"').and_then(|l| l.split('"').next())).collect();
        assert_eq!(
            keys,
            [
                "protocol_version",
                "schema_version",
                "spec_id",
                "dataset_type",
                "category",
                "netuid",
                "miner_hotkey",
                "interval_id",
                "created_at",
                "record_count",
                "dataset_sha256"
            ]
        );
        assert!(text.contains("\"created_at\": \"2026-11-22T03:00:00Z\""));
        assert!(text.starts_with("{\n  \"protocol_version\""));
        let t = DateTime::parse_from_rfc3339("2026-11-22T03:24:41.469474123Z").unwrap().with_timezone(&Utc);
        assert_eq!(format_timestamp(&t), "2026-11-22T03:24:41.469474Z");
        assert_eq!(IntervalManifest::parse(text.as_bytes()).unwrap(), m);
    }
}
