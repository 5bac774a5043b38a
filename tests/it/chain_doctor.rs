//! `nexis chain doctor` on the embedded chain: a healthy seat passes with exit 0, and each
//! rule the chain applies to weights, broken alone, is named with its value and fix (exit 1).

use std::process::Command;

use nexis::chain::Hotkey;
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings, WeightParams};
use nexis::chain::{Chain, WeightsCall};
use nexis::protocol::WEIGHTS_VERSION_KEY;
use serde_json::Value;

const NETUID: u16 = 42;
/// A block time long enough that the chain stands still during a test.
const FROZEN_MS: u64 = 3_600_000;
const SEED: [u8; 32] = [7; 32];

struct Seat {
    tmp: tempfile::TempDir,
    chain: EmbeddedChain,
    me: Hotkey,
    other: Hotkey,
}

impl Seat {
    /// A subnet with this validator (uid 0) and one other neuron, 20 blocks in.
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("wallets/validator/hotkeys");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let key = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(SEED)) });
        std::fs::write(dir.join("default"), key.to_string()).expect("keyfile");
        let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.path().join("chain"), FROZEN_MS)).expect("chain");
        let (me, other) = (Hotkey::from_seed(SEED), Hotkey::from_seed([8; 32]));
        chain.register(NETUID, &me.ss58()).expect("register");
        chain.register(NETUID, &other.ss58()).expect("register");
        chain.advance(20).expect("advance");
        Self { tmp, chain, me, other }
    }

    fn params(&self, change: impl FnOnce(&mut WeightParams)) {
        let mut p = self.chain.weight_params(NETUID).expect("params");
        change(&mut p);
        self.chain.set_weight_params(NETUID, p).expect("params");
    }

    /// Runs `nexis chain doctor` with `args` and extra environment; exit code and output.
    fn doctor(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
        cmd.args(["chain", "doctor"]).args(args).current_dir(self.tmp.path());
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("NEXIS_") || k.starts_with("BT_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("BT_NETWORK", "embedded")
            .env("NEXIS_NETUID", NETUID.to_string())
            .env("NEXIS_EMBEDDED_CHAIN_DIR", self.tmp.path().join("chain"))
            .env("NEXIS_EMBEDDED_BLOCK_MS", FROZEN_MS.to_string())
            .env("BT_WALLET_PATH", self.tmp.path().join("wallets"))
            .env("BT_WALLET_NAME", "validator");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run nexis");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// The JSON report; asserts the exit code matches its verdict.
    fn report(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let (code, out) = self.doctor(&[args, &["--json"]].concat(), env);
        let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(code, if json["ok"] == Value::Bool(true) { 0 } else { 1 }, "{out}");
        json
    }
}

/// The names of the failing rules in a report.
fn failing(report: &Value) -> Vec<String> {
    let rules = report["rules"].as_array().expect("rules array");
    rules.iter().filter(|r| r["ok"] == Value::Bool(false)).map(|r| r["rule"].as_str().unwrap_or("").into()).collect()
}

/// The one failing rule's entry, asserting it is `name`.
fn only_failure<'a>(report: &'a Value, name: &str) -> &'a Value {
    assert_eq!(failing(report), [name], "{report:#}");
    let rules = report["rules"].as_array().expect("rules array");
    let entry = rules.iter().find(|r| r["rule"] == name).expect("the rule");
    assert!(!entry["fix"].as_str().unwrap_or("").is_empty(), "a failure names its fix: {entry}");
    entry
}

#[test]
fn a_healthy_seat_passes_and_shows_the_schedule_and_the_policy() {
    let s = Seat::new();
    let report = s.report(&[], &[]);
    assert_eq!(report["ok"], Value::Bool(true), "{report:#}");
    assert!(failing(&report).is_empty());
    assert_eq!(report["uid"], 0);
    assert_eq!(report["version_key_sent"], WEIGHTS_VERSION_KEY);
    assert!(report["version_key_policy"].as_str().unwrap_or("").contains("this release"), "{report:#}");
    // One beacon round per embedded block: the round is the reveal block.
    let schedule = &report["schedule"];
    assert!(schedule["reveal_block"].as_u64().expect("reveal block") > 20, "{report:#}");
    assert_eq!(schedule["reveal_round"], schedule["reveal_block"]);
    assert!(schedule["reveal_at"].is_string() && schedule["model"].is_string(), "{report:#}");
    // The text form marks each rule.
    let (code, text) = s.doctor(&[], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("✓ NotRegistered") && text.contains("next_reveal_block: "), "{text}");
    assert!(!text.contains('✗'), "{text}");
}

