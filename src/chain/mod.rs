//! The Bittensor chain behind one [`Chain`] trait: block clock, metagraph, miner
//! commitments (read credentials, protocol §4) and weights (protocol §3, §11).
//!
//! Implementations: [`subtensor`] (a real node over subxt's dynamic API) and [`embedded`]
//! (a local chain simulation shared by several processes through one directory). Wallet
//! keyfiles live in [`wallet`], the credential payload codec in [`commitment`], and the
//! u16 encoding of a weight vector in [`weight_encoding`] (scoring is the validator's).

pub mod commit_reveal;
pub mod commitment;
pub mod conform;
pub mod embedded;
pub(crate) mod keyfile;
pub mod network;
pub mod schedule;
pub mod subtensor;
pub mod wallet;
pub mod weight_encoding;
pub mod weight_rules;

use crate::protocol::Block;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::ops::RangeInclusive;

pub use commit_reveal::Beacon;
pub use commitment::ReadCredentials;
pub use wallet::Hotkey;

/// A subnet id.
pub type NetUid = u16;
/// A neuron's uid within a subnet.
pub type Uid = u16;

/// One registered neuron of a subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    /// The neuron's uid.
    pub uid: Uid,
    /// SS58 (prefix 42) hotkey address.
    pub hotkey: String,
    /// The stake weight the chain counts for weights, when the implementation knows it:
    /// alpha stake plus `TaoWeight` × root stake, after child/parent delegation, in alpha
    /// rao (10⁻⁹ alpha; see [`weight_rules::stake`]).
    pub stake: Option<u64>,
    /// Whether the neuron holds a validator permit, when known.
    pub validator_permit: Option<bool>,
}

/// The subnet's neurons at some block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metagraph {
    /// The subnet id.
    pub netuid: NetUid,
    /// The block the metagraph was read at.
    pub block: u64,
    /// Sorted by uid.
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    /// The uid of `hotkey`, if registered.
    pub fn uid_of(&self, hotkey: &str) -> Option<Uid> {
        self.neurons.iter().find(|n| n.hotkey == hotkey).map(|n| n.uid)
    }
}

/// A miner's decoded on-chain commitment.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerCommitment {
    /// SS58 hotkey that committed.
    pub hotkey: String,
    /// Block at which the commitment was written, when known.
    pub block: Option<u64>,
    /// The R2 read credentials the miner committed (protocol §3).
    pub credentials: ReadCredentials,
}

/// A weight vector ready for the chain: parallel uid and u16 weight lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeightsCall {
    /// The subnet id.
    pub netuid: NetUid,
    /// Neuron uids, parallel to `weights`.
    pub uids: Vec<Uid>,
    /// u16-normalised weights, parallel to `uids`.
    pub weights: Vec<u16>,
    /// Weights version key sent with the call.
    pub version_key: u64,
}

/// A timelocked weights commit (`commit_timelocked_mechanism_weights`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelockedCommit {
    /// The subnet id.
    pub netuid: NetUid,
    /// The mechanism the weights are for (0: the main one).
    pub mecid: u8,
    /// The encrypted `WeightsTlockPayload` (see [`commit_reveal`]).
    pub commit: Vec<u8>,
    /// The drand round whose signature decrypts `commit`.
    pub reveal_round: u64,
    /// `SubtensorModule.CommitRevealWeightsVersion`.
    pub version: u16,
}

