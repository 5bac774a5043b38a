//! The validator service end to end on the embedded chain: several miners (honest, lying
//! about resolution, copying another miner, late, missing, uncommitted) over two intervals,
//! with the decisions, pruning counts, recorded state and the weights set on chain.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use nexis::chain::{Chain, Hotkey, ReadCredentials};
use nexis::index::refresh::{SnapshotRead, SnapshotSource};
use nexis::media::synth::{SynthClip, synth_clip};
use nexis::model::Decision;
use nexis::protocol::{Block, IntervalClock, IntervalId};
use nexis::storage::MinerStores;
use nexis::storage::{ObjectStore, dataset_key, manifest_key};
use nexis::validator::{
    IntervalReport, IntervalSettings, Seat, ServiceSettings, ValidatorConfig, ValidatorService, ValidatorState,
};

use crate::support::{self, CATEGORY, TestPackage, sha256_hex};

pub(crate) const NETUID: u16 = 1;
/// One-hour blocks: the chain stands still unless a test advances it.
pub(crate) const FROZEN_BLOCK_MS: u64 = 3_600_000;

pub(crate) fn hotkey(n: u8) -> Hotkey {
    Hotkey::from_seed([n; 32])
}

/// The read credentials every test miner commits (they match the test S3 server's keys).
pub(crate) fn credentials() -> ReadCredentials {
    let (access, secret) = crate::s3_server::KEYS;
    ReadCredentials::new("0123456789abcdef0123456789abcdef", access, secret).expect("credentials")
}

/// A package for `miner` and `interval` from the golden valid_12 clips, with sources
/// renamed by `tag` so different tags never overlap.
pub(crate) fn package(miner: &str, interval: u64, tag: &str) -> TestPackage {
    let mut p = TestPackage::valid();
    for (i, r) in p.records.iter_mut().enumerate() {
        let id = format!("{tag:_<5}{i:06}");
        r.source_video_url = format!("https://www.youtube.com/watch?v={id}");
        r.source_video_id = id.clone();
        r.source_proof.source_video_id = id;
    }
    p.write();
    p.edit_manifest(|m| {
        m["miner_hotkey"] = miner.into();
        m["interval_id"] = interval.into();
    });
    p
}

/// Uploads a package in the protocol's order: assets, dataset, manifest last.
pub(crate) async fn publish(store: &dyn ObjectStore, interval: u64, dir: &Path) {
    for sub in ["clips", "frames"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("read_dir") {
            let entry = entry.expect("entry");
            let key = format!("{interval}/{sub}/{}", entry.file_name().to_string_lossy());
            store.put_file(&key, &entry.path()).await.expect("upload asset");
        }
    }
    store.put_file(&dataset_key(interval), &dir.join("dataset.parquet")).await.expect("upload dataset");
    store.put_file(&manifest_key(interval), &dir.join("manifest.json")).await.expect("upload manifest");
}

/// Sets a file's modification time (what both the local store and s3s-fs report as
/// LastModified).
pub(crate) fn set_mtime(path: &Path, at: SystemTime) {
    let f = std::fs::OpenOptions::new().write(true).open(path).expect("open for mtime");
    f.set_modified(at).expect("set mtime");
}

/// Steps the chain a block at a time, polling the validator, until the chain holds no
/// unrevealed commit of `validator` (at most 60 blocks). Returns the block reached.
pub(crate) async fn until_revealed(w: &World, service: &ValidatorService, validator: &Hotkey) -> u64 {
    for _ in 0..60 {
        if w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").is_empty() {
            break;
        }
        w.chain.advance(1).expect("advance");
        service.tick().await.expect("tick");
    }
    assert!(w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").is_empty(), "never revealed");
    w.chain.current_block().await.expect("block")
}

/// The decisions of one interval by miner.
fn by_miner(decisions: &[Decision]) -> BTreeMap<String, &Decision> {
    decisions.iter().map(|d| (d.miner_hotkey.clone(), d)).collect()
}

fn codes(d: &Decision) -> Vec<String> {
    d.failures.iter().map(|f| f.code().to_string()).collect()
}

pub(crate) struct World {
    pub tmp: tempfile::TempDir,
    pub chain: EmbeddedChain,
    pub s3: crate::s3_server::S3Server,
}

