//! The failure codes of protocol §8: one enum value per code, one string form each.

use std::fmt;

use serde::{Serialize, Serializer};

mod list;

pub use list::FailureList;

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

#[cfg(test)]
mod tests;
