//! Offline checks of the subtensor encoders against the real finney runtime metadata in
//! `tests/chain/` (copies of `../shared/chain/`, spec 365 and 393): call data and storage keys
//! are compared with bytes built here by hand (SCALE and the storage hashers computed
//! independently with `twox-hash` and `blake2`), and a hand-built `Registration` value decodes
//! into the compat-vector credentials. Plus: an unreachable endpoint fails fast with a typed error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};
use serde_json::Value;

use crate::support::chain_metadata;
use nexis::chain::subtensor::{
    OfflineSigning, SubtensorChain, commitment_of_key, decode_registration, decode_registration_fields, keys_key,
    load_metadata, set_commitment_call_data, set_weights_call_data, signed_extrinsic_offline, uids_key,
};
use nexis::chain::{ChainError, Hotkey, ReadCredentials, WeightsCall};

const SPECS: [&str; 2] = ["finney-spec365.scale", "finney-spec393.scale"];

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The metadata files of `tests/chain/`, decoded.
fn metadata_files() -> Vec<(String, subxt::Metadata)> {
    SPECS
        .iter()
        .map(|name| {
            let metadata = load_metadata(chain_metadata(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name.to_string(), metadata)
        })
        .collect()
}

fn commitment_vector() -> Value {
    let vectors: Value =
        serde_json::from_slice(&std::fs::read(manifest().join("tests/compat-vectors.json")).expect("compat vectors"))
            .expect("json");
    vectors["commitment_example"].clone()
}

fn vector_payload() -> String {
    commitment_vector()["payload"].as_str().expect("payload").to_string()
}

// --- independent SCALE and hashers ------------------------------------------------------

fn compact(n: usize) -> Vec<u8> {
    match n {
        0..=0x3f => vec![(n as u8) << 2],
        0x40..=0x3fff => ((n as u16) << 2 | 1).to_le_bytes().to_vec(),
        0x4000..=0x3fff_ffff => ((n as u32) << 2 | 2).to_le_bytes().to_vec(),
        _ => panic!("test lengths are small"),
    }
}

fn twox_64(data: &[u8]) -> Vec<u8> {
    twox_hash::XxHash64::oneshot(0, data).to_le_bytes().to_vec()
}

fn twox_128(data: &[u8]) -> Vec<u8> {
    let mut out = twox_64(data);
    out.extend_from_slice(&twox_hash::XxHash64::oneshot(1, data).to_le_bytes());
    out
}

fn twox_64_concat(data: &[u8]) -> Vec<u8> {
    let mut out = twox_64(data);
    out.extend_from_slice(data);
    out
}

fn blake2_128_concat(data: &[u8]) -> Vec<u8> {
    let mut out = Blake2b::<U16>::digest(data).to_vec();
    out.extend_from_slice(data);
    out
}

fn prefix(pallet: &str, entry: &str) -> Vec<u8> {
    let mut out = twox_128(pallet.as_bytes());
    out.extend(twox_128(entry.as_bytes()));
    out
}

fn account(seed: u8) -> [u8; 32] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
}

/// The hashers the metadata declares for a storage entry, by name.
fn hashers(metadata: &subxt::Metadata, pallet: &str, entry: &str) -> Vec<String> {
    let entry = metadata
        .pallet_by_name(pallet)
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name(entry))
        .unwrap_or_else(|| panic!("{pallet}.{entry} missing"));
    entry.keys().map(|k| format!("{:?}", k.hasher)).collect()
}

fn type_debug(metadata: &subxt::Metadata, id: u32) -> String {
    format!("{:?}", metadata.types().resolve(id).expect("type").type_def)
}

// --- tests ------------------------------------------------------------------------------

#[test]
fn test_helpers_match_known_hashes() {
    // Well-known substrate prefix: twox_128("System") ++ twox_128("Account").
    assert_eq!(
        hex::encode(prefix("System", "Account")),
        "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
    );
    assert_eq!(compact(1), [4]);
    assert_eq!(compact(64), [1, 1]);
}

#[test]
fn netuid_is_a_plain_u16_in_both_runtimes() {
    let files = metadata_files();
    for (name, metadata) in &files {
        for (pallet, call) in [("SubtensorModule", "set_weights"), ("Commitments", "set_commitment")] {
            let variant = metadata
                .pallet_by_name(pallet)
                .and_then(|p| p.call_variant_by_name(call))
                .unwrap_or_else(|| panic!("{name}: {pallet}.{call} missing"));
            let netuid = variant.fields.first().expect("netuid arg");
            assert_eq!(netuid.name.as_deref(), Some("netuid"), "{name}");
            assert_eq!(type_debug(metadata, netuid.ty.id), "Primitive(U16)", "{name}: {pallet}.{call} netuid");
        }
    }
}

