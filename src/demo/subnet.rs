//! The demo's world: an embedded chain in `{workdir}/chain` whose clock only moves when
//! the demo steps it, a bucket directory per miner under `{workdir}/buckets/{hotkey
//! lowercase}` (protocol §4, §5), one validator and seven miners with deterministic demo
//! keys, synthetic sources made by ffmpeg (a seeded cellular automaton, textured enough
//! that different sources never share a content fingerprint) and pre-seeded in each miner's `raw/` (so
//! yt-dlp is never run), and the validator service assembled from the same parts
//! `nexis validate` uses, reading the buckets through [`LocalBuckets`] as
//! `NEXIS_LOCAL_BUCKETS_DIR` does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::info;

use super::captions::ColourCaptioner;
use super::{DemoError, DemoSettings};
use crate::chain::commitment::bucket_for_hotkey;
use crate::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use crate::chain::{Chain, Hotkey, NetUid, ReadCredentials, Uid};
use crate::index::refresh::{DEFAULT_BUCKET, DEFAULT_OBJECT_KEY};
use crate::media::{Ffprobe, MediaProbe};
use crate::miner::clipper::Clipper;
use crate::miner::download::Downloader;
use crate::miner::ledger::Ledger;
use crate::miner::package::{PackageInfo, UploadPolicy};
use crate::miner::{Miner, MinerSettings};
use crate::owner::OwnerMode;
use crate::protocol::{DEFAULT_CATEGORY, DEFAULT_SPEC_ID};
use crate::spec::SpecRegistry;
use crate::storage::LocalBuckets;
use crate::storage::{LocalStore, ObjectStore};
use crate::validator::{
    DEFAULT_SOURCE_CHECK_ROWS, IntervalSettings, PackageLimits, PackageValidator, Seat, ServiceSettings, SourceCheck,
    SourceFetchSettings, ValidatorConfig, ValidatorService, ValidatorState,
};

/// The demo subnet's id.
pub const NETUID: NetUid = 1;
/// The chain's own block time: an hour, so wall time never moves the clock during a demo;
/// the demo steps it block by block instead.
const STEPPED_CHAIN_BLOCK_MS: u64 = 3_600_000;
/// Manifest lateness is measured against block times; on a stepped clock those are not
/// wall times, so the demo validator allows an hour of grace.
const UPLOAD_GRACE: Duration = Duration::from_secs(3600);
/// Length of each synthetic source: three whole 5-second segments.
const SOURCE_SECONDS: f64 = 15.5;
/// The size the resolution liar really ships.
pub const LIAR_SIZE: (u32, u32) = (854, 480);

/// What a participant does in the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Evaluates every interval and sets weights.
    Validator,
    /// Mines by the rules.
    Honest,
    /// Ships 854x480 clips while the dataset declares 1280x720.
    ResolutionLiar,
    /// Republishes another miner's package as its own, later.
    Copier,
    /// Mines by the rules but publishes nothing in one interval.
    Absentee,
    /// Ships real 1280x720 clips with correct hashes, cut from other videos than the
    /// YouTube sources it claims.
    Fabricator,
    /// Mines, after another miner, a re-encoded re-upload of that miner's videos under
    /// other video ids: new clip ids, hashes and sources, the same footage.
    Reuploader,
}

impl Role {
    /// What the role does, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Validator => "validates every interval, sets weights each epoch",
            Self::Honest => "mines by the rules",
            Self::ResolutionLiar => "ships 854x480 clips, declares 1280x720",
            Self::Copier => "republishes another miner's clips, later",
            Self::Absentee => "mines by the rules but skips one interval",
            Self::Fabricator => "claims YouTube sources its clips were not cut from",
            Self::Reuploader => "republishes another miner's footage re-encoded, under other video ids",
        }
    }
}

/// A registered participant.
#[derive(Debug, Clone)]
pub struct Participant {
    /// Its name in the demo's output.
    pub name: String,
    /// What it does.
    pub role: Role,
    /// Its deterministic demo hotkey.
    pub hotkey: Hotkey,
    /// Its uid on the demo subnet.
    pub uid: Uid,
}

impl Participant {
    /// The SS58 hotkey.
    pub fn ss58(&self) -> String {
        self.hotkey.ss58()
    }
}

