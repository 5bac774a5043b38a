//! Decoding what a node returns: the drand beacon config, weight-reveal events, registration
//! commitments and pallet errors; pure functions of the runtime metadata.

use subxt::config::SubstrateConfig;
use subxt::config::substrate::SpecVersionForRange;
use subxt::ext::scale_value::{self, Composite, ValueDef};
use subxt::{ArcMetadata, Metadata, OfflineClient};

use crate::chain::commit_reveal::Beacon;
use crate::chain::{ChainError, NetUid, ReadCredentials};

/// Largest raw field a `Data` value holds (`Raw128`).
pub(super) const MAX_RAW: usize = 128;

/// Decodes a `Drand.BeaconConfig` value into the beacon's public key, genesis and period.
pub(crate) fn decode_beacon_config(metadata: &Metadata, bytes: &[u8]) -> Result<Beacon, ChainError> {
    let ty = metadata
        .pallet_by_name("Drand")
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name("BeaconConfig"))
        .map(|e| e.value_ty())
        .ok_or_else(|| ChainError::Decode("the runtime has no Drand.BeaconConfig storage".into()))?;
    let value = scale_value::scale::decode_as_type(&mut &bytes[..], ty, metadata.types())
        .map_err(|e| ChainError::Decode(format!("Drand.BeaconConfig value: {e}")))?;
    let number = |name: &str| field(&value, name).and_then(|v| v.as_u128()).and_then(|n| u64::try_from(n).ok());
    let public_key = field(&value, "public_key").and_then(flat_bytes).unwrap_or_default();
    match (number("genesis_time"), number("period")) {
        (Some(genesis), Some(period)) if public_key.len() == 96 && period > 0 => {
            Ok(Beacon { public_key, genesis_ms: genesis * 1000, period_ms: period * 1000 })
        }
        _ => Err(ChainError::Decode("Drand.BeaconConfig lacks a 96-byte public_key, genesis_time or period".into())),
    }
}

/// The bytes of a byte array, descending through newtype wrappers (BoundedVec, OpaquePublicKey).
fn flat_bytes<T>(value: &scale_value::Value<T>) -> Option<Vec<u8>> {
    let mut v = value;
    for _ in 0..4 {
        match &v.value {
            ValueDef::Composite(c)
                if c.len() == 1 && matches!(c.values().next().map(|x| &x.value), Some(ValueDef::Composite(_))) =>
            {
                v = c.values().next()?;
            }
            _ => break,
        }
    }
    bytes_of(v)
}

/// The `SubtensorModule` events that record a timelocked weights reveal, each with the fields
/// (storage index or netuid, hotkey): `TimelockedWeightsRevealed` (keyed by the mechanism's
/// storage index) and, on older runtimes, `CRV3WeightsRevealed` (keyed by the netuid, which
/// is mechanism 0's storage index).
const REVEAL_EVENTS: [&str; 2] = ["TimelockedWeightsRevealed", "CRV3WeightsRevealed"];

/// Whether `events` (one block's) record a reveal of `account`'s timelocked weights for the
/// mechanism storage index `index`.
pub(super) fn records_reveal(
    events: &subxt::events::Events<SubstrateConfig>,
    index: u16,
    account: &[u8; 32],
) -> Result<bool, ChainError> {
    for event in events.iter() {
        let event = event.map_err(|e| ChainError::Decode(format!("System.Events: {e}")))?;
        if event.pallet_name() != "SubtensorModule" || !REVEAL_EVENTS.contains(&event.event_name()) {
            continue;
        }
        let (at, who) = event
            .decode_fields_unchecked_as::<(u16, [u8; 32])>()
            .map_err(|e| ChainError::Decode(format!("SubtensorModule.{}: {e}", event.event_name())))?;
        if at == index && &who == account {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the SCALE-encoded `System.Events` of one block (`event_bytes`) record a reveal of
/// `hotkey`'s timelocked weights for mechanism `mecid` of `netuid`, decoded with `metadata`
/// exactly as [`SubtensorChain`](super::SubtensorChain)'s `weight_reveals` decodes a block's events.
pub fn weight_reveal_in_events(
    metadata: Metadata,
    event_bytes: Vec<u8>,
    netuid: NetUid,
    mecid: u8,
    hotkey: &str,
) -> Result<bool, ChainError> {
    let account = super::client::account_of(hotkey)?;
    let index = storage_index(netuid, mecid)?;
    let config = SubstrateConfig::builder()
        .set_metadata_for_spec_versions([(0, ArcMetadata::new(metadata))])
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: 0,
            transaction_version: 0,
        }])
        .build();
    let client = OfflineClient::new_with_config(config);
    let at = client.at_block(0u64).map_err(|e| ChainError::Invalid(format!("offline events: {e}")))?;
    records_reveal(&at.events().from_bytes(event_bytes), index, &account.0)
}