#[test]
fn set_weights_call_data_matches_hand_encoding() {
    let files = metadata_files();
    let cases = [
        WeightsCall {
            netuid: 1,
            uids: vec![0, 1, 5, 300],
            weights: vec![65535, 32768, 16384, 1],
            version_key: 1_234_567_890_123,
        },
        WeightsCall { netuid: 65535, uids: vec![], weights: vec![], version_key: 0 },
        WeightsCall {
            netuid: 374,
            uids: (0..70).collect(),
            weights: (0..70).map(|i| i * 900).collect(),
            version_key: u64::MAX,
        },
    ];
    for (name, metadata) in &files {
        for call in &cases {
            let mut want = vec![7u8, 0];
            want.extend(call.netuid.to_le_bytes());
            want.extend(compact(call.uids.len()));
            call.uids.iter().for_each(|u| want.extend(u.to_le_bytes()));
            want.extend(compact(call.weights.len()));
            call.weights.iter().for_each(|w| want.extend(w.to_le_bytes()));
            want.extend(call.version_key.to_le_bytes());
            let got = set_weights_call_data(metadata, call).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex::encode(&got), hex::encode(&want), "{name}: {call:?}");
        }
    }
}

#[test]
fn set_weights_rejects_unpaired_vectors() {
    let files = metadata_files();
    let call = WeightsCall { netuid: 1, uids: vec![0, 1], weights: vec![1], version_key: 0 };
    for (_, metadata) in &files {
        assert!(matches!(set_weights_call_data(metadata, &call), Err(ChainError::Invalid(_))));
    }
}

#[test]
fn set_commitment_call_data_is_one_raw128_field() {
    let files = metadata_files();
    let payload = vector_payload();
    assert_eq!(payload.len(), 128);
    for (name, metadata) in &files {
        for netuid in [0u16, 1, 513] {
            let mut want = vec![18u8, 0];
            want.extend(netuid.to_le_bytes());
            want.extend(compact(1));
            want.push(0x81); // Data::Raw128 (None = 0, Raw0..=Raw128 = 1..=129)
            want.extend(payload.as_bytes());
            let got = set_commitment_call_data(metadata, netuid, &payload).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex::encode(&got), hex::encode(&want), "{name} netuid {netuid}");
        }
        let too_long = "a".repeat(129);
        assert!(matches!(set_commitment_call_data(metadata, 1, &too_long), Err(ChainError::Invalid(_))), "{name}");
    }
}

#[test]
fn storage_entries_use_the_expected_hashers() {
    let files = metadata_files();
    for (name, metadata) in &files {
        assert_eq!(hashers(metadata, "Commitments", "CommitmentOf"), ["Identity", "Twox64Concat"], "{name}");
        assert_eq!(hashers(metadata, "SubtensorModule", "Keys"), ["Identity", "Identity"], "{name}");
        assert_eq!(hashers(metadata, "SubtensorModule", "Uids"), ["Identity", "Blake2_128Concat"], "{name}");
    }
}

#[test]
fn commitment_of_key_matches_hand_hashing() {
    let files = metadata_files();
    for (name, metadata) in &files {
        for (netuid, seed) in [(1u16, 3u8), (374, 200)] {
            let acc = account(seed);
            let mut want = prefix("Commitments", "CommitmentOf");
            want.extend(netuid.to_le_bytes()); // Identity
            want.extend(twox_64_concat(&acc));
            let got = commitment_of_key(metadata, netuid, acc).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex::encode(&got), hex::encode(&want), "{name}");
        }
    }
}

#[test]
fn keys_and_uids_keys_match_hand_hashing() {
    let files = metadata_files();
    for (name, metadata) in &files {
        for (netuid, uid) in [(1u16, 0u16), (374, 255), (65535, 4096)] {
            let mut want = prefix("SubtensorModule", "Keys");
            want.extend(netuid.to_le_bytes());
            want.extend(uid.to_le_bytes());
            let got = keys_key(metadata, netuid, uid).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex::encode(&got), hex::encode(&want), "{name} Keys({netuid}, {uid})");
        }
        let acc = account(9);
        let mut want = prefix("SubtensorModule", "Uids");
        want.extend(7u16.to_le_bytes());
        want.extend(blake2_128_concat(&acc));
        let got = uids_key(metadata, 7, acc).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode(&got), hex::encode(&want), "{name} Uids");
    }
}

