//! In-process MP4 probing: the facts the asset checks need, read from the file's boxes
//! and the video track's sample tables instead of a `ffprobe` process per clip.
//!
//! The parser is Mozilla's `mp4parse` (the one Firefox ships to read MP4 from any web
//! page): it is written for untrusted input, allocates fallibly, and is fuzzed. Around it,
//! this module reads the top-level layout and checks every table's declared size before
//! `mp4parse` sees the `moov` box, then reads what ffprobe would report: the H.264
//! sequence parameter set's picture size, the sample count (`-count_packets`), the frame
//! rate and duration from the sample durations, and whether an audio track exists.
//!
//! It answers only when the file is plain: one H.264 video track, no fragments, tables
//! that agree, an edit list that keeps every frame, every sample inside the file. Anything
//! else ([`Unusual`]) is handed to ffprobe, so both probes reach the same decision.

mod boxes;
mod h264;
mod track;

use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mp4parse::{CodecType, SampleEntry, TrackType, VideoCodecSpecific};

use super::probe::{Ffprobe, MediaError, MediaProbe, VideoInfo};

/// Largest `moov` box read into memory (a 5-second clip's is a few kilobytes).
pub const DEFAULT_MAX_MOOV_BYTES: u64 = 16 << 20;

/// Why a file is left to ffprobe: it is not a plain MP4 this probe reads with certainty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusual(String);

impl Unusual {
    pub(crate) fn new(why: impl Into<String>) -> Self {
        Self(why.into())
    }
}

/// Reads the facts of the MP4 file at `path` in process, or says why it cannot be sure.
pub fn inspect(path: &Path, max_moov_bytes: u64) -> Result<VideoInfo, Unusual> {
    let file = File::open(path).map_err(|e| Unusual::new(format!("cannot open: {e}")))?;
    let len = file.metadata().map_err(|e| Unusual::new(format!("cannot stat: {e}")))?.len();
    let layout = boxes::layout(&file, len)?;
    let moov = boxes::read_moov(&file, &layout, max_moov_bytes)?;
    boxes::check_tables(&moov)?;
    let context = mp4parse::read_mp4(&mut Cursor::new(&moov)).map_err(|e| Unusual::new(format!("mp4parse: {e:?}")))?;
    if context.mvex.is_some() {
        return Err(Unusual::new("fragmented MP4 (mvex)"));
    }
    let mut videos = context.tracks.iter().filter(|t| t.track_type == TrackType::Video);
    let (Some(video), None) = (videos.next(), videos.next()) else {
        return Err(Unusual::new("not exactly one video track"));
    };
    let (width, height, nal_length_size) = picture(video)?;
    let timing = track::timing(video)?;
    let edits = boxes::edits(&moov, video.id)?;
    let movie_timescale = context.timescale.map_or(0, |t| t.0);
    track::check_edits(video, &edits, &timing, movie_timescale)?;
    let extents = track::sample_extents(video, timing.samples, len)?;
    track::check_nal_units(&file, &extents, nal_length_size)?;
    Ok(VideoInfo {
        width,
        height,
        duration_sec: Some(timing.duration()),
        fps: Some(timing.fps()),
        frame_count: Some(timing.samples),
        has_audio: context.tracks.iter().any(|t| t.track_type == TrackType::Audio),
        codec: Some("h264".into()),
    })
}

/// The picture size of an H.264 track: its sequence parameter set's, which must agree
/// with the sample entry; and the NAL length prefix size.
fn picture(video: &mp4parse::Track) -> Result<(u32, u32, usize), Unusual> {
    let stsd = video.stsd.as_ref().ok_or_else(|| Unusual::new("no stsd"))?;
    let [SampleEntry::Video(entry)] = stsd.descriptions.as_slice() else {
        return Err(Unusual::new("not exactly one video sample entry"));
    };
    let (CodecType::H264, VideoCodecSpecific::AVCConfig(avcc)) = (entry.codec_type, &entry.codec_specific) else {
        return Err(Unusual::new(format!("codec {:?} is not H.264 with avcC", entry.codec_type)));
    };
    let config = h264::avc_config(avcc)?;
    if (config.width, config.height) != (u32::from(entry.width), u32::from(entry.height)) {
        return Err(Unusual::new(format!(
            "sample entry says {}x{}, the SPS {}x{}",
            entry.width, entry.height, config.width, config.height
        )));
    }
    Ok((config.width, config.height, config.nal_length_size))
}

/// The probe `check` and `validate` use by default: [`inspect`] in process (off the async
/// runtime), ffprobe for every file it is not sure of.
#[derive(Debug, Clone)]
pub struct NativeProbe {
    fallback: Ffprobe,
    timeout: Duration,
    max_moov_bytes: u64,
    counts: Arc<ProbeCounts>,
}

/// How many files a [`NativeProbe`] read itself and how many it left to ffprobe.
#[derive(Debug, Default)]
pub struct ProbeCounts {
    native: AtomicU64,
    fallback: AtomicU64,
}

impl ProbeCounts {
    /// Files read in process.
    pub fn native(&self) -> u64 {
        self.native.load(Ordering::Relaxed)
    }

    /// Files handed to ffprobe.
    pub fn fallback(&self) -> u64 {
        self.fallback.load(Ordering::Relaxed)
    }
}

impl NativeProbe {
    /// A native probe falling back to `fallback`; `timeout` bounds one in-process read.
    pub fn new(fallback: Ffprobe, timeout: Duration) -> Self {
        Self { fallback, timeout, max_moov_bytes: DEFAULT_MAX_MOOV_BYTES, counts: Arc::default() }
    }

    /// The counts of native reads and fallbacks so far.
    pub fn counts(&self) -> Arc<ProbeCounts> {
        self.counts.clone()
    }

    async fn read(&self, path: &Path) -> Result<VideoInfo, Unusual> {
        let owned: PathBuf = path.to_path_buf();
        let cap = self.max_moov_bytes;
        match tokio::time::timeout(self.timeout, tokio::task::spawn_blocking(move || inspect(&owned, cap))).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Unusual::new(format!("the MP4 reader failed: {join}"))),
            Err(_) => Err(Unusual::new(format!("the MP4 reader took over {:?}", self.timeout))),
        }
    }
}

#[async_trait]
impl MediaProbe for NativeProbe {
    async fn probe(&self, path: &Path) -> Result<VideoInfo, MediaError> {
        match self.read(path).await {
            Ok(info) => {
                self.counts.native.fetch_add(1, Ordering::Relaxed);
                Ok(info)
            }
            Err(why) => {
                self.counts.fallback.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(path = %path.display(), reason = %why, "MP4 left to ffprobe");
                self.fallback.probe(path).await
            }
        }
    }
}
