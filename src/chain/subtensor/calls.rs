//! Call data, storage keys and offline signing: pure functions of the runtime metadata, so
//! `--dry-run --metadata FILE` and the offline tests use exactly the bytes the online client
//! submits.

use subxt::config::substrate::{H256, SpecVersionForRange};
use subxt::config::{SubstrateConfig, SubstrateExtrinsicParamsBuilder};
use subxt::dynamic::Value;
use subxt::ext::frame_decode;
use subxt::{ArcMetadata, Metadata, OfflineClient};

use super::decode::MAX_RAW;
use crate::chain::{ChainError, Hotkey, NetUid, TimelockedCommit, Uid, WeightsCall};

/// Reads a SCALE-encoded `RuntimeMetadataPrefixed` file (what `state_getMetadata` returns).
pub fn load_metadata(path: impl AsRef<std::path::Path>) -> Result<Metadata, ChainError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| ChainError::Invalid(format!("cannot read metadata file {}: {e}", path.display())))?;
    decode_metadata(&bytes).map_err(|e| ChainError::Invalid(format!("metadata file {}: {e}", path.display())))
}

/// Decodes SCALE-encoded `RuntimeMetadataPrefixed` bytes.
pub fn decode_metadata(bytes: &[u8]) -> Result<Metadata, ChainError> {
    Metadata::decode_from(bytes).map_err(|e| ChainError::Decode(format!("not runtime metadata: {e}")))
}

/// Call data (pallet index, call index, arguments) of `SubtensorModule.set_weights`.
pub fn set_weights_call_data(metadata: &Metadata, call: &WeightsCall) -> Result<Vec<u8>, ChainError> {
    if call.uids.len() != call.weights.len() {
        return Err(ChainError::Invalid(format!(
            "{} uids but {} weights; they must pair up",
            call.uids.len(),
            call.weights.len()
        )));
    }
    let args = (call.netuid, call.uids.clone(), call.weights.clone(), call.version_key);
    frame_decode::extrinsics::encode_call_data("SubtensorModule", "set_weights", &args, metadata, metadata.types())
        .map_err(|e| ChainError::Invalid(format!("cannot encode SubtensorModule.set_weights: {e}")))
}

/// Call data of `SubtensorModule.commit_timelocked_mechanism_weights(netuid, mecid, commit,
/// reveal_round, commit_reveal_version)` (pallet 7, call 118).
pub fn commit_timelocked_weights_call_data(
    metadata: &Metadata,
    commit: &TimelockedCommit,
) -> Result<Vec<u8>, ChainError> {
    if commit.commit.len() > crate::chain::commit_reveal::MAX_COMMIT_BYTES {
        return Err(ChainError::Invalid(format!(
            "the commit is {} bytes; the chain takes at most {}",
            commit.commit.len(),
            crate::chain::commit_reveal::MAX_COMMIT_BYTES
        )));
    }
    let args = (commit.netuid, commit.mecid, commit.commit.clone(), commit.reveal_round, commit.version);
    frame_decode::extrinsics::encode_call_data(
        "SubtensorModule",
        "commit_timelocked_mechanism_weights",
        &args,
        metadata,
        metadata.types(),
    )
    .map_err(|e| ChainError::Invalid(format!("cannot encode SubtensorModule.commit_timelocked_mechanism_weights: {e}")))
}

/// Call data of `Commitments.set_commitment(netuid, CommitmentInfo { fields: [Raw{len}(payload)] })`;
/// the 128-character credential payload becomes one `Raw128` field.
pub fn set_commitment_call_data(metadata: &Metadata, netuid: NetUid, payload: &str) -> Result<Vec<u8>, ChainError> {
    let bytes = payload.as_bytes();
    if bytes.len() > MAX_RAW {
        return Err(ChainError::Invalid(format!(
            "commitment payload is {} bytes; a raw commitment field holds at most {MAX_RAW}",
            bytes.len()
        )));
    }
    let field = Value::unnamed_variant(format!("Raw{}", bytes.len()), [Value::from_bytes(bytes)]);
    let info = Value::named_composite([("fields", Value::unnamed_composite([field]))]);
    let args = (netuid, info);
    frame_decode::extrinsics::encode_call_data("Commitments", "set_commitment", &args, metadata, metadata.types())
        .map_err(|e| ChainError::Invalid(format!("cannot encode Commitments.set_commitment: {e}")))
}

fn storage_key(
    metadata: &Metadata,
    pallet: &str,
    entry: &str,
    keys: impl frame_decode::storage::IntoEncodableValues,
) -> Result<Vec<u8>, ChainError> {
    frame_decode::storage::encode_storage_key(pallet, entry, keys, metadata, metadata.types())
        .map_err(|e| ChainError::Invalid(format!("cannot encode the storage key of {pallet}.{entry}: {e}")))
}

/// Storage key of `Commitments.CommitmentOf(netuid, account)`.
pub fn commitment_of_key(metadata: &Metadata, netuid: NetUid, account: [u8; 32]) -> Result<Vec<u8>, ChainError> {
    storage_key(metadata, "Commitments", "CommitmentOf", (netuid, account))
}

/// Storage key of `SubtensorModule.Keys(netuid, uid)` (the hotkey at a uid).
pub fn keys_key(metadata: &Metadata, netuid: NetUid, uid: Uid) -> Result<Vec<u8>, ChainError> {
    storage_key(metadata, "SubtensorModule", "Keys", (netuid, uid))
}

/// Storage key of `SubtensorModule.Uids(netuid, account)` (the uid of a hotkey).
pub fn uids_key(metadata: &Metadata, netuid: NetUid, account: [u8; 32]) -> Result<Vec<u8>, ChainError> {
    storage_key(metadata, "SubtensorModule", "Uids", (netuid, account))
}

/// What signing needs besides the metadata when no node is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineSigning {
    /// Runtime spec version.
    pub spec_version: u32,
    /// Runtime transaction version.
    pub transaction_version: u32,
    /// Genesis block hash.
    pub genesis_hash: [u8; 32],
    /// The signer account's nonce.
    pub nonce: u64,
}

/// A complete signed extrinsic (immortal, no tip) carrying `call_data`, built offline with the
/// same transaction-extension handling the online client uses.
pub fn signed_extrinsic_offline(
    metadata: Metadata,
    call_data: &[u8],
    signer: &Hotkey,
    signing: &OfflineSigning,
) -> Result<Vec<u8>, ChainError> {
    super::extensions::check_extensions(&metadata)?;
    let config = SubstrateConfig::builder()
        .set_genesis_hash(H256(signing.genesis_hash))
        .set_metadata_for_spec_versions([(signing.spec_version, ArcMetadata::new(metadata))])
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: signing.spec_version,
            transaction_version: signing.transaction_version,
        }])
        .build();
    let client = OfflineClient::new_with_config(config);
    let at = client.at_block(0u64).map_err(|e| ChainError::Invalid(format!("offline signing: {e}")))?;
    let txs = at.tx();
    let payload = txs
        .from_call_data_bytes(call_data)
        .map_err(|e| ChainError::Invalid(format!("call data does not decode: {e}")))?;
    let params = SubstrateExtrinsicParamsBuilder::<SubstrateConfig>::new().immortal().nonce(signing.nonce).build();
    let mut signable = txs
        .create_signable_offline(&payload, params)
        .map_err(|e| ChainError::Invalid(format!("cannot build the transaction: {e}")))?;
    let signed = signable
        .sign(signer.keypair())
        .map_err(|e| ChainError::Invalid(format!("cannot sign the transaction: {e}")))?;
    Ok(signed.into_encoded())
}