/// The metadata's `Registration` layout, which the hand-built values below assume (the
/// exact decode with no trailing bytes in the next tests pins the field sizes).
#[test]
fn registration_layout_is_deposit_block_info() {
    let files = metadata_files();
    for (name, metadata) in &files {
        let entry = metadata
            .pallet_by_name("Commitments")
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name("CommitmentOf"))
            .expect("CommitmentOf");
        let ty = metadata.types().resolve(entry.value_ty()).expect("type");
        assert_eq!(ty.path.segments.last().map(String::as_str), Some("Registration"), "{name}");
        let layout = format!("{:?}", ty.type_def);
        let at = |field: &str| layout.find(&format!("name: Some(\"{field}\")"));
        let (deposit, block, info) = (at("deposit"), at("block"), at("info"));
        assert!(deposit.is_some() && deposit < block && block < info, "{name}: {layout}");
        // Subtensor's Balance is a u64 (rao); the block number a u32.
        for (field, want) in [("deposit", "Primitive(U64)"), ("block", "Primitive(U32)")] {
            let id = field_type_id(&layout, field).unwrap_or_else(|| panic!("{name}: no {field} in {layout}"));
            assert_eq!(type_debug(metadata, id), want, "{name}: Registration.{field}");
        }
    }
}

/// The type id of a named field in the `Debug` text of a composite type.
fn field_type_id(layout: &str, field: &str) -> Option<u32> {
    let rest = &layout[layout.find(&format!("name: Some(\"{field}\")"))?..];
    let rest = &rest[rest.find("id: ")? + 4..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?].parse().ok()
}

/// SCALE of `Registration { deposit: u64, block: u32, info: CommitmentInfo { fields } }`.
fn registration(block: u32, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = 1_000_000_000u64.to_le_bytes().to_vec();
    out.extend(block.to_le_bytes());
    out.extend(compact(fields.len()));
    fields.iter().for_each(|f| out.extend_from_slice(f));
    out
}

fn raw(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![bytes.len() as u8 + 1];
    out.extend_from_slice(bytes);
    out
}

#[test]
fn registration_decodes_to_the_vector_credentials() {
    let files = metadata_files();
    let v = commitment_vector();
    let payload = vector_payload();
    let decoded = &v["decoded"];
    let expected_payload = ["account_id", "read_access_key", "read_secret_key"]
        .iter()
        .map(|k| decoded[k].as_str().expect("decoded field"))
        .collect::<String>();
    for (name, metadata) in &files {
        let field = raw(payload.as_bytes());
        assert_eq!(field[0], 0x81);
        let bytes = registration(6_000_123, &[&field]);
        let creds =
            decode_registration(metadata, &bytes).unwrap_or_else(|e| panic!("{name}: {e}")).expect("credentials");
        assert_eq!(creds.payload(), expected_payload, "{name}");
        assert_eq!(Some(creds), ReadCredentials::parse(&payload), "{name}");
        let fields = decode_registration_fields(metadata, &bytes).expect("fields");
        assert_eq!(fields.block, Some(6_000_123), "{name}");
        // Only the first field counts.
        let two = registration(1, &[&field, &raw(b"second")]);
        assert!(decode_registration(metadata, &two).expect("decodes").is_some(), "{name}");
    }
}