impl World {
    pub(crate) async fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let chain =
            EmbeddedChain::open(EmbeddedSettings::new(tmp.path().join("chain"), FROZEN_BLOCK_MS)).expect("chain");
        let s3 = crate::s3_server::S3Server::start().await;
        Self { tmp, chain, s3 }
    }

    /// Registers `key` and, when `commit`, creates its bucket and commits credentials.
    pub(crate) async fn miner(&self, key: &Hotkey, commit: bool) -> Arc<dyn ObjectStore> {
        self.chain.register(NETUID, &key.ss58()).expect("register");
        let bucket = nexis::chain::commitment::bucket_for_hotkey(&key.ss58());
        self.s3.create_bucket(&bucket).await;
        if commit {
            self.chain.commit(key, NETUID, &credentials().payload()).await.expect("commit");
        }
        Arc::new(nexis::storage::S3Store::new(self.s3.config(&bucket)).expect("store"))
    }

    /// Where the S3 server keeps `key` of `hotkey`'s bucket on disk.
    pub(crate) fn object_path(&self, hotkey: &str, key: &str) -> PathBuf {
        self.s3.object_path(&nexis::chain::commitment::bucket_for_hotkey(hotkey), key)
    }

    pub(crate) fn stores(&self) -> Arc<dyn MinerStores> {
        Arc::new(nexis::storage::S3Buckets::new(Some(self.s3.endpoint())))
    }

    pub(crate) fn service(&self, validator: &Hotkey, clock: IntervalClock, grace: Duration) -> ValidatorService {
        self.config(validator, clock, grace).build().expect("validator")
    }

    /// The test validator's configuration, for a test to adjust before building it.
    pub(crate) fn config(&self, validator: &Hotkey, clock: IntervalClock, grace: Duration) -> ValidatorConfig {
        let chain: Arc<dyn Chain> = Arc::new(self.chain.clone());
        let state = ValidatorState::open(&self.tmp.path().join("state")).expect("state");
        let seat = Seat { netuid: NETUID, clock, hotkey: Arc::new(validator.clone()) };
        let packages = support::validator_with(Default::default());
        let mut config = ValidatorConfig::new(seat, chain, self.stores(), packages, state);
        config.intervals = IntervalSettings {
            expected_category: Some(CATEGORY.into()),
            miner_concurrency: 4,
            miner_budget: Duration::from_secs(120),
            upload_grace: grace,
            ..IntervalSettings::default()
        };
        config.service = ServiceSettings { poll: Duration::from_millis(10), ..ServiceSettings::default() };
        config
    }
}

