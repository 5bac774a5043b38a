//! The data form of a dataset spec (a file in `specs/`): columns, their logical types,
//! value rules, the roles the checks rely on and the hard checks it turns on.

use serde::Deserialize;

/// Logical column type; the tolerant physical types each accepts are in `dataset::types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// UTF-8 text.
    Text,
    /// A whole number.
    Integer,
    /// A floating-point number.
    Float,
    /// True or false.
    Boolean,
    /// A struct (e.g. the proof column).
    Struct,
}

/// What a column means to the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    /// The row's clip id (unique per package).
    ClipId,
    /// Where the clip lives in the bucket.
    ClipUri,
    /// The clip's sha256.
    ClipSha256,
    /// Where the first frame lives in the bucket.
    FrameUri,
    /// The first frame's sha256.
    FrameSha256,
    /// The declared source video id.
    SourceId,
    /// The source video URL.
    SourceUrl,
    /// The clip's start in its source, seconds.
    Start,
    /// The declared frame rate.
    Fps,
    /// The caption.
    Caption,
}

/// `value ± tolerance`, inclusive, computed as `value - tolerance <= x <= value + tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Around {
    /// The expected value.
    pub value: f64,
    /// How far from it a value may be.
    pub tolerance: f64,
}

/// Value rules of one column. Strings are trimmed before any rule applies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRules {
    /// The value must not be empty.
    #[serde(default)]
    pub non_empty: bool,
    /// The value must have exactly this many characters.
    pub exact_chars: Option<usize>,
    /// Longest allowed (trimmed) value in characters (rev. 2, `value_too_long`).
    pub max_chars: Option<usize>,
    /// Longest allowed (trimmed) value in bytes; text columns without a cap get 4,096.
    pub max_bytes: Option<usize>,
    /// Smallest allowed number (inclusive).
    pub min: Option<f64>,
    /// Numbers must be greater than this.
    pub gt: Option<f64>,
    /// Numbers must be within a tolerance of a value.
    pub around: Option<Around>,
}

/// One column of a spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The column's name in the parquet file.
    pub name: String,
    /// Its logical type.
    #[serde(rename = "type")]
    pub kind: ColumnKind,
    /// What it means to the checks, if anything.
    pub role: Option<ColumnRole>,
    /// Whether a dataset must have it.
    #[serde(default = "default_required")]
    pub required: bool,
    /// Its value rules.
    #[serde(default)]
    pub rules: ColumnRules,
}

fn default_required() -> bool {
    true
}

/// A whole spec definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecDefinition {
    /// The spec's id (`video_v1`).
    pub spec_id: String,
    /// What the spec is for.
    pub description: String,
    /// Manifest protocol versions it accepts.
    pub protocol_versions: Vec<String>,
    /// Manifest schema versions it accepts.
    pub schema_versions: Vec<String>,
    /// Its columns, in schema order.
    pub columns: Vec<ColumnSpec>,
    /// The package-wide hard checks (protocol §8) it runs over all rows, by name, in the
    /// order their failures are reported; `dataset::checks` holds one file per check.
    pub checks: Vec<String>,
}

impl SpecDefinition {
    /// The column carrying `role`, if any.
    pub fn column_for(&self, role: ColumnRole) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.role == Some(role))
    }

    /// Whether the protocol and schema versions are supported.
    pub fn supports(&self, protocol: &str, schema: &str) -> bool {
        self.protocol_versions.iter().any(|v| v == protocol) && self.schema_versions.iter().any(|v| v == schema)
    }
}
