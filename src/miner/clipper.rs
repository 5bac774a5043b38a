//! Cutting clips: every 5-second segment `[k*5, k*5+5)` of a source that starts at most at
//! 5000 s and was not packaged before, re-encoded by ffmpeg (through `ffmpeg-sidecar`,
//! reporting its encode progress) to exactly 1280x720 H.264 (AAC when the source has
//! audio), its first frame as JPEG, then the *clip* probed for the values the dataset
//! declares.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::sources::Source;
use crate::media::ffmpeg::{FfmpegRun, clip_command, first_frame};
use crate::media::{MediaError, MediaProbe, VideoInfo};
use crate::model::deterministic_clip_id;
use crate::protocol::{
    CLIP_DURATION_SEC, MAX_CLIP_START_SEC, MEDIA_DURATION_TOLERANCE_SEC, REQUIRED_HEIGHT, REQUIRED_WIDTH,
};

/// Why one clip could not be made (the clip is skipped, never the interval).
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// ffmpeg or ffprobe failed on the clip.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The cut clip breaks a protocol rule (length, size, streams).
    #[error("the cut clip is {0}, not what the protocol requires")]
    Unfit(String),
    /// A clip file could not be read or written.
    #[error("clip I/O on {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
}

/// A finished clip on disk, probed and hashed.
#[derive(Debug, Clone)]
pub struct CutClip {
    pub(crate) source: Source,
    pub(crate) start: f64,
    pub(crate) clip_id: String,
    /// Where the encoded clip is on disk.
    pub clip_path: PathBuf,
    pub(crate) frame_path: PathBuf,
    pub(crate) clip_sha256: String,
    pub(crate) frame_sha256: String,
    pub(crate) info: VideoInfo,
}

/// Segment starts of a source `duration` seconds long: whole 5-second segments starting
/// at most at 5000 s, minus those `done` says were packaged already.
pub fn segment_starts(duration: f64, mut done: impl FnMut(f64) -> bool) -> Vec<f64> {
    let mut out = Vec::new();
    let mut k = 0u32;
    loop {
        let start = f64::from(k) * CLIP_DURATION_SEC;
        if start > MAX_CLIP_START_SEC || start + CLIP_DURATION_SEC > duration {
            break;
        }
        if !done(start) {
            out.push(start);
        }
        k += 1;
    }
    out
}

fn sha256_file(path: &Path) -> Result<String, ClipError> {
    let bytes =
        std::fs::read(path).map_err(|e| ClipError::Io { path: path.display().to_string(), message: e.to_string() })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Cuts clips with the system ffmpeg and probes them.
#[derive(Clone)]
pub struct Clipper {
    /// Probes the cut clip.
    pub probe: Arc<dyn MediaProbe>,
    /// Timeout of one ffmpeg run.
    pub timeout: Duration,
    /// ffmpeg threads per clip (clips run in parallel, so 1 keeps every core busy).
    pub threads: u32,
}

impl Clipper {
    /// Cuts `[start, start+5)` of `source` (file `input`, with audio when `audio`) into
    /// `dir/clips/{clip_id}.mp4` and `dir/frames/{clip_id}.jpg`.
    pub async fn cut(
        &self,
        source: &Source,
        input: &Path,
        start: f64,
        audio: bool,
        dir: &Path,
    ) -> Result<CutClip, ClipError> {
        self.cut_with_progress(source, input, start, audio, dir, |_| {}).await
    }

    /// [`Clipper::cut`], calling `progress` with the seconds of the clip encoded so far
    /// as ffmpeg reports them (0 to 5).
    pub(crate) async fn cut_with_progress(
        &self,
        source: &Source,
        input: &Path,
        start: f64,
        audio: bool,
        dir: &Path,
        progress: impl FnMut(f64) + Send + 'static,
    ) -> Result<CutClip, ClipError> {
        let clip_id = deterministic_clip_id(&source.video_id, start, CLIP_DURATION_SEC);
        let io =
            |path: &Path, e: std::io::Error| ClipError::Io { path: path.display().to_string(), message: e.to_string() };
        for sub in ["clips", "frames"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| io(&dir.join(sub), e))?;
        }
        let clip_path = dir.join("clips").join(format!("{clip_id}.mp4"));
        let frame_path = dir.join("frames").join(format!("{clip_id}.jpg"));
        let cmd = clip_command(input, start, CLIP_DURATION_SEC, audio, &clip_path, self.threads);
        let made = async {
            FfmpegRun::new(cmd, self.timeout).on_progress(progress).run().await?;
            first_frame(&clip_path, &frame_path, self.timeout).await?;
            let info = self.probe.probe(&clip_path).await?;
            Ok::<_, ClipError>(info)
        }
        .await;
        let info = match made {
            Ok(info) => info,
            Err(e) => {
                let _ = std::fs::remove_file(&clip_path);
                let _ = std::fs::remove_file(&frame_path);
                return Err(e);
            }
        };
        let duration_ok =
            info.duration_sec.is_some_and(|d| (d - CLIP_DURATION_SEC).abs() <= MEDIA_DURATION_TOLERANCE_SEC);
        if info.width != REQUIRED_WIDTH || info.height != REQUIRED_HEIGHT || !duration_ok || info.fps.is_none() {
            let _ = std::fs::remove_file(&clip_path);
            let _ = std::fs::remove_file(&frame_path);
            return Err(ClipError::Unfit(format!(
                "{}x{}, {:?} s, {:?} fps",
                info.width, info.height, info.duration_sec, info.fps
            )));
        }
        Ok(CutClip {
            source: source.clone(),
            start,
            clip_sha256: sha256_file(&clip_path)?,
            frame_sha256: sha256_file(&frame_path)?,
            clip_id,
            clip_path,
            frame_path,
            info,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_segments_up_to_5000_seconds_minus_published() {
        assert_eq!(segment_starts(14.9, |_| false), vec![0.0, 5.0]);
        assert_eq!(segment_starts(15.0, |_| false), vec![0.0, 5.0, 10.0]);
        assert_eq!(segment_starts(4.9, |_| false), Vec::<f64>::new());
        assert_eq!(segment_starts(15.0, |s| s == 5.0), vec![0.0, 10.0]);
        let long = segment_starts(100_000.0, |_| false);
        assert_eq!(long.last(), Some(&5000.0));
        assert_eq!(long.len(), 1001);
    }
}
