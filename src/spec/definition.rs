//! The data form of a dataset spec (a file in `specs/`): columns, their logical types,
//! value rules and the roles the checks rely on.

use serde::Deserialize;

/// Logical column type; the tolerant physical types each accepts are in `dataset::types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Text,
    Integer,
    Float,
    Boolean,
    Struct,
}

/// What a column means to the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    ClipId,
    ClipUri,
    ClipSha256,
    FrameUri,
    FrameSha256,
    SourceId,
    SourceUrl,
    Start,
    Fps,
    Caption,
}

/// A package-wide hard check (protocol §8) a spec runs over all rows, in the order the
/// spec lists them; `dataset::checks` runs them over the decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageCheck {
    /// Values longer than their column's cap (`value_too_long`, rev. 2).
    ValueTooLong,
    /// Sources that are not YouTube (`non_youtube_source`).
    YoutubeSource,
    /// Clips of one source starting too close together (`overlap_lt_5s`).
    Overlap,
    /// Empty, short or URL-holding captions.
    Caption,
    /// Clips starting too late in their source (`clip_start_gt_5000`).
    ClipStart,
    /// Rows repeating an earlier clip id, URI or hash (`duplicate_clip`).
    Duplicates,
}

/// `value ± tolerance`, inclusive, computed as `value - tolerance <= x <= value + tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Around {
    pub value: f64,
    pub tolerance: f64,
}

/// Value rules of one column. Strings are trimmed before any rule applies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRules {
    #[serde(default)]
    pub non_empty: bool,
    pub exact_chars: Option<usize>,
    /// Longest allowed (trimmed) value in characters (rev. 2, `value_too_long`).
    pub max_chars: Option<usize>,
    /// Longest allowed (trimmed) value in bytes; text columns without a cap get 4,096.
    pub max_bytes: Option<usize>,
    pub min: Option<f64>,
    pub gt: Option<f64>,
    pub around: Option<Around>,
}

/// One column of a spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnKind,
    pub role: Option<ColumnRole>,
    #[serde(default = "default_required")]
    pub required: bool,
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
    pub spec_id: String,
    pub description: String,
    pub protocol_versions: Vec<String>,
    pub schema_versions: Vec<String>,
    pub columns: Vec<ColumnSpec>,
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
