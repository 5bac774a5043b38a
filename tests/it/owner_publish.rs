//! Owner mode of the validator (protocol §13): after an interval, bundles of accepted
//! miners only (post-prune rows, manifest copy with count and digest updated) and the
//! merged `record_info.json` in the canonical form; an unparseable snapshot is never
//! overwritten; owner mode refuses to start without the record-info write credentials.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nexis::chain::{Chain, Hotkey};
use nexis::index::refresh::{SnapshotRead, SnapshotSource};
use nexis::index::snapshot::{self, format_start, seconds_to_ms};
use nexis::model::IntervalManifest;
use nexis::model::source_key::canonical_source_key;
use nexis::owner::pending::PendingBundles;
use nexis::owner::{OwnerPublisher, SnapshotPublish};
use nexis::protocol::IntervalClock;
use nexis::storage::{ObjectStore, S3Store, StorageError};

use crate::support::{read_records, sha256_hex};
use crate::validate_service::{NETUID, World, hotkey, package, publish};

const RECORD_INFO: &str = "nexis-record-info";
const SNAPSHOT_KEY: &str = "record_info.json";

fn publisher(w: &World, store: Arc<dyn ObjectStore>) -> OwnerPublisher {
    OwnerPublisher {
        record_info: store,
        snapshot_key: SNAPSHOT_KEY.into(),
        chain: Arc::new(w.chain.clone()),
        netuid: NETUID,
        stores: w.stores(),
        scratch: w.tmp.path().join("scratch"),
        max_dataset_bytes: 256 << 20,
        pending: None,
        max_attempts: 1,
    }
}

async fn keys(store: &dyn ObjectStore) -> BTreeSet<String> {
    store.list("").await.expect("list").into_iter().map(|o| o.key).collect()
}

