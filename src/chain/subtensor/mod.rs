//! [`Chain`](crate::chain::Chain) over a real subtensor node, with subxt's dynamic API (no code generation): the
//! runtime metadata comes from the node at run time.
//!
//! The encoding and decoding are pure functions of a [`Metadata`](subxt::Metadata) in their own files — `calls`
//! ([`set_weights_call_data`], [`set_commitment_call_data`], the storage-key builders, offline
//! signing) and `decode` ([`decode_registration`], reveal events, pallet errors) — so
//! `--dry-run --metadata FILE` and the offline tests use exactly the bytes the online client
//! submits; `client` is the online client ([`SubtensorChain`]) and this file the facade.
//!
//! Connection: a reconnecting websocket client (exponential backoff from 0.5 s up to 30 s,
//! retried for ever) under [`OnlineClient<SubstrateConfig>`](subxt::OnlineClient) (AccountId32, `MultiAddress::Id`, sr25519
//! `MultiSignature`, BLAKE2-256 hashing: what subtensor uses; `PolkadotConfig` would also load
//! Polkadot relay-chain legacy types, which mean nothing here); reads run at the latest finalized
//! block and are retried when the connection drops; every call is bounded by the chain timeout
//! (`NEXIS_CHAIN_TIMEOUT_SEC`), transactions by a longer one (see `SubtensorChain::tx_timeout`).
//!
//! Transaction extensions: subtensor's signed extensions are CheckNonZeroSender,
//! CheckSpecVersion, CheckTxVersion, CheckGenesis, CheckMortality, CheckNonce, CheckWeight,
//! ChargeTransactionPayment, SudoTransactionExtension, (spec ≥ 393) CheckShieldedTxValidity,
//! SubtensorTransactionExtension, DrandPriority and CheckMetadataHash. subxt's default
//! extensions (`SubstrateConfig`'s `DefaultTransactionExtensions`) are looked up by identifier in the metadata, so the
//! node-specific `CheckMortality`/`CheckNonce` types with the standard encoding work, and
//! frame-decode skips every extension whose explicit and implicit data are both zero-sized
//! (CheckNonZeroSender, CheckWeight, SudoTransactionExtension, CheckShieldedTxValidity,
//! SubtensorTransactionExtension, DrandPriority are all empty structs with `()` implicit data).
//! No custom extension code is needed; an extension nexis does not know that carries data
//! makes signing stop with [`ChainError::UnsupportedExtension`](crate::chain::ChainError::UnsupportedExtension) naming it (`extensions`)
//! rather than produce a wrong signature. [`signed_extrinsic_offline`]
//! and its test against both metadata files exercise exactly this path.

mod calls;
mod client;
mod decode;
mod extensions;
mod limits;
mod required;

pub use calls::{
    OfflineSigning, commit_timelocked_weights_call_data, commitment_of_key, decode_metadata, keys_key, load_metadata,
    set_commitment_call_data, set_weights_call_data, signed_extrinsic_offline, uids_key,
};
pub use client::SubtensorChain;
pub use decode::{RegistrationFields, decode_registration, decode_registration_fields, weight_reveal_in_events};
pub use required::{missing_optional, missing_required};