/// What the chain says about weight setting on a subnet, for one hotkey.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightRules {
    /// The block these values were read at.
    pub block: u64,
    /// The wall clock the chain's block times refer to, Unix milliseconds.
    pub now_ms: u64,
    /// Milliseconds per block.
    pub block_time_ms: u64,
    /// `CommitRevealWeightsEnabled[netuid]`.
    pub commit_reveal: bool,
    /// `CommitRevealWeightsVersion`.
    pub commit_reveal_version: u16,
    /// `WeightsSetRateLimit[netuid]`, blocks.
    pub rate_limit: u64,
    /// `WeightsVersionKey[netuid]`: the lowest version key the chain accepts.
    pub version_key: u64,
    /// `Tempo[netuid]`.
    pub tempo: u16,
    /// `RevealPeriodEpochs[netuid]`.
    pub reveal_period_epochs: u64,
    /// The hotkey's uid, `None` when not registered.
    pub uid: Option<Uid>,
    /// `LastUpdate[netuid][uid]`: the block of the hotkey's last weights or commit.
    pub last_update: Option<u64>,
    /// `ValidatorPermit[netuid][uid]`, when known.
    pub validator_permit: Option<bool>,
    /// The drand beacon (`Drand.BeaconConfig`, quicknet when absent).
    pub beacon: Beacon,
    /// The stateful epoch schedule read at `block`, `None` when the runtime lacks it (the
    /// modulo formula applies; see [`schedule`]).
    pub epoch_schedule: Option<schedule::EpochSchedule>,
    /// `MinAllowedWeights[netuid]`: non-zero weights a vector must have (a lone self-weight is
    /// exempt).
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit[netuid]`: the largest share of the total one weight may have, of 65535.
    pub max_weight_limit: u16,
    /// `SubnetworkN[netuid]`: registered neurons (the chain requires at most this many
    /// weights, and `MinAllowedWeights` only up to it).
    pub subnet_n: u16,
    /// The subnet's other weight limits and the hotkey's stake and standing.
    pub limits: weight_rules::SubnetLimits,
}

/// A timelocked commit the chain holds and has not revealed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommit {
    /// Block the commit was made at.
    pub commit_block: u64,
    /// The drand round whose signature reveals the commit.
    pub reveal_round: u64,
    /// Size of the encrypted commit.
    pub commit_len: usize,
}

/// Errors from any chain implementation. Messages say what to do where possible.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The runtime asks signers for a transaction extension that carries data nexis does not
    /// know how to supply; signing would fail at the node or sign the wrong payload.
    #[error(
        "the runtime requires the transaction extension {identifier}, which carries data nexis cannot supply; \
         upgrade nexis for this runtime"
    )]
    UnsupportedExtension {
        /// The extension's identifier in the runtime metadata.
        identifier: String,
    },
    /// The websocket endpoint cannot be reached.
    #[error("chain endpoint {endpoint} is unreachable: {reason}")]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// The connection error.
        reason: String,
    },
    /// A chain call did not finish in time (`NEXIS_CHAIN_TIMEOUT_SEC`).
    #[error("chain call {what} timed out after {secs} s")]
    Timeout {
        /// The call that timed out.
        what: String,
        /// The timeout, seconds.
        secs: u64,
    },
    /// The runtime refused the extrinsic.
    #[error("the chain rejected the call: {module_error}")]
    Rejected {
        /// The runtime's module error, e.g. `SubtensorModule.NotEnoughStake`.
        module_error: String,
    },
    /// The chain rate-limited the call.
    #[error("rate limited by the chain: {0}")]
    RateLimited(String),
    /// The hotkey has no uid on the subnet.
    #[error("hotkey {hotkey} is not registered on netuid {netuid}; register it first")]
    NotRegistered {
        /// SS58 hotkey.
        hotkey: String,
        /// The subnet id.
        netuid: NetUid,
    },
    /// Plain `set_weights` on a subnet with commit-reveal on.
    #[error(
        "subnet {netuid} has commit-reveal weights enabled (SubtensorModule.CommitRevealEnabled); plain \
         set_weights is refused there, commit timelocked weights instead"
    )]
    CommitRevealEnabled {
        /// The subnet id.
        netuid: NetUid,
    },
    /// The weights rate limit has not passed yet.
    #[error(
        "SubtensorModule.SettingWeightsTooFast: weights were last set at block {last_update} and \
         WeightsSetRateLimit is {limit} blocks; the next try is allowed at block {next_block}"
    )]
    WeightsTooFast {
        /// `WeightsSetRateLimit`, blocks.
        limit: u64,
        /// Block of the hotkey's last weights.
        last_update: u64,
        /// First block a new try is allowed at.
        next_block: u64,
    },
    /// The hotkey has no validator permit on the subnet.
    #[error(
        "SubtensorModule.NeuronNoValidatorPermit: hotkey {hotkey} has no validator permit on netuid \
         {netuid}; the chain would drop its weights. Stake more so the subnet grants a permit"
    )]
    NoValidatorPermit {
        /// SS58 hotkey.
        hotkey: String,
        /// The subnet id.
        netuid: NetUid,
    },
    /// The weights would break a rule the chain enforces (refused, or dropped at reveal).
    #[error("{0}")]
    Rule(weight_rules::WeightRuleError),
    /// The subnet does not exist.
    #[error("subnet {0} does not exist")]
    NoSuchSubnet(NetUid),
    /// Chain data did not decode as expected.
    #[error("unexpected chain data: {0}")]
    Decode(String),
    /// The request is invalid before reaching the chain.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The embedded chain's state file failed.
    #[error("embedded chain storage: {0}")]
    Storage(String),
}

/// Everything nexis does on the chain.
#[async_trait]
pub trait Chain: Send + Sync {
    /// A short human name of where this chain is (network name or endpoint).
    fn describe(&self) -> String;

    /// The current (best) block number.
    async fn current_block(&self) -> Result<u64, ChainError>;

    /// The timestamp of `block` (`Timestamp.Now` at that block), or `None` when the chain
    /// cannot tell (a pruned or future block).
    async fn block_timestamp(&self, block: u64) -> Result<Option<DateTime<Utc>>, ChainError>;

    /// The lowercase hex hash (no `0x`) of `block`, or `None` when the chain has no such
    /// block yet (or no longer keeps it). Seeds the unpredictable extra samples (§9 rev. 2).
    async fn block_hash(&self, block: u64) -> Result<Option<String>, ChainError>;

    /// The subnet's neurons.
    async fn metagraph(&self, netuid: NetUid) -> Result<Metagraph, ChainError>;

    /// Every decodable miner commitment of the subnet; invalid ones are skipped (debug log).
    async fn commitments(&self, netuid: NetUid) -> Result<Vec<MinerCommitment>, ChainError>;

    /// Writes `payload` (a protocol §4 credential string) as the signer's commitment.
    async fn commit(&self, signer: &Hotkey, netuid: NetUid, payload: &str) -> Result<(), ChainError>;

    /// Whether the subnet requires commit-reveal for weights.
    async fn commit_reveal_enabled(&self, netuid: NetUid) -> Result<bool, ChainError>;

    /// Sets weights signed by `signer`. Fails with [`ChainError::CommitRevealEnabled`] when
    /// the subnet requires commit-reveal.
    async fn set_weights(&self, signer: &Hotkey, call: &WeightsCall) -> Result<(), ChainError>;

    /// The weights `hotkey` last set on the subnet, as (uid, u16 weight) pairs.
    async fn weights_of(&self, netuid: NetUid, hotkey: &str) -> Result<Vec<(Uid, u16)>, ChainError>;

    /// The subnet's weight-setting rules and `hotkey`'s standing under them, for mechanism 0.
    async fn weight_rules(&self, netuid: NetUid, hotkey: &str) -> Result<WeightRules, ChainError> {
        self.mechanism_weight_rules(netuid, 0, hotkey).await
    }

    /// The weight-setting rules of mechanism `mecid` of the subnet and `hotkey`'s standing
    /// under them (`LastUpdate` read at the mechanism's storage index).
    async fn mechanism_weight_rules(&self, netuid: NetUid, mecid: u8, hotkey: &str) -> Result<WeightRules, ChainError>;

    /// Submits a timelocked weights commit signed by `signer`.
    async fn commit_weights(&self, signer: &Hotkey, commit: &TimelockedCommit) -> Result<(), ChainError>;

    /// The commits of `hotkey` the chain holds unrevealed (`TimelockedWeightCommits`).
    async fn pending_commits(&self, netuid: NetUid, hotkey: &str) -> Result<Vec<PendingCommit>, ChainError>;

    /// The blocks in `blocks`, ascending, at which the chain revealed a timelocked weights
    /// commit of `hotkey` for mechanism `mecid` of the subnet and applied its weights: the
    /// chain's own record of each reveal (`SubtensorModule.TimelockedWeightsRevealed`, or
    /// `CRV3WeightsRevealed` on older runtimes). A commit dropped at reveal leaves no record,
    /// and neither `Weights` (unchanged when the dropped weights equal the previous ones) nor
    /// `LastUpdate` (not moved by a reveal on commit-reveal subnets of 2026 runtimes) can tell
    /// a reveal from a drop. Reads every block of the range: keep it short.
    async fn weight_reveals(
        &self,
        netuid: NetUid,
        mecid: u8,
        hotkey: &str,
        blocks: RangeInclusive<Block>,
    ) -> Result<Vec<u64>, ChainError>;
}
