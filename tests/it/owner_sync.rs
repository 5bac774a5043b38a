//! `nexis sync-owner-datasets` (protocol §13) against an in-process S3 server with miner,
//! record-info and owner buckets: the exact owner key layout and metadata, rows with a bad
//! hash never copied and reported (then given up and marked), excluded hotkeys left alone,
//! and a worker killed with SIGKILL mid-bundle that finishes on the next run without
//! duplicating anything.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nexis::chain::Hotkey;
use nexis::index::snapshot::seconds_to_ms;
use nexis::owner::metrics::SyncMetrics;
use nexis::owner::progress::{ProgressStore, RetryPolicy};
use nexis::owner::{OwnerSync, PassSummary, SyncSettings, owner_row_id};
use nexis::shutdown::Shutdown;
use nexis::storage::{ObjectStore, S3Store};

use crate::support::TestPackage;
use crate::validate_service::{NETUID, World, hotkey, package, publish};

pub(crate) const RECORD_INFO: &str = "nexis-record-info";
pub(crate) const OWNER_DB: &str = "owner-db";

pub(crate) struct SyncWorld {
    pub(crate) w: World,
    pub(crate) info: Arc<dyn ObjectStore>,
    pub(crate) owner: Arc<dyn ObjectStore>,
}

impl SyncWorld {
    pub(crate) async fn new() -> Self {
        let w = World::new().await;
        w.s3.create_bucket(RECORD_INFO).await;
        w.s3.create_bucket(OWNER_DB).await;
        let info = Arc::new(S3Store::new(w.s3.config(RECORD_INFO)).expect("store"));
        let owner = Arc::new(S3Store::new(w.s3.config(OWNER_DB)).expect("store"));
        Self { w, info, owner }
    }

    /// Publishes `miner`'s package (after `edit`) to its bucket and its bundle (the same
    /// dataset and manifest, as the owner validator writes it when nothing is pruned).
    pub(crate) async fn bundle(
        &self,
        miner: &Hotkey,
        interval: u64,
        tag: &str,
        edit: impl FnOnce(&mut TestPackage),
    ) -> TestPackage {
        let store = self.w.miner(miner, true).await;
        let mut p = package(&miner.ss58(), interval, tag);
        edit(&mut p);
        publish(store.as_ref(), interval, p.dir()).await;
        let prefix = format!("{interval}/{}/", miner.ss58());
        self.info.put_file(&format!("{prefix}dataset.parquet"), &p.dataset()).await.expect("bundle dataset");
        self.info.put_file(&format!("{prefix}manifest.json"), &p.dir().join("manifest.json")).await.expect("manifest");
        p
    }

    pub(crate) fn sync(&self, progress: &Path, settings: SyncSettings) -> OwnerSync {
        OwnerSync {
            record_info: self.info.clone(),
            owner_db: self.owner.clone(),
            chain: Arc::new(self.w.chain.clone()),
            stores: self.w.stores(),
            progress: ProgressStore::open(progress).expect("progress db"),
            metrics: Arc::new(SyncMetrics::new()),
            settings: SyncSettings { netuid: NETUID, scratch: self.w.tmp.path().join("scratch"), ..settings },
            heartbeat: None,
        }
    }

    /// The owner rows' objects (`nature/...`; the catalog is checked in `catalog.rs`).
    pub(crate) async fn owner_keys(&self) -> BTreeSet<String> {
        self.owner.list("nature/").await.expect("list").into_iter().map(|o| o.key).collect()
    }

    pub(crate) async fn marker(&self, interval: u64, miner: &Hotkey) -> Option<Vec<u8>> {
        let key = format!("{interval}/{}/copied_to_owner.marker", miner.ss58());
        self.info.get_bytes(&key, 1024).await.ok()
    }
}

/// The owner keys of every row of `p`, written literally.
fn expected_keys(miner: &Hotkey, interval: u64, p: &TestPackage, skip: &[usize]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, r) in p.records.iter().enumerate().filter(|(i, _)| !skip.contains(i)) {
        let id = owner_row_id(&miner.ss58(), interval, &r.clip_id);
        assert!(out.insert(format!("nature/{id}/clip.mp4")), "row {i}: ids must be distinct");
        out.insert(format!("nature/{id}/first_image.jpg"));
        out.insert(format!("nature/{id}/metadata.json"));
    }
    out
}