/// The storage index `mecid * 4096 + netuid` of a mechanism.
pub(super) fn storage_index(netuid: NetUid, mecid: u8) -> Result<u16, ChainError> {
    crate::chain::weight_rules::mechanism_storage_index(netuid, mecid)
        .ok_or_else(|| ChainError::Invalid(format!("mecid {mecid} of netuid {netuid} has no storage index")))
}

/// A decoded `Commitments.CommitmentOf` value: the block it was written at and the raw bytes
/// of its first field, when that field is a `Raw*` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationFields {
    /// The block the commitment was written at, when present.
    pub block: Option<u64>,
    pub(crate) first_raw: Option<Vec<u8>>,
}

/// Decodes a `Commitments.CommitmentOf` value (`Registration { deposit, block, info }`) with
/// the metadata's type for it. Errors only when the bytes do not fit the type.
pub fn decode_registration_fields(metadata: &Metadata, bytes: &[u8]) -> Result<RegistrationFields, ChainError> {
    let ty = metadata
        .pallet_by_name("Commitments")
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name("CommitmentOf"))
        .map(|e| e.value_ty())
        .ok_or_else(|| ChainError::Decode("the runtime has no Commitments.CommitmentOf storage".into()))?;
    let cursor = &mut &bytes[..];
    let value = scale_value::scale::decode_as_type(cursor, ty, metadata.types())
        .map_err(|e| ChainError::Decode(format!("Commitments.CommitmentOf value: {e}")))?;
    if !cursor.is_empty() {
        return Err(ChainError::Decode(format!("Commitments.CommitmentOf value has {} trailing bytes", cursor.len())));
    }
    let block = field(&value, "block").and_then(|b| b.as_u128()).and_then(|b| u64::try_from(b).ok());
    // `fields` is a BoundedVec (a newtype around a Vec): descend through composites to the
    // first `Data` variant.
    let mut first = field(&value, "info").and_then(|info| field(info, "fields"));
    for _ in 0..4 {
        match first.map(|v| &v.value) {
            Some(ValueDef::Composite(c)) => first = c.values().next(),
            _ => break,
        }
    }
    let first_raw = first.and_then(|data| match &data.value {
        ValueDef::Variant(v) if v.name.starts_with("Raw") => v.values.values().next().and_then(bytes_of),
        _ => None,
    });
    Ok(RegistrationFields { block, first_raw })
}

/// Decodes a `Commitments.CommitmentOf` value into read credentials (protocol §4): the first
/// field must be raw bytes that are valid UTF-8 and parse as a credential payload; anything
/// else is `Ok(None)`.
pub fn decode_registration(metadata: &Metadata, bytes: &[u8]) -> Result<Option<ReadCredentials>, ChainError> {
    Ok(credentials_of(&decode_registration_fields(metadata, bytes)?))
}

pub(super) fn credentials_of(fields: &RegistrationFields) -> Option<ReadCredentials> {
    let raw = fields.first_raw.as_deref()?;
    let text = std::str::from_utf8(raw).ok()?;
    ReadCredentials::parse(text)
}

