//! Behavioural contract of the `Chain` trait, written over `&dyn Chain` so every
//! implementation can run it; here it runs against the embedded chain, including several
//! openers of one directory at once (as separate nexis processes would be).

use std::time::Duration;

use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
use nexis::chain::{Chain, ChainError, Hotkey, NetUid, WeightsCall};

const NETUID: NetUid = 7;
const PAYLOAD: &str = "0123456789abcdef0123456789abcdefAAAAAAAAAAAAAAAAbbbbbbbbbbbbbbbbccccccccccccccccccccccccccccccccDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD";

fn key(n: u8) -> Hotkey {
    Hotkey::from_seed([n; 32])
}

fn chain(dir: &std::path::Path) -> EmbeddedChain {
    // The plain-weights contract: subnets created here have commit-reveal off.
    EmbeddedChain::open(EmbeddedSettings::new(dir, 20)).expect("open embedded chain").with_commit_reveal(false)
}

/// The block number grows with time and never goes back.
async fn contract_block_clock(chain: &dyn Chain) {
    let a = chain.current_block().await.expect("block");
    tokio::time::sleep(Duration::from_millis(70)).await;
    let b = chain.current_block().await.expect("block");
    assert!(b >= a + 2, "20 ms blocks: {a} then {b} after 70 ms");
}

/// Commitments round-trip for registered hotkeys; invalid payloads are skipped.
async fn contract_commitments(chain: &dyn Chain, miner: &Hotkey, other: &Hotkey) {
    chain.commit(miner, NETUID, PAYLOAD).await.expect("commit");
    chain.commit(other, NETUID, "not credentials").await.expect("commit is stored as written");
    let all = chain.commitments(NETUID).await.expect("commitments");
    assert_eq!(all.len(), 1, "the invalid commitment is skipped: {all:?}");
    assert_eq!(all[0].hotkey, miner.ss58());
    assert_eq!(all[0].credentials.payload(), PAYLOAD);
    assert_eq!(all[0].credentials.account_id, "0123456789abcdef0123456789abcdef");
    assert!(all[0].block.is_some());
    // A newer commitment replaces the older one.
    let upper = format!("0123456789ABCDEF0123456789ABCDEF{}", &PAYLOAD[32..]);
    chain.commit(miner, NETUID, &upper).await.expect("recommit");
    let all = chain.commitments(NETUID).await.expect("commitments");
    assert_eq!(all[0].credentials.account_id, "0123456789abcdef0123456789abcdef", "account id is lowercased");
}

/// Weights round-trip; bad calls and unregistered signers are refused with typed errors.
async fn contract_weights(chain: &dyn Chain, validator: &Hotkey, stranger: &Hotkey) {
    let call = WeightsCall { netuid: NETUID, uids: vec![0, 1], weights: vec![65535, 32768], version_key: 1 };
    chain.set_weights(validator, &call).await.expect("set weights");
    let got = chain.weights_of(NETUID, &validator.ss58()).await.expect("weights");
    assert_eq!(got, [(0, 65535), (1, 32768)]);

    let err = chain.set_weights(stranger, &call).await.expect_err("unregistered signer");
    assert!(matches!(err, ChainError::NotRegistered { .. }), "{err}");
    let err = chain.commit(stranger, NETUID, PAYLOAD).await.expect_err("unregistered committer");
    assert!(matches!(err, ChainError::NotRegistered { .. }), "{err}");

    for bad in [
        WeightsCall { uids: vec![0, 1], weights: vec![1], ..call.clone() },
        WeightsCall { uids: vec![0, 0], weights: vec![1, 2], ..call.clone() },
        WeightsCall { uids: vec![200], weights: vec![1], ..call.clone() },
    ] {
        let err = chain.set_weights(validator, &bad).await.expect_err("invalid weights");
        assert!(matches!(err, ChainError::Invalid(_)), "{err}");
    }
    let err = chain.metagraph(NETUID + 1).await.expect_err("no such subnet");
    assert!(matches!(err, ChainError::NoSuchSubnet(n) if n == NETUID + 1), "{err}");
}

#[tokio::test]
async fn embedded_chain_meets_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain(dir.path());
    let (validator, miner, other, stranger) = (key(1), key(2), key(3), key(4));
    for (want, k) in [(0u16, &validator), (1, &miner), (2, &other)] {
        assert_eq!(chain.register(NETUID, &k.ss58()).expect("register"), want);
    }
    assert_eq!(chain.register(NETUID, &miner.ss58()).expect("re-register keeps the uid"), 1);
    let mg = chain.metagraph(NETUID).await.expect("metagraph");
    assert_eq!(
        mg.neurons.iter().map(|n| n.hotkey.clone()).collect::<Vec<_>>(),
        [validator.ss58(), miner.ss58(), other.ss58()]
    );
    assert_eq!(mg.uid_of(&miner.ss58()), Some(1));

    contract_block_clock(&chain).await;
    contract_commitments(&chain, &miner, &other).await;
    contract_weights(&chain, &validator, &stranger).await;
    assert!(!chain.commit_reveal_enabled(NETUID).await.expect("flag"));
}

