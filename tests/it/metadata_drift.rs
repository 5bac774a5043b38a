//! Metadata drift: the spec-393 runtime metadata of `tests/chain/`, mutated the way later
//! runtimes differ, and re-encoded as `RuntimeMetadataPrefixed` bytes (what a node serves).
//! (a) Every `netuid`/`mecid` call argument and every leading `u16` storage key becomes a
//! composite newtype (`NetUid(u16)`, `MechId(u8)`, as the 2026 runtime has): the call data and
//! storage keys nexis builds are byte-identical and the start-up check finds nothing missing.
//! (b) An unknown transaction extension carrying a `u8` is appended: signing fails with an
//! error naming it (never a panic, never a signature over the wrong payload).

use scale_info::form::PortableForm;
use scale_info::{Field, Path, PortableType, Type, TypeDef, TypeDefComposite, TypeDefPrimitive, TypeDefTuple};
use subxt::ext::codec::{Compact, Decode, Encode};
use subxt::ext::frame_metadata::v16::{RuntimeMetadataV16, StorageEntryType, TransactionExtensionMetadata};
use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};

use crate::support::chain_metadata;
use nexis::chain::subtensor::{
    OfflineSigning, commit_timelocked_weights_call_data, commitment_of_key, decode_metadata, keys_key,
    missing_optional, missing_required, set_commitment_call_data, set_weights_call_data, signed_extrinsic_offline,
    uids_key,
};
use nexis::chain::{ChainError, Hotkey, TimelockedCommit, WeightsCall};

const UNKNOWN_EXTENSION: &str = "CheckFutureFeeTier";

fn spec393() -> RuntimeMetadataV16 {
    let bytes = std::fs::read(chain_metadata("finney-spec393.scale")).expect("spec-393 metadata");
    let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).expect("RuntimeMetadataPrefixed");
    match prefixed.1 {
        RuntimeMetadata::V16(v16) => v16,
        _ => panic!("spec 393 ships V16 metadata"),
    }
}

/// Re-encodes `metadata` the way a node serves it and loads it the way nexis does.
fn load(metadata: RuntimeMetadataV16) -> subxt::Metadata {
    let bytes = RuntimeMetadataPrefixed::from(metadata).encode();
    decode_metadata(&bytes).expect("mutated metadata loads")
}

fn find_type(metadata: &RuntimeMetadataV16, want: impl Fn(&TypeDef<PortableForm>) -> bool) -> u32 {
    metadata.types.types.iter().find(|t| t.ty.path.segments.is_empty() && want(&t.ty.type_def)).expect("type").id
}

fn primitive(metadata: &RuntimeMetadataV16, p: TypeDefPrimitive) -> u32 {
    find_type(metadata, |d| matches!(d, TypeDef::Primitive(x) if *x == p))
}

fn push_type(metadata: &mut RuntimeMetadataV16, path: &[&str], type_def: TypeDef<PortableForm>) -> u32 {
    let id = metadata.types.types.len() as u32;
    let path = Path { segments: path.iter().map(|s| s.to_string()).collect() };
    metadata.types.types.push(PortableType { id, ty: Type { path, type_params: vec![], type_def, docs: vec![] } });
    id
}

/// `struct Name(inner)` under `subtensor_runtime_common`.
fn push_newtype(metadata: &mut RuntimeMetadataV16, name: &str, inner: u32, inner_name: &str) -> u32 {
    let field = Field { name: None, ty: inner.into(), type_name: Some(inner_name.to_string()), docs: vec![] };
    push_type(
        metadata,
        &["subtensor_runtime_common", name],
        TypeDef::Composite(TypeDefComposite { fields: vec![field] }),
    )
}

/// What the newtype mutation replaced, for asserting that it bit.
#[derive(Debug, Default)]
struct Replaced {
    netuid_args: usize,
    mecid_args: usize,
    storage_keys: Vec<String>,
}

