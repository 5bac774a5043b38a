//! One interval of mining: sources → downloads → clips (in parallel, bounded) → captions
//! → package → upload. A failing source or clip is logged and skipped; only trouble with
//! our own disk or the bucket ends the interval with an error.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tracing::{error, info, warn};

use super::caption::{Captioner, caption_clip};
use super::clipper::{Clipper, CutClip, segment_starts};
use super::discover::{DiscoveryPlan, state_sources};
use super::download::Downloader;
use super::ledger::{Ledger, LedgerError};
use super::metrics::{CodeLabel, MinerMetrics};
use super::package::{
    PackageError, PackageInfo, UploadPolicy, is_complete, mark_complete, package_dir, record_for, upload_package,
    write_package,
};
use super::self_check::{SelfCheck, Verdict};
use super::sources::{Source, SourcesError, read_sources};
use crate::chain::Chain;
use crate::media::MediaProbe;
use crate::media::ffmpeg::frames_at;
use crate::media::ytdlp::DownloadError;
use crate::model::{ClipRecord, Failure};
use crate::protocol::{Block, CLIP_DURATION_SEC, IntervalClock};
use crate::shutdown::{Shutdown, run_every};
use crate::storage::{ObjectStore, StorageError, manifest_key};
use crate::validator::EnvironmentError;

/// Progress-bar units per clip (per mille of its encode).
const CLIP_BAR_UNITS: u64 = 1000;

/// Interval failures (the interval is retried on the next poll).
#[derive(Debug, thiserror::Error)]
pub enum MineError {
    /// The sources file could not be read.
    #[error(transparent)]
    Sources(#[from] SourcesError),
    /// The ledger of published segments failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Writing or uploading the package failed.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The bucket could not be read.
    #[error("bucket: {0}")]
    Storage(#[from] StorageError),
    /// A download failed in a way no other source can avoid (yt-dlp missing).
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// The self-check could not run (no scratch space, no ffprobe).
    #[error("the self-check could not run: {0}")]
    SelfCheckUnavailable(#[from] EnvironmentError),
    /// Our own validator rejects the package as a whole; nothing was uploaded.
    #[error(
        "our own validator rejects this package as a whole ({failures}); nothing was uploaded \
         (check the miner's settings, or turn the check off with --no-self-check)"
    )]
    SelfCheckRejected {
        /// The package-level failures, comma-separated, with the validator's detail.
        failures: String,
    },
}

/// Miner settings.
#[derive(Debug, Clone)]
pub struct MinerSettings {
    /// File of YouTube URLs, one per line.
    pub sources_file: PathBuf,
    /// Where packages are built until uploaded.
    pub packages_dir: PathBuf,
    /// Most clips in one package.
    pub max_clips: usize,
    /// Clips cut at once.
    pub clip_concurrency: usize,
    /// Caption requests at once.
    pub caption_concurrency: usize,
    /// Retries and concurrency of the upload.
    pub upload: UploadPolicy,
    /// Show progress bars (a terminal is attached).
    pub progress: bool,
    /// Sources found by search phrases, mined with the static list (`None`: only the list).
    pub discovery: Option<DiscoveryPlan>,
}

/// What one interval produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MineReport {
    /// The interval mined.
    pub interval_id: u64,
    /// Rows published (0 when the interval was skipped).
    pub records: usize,
    /// Planned clips that could not be cut.
    pub clips_failed: usize,
    /// Cut clips dropped for want of a caption.
    pub captions_dropped: usize,
    /// Sources that could not be downloaded or probed.
    pub sources_failed: usize,
    /// The manifest was already in the bucket.
    pub skipped: bool,
    /// A package left by an earlier run was uploaded.
    pub resumed: bool,
    /// Rows the self-check dropped before upload, by failure code.
    pub self_check_dropped: BTreeMap<String, usize>,
    /// Rows captioned again because the self-check rejected their caption (a row whose
    /// new caption fails too is then dropped, and also counted in `self_check_dropped`).
    pub recaptioned: usize,
}

