//! What one package validation needs to know: who, which interval, what to require, and
//! the limits that keep hostile packages bounded.

use chrono::{DateTime, Utc};

use crate::dataset::ReadLimits;
use crate::protocol::DEFAULT_ROW_SAMPLE_MAX;

/// The package to validate and the expectations it must meet.
#[derive(Debug, Clone)]
pub struct PackageRequest {
    pub miner_hotkey: String,
    pub interval_id: u64,
    /// Seeds row sampling together with the interval seed.
    pub validator_hotkey: Option<String>,
    /// Lowercase hex interval seed (protocol §9).
    pub interval_seed: String,
    /// Required category; `None` means no category is required.
    pub expected_category: Option<String>,
    /// Specs enabled on this validator.
    pub enabled_specs: Vec<String>,
    /// Latest acceptable `manifest.json` LastModified (deadline plus grace), if known.
    pub upload_deadline: Option<DateTime<Utc>>,
    /// Lowercase hex hash of the deadline block, seeding the unpredictable extra samples
    /// (§9 rev. 2); `None` means no extra samples.
    pub extra_sample_seed: Option<String>,
}

/// Size caps and fan-out limits for one package.
#[derive(Debug, Clone, Copy)]
pub struct PackageLimits {
    pub max_manifest_bytes: u64,
    pub max_dataset_bytes: u64,
    pub max_clip_bytes: u64,
    pub max_frame_bytes: u64,
    pub read: ReadLimits,
    /// Cap on sampled rows per miner (`NEXIS_VALIDATOR_ROW_SAMPLE_MAX`).
    pub row_sample_max: usize,
    /// Sampled rows verified at once.
    pub asset_concurrency: usize,
    /// Unpredictable extra rows checked per miner (`NEXIS_VALIDATOR_EXTRA_SAMPLES`).
    pub extra_samples: usize,
}

impl Default for PackageLimits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 1 << 20,
            max_dataset_bytes: 256 << 20,
            max_clip_bytes: 64 << 20,
            max_frame_bytes: 8 << 20,
            read: ReadLimits::default(),
            row_sample_max: DEFAULT_ROW_SAMPLE_MAX,
            asset_concurrency: 4,
            extra_samples: crate::validator::sampling::DEFAULT_EXTRA_SAMPLES,
        }
    }
}