/// Rewrites every `netuid: u16` / `mecid: u8` call argument and the leading `u16` key of
/// every storage map of `SubtensorModule` and `Commitments` to `NetUid(u16)` / `MechId(u8)`.
fn newtype_netuids(metadata: &mut RuntimeMetadataV16) -> Replaced {
    let u16_id = primitive(metadata, TypeDefPrimitive::U16);
    let u8_id = primitive(metadata, TypeDefPrimitive::U8);
    let net_uid = push_newtype(metadata, "NetUid", u16_id, "u16");
    let mech_id = push_newtype(metadata, "MechId", u8_id, "u8");
    let mut replaced = Replaced::default();
    let call_types: Vec<u32> = metadata.pallets.iter().filter_map(|p| p.calls.as_ref().map(|c| c.ty.id)).collect();
    for ty in metadata.types.types.iter_mut().filter(|t| call_types.contains(&t.id)) {
        let TypeDef::Variant(calls) = &mut ty.ty.type_def else { continue };
        for field in calls.variants.iter_mut().flat_map(|v| v.fields.iter_mut()) {
            match (field.name.as_deref(), field.ty.id) {
                (Some("netuid"), id) if id == u16_id => {
                    field.ty = net_uid.into();
                    field.type_name = Some("NetUid".into());
                    replaced.netuid_args += 1;
                }
                (Some("mecid"), id) if id == u8_id => {
                    field.ty = mech_id.into();
                    field.type_name = Some("MechId".into());
                    replaced.mecid_args += 1;
                }
                _ => {}
            }
        }
    }
    let mut new_keys = Vec::new();
    for pallet in metadata.pallets.iter_mut().filter(|p| ["SubtensorModule", "Commitments"].contains(&p.name.as_str()))
    {
        let Some(storage) = pallet.storage.as_mut() else { continue };
        for entry in &mut storage.entries {
            let StorageEntryType::Map { key, .. } = &mut entry.ty else { continue };
            if key.id == u16_id {
                *key = net_uid.into();
            } else if let Some(TypeDef::Tuple(t)) = metadata.types.types.get(key.id as usize).map(|t| &t.ty.type_def)
                && t.fields.first().map(|f| f.id) == Some(u16_id)
            {
                let mut fields = t.fields.clone();
                fields[0] = net_uid.into();
                new_keys.push((format!("{}.{}", pallet.name, entry.name), fields));
                *key = (metadata.types.types.len() as u32 + new_keys.len() as u32 - 1).into();
            } else {
                continue;
            }
            replaced.storage_keys.push(format!("{}.{}", pallet.name, entry.name));
        }
    }
    for (_, fields) in new_keys {
        push_type(metadata, &[], TypeDef::Tuple(TypeDefTuple { fields }));
    }
    replaced
}

fn weights_cases() -> Vec<WeightsCall> {
    vec![
        WeightsCall { netuid: 1, uids: vec![0, 1, 5, 300], weights: vec![65535, 32768, 16384, 1], version_key: 7 },
        WeightsCall { netuid: 65535, uids: vec![], weights: vec![], version_key: u64::MAX },
    ]
}

fn commit_cases() -> Vec<TimelockedCommit> {
    vec![
        TimelockedCommit { netuid: 374, mecid: 0, commit: vec![9; 300], reveal_round: 5_000_000, version: 4 },
        TimelockedCommit { netuid: 2, mecid: 255, commit: vec![], reveal_round: 0, version: 4 },
    ]
}

/// Every call datum and storage key nexis builds, as hex, in a fixed order.
fn everything_encoded(metadata: &subxt::Metadata) -> Vec<String> {
    let mut out = Vec::new();
    for call in weights_cases() {
        out.push(set_weights_call_data(metadata, &call).expect("set_weights"));
    }
    for commit in commit_cases() {
        out.push(commit_timelocked_weights_call_data(metadata, &commit).expect("commit_timelocked"));
    }
    out.push(set_commitment_call_data(metadata, 513, &"ab".repeat(64)).expect("set_commitment"));
    let account = [42u8; 32];
    out.push(commitment_of_key(metadata, 374, account).expect("CommitmentOf key"));
    out.push(keys_key(metadata, 65535, 4096).expect("Keys key"));
    out.push(uids_key(metadata, 7, account).expect("Uids key"));
    out.into_iter().map(hex::encode).collect()
}