/// A demo miner: its bucket and, unless it only copies, a real [`Miner`].
pub struct MinerNode {
    /// The miner's registration.
    pub who: Participant,
    /// The miner's own bucket (what validators read).
    pub bucket: Arc<dyn ObjectStore>,
    /// The real miner (the copier has none).
    pub miner: Option<Miner>,
    /// The resolution liar builds into this directory store first, then doctors and
    /// uploads the package to its bucket.
    pub staging: Option<PathBuf>,
    /// The miner the copier copies or the re-uploader re-uploads (an index into
    /// [`Subnet::miners`]); such a miner acts after the others.
    pub victim: Option<usize>,
    /// The interval (0-based position in the run) the absentee skips.
    pub skip: Option<u64>,
}

/// The whole demo subnet.
pub struct Subnet {
    /// The embedded chain, stepped by the demo.
    pub chain: EmbeddedChain,
    /// The validator's registration.
    pub validator: Participant,
    /// The miners, in registration order.
    pub miners: Vec<MinerNode>,
    /// The validator service.
    pub service: ValidatorService,
    /// Where every bucket lives as a directory.
    pub buckets_dir: PathBuf,
    /// `nexis api` on the embedded store; the validator reports to it.
    pub api: crate::evidence_server::local::LocalEvidenceServer,
}

impl Subnet {
    /// Name, role and uid of every participant, validator first.
    pub fn participants(&self) -> impl Iterator<Item = &Participant> {
        std::iter::once(&self.validator).chain(self.miners.iter().map(|m| &m.who))
    }

    /// The participant registered under `hotkey`.
    pub fn by_hotkey(&self, hotkey: &str) -> Option<&Participant> {
        self.participants().find(|p| p.ss58() == hotkey)
    }

