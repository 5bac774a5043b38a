//! `S3Store` against a real S3 server in process (s3s-fs with SigV4): round trips,
//! caps, not-found, pagination, secrets kept out of errors, timeouts, and the validator
//! pipeline reading the golden package from a bucket.

use std::time::{Duration, Instant};

use chrono::Utc;
use nexis::storage::{ObjectStore, S3Config, S3Store, StorageError};
use nexis::validator::PackageLimits;

use crate::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use crate::support::{INTERVAL, MINER, failures, golden_dir, request, sha256_hex, validator_with};

const BUCKET: &str = "test-bucket";

async fn server_and_store() -> (S3Server, S3Store) {
    let server = S3Server::start().await;
    server.create_bucket(BUCKET).await;
    let store = server.store(BUCKET);
    (server, store)
}

#[tokio::test]
async fn put_and_get_bytes_round_trip() {
    let (_server, store) = server_and_store().await;
    assert_eq!(store.bucket(), BUCKET);
    store.put_bytes("5/manifest.json", b"{\"hello\":1}").await.unwrap();
    assert_eq!(store.get_bytes("5/manifest.json", 1024).await.unwrap(), b"{\"hello\":1}");
    store.put_bytes("5/empty", b"").await.unwrap();
    assert_eq!(store.get_bytes("5/empty", 0).await.unwrap(), b"");
    // Overwrite replaces.
    store.put_bytes("5/manifest.json", b"v2").await.unwrap();
    assert_eq!(store.get_bytes("5/manifest.json", 2).await.unwrap(), b"v2");
    store.delete("5/manifest.json").await.unwrap();
    assert!(store.head("5/manifest.json").await.unwrap().is_none());
}

#[tokio::test]
async fn put_file_and_get_to_file_hash_and_size() {
    let (_server, store) = server_and_store().await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("clip.mp4");
    let content: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &content).unwrap();
    store.put_file("7/clips/a.mp4", &src).await.unwrap();

    let dest = dir.path().join("out.mp4");
    let got = store.get_to_file("7/clips/a.mp4", &dest, content.len() as u64).await.unwrap();
    assert_eq!(got.size, content.len() as u64);
    assert_eq!(got.sha256, sha256_hex(&content));
    assert_eq!(std::fs::read(&dest).unwrap(), content);
}

#[tokio::test]
async fn head_is_none_when_missing_and_has_size_and_time_when_present() {
    let (_server, store) = server_and_store().await;
    assert!(store.head("9/manifest.json").await.unwrap().is_none());
    let before = Utc::now();
    store.put_bytes("9/manifest.json", b"12345").await.unwrap();
    let meta = store.head("9/manifest.json").await.unwrap().expect("present");
    assert_eq!(meta.key, "9/manifest.json");
    assert_eq!(meta.size, 5);
    let modified = meta.last_modified.expect("last_modified");
    // S3 timestamps have one-second resolution.
    let skew = (modified - before).num_seconds().abs();
    assert!(skew <= 5, "last_modified {modified} is {skew}s away from {before}");
}

#[tokio::test]
async fn over_the_cap_is_too_large_and_leaves_no_file() {
    let (_server, store) = server_and_store().await;
    store.put_bytes("1/dataset.parquet", &[7u8; 4096]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("dataset.parquet");
    let err = store.get_to_file("1/dataset.parquet", &dest, 4095).await.unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { limit: 4095, .. }), "{err}");
    assert!(!dest.exists(), "partial download left behind");
    let err = store.get_bytes("1/dataset.parquet", 100).await.unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { limit: 100, .. }), "{err}");
    // Exactly at the cap is fine.
    assert_eq!(store.get_to_file("1/dataset.parquet", &dest, 4096).await.unwrap().size, 4096);
}

#[tokio::test]
async fn missing_key_is_not_found() {
    let (server, store) = server_and_store().await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x");
    let err = store.get_to_file("1/clips/missing.mp4", &dest, 1 << 20).await.unwrap_err();
    assert!(matches!(&err, StorageError::NotFound { key } if key == "1/clips/missing.mp4"), "{err}");
    assert!(!dest.exists());
    let err = store.get_bytes("1/manifest.json", 1 << 20).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
    // A bucket that does not exist reads as absent too.
    let other = server.store("no-such-bucket");
    assert!(other.head("1/manifest.json").await.unwrap().is_none());
    assert!(matches!(other.get_bytes("1/manifest.json", 10).await, Err(StorageError::NotFound { .. })));
}

