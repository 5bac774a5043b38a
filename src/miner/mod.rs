//! The miner: sources, yt-dlp downloads, ffmpeg clips, captions, the interval package and
//! its upload in the protocol's order (§5, §6, §7, §14).

pub mod caption;
pub mod clipper;
pub mod discover;
pub mod download;
pub mod ledger;
pub mod metrics;
pub mod package;
pub mod precheck;
pub(crate) mod run;
pub mod self_check;
pub mod sources;

pub use run::{MineError, MineReport, Miner, MinerSettings};
pub use self_check::SelfCheck;