#[test]
fn an_unregistered_hotkey_fails_not_registered() {
    let s = Seat::new();
    let dir = s.tmp.path().join("wallets/stranger/hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let key = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode([9u8; 32])) });
    std::fs::write(dir.join("default"), key.to_string()).expect("keyfile");
    let report = s.report(&[], &[("BT_WALLET_NAME", "stranger")]);
    only_failure(&report, "NotRegistered");
    assert!(report["uid"].is_null(), "{report:#}");
}

#[test]
fn too_little_stake_fails_not_enough_stake_to_set_weights() {
    let s = Seat::new();
    s.params(|p| p.stake_threshold = 1_000);
    s.chain.set_stake(NETUID, &s.me.ss58(), 999).expect("stake");
    let report = s.report(&[], &[]);
    let entry = only_failure(&report, "NotEnoughStakeToSetWeights");
    assert!(entry["value"].as_str().unwrap_or("").contains("999"), "{entry}");
    s.chain.set_stake(NETUID, &s.me.ss58(), 1_000).expect("stake");
    assert!(failing(&s.report(&[], &[])).is_empty());
}

#[test]
fn a_newer_subnet_version_key_fails_unless_following_the_chain() {
    let s = Seat::new();
    s.params(|p| p.version_key = WEIGHTS_VERSION_KEY + 1);
    let entry = only_failure(&s.report(&[], &[]), "IncorrectWeightVersionKey").clone();
    assert!(entry["fix"].as_str().unwrap_or("").contains("ALERT"), "{entry}");
    let follow = s.report(&[], &[("NEXIS_WEIGHTS_VERSION_KEY", "chain")]);
    assert!(failing(&follow).is_empty(), "{follow:#}");
    assert_eq!(follow["version_key_sent"], WEIGHTS_VERSION_KEY + 1);
}

#[test]
fn no_permit_fails_neuron_no_validator_permit_but_the_owner_is_exempt() {
    let s = Seat::new();
    s.chain.set_validator_permit(NETUID, &s.me.ss58(), false).expect("permit");
    only_failure(&s.report(&[], &[]), "NeuronNoValidatorPermit");
    s.chain.set_owner_hotkey(NETUID, &s.me.ss58()).expect("owner");
    assert!(failing(&s.report(&[], &[])).is_empty());
}

#[test]
fn null_consensus_with_other_permit_holders_fails_subnet_epoch_consensus() {
    let s = Seat::new();
    s.params(|p| p.null_consensus = true);
    only_failure(&s.report(&[], &[]), "SubnetEpochConsensus");
    s.chain.set_validator_permit(NETUID, &s.other.ss58(), false).expect("permit");
    assert!(failing(&s.report(&[], &[])).is_empty(), "the sole permit holder's weights count");
}

#[test]
fn a_missing_mechanism_fails_mechanism_count_current() {
    let s = Seat::new();
    only_failure(&s.report(&["--mechid", "1"], &[]), "MechanismCountCurrent");
    s.params(|p| p.mechanism_count = 2);
    assert!(failing(&s.report(&["--mechid", "1"], &[])).is_empty());
}

#[tokio::test]
async fn weights_set_too_recently_fail_setting_weights_too_fast() {
    let s = Seat::new();
    s.params(|p| {
        p.commit_reveal = false;
        p.rate_limit = 100;
    });
    let call = WeightsCall { netuid: NETUID, uids: vec![1], weights: vec![65535], version_key: WEIGHTS_VERSION_KEY };
    s.chain.set_weights(&s.me, &call).await.expect("weights");
    let entry = only_failure(&s.report(&[], &[]), "SettingWeightsTooFast").clone();
    assert!(entry["fix"].as_str().unwrap_or("").contains("block 120"), "{entry}");
    let (code, text) = s.doctor(&[], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("✗ SettingWeightsTooFast") && text.contains("fix: wait for block 120"), "{text}");
}
