//! Synthetic test media made with the system `ffmpeg`: clips and frames for tests,
//! benchmarks and the demo (never downloaded, never from the network).

use std::path::Path;
use std::time::Duration;

use super::MediaError;

/// Parameters of a synthetic clip.
#[derive(Debug, Clone)]
pub struct SynthClip {
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
    pub fps: u32,
    /// Changes the picture so different seeds give different bytes.
    pub seed: u32,
    pub audio: bool,
}

impl Default for SynthClip {
    fn default() -> Self {
        Self { width: 1280, height: 720, seconds: 5.0, fps: 30, seed: 0, audio: true }
    }
}

/// Synthetic media is small; anything slower than this is a broken ffmpeg.
const SYNTH_TIMEOUT: Duration = Duration::from_secs(120);

async fn run_ffmpeg(args: &[String]) -> Result<(), MediaError> {
    super::ffmpeg::run_ffmpeg(args, SYNTH_TIMEOUT).await
}

/// Writes an H.264 MP4 test clip (test pattern, optional sine audio) to `path`.
pub async fn synth_clip(path: &Path, clip: &SynthClip) -> Result<(), MediaError> {
    let hue = (clip.seed * 37) % 360;
    let mut args = vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("testsrc2=size={}x{}:rate={}:duration={}", clip.width, clip.height, clip.fps, clip.seconds),
    ];
    if clip.audio {
        args.extend([
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("sine=frequency={}:duration={}", 220 + clip.seed * 10, clip.seconds),
        ]);
    }
    args.extend([
        "-vf".into(),
        format!("hue=h={hue}"),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "ultrafast".into(),
    ]);
    args.extend(["-pix_fmt".into(), "yuv420p".into()]);
    if clip.audio {
        args.extend(["-c:a".into(), "aac".into(), "-shortest".into()]);
    }
    args.extend(["-movflags".into(), "+faststart".into(), path.display().to_string()]);
    run_ffmpeg(&args).await
}

/// Writes the first frame of `clip` as a JPEG to `path`.
pub async fn first_frame(clip: &Path, path: &Path) -> Result<(), MediaError> {
    super::ffmpeg::first_frame(clip, path, SYNTH_TIMEOUT).await
}
