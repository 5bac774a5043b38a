//! Media: the validator's clip probe (MP4 read in process, `ffprobe` for anything
//! unusual), `ffmpeg` (through `ffmpeg-sidecar`) for the miner's clips and frames, and
//! `yt-dlp` for its downloads. Tools are system binaries; nothing is ever downloaded.

pub mod compare;
pub mod ffmpeg;
pub mod fingerprint;
pub mod instants;
mod jpeg;
mod mp4;
mod probe;
pub mod synth;
pub mod ytdlp;

pub use mp4::{DEFAULT_MAX_MOOV_BYTES, NativeProbe, ProbeCounts, Unusual, inspect};
pub use probe::{Ffprobe, MediaError, MediaProbe, VideoInfo};

/// How to install ffmpeg/ffprobe on this kind of machine.
pub(crate) const FFMPEG_INSTALL_HINT: &str = "install it with `apt-get install -y ffmpeg` (Debian/Ubuntu) or `brew install ffmpeg` (macOS), or set NEXIS_FFPROBE to its path";
