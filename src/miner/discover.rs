//! Source discovery: yt-dlp's search (`ytsearchN:query`) with the filters a miner needs
//! (duration range, 720p available, not live, not already published, optionally
//! Creative-Commons only), and the state file that keeps what was found with its
//! provenance (query, time), one JSON object per line. With a model configured, the
//! category pre-check ([`super::precheck`]) skips results whose thumbnail is off-category
//! before they are recorded.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ledger::{Ledger, LedgerError};
use super::precheck::{CategoryPrecheck, PrecheckReport};
use super::sources::Source;
use crate::media::ytdlp::{DownloadError, run_yt_dlp};
use crate::model::source_key::video_id;

/// Most results asked of one search.
pub const MAX_SEARCH_RESULTS: usize = 200;
/// Longest line of yt-dlp output read (one video's selected fields).
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Largest state file read.
const MAX_STATE_BYTES: u64 = 64 << 20;

/// What yt-dlp is asked to print per video: a small JSON object of these fields.
const PRINT_FIELDS: &str = "%(.{id,title,duration,live_status,license,height,webpage_url,thumbnail})j";

/// How yt-dlp is run for searches.
#[derive(Debug, Clone)]
pub struct Searcher {
    /// The yt-dlp binary.
    pub binary: PathBuf,
    /// Time limit of one search.
    pub timeout: Duration,
    /// Extra yt-dlp arguments (cookies, proxy).
    pub extra_args: Vec<OsString>,
}

/// The filters candidates must pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    /// Shortest source, seconds.
    pub min_duration_sec: f64,
    /// Longest source, seconds.
    pub max_duration_sec: f64,
    /// Lowest best-format height (720: the miner cuts 1280x720 clips).
    pub min_height: u32,
    /// Only videos YouTube lists under a Creative Commons license.
    pub creative_commons_only: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Self { min_duration_sec: 30.0, max_duration_sec: 3600.0, min_height: 720, creative_commons_only: false }
    }
}

/// One search result, as yt-dlp describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The YouTube video id.
    pub video_id: String,
    /// The watch URL.
    pub url: String,
    /// The title.
    pub title: String,
    /// Length, seconds.
    pub duration_sec: Option<f64>,
    /// Height of the best format, pixels.
    pub height: Option<u32>,
    /// `not_live`, `is_live`, `was_live`, `is_upcoming`, ...
    pub live_status: Option<String>,
    /// The license YouTube shows, if any.
    pub license: Option<String>,
    /// The thumbnail URL yt-dlp reports (for the category pre-check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// yt-dlp's printed fields.
#[derive(Debug, Deserialize)]
struct Printed {
    id: Option<String>,
    title: Option<String>,
    duration: Option<f64>,
    live_status: Option<String>,
    license: Option<String>,
    height: Option<f64>,
    thumbnail: Option<String>,
}

impl Candidate {
    /// Why the filters turn this candidate away, if they do.
    pub fn rejection(&self, filters: &Filters) -> Option<String> {
        let duration = self.duration_sec.unwrap_or(0.0);
        if !(filters.min_duration_sec..=filters.max_duration_sec).contains(&duration) {
            return Some(format!(
                "duration {duration:.0} s outside {:.0}..{:.0} s",
                filters.min_duration_sec, filters.max_duration_sec
            ));
        }
        if self.height.unwrap_or(0) < filters.min_height {
            return Some(format!("best format {}p is under {}p", self.height.unwrap_or(0), filters.min_height));
        }
        if let Some(live) = self.live_status.as_deref().filter(|s| *s != "not_live" && *s != "was_live") {
            return Some(format!("live status {live}"));
        }
        let cc = self.license.as_deref().is_some_and(|l| l.to_lowercase().contains("creative commons"));
        if filters.creative_commons_only && !cc {
            return Some("not Creative Commons".into());
        }
        None
    }
}

/// Reads yt-dlp's output lines into candidates; unusable lines are skipped.
pub fn parse_search_output(stdout: &[u8]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for line in stdout.split(|b| *b == b'\n') {
        if line.len() > MAX_LINE_BYTES {
            continue;
        }
        let Ok(p) = serde_json::from_slice::<Printed>(line) else { continue };
        let Some(id) = p.id.filter(|id| video_id(&format!("https://youtu.be/{id}")).as_deref() == Some(id)) else {
            continue;
        };
        if out.iter().any(|c| c.video_id == id) {
            continue;
        }
        out.push(Candidate {
            url: format!("https://www.youtube.com/watch?v={id}"),
            title: p.title.unwrap_or_default().chars().take(300).collect(),
            duration_sec: p.duration.filter(|d| d.is_finite()),
            height: p.height.filter(|h| h.is_finite() && *h >= 0.0).map(|h| h.min(f64::from(u32::MAX)) as u32),
            live_status: p.live_status,
            license: p.license,
            thumbnail: p.thumbnail.filter(|t| t.len() <= 2048),
            video_id: id,
        });
    }
    out
}