    /// The participant at `uid`.
    pub fn by_uid(&self, uid: Uid) -> Option<&Participant> {
        self.participants().find(|p| p.uid == uid)
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The demo's deterministic hotkey for `name` (never use these keys anywhere else).
pub fn demo_hotkey(name: &str) -> Hotkey {
    Hotkey::from_seed(digest(&format!("nexis-demo hotkey {name}")))
}

/// Well-formed but fake read credentials (the demo's buckets are directories).
fn demo_credentials(name: &str) -> Result<ReadCredentials, DemoError> {
    let hex = |t: &str| hex::encode(digest(&format!("nexis-demo {t} {name}")));
    Ok(ReadCredentials::new(&hex("account")[..32], &hex("access")[..32], &hex("secret"))?)
}

/// An 11-character, YouTube-like video id unique to `miner` and `n`.
fn video_id(miner: &str, n: usize) -> String {
    let tag: String = miner.chars().filter(char::is_ascii_alphanumeric).take(7).collect();
    format!("nx{tag:-<7}{n:02}")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |e| DemoError::Io { path: path.display().to_string(), message: e.to_string() }
}

/// Refuses a work directory that is not empty: the demo's chain and validator state must
/// start fresh.
fn prepare_workdir(dir: &Path) -> Result<(), DemoError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(DemoError::Settings(format!(
                    "the demo work directory {} is not empty; give an empty or new directory (or none, for a \
                     temporary one)",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir).map_err(io(dir)),
        Err(e) => Err(io(dir)(e)),
    }
}

/// The miners of the demo: (name, role), in registration order.
const MINERS: [(&str, Role); 7] = [
    ("honest-1", Role::Honest),
    ("honest-2", Role::Honest),
    ("liar", Role::ResolutionLiar),
    ("copier", Role::Copier),
    ("absentee", Role::Absentee),
    ("fabricator", Role::Fabricator),
    ("reuploader", Role::Reuploader),
];

/// The miner the copier copies (honest-1) and the one the re-uploader re-uploads
/// (honest-2), as indices into [`MINERS`].
const COPIER_VICTIM: usize = 0;
const REUPLOADER_VICTIM: usize = 1;

/// Frame rate of the synthetic sources (and so of every clip): low, so ffmpeg is quick.
const SOURCE_FPS: u32 = 10;

/// How one synthetic source is made.
#[derive(Debug, Clone)]
pub(crate) enum SourceJob {
    /// Drawn from scratch with this seed ([`cheats::draw_source`]).
    Draw(u32),
    /// A re-encoded copy of this other video (the re-uploader's).
    Reencode(PathBuf),
}

/// The synthetic sources of one miner: the sources-file lines and, for each, where to
/// write the video and how. The re-uploader's `n`-th source is a re-encode of its
/// victim's `n`-th (`victim_raw`).
fn plan_sources(
    miner: &str,
    count: usize,
    seed_base: u32,
    raw_dir: &Path,
    victim: Option<(&str, &Path)>,
) -> (Vec<String>, Vec<(PathBuf, SourceJob)>) {
    (0..count)
        .map(|n| {
            let id = video_id(miner, n);
            let job = match victim {
                Some((name, raw)) => SourceJob::Reencode(raw.join(format!("{}.mp4", video_id(name, n)))),
                None => SourceJob::Draw(seed_base + n as u32),
            };
            (format!("https://www.youtube.com/watch?v={id}"), (raw_dir.join(format!("{id}.mp4")), job))
        })
        .unzip()
}

/// Writes the planned sources with ffmpeg, `concurrency` at a time: the drawn ones first,
/// then the re-encoded copies of them.
async fn seed_sources(jobs: Vec<(PathBuf, SourceJob)>, concurrency: usize) -> Result<(), DemoError> {
    for (path, _) in &jobs {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
    }
    let (drawn, copies): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(_, j)| matches!(j, SourceJob::Draw(_)));
    for batch in [drawn, copies] {
        let results: Vec<Result<(), DemoError>> = futures::stream::iter(batch)
            .map(|(path, job)| async move {
                match job {
                    SourceJob::Draw(seed) => super::cheats::draw_source(&path, seed, SOURCE_SECONDS, SOURCE_FPS).await,
                    SourceJob::Reencode(from) => super::cheats::reencode_source(&from, &path).await,
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<(), DemoError>>()?;
    }
    Ok(())
}

impl Subnet {
    /// Builds the world in `settings.workdir` (which must be empty or absent).
    pub async fn build(settings: &DemoSettings) -> Result<Self, DemoError> {
        check_settings(settings)?;
        let workdir = settings.workdir.as_path();
        prepare_workdir(workdir)?;
        let probe = Ffprobe::new(None, Duration::from_secs(60));
        probe.check_available(std::env::var_os("PATH").as_deref())?;
        let probe: Arc<dyn MediaProbe> = Arc::new(probe);

        let chain = EmbeddedChain::open(EmbeddedSettings::new(workdir.join("chain"), STEPPED_CHAIN_BLOCK_MS))?;
        let validator_key = demo_hotkey("validator");
        let uid = chain.register(NETUID, &validator_key.ss58())?;
        let validator = Participant { name: "validator".into(), role: Role::Validator, hotkey: validator_key, uid };

        let buckets_dir = workdir.join("buckets");
        let clip_concurrency = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4);
        let plan = MinerPlan { settings, probe: &probe, buckets_dir: &buckets_dir, clip_concurrency };
        let mut miners = Vec::with_capacity(MINERS.len());
        let mut synth_jobs = Vec::new();
        for (i, (name, role)) in MINERS.into_iter().enumerate() {
            let (node, jobs) = plan.miner(&chain, i, name, role).await?;
            miners.push(node);
            synth_jobs.extend(jobs);
        }
        seed_sources(synth_jobs, clip_concurrency).await?;
        // What "YouTube" serves the validator's source check: every miner's real source,
        // except that the fabricator's claimed ids are other videos than it cut from. The
        // re-uploader's ids serve its re-upload (what it did cut from), so its clips pass
        // the source check and only their content gives them away.
        let youtube = workdir.join("youtube");
        for node in &miners {
            let raw = workdir.join("miners").join(&node.who.name).join("raw");
            let fake = node.who.role == Role::Fabricator;
            super::cheats::serve_sources(&raw, &youtube, fake, SOURCE_SECONDS, SOURCE_FPS).await?;
        }
        info!(workdir = %workdir.display(), miners = miners.len(), "demo subnet registered, sources seeded");

        let chain_arc: Arc<dyn Chain> = Arc::new(chain.clone());
        let api = crate::evidence_server::local::LocalEvidenceServer::start(
            workdir,
            chain_arc.clone(),
            NETUID,
            settings.block_time,
        )
        .await?;
        let parts = ValidatorParts { chain: chain_arc, probe, buckets_dir: &buckets_dir, youtube, clip_concurrency };
        let service = demo_validator(settings, &validator, parts, &api)?;
        Ok(Self { chain, validator, miners, service, buckets_dir, api })
    }
}

/// Refuses settings the demo cannot run with.
fn check_settings(settings: &DemoSettings) -> Result<(), DemoError> {
    let clock = settings.clock;
    if clock.upload_reserve_blocks >= clock.interval_blocks {
        return Err(DemoError::Settings(format!(
            "the upload reserve ({} blocks) must be shorter than an interval ({} blocks)",
            clock.upload_reserve_blocks, clock.interval_blocks
        )));
    }
    if settings.intervals == 0 || settings.clips_per_interval == 0 {
        return Err(DemoError::Settings("the demo needs at least one interval and one clip per interval".into()));
    }
    Ok(())
}

/// What every demo miner is made from.
struct MinerPlan<'a> {
    settings: &'a DemoSettings,
    probe: &'a Arc<dyn MediaProbe>,
    buckets_dir: &'a Path,
    clip_concurrency: usize,
}

impl MinerPlan<'_> {
    /// Registers miner `i` (`name`, `role`), commits its credentials and sets up its home;
    /// returns it with the synthetic sources still to write.
    async fn miner(
        &self,
        chain: &EmbeddedChain,
        i: usize,
        name: &str,
        role: Role,
    ) -> Result<(MinerNode, Vec<(PathBuf, SourceJob)>), DemoError> {
        let hotkey = demo_hotkey(name);
        let uid = chain.register(NETUID, &hotkey.ss58())?;
        chain.commit(&hotkey, NETUID, &demo_credentials(name)?.payload()).await?;
        let bucket: Arc<dyn ObjectStore> =
            Arc::new(LocalStore::new(self.buckets_dir.join(bucket_for_hotkey(&hotkey.ss58()))));
        let who = Participant { name: name.to_string(), role, hotkey, uid };
        let victim = match role {
            Role::Copier => Some(COPIER_VICTIM),
            Role::Reuploader => Some(REUPLOADER_VICTIM),
            _ => None,
        };
        let skip = (role == Role::Absentee).then(|| 1.min(self.settings.intervals - 1));
        if role == Role::Copier {
            return Ok((MinerNode { who, bucket, miner: None, staging: None, victim, skip }, Vec::new()));
        }
        let home = self.settings.workdir.join("miners").join(name);
        let clips_needed = self.settings.intervals as usize * self.settings.clips_per_interval;
        let sources_per_miner = clips_needed.div_ceil(3).max(1);
        let miners_dir = self.settings.workdir.join("miners");
        let victim_raw = victim.map(|v| (MINERS[v].0, miners_dir.join(MINERS[v].0).join("raw")));
        let victim_raw = victim_raw.as_ref().map(|(n, p)| (*n, p.as_path()));
        let (lines, jobs) = plan_sources(name, sources_per_miner, 10 * i as u32, &home.join("raw"), victim_raw);
        std::fs::create_dir_all(&home).map_err(io(&home))?;
        let sources_file = home.join("sources.txt");
        std::fs::write(&sources_file, lines.join("\n") + "\n").map_err(io(&sources_file))?;
        let staging = (role == Role::ResolutionLiar).then(|| home.join("staging"));
        let store: Arc<dyn ObjectStore> = match &staging {
            Some(dir) => Arc::new(LocalStore::new(dir)),
            None => bucket.clone(),
        };
        let miner = self.real_miner(&home, sources_file, &who, store)?;
        Ok((MinerNode { who, bucket, miner: Some(miner), staging, victim, skip }, jobs))
    }

    /// The real miner of `who`, living in `home` and uploading to `store`.
    fn real_miner(
        &self,
        home: &Path,
        sources_file: PathBuf,
        who: &Participant,
        store: Arc<dyn ObjectStore>,
    ) -> Result<Miner, DemoError> {
        let probe = self.probe.clone();
        Ok(Miner {
            settings: MinerSettings {
                sources_file,
                packages_dir: home.join("packages"),
                max_clips: self.settings.clips_per_interval,
                clip_concurrency: self.clip_concurrency,
                caption_concurrency: self.clip_concurrency,
                upload: UploadPolicy { attempts: 2, backoff: Duration::from_millis(50), concurrency: 4 },
                progress: false,
                discovery: None,
            },
            info: PackageInfo {
                miner_hotkey: who.ss58(),
                netuid: NETUID,
                interval_id: 0,
                spec_id: DEFAULT_SPEC_ID.into(),
                category: Some(DEFAULT_CATEGORY.into()),
            },
            downloader: Downloader {
                raw_dir: home.join("raw"),
                // Every source is pre-seeded; a missing one fails instead of downloading.
                binary: home.join("no-downloads-in-the-demo"),
                timeout: Duration::from_secs(1),
                attempts: 1,
                extra_args: Vec::new(),
            },
            clipper: Clipper { probe: probe.clone(), timeout: Duration::from_secs(120), threads: 1 },
            probe,
            captioner: Arc::new(ColourCaptioner::default()),
            ledger: Ledger::open(&home.join("miner-ledger"))?,
            store,
            // The demo's cheating miners must reach the validator with their cheats.
            self_check: None,
            metrics: Default::default(),
        })
    }
}

/// The shared parts the demo validator is built from.
struct ValidatorParts<'a> {
    chain: Arc<dyn Chain>,
    probe: Arc<dyn MediaProbe>,
    buckets_dir: &'a Path,
    youtube: PathBuf,
    clip_concurrency: usize,
}