pub(crate) fn quick_retries(max_attempts: u32) -> SyncSettings {
    SyncSettings {
        retry: RetryPolicy { max_attempts, base: Duration::ZERO, cap: Duration::ZERO },
        ..SyncSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_copies_every_verified_row_with_the_exact_layout() {
    let sw = SyncWorld::new().await;
    let a = hotkey(2);
    let p = sw.bundle(&a, 50, "aaa0", |_| {}).await;
    let progress = sw.w.tmp.path().join("progress");
    let sync = sw.sync(&progress, SyncSettings::default());
    let first = sync.pass().await.expect("pass");
    assert_eq!(
        (first.bundles_listed, first.bundles_completed, first.rows_copied, first.rows_failed),
        (1, 1, 12, 0),
        "{first:?}"
    );
    assert!(first.failures.is_empty());
    assert_eq!(sw.owner_keys().await, expected_keys(&a, 50, &p, &[]));
    for r in &p.records {
        let id = owner_row_id(&a.ss58(), 50, &r.clip_id);
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4, "{id} is UUID text");
        let clip = sw.owner.get_bytes(&format!("nature/{id}/clip.mp4"), 1 << 30).await.expect("clip");
        assert_eq!(clip, std::fs::read(p.dir().join(&r.clip_uri)).expect("source clip"));
        let image = sw.owner.get_bytes(&format!("nature/{id}/first_image.jpg"), 1 << 30).await.expect("image");
        assert_eq!(image, std::fs::read(p.dir().join(&r.first_frame_uri)).expect("source frame"));
        let meta = sw.owner.get_bytes(&format!("nature/{id}/metadata.json"), 1 << 20).await.expect("metadata");
        let text = String::from_utf8(meta).expect("utf-8");
        let position = seconds_to_ms(r.clip_start_sec).expect("start") as f64 / 1000.0;
        let expected = serde_json::json!({
            "source_id": r.source_video_id,
            "source_url": r.source_video_url,
            "first_image_position": position,
            "caption": r.caption,
        });
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).expect("json"), expected);
        assert!(text.starts_with("{\n  \"source_id\": "), "fields in protocol order, 2-space indent: {text}");
        let order: Vec<usize> = ["source_id", "source_url", "first_image_position", "caption"]
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).expect("field"))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
    assert_eq!(sw.marker(50, &a).await.as_deref(), Some(&b"ok\n"[..]));
    let metrics = sync.metrics.render();
    assert!(metrics.contains("nexis_owner_sync_rows_total{result=\"copied\"} 12"), "{metrics}");
    assert!(metrics.contains("nexis_owner_sync_last_pass{result=\"rows_copied\"} 12"), "{metrics}");

    // The marked bundle is skipped from now on.
    let second = sync.pass().await.expect("pass");
    assert_eq!(second, PassSummary { bundles_listed: 1, bundles_marked: 1, ..Default::default() });
    assert_eq!(sw.owner_keys().await.len(), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_with_a_bad_hash_are_not_copied_and_are_reported() {
    let sw = SyncWorld::new().await;
    let a = hotkey(2);
    let p = sw
        .bundle(&a, 0, "aaa0", |p| {
            p.records[3].clip_sha256 = "0".repeat(64);
            p.records[7].first_frame_sha256 = "f".repeat(64);
            p.write();
        })
        .await;
    let (bad_clip, bad_frame) = (p.records[3].clip_id.clone(), p.records[7].clip_id.clone());
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), quick_retries(2));

    let first = sync.pass().await.expect("pass");
    assert_eq!((first.rows_copied, first.rows_failed, first.rows_given_up), (10, 2, 0), "{first:?}");
    assert_eq!((first.bundles_completed, first.bundles_incomplete), (0, 1));
    let failed: BTreeSet<(String, bool)> =
        first.failures.iter().map(|f| (f.clip_id.clone(), f.error.contains("sha256 mismatch"))).collect();
    assert_eq!(failed, BTreeSet::from([(bad_clip.clone(), true), (bad_frame.clone(), true)]));
    let clip_error = first.failures.iter().find(|f| f.clip_id == bad_clip).expect("clip failure");
    assert!(clip_error.error.starts_with("clip sha256 mismatch"), "{}", clip_error.error);
    let frame_error = first.failures.iter().find(|f| f.clip_id == bad_frame).expect("frame failure");
    assert!(frame_error.error.starts_with("first frame sha256 mismatch"), "{}", frame_error.error);
    assert_eq!(sw.marker(0, &a).await, None, "the bundle is not done while rows are retried");
    assert_eq!(sw.owner_keys().await, expected_keys(&a, 0, &p, &[3, 7]), "bad rows leave no object at all");

    // The second attempt fails again and is the last: given up, reported, marker written.
    let second = sync.pass().await.expect("pass");
    assert_eq!(
        (second.rows_already_copied, second.rows_copied, second.rows_failed, second.rows_given_up),
        (10, 0, 0, 2),
        "{second:?}"
    );
    assert!(second.failures.iter().all(|f| f.given_up && f.attempts == 2));
    assert_eq!(second.bundles_completed, 1);
    assert_eq!(sw.marker(0, &a).await.as_deref(), Some(&b"ok\n"[..]));
    assert_eq!(sw.owner_keys().await, expected_keys(&a, 0, &p, &[3, 7]));
    let metrics = sync.metrics.render();
    assert!(metrics.contains("nexis_owner_sync_rows_total{result=\"given_up\"} 2"), "{metrics}");
    assert!(metrics.contains("nexis_owner_sync_rows_total{result=\"failed\"} 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_wait_for_their_backoff() {
    let sw = SyncWorld::new().await;
    let a = hotkey(2);
    sw.bundle(&a, 0, "aaa0", |p| {
        p.records[0].clip_sha256 = "0".repeat(64);
        p.write();
    })
    .await;
    let settings = SyncSettings {
        retry: RetryPolicy { max_attempts: 3, base: Duration::from_secs(3600), cap: Duration::from_secs(3600) },
        ..SyncSettings::default()
    };
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), settings);
    let first = sync.pass().await.expect("pass");
    assert_eq!((first.rows_copied, first.rows_failed), (11, 1));
    let second = sync.pass().await.expect("pass");
    assert_eq!((second.rows_waiting, second.rows_failed, second.rows_already_copied), (1, 0, 11), "{second:?}");
    assert_eq!(sw.marker(0, &a).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_hotkeys_are_left_alone() {
    let sw = SyncWorld::new().await;
    let (a, b) = (hotkey(2), hotkey(3));
    let pa = sw.bundle(&a, 0, "aaa0", |_| {}).await;
    sw.bundle(&b, 0, "bbb0", |_| {}).await;
    let settings = SyncSettings { excluded: BTreeSet::from([b.ss58()]), ..SyncSettings::default() };
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), settings);
    let s = sync.pass().await.expect("pass");
    assert_eq!((s.bundles_listed, s.bundles_excluded, s.bundles_completed, s.rows_copied), (2, 1, 1, 12), "{s:?}");
    assert_eq!(sw.owner_keys().await, expected_keys(&a, 0, &pa, &[]));
    assert_eq!(sw.marker(0, &b).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_whose_dataset_does_not_match_its_manifest_is_not_copied() {
    let sw = SyncWorld::new().await;
    let a = hotkey(2);
    let p = sw.bundle(&a, 0, "aaa0", |_| {}).await;
    // Replace the bundle dataset by one row less, keeping the old manifest.
    let mut short = p.records.clone();
    short.pop();
    let path = sw.w.tmp.path().join("short.parquet");
    nexis::dataset::write_dataset(&path, &short).expect("write");
    sw.info.put_file(&format!("0/{}/dataset.parquet", a.ss58()), &path).await.expect("replace");
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), SyncSettings::default());
    let s = sync.pass().await.expect("pass");
    assert_eq!((s.bundle_errors, s.rows_copied), (1, 0), "{s:?}");
    assert!(sw.owner_keys().await.is_empty());
    assert_eq!(sw.marker(0, &a).await, None);
}

