//! The failure codes of protocol §8: one enum value per code, one string form each.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// Most failures a decision lists (protocol §8, rev. 2); the rest are only counted.
pub const MAX_DECISION_FAILURES: usize = 256;

/// Which field of a clip disagrees with its probed media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaField {
    /// Real duration outside 5.0 ± 0.25 s.
    Duration,
    /// Real frame rate more than 1 % away from the declared one.
    Fps,
}

impl MediaField {
    /// The string used inside the failure code.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Duration => "duration",
            Self::Fps => "fps",
        }
    }
}

/// A validation failure. `Display` gives the exact protocol string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Failure {
    // Load stage.
    /// No usable committed read credentials.
    MissingCommittedReadCredentials,
    /// Manifest or dataset cannot be fetched.
    MissingSubmissionFiles,
    /// Manifest uploaded after the deadline (stricter).
    LateSubmission,
    /// Manifest does not parse or breaks protocol §7.
    ManifestSchemaInvalid,
    /// Hotkey or interval in the manifest differ from the ones validated.
    ManifestIdentityMismatch,
    /// The manifest names a spec this validator does not know.
    UnknownSpec {
        /// The manifest's `spec_id`.
        spec_id: String,
    },
    /// The spec is known but the versions are not supported.
    IncompatibleSpecVersion {
        /// The manifest's `spec_id`.
        spec_id: String,
        /// The manifest's `protocol_version`.
        protocol: String,
        /// The manifest's `schema_version`.
        schema: String,
    },
    /// The spec is known but not enabled on this validator.
    SpecNotEnabled {
        /// The manifest's `spec_id`.
        spec_id: String,
    },
    /// A category is required but the manifest has none.
    MissingCategoryMetadata,
    /// The manifest's category differs from the required one.
    UnsupportedCategory {
        /// The manifest's category.
        category: String,
    },
    /// sha256 of the dataset bytes differs from the manifest.
    DatasetSha256Mismatch,
    /// The dataset breaks protocol §6.
    DatasetSchemaInvalid,
    /// The manifest's record count differs from the dataset's row count.
    ManifestRecordCountMismatch,
    /// Anything unexpected while validating this miner.
    ValidationException,
    // Hard checks.
    /// Source URL host is not YouTube.
    NonYoutubeSource {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// Two clips of one source start less than 4.5 s apart.
    OverlapLt5s {
        /// Canonical source key.
        source: String,
        /// `clip_id` of the earlier clip.
        earlier: String,
        /// `clip_id` of the later clip.
        later: String,
    },
    /// Caption is empty.
    EmptyCaption {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// Caption has fewer than 20 words.
    ShortCaption {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// Caption contains a URL.
    UrlLikeCaption {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// Clip starts after 5000 s.
    ClipStartGt5000 {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The row repeats an earlier row's id, URI or hash (stricter).
    DuplicateClip {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// A text value is longer than its cap (rev. 2); `clip_id` is cut to 64 characters.
    ValueTooLong {
        /// The column whose value is too long.
        column: String,
        /// The row's `clip_id`, cut to 64 characters.
        clip_id: String,
    },
    // Sampled assets.
    /// A row URI is not a valid relative path.
    InvalidAssetUri {
        /// The offending URI.
        uri: String,
    },
    /// The clip cannot be fetched.
    MissingClipAsset {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The clip's sha256 differs.
    ClipSha256Mismatch {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The clip is not exactly 1280x720.
    InvalidResolution {
        /// The row's `clip_id`.
        clip_id: String,
        /// Probed width, pixels.
        width: u32,
        /// Probed height, pixels.
        height: u32,
    },
    /// The clip cannot be probed as a video (stricter).
    InvalidClipMedia {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// Real duration or frame rate disagree with the protocol / declaration (stricter).
    ClipMetadataMismatch {
        /// The row's `clip_id`.
        clip_id: String,
        /// Which field disagrees.
        field: MediaField,
    },
    /// The first frame cannot be fetched.
    MissingFirstFrameAsset {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The first frame's sha256 differs.
    FirstFrameSha256Mismatch {
        /// The row's `clip_id`.
        clip_id: String,
    },
    // LLM checks.
    /// The caption contains an injection keyword.
    CaptionSemanticInjectionKeyword {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The model says the caption does not match the clip.
    CaptionSemanticMismatch {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The semantic model answered without a usable verdict (rev. 2).
    CaptionSemanticResponseInvalid {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The category check rejected the clip.
    CategoryStrictReject {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// Fewer than three frames for the category check.
    CategoryStrictFramesMissing {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The category model's reply is unusable.
    CategoryStrictResponseInvalid {
        /// The row's `clip_id`.
        clip_id: String,
    },
    // Source check.
    /// The clip's frames confidently differ from the claimed source at the claimed time.
    SourceFrameMismatch {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The clip shows the claimed source degraded beyond re-encoding: blurred, contrast
    /// crushed, shrunk into an inset.
    SourceFrameDegraded {
        /// The row's `clip_id`.
        clip_id: String,
    },
    /// The clip shows the same footage as an earlier clip (of another miner, or of an
    /// earlier interval) under another claimed source: pruned like an overlap, listed in
    /// the decision's notes, never a rejection.
    DuplicateContent {
        /// The row's `clip_id`.
        clip_id: String,
        /// The `clip_id` of the earlier clip it matched.
        matched: String,
    },
    /// YouTube reports the claimed source as not existing, private or removed, twice
    /// (unless configured soft).
    SourceUnavailable {
        /// The row's `clip_id`.
        clip_id: String,
    },
}

impl Failure {
    /// The code without any `:detail` suffix, e.g. `clip_sha256_mismatch`.
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The fieldless code of this failure.
    pub fn kind(&self) -> FailureCode {
        match self {
            Self::MissingCommittedReadCredentials => FailureCode::MissingCommittedReadCredentials,
            Self::MissingSubmissionFiles => FailureCode::MissingSubmissionFiles,
            Self::LateSubmission => FailureCode::LateSubmission,
            Self::ManifestSchemaInvalid => FailureCode::ManifestSchemaInvalid,
            Self::ManifestIdentityMismatch => FailureCode::ManifestIdentityMismatch,
            Self::UnknownSpec { .. } => FailureCode::UnknownSpec,
            Self::IncompatibleSpecVersion { .. } => FailureCode::IncompatibleSpecVersion,
            Self::SpecNotEnabled { .. } => FailureCode::SpecNotEnabled,
            Self::MissingCategoryMetadata => FailureCode::MissingCategoryMetadata,
            Self::UnsupportedCategory { .. } => FailureCode::UnsupportedCategory,
            Self::DatasetSha256Mismatch => FailureCode::DatasetSha256Mismatch,
            Self::DatasetSchemaInvalid => FailureCode::DatasetSchemaInvalid,
            Self::ManifestRecordCountMismatch => FailureCode::ManifestRecordCountMismatch,
            Self::ValidationException => FailureCode::ValidationException,
            Self::NonYoutubeSource { .. } => FailureCode::NonYoutubeSource,
            Self::OverlapLt5s { .. } => FailureCode::OverlapLt5s,
            Self::EmptyCaption { .. } => FailureCode::EmptyCaption,
            Self::ShortCaption { .. } => FailureCode::ShortCaption,
            Self::UrlLikeCaption { .. } => FailureCode::UrlLikeCaption,
            Self::ClipStartGt5000 { .. } => FailureCode::ClipStartGt5000,
            Self::DuplicateClip { .. } => FailureCode::DuplicateClip,
            Self::ValueTooLong { .. } => FailureCode::ValueTooLong,
            Self::InvalidAssetUri { .. } => FailureCode::InvalidAssetUri,
            Self::MissingClipAsset { .. } => FailureCode::MissingClipAsset,
            Self::ClipSha256Mismatch { .. } => FailureCode::ClipSha256Mismatch,
            Self::InvalidResolution { .. } => FailureCode::InvalidResolution,
            Self::InvalidClipMedia { .. } => FailureCode::InvalidClipMedia,
            Self::ClipMetadataMismatch { .. } => FailureCode::ClipMetadataMismatch,
            Self::MissingFirstFrameAsset { .. } => FailureCode::MissingFirstFrameAsset,
            Self::FirstFrameSha256Mismatch { .. } => FailureCode::FirstFrameSha256Mismatch,
            Self::CaptionSemanticInjectionKeyword { .. } => FailureCode::CaptionSemanticInjectionKeyword,
            Self::CaptionSemanticMismatch { .. } => FailureCode::CaptionSemanticMismatch,
            Self::CaptionSemanticResponseInvalid { .. } => FailureCode::CaptionSemanticResponseInvalid,
            Self::CategoryStrictReject { .. } => FailureCode::CategoryStrictReject,
            Self::CategoryStrictFramesMissing { .. } => FailureCode::CategoryStrictFramesMissing,
            Self::CategoryStrictResponseInvalid { .. } => FailureCode::CategoryStrictResponseInvalid,
            Self::SourceFrameMismatch { .. } => FailureCode::SourceFrameMismatch,
            Self::SourceFrameDegraded { .. } => FailureCode::SourceFrameDegraded,
            Self::DuplicateContent { .. } => FailureCode::DuplicateContent,
            Self::SourceUnavailable { .. } => FailureCode::SourceUnavailable,
        }
    }
}

/// A failure code without its detail: the fieldless twin of [`Failure`]. Code strings
/// are spelled here only, so call sites name a variant, never a string literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCode {
    /// `missing_committed_read_credentials`.
    MissingCommittedReadCredentials,
    /// `missing_submission_files`.
    MissingSubmissionFiles,
    /// `late_submission`.
    LateSubmission,
    /// `manifest_schema_invalid`.
    ManifestSchemaInvalid,
    /// `manifest_identity_mismatch`.
    ManifestIdentityMismatch,
    /// `unknown_spec`.
    UnknownSpec,
    /// `incompatible_spec_version`.
    IncompatibleSpecVersion,
    /// `spec_not_enabled`.
    SpecNotEnabled,
    /// `missing_category_metadata`.
    MissingCategoryMetadata,
    /// `unsupported_category`.
    UnsupportedCategory,
    /// `dataset_sha256_mismatch`.
    DatasetSha256Mismatch,
    /// `dataset_schema_invalid`.
    DatasetSchemaInvalid,
    /// `manifest_record_count_mismatch`.
    ManifestRecordCountMismatch,
    /// `validation_exception`.
    ValidationException,
    /// `non_youtube_source`.
    NonYoutubeSource,
    /// `overlap_lt_5s`.
    OverlapLt5s,
    /// `empty_caption`.
    EmptyCaption,
    /// `short_caption`.
    ShortCaption,
    /// `url_like_caption`.
    UrlLikeCaption,
    /// `clip_start_gt_5000`.
    ClipStartGt5000,
    /// `duplicate_clip`.
    DuplicateClip,
    /// `value_too_long`.
    ValueTooLong,
    /// `invalid_asset_uri`.
    InvalidAssetUri,
    /// `missing_clip_asset`.
    MissingClipAsset,
    /// `clip_sha256_mismatch`.
    ClipSha256Mismatch,
    /// `invalid_resolution`.
    InvalidResolution,
    /// `invalid_clip_media`.
    InvalidClipMedia,
    /// `clip_metadata_mismatch`.
    ClipMetadataMismatch,
    /// `missing_first_frame_asset`.
    MissingFirstFrameAsset,
    /// `first_frame_sha256_mismatch`.
    FirstFrameSha256Mismatch,
    /// `caption_semantic_injection_keyword`.
    CaptionSemanticInjectionKeyword,
    /// `caption_semantic_mismatch`.
    CaptionSemanticMismatch,
    /// `caption_semantic_response_invalid`.
    CaptionSemanticResponseInvalid,
    /// `category_strict_reject`.
    CategoryStrictReject,
    /// `category_strict_frames_missing`.
    CategoryStrictFramesMissing,
    /// `category_strict_response_invalid`.
    CategoryStrictResponseInvalid,
    /// `source_frame_mismatch`.
    SourceFrameMismatch,
    /// `source_frame_degraded`.
    SourceFrameDegraded,
    /// `duplicate_content`.
    DuplicateContent,
    /// `source_unavailable`.
    SourceUnavailable,
}

impl FailureCode {
    /// Every code, in the order of [`Failure`]'s variants.
    pub const ALL: [FailureCode; 40] = [
        Self::MissingCommittedReadCredentials,
        Self::MissingSubmissionFiles,
        Self::LateSubmission,
        Self::ManifestSchemaInvalid,
        Self::ManifestIdentityMismatch,
        Self::UnknownSpec,
        Self::IncompatibleSpecVersion,
        Self::SpecNotEnabled,
        Self::MissingCategoryMetadata,
        Self::UnsupportedCategory,
        Self::DatasetSha256Mismatch,
        Self::DatasetSchemaInvalid,
        Self::ManifestRecordCountMismatch,
        Self::ValidationException,
        Self::NonYoutubeSource,
        Self::OverlapLt5s,
        Self::EmptyCaption,
        Self::ShortCaption,
        Self::UrlLikeCaption,
        Self::ClipStartGt5000,
        Self::DuplicateClip,
        Self::ValueTooLong,
        Self::InvalidAssetUri,
        Self::MissingClipAsset,
        Self::ClipSha256Mismatch,
        Self::InvalidResolution,
        Self::InvalidClipMedia,
        Self::ClipMetadataMismatch,
        Self::MissingFirstFrameAsset,
        Self::FirstFrameSha256Mismatch,
        Self::CaptionSemanticInjectionKeyword,
        Self::CaptionSemanticMismatch,
        Self::CaptionSemanticResponseInvalid,
        Self::CategoryStrictReject,
        Self::CategoryStrictFramesMissing,
        Self::CategoryStrictResponseInvalid,
        Self::SourceFrameMismatch,
        Self::SourceFrameDegraded,
        Self::DuplicateContent,
        Self::SourceUnavailable,
    ];

    /// The protocol string of the code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingCommittedReadCredentials => "missing_committed_read_credentials",
            Self::MissingSubmissionFiles => "missing_submission_files",
            Self::LateSubmission => "late_submission",
            Self::ManifestSchemaInvalid => "manifest_schema_invalid",
            Self::ManifestIdentityMismatch => "manifest_identity_mismatch",
            Self::UnknownSpec => "unknown_spec",
            Self::IncompatibleSpecVersion => "incompatible_spec_version",
            Self::SpecNotEnabled => "spec_not_enabled",
            Self::MissingCategoryMetadata => "missing_category_metadata",
            Self::UnsupportedCategory => "unsupported_category",
            Self::DatasetSha256Mismatch => "dataset_sha256_mismatch",
            Self::DatasetSchemaInvalid => "dataset_schema_invalid",
            Self::ManifestRecordCountMismatch => "manifest_record_count_mismatch",
            Self::ValidationException => "validation_exception",
            Self::NonYoutubeSource => "non_youtube_source",
            Self::OverlapLt5s => "overlap_lt_5s",
            Self::EmptyCaption => "empty_caption",
            Self::ShortCaption => "short_caption",
            Self::UrlLikeCaption => "url_like_caption",
            Self::ClipStartGt5000 => "clip_start_gt_5000",
            Self::DuplicateClip => "duplicate_clip",
            Self::ValueTooLong => "value_too_long",
            Self::InvalidAssetUri => "invalid_asset_uri",
            Self::MissingClipAsset => "missing_clip_asset",
            Self::ClipSha256Mismatch => "clip_sha256_mismatch",
            Self::InvalidResolution => "invalid_resolution",
            Self::InvalidClipMedia => "invalid_clip_media",
            Self::ClipMetadataMismatch => "clip_metadata_mismatch",
            Self::MissingFirstFrameAsset => "missing_first_frame_asset",
            Self::FirstFrameSha256Mismatch => "first_frame_sha256_mismatch",
            Self::CaptionSemanticInjectionKeyword => "caption_semantic_injection_keyword",
            Self::CaptionSemanticMismatch => "caption_semantic_mismatch",
            Self::CaptionSemanticResponseInvalid => "caption_semantic_response_invalid",
            Self::CategoryStrictReject => "category_strict_reject",
            Self::CategoryStrictFramesMissing => "category_strict_frames_missing",
            Self::CategoryStrictResponseInvalid => "category_strict_response_invalid",
            Self::SourceFrameMismatch => "source_frame_mismatch",
            Self::SourceFrameDegraded => "source_frame_degraded",
            Self::DuplicateContent => "duplicate_content",
            Self::SourceUnavailable => "source_unavailable",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            Self::UnknownSpec { spec_id } | Self::SpecNotEnabled { spec_id } => {
                write!(f, "{code}:{spec_id}")
            }
            Self::IncompatibleSpecVersion { spec_id, protocol, schema } => {
                write!(f, "{code}:{spec_id}:protocol={protocol}:schema={schema}")
            }
            Self::UnsupportedCategory { category } => write!(f, "{code}:{category}"),
            Self::OverlapLt5s { source, earlier, later } => {
                write!(f, "{code}:{source}:{earlier}:{later}")
            }
            Self::InvalidAssetUri { uri } => write!(f, "{code}:{uri}"),
            Self::DuplicateContent { clip_id, matched } => write!(f, "{code}:{clip_id}:{matched}"),
            Self::ValueTooLong { column, clip_id } => write!(f, "{code}:{column}:{clip_id}"),
            Self::InvalidResolution { clip_id, width, height } => {
                write!(f, "{code}:{clip_id}:{width}x{height}")
            }
            Self::ClipMetadataMismatch { clip_id, field } => {
                write!(f, "{code}:{clip_id}:{}", field.as_str())
            }
            Self::NonYoutubeSource { clip_id }
            | Self::EmptyCaption { clip_id }
            | Self::ShortCaption { clip_id }
            | Self::UrlLikeCaption { clip_id }
            | Self::ClipStartGt5000 { clip_id }
            | Self::DuplicateClip { clip_id }
            | Self::MissingClipAsset { clip_id }
            | Self::ClipSha256Mismatch { clip_id }
            | Self::InvalidClipMedia { clip_id }
            | Self::MissingFirstFrameAsset { clip_id }
            | Self::FirstFrameSha256Mismatch { clip_id }
            | Self::CaptionSemanticInjectionKeyword { clip_id }
            | Self::CaptionSemanticMismatch { clip_id }
            | Self::CaptionSemanticResponseInvalid { clip_id }
            | Self::CategoryStrictReject { clip_id }
            | Self::CategoryStrictFramesMissing { clip_id }
            | Self::CategoryStrictResponseInvalid { clip_id }
            | Self::SourceFrameMismatch { clip_id }
            | Self::SourceFrameDegraded { clip_id }
            | Self::SourceUnavailable { clip_id } => write!(f, "{code}:{clip_id}"),
            _ => f.write_str(code),
        }
    }
}

impl Failure {
    /// The `clip_id` of the one row this failure is about (the later clip of an overlap),
    /// or `None` for package-level failures and asset URIs.
    pub fn clip_id(&self) -> Option<&str> {
        match self {
            Self::OverlapLt5s { later, .. } => Some(later),
            Self::ValueTooLong { clip_id, .. }
            | Self::InvalidResolution { clip_id, .. }
            | Self::ClipMetadataMismatch { clip_id, .. }
            | Self::NonYoutubeSource { clip_id }
            | Self::EmptyCaption { clip_id }
            | Self::ShortCaption { clip_id }
            | Self::UrlLikeCaption { clip_id }
            | Self::ClipStartGt5000 { clip_id }
            | Self::DuplicateClip { clip_id }
            | Self::MissingClipAsset { clip_id }
            | Self::ClipSha256Mismatch { clip_id }
            | Self::InvalidClipMedia { clip_id }
            | Self::MissingFirstFrameAsset { clip_id }
            | Self::FirstFrameSha256Mismatch { clip_id }
            | Self::CaptionSemanticInjectionKeyword { clip_id }
            | Self::CaptionSemanticMismatch { clip_id }
            | Self::CaptionSemanticResponseInvalid { clip_id }
            | Self::CategoryStrictReject { clip_id }
            | Self::CategoryStrictFramesMissing { clip_id }
            | Self::CategoryStrictResponseInvalid { clip_id }
            | Self::SourceFrameMismatch { clip_id }
            | Self::SourceFrameDegraded { clip_id }
            | Self::DuplicateContent { clip_id, .. }
            | Self::SourceUnavailable { clip_id } => Some(clip_id),
            _ => None,
        }
    }

    /// Whether a new caption could fix this failure (the caption rules and the semantic
    /// check).
    pub fn is_caption_failure(&self) -> bool {
        matches!(
            self,
            Self::EmptyCaption { .. }
                | Self::ShortCaption { .. }
                | Self::UrlLikeCaption { .. }
                | Self::CaptionSemanticInjectionKeyword { .. }
                | Self::CaptionSemanticMismatch { .. }
                | Self::CaptionSemanticResponseInvalid { .. }
        )
    }
}

impl Failure {
    /// Whether this failure stands for a model reply without a usable verdict (the codes
    /// an interval with a broken model turns into *unavailable*).
    pub(crate) fn is_unusable_reply(&self) -> bool {
        matches!(self, Self::CaptionSemanticResponseInvalid { .. } | Self::CategoryStrictResponseInvalid { .. })
    }
}

impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The failures of one decision, bounded: the first [`MAX_DECISION_FAILURES`] in order
/// are kept, every failure is counted, in total and per code. A package with a million
/// bad rows costs a few kilobytes here, not a million strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureList {
    kept: Vec<Failure>,
    total: u64,
    by_code: BTreeMap<&'static str, u64>,
}

impl FailureList {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether more failures would still be kept (not only counted).
    pub(crate) fn has_room(&self) -> bool {
        self.kept.len() < MAX_DECISION_FAILURES
    }

    /// Adds a failure.
    pub(crate) fn push(&mut self, failure: Failure) {
        self.count(failure.kind(), 1);
        if self.has_room() {
            self.kept.push(failure);
        }
    }

    /// Adds a failure of `code`, building it only when it will be kept.
    pub(crate) fn push_with<E>(
        &mut self,
        code: FailureCode,
        make: impl FnOnce() -> Result<Failure, E>,
    ) -> Result<(), E> {
        if self.has_room() {
            self.push(make()?);
        } else {
            self.count(code, 1);
        }
        Ok(())
    }

    /// Counts `n` failures of `code` that come after the kept ones, without keeping them.
    pub(crate) fn count(&mut self, code: FailureCode, n: u64) {
        self.total = self.total.saturating_add(n);
        *self.by_code.entry(code.as_str()).or_default() += n;
    }

    /// Whether there is no failure at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many failures were found (kept or not).
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Whether some failures were only counted.
    pub(crate) fn is_truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }

    /// Count per code.
    pub(crate) fn by_code(&self) -> BTreeMap<String, u64> {
        self.by_code.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
    }

    /// The kept failures.
    pub(crate) fn into_kept(self) -> Vec<Failure> {
        self.kept
    }
}

impl Extend<Failure> for FailureList {
    fn extend<T: IntoIterator<Item = Failure>>(&mut self, iter: T) {
        for f in iter {
            self.push(f);
        }
    }
}

impl From<Vec<Failure>> for FailureList {
    fn from(failures: Vec<Failure>) -> Self {
        failures.into_iter().collect()
    }
}

impl FromIterator<Failure> for FailureList {
    fn from_iter<T: IntoIterator<Item = Failure>>(iter: T) -> Self {
        let mut list = Self::new();
        list.extend(iter);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_list_keeps_the_first_ones_and_counts_all() {
        let mut list = FailureList::new();
        for i in 0..1000 {
            list.push(Failure::ShortCaption { clip_id: i.to_string() });
        }
        list.push_with::<()>(FailureCode::EmptyCaption, || panic!("not built once the list is full")).unwrap();
        list.count(FailureCode::DuplicateClip, 5);
        assert_eq!(list.kept.len(), MAX_DECISION_FAILURES);
        assert_eq!(list.kept[255].to_string(), "short_caption:255");
        assert_eq!(list.total(), 1006);
        assert!(list.is_truncated());
        let by_code = list.by_code();
        assert_eq!((by_code["short_caption"], by_code["empty_caption"], by_code["duplicate_clip"]), (1000, 1, 5));
        let small: FailureList = [Failure::DatasetSchemaInvalid].into_iter().collect();
        assert!(!small.is_truncated() && !small.is_empty());
        assert_eq!(
            Failure::ValueTooLong { column: "caption".into(), clip_id: "abc".into() }.to_string(),
            "value_too_long:caption:abc"
        );
    }

    #[test]
    fn string_forms() {
        let id = || "abc".to_string();
        assert_eq!(Failure::DatasetSchemaInvalid.to_string(), "dataset_schema_invalid");
        assert_eq!(
            Failure::IncompatibleSpecVersion {
                spec_id: "video_v1".into(),
                protocol: "1.0.0".into(),
                schema: "2.0.0".into()
            }
            .to_string(),
            "incompatible_spec_version:video_v1:protocol=1.0.0:schema=2.0.0"
        );
        assert_eq!(
            Failure::OverlapLt5s { source: "s".into(), earlier: "a".into(), later: "b".into() }.to_string(),
            "overlap_lt_5s:s:a:b"
        );
        assert_eq!(
            Failure::InvalidResolution { clip_id: id(), width: 854, height: 480 }.to_string(),
            "invalid_resolution:abc:854x480"
        );
        assert_eq!(
            Failure::ClipMetadataMismatch { clip_id: id(), field: MediaField::Fps }.to_string(),
            "clip_metadata_mismatch:abc:fps"
        );
        assert_eq!(Failure::ClipStartGt5000 { clip_id: id() }.to_string(), "clip_start_gt_5000:abc");
        assert_eq!(Failure::SourceFrameMismatch { clip_id: id() }.to_string(), "source_frame_mismatch:abc");
        assert_eq!(Failure::SourceUnavailable { clip_id: id() }.to_string(), "source_unavailable:abc");
        assert_eq!(Failure::SourceFrameDegraded { clip_id: id() }.to_string(), "source_frame_degraded:abc");
        assert_eq!(
            Failure::DuplicateContent { clip_id: id(), matched: "def".into() }.to_string(),
            "duplicate_content:abc:def"
        );
        assert_eq!(serde_json::to_string(&Failure::DuplicateClip { clip_id: id() }).unwrap(), "\"duplicate_clip:abc\"");
    }

    #[test]
    fn every_row_failure_names_its_clip() {
        let degraded = Failure::SourceFrameDegraded { clip_id: "a".into() };
        let duplicate = Failure::DuplicateContent { clip_id: "b".into(), matched: "c".into() };
        assert_eq!((degraded.clip_id(), duplicate.clip_id()), (Some("a"), Some("b")));
        assert_eq!(Failure::LateSubmission.clip_id(), None);
    }

    #[test]
    fn unusable_reply_codes() {
        let f = Failure::CaptionSemanticResponseInvalid { clip_id: "abc".into() };
        assert_eq!(f.to_string(), "caption_semantic_response_invalid:abc");
        assert!(f.is_unusable_reply());
        assert!(Failure::CategoryStrictResponseInvalid { clip_id: "abc".into() }.is_unusable_reply());
        assert!(!Failure::CaptionSemanticMismatch { clip_id: "abc".into() }.is_unusable_reply());
    }
}
