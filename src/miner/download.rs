//! Source downloads with `yt-dlp` (a system binary run through `tokio::process`): height
//! at most 720 preferred, merged to MP4, no playlists, a timeout per attempt and retries,
//! written to an explicit path `raw/{video_id}.mp4`. A file already there is reused
//! without calling yt-dlp, so sources can be pre-seeded or cached.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{info, warn};

use super::sources::Source;
use crate::media::ytdlp::{DownloadError, FORMAT_720P, run_yt_dlp};

/// Fetches sources into `raw_dir`.
#[derive(Debug, Clone)]
pub struct Downloader {
    /// Where source videos are stored as `{video_id}.mp4`.
    pub raw_dir: PathBuf,
    /// The yt-dlp binary.
    pub binary: PathBuf,
    /// Time limit of one download attempt.
    pub timeout: Duration,
    /// Download attempts before a source is skipped.
    pub attempts: u32,
    /// Extra yt-dlp arguments: `--cookies FILE`, `--proxy URL` ([`ytdlp_access_args`]).
    pub extra_args: Vec<OsString>,
}

impl Downloader {
    /// Where the source of `video_id` is (or will be) stored.
    pub(crate) fn path_for(&self, video_id: &str) -> PathBuf {
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
        let mut args: Vec<OsString> = [
            "--no-playlist",
            "--no-progress",
            "--quiet",
            "--no-warnings",
            "-f",
            FORMAT_720P,
            "--merge-output-format",
            "mp4",
            "-o",
        ]
        .map(OsString::from)
        .to_vec();
        args.splice(0..0, self.extra_args.iter().cloned());
        args.push(partial.clone().into_os_string());
        args.push(source.url.clone().into());
        let out = run_yt_dlp(&self.binary, &args, self.timeout, None).await.map_err(|e| match e {
            DownloadError::Failed { message, .. } => DownloadError::Failed { url: source.url.clone(), message },
            other => other,
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
