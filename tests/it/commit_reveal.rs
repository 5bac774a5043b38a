//! Timelocked commit-reveal v4 against the spec's offline vectors
//! (`commit-reveal-vectors.json`, a copy of `../shared/`'s): real drand quicknet round
//! signatures decrypt what we encrypt for their round and nothing else, and the commit the
//! Python SDK produced decrypts to the given payload byte for byte. Then the call on the wire
//! (against `finney-spec393.scale`), `nexis chain set-weights --dry-run --metadata`, the
//! embedded chain's reveal, the validator's reveal watchdog and restart reconciliation.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use subxt::ext::codec::{Compact, Decode, Encode};

use crate::support::{chain_metadata, repo, shared_dir};
use crate::validate_service::{NETUID, World, hotkey, until_revealed};
use nexis::chain::commit_reveal::{
    Beacon, CIPHERTEXT_OVERHEAD, CommitRevealError, RevealInputs, WeightsPayload, decrypt, decrypt_payload, encrypt,
    reveal_round,
};
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings, WeightParams};
use nexis::chain::subtensor::{commit_timelocked_weights_call_data, load_metadata};
use nexis::chain::weight_rules::{PlanOptions, Rule, VersionKeyPolicy, WeightsPlan, check, evaluate, plan, submit};
use nexis::chain::{Chain, ChainError, Hotkey, TimelockedCommit, WeightsCall};
use nexis::protocol::WEIGHTS_VERSION_KEY;
use nexis::protocol::{Epoch, IntervalClock};
use nexis::validator::WeightSubmission;

