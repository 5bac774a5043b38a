//! Synthetic test media made with the system `ffmpeg` (through `ffmpeg-sidecar`'s builder): clips and frames for tests,
//! benchmarks and the demo (never downloaded, never from the network).

use std::path::Path;
use std::time::Duration;

use ffmpeg_sidecar::command::FfmpegCommand;

use super::MediaError;
use super::ffmpeg::{FfmpegRun, command};

/// Parameters of a synthetic clip.
#[derive(Debug, Clone)]
pub struct SynthClip {
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Duration, seconds.
    pub seconds: f64,
    /// Frames per second.
    pub fps: u32,
    /// Changes the picture so different seeds give different bytes.
    pub seed: u32,
    /// Whether to add a sine-tone audio track.
    pub audio: bool,
}

impl Default for SynthClip {
    fn default() -> Self {
        Self { width: 1280, height: 720, seconds: 5.0, fps: 30, seed: 0, audio: true }
    }
}

/// Synthetic media is small; anything slower than this is a broken ffmpeg.
const SYNTH_TIMEOUT: Duration = Duration::from_secs(120);

/// The command that writes an H.264 MP4 test clip (test pattern, optional sine audio).
fn synth_command(path: &Path, clip: &SynthClip) -> FfmpegCommand {
    let hue = (clip.seed * 37) % 360;
    let mut cmd = command();
    cmd.format("lavfi")
        .input(format!("testsrc2=size={}x{}:rate={}:duration={}", clip.width, clip.height, clip.fps, clip.seconds));
    if clip.audio {
        cmd.format("lavfi").input(format!("sine=frequency={}:duration={}", 220 + clip.seed * 10, clip.seconds));
    }
    cmd.args(["-vf", &format!("hue=h={hue}")]).codec_video("libx264").preset("ultrafast").pix_fmt("yuv420p");
    if clip.audio {
        cmd.codec_audio("aac").arg("-shortest");
    }
    cmd.args(["-movflags", "+faststart"]).output(path);
    cmd
}

/// Writes an H.264 MP4 test clip (test pattern, optional sine audio) to `path`.
pub async fn synth_clip(path: &Path, clip: &SynthClip) -> Result<(), MediaError> {
    FfmpegRun::new(synth_command(path, clip), SYNTH_TIMEOUT).run().await.map(|_| ())
}

/// Writes the first frame of `clip` as a JPEG to `path`.
pub(crate) async fn first_frame(clip: &Path, path: &Path) -> Result<(), MediaError> {
    super::ffmpeg::first_frame(clip, path, SYNTH_TIMEOUT).await
}