#[tokio::test]
async fn keys_that_could_escape_are_refused() {
    let (_server, store) = server_and_store().await;
    for key in ["../other-bucket/x", "/abs", "a//b", "a/./b", ""] {
        assert!(matches!(store.head(key).await, Err(StorageError::InvalidKey { .. })), "{key:?}");
        assert!(matches!(store.put_bytes(key, b"x").await, Err(StorageError::InvalidKey { .. })), "{key:?}");
    }
}

#[tokio::test]
async fn list_is_sorted_under_the_prefix_and_paginates() {
    let (_server, store) = server_and_store().await;
    let store = store.with_list_page_size(2);
    let mut want = Vec::new();
    for name in ["e", "a", "c", "b", "d", "g", "f"] {
        let key = format!("42/clips/{name}.mp4");
        store.put_bytes(&key, name.as_bytes()).await.unwrap();
        want.push(key);
    }
    store.put_bytes("42/manifest.json", b"{}").await.unwrap();
    store.put_bytes("43/clips/z.mp4", b"z").await.unwrap();
    want.sort();

    let listed = store.list("42/clips/").await.unwrap();
    let keys: Vec<_> = listed.iter().map(|m| m.key.clone()).collect();
    assert_eq!(keys, want);
    assert!(listed.iter().all(|m| m.size == 1 && m.last_modified.is_some()));
    assert_eq!(store.list("42/").await.unwrap().len(), 8);
    assert_eq!(store.list("").await.unwrap().len(), 9);
    assert!(store.list("44/").await.unwrap().is_empty());
}

#[tokio::test]
async fn wrong_secret_is_an_error_that_does_not_show_the_secret() {
    let (server, _store) = server_and_store().await;
    let wrong = "WRONG-secret-that-must-never-be-printed-42";
    let store = S3Store::new(S3Config { secret_key: wrong.into(), ..server.config(BUCKET) }).unwrap();
    for err in [
        store.put_bytes("1/a", b"x").await.unwrap_err(),
        store.get_bytes("1/a", 10).await.unwrap_err(),
        store.list("1/").await.unwrap_err(),
    ] {
        assert!(matches!(err, StorageError::Backend { .. }), "{err}");
        assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong), "secret in error: {shown}");
        assert!(!shown.contains(SECRET_KEY) && !shown.contains(ACCESS_KEY), "key in error: {shown}");
    }
}

#[tokio::test]
async fn config_debug_does_not_show_the_keys() {
    let server = S3Server::start().await;
    let config = server.config(BUCKET);
    for shown in [format!("{config:?}"), format!("{:?}", server.store(BUCKET))] {
        assert!(!shown.contains(SECRET_KEY), "{shown}");
        assert!(!shown.contains(ACCESS_KEY), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

fn fast_config(endpoint: String) -> S3Config {
    S3Config {
        connect_timeout: Duration::from_millis(500),
        read_timeout: Duration::from_millis(500),
        operation_timeout: Duration::from_secs(3),
        max_attempts: 2,
        ..S3Config::new(endpoint, "auto", BUCKET, ACCESS_KEY, SECRET_KEY)
    }
}

#[tokio::test]
async fn unreachable_endpoint_fails_within_the_timeouts() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = S3Store::new(fast_config(format!("http://127.0.0.1:{port}"))).unwrap();
    let started = Instant::now();
    let err = store.head("1/manifest.json").await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(!err.to_string().contains(SECRET_KEY));
}

#[tokio::test]
async fn silent_server_fails_within_the_timeouts() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let store = S3Store::new(fast_config(format!("http://{addr}"))).unwrap();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let err = store.get_to_file("1/dataset.parquet", &dir.path().join("d"), 1 << 20).await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(err.to_string().contains("timeout"), "{err}");
    hold.abort();
}

#[tokio::test]
async fn validator_accepts_the_golden_package_from_s3() {
    let server = S3Server::start().await;
    let bucket = MINER.to_lowercase();
    let package = golden_dir().join("valid_12/package");
    let store = server.upload_dir(&bucket, &package, &format!("{INTERVAL}/")).await;
    assert_eq!(store.list(&format!("{INTERVAL}/clips/")).await.unwrap().len(), 12);

    let outcome = validator_with(PackageLimits::default()).validate(&store, &request(INTERVAL)).await.unwrap();
    let d = outcome.decision;
    assert!(d.accepted, "failures: {:?}", failures(&d));
    assert_eq!(d.record_count, 12);
    assert_eq!(d.sampled_rows, 3);

    // The manifest's LastModified reaches the late-submission check.
    let mut late = request(INTERVAL);
    late.terms_mut().upload_deadline = Some(Utc::now() - chrono::Duration::hours(1));
    let d = validator_with(PackageLimits::default()).validate(&store, &late).await.unwrap().decision;
    assert_eq!(failures(&d), ["late_submission"]);
}