#[test]
fn registration_without_valid_credentials_is_none() {
    let files = metadata_files();
    let payload = vector_payload();
    let upper_hex = payload.to_uppercase();
    for (name, metadata) in &files {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("raw127", registration(5, &[&raw(&payload.as_bytes()[..127])])),
            ("short raw32", registration(5, &[&raw(&payload.as_bytes()[..32])])),
            ("non-utf8", registration(5, &[&raw(&[0xff; 128])])),
            ("no fields", registration(5, &[])),
            ("data none", registration(5, &[&[0u8]])),
            ("sha256 hash", registration(5, &[&[&[131u8][..], &[7u8; 32][..]].concat()])),
            ("space in key", registration(5, &[&raw(format!("{} {}", &payload[..64], &payload[65..]).as_bytes())])),
        ];
        for (case, bytes) in cases {
            assert_eq!(
                decode_registration(metadata, &bytes).unwrap_or_else(|e| panic!("{name} {case}: {e}")),
                None,
                "{name} {case}"
            );
        }
        // Upper-case account hex is accepted (and lowercased by the parser).
        let upper = registration(5, &[&raw(format!("{}{}", &upper_hex[..32], &payload[32..]).as_bytes())]);
        assert!(decode_registration(metadata, &upper).expect("decodes").is_some(), "{name} upper-case account");
        // Bytes that do not fit the type are an error, not silently None.
        let mut truncated = registration(5, &[&raw(payload.as_bytes())]);
        truncated.truncate(60);
        assert!(matches!(decode_registration(metadata, &truncated), Err(ChainError::Decode(_))), "{name} truncated");
        let mut trailing = registration(5, &[&raw(payload.as_bytes())]);
        trailing.push(0);
        assert!(matches!(decode_registration(metadata, &trailing), Err(ChainError::Decode(_))), "{name} trailing");
    }
}

