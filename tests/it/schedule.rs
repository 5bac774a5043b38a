//! The stateful epoch schedule against `commit-reveal-v2-vectors.json` (a copy of
//! `../shared/`'s, computed by `bittensor-core 0.1.5 get_encrypted_commit_v2` under a frozen
//! clock): every `reveal_rounds` vector's drand round, and the replay's reveal block checked
//! against the chain's own rule (the first block whose look-ahead epoch is the reveal epoch).

use serde_json::Value;

use crate::support::{repo, shared_dir};
use nexis::chain::commit_reveal::Beacon;
use nexis::chain::schedule::{
    EpochSchedule, SDK_MAX_TEMPO, SafetyNet, epoch_at, reveal_target, reveal_target_with, seconds_to_ms, step,
};

pub(crate) fn v2_vectors() -> Value {
    serde_json::from_slice(&std::fs::read(repo().join("tests/commit-reveal-v2-vectors.json")).expect("v2 vectors"))
        .expect("json")
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is not a u64 in {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

pub(crate) fn schedule_of(v: &Value) -> EpochSchedule {
    EpochSchedule {
        tempo: u16::try_from(n(v, "tempo")).expect("tempo"),
        reveal_period_epochs: n(v, "reveal_period_epochs"),
        last_epoch_block: n(v, "last_epoch_block"),
        pending_epoch_at: n(v, "pending_epoch_at"),
        subnet_epoch_index: n(v, "subnet_epoch_index"),
        blocks_since_last_step: n(v, "blocks_since_last_step"),
        current_block: n(v, "current_block"),
    }
}

fn beacon_of(vectors: &Value) -> Beacon {
    let drand = &vectors["drand"];
    Beacon { genesis_ms: n(drand, "genesis") * 1000, period_ms: n(drand, "period") * 1000, ..Beacon::quicknet() }
}

#[test]
fn v2_vector_copy_equals_shared() {
    let Some(shared) = shared_dir() else { return };
    let theirs = std::fs::read(shared.join("commit-reveal-v2-vectors.json")).expect("shared v2 vectors");
    let ours = std::fs::read(repo().join("tests/commit-reveal-v2-vectors.json")).expect("our v2 vectors");
    assert_eq!(ours, theirs, "copy ../shared/commit-reveal-v2-vectors.json to tests/");
}

#[test]
fn every_reveal_round_vector_matches() {
    let vectors = v2_vectors();
    let beacon = beacon_of(&vectors);
    let cases = vectors["reveal_rounds"].as_array().expect("reveal_rounds");
    assert_eq!(cases.len(), 60);
    let mut kinds = std::collections::BTreeSet::new();
    for (i, v) in cases.iter().enumerate() {
        kinds.insert(v["kind"].as_str().expect("kind").to_string());
        let block_time = seconds_to_ms(f(v, "block_time"), "block_time").expect("block time");
        let now = seconds_to_ms(f(v, "now_unix"), "now_unix").expect("now");
        let target = reveal_target(&schedule_of(v), block_time, now, &beacon).expect("target");
        assert_eq!(target.reveal_round, n(v, "reveal_round"), "vector {i}: {v}");
    }
    let expected: std::collections::BTreeSet<String> =
        ["steady", "deferred", "pending", "fresh", "since_mismatch"].into_iter().map(String::from).collect();
    assert_eq!(kinds, expected, "the vectors cover every kind of schedule");
}

#[test]
fn extra_oracle_cases_match_the_sdk_and_the_chain_where_they_agree() {
    // 300 more cases from the same oracle, including counters that run ahead of
    // LastEpochBlock (after a tempo change) and tempos above 50 400, where the SDK's safety net
    // (50 400) and the chain's (Tempo) part ways.
    let extra: Value = serde_json::from_slice(
        &std::fs::read(repo().join("tests/commit-reveal-v2-extra.json")).expect("extra vectors"),
    )
    .expect("json");
    let beacon = beacon_of(&extra);
    let (mut agree, mut differ) = (0, 0);
    for (i, v) in extra["reveal_rounds"].as_array().expect("reveal_rounds").iter().enumerate() {
        let s = schedule_of(v);
        let block_time = seconds_to_ms(f(v, "block_time"), "block_time").expect("block time");
        let now = seconds_to_ms(f(v, "now_unix"), "now_unix").expect("now");
        let sdk = reveal_target_with(&s, block_time, now, &beacon, SafetyNet::MaxTempo).expect("sdk");
        assert_eq!(sdk.reveal_round, n(v, "reveal_round"), "case {i}: {v}");
        let chain = reveal_target(&s, block_time, now, &beacon).expect("chain");
        let consistent = s.blocks_since_last_step <= s.current_block.saturating_sub(s.last_epoch_block)
            && u64::from(s.tempo) <= SDK_MAX_TEMPO;
        if consistent {
            assert_eq!(chain, sdk, "case {i}: consistent counters, the two nets agree: {v}");
            agree += 1;
        } else if chain != sdk {
            differ += 1;
        }
    }
    assert!(agree > 100 && differ > 10, "the cases exercise both regions: {agree} agree, {differ} differ");
}

#[test]
fn the_reveal_block_is_the_first_block_of_the_reveal_epoch() {
    // Independent of the replay's loop: walk the chain's rules forward and check the reveal
    // block is the first block at which the look-ahead epoch is commit epoch + period.
    let vectors = v2_vectors();
    let beacon = beacon_of(&vectors);
    for v in vectors["reveal_rounds"].as_array().expect("reveal_rounds") {
        let s = schedule_of(v);
        let target = reveal_target(&s, 12_000, 1_900_000_000_000, &beacon).expect("target");
        let inclusion = s.current_block + 1;
        let wanted = epoch_at(&s, inclusion).expect("epoch") + s.reveal_period_epochs;
        let mut state = s;
        for block in inclusion..target.reveal_block {
            assert_ne!(epoch_at(&state, block).expect("epoch"), wanted, "earlier reveal at {block}: {v}");
            state = step(&state, block).expect("step");
        }
        assert_eq!(epoch_at(&state, target.reveal_block).expect("epoch"), wanted, "{v}");
        assert!(target.reveal_block > s.current_block);
    }
}

// ---------------------------------------------------------------------------------------
// `nexis chain reveal-round` and `nexis chain conform-weights` on the vector file
// ---------------------------------------------------------------------------------------

fn nexis(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nexis"));
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.output().expect("run nexis")
}

fn json_out(out: &std::process::Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}{}", String::from_utf8_lossy(&out.stderr)))
        .as_array()
        .expect("a JSON array")
        .clone()
}

fn write_json(dir: &tempfile::TempDir, name: &str, value: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, value.to_string()).expect("write");
    path.to_string_lossy().into_owned()
}

