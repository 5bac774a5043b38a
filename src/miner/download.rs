//! Source downloads with `yt-dlp` (a system binary run through `tokio::process`): height
//! at most 720 preferred, merged to MP4, no playlists, a timeout per attempt and retries,
//! written to an explicit path `raw/{video_id}.mp4`. A file already there is reused
//! without calling yt-dlp, so sources can be pre-seeded or cached.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tracing::{info, warn};

use super::sources::Source;

/// How to install yt-dlp.
pub const YT_DLP_INSTALL_HINT: &str =
    "install it with `pip install yt-dlp` (or `apt-get install -y yt-dlp`), or set NEXIS_YT_DLP to its path";

/// Download failures.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("yt-dlp was not found ({0}); {YT_DLP_INSTALL_HINT}")]
    ToolMissing(String),
    #[error("yt-dlp timed out after {0} s")]
    Timeout(u64),
    #[error("yt-dlp failed for {url}: {message}")]
    Failed { url: String, message: String },
    #[error("download I/O on {path}: {message}")]
    Io { path: String, message: String },
}

/// Fetches sources into `raw_dir`.
#[derive(Debug, Clone)]
pub struct Downloader {
    pub raw_dir: PathBuf,
    pub binary: PathBuf,
    pub timeout: Duration,
    pub attempts: u32,
}

impl Downloader {
    /// Where the source of `video_id` is (or will be) stored.
    pub fn path_for(&self, video_id: &str) -> PathBuf {
        self.raw_dir.join(format!("{video_id}.mp4"))
    }

    /// The local file of `source`, downloading it when it is not there yet.
    pub async fn fetch(&self, source: &Source) -> Result<PathBuf, DownloadError> {
        let path = self.path_for(&source.video_id);
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() > 0) {
            info!(video_id = %source.video_id, path = %path.display(), "reusing the downloaded source");
            return Ok(path);
        }
        std::fs::create_dir_all(&self.raw_dir)
            .map_err(|e| DownloadError::Io { path: self.raw_dir.display().to_string(), message: e.to_string() })?;
        let mut last = None;
        for attempt in 1..=self.attempts.max(1) {
            match self.run(source, &path).await {
                Ok(()) => return Ok(path),
                Err(e @ DownloadError::ToolMissing(_)) => return Err(e),
                Err(e) => {
                    warn!(video_id = %source.video_id, attempt, error = %e, "download failed");
                    last = Some(e);
                    if attempt < self.attempts {
                        tokio::time::sleep(Duration::from_secs(5 * u64::from(attempt))).await;
                    }
                }
            }
        }
        Err(last.unwrap_or(DownloadError::Timeout(self.timeout.as_secs())))
    }

    async fn run(&self, source: &Source, dest: &Path) -> Result<(), DownloadError> {
        let partial = dest.with_extension("download.mp4");
        let _ = std::fs::remove_file(&partial);
        let out = Command::new(&self.binary)
            .args([
                "--no-playlist",
                "--no-progress",
                "--quiet",
                "--no-warnings",
                "-f",
                "bv*[height<=720][ext=mp4]+ba[ext=m4a]/b[height<=720][ext=mp4]/bv*[height<=720]+ba/b[height<=720]/b",
                "--merge-output-format",
                "mp4",
                "-o",
            ])
            .arg(&partial)
            .arg(&source.url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(self.timeout, out)
            .await
            .map_err(|_| DownloadError::Timeout(self.timeout.as_secs()))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => DownloadError::ToolMissing(self.binary.display().to_string()),
                _ => DownloadError::Failed { url: source.url.clone(), message: e.to_string() },
            })?;
        if !out.status.success() || !partial.is_file() {
            let _ = std::fs::remove_file(&partial);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let message = stderr.lines().last().unwrap_or("no output file").to_string();
            return Err(DownloadError::Failed { url: source.url.clone(), message });
        }
        std::fs::rename(&partial, dest)
            .map_err(|e| DownloadError::Io { path: dest.display().to_string(), message: e.to_string() })
    }
}