/// One segment to cut: a downloaded source and where the clip starts.
struct PlannedClip {
    source: Source,
    path: PathBuf,
    start: f64,
    audio: bool,
}

/// The miner.
pub struct Miner {
    /// Paths, limits and concurrency.
    pub settings: MinerSettings,
    /// What every manifest says (its interval is set per package).
    pub info: PackageInfo,
    /// Fetches source videos.
    pub downloader: Downloader,
    /// Cuts and encodes clips.
    pub clipper: Clipper,
    /// Probes downloaded sources.
    pub probe: Arc<dyn MediaProbe>,
    /// Writes the captions.
    pub captioner: Arc<dyn Captioner>,
    /// Segments already published (never cut twice).
    pub ledger: Ledger,
    /// The miner's bucket (or a local directory).
    pub store: Arc<dyn ObjectStore>,
    /// Our validator's pipeline run on each package before upload (`None`: off).
    pub self_check: Option<SelfCheck>,
    /// Counters served on `/metrics`.
    pub metrics: MinerMetrics,
}

impl Miner {
    fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.settings.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar
    }

    /// The clip bar: [`CLIP_BAR_UNITS`] per clip, advanced by encode progress.
    fn clip_bar(&self, clips: usize) -> ProgressBar {
        if !self.settings.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(clips as u64 * CLIP_BAR_UNITS);
        if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:30}] {percent:>3}% {elapsed}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("clips 0/{clips}"));
        bar
    }

    /// Mines each interval once as it opens, polling the chain every `poll` until
    /// `shutdown`. A failed interval is logged and retried on the next poll; a stop cuts
    /// the interval in progress, whose package is finished on the next start.
    pub async fn run(&self, clock: &IntervalClock, chain: &dyn Chain, poll: Duration, shutdown: &Shutdown) {
        let last: Mutex<Option<u64>> = Mutex::new(None);
        info!(chain = %chain.describe(), hotkey = %self.info.miner_hotkey, "miner started");
        let never = run_every(poll, shutdown, || async {
            match chain.current_block().await {
                Ok(block) => {
                    let interval = clock.interval_start(Block::new(block)).get();
                    if *last.lock().unwrap_or_else(PoisonError::into_inner) != Some(interval) {
                        match self.mine_interval(interval).await {
                            Ok(_) => *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(interval),
                            Err(e) => error!(interval, error = %e, "mining this interval failed; retrying next poll"),
                        }
                    }
                }
                Err(e) => error!(error = %e, "cannot read the current block"),
            }
            Ok::<(), Infallible>(())
        })
        .await;
        let Ok(()) = never;
        info!("miner stopped; packages not yet uploaded are finished on the next start");
    }

    /// Uploads every complete package left on disk whose manifest is not in the bucket.
    pub(crate) async fn resume_pending(&self) -> Result<Vec<u64>, MineError> {
        let mut done = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.settings.packages_dir) else { return Ok(done) };
        let mut pending: Vec<u64> =
            entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok())).collect();
        pending.sort_unstable();
        for interval_id in pending {
            let dir = package_dir(&self.settings.packages_dir, interval_id);
            if !is_complete(&dir) {
                warn!(interval_id, "removing an unfinished package build");
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            if self.store.head(&manifest_key(interval_id)).await?.is_none() {
                info!(interval_id, "finishing the upload of a package from an earlier run");
                let bar = self.bar(0, "upload");
                upload_package(self.store.as_ref(), &dir, interval_id, self.settings.upload, &bar).await?;
                bar.finish_and_clear();
            }
            let _ = std::fs::remove_dir_all(&dir);
            done.push(interval_id);
        }
        Ok(done)
    }

    /// Builds and uploads the package of `interval_id`.
    pub async fn mine_interval(&self, interval_id: u64) -> Result<MineReport, MineError> {
        let started = Instant::now();
        let mut report = MineReport { interval_id, ..Default::default() };
        let resumed = self.resume_pending().await?;
        if resumed.contains(&interval_id) {
            report.resumed = true;
            return Ok(report);
        }
        if self.store.head(&manifest_key(interval_id)).await?.is_some() {
            info!(interval_id, "this interval's manifest is already published; not rebuilding it");
            report.skipped = true;
            return Ok(report);
        }
        let dir = package_dir(&self.settings.packages_dir, interval_id);
        let _ = std::fs::remove_dir_all(&dir);
        let plan = self.plan_segments(interval_id, &mut report).await?;
        let clips = self.cut_clips(&plan, &dir, &mut report).await;
        let captioned = self.caption_clips(clips).await;
        self.publish(interval_id, captioned, &dir, &mut report).await?;
        info!(
            interval_id,
            records = report.records,
            clips_failed = report.clips_failed,
            captions_dropped = report.captions_dropped,
            sources_failed = report.sources_failed,
            self_check_dropped = report.self_check_dropped.values().sum::<usize>(),
            recaptioned = report.recaptioned,
            took_s = started.elapsed().as_secs_f64(),
            "interval package published"
        );
        Ok(report)
    }

    /// Sources and the plan of segments: downloads and probes each source and plans its
    /// unpublished segments, up to the clip limit. A failing source is counted and skipped.
    async fn plan_segments(&self, interval_id: u64, report: &mut MineReport) -> Result<Vec<PlannedClip>, MineError> {
        let sources = self.sources().await?;
        let mut plan = Vec::new();
        let bar = self.bar(sources.len() as u64, "download");
        for source in &sources {
            if plan.len() >= self.settings.max_clips {
                break;
            }
            let path = match self.downloader.fetch(source).await {
                Ok(p) => p,
                Err(e @ DownloadError::ToolMissing(_)) => return Err(e.into()),
                Err(e) => {
                    warn!(video_id = %source.video_id, line = source.line, error = %e, "skipping this source");
                    report.sources_failed += 1;
                    bar.inc(1);
                    continue;
                }
            };
            let info = match self.probe.probe(&path).await {
                Ok(i) => i,
                Err(e) => {
                    warn!(video_id = %source.video_id, error = %e, "cannot probe the source; skipping it");
                    report.sources_failed += 1;
                    bar.inc(1);
                    continue;
                }
            };
            let duration = info.duration_sec.unwrap_or(0.0);
            let mut ledger_error = None;
            let starts = segment_starts(duration, |start| {
                self.ledger.contains(&source.video_id, start).unwrap_or_else(|e| {
                    ledger_error.get_or_insert(e);
                    true
                })
            });
            if let Some(e) = ledger_error {
                return Err(e.into());
            }
            for start in starts.into_iter().take(self.settings.max_clips - plan.len()) {
                plan.push(PlannedClip { source: source.clone(), path: path.clone(), start, audio: info.has_audio });
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        info!(interval_id, sources = sources.len(), planned = plan.len(), "cutting clips");
        Ok(plan)
    }

    /// The static source list, then the discovered sources (searched again first when
    /// discovery is on) not already in it.
    async fn sources(&self) -> Result<Vec<Source>, MineError> {
        let Some(plan) = &self.settings.discovery else { return Ok(read_sources(&self.settings.sources_file)?) };
        let mut sources = match read_sources(&self.settings.sources_file) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "no static sources; mining discovered sources only");
                Vec::new()
            }
        };
        let refreshed = plan.refresh(&self.ledger).await?;
        self.metrics.precheck_skipped.inc_by(refreshed.skipped_off_category as u64);
        match state_sources(&plan.state_file) {
            Ok(found) => {
                for s in found {
                    if !sources.iter().any(|k| k.video_id == s.video_id) {
                        sources.push(s);
                    }
                }
            }
            Err(e) => warn!(file = %plan.state_file.display(), error = %e, "cannot read the discovered sources"),
        }
        Ok(sources)
    }

    /// Clips, in parallel; the bar moves with each clip's encode progress. A failing clip
    /// is counted and skipped.
    async fn cut_clips(&self, plan: &[PlannedClip], dir: &Path, report: &mut MineReport) -> Vec<CutClip> {
        let bar = self.clip_bar(plan.len());
        let (done, planned) = (AtomicUsize::new(0), plan.len());
        let cut: Vec<Result<CutClip, _>> = futures::stream::iter(plan.iter())
            .map(|PlannedClip { source, path, start, audio }| {
                let (bar, done) = (&bar, &done);
                async move {
                    let shown = Arc::new(AtomicU64::new(0));
                    let (clip_bar, clip_shown) = (bar.clone(), shown.clone());
                    let progress = move |seconds: f64| {
                        let now = (seconds / CLIP_DURATION_SEC).clamp(0.0, 1.0) * CLIP_BAR_UNITS as f64;
                        let before = clip_shown.fetch_max(now as u64, Ordering::Relaxed);
                        clip_bar.inc((now as u64).saturating_sub(before));
                    };
                    let r = self.clipper.cut_with_progress(source, path, *start, *audio, dir, progress).await;
                    bar.inc(CLIP_BAR_UNITS.saturating_sub(shown.load(Ordering::Relaxed)));
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("clips {finished}/{planned}"));
                    if let Err(e) = &r {
                        warn!(video_id = %source.video_id, start, error = %e, "skipping this clip");
                    }
                    r
                }
            })
            .buffered(self.settings.clip_concurrency.max(1))
            .collect()
            .await;
        bar.finish_and_clear();
        report.clips_failed = cut.iter().filter(|r| r.is_err()).count();
        cut.into_iter().flatten().collect()
    }

    /// Captions, in parallel; `None` for a clip whose frames or caption failed (dropped).
    async fn caption_clips(&self, clips: Vec<CutClip>) -> Vec<(CutClip, Option<String>)> {
        let bar = self.bar(clips.len() as u64, "captions");
        let captioned = futures::stream::iter(clips)
            .map(|clip| {
                let bar = &bar;
                async move {
                    let caption = self.caption_one(&clip).await;
                    bar.inc(1);
                    (clip, caption)
                }
            })
            .buffered(self.settings.caption_concurrency.max(1))
            .collect()
            .await;
        bar.finish_and_clear();
        captioned
    }

    /// A caption for one clip; `None` when its frames or a usable caption cannot be had.
    async fn caption_one(&self, clip: &CutClip) -> Option<String> {
        match frames_at(&clip.clip_path, &[0.5, 2.5, 4.5], self.clipper.timeout, 8 << 20).await {
            Ok(frames) => match caption_clip(self.captioner.as_ref(), &frames).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(clip_id = %clip.clip_id, error = %e, "no caption; dropping the clip");
                    None
                }
            },
            Err(e) => {
                warn!(clip_id = %clip.clip_id, error = %e, "cannot extract frames; dropping the clip");
                None
            }
        }
    }

    /// The package: writes the captioned clips' rows, runs the self-check (dropping or
    /// re-captioning the rows it rejects), records the kept rows in the ledger and uploads;
    /// the files of rows not kept are removed first.
    async fn publish(
        &self,
        interval_id: u64,
        captioned: Vec<(CutClip, Option<String>)>,
        dir: &Path,
        report: &mut MineReport,
    ) -> Result<(), MineError> {
        let mut rows = Vec::new();
        for (clip, caption) in captioned {
            match caption {
                Some(text) => rows.push((clip, text)),
                None => {
                    report.captions_dropped += 1;
                    remove_clip_files(&clip);
                }
            }
        }
        let package = PackageInfo { interval_id, ..self.info.clone() };
        let records = match &self.self_check {
            Some(check) => self.checked_rows(check, &package, rows, dir, report).await?,
            None => {
                let records: Vec<_> = rows.iter().map(|(c, t)| record_for(c, t.clone(), interval_id)).collect();
                write_package(dir, &package, &records)?;
                records
            }
        };
        mark_complete(dir)?;
        let kept = records.iter().map(|r| (r.source_video_id.as_str(), r.clip_start_sec));
        self.ledger.record(interval_id, kept)?;
        let bar = self.bar(0, "upload");
        upload_package(self.store.as_ref(), dir, interval_id, self.settings.upload, &bar).await?;
        bar.finish_and_clear();
        let _ = std::fs::remove_dir_all(dir);
        report.records = records.len();
        self.metrics.published.inc_by(records.len() as u64);
        Ok(())
    }

    /// Writes the package and runs the self-check until our validator accepts it: rows
    /// with failures are dropped, except that a row failing only on its caption is
    /// captioned once more. Returns the rows written last. A package-level failure (no
    /// row to blame) removes the build and ends the interval without an upload.
    async fn checked_rows(
        &self,
        check: &SelfCheck,
        package: &PackageInfo,
        mut rows: Vec<(CutClip, String)>,
        dir: &Path,
        report: &mut MineReport,
    ) -> Result<Vec<ClipRecord>, MineError> {
        let started = Instant::now();
        let mut recaptioned = HashSet::new();
        let mut round = 0;
        loop {
            round += 1;
            let records: Vec<_> = rows.iter().map(|(c, t)| record_for(c, t.clone(), package.interval_id)).collect();
            write_package(dir, package, &records)?;
            let verdict = check.check(dir, package, &records).await?;
            for unavailable in &verdict.unavailable {
                warn!(check = %unavailable, "self-check: a check could not run; the row is kept");
            }
            if verdict.is_clean() {
                let dropped = report.self_check_dropped.values().sum::<usize>();
                info!(
                    interval_id = package.interval_id,
                    rows = records.len(),
                    dropped,
                    by_code = ?report.self_check_dropped,
                    recaptioned = report.recaptioned,
                    took_s = started.elapsed().as_secs_f64(),
                    "self-check passed: our validator accepts every row"
                );
                return Ok(records);
            }
            if !verdict.package.is_empty() || round == SELF_CHECK_ROUNDS {
                let _ = std::fs::remove_dir_all(dir);
                let mut failures: Vec<String> = verdict.package.iter().map(ToString::to_string).collect();
                failures.extend(verdict.rows.values().flatten().map(ToString::to_string));
                failures.extend(verdict.detail);
                return Err(MineError::SelfCheckRejected { failures: failures.join(", ") });
            }
            rows = self.triage(rows, &verdict, &mut recaptioned, report).await;
        }
    }
    /// The rows kept after a failed self-check: rows without failures, and rows failing
    /// only on their caption that get a usable new one (once per row); the others are
    /// dropped, counted by their first failure's code.
    async fn triage(
        &self,
        rows: Vec<(CutClip, String)>,
        verdict: &Verdict,
        recaptioned: &mut HashSet<String>,
        report: &mut MineReport,
    ) -> Vec<(CutClip, String)> {
        let mut kept = Vec::with_capacity(rows.len());
        for (clip, caption) in rows {
            let failures = verdict.rows.get(&clip.clip_id).map(Vec::as_slice).unwrap_or_default();
            let Some(first) = failures.first() else {
                kept.push((clip, caption));
                continue;
            };
            if failures.iter().all(Failure::is_caption_failure)
                && recaptioned.insert(clip.clip_id.clone())
                && let Some(text) = self.caption_one(&clip).await
            {
                info!(clip_id = %clip.clip_id, failure = %first, "self-check: captioning the row again");
                self.metrics.recaptioned.inc();
                report.recaptioned += 1;
                kept.push((clip, text));
                continue;
            }
            let code = first.code();
            warn!(clip_id = %clip.clip_id, failures = ?failures.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "self-check: our validator would reject this row; dropping it");
            *report.self_check_dropped.entry(code.to_string()).or_default() += 1;
            self.metrics.dropped.get_or_create(&CodeLabel { code: code.to_string() }).inc();
            remove_clip_files(&clip);
        }
        kept
    }
}

/// Rounds of check-and-rebuild before a package that still fails is given up.
const SELF_CHECK_ROUNDS: usize = 4;

/// Removes a row's clip and first frame from the package build.
fn remove_clip_files(clip: &CutClip) {
    let _ = std::fs::remove_file(&clip.clip_path);
    let _ = std::fs::remove_file(&clip.frame_path);
}