#[test]
fn reveal_round_cli_places_every_vector() {
    let vectors = v2_vectors();
    let tmp = tempfile::tempdir().expect("tempdir");
    // The entries as they are in the vector file (extra fields `kind`, `reveal_round` ignored).
    let state = write_json(&tmp, "state.json", &vectors["reveal_rounds"]);
    let out = nexis(&["chain", "reveal-round", "--state", &state, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json_out(&out);
    let cases = vectors["reveal_rounds"].as_array().expect("cases");
    assert_eq!(rows.len(), cases.len());
    let beacon = beacon_of(&vectors);
    for (row, case) in rows.iter().zip(cases) {
        let keys: Vec<&str> = row.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["reveal_block", "reveal_round"], "{row}");
        assert_eq!(row["reveal_round"], case["reveal_round"], "{case}");
        let block = reveal_target(&schedule_of(case), 12_000, 0, &beacon).expect("target").reveal_block;
        assert_eq!(row["reveal_block"].as_u64(), Some(block), "{case}");
    }
    // Text output: one line per entry.
    let text = nexis(&["chain", "reveal-round", "--state", &state]);
    assert_eq!(String::from_utf8_lossy(&text.stdout).lines().count(), cases.len());
}

#[test]
fn reveal_round_cli_reproduces_the_sdk_with_its_safety_net() {
    let extra: Value = serde_json::from_slice(
        &std::fs::read(repo().join("tests/commit-reveal-v2-extra.json")).expect("extra vectors"),
    )
    .expect("json");
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = write_json(&tmp, "extra.json", &extra["reveal_rounds"]);
    let out = nexis(&["chain", "reveal-round", "--state", &state, "--json", "--safety-net", "max-tempo"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json_out(&out);
    let cases = extra["reveal_rounds"].as_array().expect("cases");
    for (row, case) in rows.iter().zip(cases) {
        assert_eq!(row["reveal_round"], case["reveal_round"], "{case}");
    }
    // The default follows the chain, which differs on some of them.
    let chain = json_out(&nexis(&["chain", "reveal-round", "--state", &state, "--json"]));
    assert!(chain.iter().zip(cases).any(|(row, case)| row["reveal_round"] != case["reveal_round"]));
}

#[test]
fn reveal_round_cli_reports_unplaceable_and_hostile_states() {
    let vectors = v2_vectors();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut good = vectors["reveal_rounds"][0].clone();
    let mut zero = good.clone();
    zero["tempo"] = 0.into();
    let mut huge = good.clone();
    huge["reveal_period_epochs"] = u64::MAX.into();
    let mut late = good.clone();
    late["current_block"] = u64::MAX.into();
    good["kind"] = "kept".into();
    let state = write_json(&tmp, "state.json", &Value::Array(vec![zero, good.clone(), huge, late]));
    let out = nexis(&["chain", "reveal-round", "--state", &state, "--json"]);
    assert_eq!(out.status.code(), Some(1), "an unplaceable entry fails the command");
    let rows = json_out(&out);
    assert!(rows[0]["error"].as_str().expect("error").contains("Tempo is 0"), "{}", rows[0]);
    assert_eq!(rows[1]["reveal_round"], good["reveal_round"]);
    assert!(rows[2]["error"].as_str().expect("error").contains("RevealPeriodEpochs"), "{}", rows[2]);
    assert!(rows[3]["error"].as_str().expect("error").contains("overflow"), "{}", rows[3]);
    // Not JSON, or not the expected fields: a clean error, no panic.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "[{\"tempo\": 1}]").expect("write");
    let out = nexis(&["chain", "reveal-round", "--state", &bad.to_string_lossy(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("not the expected JSON"), "{err}");
}

#[test]
fn every_conform_vector_matches() {
    use nexis::chain::conform::{ConformRules, conform};
    let vectors = v2_vectors();
    let cases = vectors["conform"].as_array().expect("conform");
    assert_eq!(cases.len(), 60);
    let (mut errors, mut ok) = (0, 0);
    for (i, c) in cases.iter().enumerate() {
        let uids: Vec<u32> =
            c["uids"].as_array().expect("uids").iter().map(|u| u.as_u64().expect("uid") as u32).collect();
        let weights: Vec<f64> =
            c["weights"].as_array().expect("weights").iter().map(|w| w.as_f64().expect("w")).collect();
        let rules = ConformRules {
            self_uid: Some(n(c, "self_uid") as u32),
            min_allowed_weights: n(c, "min_allowed_weights"),
            max_weight_limit: n(c, "max_weight_limit") as u16,
        };
        let got = match conform(&uids, &weights, &rules, 1) {
            Ok((uids, values)) => {
                ok += 1;
                serde_json::json!({ "uids": uids, "values": values })
            }
            Err(e) => {
                errors += 1;
                serde_json::json!({ "error": e.sdk_text() })
            }
        };
        assert_eq!(got, c["expect"], "conform case {i}");
    }
    assert!(errors > 0 && ok > 0, "the vectors hold both results and errors");
}

#[test]
fn conform_weights_cli_matches_every_vector() {
    let vectors = v2_vectors();
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = write_json(&tmp, "cases.json", &vectors["conform"]);
    let out = nexis(&["chain", "conform-weights", "--cases", &cases, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json_out(&out);
    let expected = vectors["conform"].as_array().expect("conform");
    assert_eq!(rows.len(), expected.len());
    for (i, (row, case)) in rows.iter().zip(expected).enumerate() {
        assert_eq!(row, &case["expect"], "case {i}");
    }
    // Hostile cases: a negative uid, a duplicate and an empty list are per-case errors.
    let hostile = serde_json::json!([
        { "uids": [-1], "weights": [1.0], "self_uid": 0, "min_allowed_weights": 0, "max_weight_limit": 65535 },
        { "uids": [1, 1], "weights": [1.0, 2.0], "self_uid": 0, "min_allowed_weights": 0, "max_weight_limit": 100 },
        { "uids": [], "weights": [], "self_uid": 0, "min_allowed_weights": 0, "max_weight_limit": 100 },
    ]);
    let file = write_json(&tmp, "hostile.json", &hostile);
    let rows = json_out(&nexis(&["chain", "conform-weights", "--cases", &file, "--json"]));
    let errors: Vec<&str> = rows.iter().map(|r| r["error"].as_str().expect("error")).collect();
    assert_eq!(
        errors,
        [
            "BittensorError: UIDs must be in 0..65535.",
            "BittensorError: Duplicate UIDs in weights; each UID may appear once.",
            "BittensorError: All weights are zero; nothing to set."
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The runtime decides the model and the block time
// ---------------------------------------------------------------------------------------

#[test]
fn spec_393_has_no_stateful_schedule_and_twelve_second_slots() {
    use nexis::chain::schedule::read::{block_time_ms, missing_stateful_items};
    use nexis::chain::subtensor::load_metadata;
    let metadata = load_metadata(crate::support::chain_metadata("finney-spec393.scale")).expect("spec 393");
    assert_eq!(missing_stateful_items(&metadata), ["LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex"]);
    assert_eq!(block_time_ms(&metadata), Some(12_000));
}

#[test]
fn live_reveal_round_names_the_model_it_used() {
    use nexis::chain::Hotkey;
    use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};
    let tmp = tempfile::tempdir().expect("tempdir");
    let chain = EmbeddedChain::open(EmbeddedSettings::new(tmp.path().join("chain"), 50)).expect("chain");
    chain.register(7, &Hotkey::from_seed([3; 32]).ss58()).expect("register");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nexis"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("NEXIS_") || k.starts_with("BT_") {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .args(["chain", "reveal-round", "--network", "embedded", "--netuid", "7", "--json"])
        .env("NEXIS_EMBEDDED_CHAIN_DIR", tmp.path().join("chain"))
        .env("NEXIS_EMBEDDED_BLOCK_MS", "50")
        .env("BT_WALLET_PATH", tmp.path().join("no-wallets"))
        .output()
        .expect("run nexis");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The embedded chain runs the stateful schedule (2026): it is used, and said so.
    assert!(err.contains("stateful epoch schedule") && err.contains("50 ms blocks"), "{err}");
    let rows = json_out(&out);
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["reveal_block"].as_u64().is_some() && rows[0]["reveal_round"].as_u64().is_some(), "{rows:?}");
}
