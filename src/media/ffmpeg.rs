//! The system `ffmpeg`: one bounded run (timeout, killed on drop, stderr kept for the
//! error), the clip cut the miner uses, and frame extraction.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::{FFMPEG_INSTALL_HINT, MediaError};

/// Runs `ffmpeg` with `args` (quiet, overwriting outputs) within `timeout`.
pub async fn run_ffmpeg(args: &[String], timeout: Duration) -> Result<(), MediaError> {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| MediaError::Timeout { tool: "ffmpeg", seconds: timeout.as_secs() })?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                MediaError::ToolMissing { tool: "ffmpeg", path: "ffmpeg".into(), hint: FFMPEG_INSTALL_HINT }
            }
            _ => MediaError::Io { tool: "ffmpeg", message: e.to_string() },
        })?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        Err(MediaError::Io { tool: "ffmpeg", message: format!("{} ({})", tail, out.status) })
    }
}

/// The arguments that cut `[start, start + seconds)` of `source` into an exactly
/// 1280x720 H.264 clip (letterboxed when the aspect differs), with AAC audio when `audio`.
pub fn clip_args(source: &Path, start: f64, seconds: f64, audio: bool, out: &Path, threads: u32) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-ss".into(),
        format!("{start:.3}"),
        "-i".into(),
        source.display().to_string(),
        "-t".into(),
        format!("{seconds:.3}"),
        "-map".into(),
        "0:v:0".into(),
    ];
    if audio {
        args.extend(["-map".into(), "0:a:0".into()]);
    }
    args.extend([
        "-vf".into(),
        "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1".into(),
        "-fps_mode".into(),
        "cfr".into(),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "veryfast".into(),
        "-crf".into(),
        "23".into(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-threads".into(),
        threads.to_string(),
    ]);
    if audio {
        args.extend(["-c:a".into(), "aac".into(), "-b:a".into(), "128k".into()]);
    } else {
        args.push("-an".into());
    }
    args.extend(["-movflags".into(), "+faststart".into(), out.display().to_string()]);
    args
}

/// Writes the first frame of `clip` as a JPEG to `path`.
pub async fn first_frame(clip: &Path, path: &Path, timeout: Duration) -> Result<(), MediaError> {
    let args = ["-i", &clip.display().to_string(), "-frames:v", "1", "-q:v", "3", &path.display().to_string()]
        .map(String::from);
    run_ffmpeg(&args, timeout).await
}

/// The `select` filter expression that keeps frame 0 for time 0 and, for every other
/// time `T`, the first frame at or after `T`.
fn select_expr(times: &[f64]) -> String {
    let terms: Vec<String> = times
        .iter()
        .map(|&t| if t <= 0.0 { "eq(n\\,0)".to_string() } else { format!("gte(t\\,{t:.3})*lt(prev_t\\,{t:.3})") })
        .collect();
    format!("select='{}'", terms.join("+"))
}

/// JPEG frames of `clip` at the given distinct times (seconds), in order, each at most
/// `max_bytes`, from one decoding pass. Fewer frames than times (a time past the end) is
/// an error.
pub async fn frames_at(
    clip: &Path,
    times: &[f64],
    timeout: Duration,
    max_bytes: u64,
) -> Result<Vec<Vec<u8>>, MediaError> {
    let io = |e: std::io::Error| MediaError::Io { tool: "ffmpeg", message: e.to_string() };
    let dir = tempfile::tempdir().map_err(io)?;
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let args = [
        "-i".into(),
        clip.display().to_string(),
        "-vf".into(),
        select_expr(&sorted),
        "-fps_mode".into(),
        "vfr".into(),
        "-frames:v".into(),
        sorted.len().to_string(),
        "-q:v".into(),
        "4".into(),
        dir.path().join("%d.jpg").display().to_string(),
    ];
    run_ffmpeg(&args, timeout).await?;
    let mut by_time = Vec::with_capacity(sorted.len());
    for (i, t) in sorted.iter().enumerate() {
        let out = dir.path().join(format!("{}.jpg", i + 1));
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        if size == 0 || size > max_bytes {
            return Err(MediaError::NotVideo(format!("no usable frame at {t:.3} s of {}", clip.display())));
        }
        by_time.push((*t, std::fs::read(&out).map_err(io)?));
    }
    let frames = times
        .iter()
        .map(|t| by_time.iter().find(|(bt, _)| bt == t).map(|(_, f)| f.clone()).unwrap_or_default())
        .collect();
    Ok(frames)
}
