//! The miner end to end on pre-seeded synthetic sources (real ffmpeg, no network): the
//! package it publishes is accepted by the validator and has exactly the §6 schema; the
//! ledger keeps segments from being published twice; failure paths (bad source, ffmpeg
//! failure, caption trouble, upload failure and resume, missing yt-dlp) never abort more
//! than they must.
//!
//! Scenarios by file: `package` (the miner library), `cli` (`nexis mine --once`),
//! `mining_loop` (the loop over intervals), `yt_dlp` (the downloader); the shared setup and
//! the helpers other test modules use are here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow_schema::{DataType, Field, Fields};
use async_trait::async_trait;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use nexis::chain::Chain;
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use nexis::media::synth::{SynthClip, synth_clip};
use nexis::media::ytdlp::DownloadError;
use nexis::media::{Ffprobe, MediaProbe};
use nexis::miner::caption::{CaptionError, Captioner};
use nexis::miner::clipper::Clipper;
use nexis::miner::download::Downloader;
use nexis::miner::ledger::Ledger;
use nexis::miner::package::{PackageInfo, UploadPolicy};
use nexis::miner::{MineError, Miner, MinerSettings};
use nexis::protocol::{IntervalClock, IntervalId};
use nexis::shutdown::Shutdown;
use nexis::storage::{Downloaded, LocalStore, ObjectMeta, ObjectStore, StorageError};
use nexis::validator::{IntervalTerms, PackageLimits, PackageRequest, interval_seed};

use crate::chat_server::{Answer, CHAT_KEY, ChatServer, image_urls};
use crate::support::{MINER, VALIDATOR, check_dir_with, nexis_command};

mod cli;
mod mining_loop;
mod package;
mod yt_dlp;

const INTERVAL: u64 = 7_756_800;

/// Captions by a fixed rule; `short` makes every caption too short.
struct FixedCaptions {
    calls: AtomicUsize,
    short: bool,
    fail: bool,
}

#[async_trait]
impl Captioner for FixedCaptions {
    async fn caption(&self, frames: &[Vec<u8>]) -> Result<String, CaptionError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(!frames.is_empty() && frames.iter().all(|f| f.starts_with(&[0xff, 0xd8])), "frames are JPEG");
        if self.fail {
            return Err(CaptionError("HTTP 500 from the caption model".into()));
        }
        if self.short {
            return Ok("a short caption".into());
        }
        Ok(format!(
            "clip {n}: a colourful test pattern slowly shifts its hues while a small moving box travels across \
             the frame from left to right over a plain background"
        ))
    }
}

fn captions(short: bool, fail: bool) -> Arc<FixedCaptions> {
    Arc::new(FixedCaptions { calls: AtomicUsize::new(0), short, fail })
}

pub(crate) struct Setup {
    pub(crate) tmp: tempfile::TempDir,
}

impl Setup {
    /// Seeds `raw/{id}.mp4` sources of the given lengths (854x480, with audio: the miner
    /// must scale to 1280x720) and writes the sources file.
    pub(crate) async fn new(sources: &[(&str, f64)], extra_lines: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("work/raw")).expect("mkdir");
        let mut lines = vec!["# test sources".to_string()];
        for (i, (id, seconds)) in sources.iter().enumerate() {
            let clip = SynthClip { width: 854, height: 480, seconds: *seconds, seed: i as u32, ..Default::default() };
            synth_clip(&tmp.path().join(format!("work/raw/{id}.mp4")), &clip).await.expect("ffmpeg source");
            lines.push(format!("https://www.youtube.com/watch?v={id}"));
        }
        lines.extend(extra_lines.iter().map(|l| l.to_string()));
        std::fs::write(tmp.path().join("sources.txt"), lines.join("\n")).expect("sources");
        Self { tmp }
    }

    pub(crate) fn out(&self) -> PathBuf {
        self.tmp.path().join("out")
    }

    pub(crate) fn miner(&self, captioner: Arc<dyn Captioner>, store: Arc<dyn ObjectStore>, max_clips: usize) -> Miner {
        let probe: Arc<dyn MediaProbe> = Arc::new(Ffprobe::new(None, Duration::from_secs(60)));
        let work = self.tmp.path().join("work");
        Miner {
            settings: MinerSettings {
                sources_file: self.tmp.path().join("sources.txt"),
                packages_dir: work.join("packages"),
                max_clips,
                clip_concurrency: 2,
                caption_concurrency: 4,
                upload: UploadPolicy { attempts: 2, backoff: Duration::from_millis(10), concurrency: 4 },
                progress: false,
                discovery: None,
            },
            info: PackageInfo {
                miner_hotkey: MINER.into(),
                netuid: 1,
                interval_id: 0,
                spec_id: "video_v1".into(),
                category: Some("nature_landscape_scenery".into()),
            },
            downloader: Downloader {
                raw_dir: work.join("raw"),
                binary: PathBuf::from("/nonexistent/yt-dlp"),
                timeout: Duration::from_secs(5),
                attempts: 1,
                extra_args: Vec::new(),
            },
            clipper: Clipper { probe: probe.clone(), timeout: Duration::from_secs(120), threads: 1 },
            probe,
            captioner,
            ledger: Ledger::open(&work.join("ledger")).expect("ledger"),
            store,
            self_check: None,
            metrics: Default::default(),
        }
    }
}

fn request(interval: u64) -> PackageRequest {
    let terms = IntervalTerms {
        interval_id: IntervalId::new(interval),
        validator_hotkey: Some(VALIDATOR.into()),
        interval_seed: interval_seed(interval),
        expected_category: Some("nature_landscape_scenery".into()),
        enabled_specs: vec!["video_v1".into()],
        upload_deadline: None,
        extra_sample_seed: None,
    };
    PackageRequest::new(MINER, std::sync::Arc::new(terms))
}

