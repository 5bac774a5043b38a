//! Running `yt-dlp` (a system binary, through `tokio::process`): the miner's downloads and
//! searches and the validator's source check share this runner, its errors, its timeout
//! and its size watch.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

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