fn field<'a, T>(value: &'a scale_value::Value<T>, name: &str) -> Option<&'a scale_value::Value<T>> {
    match &value.value {
        ValueDef::Composite(Composite::Named(fields)) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

/// The bytes of a `[u8; N]` / `Vec<u8>` value.
fn bytes_of<T>(value: &scale_value::Value<T>) -> Option<Vec<u8>> {
    match &value.value {
        ValueDef::Composite(c) => {
            c.values().map(|b| b.as_u128().and_then(|b| u8::try_from(b).ok())).collect::<Option<Vec<u8>>>()
        }
        _ => None,
    }
}

/// Maps a pallet error (`pallet`, `name`) from a failed extrinsic to a [`ChainError`].
pub(crate) fn classify_module_error(pallet: &str, name: &str, hotkey: &str, netuid: NetUid) -> ChainError {
    let full = format!("{pallet}.{name}");
    let lower = name.to_ascii_lowercase();
    if name == "CommitRevealEnabled" {
        ChainError::CommitRevealEnabled { netuid }
    } else if name == "NeuronNoValidatorPermit" {
        ChainError::NoValidatorPermit { hotkey: hotkey.to_string(), netuid }
    } else if lower.contains("ratelimit") || lower.contains("toofast") || lower.contains("toosoon") {
        ChainError::RateLimited(full)
    } else if lower.contains("notregistered") || name == "AccountNotAllowedCommit" || name == "HotKeyAccountNotExists" {
        ChainError::NotRegistered { hotkey: hotkey.to_string(), netuid }
    } else if name == "SubNetworkDoesNotExist" || name == "SubnetNotExists" || name == "MechanismDoesNotExist" {
        ChainError::NoSuchSubnet(netuid)
    } else {
        ChainError::Rejected { module_error: full }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Hotkey;
    use crate::chain::subtensor::load_metadata;

    #[test]
    fn module_errors_map_to_typed_errors() {
        let hk = "5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9";
        assert!(matches!(
            classify_module_error("SubtensorModule", "SettingWeightsTooFast", hk, 1),
            ChainError::RateLimited(s) if s == "SubtensorModule.SettingWeightsTooFast"
        ));
        assert!(matches!(
            classify_module_error("SubtensorModule", "TxRateLimitExceeded", hk, 1),
            ChainError::RateLimited(_)
        ));
        assert!(matches!(
            classify_module_error("SubtensorModule", "HotKeyNotRegisteredInSubNet", hk, 7),
            ChainError::NotRegistered { netuid: 7, .. }
        ));
        assert!(matches!(
            classify_module_error("Commitments", "AccountNotAllowedCommit", hk, 7),
            ChainError::NotRegistered { .. }
        ));
        assert!(matches!(
            classify_module_error("SubtensorModule", "CommitRevealEnabled", hk, 3),
            ChainError::CommitRevealEnabled { netuid: 3 }
        ));
        assert!(matches!(
            classify_module_error("SubtensorModule", "SubNetworkDoesNotExist", hk, 9),
            ChainError::NoSuchSubnet(9)
        ));
        assert!(matches!(
            classify_module_error("SubtensorModule", "WeightVecNotEqualSize", hk, 1),
            ChainError::Rejected { module_error } if module_error == "SubtensorModule.WeightVecNotEqualSize"
        ));
    }

    /// One `EventRecord` (phase `ApplyExtrinsic(1)`, no topics) of event `variant` of `pallet`.
    fn record(pallet: u8, variant: u8, fields: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8];
        out.extend(1u32.to_le_bytes());
        out.extend([pallet, variant]);
        out.extend(fields);
        out.push(0);
        out
    }

    #[test]
    fn a_weight_reveal_is_read_from_the_blocks_events() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chain/finney-spec393.scale");
        let metadata = load_metadata(&path).expect("metadata");
        let pallet = metadata.pallet_by_name("SubtensorModule").expect("pallet");
        let variant =
            |name: &str| pallet.event_variants().expect("events").iter().find(|v| v.name == name).expect("event").index;
        let (ours, other) = (Hotkey::from_seed([1; 32]), Hotkey::from_seed([2; 32]));
        let revealed = |event: &str, index: u16, who: &Hotkey| {
            let fields: Vec<u8> = index.to_le_bytes().into_iter().chain(who.public()).collect();
            record(pallet.event_index(), variant(event), &fields)
        };
        let events = |records: &[Vec<u8>]| -> Vec<u8> {
            let mut out = vec![u8::try_from(records.len() << 2).expect("few records")];
            out.extend(records.concat());
            out
        };
        let found = |bytes: &[u8], mecid: u8, who: &Hotkey| {
            let metadata = load_metadata(&path).expect("metadata");
            weight_reveal_in_events(metadata, bytes.to_vec(), 7, mecid, &who.ss58()).expect("decodes")
        };
        // Another hotkey's reveal on netuid 7, ours on mechanism 1 of netuid 7 (index 4103).
        let block = events(&[
            revealed("TimelockedWeightsRevealed", 7, &other),
            revealed("TimelockedWeightsRevealed", 4096 + 7, &ours),
        ]);
        assert!(!found(&block, 0, &ours), "neither is a reveal of ours on mechanism 0");
        assert!(found(&block, 1, &ours));
        assert!(found(&block, 0, &other));
        // The older runtimes' event, keyed by the netuid.
        assert!(found(&events(&[revealed("CRV3WeightsRevealed", 7, &ours)]), 0, &ours));
        // A block without events (or without a reveal) records none.
        assert!(!found(&[], 0, &ours));
        assert!(!found(&events(&[]), 0, &ours));
    }
}
