//! Fetching the part of a claimed source that one clip needs, for the source check:
//! a mirror directory (`NEXIS_SOURCE_CACHE_DIR`, whole videos `{video_id}.mp4` used as
//! is), then a size-bounded cache under the work directory keyed by (video id, start),
//! then `yt-dlp --download-sections` of just the clip's seconds plus a margin, at most
//! 720p, video only, with a timeout and a size cap. The outcome says whether the source
//! is there, missing for reasons on our side or YouTube's (unavailable), or reported by
//! YouTube as not existing, private or removed — asked twice before that is believed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};

use crate::media::ytdlp::{DownloadError, run_yt_dlp};

/// Seconds fetched before and after the clip, so an imprecise cut still covers it.
pub(super) const SECTION_MARGIN_SEC: f64 = 1.0;
/// yt-dlp's format selection for the source check: video only, height at most 720.
pub(super) const SOURCE_FORMAT: &str = "bv*[height<=720][ext=mp4]/bv*[height<=720]/b[height<=720]";

/// Where and how sources are fetched.
#[derive(Debug, Clone)]
pub struct SourceFetchSettings {
    /// yt-dlp binary.
    pub yt_dlp: PathBuf,
    /// Timeout of one yt-dlp run.
    pub timeout: Duration,
    /// Size cap of one fetched section, bytes.
    pub max_section_bytes: u64,
    /// The size-bounded cache of fetched sections.
    pub cache_dir: PathBuf,
    /// Total size the cache is trimmed to after each fetch, bytes.
    pub cache_max_bytes: u64,
    /// Whole videos `{video_id}.mp4` used as is, before any download.
    pub mirror_dir: Option<PathBuf>,
    /// Netscape cookies file passed to yt-dlp.
    pub cookies_file: Option<PathBuf>,
    /// Proxy URL passed to yt-dlp.
    pub proxy: Option<String>,
}

/// A local file holding the claimed source around the clip.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMedia {
    /// The local file.
    pub path: PathBuf,
    /// Time in this file, seconds, that corresponds to the clip's claimed start.
    pub origin: f64,
    /// Whether it came from the mirror directory, the cache or a download.
    pub from: &'static str,
}

/// Why no source could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMissing {
    /// YouTube reports the video as not existing, private or removed, on two attempts (or
    /// the URL names no video at all).
    NotFound(String),
    /// Anything else: geo-blocked, age-gated, a bot check, a plain "Video unavailable",
    /// timeout, no yt-dlp, size cap, I/O. Never the miner's fault.
    Unavailable(String),
}

/// Length of every YouTube video id.
const YOUTUBE_ID_LEN: usize = 11;

/// Messages of yt-dlp meaning YouTube positively has no public video of that id: it does
/// not exist, is private, or was removed (lower case). Geo-blocks, age gates, bot checks
/// and a bare "Video unavailable" are not among them.
const NOT_FOUND_MARKERS: [&str; 8] = [
    "this video does not exist",
    "incomplete youtube id",
    "video id is invalid",
    "private video",
    "this video is private",
    "this video has been removed",
    "account associated with this video has been terminated",
    "removed for violating youtube's terms of service",
];

/// Messages that make a not-found marker unreliable (a block on our side, lower case).
const NOT_OURS_MARKERS: [&str; 3] =
    ["sign in to confirm", "not made this video available in your country", "http error 429"];

/// Whether yt-dlp's error text positively says the video does not exist, is private or
/// was removed.
pub(super) fn says_not_found(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    NOT_FOUND_MARKERS.iter().any(|m| lower.contains(m)) && !NOT_OURS_MARKERS.iter().any(|m| lower.contains(m))
}

/// The canonical watch URL of a video id.
fn watch_url(video_id: &str) -> String {
    format!("https://www.youtube.com/watch?v={video_id}")
}

fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The section fetched for a clip at `start` lasting `duration`: `[from, to]` seconds.
pub(super) fn section(start: f64, duration: f64) -> (f64, f64) {
    ((start - SECTION_MARGIN_SEC).max(0.0), start + duration + SECTION_MARGIN_SEC)
}

impl SourceFetchSettings {
    /// The cache file of (video id, start).
    pub fn cache_path(&self, video_id: &str, start: f64) -> PathBuf {
        self.cache_dir.join(format!("{video_id}_{}.mp4", (start * 1000.0).round() as i64))
    }