#[test]
fn newtype_netuid_and_mecid_encode_identically() {
    let original = load(spec393());
    let mut mutated = spec393();
    let replaced = newtype_netuids(&mut mutated);
    // The mutation bit: the calls and storage items nexis uses now carry the newtypes.
    assert!(replaced.netuid_args >= 3, "{replaced:?}");
    assert!(replaced.mecid_args >= 1, "{replaced:?}");
    for item in ["SubtensorModule.Keys", "SubtensorModule.Uids", "SubtensorModule.Tempo", "Commitments.CommitmentOf"] {
        assert!(replaced.storage_keys.iter().any(|k| k == item), "{item} not mutated: {replaced:?}");
    }
    let mutated = load(mutated);
    for (pallet, call, arg, newtype) in [
        ("SubtensorModule", "set_weights", "netuid", "NetUid"),
        ("SubtensorModule", "commit_timelocked_mechanism_weights", "mecid", "MechId"),
        ("Commitments", "set_commitment", "netuid", "NetUid"),
    ] {
        let variant = mutated.pallet_by_name(pallet).and_then(|p| p.call_variant_by_name(call)).expect("call");
        let field = variant.fields.iter().find(|f| f.name.as_deref() == Some(arg)).expect("arg");
        let ty = mutated.types().resolve(field.ty.id).expect("type");
        assert_eq!(ty.path.segments.last().map(String::as_str), Some(newtype), "{pallet}.{call}.{arg}");
    }

    assert_eq!(everything_encoded(&mutated), everything_encoded(&original));
    // The start-up check: newtypes are not missing items.
    assert_eq!(missing_required(&mutated), Vec::<String>::new());
    assert_eq!(missing_optional(&mutated), missing_optional(&original));
}

/// Appends an extension whose explicit data is a `u8` (implicit `()`) to version 0's list.
fn append_data_extension(metadata: &mut RuntimeMetadataV16) {
    let u8_id = primitive(metadata, TypeDefPrimitive::U8);
    let unit = find_type(metadata, |d| matches!(d, TypeDef::Tuple(t) if t.fields.is_empty()));
    let extrinsic = &mut metadata.extrinsic;
    let index = extrinsic.transaction_extensions.len() as u32;
    extrinsic.transaction_extensions.push(TransactionExtensionMetadata {
        identifier: UNKNOWN_EXTENSION.to_string(),
        ty: u8_id.into(),
        implicit: unit.into(),
    });
    extrinsic.transaction_extensions_by_version.entry(0).or_default().push(Compact(index));
}

#[test]
fn unknown_data_extension_fails_signing_and_names_it() {
    let mut metadata = spec393();
    append_data_extension(&mut metadata);
    let metadata = load(metadata);
    let hotkey = Hotkey::from_seed([7u8; 32]);
    let call = WeightsCall { netuid: 3, uids: vec![0, 2], weights: vec![65535, 100], version_key: 9 };
    let call_data = set_weights_call_data(&metadata, &call).expect("call data still encodes");
    let signing = OfflineSigning { spec_version: 393, transaction_version: 1, genesis_hash: [1; 32], nonce: 5 };
    let result = std::panic::catch_unwind(|| signed_extrinsic_offline(metadata, &call_data, &hotkey, &signing));
    match result {
        Ok(Err(ChainError::UnsupportedExtension { identifier })) => assert_eq!(identifier, UNKNOWN_EXTENSION),
        Ok(Err(other)) => panic!("an error, but not one naming the extension: {other}"),
        Ok(Ok(tx)) => panic!("signed anyway ({} bytes): the signature would not cover the extension", tx.len()),
        Err(_) => panic!("signing panicked"),
    }
    // The same extension list without the data-carrying one still signs.
    let clean = load(spec393());
    let call_data = set_weights_call_data(&clean, &call).expect("call data");
    assert!(signed_extrinsic_offline(clean, &call_data, &hotkey, &signing).is_ok());
}
