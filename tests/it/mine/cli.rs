//! `nexis mine --once` through the binary: a package built with a chat-completions captioner is
//! accepted by `check`, a missing model key is named, short captions are retried, and an S3
//! bucket named after the hotkey is uploaded to once.

use super::*;

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
