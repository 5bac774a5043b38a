//! What one package validation needs to know: who, which interval, what to require, and
//! the limits that keep hostile packages bounded.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::dataset::ReadLimits;
use crate::dataset::memory::{DEFAULT_BUDGET_BYTES, MemoryBudget};
use crate::protocol::{
    DEFAULT_MAX_CLIP_BYTES, DEFAULT_MAX_DATASET_BYTES, DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_MANIFEST_BYTES,
    DEFAULT_ROW_SAMPLE_MAX, HotkeyAddr, IntervalId,
};

/// What every package of one interval is held to; built once per interval and shared
/// (behind an `Arc`) by all of its package evaluations.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalTerms {
    /// The interval's first block (protocol §2).
    pub interval_id: IntervalId,
    /// Seeds row sampling together with the interval seed.
    pub validator_hotkey: Option<HotkeyAddr>,
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

/// The package to validate: whose, and the interval's terms it must meet.
#[derive(Debug, Clone)]
pub struct PackageRequest {
    /// SS58 hotkey of the miner whose bucket holds the package.
    pub miner_hotkey: HotkeyAddr,
    /// The interval's terms, shared with the other packages of the interval.
    pub terms: Arc<IntervalTerms>,
}

impl PackageRequest {
    /// The package of `miner_hotkey` under `terms`.
    pub fn new(miner_hotkey: impl Into<HotkeyAddr>, terms: Arc<IntervalTerms>) -> Self {
        Self { miner_hotkey: miner_hotkey.into(), terms }
    }

    /// The interval the package belongs to.
    pub fn interval_id(&self) -> u64 {
        self.terms.interval_id.get()
    }

    /// The terms, for changing them for this request alone.
    pub fn terms_mut(&mut self) -> &mut IntervalTerms {
        Arc::make_mut(&mut self.terms)
    }
}

/// Size caps and fan-out limits for one package, and the memory budget its dataset load
/// shares with the other loads under the same limits.
#[derive(Debug, Clone)]
pub struct PackageLimits {
    /// Size cap of `manifest.json`, bytes.
    pub max_manifest_bytes: u64,
    /// Size cap of `dataset.parquet`, bytes.
    pub max_dataset_bytes: u64,
    /// Size cap of one clip, bytes.
    pub max_clip_bytes: u64,
    /// Size cap of one first frame, bytes.
    pub max_frame_bytes: u64,
    /// Bounds of decoding the dataset (rows, decoded bytes).
    pub read: ReadLimits,
    /// RAM shared by concurrent dataset loads (`--memory-budget-mib`); clones share it.
    pub memory: Arc<MemoryBudget>,
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
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            max_dataset_bytes: DEFAULT_MAX_DATASET_BYTES,
            max_clip_bytes: DEFAULT_MAX_CLIP_BYTES,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            read: ReadLimits::default(),
            memory: MemoryBudget::new(DEFAULT_BUDGET_BYTES),
            row_sample_max: DEFAULT_ROW_SAMPLE_MAX,
            asset_concurrency: 4,
            extra_samples: crate::validator::sampling::DEFAULT_EXTRA_SAMPLES,
        }
    }
}
