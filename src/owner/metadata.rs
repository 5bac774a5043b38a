//! The `metadata.json` written beside each clip in the owner dataset bucket (protocol §13).

use serde::Serialize;

use crate::bundle::BundleRow;
use crate::index::snapshot::seconds_to_ms;

/// The `metadata.json` of an owner row, fields in protocol order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct OwnerMetadata {
    pub(crate) source_id: String,
    pub(crate) source_url: String,
    /// The clip start in seconds, rounded to 3 decimals.
    pub(crate) first_image_position: f64,
    pub(crate) caption: String,
}

impl OwnerMetadata {
    /// The metadata of `row`; `None` when its start is not a usable number.
    pub(crate) fn of(row: &BundleRow) -> Option<Self> {
        let ms = seconds_to_ms(row.clip_start_sec)?;
        Some(Self {
            source_id: row.source_video_id.clone(),
            source_url: row.source_video_url.clone(),
            first_image_position: ms as f64 / 1000.0,
            caption: row.caption.clone(),
        })
    }

    /// 2-space indented JSON.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // A struct of strings and a finite float always serialises.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(start: f64) -> BundleRow {
        BundleRow {
            clip_id: "c".into(),
            clip_uri: "clips/c.mp4".into(),
            clip_sha256: String::new(),
            first_frame_uri: "frames/c.jpg".into(),
            first_frame_sha256: String::new(),
            source_video_id: "abc".into(),
            source_video_url: "https://youtu.be/abc".into(),
            clip_start_sec: start,
            caption: "a caption".into(),
        }
    }

    #[test]
    fn position_has_three_decimals_and_fields_keep_protocol_order() {
        let m = OwnerMetadata::of(&row(12.3456)).expect("metadata");
        assert_eq!(m.first_image_position, 12.346);
        let text = String::from_utf8(m.to_json()).expect("utf-8");
        assert_eq!(
            text,
            "{\n  \"source_id\": \"abc\",\n  \"source_url\": \"https://youtu.be/abc\",\n  \
             \"first_image_position\": 12.346,\n  \"caption\": \"a caption\"\n}"
        );
        assert_eq!(OwnerMetadata::of(&row(0.0)).expect("zero").first_image_position, 0.0);
        assert!(OwnerMetadata::of(&row(f64::NAN)).is_none());
        assert!(OwnerMetadata::of(&row(-1.0)).is_none());
    }
}
