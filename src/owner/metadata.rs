//! The `metadata.json` written beside each clip in the owner dataset bucket (protocol §13).

use serde::Serialize;

use super::bundle::BundleRow;
use crate::index::snapshot::seconds_to_ms;

/// The `metadata.json` of an owner row, fields in protocol order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnerMetadata {
    pub source_id: String,
    pub source_url: String,
    /// The clip start in seconds, rounded to 3 decimals.
    pub first_image_position: f64,
    pub caption: String,
}

impl OwnerMetadata {
    /// The metadata of `row`; `None` when its start is not a usable number.
    pub fn of(row: &BundleRow) -> Option<Self> {
        let ms = seconds_to_ms(row.clip_start_sec)?;
        Some(Self {
            source_id: row.source_video_id.clone(),
            source_url: row.source_video_url.clone(),
            first_image_position: ms as f64 / 1000.0,
            caption: row.caption.clone(),
        })
    }

    /// 2-space indented JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and a finite float always serialises.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}