/// The exact arrow schema of protocol §6.
pub(crate) fn section6_fields() -> Vec<Field> {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let i = |n: &str| Field::new(n, DataType::Int64, true);
    vec![
        s("clip_id"),
        s("clip_uri"),
        s("clip_sha256"),
        s("first_frame_uri"),
        s("first_frame_sha256"),
        s("source_video_id"),
        s("split_group_id"),
        s("split"),
        f("clip_start_sec"),
        f("duration_sec"),
        i("width"),
        i("height"),
        f("fps"),
        i("num_frames"),
        Field::new("has_audio", DataType::Boolean, true),
        s("caption"),
        s("source_video_url"),
        Field::new("source_proof", DataType::Struct(Fields::from(vec![s("extractor"), s("source_video_id")])), true),
    ]
}

/// Asserts a package's dataset has exactly the §6 columns and types.
pub(crate) fn assert_section6_schema(dataset: &Path) {
    let file = std::fs::File::open(dataset).expect("dataset");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let got: Vec<(String, DataType)> =
        reader.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let want: Vec<(String, DataType)> =
        section6_fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    assert_eq!(got, want);
}

/// Runs the `nexis` binary with only the given settings (none inherited from the caller).
pub(crate) async fn nexis(dir: &Path, args: &[&str], envs: &[(&str, String)]) -> std::process::Output {
    nexis_command(dir, envs).args(args).output().await.expect("run nexis")
}

pub(crate) fn miner_wallet(dir: &Path) -> String {
    let seed = [7u8; 32];
    let hotkeys = dir.join("wallets/miner/hotkeys");
    std::fs::create_dir_all(&hotkeys).expect("mkdir");
    let key = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(seed)) });
    std::fs::write(hotkeys.join("default"), key.to_string()).expect("keyfile");
    nexis::chain::Hotkey::from_seed(seed).ss58()
}

/// Model names of the self-check's judges in the CLI tests (see [`miner_env`]).
pub(crate) const SEMANTIC_JUDGE: &str = "judge-semantic";
/// The category judge's model name.
pub(crate) const CATEGORY_JUDGE: &str = "judge-category";

/// A category verdict: all three frames nature.
pub(crate) fn nature_reply() -> String {
    let frame = serde_json::json!({"winner": "nature", "nature_score": 0.9, "people_score": 0, "animal_score": 0,
        "vehicle_score": 0, "urban_score": 0, "indoor_score": 0});
    serde_json::json!({"frames": [frame, frame, frame]}).to_string()
}

/// A chat-completions server whose captions always pass the validator's rules and whose
/// judges (the self-check's) accept every row.
pub(crate) async fn caption_server() -> ChatServer {
    ChatServer::start(|body, n| {
        Answer::Text(match body["model"].as_str() {
            Some(SEMANTIC_JUDGE) => "{\"match\": true}".into(),
            Some(CATEGORY_JUDGE) => nature_reply(),
            _ => format!(
                "scene {n}: a colourful test pattern slowly shifts its hues while a small bright box glides across \
                 the frame from left to right above a plain dark background"
            ),
        })
    })
    .await
}

/// The settings every CLI miner test needs: embedded chain, the test wallet, the
/// set-up's work directory and sources, and the local caption server.
pub(crate) fn miner_env(dir: &Path, chat: &ChatServer) -> Vec<(&'static str, String)> {
    vec![
        ("BT_NETWORK", "embedded".to_string()),
        ("BT_WALLET_PATH", dir.join("wallets").display().to_string()),
        ("BT_WALLET_NAME", "miner".to_string()),
        ("NEXIS_WORKDIR", dir.join("work").display().to_string()),
        ("NEXIS_SOURCES_FILE", dir.join("sources.txt").display().to_string()),
        ("OPENAI_API_KEY", CHAT_KEY.to_string()),
        ("OPENAI_BASE_URL", chat.base_url()),
        ("NEXIS_VALIDATOR_SEMANTIC_MODEL", SEMANTIC_JUDGE.to_string()),
        ("NEXIS_VALIDATOR_CATEGORY_MODEL", CATEGORY_JUDGE.to_string()),
    ]
}

/// A stand-in `yt-dlp` (a shell script speaking its command line): logs its arguments,
/// then behaves as `mode` says: `ok` writes a small file to the `-o` path, `fail` prints
/// an error and exits 1, `hang` sleeps.
pub(crate) fn fake_yt_dlp(dir: &Path, mode: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("yt-dlp-{mode}"));
    let log = dir.join(format!("yt-dlp-{mode}.log"));
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{log}'\necho --- >> '{log}'\ncase '{mode}' in\n\
         ok) while [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then printf 'video' > \"$2\"; fi; shift; done ;;\n\
         fail) echo 'ERROR: [youtube] abc: Video unavailable' >&2; exit 1 ;;\n\
         hang) sleep 30 ;;\nesac\n",
        log = log.display()
    );
    std::fs::write(&path, script).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A stand-in `yt-dlp` that "downloads" `{pool}/{video_id}.mp4` to its `-o` path (the
/// video id from the URL's `v=`), as the real one writes a 720p mp4 there.
pub(crate) fn fake_yt_dlp_copying(dir: &Path, pool: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("yt-dlp-pool");
    let script = format!(
        "#!/bin/sh\nout=''\nwhile [ $# -gt 1 ]; do if [ \"$1\" = -o ]; then out=\"$2\"; fi; shift; done\n\
         id=\"${{1##*v=}}\"\nexec cp '{pool}'/\"$id\".mp4 \"$out\"\n",
        pool = pool.display()
    );
    std::fs::write(&path, script).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}
