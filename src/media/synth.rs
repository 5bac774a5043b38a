//! Synthetic test media made with the system `ffmpeg`: clips and frames for tests,
//! benchmarks and the demo (never downloaded, never from the network).

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::{FFMPEG_INSTALL_HINT, MediaError};

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

async fn run_ffmpeg(args: &[String]) -> Result<(), MediaError> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                MediaError::ToolMissing { tool: "ffmpeg", path: "ffmpeg".into(), hint: FFMPEG_INSTALL_HINT }
            }
            _ => MediaError::Io { tool: "ffmpeg", message: e.to_string() },
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(MediaError::Io { tool: "ffmpeg", message: String::from_utf8_lossy(&out.stderr).into_owned() })
    }
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
    run_ffmpeg(&[
        "-i".into(),
        clip.display().to_string(),
        "-frames:v".into(),
        "1".into(),
        "-q:v".into(),
        "3".into(),
        path.display().to_string(),
    ])
    .await
}