impl Searcher {
    /// The first `limit` results of a YouTube search for `query`.
    pub async fn search(&self, query: &str, limit: usize) -> Result<Vec<Candidate>, DownloadError> {
        let query = query.trim().replace(['\n', '\r'], " ");
        let limit = limit.clamp(1, MAX_SEARCH_RESULTS);
        let mut args: Vec<OsString> =
            ["--ignore-errors", "--no-warnings", "--no-playlist", "--skip-download", "-O", PRINT_FIELDS]
                .map(OsString::from)
                .to_vec();
        args.extend(self.extra_args.iter().cloned());
        args.push(format!("ytsearch{limit}:{query}").into());
        let out = run_yt_dlp(&self.binary, &args, self.timeout, None).await?;
        let found = parse_search_output(&out.stdout);
        if found.is_empty() && !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let message = stderr.lines().last().unwrap_or("no results").to_string();
            return Err(DownloadError::Failed { url: format!("ytsearch:{query}"), message });
        }
        Ok(found)
    }
}

/// A discovered source as kept in the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovered {
    /// The candidate.
    #[serde(flatten)]
    pub candidate: Candidate,
    /// The search phrase that found it.
    pub query: String,
    /// When it was found.
    pub discovered_at: DateTime<Utc>,
}

/// Candidates sorted by the filters: the kept ones, and the others with the reason.
pub type Sorted = (Vec<Candidate>, Vec<(Candidate, String)>);

/// The candidates of `found` that pass `filters` and have no segment in `ledger`, each
/// with its rejection reason otherwise.
pub fn apply_filters(found: Vec<Candidate>, filters: &Filters, ledger: Option<&Ledger>) -> Result<Sorted, LedgerError> {
    let (mut kept, mut rejected) = (Vec::new(), Vec::new());
    for c in found {
        if let Some(reason) = c.rejection(filters) {
            rejected.push((c, reason));
        } else if let Some(ledger) = ledger
            && ledger.has_video(&c.video_id)?
        {
            rejected.push((c, "a segment of it is already published".into()));
        } else {
            kept.push(c);
        }
    }
    Ok((kept, rejected))
}

/// The discoveries recorded in the state file at `path` (none when it does not exist).
pub fn read_state(path: &Path) -> std::io::Result<Vec<Discovered>> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_STATE_BYTES => {
            return Err(std::io::Error::other(format!("{} is over {MAX_STATE_BYTES} bytes", path.display())));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// Appends the candidates not yet in the state file, with their provenance; returns
/// how many were new.
pub fn append_state(path: &Path, query: &str, found: &[Candidate]) -> std::io::Result<usize> {
    let known = read_state(path)?;
    let now = Utc::now();
    let mut lines = String::new();
    let mut added = 0;
    for c in found {
        if known.iter().any(|d| d.candidate.video_id == c.video_id) {
            continue;
        }
        let entry = Discovered { candidate: c.clone(), query: query.to_string(), discovered_at: now };
        lines.push_str(&serde_json::to_string(&entry).map_err(std::io::Error::other)?);
        lines.push('\n');
        added += 1;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(lines.as_bytes())?;
    Ok(added)
}

/// The state file's discoveries as miner sources (line numbers count from 1).
pub fn state_sources(path: &Path) -> std::io::Result<Vec<Source>> {
    Ok(read_state(path)?
        .into_iter()
        .enumerate()
        .map(|(i, d)| Source { video_id: d.candidate.video_id, url: d.candidate.url, line: i + 1 })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(duration: f64, height: u32, live: &str, license: Option<&str>) -> Candidate {
        Candidate {
            video_id: "abcDEF12345".into(),
            url: "https://www.youtube.com/watch?v=abcDEF12345".into(),
            title: "t".into(),
            duration_sec: Some(duration),
            height: Some(height),
            live_status: Some(live.into()),
            license: license.map(str::to_string),
            thumbnail: None,
        }
    }

    #[test]
    fn each_filter_turns_away_what_it_should() {
        let f = Filters::default();
        assert_eq!(candidate(300.0, 1080, "not_live", None).rejection(&f), None);
        assert!(candidate(10.0, 1080, "not_live", None).rejection(&f).is_some_and(|r| r.contains("duration")));
        assert!(candidate(9000.0, 1080, "not_live", None).rejection(&f).is_some_and(|r| r.contains("duration")));
        assert!(candidate(300.0, 480, "not_live", None).rejection(&f).is_some_and(|r| r.contains("480p")));
        assert!(candidate(300.0, 1080, "is_live", None).rejection(&f).is_some_and(|r| r.contains("live")));
        let cc = Filters { creative_commons_only: true, ..Filters::default() };
        assert!(candidate(300.0, 1080, "not_live", None).rejection(&cc).is_some());
        let licensed = candidate(300.0, 1080, "not_live", Some("Creative Commons Attribution license (reuse allowed)"));
        assert_eq!(licensed.rejection(&cc), None);
    }

    #[test]
    fn output_lines_are_parsed_bounded_and_deduplicated() {
        let out = b"{\"id\": \"abcDEF12345\", \"title\": \"x\", \"duration\": 61, \"height\": 1080, \
            \"thumbnail\": \"https://i.ytimg.com/vi/abcDEF12345/hq720.jpg\"}\n\
            not json\n{\"id\": \"abcDEF12345\"}\n{\"id\": \"../../etc\"}\n{\"id\": \"zzzZZZ99999\", \"height\": 1e30}\n";
        let got = parse_search_output(out);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].duration_sec, got[0].height), (Some(61.0), Some(1080)));
        assert_eq!(got[1].height, Some(u32::MAX));
        assert_eq!(got[0].thumbnail.as_deref(), Some("https://i.ytimg.com/vi/abcDEF12345/hq720.jpg"));
        assert_eq!(got[1].thumbnail, None);
    }
}

