//! The miner end to end on pre-seeded synthetic sources (real ffmpeg, no network): the
//! package it publishes is accepted by the validator and has exactly the §6 schema; the
//! ledger keeps segments from being published twice; failure paths (bad source, ffmpeg
//! failure, caption trouble, upload failure and resume, missing yt-dlp) never abort more
//! than they must.

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
use nexis::media::{Ffprobe, MediaProbe};
use nexis::miner::caption::{CaptionError, Captioner};
use nexis::miner::clipper::Clipper;
use nexis::miner::download::{DownloadError, Downloader};
use nexis::miner::ledger::Ledger;
use nexis::miner::package::{PackageInfo, UploadPolicy};
use nexis::miner::{MineError, Miner, MinerSettings};
use nexis::protocol::IntervalClock;
use nexis::shutdown::Shutdown;
use nexis::storage::{Downloaded, LocalStore, ObjectMeta, ObjectStore, StorageError};
use nexis::validator::sampling::interval_seed;
use nexis::validator::{IntervalTerms, PackageLimits, PackageRequest};

use crate::chat_server::{Answer, CHAT_KEY, ChatServer, image_urls};
use crate::support::{MINER, VALIDATOR, check_dir_with, nexis_command};

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
        interval_id: interval,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_from_seeded_sources_is_accepted_and_segments_are_never_reused() {
    let setup = Setup::new(
        &[("srcAAAAAAAA", 16.0), ("srcBBBBBBBB", 11.0)],
        &["https://vimeo.com/1", "https://youtu.be/srcAAAAAAAA"],
    )
    .await;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
    let miner = setup.miner(captions(false, false), store.clone(), 4);
    let report = miner.mine_interval(INTERVAL).await.expect("mine");
    // 16 s → segments 0, 5, 10; 11 s → 0, 5; capped at 4.
    assert_eq!((report.records, report.clips_failed, report.captions_dropped), (4, 0, 0), "{report:?}");
    let pkg = setup.out().join(INTERVAL.to_string());
    assert_section6_schema(&pkg.join("dataset.parquet"));
    let manifest = std::fs::read_to_string(pkg.join("manifest.json")).expect("manifest");
    let order: Vec<usize> = [
        "protocol_version",
        "schema_version",
        "spec_id",
        "dataset_type",
        "category",
        "netuid",
        "miner_hotkey",
        "interval_id",
        "created_at",
        "record_count",
        "dataset_sha256",
    ]
    .iter()
    .map(|k| manifest.find(&format!("\"{k}\"")).expect(k))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "manifest fields in §7 order:\n{manifest}");
    let decision =
        check_dir_with(&pkg, &request(INTERVAL), PackageLimits { row_sample_max: 4, ..Default::default() }).await;
    assert!(decision.accepted, "{}", decision.to_json());
    assert_eq!(decision.record_count, 4);

    // Mining again for the same interval does nothing: its manifest is published.
    let again = miner.mine_interval(INTERVAL).await.expect("mine again");
    assert!(again.skipped);
    // The next interval gets only the one segment not published yet.
    let next = miner.mine_interval(INTERVAL + 50).await.expect("next interval");
    assert_eq!(next.records, 1, "{next:?}");
    let decision = check_dir_with(
        &setup.out().join((INTERVAL + 50).to_string()),
        &request(INTERVAL + 50),
        PackageLimits::default(),
    )
    .await;
    assert!(decision.accepted, "{}", decision.to_json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_ffmpeg_and_caption_trouble_skip_rows_not_the_interval() {
    let setup = Setup::new(&[("goodAAAAAAA", 6.0)], &["https://www.youtube.com/watch?v=brokenBBBBB"]).await;
    std::fs::write(setup.tmp.path().join("work/raw/brokenBBBBB.mp4"), b"this is not a video").expect("broken source");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
    let report = setup.miner(captions(false, false), store.clone(), 10).mine_interval(100).await.expect("mine");
    assert_eq!((report.records, report.sources_failed), (1, 1), "{report:?}");

    // Captions that would fail the validator, or a failing caption service: rows dropped,
    // an empty (valid) package is still published.
    for (short, fail) in [(true, false), (false, true)] {
        let setup = Setup::new(&[("capsAAAAAAA", 11.0)], &[]).await;
        let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
        let c = captions(short, fail);
        let report = setup.miner(c.clone(), store, 10).mine_interval(100).await.expect("mine");
        assert_eq!((report.records, report.captions_dropped), (0, 2), "{report:?}");
        // A caption that fails the rules is asked for once more; a service error is not.
        assert_eq!(c.calls.load(Ordering::SeqCst), if short { 4 } else { 2 });
        let decision = check_dir_with(&setup.out().join("100"), &request(100), PackageLimits::default()).await;
        assert!(decision.accepted && decision.record_count == 0, "{}", decision.to_json());
    }

    // ffmpeg that cannot finish (a zero timeout): clips fail, the interval does not.
    let setup = Setup::new(&[("slowAAAAAAA", 6.0)], &[]).await;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
    let mut miner = setup.miner(captions(false, false), store, 10);
    miner.clipper.timeout = Duration::ZERO;
    let report = miner.mine_interval(100).await.expect("mine");
    assert_eq!((report.records, report.clips_failed), (0, 1), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_yt_dlp_says_how_to_install_it() {
    let setup = Setup::new(&[], &["https://www.youtube.com/watch?v=notSeeded01"]).await;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
    let err = setup.miner(captions(false, false), store, 10).mine_interval(100).await.expect_err("no yt-dlp");
    assert!(matches!(err, MineError::Download(DownloadError::ToolMissing(_))), "{err}");
    assert!(err.to_string().contains("pip install yt-dlp"), "{err}");
}

/// A bucket whose manifest uploads fail until `fail_manifests` reaches zero.
struct FlakyBucket {
    inner: LocalStore,
    fail_manifests: AtomicUsize,
}

#[async_trait]
impl ObjectStore for FlakyBucket {
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner.head(key).await
    }
    async fn get_to_file(&self, key: &str, dest: &Path, max: u64) -> Result<Downloaded, StorageError> {
        self.inner.get_to_file(key, dest, max).await
    }
    async fn get_bytes(&self, key: &str, max: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.get_bytes(key, max).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StorageError> {
        if key.ends_with("manifest.json") && self.fail_manifests.load(Ordering::SeqCst) > 0 {
            self.fail_manifests.fetch_sub(1, Ordering::SeqCst);
            return Err(StorageError::Backend { key: key.into(), message: "503 Slow Down".into() });
        }
        self.inner.put_file(key, src).await
    }
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.put_bytes(key, bytes).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_is_finished_on_the_next_start() {
    let setup = Setup::new(&[("upAAAAAAAAA", 11.0)], &[]).await;
    let flaky = Arc::new(FlakyBucket { inner: LocalStore::new(setup.out()), fail_manifests: AtomicUsize::new(2) });
    let miner = setup.miner(captions(false, false), flaky.clone(), 10);
    let err = miner.mine_interval(200).await.expect_err("manifest upload fails twice");
    assert!(matches!(err, MineError::Package(_)), "{err}");
    // Assets and dataset are up, the manifest is not: the package is not visible yet.
    assert!(setup.out().join("200/dataset.parquet").is_file());
    assert!(!setup.out().join("200/manifest.json").exists());
    assert!(setup.tmp.path().join("work/packages/200/manifest.json").is_file(), "the package is kept on disk");
    // The next start (a new Miner on the same workdir) finishes it without rebuilding.
    drop(miner);
    let miner = setup.miner(captions(false, false), flaky, 10);
    let report = miner.mine_interval(200).await.expect("resume");
    assert!(report.resumed, "{report:?}");
    assert!(!setup.tmp.path().join("work/packages/200").exists());
    let decision = check_dir_with(&setup.out().join("200"), &request(200), PackageLimits::default()).await;
    assert!(decision.accepted && decision.record_count == 2, "{}", decision.to_json());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_once_cli_with_a_chat_completions_server_builds_a_package_check_accepts() {
    let setup = Setup::new(&[("srcCLIAAAAAA", 11.0)], &[]).await;
    let dir = setup.tmp.path();
    let hotkey = miner_wallet(dir);
    let server = caption_server().await;
    let out = dir.join("bucket");
    let mut envs = miner_env(dir, &server);
    envs.push(("NEXIS_YT_DLP", "/nonexistent/yt-dlp".to_string()));
    envs.push(("NEXIS_CAPTION_MODEL", "caption-model-x".to_string()));
    let interval = INTERVAL.to_string();
    let mined = nexis(dir, &["mine", "--once", "--interval", &interval, "--out", "bucket"], &envs).await;
    let stderr = String::from_utf8_lossy(&mined.stderr);
    assert!(mined.status.success(), "mine failed: {stderr}");
    assert!(!stderr.contains(CHAT_KEY), "the API key is never logged");
    let summary: serde_json::Value = serde_json::from_slice(&mined.stdout).expect("summary JSON");
    assert_eq!(summary["records"], 2, "{summary}");

    let requests: Vec<_> = server.requests().into_iter().filter(|b| b["model"] == "caption-model-x").collect();
    assert_eq!(requests.len(), 2, "one caption request per clip");
    let judged = |model: &str| server.requests().iter().filter(|b| b["model"] == model).count();
    assert_eq!((judged(SEMANTIC_JUDGE), judged(CATEGORY_JUDGE)), (2, 2), "the self-check judges every row");
    for body in &requests {
        assert_eq!(body["model"], "caption-model-x");
        let images = image_urls(body);
        assert!(
            !images.is_empty() && images.iter().all(|u| u.starts_with("data:image/jpeg;base64,/9j/")),
            "{images:?}"
        );
    }

    let package = out.join(&interval);
    assert_section6_schema(&package.join("dataset.parquet"));
    let pkg = package.display().to_string();
    let checked = nexis(dir, &["check", &pkg, "--hotkey", &hotkey, "--interval", &interval, "--json"], &envs).await;
    let decision: serde_json::Value = serde_json::from_slice(&checked.stdout).expect("decision JSON");
    assert_eq!(decision["accepted"], true, "{decision}\n{}", String::from_utf8_lossy(&checked.stderr));
    assert_eq!(decision["record_count"], 2);
    assert!(checked.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_refuses_to_start_without_a_model_key_and_names_the_variables() {
    let setup = Setup::new(&[], &[]).await;
    let dir = setup.tmp.path();
    miner_wallet(dir);
    let envs = vec![
        ("BT_NETWORK", "embedded".to_string()),
        ("BT_WALLET_PATH", dir.join("wallets").display().to_string()),
        ("BT_WALLET_NAME", "miner".to_string()),
        ("OPENAI_API_KEY", "  ".to_string()),
    ];
    let out = nexis(dir, &["mine", "--once", "--interval", "7756800", "--out", "bucket"], &envs).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OPENAI_API_KEY") && stderr.contains("GEMINI_API_KEY"), "{stderr}");
    assert!(!dir.join("bucket").exists(), "nothing is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_captioner_retries_short_captions_and_drops_rows_on_server_errors() {
    use nexis::llm::{ChatClient, LlmProvider, RetryPolicy};
    use nexis::miner::caption::LlmCaptioner;

    let good = "a colourful test pattern slowly shifts its hues while a small bright box glides across the frame \
                from left to right above a plain dark background";
    // Every clip's first answer is too short; the second is good.
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    let server = ChatServer::start(move |body, _| {
        let first = seen.lock().expect("lock").insert(body.to_string());
        Answer::Text(if first { "too short".into() } else { good.into() })
    })
    .await;
    let captioner = |server: &ChatServer| -> Arc<dyn Captioner> {
        let provider = LlmProvider::from_settings(Some(CHAT_KEY), Some(&server.base_url()), None).expect("provider");
        let client = ChatClient::new(provider, "m".into(), Duration::from_secs(10), 2).expect("client").with_retry(
            RetryPolicy {
                attempts: 2,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(10),
                rate_limit_retries: 0,
            },
        );
        Arc::new(LlmCaptioner { client })
    };
    let setup = Setup::new(&[("llmcapAAAAA", 11.0)], &[]).await;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
    let report = setup.miner(captioner(&server), store, 10).mine_interval(300).await.expect("mine");
    assert_eq!((report.records, report.captions_dropped), (2, 0), "{report:?}");
    assert_eq!(server.requests().len(), 4, "each clip asked twice");

    // A caption service that keeps failing: rows dropped, the interval still published.
    let failing = ChatServer::start(|_, _| Answer::Status(500)).await;
    let setup = Setup::new(&[("llmerrAAAAA", 11.0)], &[]).await;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
    let report = setup.miner(captioner(&failing), store, 10).mine_interval(300).await.expect("mine");
    assert_eq!((report.records, report.captions_dropped), (0, 2), "{report:?}");
    assert_eq!(failing.requests().len(), 4, "transient errors retried by the client, then the row is dropped");
    assert!(setup.out().join("300/manifest.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_once_uploads_to_an_s3_bucket_named_after_the_hotkey_and_skips_it_next_time() {
    use crate::s3_server::{KEYS, REGION, S3Server};

    let setup = Setup::new(&[("srcS3AAAAAAA", 6.0)], &[]).await;
    let dir = setup.tmp.path();
    let hotkey = miner_wallet(dir);
    let bucket = hotkey.to_lowercase();
    let s3 = S3Server::start().await;
    s3.create_bucket(&bucket).await;
    let chat = caption_server().await;
    let mut envs = miner_env(dir, &chat);
    envs.extend([
        ("NEXIS_S3_ENDPOINT", s3.endpoint()),
        ("R2_REGION", REGION.to_string()),
        ("R2_ACCOUNT_ID", "0123456789abcdef0123456789abcdef".to_string()),
        ("R2_WRITE_ACCESS_KEY", KEYS.0.to_string()),
        ("R2_WRITE_SECRET_KEY", KEYS.1.to_string()),
    ]);
    let interval = INTERVAL.to_string();
    let out = nexis(dir, &["mine", "--once", "--interval", &interval], &envs).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(KEYS.1) && !stderr.contains(KEYS.0), "keys never logged");
    for key in ["manifest.json", "dataset.parquet"] {
        assert!(s3.object_path(&bucket, &format!("{interval}/{key}")).is_file(), "{key} uploaded");
    }
    let package = s3.object_path(&bucket, &interval);
    let pkg = package.display().to_string();
    let checked = nexis(dir, &["check", &pkg, "--hotkey", &hotkey, "--interval", &interval, "--json"], &envs).await;
    let decision: serde_json::Value = serde_json::from_slice(&checked.stdout).expect("decision");
    assert_eq!(decision["accepted"], true, "{decision}");

    let again = nexis(dir, &["mine", "--once", "--interval", &interval], &envs).await;
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).expect("summary");
    assert_eq!(summary["skipped"], true, "an interval whose manifest exists is skipped: {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mining_loop_publishes_each_new_interval_and_stops_cleanly_on_sigterm() {
    let setup = Setup::new(&[("srcLOOPAAAAA", 16.0)], &[]).await;
    let dir = setup.tmp.path();
    miner_wallet(dir);
    let chat = caption_server().await;
    let mut envs = miner_env(dir, &chat);
    envs.extend([
        ("NEXIS_EMBEDDED_CHAIN_DIR", dir.join("chain").display().to_string()),
        ("NEXIS_EMBEDDED_BLOCK_MS", "100".to_string()),
        ("NEXIS_INTERVAL_BLOCKS", "10".to_string()),
        ("NEXIS_WEIGHT_EPOCH_BLOCKS", "50".to_string()),
        ("NEXIS_MINER_MAX_CLIPS_PER_INTERVAL", "1".to_string()),
    ]);
    let bucket = dir.join("bucket");
    let child = nexis_command(dir, &envs)
        .args(["mine", "--out", "bucket", "--poll-sec", "0.2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn miner");
    let manifests = || -> Vec<u64> {
        let mut ids: Vec<u64> = std::fs::read_dir(&bucket)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().join("manifest.json").is_file())
                    .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    };
    for _ in 0..600 {
        if manifests().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let published = manifests();
    assert!(published.len() >= 2, "two intervals mined: {published:?}");
    assert!(published.iter().all(|i| i % 10 == 0), "packages are keyed by interval start: {published:?}");
    let pid = child.id().expect("pid") as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().await.expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SIGTERM ends the miner cleanly: {stderr}");
    assert!(stderr.contains("miner stopped"), "{stderr}");
}

/// `Miner::run`: an interval whose mining fails is retried on the next poll, each interval
/// is mined once, a new interval is mined when the chain reaches it, and a stop ends the
/// loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mining_loop_retries_a_failed_interval_and_mines_each_interval_once() {
    let setup = Setup::new(&[("srcRUNAAAAAA", 16.0)], &[]).await;
    let (sources, hidden) = (setup.tmp.path().join("sources.txt"), setup.tmp.path().join("sources.hidden"));
    std::fs::rename(&sources, &hidden).expect("hide the sources file");
    let caps = captions(false, false);
    let miner = setup.miner(caps.clone(), Arc::new(LocalStore::new(setup.out())), 1);
    // An hour per block: the chain moves only when the test advances it.
    let chain = EmbeddedChain::open(EmbeddedSettings::new(setup.tmp.path().join("chain"), 3_600_000)).expect("chain");
    let clock = IntervalClock { interval_blocks: 10, ..IntervalClock::default() };
    let first = clock.interval_start(chain.current_block().await.expect("block"));
    let manifest = |interval: u64| setup.out().join(format!("{interval}/manifest.json"));
    let wait_for = |path: PathBuf| async move {
        for _ in 0..600 {
            if path.is_file() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    let (trigger, shutdown) = Shutdown::manual();
    let driver = async {
        // Several polls fail (no sources file) and publish nothing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!manifest(first).exists(), "nothing is published while mining fails");
        std::fs::rename(&hidden, &sources).expect("restore the sources file");
        assert!(wait_for(manifest(first)).await, "the failed interval is retried and published");
        let calls = caps.calls.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(caps.calls.load(Ordering::SeqCst), calls, "a mined interval is not mined again");
        chain.advance(10).expect("advance");
        let second = clock.interval_start(chain.current_block().await.expect("block"));
        assert_eq!(second, first + 10);
        assert!(wait_for(manifest(second)).await, "the next interval is mined when it opens");
        trigger.stop();
    };
    let ((), ()) = tokio::join!(miner.run(&clock, &chain, Duration::from_millis(20), &shutdown), driver);
    assert!(shutdown.is_requested());
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

#[tokio::test]
async fn yt_dlp_gets_720p_mp4_no_playlist_an_explicit_path_and_is_skipped_for_cached_sources() {
    use nexis::miner::sources::parse_sources;

    let tmp = tempfile::tempdir().expect("tempdir");
    let source = parse_sources("https://www.youtube.com/watch?v=dlTESTAAAAA").remove(0);
    let downloader = |binary: PathBuf, attempts: u32, timeout: Duration| Downloader {
        raw_dir: tmp.path().join("raw"),
        binary,
        timeout,
        attempts,
        extra_args: Vec::new(),
    };
    let ok = downloader(fake_yt_dlp(tmp.path(), "ok"), 1, Duration::from_secs(30));
    let path = ok.fetch(&source).await.expect("download");
    assert_eq!(path, tmp.path().join("raw/dlTESTAAAAA.mp4"));
    assert_eq!(std::fs::read(&path).expect("file"), b"video");
    let log = std::fs::read_to_string(tmp.path().join("yt-dlp-ok.log")).expect("log");
    let args: Vec<&str> = log.lines().collect();
    assert!(args.contains(&"--no-playlist"), "{args:?}");
    let format = args.iter().position(|a| *a == "-f").map(|i| args[i + 1]).expect("-f");
    assert!(format.starts_with("bv*[height<=720]") && !format.contains("height>"), "{format}");
    let merge = args.iter().position(|a| *a == "--merge-output-format").map(|i| args[i + 1]);
    assert_eq!(merge, Some("mp4"));
    let out = args.iter().position(|a| *a == "-o").map(|i| args[i + 1]).expect("-o");
    assert!(out.starts_with(&tmp.path().join("raw").display().to_string()), "explicit output path: {out}");
    assert_eq!(args.last(), Some(&"---"));
    assert_eq!(args[args.len() - 2], "https://www.youtube.com/watch?v=dlTESTAAAAA");
    // Cached: no second call.
    ok.fetch(&source).await.expect("cached");
    let calls = std::fs::read_to_string(tmp.path().join("yt-dlp-ok.log")).expect("log").matches("---").count();
    assert_eq!(calls, 1);

    // Failures are retried, then reported with yt-dlp's message; nothing is left behind.
    let other = parse_sources("https://youtu.be/dlFAILAAAAA").remove(0);
    let failing = downloader(fake_yt_dlp(tmp.path(), "fail"), 2, Duration::from_secs(30));
    let err = failing.fetch(&other).await.expect_err("fails");
    assert!(matches!(err, DownloadError::Failed { .. }) && err.to_string().contains("Video unavailable"), "{err}");
    let calls = std::fs::read_to_string(tmp.path().join("yt-dlp-fail.log")).expect("log").matches("---").count();
    assert_eq!(calls, 2);
    assert!(!tmp.path().join("raw/dlFAILAAAAA.mp4").exists());

    // A hanging download is cut off by the timeout.
    let hanging = downloader(fake_yt_dlp(tmp.path(), "hang"), 1, Duration::from_millis(300));
    assert!(matches!(hanging.fetch(&other).await, Err(DownloadError::Timeout(_))));
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