pub(crate) fn sync_command(tmp: &Path, endpoint: &str, log: &Path, extra: &[&str]) -> Command {
    let (access, secret) = crate::s3_server::KEYS;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") || k.starts_with("R2_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    let account = "0123456789abcdef0123456789abcdef";
    cmd.arg("sync-owner-datasets")
        .args(["--once", "--metrics-addr="])
        .args(extra)
        .current_dir(tmp)
        .env("BT_NETWORK", "embedded")
        .env("NEXIS_NETUID", NETUID.to_string())
        .env("NEXIS_EMBEDDED_CHAIN_DIR", tmp.join("chain"))
        .env("NEXIS_WORKDIR", tmp.join("work"))
        .env("NEXIS_S3_ENDPOINT", endpoint)
        .env("NEXIS_RECORD_INFO_BUCKET", RECORD_INFO)
        .env("NEXIS_RECORD_INFO_ACCOUNT_ID", account)
        .env("NEXIS_RECORD_INFO_WRITE_ACCESS_KEY", access)
        .env("NEXIS_RECORD_INFO_WRITE_SECRET_KEY", secret)
        .env("NEXIS_OWNER_DB_BUCKET", OWNER_DB)
        .env("NEXIS_OWNER_DB_ACCOUNT_ID", account)
        .env("NEXIS_OWNER_DB_WRITE_ACCESS_KEY", access)
        .env("NEXIS_OWNER_DB_WRITE_SECRET_KEY", secret)
        .env("NEXIS_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log"));
    cmd
}