/// Evaluates `interval` at `block` with `service`'s evaluator (no API exclusions, no
/// snapshot), without recording it.
pub(crate) async fn evaluate(
    service: &ValidatorService,
    interval: IntervalId,
    block: Block,
) -> Result<IntervalReport, nexis::validator::IntervalError> {
    let ctx = service.evaluator.context(interval, block, Default::default(), None).await?;
    service.evaluator.evaluate(&ctx, &service.state.index()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_decisions_pruning_and_weights() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let [a, b, liar, copier, late, missing, uncommitted] = [2, 3, 4, 5, 6, 7, 8].map(hotkey);
    let mut stores = BTreeMap::new();
    for (key, commit) in
        [(&a, true), (&b, true), (&liar, true), (&copier, true), (&late, true), (&missing, true), (&uncommitted, false)]
    {
        stores.insert(key.ss58(), w.miner(key, commit).await);
    }
    let store = |k: &Hotkey| stores[&k.ss58()].clone();
    let metagraph = w.chain.metagraph(NETUID).await.expect("metagraph");
    let uid = |k: &Hotkey| metagraph.uid_of(&k.ss58()).expect("uid");

    // Interval 0. The copier republishes a's rows, five minutes after a.
    let now = SystemTime::now();
    let pa = package(&a.ss58(), 0, "aaa0");
    publish(store(&a).as_ref(), 0, pa.dir()).await;
    set_mtime(&w.object_path(&a.ss58(), "0/manifest.json"), now - Duration::from_secs(600));
    let pb = package(&b.ss58(), 0, "bbb0");
    publish(store(&b).as_ref(), 0, pb.dir()).await;
    let pc = package(&copier.ss58(), 0, "aaa0");
    publish(store(&copier).as_ref(), 0, pc.dir()).await;
    set_mtime(&w.object_path(&copier.ss58(), "0/manifest.json"), now - Duration::from_secs(300));
    // The liar declares 1280x720 but every clip is 854x480.
    let mut pl = package(&liar.ss58(), 0, "lll0");
    for (i, r) in pl.records.iter_mut().enumerate() {
        let clip = pl.tmp.path().join(&r.clip_uri);
        let small = SynthClip { width: 854, height: 480, seed: i as u32, audio: false, ..Default::default() };
        synth_clip(&clip, &small).await.expect("ffmpeg");
        r.clip_sha256 = sha256_hex(&std::fs::read(&clip).expect("read"));
    }
    pl.write();
    publish(store(&liar).as_ref(), 0, pl.dir()).await;
    // The late miner's manifest lands two hours after the deadline.
    let pt = package(&late.ss58(), 0, "ttt0");
    publish(store(&late).as_ref(), 0, pt.dir()).await;
    set_mtime(&w.object_path(&late.ss58(), "0/manifest.json"), now + Duration::from_secs(7200));
    // The uncommitted miner publishes, but nobody can read it.
    let pu = package(&uncommitted.ss58(), 0, "uuu0");
    publish(store(&uncommitted).as_ref(), 0, pu.dir()).await;

    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    let service = w.service(&validator, clock, Duration::from_secs(3600));
    assert_eq!(w.chain.advance(52).expect("advance"), 52);
    let tick = service.tick().await.expect("tick");
    assert_eq!(tick.intervals.len(), 1);
    let first = &tick.intervals[0].record;
    assert_eq!(first.interval_id, 0);
    let d = by_miner(&first.decisions);
    assert_eq!(d.len(), 6, "the uncommitted miner is not a candidate: {:?}", d.keys());
    assert!(!d.contains_key(&uncommitted.ss58()));
    let da = d[&a.ss58()];
    assert!(da.accepted, "{}", da.to_json());
    assert_eq!((da.record_count, da.notes.cross_miner_overlap_pruned_count), (12, Some(0)));
    assert!(d[&b.ss58()].accepted && d[&b.ss58()].record_count == 12);
    let dl = d[&liar.ss58()];
    assert!(!dl.accepted);
    assert!(!codes(dl).is_empty() && codes(dl).iter().all(|c| c == "invalid_resolution"), "{}", dl.to_json());
    assert!(dl.failures.iter().all(|f| f.to_string().ends_with(":854x480")));
    let dc = d[&copier.ss58()];
    assert!(dc.accepted, "copying is not a rule failure: {}", dc.to_json());
    assert_eq!(dc.record_count, 0, "every copied row goes to the earlier submitter");
    assert_eq!(dc.notes.cross_miner_overlap_pruned_count, Some(12));
    assert_eq!(codes(d[&late.ss58()]), ["late_submission"]);
    assert!(d[&late.ss58()].notes.upload_deadline.is_some());
    assert_eq!(codes(d[&missing.ss58()]), ["missing_submission_files"]);
    // The kept packages (for owner publishing) follow the pruning.
    let kept: BTreeMap<String, usize> =
        tick.intervals[0].kept.iter().map(|k| (k.miner_hotkey.clone(), k.rows.len())).collect();
    assert_eq!(kept, BTreeMap::from([(a.ss58(), 12), (b.ss58(), 12), (copier.ss58(), 0)]));
    // Epoch 0 had no earlier decisions: everything burns to uid 0 (the validator).
    let sub = tick.weights.expect("weights for epoch 0");
    assert!(sub.burned);
    // Commit-reveal is on: the weights are a timelocked commit until the chain reveals them.
    assert_eq!(sub.mode.as_deref(), Some("commit-reveal"));
    assert!(w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights").is_empty());
    until_revealed(&w, &service, &validator).await;
    assert_eq!(w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights"), vec![(0, 65535)]);
    assert_eq!(service.metrics.weights_revealed.get(), 1);

    // Polling again at the same block evaluates nothing and sets nothing.
    let again = service.tick().await.expect("tick");
    assert!(again.intervals.is_empty() && again.weights.is_none());

    // Interval 50: a publishes new clips; b republishes one clip of interval 0.
    let pa = package(&a.ss58(), 50, "aaa1");
    publish(store(&a).as_ref(), 50, pa.dir()).await;
    let mut pb = package(&b.ss58(), 50, "bbb1");
    let reused = package(&b.ss58(), 0, "bbb0").records[4].clone();
    pb.records[0].source_video_url = reused.source_video_url.replace("https://www.", "https://m.");
    pb.records[0].source_video_id = reused.source_video_id.clone();
    pb.records[0].clip_start_sec = reused.clip_start_sec + 1.0;
    pb.write();
    pb.edit_manifest(|m| {
        m["miner_hotkey"] = b.ss58().into();
        m["interval_id"] = 50.into();
    });
    publish(store(&b).as_ref(), 50, pb.dir()).await;

    let now = w.chain.current_block().await.expect("block");
    assert_eq!(w.chain.advance(102 - now).expect("advance"), 102);
    let tick = service.tick().await.expect("tick");
    assert_eq!(tick.intervals.len(), 1);
    let second = &tick.intervals[0].record;
    assert_eq!(second.interval_id, 50);
    let d = by_miner(&second.decisions);
    assert!(d[&a.ss58()].accepted && d[&a.ss58()].record_count == 12);
    let db = d[&b.ss58()];
    assert!(db.accepted, "{}", db.to_json());
    assert_eq!(db.record_count, 11, "{}", db.to_json());
    assert_eq!(db.notes.global_overlap_pruned_count, Some(1));
    for k in [&liar, &copier, &late, &missing] {
        assert_eq!(codes(d[&k.ss58()]), ["missing_submission_files"]);
    }

    // Epoch 1 (block 100): a 24, b 23; the copier scored 0 and was rejected in interval 50;
    // ranks 1 and 2 give 2/3 and 1/3, so 65535 and 32768.
    assert!(!tick.weights.as_ref().expect("weights for epoch 1").burned);
    until_revealed(&w, &service, &validator).await;
    let mut set = w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights");
    set.sort();
    let mut want = vec![(uid(&a), 65535), (uid(&b), 32768)];
    want.sort();
    assert_eq!(set, want);

    // The state holds both intervals once, and the index the kept rows (12+12+12+11).
    let state = &service.state;
    assert_eq!(state.last_finished_interval().expect("state"), Some(50));
    assert_eq!(state.decisions_between(IntervalId::new(0)..IntervalId::new(100)).expect("decisions").len(), 12);
    assert_eq!(state.index().len(), 47);
    assert!(!state.record_interval(first).expect("record"), "an interval is never recorded twice");
}

/// A validation API double: fixed invalid and blacklisted hotkeys, records what is posted.
struct ApiDouble {
    url: String,
    posted: Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
}

async fn api_double(invalid: Vec<String>, blacklist: Vec<String>) -> ApiDouble {
    use axum::routing::{get, post};
    let posted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = posted.clone();
    let app = axum::Router::new()
        .route(
            "/v1/invalid-hotkeys",
            get(move || async move { axum::Json(serde_json::json!({ "invalid_hotkeys": invalid })) }),
        )
        .route(
            "/v1/get_blacklist",
            get(move || async move { axum::Json(serde_json::json!({ "blacklist_hotkeys": blacklist })) }),
        )
        .route(
            "/v1/validation-results",
            post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let signer =
                    headers.get("x-validator-hotkey").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                sink.lock().expect("lock").push((signer, json));
                axum::Json(serde_json::json!({ "ok": true }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    ApiDouble { url, posted }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_api_exclusions_reporting_and_metrics() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let [a, invalid, banned, c] = [2, 3, 4, 5].map(hotkey);
    let mut stores = BTreeMap::new();
    for key in [&a, &invalid, &banned, &c] {
        stores.insert(key.ss58(), w.miner(key, true).await);
    }
    let pa = package(&a.ss58(), 0, "aaa0");
    for (key, tag) in [(&a, "aaa0"), (&invalid, "iii0"), (&banned, "nnn0"), (&c, "ccc0")] {
        let p = if tag == "aaa0" { None } else { Some(package(&key.ss58(), 0, tag)) };
        let dir = p.as_ref().map_or(pa.dir(), |p| p.dir());
        publish(stores[&key.ss58()].as_ref(), 0, dir).await;
    }
    // The shared snapshot already holds a clip 2 s from a's first row (bare id form).
    w.s3.create_bucket("nexis-record-info").await;
    let record_info = Arc::new(w.s3.store("nexis-record-info"));
    let first = &pa.records[0];
    let snapshot = format!(r#"{{"{}": [{}]}}"#, first.source_video_id, first.clip_start_sec + 2.0);
    record_info.put_bytes("record_info.json", snapshot.as_bytes()).await.expect("snapshot");

    let api = api_double(vec![invalid.ss58()], vec![banned.ss58()]).await;
    let client =
        nexis::evidence::EvidenceClient::new(&api.url, Duration::from_secs(5), validator.clone()).expect("api");
    let mut config = w.config(&validator, IntervalClock::default(), Duration::from_secs(3600));
    config.api = Some(Arc::new(client));
    config.snapshot = Some(SnapshotSource { store: record_info.clone(), key: "record_info.json".into() });
    let service = config.build().expect("validator");
    w.chain.advance(52).expect("advance");
    let tick = service.tick().await.expect("tick");
    assert_eq!(tick.snapshot, Some(SnapshotRead::Trusted { entries: 1, added: 1 }));
    let d = by_miner(&tick.intervals[0].record.decisions);
    assert_eq!(
        d.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([a.ss58(), c.ss58()]),
        "API-excluded miners are not evaluated"
    );
    assert_eq!((d[&a.ss58()].record_count, d[&a.ss58()].notes.global_overlap_pruned_count), (11, Some(1)));
    assert_eq!(d[&c.ss58()].record_count, 12);

    // The interval was reported, signed by this validator, with the protocol's fields.
    let posted = api.posted.lock().expect("lock").clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].0, validator.ss58());
    assert_eq!(posted[0].1["interval_id"], 0);
    let reported: BTreeMap<String, u64> = posted[0].1["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| (d["miner_hotkey"].as_str().expect("hotkey").to_string(), d["record_count"].as_u64().expect("count")))
        .collect();
    assert_eq!(reported, BTreeMap::from([(a.ss58(), 11), (c.ss58(), 12)]));

    // /metrics tells the same story.
    let metrics = service.metrics.clone();
    let addr = nexis::telemetry::serve_render(move || metrics.render(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve metrics");
    let text = reqwest::get(format!("http://{addr}/metrics")).await.expect("get").text().await.expect("text");
    for line in [
        "nexis_validator_intervals_total 1",
        "nexis_validator_decisions_total{result=\"accepted\"} 2",
        "nexis_validator_overlap_pruned_rows_total{kind=\"global\"} 1",
        "nexis_validator_weight_submissions_total{result=\"ok\"} 1",
        "nexis_validator_last_interval 0",
        "nexis_weights_committed_total 1",
        "nexis_weights_revealed_total 0",
        "nexis_weights_reveal_missing_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("nexis_validator_stage_seconds_bucket{le="), "{text}");

    // An unparseable snapshot is untrusted and adds nothing.
    record_info.put_bytes("record_info.json", b"<html>not json</html>").await.expect("snapshot");
    let before = service.state.index().len();
    w.chain.advance(50).expect("advance");
    let tick = service.tick().await.expect("tick");
    assert!(matches!(tick.snapshot, Some(SnapshotRead::Untrusted(_))));
    assert_eq!(service.state.index().len(), before, "interval 50 had no packages, and the snapshot adds nothing");
}

#[test]
fn health_follows_the_liveness_file() {
    use nexis::telemetry::{Health, check_health, heartbeat_path, write_heartbeat};
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = heartbeat_path(tmp.path(), "validator");
    assert!(matches!(check_health(&path, Duration::from_secs(60)), Health::Missing(_)));
    write_heartbeat(&path, Block::new(120), Some(IntervalId::new(100))).expect("write");
    match check_health(&path, Duration::from_secs(60)) {
        Health::Alive { beat, .. } => assert_eq!((beat.block, beat.last_interval), (120, Some(100))),
        other => panic!("expected alive, got {other:?}"),
    }
    let mut beat: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    beat["at"] = (beat["at"].as_i64().expect("at") - 3600).into();
    std::fs::write(&path, beat.to_string()).expect("write");
    assert!(matches!(check_health(&path, Duration::from_secs(60)), Health::Stale { age_sec, .. } if age_sec >= 3600));
}
