//! One catalog row: a copied clip with everything a dataset user filters on, and the
//! arrow schema of a part file. The interval is the Hive partition (`interval=`) and is
//! not stored in the file; readers add it from the path.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use super::shape::ClipShape;
use crate::bundle::BundleRow;
use crate::bundle::keys::{owner_clip_key, owner_image_key, owner_metadata_key, owner_row_id};
use crate::media::fingerprint::Fingerprint;
use crate::spec::video_v1::columns;
use crate::spec::video_v1::columns::{
    CAPTION, CLIP_ID, CLIP_SHA256, CLIP_START_SEC, DURATION_SEC, FIRST_FRAME_SHA256, FPS, HAS_AUDIO, HEIGHT,
    NUM_FRAMES, SOURCE_VIDEO_ID, SOURCE_VIDEO_URL, WIDTH,
};

/// A copied clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogRow {
    /// The owner row id (UUID text), the `{id}` of its objects.
    pub id: String,
    /// Owner-bucket key of `clip.mp4`.
    pub clip_key: String,
    /// Owner-bucket key of `first_image.jpg`.
    pub image_key: String,
    /// Owner-bucket key of `metadata.json`.
    pub metadata_key: String,
    /// The miner's clip id.
    pub clip_id: String,
    /// The clip's caption.
    pub caption: String,
    /// Id of the source video (YouTube id).
    pub source_video_id: String,
    /// URL of the source video.
    pub source_video_url: String,
    /// Where the clip starts in its source, seconds.
    pub clip_start_sec: f64,
    /// Clip length in seconds, when the bundle has it.
    pub duration_sec: Option<f64>,
    /// Frame width in pixels, when known.
    pub width: Option<i64>,
    /// Frame height in pixels, when known.
    pub height: Option<i64>,
    /// Frames per second, when known.
    pub fps: Option<f64>,
    /// Frames in the clip, when known.
    pub num_frames: Option<i64>,
    /// Whether the clip has an audio track, when known.
    pub has_audio: Option<bool>,
    /// Hex sha256 of the clip file.
    pub clip_sha256: String,
    /// Hex sha256 of the first-frame image.
    pub first_frame_sha256: String,
    /// Size of the clip file in bytes.
    pub clip_bytes: u64,
    /// Size of the first-frame image in bytes.
    pub image_bytes: u64,
    /// The partition; not a column of the part file.
    pub interval: u64,
    /// The miner whose bundle held the row (SS58).
    pub miner_hotkey: String,
    /// The validator whose acceptance published the bundle, when known.
    pub validator_hotkey: Option<String>,
    /// When the row was copied (unix microseconds, UTC), from the recorded state.
    pub copied_at_us: Option<i64>,
    /// Perceptual hash of the first image (16 hex digits, [`crate::media::fingerprint`]),
    /// for deduplicating footage; `None` for an image without structure or a row copied
    /// before the column existed.
    #[serde(default)]
    pub content_fingerprint: Option<String>,
}

/// The bundle a catalog row comes from: its interval, miner and accepting validator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowBundle<'a> {
    /// The bundle's interval (the partition).
    pub(crate) interval: u64,
    /// The miner whose bundle it is.
    pub(crate) miner_hotkey: &'a str,
    /// The validator whose acceptance published the bundle, when known.
    pub(crate) validator_hotkey: Option<&'a str>,
}

/// What copying a row left in the owner bucket.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CopiedObjects {
    /// Size of `clip.mp4`.
    pub(crate) clip_bytes: u64,
    /// Size of `first_image.jpg`.
    pub(crate) image_bytes: u64,
    /// When the row was copied (unix microseconds, UTC), when known.
    pub(crate) copied_at_us: Option<i64>,
    /// The first image's perceptual hash, when it has one.
    pub(crate) content_fingerprint: Option<Fingerprint>,
}

impl CatalogRow {
    /// The catalog row of a bundle row copied to the owner bucket: its owner id and keys,
    /// the miner's fields, the clip's shape and the copied objects.
    pub(crate) fn of_bundle_row(
        row: &BundleRow,
        shape: &ClipShape,
        bundle: RowBundle<'_>,
        copied: CopiedObjects,
    ) -> Self {
        let id = owner_row_id(bundle.miner_hotkey, bundle.interval, &row.clip_id);
        Self {
            clip_key: owner_clip_key(&id),
            image_key: owner_image_key(&id),
            metadata_key: owner_metadata_key(&id),
            id,
            clip_id: row.clip_id.clone(),
            caption: row.caption.clone(),
            source_video_id: row.source_video_id.clone(),
            source_video_url: row.source_video_url.clone(),
            clip_start_sec: row.clip_start_sec,
            duration_sec: shape.duration_sec,
            width: shape.width,
            height: shape.height,
            fps: shape.fps,
            num_frames: shape.num_frames,
            has_audio: shape.has_audio,
            clip_sha256: row.clip_sha256.clone(),
            first_frame_sha256: row.first_frame_sha256.clone(),
            clip_bytes: copied.clip_bytes,
            image_bytes: copied.image_bytes,
            interval: bundle.interval,
            miner_hotkey: bundle.miner_hotkey.to_string(),
            validator_hotkey: bundle.validator_hotkey.map(str::to_string),
            copied_at_us: copied.copied_at_us,
            content_fingerprint: copied.content_fingerprint.map(|f| f.to_string()),
        }
    }
}