/// `key=value` pairs of the summary line `--once` prints.
fn summary_value(stdout: &str, name: &str) -> u64 {
    stdout
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from {stdout:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_bundle_then_rerun_finishes_without_duplicates() {
    let sw = SyncWorld::new().await;
    let tmp = sw.w.tmp.path();
    let a = hotkey(2);
    let p = sw.bundle(&a, 0, "aaa0", |_| {}).await;

    // One row at a time with a pause after each, so the kill lands inside the bundle.
    let log = tmp.join("run1.log");
    let mut child =
        sync_command(tmp, &sw.w.s3.endpoint(), &log, &["--concurrency", "1", "--pause-after-row-ms", "400"])
            .spawn()
            .expect("spawn nexis sync-owner-datasets");
    loop {
        let copied = sw.owner_keys().await.iter().filter(|k| k.ends_with("/metadata.json")).count();
        if copied >= 2 {
            break;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "the worker ended before it could be killed: {status:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let partial = sw.owner_keys().await;
    let copied_before = partial.iter().filter(|k| k.ends_with("/metadata.json")).count();
    assert!((2..12).contains(&copied_before), "killed mid-bundle: {copied_before} rows copied");
    assert_eq!(sw.marker(0, &a).await, None, "no marker for a half-copied bundle");

    let out = sync_command(tmp, &sw.w.s3.endpoint(), &tmp.join("run2.log"), &[])
        .output()
        .expect("rerun nexis sync-owner-datasets");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", std::fs::read_to_string(tmp.join("run2.log")).unwrap_or_default());
    assert_eq!(summary_value(&stdout, "bundles_completed"), 1);
    let (again, already) = (summary_value(&stdout, "rows_copied"), summary_value(&stdout, "rows_already_copied"));
    assert_eq!(again + already, 12, "{stdout}");
    assert!(already >= 1, "progress recorded before the kill is used: {stdout}");
    // Exactly three objects per row: nothing duplicated under another id.
    assert_eq!(sw.owner_keys().await, expected_keys(&a, 0, &p, &[]));
    assert_eq!(sw.marker(0, &a).await.as_deref(), Some(&b"ok\n"[..]));

    // The worker's liveness file makes `nexis health --service owner-sync` pass.
    let health = Command::new(env!("CARGO_BIN_EXE_nexis"))
        .args(["health", "--service", "owner-sync", "--max-age-sec", "3600"])
        .env("NEXIS_WORKDIR", tmp.join("work"))
        .output()
        .expect("nexis health");
    assert!(health.status.success(), "{}", String::from_utf8_lossy(&health.stdout));
    let validator_health = Command::new(env!("CARGO_BIN_EXE_nexis"))
        .args(["health", "--service", "validator"])
        .env("NEXIS_WORKDIR", tmp.join("work"))
        .output()
        .expect("nexis health");
    assert_eq!(validator_health.status.code(), Some(1), "only the sync worker ran here");
}

/// `OwnerSync::run`: passes repeat every poll, a bundle published while the worker runs is
/// copied and marked by a later pass, and a stop ends the loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_loop_copies_bundles_as_they_appear_and_stops_on_request() {
    let sw = SyncWorld::new().await;
    let a = hotkey(2);
    let settings = SyncSettings { full_list_every: Duration::ZERO, ..SyncSettings::default() };
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), settings);
    let (trigger, shutdown) = Shutdown::manual();
    let driver = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let p = sw.bundle(&a, 50, "aaa0", |_| {}).await;
        for _ in 0..600 {
            if sw.marker(50, &a).await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(sw.marker(50, &a).await.is_some(), "the running worker copies and marks a new bundle");
        assert_eq!(sw.owner_keys().await, expected_keys(&a, 50, &p, &[]));
        trigger.stop();
    };
    tokio::join!(sync.run(Duration::from_millis(20), &shutdown), driver);
    let metrics = sync.metrics.render();
    let passes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nexis_owner_sync_passes_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("passes counter");
    assert!(passes >= 2, "the loop passes again after each poll: {passes}");
}
