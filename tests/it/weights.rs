//! Conformance vectors of scoring, weights and the commitment codec (protocol §4, §11).

use nexis::protocol::IntervalId;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::compat::vectors;
use nexis::chain::commitment::bucket_for_hotkey;
use nexis::chain::weight_encoding::to_u16;
use nexis::chain::{Metagraph, Neuron};
use nexis::chain::{ReadCredentials, Uid};
use nexis::validator::{
    ScoredDecision, ScoringWindows, epoch_scores, normalize, rank_scores, score_totals, to_uid_weights, weights_call,
};

fn floats(v: &Value) -> BTreeMap<String, f64> {
    v.as_object().expect("object").iter().map(|(k, x)| (k.clone(), x.as_f64().expect("number"))).collect()
}

fn uids(v: &Value) -> Vec<Uid> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("uid") as Uid).collect()
}

#[test]
fn rank_scoring_vector() {
    let v = &vectors()["rank_scoring"];
    let decisions: Vec<ScoredDecision> = v["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| ScoredDecision {
            miner_hotkey: d["miner_hotkey"].as_str().expect("hotkey").into(),
            interval_id: d["interval_id"].as_u64().expect("interval"),
            accepted: d["accepted"].as_bool().expect("accepted"),
            record_count: d["record_count"].as_u64().expect("count"),
        })
        .collect();
    let (start, end) = (v["interval_start"].as_u64().expect("start"), v["interval_end"].as_u64().expect("end"));
    let scores = rank_scores(&score_totals(&decisions, IntervalId::new(start)..IntervalId::new(end)));
    assert_eq!(scores, floats(&v["score_totals"]));
    assert_eq!(normalize(&scores), floats(&v["normalized_weights"]));
    // The same through the epoch function, the epoch starting right after the window.
    let windows = ScoringWindows { score_blocks: end - start, rejection_blocks: end - start };
    assert_eq!(epoch_scores(&decisions, end, windows, &Default::default()), floats(&v["normalized_weights"]));
    // Outside the window nothing counts.
    assert!(score_totals(&decisions, IntervalId::new(end)..IntervalId::new(end + 1)).is_empty());
}

#[test]
fn chain_payload_and_burn_vectors() {
    let v = vectors();
    let p = &v["chain_payload"];
    let weights: Vec<f64> = p["weights"].as_array().expect("weights").iter().map(|x| x.as_f64().expect("w")).collect();
    let (u, w) = to_u16(&uids(&p["uids"]), &weights);
    assert_eq!(u, uids(&p["u16"]["uids"]));
    assert_eq!(
        w.iter().map(|x| u64::from(*x)).collect::<Vec<_>>(),
        uids(&p["u16"]["weights"]).iter().map(|x| u64::from(*x)).collect::<Vec<_>>()
    );

    let burn = &v["burn_u16"];
    let (u, w) = to_u16(&[0], &[1.0]);
    assert_eq!(u, uids(&burn["uids"]));
    assert_eq!(w, [burn["weights"][0].as_u64().expect("w") as u16]);
}

#[test]
fn commitment_vectors() {
    let v = vectors();
    let ex = &v["commitment_example"];
    let s = |k: &str| ex[k].as_str().expect(k).to_string();
    let creds = ReadCredentials::new(&s("account_id"), &s("read_access_key"), &s("read_secret_key")).expect("valid");
    assert_eq!(creds.payload(), s("payload"));
    assert_eq!(creds.payload().len() as u64, ex["payload_len"].as_u64().expect("len"));
    let decoded = ReadCredentials::parse(&s("payload")).expect("decodes");
    assert_eq!(decoded.account_id, ex["decoded"]["account_id"].as_str().expect("account"));
    assert_eq!(decoded.read_access_key, ex["decoded"]["read_access_key"].as_str().expect("access"));
    assert_eq!(decoded.read_secret_key, ex["decoded"]["read_secret_key"].as_str().expect("secret"));
    assert_eq!(decoded.fingerprint(), v["read_commitment_fingerprint"].as_str().expect("fingerprint"));
    assert_eq!(decoded.endpoint(), v["endpoint_url"].as_str().expect("endpoint"));
    // The vector's named decode cases: an uppercase account decodes lowercased; a non-hex
    // account or a space in a key is no credentials.
    let payload = s("payload");
    let upper = format!("{}{}", payload[..32].to_uppercase(), &payload[32..]);
    let want = &ex["decode_uppercase_account"];
    assert_eq!(ReadCredentials::parse(&upper).map(|c| c.account_id), want["account_id"].as_str().map(String::from));
    assert!(ex["decode_bad_account"].is_null());
    assert_eq!(ReadCredentials::parse(&format!("zz{}", &payload[2..])), None);
    assert!(ex["decode_space_in_key"].is_null());
    assert_eq!(ReadCredentials::parse(&format!("{} {}", &payload[..40], &payload[41..])), None);
    for (hotkey, bucket) in v["bucket_name_for_hotkey"].as_object().expect("buckets") {
        assert_eq!(bucket_for_hotkey(hotkey), bucket.as_str().expect("bucket"));
    }
}

#[test]
fn ties_half_even_and_the_whole_path_to_a_call() {
    let totals: BTreeMap<String, f64> =
        [("b", 7.0), ("a", 7.0), ("c", 2.0), ("zz", 9.0)].iter().map(|(h, t)| (h.to_string(), *t)).collect();
    let scores = normalize(&rank_scores(&totals));
    // zz ranks first (1), a and b share rank 2 (0.5), c is rank 3 (0.25).
    assert_eq!(scores.get("a"), scores.get("b"));
    let neurons = ["burn", "a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(uid, h)| Neuron { uid: uid as Uid, hotkey: (*h).into(), stake: None, validator_permit: None })
        .collect();
    let w = to_uid_weights(&scores, &Metagraph { netuid: 3, block: 0, neurons });
    assert_eq!(w.unknown, ["zz"]);
    let call = weights_call(3, 9, &w);
    // 0.5 : 0.5 : 0.25 -> 65535, 65535, 32767.5 -> 32768 (half to even).
    assert_eq!((call.uids, call.weights, call.version_key), (vec![1, 2, 3], vec![65535, 65535, 32768], 9));
    // Exact halves go to the even neighbour, up or down: 6553.5 -> 6554, 19660.5 -> 19660.
    assert_eq!(to_u16(&[1, 2], &[1.0, 0.1]).1, [65535, 6554]);
    assert_eq!(to_u16(&[1, 2], &[1.0, 0.3]).1, [65535, 19660]);
}
