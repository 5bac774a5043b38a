//! `ffprobe` as a [`MediaProbe`]: one bounded, time-limited subprocess per file, reading
//! only the local file as MP4 (no network protocols, no playlists).
//!
//! Duration and frame count are measured on the video stream itself: its packets are
//! counted (`-count_packets`) and timed at the stream's frame rate, so a container header
//! (`mvhd`) or track header (`mdhd`) patched to claim 5 s does not hide a 20 s clip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::process::Command;

use super::FFMPEG_INSTALL_HINT;

/// What a probe learns about a clip.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) duration_sec: Option<f64>,
    pub(crate) fps: Option<f64>,
    pub(crate) frame_count: Option<u64>,
    pub(crate) has_audio: bool,
    /// The video codec's short name (`h264`), when known.
    pub(crate) codec: Option<String>,
}

impl VideoInfo {
    /// Picture width, pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Picture height, pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The video stream's duration, seconds.
    pub fn duration_sec(&self) -> Option<f64> {
        self.duration_sec
    }

    /// Frames per second.
    pub fn fps(&self) -> Option<f64> {
        self.fps
    }

    /// The video stream's packets (frames).
    pub fn frame_count(&self) -> Option<u64> {
        self.frame_count
    }

    /// Whether the file has an audio stream.
    pub fn has_audio(&self) -> bool {
        self.has_audio
    }

    /// The video codec's short name.
    pub fn codec(&self) -> Option<&str> {
        self.codec.as_deref()
    }
}

/// Probe failures: the file's fault (`NotVideo`) or ours (the rest).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// ffmpeg or ffprobe is not installed where expected.
    #[error("{tool} was not found ({path}); {hint}")]
    ToolMissing {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The path or name looked up.
        path: String,
        /// How to install or point to it.
        hint: &'static str,
    },
    /// The file is not a readable video.
    #[error("not a readable video: {0}")]
    NotVideo(String),
    /// The tool did not finish in time.
    #[error("{tool} timed out after {seconds} s")]
    Timeout {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The timeout, seconds.
        seconds: u64,
    },
    /// The tool could not be started or its output read.
    #[error("{tool} could not run: {message}")]
    Io {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The I/O error.
        message: String,
    },
}

/// Something that can probe a video file.
#[async_trait]
pub trait MediaProbe: Send + Sync {
    /// Probes the file at `path`.
    async fn probe(&self, path: &Path) -> Result<VideoInfo, MediaError>;
}

/// The system `ffprobe`.
#[derive(Debug, Clone)]
pub struct Ffprobe {
    binary: PathBuf,
    timeout: Duration,
}

impl Ffprobe {
    /// `ffprobe` from `NEXIS_FFPROBE` or the `PATH`, with a per-call timeout.
    pub fn new(binary: Option<PathBuf>, timeout: Duration) -> Self {
        Self { binary: binary.unwrap_or_else(|| PathBuf::from("ffprobe")), timeout }
    }

    /// Checks the binary is there to run (an executable file at its path, or in
    /// `search_path`, the value of `PATH`, for a bare name) and returns where it is. It is
    /// not started: `ffprobe` loads a hundred shared libraries, ~50 ms that a
    /// `nexis check` whose clips are probed in process would spend for nothing.
    pub fn check_available(&self, search_path: Option<&std::ffi::OsStr>) -> Result<PathBuf, MediaError> {
        find_executable(&self.binary, search_path).ok_or_else(|| MediaError::ToolMissing {
            tool: "ffprobe",
            path: self.binary.display().to_string(),
            hint: FFMPEG_INSTALL_HINT,
        })
    }

    fn spawn_error(&self, e: std::io::Error) -> MediaError {
        if e.kind() == std::io::ErrorKind::NotFound {
            MediaError::ToolMissing {
                tool: "ffprobe",
                path: self.binary.display().to_string(),
                hint: FFMPEG_INSTALL_HINT,
            }
        } else {
            MediaError::Io { tool: "ffprobe", message: e.to_string() }
        }
    }
}

/// Where `binary` would be run from: itself when it names a directory, else the first
/// executable file of that name in `path` (the `PATH` value); `None` when there is none.
fn find_executable(binary: &Path, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if binary.components().count() > 1 {
        return executable(binary).then(|| binary.to_path_buf());
    }
    std::env::split_paths(path?).map(|dir| dir.join(binary)).find(|p| executable(p))
}

#[derive(Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    nb_frames: Option<String>,
    nb_read_packets: Option<String>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

/// Parses an ffprobe rate such as `30000/1001` or `25`; `0/0` is `None`.
pub(crate) fn parse_rate(text: &str) -> Option<f64> {
    let (num, den) = match text.split_once('/') {
        Some((n, d)) => (n.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?),
        None => (text.trim().parse::<f64>().ok()?, 1.0),
    };
    let rate = num / den;
    (rate.is_finite() && rate > 0.0).then_some(rate)
}