/// A signed `set_weights` extrinsic built offline: every byte but the signature is rebuilt by
/// hand from subtensor's extension list (zero-sized extensions contribute nothing; immortal
/// era 0x00, compact nonce, compact tip 0, CheckMetadataHash mode 0), and the signature
/// verifies (schnorrkel, "substrate" context) over call ++ extra ++ implicit data.
#[test]
fn signed_extrinsic_carries_subtensor_extensions() {
    let genesis: [u8; 32] = hex::decode("2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03")
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let hotkey = Hotkey::from_seed([7u8; 32]);
    let call = WeightsCall { netuid: 3, uids: vec![0, 2], weights: vec![65535, 100], version_key: 9 };
    for (name, spec) in [("finney-spec365.scale", 365u32), ("finney-spec393.scale", 393)] {
        let metadata = load_metadata(chain_metadata(name)).expect("metadata");
        let extensions: Vec<String> = metadata
            .extrinsic()
            .transaction_extensions_by_version(0)
            .into_iter()
            .flatten()
            .map(|e| e.identifier().to_string())
            .collect();
        assert!(extensions.iter().any(|e| e == "SubtensorTransactionExtension"), "{name}: {extensions:?}");
        assert!(extensions.iter().any(|e| e == "DrandPriority"), "{name}: {extensions:?}");
        assert_eq!(extensions.iter().any(|e| e == "CheckShieldedTxValidity"), spec >= 393, "{name}");
        let call_data = set_weights_call_data(&metadata, &call).expect("call data");
        let nonce = 77u64;
        let signing = OfflineSigning { spec_version: spec, transaction_version: 1, genesis_hash: genesis, nonce };
        let tx =
            signed_extrinsic_offline(metadata, &call_data, &hotkey, &signing).unwrap_or_else(|e| panic!("{name}: {e}"));

        // extra: era immortal, nonce, tip, metadata-hash mode (the other extensions are empty).
        let mut extra = vec![0x00];
        extra.extend(compact(nonce as usize));
        extra.extend([0x00, 0x00]);
        let mut body = vec![0x84, 0x00];
        body.extend(hotkey.public());
        body.push(0x01); // MultiSignature::Sr25519
        let sig_at = body.len();
        body.extend([0u8; 64]);
        body.extend(&extra);
        body.extend(&call_data);
        let mut want = compact(body.len());
        let offset = want.len();
        want.extend(&body);
        assert_eq!(tx.len(), want.len(), "{name}");
        let signature = &tx[offset + sig_at..offset + sig_at + 64];
        want[offset + sig_at..offset + sig_at + 64].copy_from_slice(signature);
        assert_eq!(hex::encode(&tx), hex::encode(&want), "{name}");

        // implicit: spec version, tx version, genesis (CheckGenesis), genesis (immortal era), no metadata hash.
        let mut signed_payload = call_data.clone();
        signed_payload.extend(&extra);
        signed_payload.extend(spec.to_le_bytes());
        signed_payload.extend(1u32.to_le_bytes());
        signed_payload.extend(genesis);
        signed_payload.extend(genesis);
        signed_payload.push(0x00);
        assert!(signed_payload.len() <= 256);
        let public = schnorrkel::PublicKey::from_bytes(&hotkey.public()).expect("public key");
        let signature = schnorrkel::Signature::from_bytes(signature).expect("signature");
        public.verify_simple(b"substrate", &signed_payload, &signature).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn load_metadata_errors_are_clear() {
    let missing = load_metadata(manifest().join("no-such-metadata.scale"));
    assert!(matches!(missing, Err(ChainError::Invalid(ref m)) if m.contains("no-such-metadata.scale")));
    let not_metadata = load_metadata(manifest().join("Cargo.toml"));
    assert!(matches!(not_metadata, Err(ChainError::Invalid(_))));
}

#[tokio::test]
async fn unreachable_endpoint_fails_fast() {
    let start = Instant::now();
    let result = SubtensorChain::connect("ws://127.0.0.1:1", Duration::from_secs(2)).await;
    let elapsed = start.elapsed();
    match result {
        Err(ChainError::Unreachable { endpoint, .. }) => assert_eq!(endpoint, "ws://127.0.0.1:1"),
        Err(ChainError::Timeout { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("nothing listens on port 1"),
    }
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

/// A compact spelling of a metadata type: newtypes unwrapped, `Vec<T>`, `[T; n]`, tuples.
fn shape(metadata: &subxt::Metadata, id: u32) -> String {
    use scale_info::{TypeDef, TypeDefPrimitive as P};
    let ty = metadata.types().resolve(id).expect("type");
    match &ty.type_def {
        TypeDef::Primitive(p) => match p {
            P::Bool => "bool",
            P::U8 => "u8",
            P::U16 => "u16",
            P::U32 => "u32",
            P::U64 => "u64",
            P::U128 => "u128",
            other => return format!("{other:?}"),
        }
        .to_string(),
        TypeDef::Composite(c) if c.fields.len() == 1 => shape(metadata, c.fields[0].ty.id),
        TypeDef::Sequence(s) => format!("Vec<{}>", shape(metadata, s.type_param.id)),
        TypeDef::Array(a) => format!("[{}; {}]", shape(metadata, a.type_param.id), a.len),
        TypeDef::Tuple(t) => {
            format!("({})", t.fields.iter().map(|f| shape(metadata, f.id)).collect::<Vec<_>>().join(", "))
        }
        TypeDef::Compact(c) => format!("Compact<{}>", shape(metadata, c.type_param.id)),
        other => format!("{other:?}"),
    }
}

/// Every storage entry the commit-reveal path reads, with the key and value types the
/// code decodes them as (`SubtensorChain::weight_rules`, `pending_commits`, read-back).
#[test]
fn commit_reveal_storage_entries_have_the_types_the_code_decodes() {
    let files = metadata_files();
    let (_, metadata) = files.iter().find(|(n, _)| n.contains("393")).expect("spec 393 metadata");
    let expected: [(&str, &str, &[&str], &str); 12] = [
        ("SubtensorModule", "CommitRevealWeightsEnabled", &["u16"], "bool"),
        ("SubtensorModule", "WeightsSetRateLimit", &["u16"], "u64"),
        ("SubtensorModule", "WeightsVersionKey", &["u16"], "u64"),
        ("SubtensorModule", "Tempo", &["u16"], "u16"),
        ("SubtensorModule", "RevealPeriodEpochs", &["u16"], "u64"),
        ("SubtensorModule", "LastUpdate", &["u16"], "Vec<u64>"),
        ("SubtensorModule", "ValidatorPermit", &["u16"], "Vec<bool>"),
        ("SubtensorModule", "CommitRevealWeightsVersion", &[], "u16"),
        ("SubtensorModule", "Uids", &["u16", "[u8; 32]"], "u16"),
        ("SubtensorModule", "Weights", &["u16", "u16"], "Vec<(u16, u16)>"),
        ("SubtensorModule", "TimelockedWeightCommits", &["u16", "u64"], "Vec<([u8; 32], u64, Vec<u8>, u64)>"),
        ("SubtensorModule", "NetworksAdded", &["u16"], "bool"),
    ];
    for (pallet, name, keys, value) in expected {
        let entry = metadata
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(name))
            .unwrap_or_else(|| panic!("{pallet}.{name} missing"));
        let got_keys: Vec<String> = entry.keys().map(|k| shape(metadata, k.key_id)).collect();
        assert_eq!(got_keys, keys, "{pallet}.{name} keys");
        assert_eq!(shape(metadata, entry.value_ty()), value, "{pallet}.{name} value");
    }
    let beacon = metadata
        .pallet_by_name("Drand")
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name("BeaconConfig"))
        .expect("Drand.BeaconConfig");
    assert_eq!(beacon.keys().len(), 0, "Drand.BeaconConfig is a plain value");
}