/// The demo's validator, built through the same [`ValidatorConfig`] as `nexis validate`:
/// local buckets, the source check against the demo's "YouTube", reports to the local
/// API, and owner mode through the same [`OwnerMode`] (snapshot source and publisher).
fn demo_validator(
    settings: &DemoSettings,
    validator: &Participant,
    parts: ValidatorParts<'_>,
    api: &crate::evidence_server::local::LocalEvidenceServer,
) -> Result<ValidatorService, DemoError> {
    let validator_dir = settings.workdir.join("validator");
    let packages = PackageValidator::new(
        SpecRegistry::builtin()?,
        parts.probe,
        PackageLimits::default(),
        validator_dir.join("scratch"),
    )
    // Near-duplicate footage across miners, as `nexis validate` checks it by default
    // (`NEXIS_VALIDATOR_DUPLICATE_CONTENT_CHECK=true`).
    .with_fingerprints(true)
    .with_row_check(Arc::new(demo_source_check(&validator_dir, parts.youtube)));
    let seat = Seat { netuid: NETUID, clock: settings.clock, hotkey: Arc::new(validator.hotkey.clone()) };
    let stores = Arc::new(LocalBuckets { root: parts.buckets_dir.to_path_buf() });
    let state = ValidatorState::open(&validator_dir.join("validator-state"))?;
    let mut config = ValidatorConfig::new(seat, parts.chain.clone(), stores, packages, state);
    config.intervals = IntervalSettings {
        miner_concurrency: parts.clip_concurrency,
        miner_budget: Duration::from_secs(120),
        upload_grace: UPLOAD_GRACE,
        ..IntervalSettings::default()
    };
    config.service =
        ServiceSettings { windows: settings.windows, poll: settings.block_time, ..ServiceSettings::default() };
    config.api = Some(Arc::new(crate::evidence_server::local::ReportOnly(api.client(validator.hotkey.clone())?)));
    // Owner mode exactly as `nexis validate` installs it: the record-info bucket is both
    // the overlap snapshot source and where bundles and `record_info.json` are published.
    let record_info = Arc::new(LocalStore::new(parts.buckets_dir.join(DEFAULT_BUCKET)));
    OwnerMode { record_info, snapshot_key: DEFAULT_OBJECT_KEY.into() }.install(&mut config);
    config.build().map_err(|e| DemoError::Settings(e.to_string()))
}