/// Downloads a bundle and returns its records and manifest.
async fn bundle(
    store: &dyn ObjectStore,
    dir: &Path,
    interval: u64,
    miner: &str,
) -> (Vec<nexis::model::ClipRecord>, IntervalManifest, String) {
    let path = dir.join(format!("{miner}.parquet"));
    let got = store.get_to_file(&format!("{interval}/{miner}/dataset.parquet"), &path, 1 << 30).await.expect("dataset");
    let manifest = store.get_bytes(&format!("{interval}/{miner}/manifest.json"), 1 << 20).await.expect("manifest");
    (read_records(&path), IntervalManifest::parse(&manifest).expect("manifest parses"), got.sha256)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_of_accepted_miners_only_and_the_merged_snapshot() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let [a, b, impostor, missing] = [2, 3, 4, 5].map(hotkey);
    let mut stores = Vec::new();
    for key in [&a, &b, &impostor, &missing] {
        stores.push(w.miner(key, true).await);
    }
    w.s3.create_bucket(RECORD_INFO).await;
    let info: Arc<dyn ObjectStore> = Arc::new(S3Store::new(w.s3.config(RECORD_INFO)).expect("store"));

    let pa = package(&a.ss58(), 0, "aaa0");
    publish(stores[0].as_ref(), 0, pa.dir()).await;
    let pb = package(&b.ss58(), 0, "bbb0");
    publish(stores[1].as_ref(), 0, pb.dir()).await;
    // The impostor's manifest names another miner: rejected.
    let pi = package(&impostor.ss58(), 0, "iii0");
    pi.edit_manifest(|m| m["miner_hotkey"] = a.ss58().into());
    publish(stores[2].as_ref(), 0, pi.dir()).await;

    // The published snapshot already holds b's first clip (so it is pruned) and another source.
    let b0 = &pb.records[0];
    let b0_key = canonical_source_key(&b0.source_video_url);
    let b0_start = format_start(seconds_to_ms(b0.clip_start_sec).expect("start"));
    let initial = format!(
        "{{\"video_v1\": {{\"{b0_key}\": [\"{b0_start}\"], \"https://www.youtube.com/watch?v=zzzzzzzzzzz\": [1]}}}}"
    );
    info.put_bytes(SNAPSHOT_KEY, initial.as_bytes()).await.expect("seed snapshot");

    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    let source = SnapshotSource { store: info.clone(), key: SNAPSHOT_KEY.into() };
    let mut config = w.config(&validator, clock, Duration::from_secs(3600));
    config.snapshot = Some(source);
    config.publisher = Some(Arc::new(publisher(&w, info.clone())));
    let service = config.build().expect("validator");
    w.chain.advance(52).expect("advance");
    let tick = service.tick().await.expect("tick");
    assert_eq!(tick.intervals.len(), 1);
    let decisions = &tick.intervals[0].record.decisions;
    let accepted: BTreeSet<String> = decisions.iter().filter(|d| d.accepted).map(|d| d.miner_hotkey.clone()).collect();
    assert_eq!(accepted, BTreeSet::from([a.ss58(), b.ss58()]), "{decisions:?}");

    // Bundles for the accepted miners only, plus the snapshot and its temporary copy.
    let expected: BTreeSet<String> = [
        format!("0/{}/dataset.parquet", a.ss58()),
        format!("0/{}/manifest.json", a.ss58()),
        format!("0/{}/dataset.parquet", b.ss58()),
        format!("0/{}/manifest.json", b.ss58()),
        SNAPSHOT_KEY.to_string(),
        format!("{SNAPSHOT_KEY}.tmp"),
    ]
    .into();
    assert_eq!(keys(info.as_ref()).await, expected);

    let dl = tempfile::tempdir().expect("tempdir");
    let (rows_a, manifest_a, sha_a) = bundle(info.as_ref(), dl.path(), 0, &a.ss58()).await;
    assert_eq!(rows_a, pa.records, "a kept every row");
    let (rows_b, manifest_b, sha_b) = bundle(info.as_ref(), dl.path(), 0, &b.ss58()).await;
    assert_eq!(rows_b, pb.records[1..].to_vec(), "b's first row was in the published index");
    // The manifest copies carry the bundle's own count and digest, the rest unchanged.
    assert_eq!((manifest_a.record_count, manifest_a.dataset_sha256.as_str()), (12, sha_a.as_str()));
    assert_eq!((manifest_b.record_count, manifest_b.dataset_sha256.as_str()), (11, sha_b.as_str()));
    let original_b = pb.manifest();
    assert_ne!(original_b.dataset_sha256, manifest_b.dataset_sha256);
    assert_eq!(
        IntervalManifest { record_count: 11, dataset_sha256: sha_b.clone(), ..original_b },
        manifest_b,
        "only record_count and dataset_sha256 change"
    );

    // The snapshot: canonical form, the old entries plus every kept row.
    let bytes = info.get_bytes(SNAPSHOT_KEY, 1 << 30).await.expect("snapshot");
    let parsed = snapshot::parse(&bytes).expect("published snapshot parses");
    assert_eq!(snapshot::serialize(&parsed), bytes, "written in the canonical form");
    assert_eq!(info.get_bytes(&format!("{SNAPSHOT_KEY}.tmp"), 1 << 30).await.expect("tmp"), bytes);
    assert_eq!(parsed.len(), 2 + 12 + 11);
    assert!(parsed.starts("https://www.youtube.com/watch?v=zzzzzzzzzzz").is_some_and(|s| s.contains(&1000)));
    for r in pa.records.iter().chain(&pb.records) {
        let ms = seconds_to_ms(r.clip_start_sec).expect("start");
        assert!(parsed.starts(&r.source_video_url).is_some_and(|s| s.contains(&ms)), "{}", r.source_video_url);
    }
    for r in &pi.records {
        assert!(parsed.starts(&r.source_video_url).is_none(), "rejected rows are not indexed");
    }
    assert_eq!(sha256_hex(&bytes).len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_snapshot_is_never_overwritten() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let a = hotkey(2);
    let store = w.miner(&a, true).await;
    w.s3.create_bucket(RECORD_INFO).await;
    let info: Arc<dyn ObjectStore> = Arc::new(S3Store::new(w.s3.config(RECORD_INFO)).expect("store"));
    let garbage = b"{\"video_v1\": {\"https://www.youtube.com/watch?v=x\": [\"1.000\"]".to_vec();
    info.put_bytes(SNAPSHOT_KEY, &garbage).await.expect("seed");
    let pa = package(&a.ss58(), 0, "aaa0");
    publish(store.as_ref(), 0, pa.dir()).await;

    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    let source = SnapshotSource { store: info.clone(), key: SNAPSHOT_KEY.into() };
    let owner = publisher(&w, info.clone());
    let mut config = w.config(&validator, clock, Duration::from_secs(3600));
    config.snapshot = Some(source);
    config.publisher = Some(Arc::new(owner.clone()));
    let service = config.build().expect("validator");
    w.chain.advance(52).expect("advance");
    let tick = service.tick().await.expect("tick");
    assert!(matches!(tick.snapshot, Some(SnapshotRead::Untrusted(_))));
    assert_eq!(tick.intervals[0].kept.len(), 1);
    assert_eq!(info.get_bytes(SNAPSHOT_KEY, 1 << 20).await.expect("snapshot"), garbage, "left as it was");
    let keys = keys(info.as_ref()).await;
    assert!(!keys.contains(&format!("{SNAPSHOT_KEY}.tmp")), "not even the temporary key is written: {keys:?}");
    assert!(keys.contains(&format!("0/{}/manifest.json", a.ss58())), "bundles do not depend on the snapshot");

    // A snapshot that turns unparseable after a trusted read is not overwritten either.
    let index = service.state.index();
    let trusted = SnapshotRead::Trusted { entries: 0, added: 0 };
    let outcome = owner.publish_snapshot(Some(&trusted), &index).await;
    assert!(matches!(outcome, SnapshotPublish::Untrusted(_)), "{outcome:?}");
    assert_eq!(info.get_bytes(SNAPSHOT_KEY, 1 << 20).await.expect("snapshot"), garbage);
    // Without a read there is nothing to vouch for the published file.
    assert_eq!(owner.publish_snapshot(None, &index).await, SnapshotPublish::NotRead);
    // Once the file is fixed, a trusted read publishes the merge (the kept rows included).
    info.put_bytes(SNAPSHOT_KEY, b"{}").await.expect("fix");
    let outcome = owner.publish_snapshot(Some(&trusted), &index).await;
    assert_eq!(outcome, SnapshotPublish::Uploaded { entries: 12 });
}

fn validate_command(tmp: &Path, seed: [u8; 32]) -> Command {
    let dir = tmp.join("wallets/validator/hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("default"),
        serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(seed)) }).to_string(),
    )
    .expect("keyfile");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") || k.starts_with("R2_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    cmd.args(["validate", "--once"])
        .current_dir(tmp)
        .env("BT_NETWORK", "embedded")
        .env("NEXIS_EMBEDDED_CHAIN_DIR", tmp.join("chain"))
        .env("NEXIS_WORKDIR", tmp.join("work"))
        .env("NEXIS_METRICS_ADDR", "")
        .env("BT_WALLET_PATH", tmp.join("wallets"))
        .env("BT_WALLET_NAME", "validator")
        .stdin(Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_mode_refuses_to_start_without_write_credentials() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seed = [21u8; 32];
    let me = Hotkey::from_seed(seed).ss58();
    let chain = nexis::chain::embedded::EmbeddedChain::open(nexis::chain::embedded::EmbeddedSettings::new(
        tmp.path().join("chain"),
        3_600_000,
    ))
    .expect("chain");
    chain.register(1, &me).expect("register");
    assert!(chain.current_block().await.is_ok());
    let secret = "s3cr3t-value-that-must-never-be-printed-0123456789abcdefghijklmn";
    let out = validate_command(tmp.path(), seed)
        .env("NEXIS_OWNER_VALIDATOR_HOTKEY", &me)
        .env("NEXIS_RECORD_INFO_WRITE_SECRET_KEY", secret)
        .output()
        .expect("run nexis validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("owner mode"), "{stderr}");
    assert!(stderr.contains("NEXIS_RECORD_INFO_ACCOUNT_ID"), "{stderr}");
    assert!(stderr.contains("NEXIS_RECORD_INFO_WRITE_ACCESS_KEY"), "{stderr}");
    assert!(!stderr.contains("NEXIS_RECORD_INFO_WRITE_SECRET_KEY"), "the secret is set: {stderr}");
    assert!(!stderr.contains(secret), "secrets are never printed");

    // Another hotkey as the owner: a plain validator, which needs no write credentials.
    let out = validate_command(tmp.path(), seed)
        .env("NEXIS_OWNER_VALIDATOR_HOTKEY", hotkey(99).ss58())
        .output()
        .expect("run nexis validate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A store whose reads fail (a flaky or misconfigured read path).
struct UnreadableStore;

#[async_trait::async_trait]
impl ObjectStore for UnreadableStore {
    async fn head(&self, key: &str) -> Result<Option<nexis::storage::ObjectMeta>, StorageError> {
        Err(StorageError::Backend { key: key.into(), message: "unreachable".into() })
    }
    async fn get_to_file(
        &self,
        key: &str,
        _dest: &Path,
        _max: u64,
    ) -> Result<nexis::storage::Downloaded, StorageError> {
        Err(StorageError::Backend { key: key.into(), message: "unreachable".into() })
    }
    async fn get_bytes(&self, key: &str, _max: u64) -> Result<Vec<u8>, StorageError> {
        Err(StorageError::Backend { key: key.into(), message: "unreachable".into() })
    }
    async fn list(&self, prefix: &str) -> Result<Vec<nexis::storage::ObjectMeta>, StorageError> {
        Err(StorageError::Backend { key: prefix.into(), message: "unreachable".into() })
    }
    async fn put_file(&self, key: &str, _src: &Path) -> Result<(), StorageError> {
        Err(StorageError::Backend { key: key.into(), message: "unreachable".into() })
    }
    async fn put_bytes(&self, key: &str, _bytes: &[u8]) -> Result<(), StorageError> {
        Err(StorageError::Backend { key: key.into(), message: "unreachable".into() })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_read_never_leads_to_a_write_even_if_the_file_is_fine_now() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let a = hotkey(2);
    let store = w.miner(&a, true).await;
    w.s3.create_bucket(RECORD_INFO).await;
    let info: Arc<dyn ObjectStore> = Arc::new(S3Store::new(w.s3.config(RECORD_INFO)).expect("store"));
    let published = b"{\"video_v1\": {}}".to_vec();
    info.put_bytes(SNAPSHOT_KEY, &published).await.expect("seed");
    let pa = package(&a.ss58(), 0, "aaa0");
    publish(store.as_ref(), 0, pa.dir()).await;
    // The snapshot is read through a path that fails; the publisher's own path works.
    let source = SnapshotSource { store: Arc::new(UnreadableStore), key: SNAPSHOT_KEY.into() };
    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    let mut config = w.config(&validator, clock, Duration::from_secs(3600));
    config.snapshot = Some(source);
    config.publisher = Some(Arc::new(publisher(&w, info.clone())));
    let service = config.build().expect("validator");
    w.chain.advance(52).expect("advance");
    let tick = service.tick().await.expect("tick");
    assert!(matches!(tick.snapshot, Some(SnapshotRead::Untrusted(_))));
    assert_eq!(info.get_bytes(SNAPSHOT_KEY, 1 << 20).await.expect("snapshot"), published);
    assert!(!keys(info.as_ref()).await.contains(&format!("{SNAPSHOT_KEY}.tmp")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_changed_after_validation_is_not_published() {
    let w = World::new().await;
    let a = hotkey(2);
    let store = w.miner(&a, true).await;
    w.s3.create_bucket(RECORD_INFO).await;
    let info: Arc<dyn ObjectStore> = Arc::new(S3Store::new(w.s3.config(RECORD_INFO)).expect("store"));
    let pa = package(&a.ss58(), 0, "aaa0");
    publish(store.as_ref(), 0, pa.dir()).await;
    let accepted = pa.manifest();
    let kept = |manifest: IntervalManifest| nexis::validator::KeptPackage {
        miner_hotkey: a.ss58(),
        manifest,
        rows: vec![0, 2, 5],
    };
    let report = |k| nexis::validator::IntervalReport {
        record: nexis::validator::IntervalRecord { interval_id: 0, decisions: vec![], ..Default::default() },
        kept: vec![k],
        ..Default::default()
    };
    let owner = publisher(&w, info.clone());
    let index = nexis::validator::ValidatorState::open(&w.tmp.path().join("state")).expect("state").index();
    // The miner swapped its dataset since it was accepted: the digest no longer matches.
    let stale = IntervalManifest { dataset_sha256: "0".repeat(64), ..accepted.clone() };
    let out = owner.publish(&report(kept(stale)), None, &index).await;
    assert!(out.published.is_empty());
    assert!(out.failed[0].2.contains("changed after validation"), "{:?}", out.failed);
    assert!(keys(info.as_ref()).await.is_empty(), "nothing written");
    // With the accepted digest the selected rows are published, in order.
    let out = owner.publish(&report(kept(accepted)), None, &index).await;
    assert_eq!(out.published, vec![(0, a.ss58(), 3)]);
    assert_eq!(out.snapshot, SnapshotPublish::NotRead);
    let dl = tempfile::tempdir().expect("tempdir");
    let (rows, manifest, sha) = bundle(info.as_ref(), dl.path(), 0, &a.ss58()).await;
    assert_eq!(rows, vec![pa.records[0].clone(), pa.records[2].clone(), pa.records[5].clone()]);
    assert_eq!((manifest.record_count, manifest.dataset_sha256), (3, sha));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_that_failed_is_retried_after_the_next_interval_and_then_given_up() {
    let w = World::new().await;
    let (a, b) = (hotkey(2), hotkey(3));
    let store_a = w.miner(&a, true).await;
    let store_b = w.miner(&b, true).await;
    w.s3.create_bucket(RECORD_INFO).await;
    let info: Arc<dyn ObjectStore> = Arc::new(S3Store::new(w.s3.config(RECORD_INFO)).expect("store"));
    let pa = package(&a.ss58(), 0, "aaa0");
    let pb = package(&b.ss58(), 0, "bbb0");
    // a's dataset is not reachable yet; b's never matches what was accepted.
    publish(store_b.as_ref(), 0, pb.dir()).await;
    let kept =
        |hk: &Hotkey, manifest| nexis::validator::KeptPackage { miner_hotkey: hk.ss58(), manifest, rows: vec![1, 3] };
    let report = |interval_id, kept| nexis::validator::IntervalReport {
        record: nexis::validator::IntervalRecord { interval_id, decisions: vec![], ..Default::default() },
        kept,
        ..Default::default()
    };
    let pending_dir = w.tmp.path().join("owner-publish");
    let owner = |pending| OwnerPublisher { pending: Some(pending), max_attempts: 2, ..publisher(&w, info.clone()) };
    let index = nexis::validator::ValidatorState::open(&w.tmp.path().join("state")).expect("state").index();
    let stale_b = IntervalManifest { dataset_sha256: "0".repeat(64), ..pb.manifest() };
    let first = owner(PendingBundles::open(&pending_dir).expect("pending"))
        .publish(&report(0, vec![kept(&a, pa.manifest()), kept(&b, stale_b)]), None, &index)
        .await;
    assert!(first.published.is_empty());
    assert_eq!(first.failed.len(), 2);
    assert!(keys(info.as_ref()).await.is_empty());

    // A restart in between: the pending bundles are on disk.
    publish(store_a.as_ref(), 0, pa.dir()).await;
    let pending = PendingBundles::open(&pending_dir).expect("reopen pending");
    assert_eq!(pending.all().expect("all").iter().map(|p| p.attempts).collect::<Vec<_>>(), [1, 1]);
    let second = owner(pending.clone()).publish(&report(50, vec![]), None, &index).await;
    assert_eq!(second.published, vec![(0, a.ss58(), 2)], "a is published on the retry");
    assert_eq!(second.given_up.len(), 1, "b failed its last attempt: {second:?}");
    assert_eq!(second.given_up[0].1, b.ss58());
    assert!(pending.all().expect("all").is_empty(), "nothing left to retry");
    let dl = tempfile::tempdir().expect("tempdir");
    let (rows, _, _) = bundle(info.as_ref(), dl.path(), 0, &a.ss58()).await;
    assert_eq!(rows, vec![pa.records[1].clone(), pa.records[3].clone()]);
    assert!(!keys(info.as_ref()).await.iter().any(|k| k.contains(&b.ss58())));
}

/// The real binary end to end on local bucket directories: an owner-mode validator
/// publishes the bundle and the snapshot, then `nexis sync-owner-datasets` copies the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_validator_then_sync_on_local_buckets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seed = [23u8; 32];
    let me = Hotkey::from_seed(seed).ss58();
    let chain = nexis::chain::embedded::EmbeddedChain::open(nexis::chain::embedded::EmbeddedSettings::new(
        tmp.path().join("chain"),
        3_600_000,
    ))
    .expect("chain");
    chain.register(1, &me).expect("register validator");
    let a = hotkey(2);
    chain.register(1, &a.ss58()).expect("register miner");
    chain.commit(&a, 1, &crate::validate_service::credentials().payload()).await.expect("commit");
    let buckets = tmp.path().join("buckets");
    let miner_bucket = buckets.join(nexis::chain::commitment::bucket_for_hotkey(&a.ss58()));
    let pa = package(&a.ss58(), 0, "aaa0");
    publish(&nexis::storage::LocalStore::new(&miner_bucket), 0, pa.dir()).await;
    chain.advance(52).expect("advance");

    let out = validate_command(tmp.path(), seed)
        .env("NEXIS_EMBEDDED_BLOCK_MS", "3600000")
        .env("NEXIS_LOCAL_BUCKETS_DIR", &buckets)
        .env("NEXIS_OWNER_VALIDATOR_HOTKEY", &me)
        .output()
        .expect("run nexis validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let info = buckets.join(RECORD_INFO);
    assert!(info.join(format!("0/{}/manifest.json", a.ss58())).is_file(), "{stderr}");
    assert!(info.join(format!("0/{}/dataset.parquet", a.ss58())).is_file());
    let snapshot = std::fs::read(info.join(SNAPSHOT_KEY)).expect("snapshot published");
    assert_eq!(snapshot::parse(&snapshot).expect("parses").len(), 12);

    let mut sync = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") || k.starts_with("R2_") || k == "RUST_LOG" {
            sync.env_remove(&key);
        }
    }
    let out = sync
        .args(["sync-owner-datasets", "--once", "--metrics-addr=", "--owner-db-bucket", "owner-db"])
        .current_dir(tmp.path())
        .env("BT_NETWORK", "embedded")
        .env("NEXIS_EMBEDDED_CHAIN_DIR", tmp.path().join("chain"))
        .env("NEXIS_EMBEDDED_BLOCK_MS", "3600000")
        .env("NEXIS_WORKDIR", tmp.path().join("sync-work"))
        .env("NEXIS_LOCAL_BUCKETS_DIR", &buckets)
        .stdin(Stdio::null())
        .output()
        .expect("run nexis sync-owner-datasets");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("rows_copied=12") && stdout.contains("bundles_completed=1"), "{stdout}");
    assert_eq!(std::fs::read(info.join(format!("0/{}/copied_to_owner.marker", a.ss58()))).expect("marker"), b"ok\n");
    for r in &pa.records {
        let id = nexis::owner::owner_row_id(&a.ss58(), 0, &r.clip_id);
        for name in ["clip.mp4", "first_image.jpg", "metadata.json"] {
            assert!(buckets.join(format!("owner-db/nature/{id}/{name}")).is_file(), "{id}/{name}");
        }
    }
}
