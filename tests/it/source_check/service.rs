//! The source check through the pipeline, `nexis check --source-check` and the
//! source-auth sidecar.

use super::fetch::fake_yt_dlp;
use super::*;

/// A golden-clip package whose every row claims its own source (`{tag}` padded to 11
/// characters) from second 0, so the clip itself is an honest source.
fn package_from_start(miner: &str, interval: u64, tag: &str) -> crate::support::TestPackage {
    let mut p = crate::validate_service::package(miner, interval, tag);
    for r in p.records.iter_mut() {
        r.clip_start_sec = 0.0;
    }
    p.write();
    p
}

/// Fills `mirror` with a source for every row of `p`: the clip itself (honest), or a
/// video that has nothing to do with it (`fake`).
fn mirror_sources(p: &crate::support::TestPackage, mirror: &Path, fake: Option<&Path>) {
    std::fs::create_dir_all(mirror).expect("mkdir");
    for (i, r) in p.records.iter().enumerate() {
        let from = fake.map_or_else(|| p.clip_path(i), Path::to_path_buf);
        std::fs::copy(from, mirror.join(format!("{}.mp4", r.source_video_id))).expect("copy source");
    }
}

/// `nexis check --json` of `dir` with the source mirror; the exit code and the decision.
async fn run_check(dir: &Path, tmp: &Path, mirror: &Path, source_check: bool) -> (Option<i32>, serde_json::Value) {
    let interval = crate::support::INTERVAL.to_string();
    let dir = dir.display().to_string();
    let mut args = vec!["check", &dir, "--hotkey", crate::support::MINER, "--interval", &interval, "--json"];
    if source_check {
        args.push("--source-check");
    }
    let envs = [
        ("NEXIS_SOURCE_CACHE_DIR", mirror.display().to_string()),
        ("NEXIS_WORKDIR", tmp.join("work").display().to_string()),
        ("NEXIS_YT_DLP", "/nonexistent/yt-dlp".to_string()),
    ];
    let out = crate::support::nexis_command(tmp, &envs).args(&args).output().await.expect("run nexis");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no decision JSON: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

#[tokio::test]
async fn nexis_check_with_source_check_accepts_honest_and_rejects_fabricated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = tmp.path().join("fake.mp4");
    moving_source(&fake, "mandelbrot", 1280, 720).await;
    let interval = crate::support::INTERVAL;
    let honest = package_from_start(crate::support::MINER, interval, "hon");
    let fabricated = package_from_start(crate::support::MINER, interval, "fab");
    let mirror = tmp.path().join("mirror");
    mirror_sources(&honest, &mirror, None);
    mirror_sources(&fabricated, &mirror, Some(&fake));
    let (code, d) = run_check(honest.dir(), tmp.path(), &mirror, true).await;
    assert_eq!(code, Some(0), "{d}");
    assert!(d["notes"].get("unavailable_checks").is_none(), "{d}");
    let (code, d) = run_check(fabricated.dir(), tmp.path(), &mirror, true).await;
    assert_eq!(code, Some(1), "{d}");
    let failures: Vec<String> = d["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(failures.len(), 3, "every sampled row fails: {d}");
    assert!(failures.iter().all(|f| f.starts_with("source_frame_mismatch:")), "{d}");
    // Without the flag (the default) the fabricated package passes: nothing else catches it.
    let (code, d) = run_check(fabricated.dir(), tmp.path(), &mirror, false).await;
    assert_eq!(code, Some(0), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_source_auth_posts_exactly_the_mismatching_hotkeys() {
    use nexis::chain::Chain;
    use nexis::protocol::IntervalClock;
    use nexis::validator::{IntervalEvaluator, IntervalSettings, Seat, SourceAuthSidecar};

    use crate::api_client::{Mode, TestServer};
    use crate::validate_service::{NETUID, World, hotkey, publish};

    let w = World::new().await;
    let fake = w.tmp.path().join("fake.mp4");
    moving_source(&fake, "mandelbrot", 1280, 720).await;
    let mirror = w.tmp.path().join("mirror");
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let [honest, fabricator, unreachable, other_fabricator] = [21, 22, 23, 24].map(hotkey);
    for (key, tag, source) in [
        (&honest, "hon", Some(None)),
        (&fabricator, "fab", Some(Some(fake.as_path()))),
        (&unreachable, "unr", None),
        (&other_fabricator, "fa2", Some(Some(fake.as_path()))),
    ] {
        let store = w.miner(key, true).await;
        let p = package_from_start(&key.ss58(), 0, tag);
        if let Some(fake) = source {
            mirror_sources(&p, &mirror, fake);
        }
        publish(store.as_ref(), 0, p.dir()).await;
    }
    // The unreachable miner's sources need a download, and yt-dlp fails (a bot check).
    let script =
        fake_yt_dlp(&w.tmp.path().join("bin"), "echo 'ERROR: Sign in to confirm you are not a bot' >&2\nexit 1");
    let server = TestServer::start(Mode::Normal).await;
    let mut fetch = settings(w.tmp.path(), Some(&mirror), &script);
    fetch.timeout = Duration::from_secs(30);
    let check = check_with(fetch, false);
    let chain: Arc<dyn Chain> = Arc::new(w.chain.clone());
    let seat = Seat { netuid: NETUID, clock: IntervalClock::default(), hotkey: Arc::new(validator.clone()) };
    let settings = IntervalSettings {
        expected_category: Some(crate::support::CATEGORY.into()),
        miner_concurrency: 2,
        miner_budget: Duration::from_secs(600),
        upload_grace: Duration::from_secs(1 << 32),
        ..IntervalSettings::default()
    };
    let packages = crate::support::validator_with(Default::default()).with_row_check(Arc::new(check));
    let sidecar = SourceAuthSidecar {
        evaluator: IntervalEvaluator::new(seat, chain, w.stores(), packages, settings),
        api: Some(server.api(Duration::from_secs(10))),
        state_path: w.tmp.path().join("source-auth/last_interval"),
    };
    assert!(sidecar.tick().await.expect("nothing closed yet").is_empty());
    w.chain.advance(52).expect("advance");
    let reports = sidecar.tick().await.expect("tick");
    let mut want = vec![fabricator.ss58(), other_fabricator.ss58()];
    want.sort();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].interval_id, reports[0].evaluated), (0, 4));
    assert_eq!(reports[0].reported, want);
    let got = server.received();
    assert_eq!(got.len(), 1, "one signed post per interval");
    assert_eq!((got[0].method.as_str(), got[0].path.as_str()), ("POST", "/v1/invalid-hotkeys"));
    assert_eq!(got[0].verdict, Ok(()), "the server verifies the signature");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).expect("json body");
    assert_eq!(body, serde_json::json!({"interval_id": 0, "invalid_hotkeys": want}));
    // The interval is done: the next poll posts nothing more.
    assert!(sidecar.tick().await.expect("tick").is_empty());
    assert_eq!(server.received().len(), 1);
}