pub(crate) fn cr_vectors() -> Value {
    serde_json::from_slice(&std::fs::read(repo().join("tests/commit-reveal-vectors.json")).expect("vectors"))
        .expect("json")
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

pub(crate) fn round_signature(round: u64) -> Vec<u8> {
    hex_of(&cr_vectors()["round_signatures"][round.to_string()])
}

#[test]
fn vector_copy_equals_shared() {
    let Some(shared) = shared_dir() else { return };
    let theirs = std::fs::read(shared.join("commit-reveal-vectors.json")).expect("shared vectors");
    let ours = std::fs::read(repo().join("tests/commit-reveal-vectors.json")).expect("our vectors");
    assert_eq!(ours, theirs, "copy ../shared/commit-reveal-vectors.json to tests/");
}

#[test]
fn quicknet_constants_match_the_vectors() {
    let v = cr_vectors();
    let q = Beacon::quicknet();
    assert_eq!(q.public_key, hex_of(&v["quicknet"]["public_key_g2_hex"]));
    assert_eq!(q.genesis_ms, v["quicknet"]["genesis_time"].as_u64().expect("genesis") * 1000);
    assert_eq!(q.period_ms, v["quicknet"]["period_sec"].as_u64().expect("period") * 1000);
}

#[test]
fn encrypted_for_a_round_decrypts_with_that_rounds_signature_only() {
    let quicknet = Beacon::quicknet();
    let payload = WeightsPayload {
        hotkey: (0..32).collect(),
        uids: vec![0, 5, 7],
        values: vec![65535, 100, 0],
        version_key: 9_012_002,
    };
    for (round, other) in [(1000u64, 1001u64), (58810, 58811), (657413, 657414)] {
        let commit = encrypt(&quicknet.public_key, round, &payload.encode()).expect("encrypt");
        assert_eq!(commit.len(), payload.encode().len() + CIPHERTEXT_OVERHEAD);
        assert_eq!(decrypt_payload(&commit, &round_signature(round)).expect("decrypts"), payload);
        // The next round's key is a different identity: the signature of 1000 cannot open 1001.
        let next = encrypt(&quicknet.public_key, other, &payload.encode()).expect("encrypt");
        assert_eq!(decrypt(&next, &round_signature(round)), Err(CommitRevealError::WrongRound));
    }
}

#[test]
fn the_sdk_commit_decrypts_to_its_payload_byte_for_byte() {
    let v = cr_vectors();
    let sdk = &v["sdk_commit"];
    let round = sdk["reveal_round"].as_u64().expect("round");
    let commit = hex_of(&sdk["commit_hex"]);
    let plain = decrypt(&commit, &round_signature(round)).expect("the SDK commit decrypts");
    assert_eq!(plain, hex_of(&sdk["payload_scale_hex"]));
    let payload = WeightsPayload::decode(&plain).expect("payload");
    let want = &sdk["decrypts_to"];
    assert_eq!(payload.hotkey, hex_of(&want["hotkey_hex"]));
    let nums = |k: &str| want[k].as_array().expect(k).iter().map(|x| x.as_u64().expect("n") as u16).collect::<Vec<_>>();
    assert_eq!(payload.uids, nums("uids"));
    assert_eq!(payload.values, nums("values"));
    assert_eq!(payload.version_key, want["version_key"].as_u64().expect("version key"));
    // Our encoder produces the same plaintext bytes.
    assert_eq!(payload.encode(), plain);
    // Another round's signature does not open it.
    assert_eq!(decrypt(&commit, &round_signature(58810)), Err(CommitRevealError::WrongRound));
}

#[test]
fn reveal_round_vector() {
    let v = &cr_vectors()["reveal_round_vector"];
    let n = |k: &str| v[k].as_u64().expect(k);
    let inputs = RevealInputs {
        tempo: n("tempo") as u16,
        netuid: n("netuid") as u16,
        current_block: n("current_block"),
        reveal_period_epochs: n("reveal_period_epochs"),
        block_time_ms: n("block_time_sec") * 1000,
        now_ms: (v["now_unix"].as_f64().expect("now") * 1000.0) as u64,
    };
    assert_eq!(reveal_round(&inputs, &Beacon::quicknet()), Ok(n("reveal_round")));
}

// ---------------------------------------------------------------------------------------
// The call on the wire and the CLI's dry run
// ---------------------------------------------------------------------------------------

fn spec393() -> subxt::Metadata {
    load_metadata(chain_metadata("finney-spec393.scale")).expect("spec 393 metadata")
}

/// Splits `07 76 | netuid u16 | mecid u8 | compact(len) commit | reveal_round u64 | version u16`.
fn split_call(bytes: &[u8]) -> (u16, u8, Vec<u8>, u64, u16) {
    assert_eq!(&bytes[..2], &[7, 118], "SubtensorModule (7) . commit_timelocked_mechanism_weights (118)");
    let netuid = u16::from_le_bytes([bytes[2], bytes[3]]);
    let mecid = bytes[4];
    let cursor = &mut &bytes[5..];
    let len = Compact::<u32>::decode(cursor).expect("compact length").0 as usize;
    let commit = cursor[..len].to_vec();
    let rest = &cursor[len..];
    assert_eq!(rest.len(), 10, "reveal_round u64 and version u16 close the call");
    let round = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
    let version = u16::from_le_bytes([rest[8], rest[9]]);
    (netuid, mecid, commit, round, version)
}

#[test]
fn commit_timelocked_mechanism_weights_call_data_has_the_specs_layout() {
    let metadata = spec393();
    let commit = TimelockedCommit {
        netuid: 0x0102,
        mecid: 0,
        commit: (0..300u32).map(|i| i as u8).collect(),
        reveal_round: 0x0102_0304_0506_0708,
        version: 4,
    };
    let got = commit_timelocked_weights_call_data(&metadata, &commit).expect("encode");
    let mut want = vec![7u8, 118, 0x02, 0x01, 0];
    want.extend(Compact(300u32).encode());
    want.extend(&commit.commit);
    want.extend(0x0102_0304_0506_0708u64.to_le_bytes());
    want.extend(4u16.to_le_bytes());
    assert_eq!(hex::encode(&got), hex::encode(&want));
    assert_eq!(split_call(&got), (0x0102, 0, commit.commit.clone(), commit.reveal_round, 4));
    // Another mechanism: only the mecid byte changes.
    let mech = TimelockedCommit { mecid: 2, ..commit.clone() };
    let got2 = commit_timelocked_weights_call_data(&metadata, &mech).expect("encode");
    assert_eq!(split_call(&got2), (0x0102, 2, commit.commit.clone(), commit.reveal_round, 4));
    let too_big = TimelockedCommit { commit: vec![0; 5001], ..commit };
    assert!(commit_timelocked_weights_call_data(&metadata, &too_big).is_err());
}

fn run_nexis(tmp: &std::path::Path, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    cmd.args(args).current_dir(tmp);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("BT_NETWORK", "finney")
        .env("NEXIS_NETUID", "42")
        .env("BT_WALLET_PATH", tmp.join("wallets"))
        .env("BT_WALLET_NAME", "validator");
    let out = cmd.output().expect("run nexis");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no `{prefix}` line in {out}"))
}

#[test]
fn set_weights_dry_run_prints_a_commit_that_the_real_round_signature_opens() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seed = [9u8; 32];
    let dir = tmp.path().join("wallets/validator/hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("default"),
        serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(seed)) }).to_string(),
    )
    .expect("keyfile");
    let metadata = chain_metadata("finney-spec393.scale").to_string_lossy().into_owned();
    let base = [
        "chain",
        "set-weights",
        "--uids",
        "1,2",
        "--weights",
        "65535,32768",
        "--version-key",
        "5",
        "--dry-run",
        "--metadata",
        &metadata,
    ];
    let (code, out) = run_nexis(tmp.path(), &[&base[..], &["--reveal-round", "1000"]].concat());
    assert_eq!(code, 0, "{out}");
    let signer = Hotkey::from_seed(seed);
    assert_eq!(line(&out, "signer: "), signer.ss58());
    assert_eq!(line(&out, "mode: "), "commit-reveal");
    assert_eq!(line(&out, "reveal_round: "), "1000");
    assert!(out.contains("nothing submitted"), "{out}");
    let call = hex::decode(line(&out, "call_data: 0x")).expect("hex call data");
    let (netuid, mecid, commit, round, version) = split_call(&call);
    assert_eq!((netuid, mecid, round, version), (42, 0, 1000, 4));
    // Drand quicknet's real signature of round 1000 opens it; the payload is ours.
    let payload = decrypt_payload(&commit, &round_signature(1000)).expect("decrypts with the round-1000 signature");
    assert_eq!(
        payload,
        WeightsPayload {
            hotkey: signer.public().to_vec(),
            uids: vec![1, 2],
            values: vec![65535, 32768],
            version_key: 5
        }
    );

    // Commit-reveal off: plain set_weights (call 0).
    let (code, out) = run_nexis(tmp.path(), &[&base[..], &["--commit-reveal", "false"]].concat());
    assert_eq!(code, 0, "{out}");
    assert_eq!(line(&out, "mode: "), "plain");
    assert!(line(&out, "call_data: 0x").starts_with("0700"), "{out}");

    // Unpaired lists are refused with a clear message.
    let (code, out) =
        run_nexis(tmp.path(), &["chain", "set-weights", "--uids", "1,2", "--weights", "1", "--metadata", &metadata]);
    assert_ne!(code, 0);
    assert!(out.contains("one weight per uid"), "{out}");
}

