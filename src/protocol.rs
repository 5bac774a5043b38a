//! Protocol constants (protocol §1) and block-interval arithmetic (protocol §2).
//!
//! Every block constant lives in [`IntervalClock`] so local networks and tests can
//! override it explicitly; the defaults are the live-network values. The typed identities
//! ([`IntervalId`], [`Block`], [`Epoch`], [`HotkeyAddr`], [`PackageKey`]) live in [`ids`].

pub mod ids;

pub use ids::{Block, Epoch, HotkeyAddr, IntervalId, PackageKey};

/// Protocol version supported by `video_v1`.
pub const PROTOCOL_VERSION: &str = "1.0.0";
/// The weights version key this release sends (`NEXIS_WEIGHTS_VERSION_KEY` unset): the
/// protocol version above in the SDK's `100 × major + 10 × minor + patch` form. A subnet that
/// moves to a newer protocol raises `WeightsVersionKey` above it, and this release then stops
/// committing weights (see `chain::weight_rules::VersionKeyPolicy`).
pub const WEIGHTS_VERSION_KEY: u64 = 100;
/// Schema version supported by `video_v1`.
pub const SCHEMA_VERSION: &str = "1.0.0";
/// Declared clip duration in seconds.
pub(crate) const CLIP_DURATION_SEC: f64 = 5.0;
/// Tolerance on the real (probed) duration (inclusive).
pub(crate) const MEDIA_DURATION_TOLERANCE_SEC: f64 = 0.25;
/// Relative tolerance between the probed and the declared frame rate.
pub(crate) const MEDIA_FPS_RELATIVE_TOLERANCE: f64 = 0.01;
/// Tolerance subtracted from the clip duration for the start-to-start distance.
pub(crate) const OVERLAP_TOLERANCE_SEC: f64 = 0.5;
/// Minimum start-to-start distance between two clips of one source.
pub(crate) const MIN_START_DISTANCE_SEC: f64 = CLIP_DURATION_SEC - OVERLAP_TOLERANCE_SEC;
/// Latest allowed clip start.
pub(crate) const MAX_CLIP_START_SEC: f64 = 5000.0;
/// Minimum caption length in whitespace-separated words.
pub(crate) const MIN_CAPTION_WORDS: usize = 20;
/// Required clip width.
pub(crate) const REQUIRED_WIDTH: u32 = 1280;
/// Required clip height.
pub(crate) const REQUIRED_HEIGHT: u32 = 720;
/// Miners sampled per interval.
pub const MAX_MINERS_PER_INTERVAL: usize = 35;
/// Default cap on sampled rows per miner (`NEXIS_VALIDATOR_ROW_SAMPLE_MAX`).
pub const DEFAULT_ROW_SAMPLE_MAX: usize = 3;
/// Default size cap of a downloaded `manifest.json`, bytes.
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Default size cap of a downloaded `dataset.parquet` (`NEXIS_VALIDATOR_MAX_DATASET_BYTES`), bytes.
pub const DEFAULT_MAX_DATASET_BYTES: u64 = 256 << 20;
/// Default most rows a dataset may declare (`NEXIS_VALIDATOR_MAX_DATASET_ROWS`).
pub const DEFAULT_MAX_DATASET_ROWS: u64 = 2_000_000;
/// Default size cap of one downloaded clip (`NEXIS_VALIDATOR_MAX_CLIP_BYTES`), bytes.
pub const DEFAULT_MAX_CLIP_BYTES: u64 = 64 << 20;
/// Default size cap of one downloaded or extracted frame (`NEXIS_VALIDATOR_MAX_FRAME_BYTES`), bytes.
pub const DEFAULT_MAX_FRAME_BYTES: u64 = 8 << 20;
/// The category every package must carry by default.
pub const DEFAULT_CATEGORY: &str = "nature_landscape_scenery";
/// The default dataset spec.
pub const DEFAULT_SPEC_ID: &str = "video_v1";

/// Block-interval arithmetic with overridable constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalClock {
    /// Interval length in blocks (50 on the live network).
    pub interval_blocks: u64,
    /// Blocks after an interval's end before it may be validated (2).
    pub upload_reserve_blocks: u64,
    /// Weight epoch length in blocks (250).
    pub weight_epoch_blocks: u64,
    /// Block time in seconds, for estimating timestamps (12).
    pub block_time_sec: u64,
}

impl Default for IntervalClock {
    fn default() -> Self {
        Self { interval_blocks: 50, upload_reserve_blocks: 2, weight_epoch_blocks: 250, block_time_sec: 12 }
    }
}

impl IntervalClock {
    /// The interval containing `block`.
    pub fn interval_start(&self, block: Block) -> IntervalId {
        let b = block.get();
        IntervalId::new(b - b % self.interval_blocks)
    }

    /// The interval after `interval`.
    pub fn next_interval(&self, interval: IntervalId) -> IntervalId {
        IntervalId::new(interval.get() + self.interval_blocks)
    }

    /// The block whose timestamp is the upload deadline of `interval`.
    pub(crate) fn deadline_block(&self, interval: IntervalId) -> Block {
        Block::new(interval.get() + self.interval_blocks + self.upload_reserve_blocks)
    }

    /// Latest interval that may be evaluated at `block`, if any.
    pub(crate) fn latest_closed(&self, block: Block) -> Option<IntervalId> {
        let usable = block.get().checked_sub(self.upload_reserve_blocks)?;
        if usable < self.interval_blocks {
            return None;
        }
        Some(IntervalId::new(usable / self.interval_blocks * self.interval_blocks - self.interval_blocks))
    }

    /// First block of `epoch`.
    pub(crate) fn epoch_start(&self, epoch: Epoch) -> Block {
        Block::new(epoch.get() * self.weight_epoch_blocks)
    }

    /// Weight epoch of `block`.
    pub(crate) fn weight_epoch(&self, block: Block) -> Epoch {
        Epoch::new(block.get() / self.weight_epoch_blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_start_and_closing() {
        let c = IntervalClock::default();
        assert_eq!(c.interval_start(Block::new(7_756_849)), IntervalId::new(7_756_800));
        assert_eq!(c.interval_start(Block::new(7_756_850)), IntervalId::new(7_756_850));
        assert_eq!(c.deadline_block(IntervalId::new(100)), Block::new(152));
        assert_eq!(c.next_interval(IntervalId::new(100)), IntervalId::new(150));
    }

    #[test]
    fn latest_closed_interval() {
        let c = IntervalClock::default();
        let closed = |b: u64| c.latest_closed(Block::new(b)).map(IntervalId::get);
        assert_eq!(closed(0), None);
        assert_eq!(closed(51), None);
        assert_eq!(closed(52), Some(0));
        assert_eq!(closed(101), Some(0));
        assert_eq!(closed(102), Some(50));
        // Consistent with the upload deadline for every block in a range: the latest closed
        // interval's deadline has passed, the next interval's has not.
        for b in (0..1000u64).map(Block::new) {
            if let Some(s) = c.latest_closed(b) {
                assert!(b >= c.deadline_block(s));
                assert!(b < c.deadline_block(c.next_interval(s)));
            }
        }
    }

    #[test]
    fn weight_epochs() {
        let c = IntervalClock::default();
        assert_eq!(c.weight_epoch(Block::new(249)), Epoch::new(0));
        assert_eq!(c.weight_epoch(Block::new(250)), Epoch::new(1));
    }

    #[test]
    fn min_start_distance_is_duration_minus_overlap_tolerance() {
        assert_eq!(MIN_START_DISTANCE_SEC, 4.5);
    }
}
