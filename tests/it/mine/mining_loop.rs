//! The mining loop: each new interval is published once, a failed one is retried on the next
//! poll, and SIGTERM or a stop ends it cleanly.

use super::*;
use nexis::protocol::Block;

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
    let first = clock.interval_start(Block::new(chain.current_block().await.expect("block"))).get();
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
        let second = clock.interval_start(Block::new(chain.current_block().await.expect("block"))).get();
        assert_eq!(second, first + 10);
        assert!(wait_for(manifest(second)).await, "the next interval is mined when it opens");
        trigger.stop();
    };
    let ((), ()) = tokio::join!(miner.run(&clock, &chain, Duration::from_millis(20), &shutdown), driver);
    assert!(shutdown.is_requested());
}