// ---------------------------------------------------------------------------------------
// The embedded chain's commit-reveal, the watchdog and restarts
// ---------------------------------------------------------------------------------------

const FROZEN: u64 = 3_600_000;

#[tokio::test]
async fn the_embedded_chain_reveals_at_the_round_and_drops_bad_commits_silently() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.path(), FROZEN)).expect("chain");
    let (v, other) = (Hotkey::from_seed([1; 32]), Hotkey::from_seed([2; 32]));
    for k in [&v, &other] {
        chain.register(1, &k.ss58()).expect("register");
    }
    // The subnet requires a newer key than this release's; the validator follows it only
    // when told to (`NEXIS_WEIGHTS_VERSION_KEY=chain`).
    let floor = WEIGHTS_VERSION_KEY + 5;
    chain.set_weight_params(1, WeightParams { version_key: floor, ..WeightParams::default() }).expect("params");
    chain.advance(30).expect("advance");
    let rules = chain.weight_rules(1, &v.ss58()).await.expect("rules");
    assert!(rules.commit_reveal, "commit-reveal is on by default");
    assert_eq!(rules.beacon, chain.beacon().expect("beacon"));
    let call = WeightsCall { netuid: 1, uids: vec![1], weights: vec![65535], version_key: 0 };
    // Plain weights are refused by name.
    assert!(matches!(chain.set_weights(&v, &call).await, Err(ChainError::CommitRevealEnabled { netuid: 1 })));
    let err = check(&rules, &v.ss58(), &call, VersionKeyPolicy::default()).expect_err("outdated release");
    assert!(err.to_string().contains("IncorrectWeightVersionKey"), "{err}");
    let follow = PlanOptions { version_key: VersionKeyPolicy::Chain, ..PlanOptions::default() };
    let plan = plan(&rules, v.public(), &call, follow).expect("plan");
    assert_eq!(plan.call.version_key, floor, "raised to WeightsVersionKey");
    check(&rules, &v.ss58(), &plan.call, VersionKeyPolicy::Chain).expect("every rule passes");
    let reveal_block = plan.reveal_block.expect("reveal block");
    assert_eq!(plan.commit.as_ref().expect("commit").reveal_round, reveal_block, "one beacon round per block");
    submit(&chain, &v, &plan).await.expect("commit");

    // Bad commits: one naming another hotkey, one with a version key below the floor.
    let bad = |hotkey: [u8; 32], version_key: u64| {
        let payload = WeightsPayload { hotkey: hotkey.to_vec(), uids: vec![0], values: vec![65535], version_key };
        TimelockedCommit {
            netuid: 1,
            mecid: 0,
            commit: encrypt(&rules.beacon.public_key, reveal_block, &payload.encode()).expect("encrypt"),
            reveal_round: reveal_block,
            version: 4,
        }
    };
    chain.commit_weights(&other, &bad(v.public(), floor)).await.expect("accepted at commit time");
    chain.commit_weights(&other, &bad(other.public(), floor - 1)).await.expect("accepted at commit time");
    assert_eq!(chain.pending_commits(1, &other.ss58()).await.expect("pending").len(), 2);
    let wrong_version = TimelockedCommit { version: 3, ..bad(other.public(), floor) };
    let err = chain.commit_weights(&other, &wrong_version).await.expect_err("version");
    assert!(err.to_string().contains("IncorrectCommitRevealVersion"), "{err}");

    // Nothing shows before the reveal block; at it the good commit is applied, the bad dropped.
    chain.advance(reveal_block - rules.block - 1).expect("advance");
    assert_eq!(chain.pending_commits(1, &v.ss58()).await.expect("pending").len(), 1);
    assert!(chain.weights_of(1, &v.ss58()).await.expect("weights").is_empty());
    chain.advance(1).expect("advance");
    assert!(chain.pending_commits(1, &v.ss58()).await.expect("pending").is_empty());
    assert_eq!(chain.weights_of(1, &v.ss58()).await.expect("weights"), vec![(1, 65535)]);
    assert!(chain.pending_commits(1, &other.ss58()).await.expect("pending").is_empty(), "dropped, not kept");
    assert!(chain.weights_of(1, &other.ss58()).await.expect("weights").is_empty());

    // The rate limit and the permit are checked before sending, with the chain's names.
    chain
        .set_weight_params(1, WeightParams { rate_limit: 1000, version_key: floor, ..WeightParams::default() })
        .expect("params");
    let rules = chain.weight_rules(1, &v.ss58()).await.expect("rules");
    let err = check(&rules, &v.ss58(), &plan.call, VersionKeyPolicy::Chain).expect_err("rate limited");
    assert!(matches!(err, ChainError::WeightsTooFast { limit: 1000, .. }), "{err}");
    assert!(err.to_string().contains("SettingWeightsTooFast"), "{err}");
    let err = submit(&chain, &v, &plan).await.expect_err("the chain refuses too");
    assert!(err.to_string().contains("CommittingWeightsTooFast"), "{err}");
    chain.set_validator_permit(1, &other.ss58(), false).expect("permit");
    let rules = chain.weight_rules(1, &other.ss58()).await.expect("rules");
    // Weights on another uid than its own (uid 1): a self-weight would need no permit.
    let on_other = WeightsCall { uids: vec![0], ..plan.call.clone() };
    let checks = evaluate(&rules, Some(&on_other), VersionKeyPolicy::Chain);
    assert!(checks.iter().any(|c| c.rule == Rule::NeuronNoValidatorPermit && !c.ok), "{checks:?}");

    // Turned off (and without the rate limit), plain weights work again.
    chain.set_weight_params(1, WeightParams { commit_reveal: false, ..WeightParams::default() }).expect("off");
    let rules = chain.weight_rules(1, &other.ss58()).await.expect("rules");
    chain.set_validator_permit(1, &other.ss58(), true).expect("permit");
    let plain = nexis::chain::weight_rules::plan(
        &chain.weight_rules(1, &other.ss58()).await.expect("rules"),
        other.public(),
        &call,
        PlanOptions::default(),
    )
    .expect("plan");
    assert!(!rules.commit_reveal && plain.commit.is_none());
    submit(&chain, &other, &plain).await.expect("plain weights");
    assert_eq!(chain.weights_of(1, &other.ss58()).await.expect("weights"), vec![(1, 65535)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_reports_a_commit_dropped_at_reveal_and_counts_good_reveals() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register");
    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    // This validator follows the chain's version key (the explicit opt-in).
    let mut config = w.config(&validator, clock, Duration::from_secs(3600));
    config.service.version_key = VersionKeyPolicy::Chain;
    let service = config.build().expect("validator");
    w.chain.advance(52).expect("advance");
    let sub = service.tick().await.expect("tick").weights.expect("epoch 0 weights");
    assert_eq!(sub.mode.as_deref(), Some("commit-reveal"));
    assert_eq!(service.metrics.weights_committed.get(), 1);
    assert_eq!(service.watched_commits().len(), 1);
    // The subnet raises WeightsVersionKey after the commit: the chain drops it at reveal.
    let params = w.chain.weight_params(NETUID).expect("params");
    let raised = WeightParams { version_key: WEIGHTS_VERSION_KEY + 1, ..params };
    w.chain.set_weight_params(NETUID, raised).expect("params");
    until_revealed(&w, &service, &validator).await;
    assert_eq!(service.metrics.weights_reveal_missing.get(), 1);
    assert_eq!(service.metrics.weights_revealed.get(), 0);
    assert!(service.watched_commits().is_empty());
    assert!(w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights").is_empty());
    let text = service.metrics.render();
    assert!(text.lines().any(|l| l == "nexis_weights_reveal_missing_total 1"), "{text}");

    // Epoch 1 reads the new floor, commits with it, and the reveal lands.
    let now = w.chain.current_block().await.expect("block");
    w.chain.advance(102 - now).expect("advance");
    assert!(service.tick().await.expect("tick").weights.is_some());
    until_revealed(&w, &service, &validator).await;
    assert_eq!(service.metrics.weights_revealed.get(), 1);
    assert_eq!(w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights"), vec![(0, 65535)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_sending_and_recording_does_not_set_weights_twice() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register");
    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    w.chain.advance(52).expect("advance");
    {
        // What a validator stopped right after sending leaves behind: the recorded intent and
        // its commit on chain, but no recorded submission.
        let service = w.service(&validator, clock, Duration::from_secs(3600));
        let rules = w.chain.weight_rules(NETUID, &validator.ss58()).await.expect("rules");
        let call = WeightsCall { netuid: NETUID, uids: vec![0], weights: vec![65535], version_key: 0 };
        let plan = plan(&rules, validator.public(), &call, PlanOptions::default()).expect("plan");
        service.state.record_weights_intent(&intent(Epoch::new(0), rules.block, &plan)).expect("intent");
        submit(&w.chain, &validator, &plan).await.expect("commit");
    }
    let service = w.service(&validator, clock, Duration::from_secs(3600));
    let sub = service.tick().await.expect("tick").weights.expect("epoch 0 reconciled");
    assert_eq!(sub.epoch, Epoch::new(0));
    assert_eq!(w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").len(), 1, "committed once");
    assert_eq!(service.state.last_weight_epoch().expect("state"), Some(Epoch::new(0)));
    assert!(service.state.weights_intent().expect("state").is_none());
    assert_eq!(service.metrics.weights_committed.get(), 0, "nothing sent by this process");
    assert_eq!(service.watched_commits().len(), 1, "the reconciled commit is followed");
    until_revealed(&w, &service, &validator).await;
    assert_eq!(service.metrics.weights_revealed.get(), 1);

    // An intent that never reached the chain is sent after the restart.
    let now = w.chain.current_block().await.expect("block");
    w.chain.advance(102 - now).expect("advance");
    drop(service);
    {
        let service = w.service(&validator, clock, Duration::from_secs(3600));
        let rules = w.chain.weight_rules(NETUID, &validator.ss58()).await.expect("rules");
        let call = WeightsCall { netuid: NETUID, uids: vec![0], weights: vec![65535], version_key: 0 };
        let plan = plan(&rules, validator.public(), &call, PlanOptions::default()).expect("plan");
        service.state.record_weights_intent(&intent(Epoch::new(1), rules.block, &plan)).expect("intent");
    }
    let service = w.service(&validator, clock, Duration::from_secs(3600));
    let sub = service.tick().await.expect("tick").weights.expect("epoch 1 sent");
    assert_eq!(sub.epoch, Epoch::new(1));
    assert_eq!(service.metrics.weights_committed.get(), 1);
    let pending = w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending");
    assert_eq!(pending.iter().map(|c| c.commit_block).collect::<Vec<_>>(), [102]);
}

fn intent(epoch: Epoch, block: u64, plan: &WeightsPlan) -> WeightSubmission {
    WeightSubmission {
        epoch,
        block,
        uids: plan.call.uids.clone(),
        weights: plan.call.weights.clone(),
        burned: true,
        submitted_at: chrono::Utc::now(),
        mode: Some(plan.mode.as_str().into()),
        reveal_round: plan.commit.as_ref().map(|c| c.reveal_round),
        reveal_block: plan.reveal_block,
    }
}