/// The source check as `NEXIS_VALIDATOR_SOURCE_CHECK_ENABLED=true` with
/// `NEXIS_SOURCE_CACHE_DIR={workdir}/youtube` sets it up (nothing is downloaded).
fn demo_source_check(validator_dir: &Path, youtube: PathBuf) -> SourceCheck {
    SourceCheck {
        fetch: SourceFetchSettings {
            yt_dlp: validator_dir.join("no-downloads-in-the-demo"),
            timeout: Duration::from_secs(1),
            max_section_bytes: 64 << 20,
            cache_dir: validator_dir.join("source-cache"),
            cache_max_bytes: 64 << 20,
            mirror_dir: Some(youtube),
            cookies_file: None,
            proxy: None,
        },
        max_rows: DEFAULT_SOURCE_CHECK_ROWS,
        not_found_is_hard: false,
        ffmpeg_timeout: Duration::from_secs(120),
        stats: Arc::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keys_and_credentials_are_deterministic_and_well_formed() {
        for (name, _) in MINERS {
            let id = video_id(name, 3);
            assert_eq!(id.len(), 11, "{id}");
            assert!(id.ends_with("03"));
            assert!(demo_credentials(name).is_ok());
            assert_eq!(demo_hotkey(name).ss58(), demo_hotkey(name).ss58());
        }
        assert_ne!(demo_hotkey("honest-1").ss58(), demo_hotkey("honest-2").ss58());
        assert_ne!(video_id("honest-1", 0), video_id("honest-2", 0));
    }

    #[test]
    fn a_used_workdir_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        prepare_workdir(&tmp.path().join("new")).expect("a new directory is fine");
        std::fs::write(tmp.path().join("new/file"), b"x").expect("write");
        let err = prepare_workdir(&tmp.path().join("new")).expect_err("not empty");
        assert!(err.to_string().contains("not empty"), "{err}");
    }
}
