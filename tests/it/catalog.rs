//! The owner dataset's parquet catalog (issue 18) against the in-process S3 server: the
//! sync writes one part per (interval, hotkey prefix) after the objects, with an index of
//! row counts and digests, given-up rows left out, byte-identical on a rerun; `nexis
//! dataset stats / query / export / rebuild-catalog` read it from the bucket and from a
//! local copy; pyarrow (Hive partitioning) and the `webdataset` package read what we
//! wrote. Also the sync's high-water listing and broken-bundle give-up (issue 14).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nexis::catalog::frame::{mirror, rows_of, scan};
use nexis::catalog::{CatalogIndex, CatalogRow, hotkey_prefix, part_key};
use nexis::owner::{SyncSettings, owner_row_id};
use nexis::protocol::{IntervalId, PackageKey};
use nexis::storage::{Downloaded, ObjectMeta, ObjectStore, StorageError};
use sha2::{Digest, Sha256};

use crate::owner_sync::{OWNER_DB, RECORD_INFO, SyncWorld, quick_retries};
use crate::validate_service::hotkey;

const VALIDATOR: &str = "5OwnerValidatorHotkey";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Copies every object of `store` into `dir` (a local copy of the owner bucket).
async fn copy_bucket(store: &dyn ObjectStore, dir: &Path) {
    for o in store.list("").await.expect("list") {
        let path = dir.join(&o.key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        store.get_to_file(&o.key, &path, 1 << 30).await.expect("copy");
    }
}

async fn catalog_rows(store: &dyn ObjectStore, cache: &Path) -> Vec<CatalogRow> {
    mirror(store, cache).await.expect("mirror");
    let lf = scan(cache).expect("scan").expect("parts");
    let df = lf.collect().expect("collect");
    let mut rows = rows_of(&df).expect("rows");
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

fn settings(max_attempts: u32) -> SyncSettings {
    SyncSettings { validator_hotkey: Some(VALIDATOR.into()), ..quick_retries(max_attempts) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_writes_an_idempotent_catalog_of_copied_rows_only() {
    let sw = SyncWorld::new().await;
    let (a, b) = (hotkey(2), hotkey(3));
    let pa = sw
        .bundle(&a, 50, "aaa0", |p| {
            p.records[3].clip_sha256 = "0".repeat(64);
            p.write();
        })
        .await;
    let pb = sw.bundle(&b, 100, "bbb0", |_| {}).await;
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), settings(1));
    let s = sync.pass().await.expect("pass");
    assert_eq!((s.rows_copied, s.rows_given_up, s.catalog_parts_written), (23, 1, 2), "{s:?}");

    let index = CatalogIndex::parse(&sw.owner.get_bytes("catalog/_index.json", 1 << 20).await.expect("index"))
        .expect("index parses");
    let keys: Vec<&str> = index.parts.iter().map(|p| p.key.as_str()).collect();
    let (ka, kb) = (part_key(50, &hotkey_prefix(&a.ss58())), part_key(100, &hotkey_prefix(&b.ss58())));
    assert_eq!(keys, [ka.as_str(), kb.as_str()]);
    assert!(ka.starts_with("catalog/interval=50/part-5") && ka.ends_with(".parquet"), "{ka}");
    assert_eq!(index.rows, 23);
    for part in &index.parts {
        let bytes = sw.owner.get_bytes(&part.key, 1 << 30).await.expect("part");
        assert_eq!((sha(&bytes), bytes.len() as u64), (part.sha256.clone(), part.bytes), "{}", part.key);
    }
    assert_eq!(index.parts.iter().map(|p| p.rows).collect::<Vec<_>>(), [11, 12]);

    let rows = catalog_rows(sw.owner.as_ref(), &sw.w.tmp.path().join("cache")).await;
    assert_eq!(rows.len(), 23);
    let given_up = owner_row_id(&a.ss58(), 50, &pa.records[3].clip_id);
    assert!(rows.iter().all(|r| r.id != given_up), "a given-up row is not in the catalog");
    let owner_keys = sw.owner_keys().await;
    for (p, miner, interval) in [(&pa, &a, 50u64), (&pb, &b, 100u64)] {
        for rec in p.records.iter().filter(|r| owner_row_id(&miner.ss58(), interval, &r.clip_id) != given_up) {
            let id = owner_row_id(&miner.ss58(), interval, &rec.clip_id);
            let row = rows.iter().find(|r| r.id == id).expect("row in catalog");
            let clip = std::fs::read(p.dir().join(&rec.clip_uri)).expect("clip");
            let frame = std::fs::read(p.dir().join(&rec.first_frame_uri)).expect("frame");
            assert_eq!(
                (row.interval, row.miner_hotkey.as_str(), row.clip_id.as_str(), row.caption.as_str()),
                (interval, miner.ss58().as_str(), rec.clip_id.as_str(), rec.caption.as_str())
            );
            assert_eq!((row.clip_sha256.clone(), row.first_frame_sha256.clone()), (sha(&clip), sha(&frame)));
            assert_eq!((row.clip_bytes, row.image_bytes), (clip.len() as u64, frame.len() as u64));
            let fingerprint = nexis::media::fingerprint::fingerprint_jpeg(&frame).map(|f| f.to_string());
            assert!(fingerprint.is_some(), "the golden first frames have structure");
            assert_eq!(row.content_fingerprint, fingerprint, "the catalog carries the first image's fingerprint");
            assert_eq!(
                (row.source_video_id.as_str(), row.source_video_url.as_str()),
                (rec.source_video_id.as_str(), rec.source_video_url.as_str())
            );
            assert_eq!(row.clip_start_sec, rec.clip_start_sec);
            assert_eq!(
                (row.duration_sec, row.width, row.height, row.fps, row.num_frames, row.has_audio),
                (
                    Some(rec.duration_sec),
                    Some(rec.width),
                    Some(rec.height),
                    Some(rec.fps),
                    Some(rec.num_frames),
                    Some(rec.has_audio)
                )
            );
            assert_eq!(row.validator_hotkey.as_deref(), Some(VALIDATOR));
            assert!(row.copied_at_us.is_some_and(|t| t > 1_700_000_000_000_000), "{:?}", row.copied_at_us);
            for key in [&row.clip_key, &row.image_key, &row.metadata_key] {
                assert!(owner_keys.contains(key), "the catalog names {key}, which must exist");
            }
        }
    }

    // A rerun (markers removed, so both bundles are worked again) rewrites each part
    // byte for byte: copied-at comes from the recorded state, not the clock.
    let before: Vec<Vec<u8>> =
        futures::future::join_all(index.parts.iter().map(|p| sw.owner.get_bytes(&p.key, 1 << 30)))
            .await
            .into_iter()
            .map(|r| r.expect("part"))
            .collect();
    for (i, m) in [(50, &a), (100, &b)] {
        std::fs::remove_file(sw.w.s3.object_path(RECORD_INFO, &format!("{i}/{}/copied_to_owner.marker", m.ss58())))
            .expect("remove marker");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = sync.pass().await.expect("rerun");
    assert_eq!((again.rows_already_copied, again.catalog_parts_written), (23, 2), "{again:?}");
    for (part, old) in index.parts.iter().zip(&before) {
        assert_eq!(&sw.owner.get_bytes(&part.key, 1 << 30).await.expect("part"), old, "{} changed", part.key);
    }
    let index2 =
        CatalogIndex::parse(&sw.owner.get_bytes("catalog/_index.json", 1 << 20).await.expect("index")).expect("index");
    assert_eq!(index2, index);
}

/// `nexis dataset ...` with a clean environment, reading the owner bucket on `endpoint`.
pub(crate) fn dataset_command(tmp: &Path, endpoint: &str, args: &[&str]) -> Command {
    let (access, secret) = crate::s3_server::KEYS;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") || k.starts_with("R2_") || k == "RUST_LOG" {
            cmd.env_remove(&key);
        }
    }
    let account = "0123456789abcdef0123456789abcdef";
    cmd.arg("dataset")
        .args(args)
        .current_dir(tmp)
        .env("NEXIS_WORKDIR", tmp.join("work"))
        .env("NEXIS_S3_ENDPOINT", endpoint)
        .env("NEXIS_OWNER_DB_BUCKET", OWNER_DB)
        .env("NEXIS_OWNER_DB_ACCOUNT_ID", account)
        .env("NEXIS_OWNER_DB_WRITE_ACCESS_KEY", access)
        .env("NEXIS_OWNER_DB_WRITE_SECRET_KEY", secret)
        .env("NEXIS_RECORD_INFO_BUCKET", RECORD_INFO)
        .env("NEXIS_RECORD_INFO_ACCOUNT_ID", account)
        .env("NEXIS_RECORD_INFO_WRITE_ACCESS_KEY", access)
        .env("NEXIS_RECORD_INFO_WRITE_SECRET_KEY", secret)
        .stdin(Stdio::null());
    cmd
}

pub(crate) fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().expect("run nexis dataset");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Two miners, two intervals, 24 copied rows (catalog + objects in the S3 owner bucket).
pub(crate) async fn synced_world() -> (SyncWorld, Vec<CatalogRow>) {
    let sw = SyncWorld::new().await;
    sw.bundle(&hotkey(2), 50, "aaa0", |_| {}).await;
    sw.bundle(&hotkey(3), 100, "bbb0", |_| {}).await;
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), settings(1));
    assert_eq!(sync.pass().await.expect("pass").rows_copied, 24);
    let rows = catalog_rows(sw.owner.as_ref(), &sw.w.tmp.path().join("cache")).await;
    (sw, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_stats_and_query_read_the_bucket_and_a_local_copy() {
    let (sw, rows) = synced_world().await;
    let tmp = sw.w.tmp.path();
    let endpoint = sw.w.s3.endpoint();
    let png = tmp.join("stats.png");
    let stats = run_ok(dataset_command(tmp, &endpoint, &["stats", "--plot", png.to_str().expect("utf-8")]));
    assert!(stats.contains("rows            24"), "{stats}");
    // Both miners published the same golden footage: the catalog's fingerprints cluster it.
    assert!(stats.contains("24 rows fingerprinted, within 12 bits)"), "{stats}");
    assert!(stats.contains("near-duplicate clusters  ") && !stats.contains("near-duplicate clusters  0 "), "{stats}");
    let hours: f64 = rows.iter().filter_map(|r| r.duration_sec).sum::<f64>() / 3600.0;
    assert!(stats.contains(&format!("hours of video  {hours:.2}")), "{stats}");
    for (interval, n) in [(50, 12), (100, 12)] {
        assert!(stats.contains(&format!("  {interval:>12}  {n:>8}")), "{stats}");
    }
    for miner in [hotkey(2).ss58(), hotkey(3).ss58()] {
        assert!(stats.contains(&format!("  {miner:<48}  {:>8}", 12)), "{stats}");
    }
    let png_bytes = std::fs::read(&png).expect("chart");
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");

    // The same numbers from a local copy of the bucket.
    let copy = tmp.join("copy");
    copy_bucket(sw.owner.as_ref(), &copy).await;
    let local = run_ok(dataset_command(tmp, "http://127.0.0.1:9", &["stats", "--from", copy.to_str().expect("utf-8")]));
    assert_eq!(local, stats.replace(&format!("\nchart written to {}\n", png.display()), ""));

    // SQL: a grouped count as CSV, a filter as parquet, a table.
    let csv = run_ok(dataset_command(
        tmp,
        &endpoint,
        &[
            "query",
            "--format",
            "csv",
            "SELECT \"interval\", count(*) AS clips FROM catalog GROUP BY \"interval\" ORDER BY \"interval\"",
        ],
    ));
    assert_eq!(csv, "interval,clips\n50,12\n100,12\n");
    let want: BTreeSet<String> =
        rows.iter().filter(|r| r.interval == 100 && r.clip_start_sec >= 10.0).map(|r| r.id.clone()).collect();
    assert!(!want.is_empty() && want.len() < 12, "the filter must select a strict subset");
    let out = tmp.join("q.parquet");
    run_ok(dataset_command(
        tmp,
        &endpoint,
        &[
            "query",
            "--from",
            copy.to_str().expect("utf-8"),
            "--format",
            "parquet",
            "--out",
            out.to_str().expect("utf-8"),
            "SELECT id, caption FROM catalog WHERE \"interval\" = 100 AND clip_start_sec >= 10",
        ],
    ));
    let df = polars::prelude::LazyFrame::scan_parquet(
        polars::prelude::PlRefPath::try_from_path(&out).expect("path"),
        Default::default(),
    )
    .expect("scan")
    .collect()
    .expect("read result");
    let got: BTreeSet<String> =
        df.column("id").expect("id").str().expect("text").iter().flatten().map(str::to_string).collect();
    assert_eq!(got, want);
    let table = run_ok(dataset_command(tmp, &endpoint, &["query", "SELECT count(*) AS n FROM catalog"]));
    assert!(table.starts_with("n\n-"), "{table}");
    assert!(table.contains("\n24\n"), "{table}");
    let bad = dataset_command(tmp, &endpoint, &["query", "SELECT nope FROM catalog"]).output().expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// A Python with `packages` in a throwaway venv under `dir`; `None` (after saying why)
/// when PyPI cannot be reached.
pub(crate) fn python_with(dir: &Path, packages: &[&str]) -> Option<PathBuf> {
    let venv = dir.join("venv");
    let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 -m venv");
    assert!(made.success(), "cannot create a venv");
    let python = venv.join("bin/python");
    let out = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--timeout", "60"])
        .args(packages)
        .output()
        .expect("pip");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let offline = [
            "Network is unreachable",
            "Temporary failure in name resolution",
            "Could not find a version",
            "ConnectionError",
            "Max retries",
        ]
        .iter()
        .any(|m| err.contains(m));
        assert!(offline, "pip install {packages:?} failed:\n{err}");
        eprintln!("SKIPPED: PyPI is unreachable, so pyarrow/webdataset cannot be installed:\n{err}");
        return None;
    }
    Some(python)
}

const PYARROW_SCRIPT: &str = r#"
import json, sys
import pyarrow.dataset as ds
d = ds.dataset(sys.argv[1], format="parquet", partitioning="hive")
t = d.to_table()
rows = sorted(t.to_pylist(), key=lambda r: r["id"])
for r in rows:
    if r["copied_at"] is not None:
        r["copied_at"] = r["copied_at"].isoformat()
print(json.dumps({"types": {f.name: str(f.type) for f in t.schema}, "rows": rows}))
"#;

const WEBDATASET_SCRIPT: &str = r#"
import hashlib, json, sys
import webdataset as wds
seen = []
for s in wds.WebDataset(sys.argv[1:], shardshuffle=False):
    meta = json.loads(s["json"])
    assert meta["id"] == s["__key__"], (meta["id"], s["__key__"])
    assert hashlib.sha256(s["mp4"]).hexdigest() == meta["clip_sha256"], s["__key__"]
    assert hashlib.sha256(s["jpg"]).hexdigest() == meta["first_frame_sha256"], s["__key__"]
    seen.append(s["__key__"])
print(json.dumps(seen))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_and_webdataset_read_what_we_wrote() {
    let (sw, rows) = synced_world().await;
    let tmp = sw.w.tmp.path();
    let endpoint = sw.w.s3.endpoint();
    // Small shards so the export has several; the first run is cut short by removing a
    // finished shard's file, and the rerun must rebuild exactly that one.
    let out = tmp.join("shards");
    let args = ["export", "--format", "webdataset", "--shard-bytes", "300KiB", "--out", out.to_str().expect("utf-8")];
    let first = run_ok(dataset_command(tmp, &endpoint, &args));
    assert!(first.contains("exported 24 samples"), "{first}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index")).expect("json");
    let shards: Vec<String> =
        index["shards"].as_array().expect("shards").iter().map(|s| s["name"].as_str().expect("name").into()).collect();
    assert!(shards.len() >= 2, "{index}");
    assert_eq!(shards[0], "shard-000000.tar");
    for s in index["shards"].as_array().expect("shards") {
        let bytes = std::fs::read(out.join(s["name"].as_str().expect("name"))).expect("shard");
        assert_eq!(sha(&bytes), s["sha256"].as_str().expect("sha"));
        assert!(bytes.len() as u64 <= 300 * 1024 || s["samples"] == 1, "{s}");
    }
    std::fs::remove_file(out.join(&shards[1])).expect("remove");
    let second = run_ok(dataset_command(tmp, &endpoint, &args));
    assert!(second.contains(&format!("({} already done)", shards.len() - 1)), "{second}");

    // --where selects a subset.
    let sub = tmp.join("subset");
    let subset = run_ok(dataset_command(
        tmp,
        &endpoint,
        &["export", "--out", sub.to_str().expect("utf-8"), "--where", "\"interval\" = 50 AND clip_start_sec < 10"],
    ));
    let want = rows.iter().filter(|r| r.interval == 50 && r.clip_start_sec < 10.0).count();
    assert!(subset.contains(&format!("exported {want} samples")), "{subset}");

    // A tampered clip stops the export with the digest named.
    let victim = &rows[0];
    std::fs::write(sw.w.s3.object_path(OWNER_DB, &victim.clip_key), b"not the clip").expect("tamper");
    let bad = dataset_command(tmp, &endpoint, &["export", "--out", tmp.join("bad").to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sha256"), "{}", String::from_utf8_lossy(&bad.stderr));

    let Some(python) = python_with(tmp, &["pyarrow", "webdataset"]) else { return };
    let cache = tmp.join("cache");
    let out_py =
        Command::new(&python).arg("-c").arg(PYARROW_SCRIPT).arg(cache.join("catalog")).output().expect("pyarrow");
    assert!(out_py.status.success(), "{}", String::from_utf8_lossy(&out_py.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out_py.stdout).expect("json");
    let types: BTreeMap<String, String> = serde_json::from_value(seen["types"].clone()).expect("types");
    for (name, ty) in [
        ("id", "string"),
        ("caption", "string"),
        ("clip_start_sec", "double"),
        ("duration_sec", "double"),
        ("width", "int64"),
        ("num_frames", "int64"),
        ("has_audio", "bool"),
        ("clip_bytes", "int64"),
        ("copied_at", "timestamp[us]"),
        ("interval", "int32"),
    ] {
        assert_eq!(types.get(name).map(String::as_str), Some(ty), "{name}: {types:?}");
    }
    assert_eq!(types.get("content_fingerprint").map(String::as_str), Some("string"), "{types:?}");
    assert_eq!(types.len(), 24, "23 columns and the partition: {types:?}");
    let py_rows = seen["rows"].as_array().expect("rows");
    assert_eq!(py_rows.len(), rows.len());
    for (py, r) in py_rows.iter().zip(&rows) {
        let mut ours: serde_json::Value = serde_json::from_slice(&r.to_json()).expect("row json");
        // pyarrow's isoformat has no trailing Z; compare the instant's text up to it.
        let (a, b) = (py["copied_at"].as_str().expect("copied_at"), ours["copied_at"].as_str().expect("copied_at"));
        assert_eq!(a, b.trim_end_matches('Z'));
        ours["copied_at"] = py["copied_at"].clone();
        assert_eq!(py, &ours);
    }

    let shard_paths: Vec<PathBuf> = shards.iter().map(|s| out.join(s)).collect();
    let out_wds =
        Command::new(&python).arg("-c").arg(WEBDATASET_SCRIPT).args(&shard_paths).output().expect("webdataset");
    assert!(out_wds.status.success(), "{}", String::from_utf8_lossy(&out_wds.stderr));
    let keys: Vec<String> = serde_json::from_slice(&out_wds.stdout).expect("keys");
    assert_eq!(
        keys.iter().cloned().collect::<BTreeSet<_>>(),
        rows.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>()
    );
    assert_eq!(keys.len(), 24, "every sample exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_catalog_restores_the_same_rows_from_the_buckets() {
    let (sw, rows) = synced_world().await;
    let tmp = sw.w.tmp.path();
    // Forget the catalog, as in a bucket filled before it existed.
    std::fs::remove_dir_all(sw.w.s3.object_path(OWNER_DB, "catalog")).expect("remove catalog");
    let out = run_ok(dataset_command(tmp, &sw.w.s3.endpoint(), &["rebuild-catalog", "--validator-hotkey", VALIDATOR]));
    assert!(out.contains("24 rows in 2 parts; 0 owner rows no bundle names"), "{out}");
    let rebuilt = catalog_rows(sw.owner.as_ref(), &tmp.join("cache2")).await;
    assert_eq!(rebuilt.len(), rows.len());
    for (a, b) in rebuilt.iter().zip(&rows) {
        // Everything but the copy time (now the clip object's last-modified time).
        assert_eq!(CatalogRow { copied_at_us: None, ..a.clone() }, CatalogRow { copied_at_us: None, ..b.clone() });
        assert!(a.copied_at_us.is_some());
    }
}

/// Records the prefixes the sync lists.
struct Recording {
    inner: Arc<dyn ObjectStore>,
    lists: Mutex<Vec<String>>,
}

#[async_trait]
impl ObjectStore for Recording {
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
        self.lists.lock().expect("lock").push(prefix.to_string());
        self.inner.list(prefix).await
    }
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StorageError> {
        self.inner.put_file(key, src).await
    }
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.put_bytes(key, bytes).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_lists_only_intervals_since_its_high_water_mark() {
    let sw = SyncWorld::new().await;
    let rec = Arc::new(Recording { inner: sw.info.clone(), lists: Mutex::new(vec![]) });
    let progress = sw.w.tmp.path().join("progress");
    let make = |full_list_every: Duration| {
        let mut s = sw.sync(&progress, SyncSettings { full_list_every, interval_blocks: 50, ..settings(1) });
        s.record_info = rec.clone();
        s
    };
    let lists = || std::mem::take(&mut *rec.lists.lock().expect("lock"));
    sw.bundle(&hotkey(2), 0, "aaa0", |_| {}).await;
    let sync = make(Duration::from_secs(3600));
    assert_eq!(sync.pass().await.expect("pass").bundles_completed, 1);
    assert_eq!(lists(), [""], "the first pass lists the whole bucket");

    let block = sw.w.chain.advance(1000).expect("advance");
    let current = block - block % 50;
    sw.bundle(&hotkey(3), current - 50, "bbb0", |_| {}).await;
    assert_eq!(sync.pass().await.expect("pass").bundles_completed, 1);
    let listed = lists();
    assert!(!listed.contains(&String::new()), "{listed:?}");
    assert_eq!(listed.first().map(String::as_str), Some("0/"));
    assert_eq!(listed.last(), Some(&format!("{current}/")));

    // Everything is finished: the mark moves to the lookback floor, and a bundle that
    // appears below it is not listed until the next whole listing.
    let floor = current - 12 * 50;
    sw.bundle(&hotkey(4), 100, "ccc0", |_| {}).await;
    let s = sync.pass().await.expect("pass");
    let listed = lists();
    assert_eq!(listed.first(), Some(&format!("{floor}/")), "{listed:?}");
    assert_eq!(listed.len() as u64, (current - floor) / 50 + 1);
    assert_eq!((s.bundles_listed, s.bundles_completed), (1, 0), "{s:?}");
    drop(sync);
    let sync = make(Duration::ZERO);
    let s = sync.pass().await.expect("pass");
    assert_eq!(lists(), [""]);
    assert_eq!((s.bundles_listed, s.bundles_completed), (3, 1), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_bundle_is_given_up_after_the_attempt_limit() {
    let sw = SyncWorld::new().await;
    let a = hotkey(2);
    let p = sw.bundle(&a, 0, "aaa0", |_| {}).await;
    let mut short = p.records.clone();
    short.pop();
    let path = sw.w.tmp.path().join("short.parquet");
    nexis::dataset::write_dataset(&path, &short).expect("write");
    sw.info.put_file(&format!("0/{}/dataset.parquet", a.ss58()), &path).await.expect("replace");
    let sync = sw.sync(&sw.w.tmp.path().join("progress"), settings(2));
    let first = sync.pass().await.expect("pass");
    assert_eq!((first.bundle_errors, first.bundles_given_up), (1, 0), "{first:?}");
    let second = sync.pass().await.expect("pass");
    assert_eq!((second.bundle_errors, second.bundles_given_up), (0, 1), "{second:?}");
    let third = sync.pass().await.expect("pass");
    assert_eq!((third.bundle_errors, third.bundles_given_up, third.bundles_already_given_up), (0, 0, 1), "{third:?}");
    let state = sync.progress.bundle(&PackageKey::new(IntervalId::new(0), a.ss58())).expect("state").expect("recorded");
    assert!(
        state.given_up && state.attempts == 2 && state.last_error.contains("differs from its manifest"),
        "{state:?}"
    );
    assert_eq!(sw.marker(0, &a).await, None, "a given-up bundle is not marked as copied");
    assert!(sw.owner_keys().await.is_empty());
}