#[tokio::test]
async fn commit_reveal_subnets_refuse_plain_weights_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain(dir.path());
    let validator = key(9);
    chain.register(NETUID, &validator.ss58()).expect("register");
    chain.set_commit_reveal(NETUID, true).expect("flag");
    assert!(chain.commit_reveal_enabled(NETUID).await.expect("flag"));
    let call = WeightsCall { netuid: NETUID, uids: vec![0], weights: vec![65535], version_key: 0 };
    let err = chain.set_weights(&validator, &call).await.expect_err("commit-reveal");
    assert!(matches!(err, ChainError::CommitRevealEnabled { netuid: NETUID }), "{err}");
    assert!(err.to_string().contains("commit-reveal"), "{err}");
}

#[tokio::test]
async fn state_persists_across_openers_and_block_times_map_to_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = chain(dir.path());
    first.register(NETUID, &key(1).ss58()).expect("register");
    let second = EmbeddedChain::open(EmbeddedSettings::new(dir.path(), 20)).expect("reopen");
    assert_eq!(second.metagraph(NETUID).await.expect("metagraph").neurons.len(), 1);
    let t0 = second.timestamp_of(0).expect("t0");
    let t50 = second.timestamp_of(50).expect("t50");
    assert_eq!((t50 - t0).num_milliseconds(), 1000);
    assert!(EmbeddedChain::open(EmbeddedSettings::new(dir.path(), 0)).is_err(), "zero block time is refused");
}

#[test]
fn concurrent_openers_never_lose_or_tear_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    chain(dir.path());
    let threads: Vec<_> = (0..5u8)
        .map(|t| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                // Each thread is its own opener, as a separate process would be.
                let chain = EmbeddedChain::open(EmbeddedSettings::new(&path, 20)).expect("open");
                (0..10u8)
                    .map(|i| chain.register(NETUID, &key(t * 10 + i + 1).ss58()).expect("register"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut uids: Vec<u16> = threads.into_iter().flat_map(|t| t.join().expect("thread")).collect();
    uids.sort_unstable();
    assert_eq!(uids, (0..50).collect::<Vec<u16>>(), "50 registrations, 50 distinct uids");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).expect("state")).expect("whole JSON");
    assert_eq!(state["subnets"][NETUID.to_string()]["hotkeys"].as_array().map(Vec::len), Some(50));
}

/// Separate OS processes (`nexis chain register`, each with its own wallet) and this
/// process register on one directory at the same time; every registration gets its own
/// uid and the state file stays whole.
#[test]
fn separate_processes_share_one_chain_directory() {
    const PROCESSES: u8 = 6;
    let tmp = tempfile::tempdir().expect("tempdir");
    let chain_dir = tmp.path().join("chain");
    let wallets = tmp.path().join("wallets");
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let hotkeys = wallets.join(format!("w{i}")).join("hotkeys");
            std::fs::create_dir_all(&hotkeys).expect("mkdir");
            let json = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode([100 + i; 32])) });
            std::fs::write(hotkeys.join("default"), json.to_string()).expect("keyfile");
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nexis"));
            cmd.args(["chain", "register"]).current_dir(tmp.path());
            for (key, _) in std::env::vars_os() {
                let k = key.to_string_lossy();
                if k.starts_with("NEXIS_") || k.starts_with("BT_") {
                    cmd.env_remove(&key);
                }
            }
            cmd.env("BT_NETWORK", "embedded")
                .env("NEXIS_NETUID", NETUID.to_string())
                .env("NEXIS_EMBEDDED_CHAIN_DIR", &chain_dir)
                .env("NEXIS_EMBEDDED_BLOCK_MS", "20")
                .env("BT_WALLET_PATH", &wallets)
                .env("BT_WALLET_NAME", format!("w{i}"))
                .env("BT_WALLET_HOTKEY", "default")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("spawn nexis")
        })
        .collect();
    // Meanwhile this process registers too.
    let local = EmbeddedChain::open(EmbeddedSettings::new(&chain_dir, 20)).expect("open");
    for i in 0..20u8 {
        local.register(NETUID, &key(200 - i).ss58()).expect("register");
    }
    for child in children {
        let out = child.wait_with_output().expect("wait");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("registered"), "{text}");
    }
    let hotkeys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(chain_dir.join("state.json")).expect("state")).expect("whole JSON");
    let hotkeys = hotkeys["subnets"][NETUID.to_string()]["hotkeys"].as_array().cloned().expect("hotkeys");
    assert_eq!(hotkeys.len(), 20 + usize::from(PROCESSES));
    for i in 0..PROCESSES {
        let ss58 = key(100 + i).ss58();
        assert!(hotkeys.iter().any(|h| h.as_str() == Some(ss58.as_str())), "process {i}'s hotkey {ss58} is missing");
    }
}
