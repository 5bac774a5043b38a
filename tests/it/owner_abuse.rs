//! The owner tools under abuse (issue 24): a bundle bomb in the owner sync and in
//! `dataset rebuild-catalog`, a stale `index.json` naming a path outside `dataset export
//! --out`, and `dataset query` SQL that reads local files.

use nexis::catalog::rebuild::{RebuildSettings, rebuild};
use nexis::owner::SyncSettings;
use nexis::protocol::{IntervalId, PackageKey};

use crate::catalog::{dataset_command, run_ok, synced_world};
use crate::owner_sync::{SyncWorld, quick_retries};
use crate::validate_service::hotkey;

/// Rows of the bomb and the size of its one caption (stored once, in the dictionary).
const BOMB_ROWS: usize = 2000;
const CAPTION_BYTES: usize = 64 * 1024;

/// A bundle of [`BOMB_ROWS`] rows sharing one [`CAPTION_BYTES`] caption: about 70 KB on
/// disk (the caption is dictionary-encoded once), 128 MB once decoded.
async fn bomb(sw: &SyncWorld, interval: u64) -> u64 {
    let p = sw
        .bundle(&hotkey(2), interval, "aaa0", |p| {
            let caption = "b".repeat(CAPTION_BYTES);
            let mut rows = Vec::new();
            for i in 0..BOMB_ROWS {
                let mut r = p.records[i % p.records.len()].clone();
                r.clip_id = format!("{}-{i}", r.clip_id);
                r.caption = caption.clone();
                rows.push(r);
            }
            p.records = rows;
            p.write();
        })
        .await;
    std::fs::metadata(p.dataset()).expect("bomb").len()
}

/// Finding 5 (owner sync): the bomb is given up on its first pass with the reason
/// recorded (the decode stops at the budget instead of taking 128 MB), and a bundle whose
/// footer alone declares more than the budget is given up without decoding a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_bomb_is_given_up_at_once_under_the_decode_budget() {
    let sw = SyncWorld::new().await;
    let size = bomb(&sw, 50).await;
    assert!(size < 1 << 20, "the bomb is small on disk: {size} bytes");
    let progress = sw.w.tmp.path().join("progress");
    let settings = SyncSettings { max_decoded_bytes: 8 << 20, ..quick_retries(5) };
    let sync = sw.sync(&progress, settings.clone());
    let s = sync.pass().await.expect("pass");
    assert_eq!((s.bundles_given_up, s.rows_copied), (1, 0), "given up on the first of 5 attempts: {s:?}");
    let state = sync
        .progress
        .bundle(&PackageKey::new(IntervalId::new(50), hotkey(2).ss58()))
        .expect("progress")
        .expect("recorded");
    assert!(state.given_up && state.attempts == 1, "{state:?}");
    assert!(state.last_error.contains("more than the cap of 8388608 bytes"), "{state:?}");
    drop(sync);
    // The next pass does not touch it again.
    let sync = sw.sync(&progress, settings);
    assert_eq!(sync.pass().await.expect("pass").bundles_already_given_up, 1);
    drop(sync);

    // Over the budget by its footer: given up before decoding.
    let sw2 = SyncWorld::new().await;
    bomb(&sw2, 100).await;
    let sync =
        sw2.sync(&sw2.w.tmp.path().join("progress"), SyncSettings { max_decoded_bytes: 16 << 10, ..quick_retries(5) });
    let s = sync.pass().await.expect("pass");
    assert_eq!(s.bundles_given_up, 1, "{s:?}");
    let state = sync
        .progress
        .bundle(&PackageKey::new(IntervalId::new(100), hotkey(2).ss58()))
        .expect("progress")
        .expect("recorded");
    assert!(state.given_up && state.last_error.contains("declares"), "{state:?}");
    assert!(state.last_error.contains("more than the decode cap of 16384"), "{state:?}");
}

/// Finding 5 (`dataset rebuild-catalog`): the bomb is skipped with its reason, under the
/// same budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_catalog_skips_a_bundle_bomb() {
    let sw = SyncWorld::new().await;
    bomb(&sw, 50).await;
    let settings = RebuildSettings {
        max_dataset_bytes: 64 << 20,
        max_dataset_rows: 1_000_000,
        max_decoded_bytes: 8 << 20,
        validator_hotkey: None,
        concurrency: 2,
    };
    let scratch = sw.w.tmp.path().join("rebuild");
    let report = rebuild(sw.owner.as_ref(), sw.info.as_ref(), &scratch, &settings).await.expect("rebuild");
    assert_eq!(report.bundle_errors.len(), 1, "{report:?}");
    assert!(report.bundle_errors[0].contains("more than the cap of 8388608 bytes"), "{report:?}");
}

/// Finding 8: a stale or hostile `index.json` in `--out` naming `../victim.txt` is refused
/// and the file outside `--out` is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_never_touches_a_path_outside_out() {
    let (sw, _) = synced_world().await;
    let tmp = sw.w.tmp.path();
    let out = tmp.join("shards");
    std::fs::create_dir_all(&out).expect("out");
    let victim = tmp.join("victim.txt");
    std::fs::write(&victim, b"keep me").expect("victim");
    let index = serde_json::json!({
        "format": "nexis-webdataset-1", "shard_bytes": 1, "samples": 1,
        "shards": [{"name": "../victim.txt", "samples": 1, "bytes": 7, "sha256": "x",
                    "first_key": "a", "last_key": "a", "keys_sha256": "x"}]
    });
    std::fs::write(out.join("index.json"), index.to_string()).expect("index");
    let args = ["export", "--format", "webdataset", "--out", out.to_str().expect("utf-8")];
    let run = dataset_command(tmp, &sw.w.s3.endpoint(), &args).output().expect("run");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{err}");
    assert!(err.contains("\"../victim.txt\"") && err.contains("not a shard"), "{err}");
    assert_eq!(std::fs::read(&victim).expect("victim kept"), b"keep me");
}

/// Finding 9: `dataset query` runs SQL over the catalog only; file-reading table functions
/// are refused with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_cannot_read_local_files() {
    let (sw, _) = synced_world().await;
    let tmp = sw.w.tmp.path();
    let secret = tmp.join("secret.csv");
    std::fs::write(&secret, "password\nhunter2\n").expect("secret");
    let endpoint = sw.w.s3.endpoint();
    for sql in [
        format!("SELECT * FROM read_csv('{}')", secret.display()),
        format!("SELECT * FROM catalog WHERE clip_id IN (SELECT password FROM read_csv('{}'))", secret.display()),
    ] {
        let run = dataset_command(tmp, &endpoint, &["query", &sql]).output().expect("run");
        let (out, err) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
        assert!(!run.status.success(), "{out}");
        assert!(!out.contains("hunter2") && !err.contains("hunter2"), "{out}{err}");
        assert!(err.contains("read_csv") && err.contains("catalog table only"), "{err}");
    }
    // --where of export goes through the same check.
    let where_ = format!("clip_id IN (SELECT password FROM read_csv('{}'))", secret.display());
    let x = tmp.join("x");
    let args = ["export", "--out", x.to_str().expect("utf-8"), "--where", &where_];
    let run = dataset_command(tmp, &endpoint, &args).output().expect("run");
    assert!(!run.status.success() && String::from_utf8_lossy(&run.stderr).contains("catalog table only"));
    // Plain queries still run.
    assert!(run_ok(dataset_command(tmp, &endpoint, &["query", "SELECT count(*) AS n FROM catalog"])).contains("24"));
}
