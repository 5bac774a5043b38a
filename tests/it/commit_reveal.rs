//! Timelocked commit-reveal v4 against the spec's offline vectors
//! (`commit-reveal-vectors.json`, a copy of `../shared/`'s): real drand quicknet round
//! signatures decrypt what we encrypt for their round and nothing else, and the commit the
//! Python SDK produced decrypts to the given payload byte for byte.

use serde_json::Value;

use crate::support::{repo, shared_dir};
use nexis::chain::commit_reveal::{
    Beacon, CIPHERTEXT_OVERHEAD, CommitRevealError, RevealInputs, WeightsPayload, decrypt, decrypt_payload, encrypt,
    reveal_round,
};

pub fn cr_vectors() -> Value {
    serde_json::from_slice(&std::fs::read(repo().join("tests/commit-reveal-vectors.json")).expect("vectors"))
        .expect("json")
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

pub fn round_signature(round: u64) -> Vec<u8> {
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
    assert_eq!(reveal_round(&inputs, &Beacon::quicknet()), n("reveal_round"));
}