fn parse_output(stdout: &[u8]) -> Result<VideoInfo, MediaError> {
    let out: ProbeOutput =
        serde_json::from_slice(stdout).map_err(|e| MediaError::NotVideo(format!("unreadable ffprobe output: {e}")))?;
    let video = out
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"))
        .ok_or_else(|| MediaError::NotVideo("no video stream".into()))?;
    let (Some(width), Some(height)) = (video.width, video.height) else {
        return Err(MediaError::NotVideo("video stream without dimensions".into()));
    };
    let number = |s: &Option<String>| s.as_deref().and_then(|d| d.trim().parse::<f64>().ok()).filter(|d| d.is_finite());
    let fps = video
        .avg_frame_rate
        .as_deref()
        .and_then(parse_rate)
        .or_else(|| video.r_frame_rate.as_deref().and_then(parse_rate));
    let packets: Option<u64> = video.nb_read_packets.as_deref().and_then(|n| n.trim().parse().ok());
    // The stream's real length: its packets at its frame rate (timestamps, not headers).
    // The longest of that and the stream's declared duration wins, so neither a patched
    // container nor a patched track header can shorten a clip.
    let timed = packets.zip(fps).map(|(n, rate)| n as f64 / rate).filter(|d| d.is_finite());
    let declared = number(&video.duration).or_else(|| out.format.as_ref().and_then(|f| number(&f.duration)));
    let duration_sec = match (timed, declared) {
        (Some(t), Some(d)) => Some(t.max(d)),
        (t, d) => t.or(d),
    };
    Ok(VideoInfo {
        width,
        height,
        duration_sec,
        fps,
        frame_count: packets.or_else(|| video.nb_frames.as_deref().and_then(|n| n.trim().parse().ok())),
        has_audio: out.streams.iter().any(|s| s.codec_type.as_deref() == Some("audio")),
        codec: video.codec_name.clone(),
    })
}

#[async_trait]
impl MediaProbe for Ffprobe {
    async fn probe(&self, path: &Path) -> Result<VideoInfo, MediaError> {
        let mut cmd = Command::new(&self.binary);
        cmd.args([
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-f",
            "mp4",
            "-count_packets",
            "-print_format",
            "json",
        ])
        .args([
            "-show_entries",
            "stream=codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,nb_read_packets,duration:\
                 format=duration",
        ])
        .arg("-i")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        let out = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| MediaError::Timeout { tool: "ffprobe", seconds: self.timeout.as_secs() })?
            .map_err(|e| MediaError::Io { tool: "ffprobe", message: e.to_string() })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().next().unwrap_or("ffprobe failed").chars().take(300).collect::<String>();
            return Err(MediaError::NotVideo(first));
        }
        parse_output(&out.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("30/1"), Some(30.0));
        assert!((parse_rate("30000/1001").unwrap() - 29.97).abs() < 0.01);
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("x"), None);
        assert_eq!(parse_rate("25"), Some(25.0));
    }

    #[test]
    fn output_parsing() {
        let json = br#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","width":1280,"height":720,"avg_frame_rate":"30/1","r_frame_rate":"30/1","nb_frames":"150","duration":"5.0"}],"format":{"duration":"5.021"}}"#;
        let info = parse_output(json).unwrap();
        assert_eq!((info.width, info.height, info.frame_count, info.has_audio), (1280, 720, Some(150), true));
        assert_eq!(info.duration_sec, Some(5.0));
        assert!(matches!(parse_output(br#"{"streams":[]}"#), Err(MediaError::NotVideo(_))));
        // A 20 s clip whose container and track headers were patched to say 5 s: its 600
        // packets at 30 fps still make 20 s.
        let patched = br#"{"streams":[{"codec_type":"video","width":1280,"height":720,"avg_frame_rate":"30/1","r_frame_rate":"30/1","nb_frames":"600","nb_read_packets":"600","duration":"5.000000"}],"format":{"duration":"5.000000"}}"#;
        let info = parse_output(patched).unwrap();
        assert_eq!((info.duration_sec, info.frame_count), (Some(20.0), Some(600)));
        assert!(matches!(parse_output(b"garbage"), Err(MediaError::NotVideo(_))));
    }

    /// The availability check finds the binary on the PATH or at its path without running
    /// it, and refuses directories, plain files and missing names.
    #[test]
    fn ffprobe_is_found_without_running_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let tool = dir.path().join("ffprobe");
        std::fs::write(&tool, "#!/bin/sh\nexit 1\n").expect("write");
        let path = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).expect("PATH");
        assert_eq!(find_executable(Path::new("ffprobe"), None), None);
        // Not executable yet: not found.
        assert_eq!(find_executable(Path::new("ffprobe"), Some(&path)), None);
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(find_executable(Path::new("ffprobe"), Some(&path)), Some(tool.clone()));
        assert_eq!(find_executable(&tool, None), Some(tool.clone()));
        assert_eq!(find_executable(dir.path(), None), None);
        assert_eq!(find_executable(Path::new("no-such-tool"), Some(&path)), None);
    }
}
