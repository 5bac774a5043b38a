//! yt-dlp and how it reaches YouTube (cookies, proxy): one setting for the miner's
//! downloads and searches and the validator's source check.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use nexis::media::ytdlp::ytdlp_access_args;

/// The yt-dlp binary and its access settings.
#[derive(Debug, Clone, Args)]
pub(crate) struct YtDlpArgs {
    /// yt-dlp binary.
    #[arg(long, env = "NEXIS_YT_DLP", default_value = "yt-dlp")]
    pub(crate) yt_dlp: PathBuf,
    /// Netscape cookies file for yt-dlp (helps with YouTube's bot checks).
    #[arg(long, env = "NEXIS_YTDLP_COOKIES_FILE")]
    pub(crate) ytdlp_cookies_file: Option<PathBuf>,
    /// Proxy URL for yt-dlp, e.g. `socks5://host:1080`.
    #[arg(long, env = "NEXIS_YTDLP_PROXY", hide_env_values = true)]
    pub(crate) ytdlp_proxy: Option<String>,
}

impl YtDlpArgs {
    /// The cookies file, refusing one that does not exist.
    pub(crate) fn cookies_file(&self) -> anyhow::Result<Option<PathBuf>> {
        match &self.ytdlp_cookies_file {
            Some(cookies) if !cookies.is_file() => {
                bail!("NEXIS_YTDLP_COOKIES_FILE {} is not a file", cookies.display())
            }
            other => Ok(other.clone()),
        }
    }

    /// The proxy, unless empty.
    pub(crate) fn proxy(&self) -> Option<String> {
        self.ytdlp_proxy.clone().filter(|p| !p.trim().is_empty())
    }

    /// The cookies and proxy arguments of every yt-dlp call.
    pub(crate) fn access_args(&self) -> anyhow::Result<Vec<OsString>> {
        let cookies = self.cookies_file()?;
        Ok(ytdlp_access_args(cookies.as_deref(), self.proxy().as_deref()))
    }
}