/// Mining from search phrases (`NEXIS_SOURCES_QUERIES`): before each interval every
/// phrase is searched, the filtered results appended to the state file, and the state
/// file's sources mined with the static list.
#[derive(Debug, Clone)]
pub struct DiscoveryPlan {
    /// File of search phrases, one per line (`#` comments and blank lines ignored).
    pub queries_file: PathBuf,
    /// The state file of discovered sources.
    pub state_file: PathBuf,
    /// Runs the searches.
    pub searcher: Searcher,
    /// What the results must pass.
    pub filters: Filters,
    /// Results asked per phrase.
    pub per_query: usize,
    /// The category pre-check, when on.
    pub precheck: Option<Arc<CategoryPrecheck>>,
}

/// What one refresh of the discovered sources did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Sources newly recorded.
    pub added: usize,
    /// Results the category pre-check skipped as off-category.
    pub skipped_off_category: usize,
}

/// Runs `precheck` (when on) on the `kept` candidates not yet recorded in the state file
/// at `state` (those were judged when they were recorded).
pub async fn precheck_new(precheck: Option<&CategoryPrecheck>, state: &Path, kept: Vec<Candidate>) -> PrecheckReport {
    let Some(precheck) = precheck else { return PrecheckReport { kept, ..PrecheckReport::default() } };
    let known = read_state(state).unwrap_or_default();
    let (recorded, new): (Vec<Candidate>, Vec<Candidate>) =
        kept.into_iter().partition(|c| known.iter().any(|d| d.candidate.video_id == c.video_id));
    let mut report = precheck.sort(new).await;
    report.kept.extend(recorded);
    report
}

impl DiscoveryPlan {
    /// Searches every phrase and records what passes (and the pre-check keeps). A failing
    /// search is logged and the other phrases still run.
    pub async fn refresh(&self, ledger: &Ledger) -> Result<Refreshed, LedgerError> {
        let text = match std::fs::read_to_string(&self.queries_file) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(file = %self.queries_file.display(), error = %e, "cannot read NEXIS_SOURCES_QUERIES");
                return Ok(Refreshed::default());
            }
        };
        let mut done = Refreshed::default();
        for query in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).take(100) {
            let found = match self.searcher.search(query, self.per_query).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(query, error = %e, "source search failed");
                    continue;
                }
            };
            let (kept, rejected) = apply_filters(found, &self.filters, Some(ledger))?;
            let checked = precheck_new(self.precheck.as_deref(), &self.state_file, kept).await;
            done.skipped_off_category += checked.skipped.len();
            match append_state(&self.state_file, query, &checked.kept) {
                Ok(n) => {
                    tracing::info!(
                        query,
                        new = n,
                        kept = checked.kept.len(),
                        rejected = rejected.len(),
                        off_category = checked.skipped.len(),
                        "sources discovered"
                    );
                    done.added += n;
                }
                Err(e) => {
                    tracing::warn!(file = %self.state_file.display(), error = %e, "cannot record discovered sources")
                }
            }
        }
        Ok(done)
    }
}