/// Column names of a part file, in order: the `video_v1` columns a dataset user filters
/// on keep their spec names.
pub(crate) const COLUMNS: [&str; 23] = [
    "id",
    "clip_key",
    "image_key",
    "metadata_key",
    columns::CLIP_ID,
    columns::CAPTION,
    columns::SOURCE_VIDEO_ID,
    columns::SOURCE_VIDEO_URL,
    columns::CLIP_START_SEC,
    columns::DURATION_SEC,
    columns::WIDTH,
    columns::HEIGHT,
    columns::FPS,
    columns::NUM_FRAMES,
    columns::HAS_AUDIO,
    columns::CLIP_SHA256,
    columns::FIRST_FRAME_SHA256,
    "clip_bytes",
    "image_bytes",
    "miner_hotkey",
    "validator_hotkey",
    "copied_at",
    "content_fingerprint",
];

/// The schema of a part file (the interval comes from the path): [`COLUMNS`] with their
/// types and nullability.
pub(crate) fn part_schema() -> SchemaRef {
    let (text, float, int) = (DataType::Utf8, DataType::Float64, DataType::Int64);
    let types: [(DataType, bool); 23] = [
        (text.clone(), false),
        (text.clone(), false),
        (text.clone(), false),
        (text.clone(), false),
        (text.clone(), false),
        (text.clone(), false),
        (text.clone(), false),
        (text.clone(), false),
        (float.clone(), false),
        (float.clone(), true),
        (int.clone(), true),
        (int.clone(), true),
        (float, true),
        (int.clone(), true),
        (DataType::Boolean, true),
        (text.clone(), false),
        (text.clone(), false),
        (int.clone(), false),
        (int, false),
        (text.clone(), false),
        (text.clone(), true),
        (DataType::Timestamp(TimeUnit::Microsecond, None), true),
        (text, true),
    ];
    let fields: Vec<Field> =
        COLUMNS.iter().zip(types).map(|(name, (kind, nullable))| Field::new(*name, kind, nullable)).collect();
    Arc::new(Schema::new(fields))
}

fn text_array(rows: &[CatalogRow], f: impl Fn(&CatalogRow) -> Option<&str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 32);
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

fn f64_array(rows: &[CatalogRow], f: impl Fn(&CatalogRow) -> Option<f64>) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(rows.len());
    rows.iter().for_each(|r| b.append_option(f(r)));
    Arc::new(b.finish())
}

fn i64_array(rows: &[CatalogRow], f: impl Fn(&CatalogRow) -> Option<i64>) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(rows.len());
    rows.iter().for_each(|r| b.append_option(f(r)));
    Arc::new(b.finish())
}

fn size(v: u64) -> Option<i64> {
    Some(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The rows as one record batch of [`part_schema`].
pub(crate) fn to_batch(rows: &[CatalogRow]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut audio = BooleanBuilder::with_capacity(rows.len());
    rows.iter().for_each(|r| audio.append_option(r.has_audio));
    let mut copied = TimestampMicrosecondBuilder::with_capacity(rows.len());
    rows.iter().for_each(|r| copied.append_option(r.copied_at_us));
    let columns: Vec<ArrayRef> = vec![
        text_array(rows, |r| Some(&r.id)),
        text_array(rows, |r| Some(&r.clip_key)),
        text_array(rows, |r| Some(&r.image_key)),
        text_array(rows, |r| Some(&r.metadata_key)),
        text_array(rows, |r| Some(&r.clip_id)),
        text_array(rows, |r| Some(&r.caption)),
        text_array(rows, |r| Some(&r.source_video_id)),
        text_array(rows, |r| Some(&r.source_video_url)),
        f64_array(rows, |r| Some(r.clip_start_sec)),
        f64_array(rows, |r| r.duration_sec),
        i64_array(rows, |r| r.width),
        i64_array(rows, |r| r.height),
        f64_array(rows, |r| r.fps),
        i64_array(rows, |r| r.num_frames),
        Arc::new(audio.finish()),
        text_array(rows, |r| Some(&r.clip_sha256)),
        text_array(rows, |r| Some(&r.first_frame_sha256)),
        i64_array(rows, |r| size(r.clip_bytes)),
        i64_array(rows, |r| size(r.image_bytes)),
        text_array(rows, |r| Some(&r.miner_hotkey)),
        text_array(rows, |r| r.validator_hotkey.as_deref()),
        Arc::new(copied.finish()),
        text_array(rows, |r| r.content_fingerprint.as_deref()),
    ];
    RecordBatch::try_new(part_schema(), columns)
}

impl CatalogRow {
    /// The sample's JSON in a WebDataset export: every column plus `interval`, with
    /// `copied_at` as RFC 3339 text.
    pub fn to_json(&self) -> Vec<u8> {
        let copied_at = self
            .copied_at_us
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        let value = serde_json::json!({
            "id": self.id,
            "clip_key": self.clip_key,
            "image_key": self.image_key,
            "metadata_key": self.metadata_key,
            CLIP_ID: self.clip_id,
            CAPTION: self.caption,
            SOURCE_VIDEO_ID: self.source_video_id,
            SOURCE_VIDEO_URL: self.source_video_url,
            CLIP_START_SEC: self.clip_start_sec,
            DURATION_SEC: self.duration_sec,
            WIDTH: self.width,
            HEIGHT: self.height,
            FPS: self.fps,
            NUM_FRAMES: self.num_frames,
            HAS_AUDIO: self.has_audio,
            CLIP_SHA256: self.clip_sha256,
            FIRST_FRAME_SHA256: self.first_frame_sha256,
            "clip_bytes": self.clip_bytes,
            "image_bytes": self.image_bytes,
            "interval": self.interval,
            "miner_hotkey": self.miner_hotkey,
            "validator_hotkey": self.validator_hotkey,
            "copied_at": copied_at,
            "content_fingerprint": self.content_fingerprint,
        });
        serde_json::to_vec(&value).unwrap_or_default()
    }
}
