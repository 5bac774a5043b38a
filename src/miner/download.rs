//! Source downloads with `yt-dlp` (a system binary run through `tokio::process`): height
//! at most 720 preferred, merged to MP4, no playlists, a timeout per attempt and retries,
//! written to an explicit path `raw/{video_id}.mp4`. A file already there is reused
//! without calling yt-dlp, so sources can be pre-seeded or cached.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;
use tracing::{info, warn};

use super::sources::Source;

/// How to install yt-dlp.
pub(crate) const YT_DLP_INSTALL_HINT: &str =
    "install it with `pip install yt-dlp` (or `apt-get install -y yt-dlp`), or set NEXIS_YT_DLP to its path";

/// yt-dlp's format selection: height at most 720, MP4 preferred.
pub(crate) const FORMAT_720P: &str =
    "bv*[height<=720][ext=mp4]+ba[ext=m4a]/b[height<=720][ext=mp4]/bv*[height<=720]+ba/b[height<=720]/b";

/// Download failures.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// yt-dlp cannot be run (not installed or not executable).
    #[error("yt-dlp was not found ({0}); {YT_DLP_INSTALL_HINT}")]
    ToolMissing(String),
    /// A download attempt took longer than this many seconds.
    #[error("yt-dlp timed out after {0} s")]
    Timeout(u64),
    /// yt-dlp ran and failed on every attempt.
    #[error("yt-dlp failed for {url}: {message}")]
    Failed {
        /// The source URL.
        url: String,
        /// yt-dlp's error output.
        message: String,
    },
    /// A downloaded file could not be read or written.
    #[error("download I/O on {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The download exceeded this many bytes.
    #[error("yt-dlp output grew past the size cap of {0} bytes")]
    TooLarge(u64),
}

/// Total size of the files directly in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Runs yt-dlp (`binary` with `args`) within `timeout`, killing it when the files it
/// writes into `watch.0` grow past `watch.1` bytes. Returns its output, whatever its exit
/// status.
pub(crate) async fn run_yt_dlp(
    binary: &Path,
    args: &[OsString],
    timeout: Duration,
    watch: Option<(&Path, u64)>,
) -> Result<Output, DownloadError> {
    let child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DownloadError::ToolMissing(binary.display().to_string()),
            _ => DownloadError::Failed { url: String::new(), message: e.to_string() },
        })?;
    let guarded = async {
        let output = child.wait_with_output();
        tokio::pin!(output);
        loop {
            tokio::select! {
                out = &mut output => {
                    return out.map_err(|e| DownloadError::Failed { url: String::new(), message: e.to_string() });
                }
                () = tokio::time::sleep(Duration::from_millis(200)), if watch.is_some() => {
                    if let Some((dir, cap)) = watch && dir_bytes(dir) > cap {
                        return Err(DownloadError::TooLarge(cap));
                    }
                }
            }
        }
    };
    // Dropping the future (timeout, size cap) drops the child, which kills it.
    tokio::time::timeout(timeout, guarded).await.map_err(|_| DownloadError::Timeout(timeout.as_secs()))?
}

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

/// The yt-dlp arguments of a cookies file and a proxy (`NEXIS_YTDLP_COOKIES_FILE`,
/// `NEXIS_YTDLP_PROXY`), as the validator's source check passes them.
pub fn ytdlp_access_args(cookies_file: Option<&Path>, proxy: Option<&str>) -> Vec<OsString> {
    let mut args = Vec::new();
    if let Some(cookies) = cookies_file {
        args.push("--cookies".into());
        args.push(cookies.as_os_str().to_owned());
    }
    if let Some(proxy) = proxy.map(str::trim).filter(|p| !p.is_empty()) {
        args.push("--proxy".into());
        args.push(proxy.into());
    }
    args
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
