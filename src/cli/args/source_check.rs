//! The source-authenticity check's flags (shared by `check`, `validate` and
//! `validate-source-auth`): compare sampled clips with the YouTube source they claim.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{ArgAction, Args};
use tracing::info;

use super::YtDlpArgs;
use nexis::validator::{DEFAULT_SOURCE_CHECK_ROWS, PackageValidator, SourceCheck, SourceFetchSettings};

/// Settings of the source check.
#[derive(Debug, Args)]
pub(crate) struct SourceCheckArgs {
    /// Compare sampled clips with the YouTube source they claim (downloads from YouTube;
    /// off by default because datacenter IPs are often blocked).
    #[arg(long = "source-check", env = "NEXIS_VALIDATOR_SOURCE_CHECK_ENABLED", action = ArgAction::SetTrue)]
    pub enabled: bool,
    /// Sampled rows per package whose source is checked.
    #[arg(long, env = "NEXIS_VALIDATOR_SOURCE_CHECK_MAX_ROWS", default_value_t = DEFAULT_SOURCE_CHECK_ROWS)]
    pub source_check_max_rows: usize,
    /// Fail rows whose source YouTube reports (twice) as not existing, private or removed
    /// (`source_unavailable`); `false` only notes it.
    #[arg(long, env = "NEXIS_VALIDATOR_SOURCE_UNAVAILABLE_HARD", default_value_t = true, action = ArgAction::Set)]
    pub source_unavailable_hard: bool,
    /// Directory of whole source videos `{video_id}.mp4` used instead of downloading.
    #[arg(long, env = "NEXIS_SOURCE_CACHE_DIR")]
    pub source_cache_dir: Option<PathBuf>,
    /// Size bound of the downloaded-section cache under the work directory, bytes.
    #[arg(long, env = "NEXIS_SOURCE_SECTION_CACHE_MAX_BYTES", default_value_t = 1 << 30)]
    pub source_section_cache_max_bytes: u64,
    /// Size cap of one downloaded source section, bytes.
    #[arg(long, env = "NEXIS_SOURCE_SECTION_MAX_BYTES", default_value_t = 64 << 20)]
    pub source_section_max_bytes: u64,
    /// Timeout of one source download, seconds.
    #[arg(long, env = "NEXIS_SOURCE_FETCH_TIMEOUT_SEC", default_value_t = 120)]
    pub source_fetch_timeout_sec: u64,
    #[command(flatten)]
    pub ytdlp: YtDlpArgs,
}

impl SourceCheckArgs {
    /// The source check with its section cache under `workdir`, when enabled (or `force`).
    pub(crate) fn source_check(&self, workdir: &Path, force: bool) -> anyhow::Result<Option<SourceCheck>> {
        if !(self.enabled || force) {
            return Ok(None);
        }
        let cookies_file = self.ytdlp.cookies_file()?;
        if let Some(dir) = &self.source_cache_dir
            && !dir.is_dir()
        {
            bail!("NEXIS_SOURCE_CACHE_DIR {} is not a directory", dir.display());
        }
        let check = SourceCheck {
            fetch: SourceFetchSettings {
                yt_dlp: self.ytdlp.yt_dlp.clone(),
                timeout: Duration::from_secs(self.source_fetch_timeout_sec.max(1)),
                max_section_bytes: self.source_section_max_bytes,
                cache_dir: workdir.join("source-cache"),
                cache_max_bytes: self.source_section_cache_max_bytes,
                mirror_dir: self.source_cache_dir.clone(),
                cookies_file,
                proxy: self.ytdlp.proxy(),
            },
            max_rows: self.source_check_max_rows,
            not_found_is_hard: self.source_unavailable_hard,
            ffmpeg_timeout: Duration::from_secs(120),
            stats: Arc::default(),
        };
        info!(
            max_rows = check.max_rows,
            mirror = ?check.fetch.mirror_dir,
            cookies = check.fetch.cookies_file.is_some(),
            proxy = check.fetch.proxy.is_some(),
            "source-authenticity check is on"
        );
        Ok(Some(check))
    }

    /// Adds the source check to `validator` when enabled.
    pub(crate) fn apply(&self, validator: PackageValidator, workdir: &Path) -> anyhow::Result<PackageValidator> {
        Ok(match self.source_check(workdir, false)? {
            Some(check) => validator.with_row_check(Arc::new(check)),
            None => validator,
        })
    }
}
