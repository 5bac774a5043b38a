//! The miner library on seeded sources: the package it publishes is accepted and has the §6
//! schema, segments are never reused, bad sources and ffmpeg or caption trouble skip rows (not
//! the interval), a missing yt-dlp is explained, an interrupted upload is finished next start.

use super::*;

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