    /// The yt-dlp arguments that fetch `[from, to]` of `video_id` into `output`.
    pub fn yt_dlp_args(&self, video_id: &str, from: f64, to: f64, output: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--no-playlist".into(),
            "--no-progress".into(),
            "--quiet".into(),
            "--no-warnings".into(),
            "--download-sections".into(),
            format!("*{from:.3}-{to:.3}").into(),
            "--force-keyframes-at-cuts".into(),
            "-f".into(),
            SOURCE_FORMAT.into(),
            "--max-filesize".into(),
            self.max_section_bytes.to_string().into(),
        ];
        if let Some(cookies) = &self.cookies_file {
            args.push("--cookies".into());
            args.push(cookies.clone().into_os_string());
        }
        if let Some(proxy) = self.proxy.as_deref().filter(|p| !p.trim().is_empty()) {
            args.push("--proxy".into());
            args.push(proxy.trim().into());
        }
        args.push("-o".into());
        args.push(output.as_os_str().to_owned());
        args.push(watch_url(video_id).into());
        args
    }

    /// The source around `[start, start + duration)` of `video_id`.
    pub async fn fetch(&self, video_id: &str, start: f64, duration: f64) -> Result<SourceMedia, SourceMissing> {
        if !is_plain_id(video_id) {
            return Err(SourceMissing::NotFound(format!("{video_id:?} is not a YouTube video id")));
        }
        if let Some(mirror) = &self.mirror_dir {
            let path = mirror.join(format!("{video_id}.mp4"));
            if path.is_file() {
                return Ok(SourceMedia { path, origin: start, from: "mirror" });
            }
        }
        if video_id.len() != YOUTUBE_ID_LEN {
            return Err(SourceMissing::NotFound(format!("{video_id:?} is not an 11-character YouTube video id")));
        }
        let (from, to) = section(start, duration);
        let cached = self.cache_path(video_id, start);
        if cached.is_file() {
            // Touch it so eviction keeps recently used sections.
            let _ = std::fs::File::options().append(true).open(&cached).and_then(|f| f.set_modified(SystemTime::now()));
            return Ok(SourceMedia { path: cached, origin: start - from, from: "cache" });
        }
        match self.download(video_id, from, to, &cached).await {
            // YouTube saying "no such video" is believed only when it says so twice.
            Err(SourceMissing::NotFound(first)) => {
                info!(video_id, reason = %first, "YouTube reports the source missing; asking once more");
                self.download(video_id, from, to, &cached).await?;
            }
            other => other?,
        }
        self.evict(&cached);
        Ok(SourceMedia { path: cached, origin: start - from, from: "download" })
    }

    async fn download(&self, video_id: &str, from: f64, to: f64, dest: &Path) -> Result<(), SourceMissing> {
        let unavailable = |what: String| SourceMissing::Unavailable(what);
        std::fs::create_dir_all(&self.cache_dir)
            .map_err(|e| unavailable(format!("cannot create {}: {e}", self.cache_dir.display())))?;
        let work = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&self.cache_dir)
            .map_err(|e| unavailable(format!("cannot create a download directory: {e}")))?;
        let output = work.path().join("section.%(ext)s");
        let args = self.yt_dlp_args(video_id, from, to, &output);
        info!(video_id, from, to, "fetching the source section with yt-dlp");
        let out = run_yt_dlp(&self.yt_dlp, &args, self.timeout, Some((work.path(), self.max_section_bytes)))
            .await
            .map_err(|e| match e {
                DownloadError::ToolMissing(_) | DownloadError::Timeout(_) | DownloadError::TooLarge(_) => {
                    unavailable(e.to_string())
                }
                other => unavailable(format!("yt-dlp: {other}")),
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr.lines().rev().take(2).collect::<Vec<_>>().join(" | ");
        if !out.status.success() {
            debug!(video_id, status = %out.status, stderr = %tail, "yt-dlp failed");
            return Err(if says_not_found(&stderr) {
                SourceMissing::NotFound(format!("YouTube: {tail}"))
            } else {
                unavailable(format!("yt-dlp failed ({}): {tail}", out.status))
            });
        }
        let file = std::fs::read_dir(work.path())
            .ok()
            .and_then(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| p.is_file() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("section.")))
            })
            .ok_or_else(|| unavailable("yt-dlp wrote no file".into()))?;
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if size == 0 || size > self.max_section_bytes {
            return Err(unavailable(format!("the fetched section is {size} bytes (cap {})", self.max_section_bytes)));
        }
        std::fs::rename(&file, dest).map_err(|e| unavailable(format!("cannot store {}: {e}", dest.display())))
    }

    /// Removes the least recently used sections until the cache fits its size bound,
    /// never `keep`.
    fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.cache_dir) else { return };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                Some((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.cache_max_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => total = total.saturating_sub(len),
                Err(e) => warn!(path = %path.display(), error = %e, "cannot evict a cached source section"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_only_youtube_saying_so() {
        assert!(says_not_found("ERROR: [youtube] abc: This video does not exist."));
        assert!(says_not_found("ERROR: [youtube] abc: Incomplete YouTube ID abc."));
        assert!(says_not_found("ERROR: [youtube] abc: Private video. Sign in if you've been granted access"));
        assert!(says_not_found("ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader"));
        assert!(says_not_found(
            "ERROR: [youtube] abc: Video unavailable. This video is no longer available because the YouTube account associated with this video has been terminated."
        ));
        assert!(!says_not_found("ERROR: [youtube] abc: Video unavailable"));
        assert!(!says_not_found("ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate"));
        assert!(!says_not_found("ERROR: [youtube] abc: Sign in to confirm you're not a bot"));
        assert!(!says_not_found(
            "ERROR: [youtube] abc: Video unavailable. The uploader has not made this video available in your country"
        ));
    }

    #[test]
    fn sections_have_a_margin_and_never_start_before_zero() {
        assert_eq!(section(10.0, 5.0), (9.0, 16.0));
        assert_eq!(section(0.0, 5.0), (0.0, 6.0));
    }
}
