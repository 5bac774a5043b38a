//! The embedded chain (`BT_NETWORK=embedded`): a local simulation of the parts of subtensor
//! nexis uses — a block clock driven by wall time, subnets with registered hotkeys,
//! commitments and weights — so a whole subnet can run on one machine with no node.
//!
//! Several processes (a validator and miners in separate terminals) share one directory.
//! An embedded database such as sled allows one process only, so the state is a single
//! JSON document: every operation takes an exclusive OS file lock on `state.lock`, reads
//! `state.json`, and a change is written to a temporary file, synced and renamed over the
//! old one, so no reader ever sees a partial state.
//!
//! Commit-reveal is simulated faithfully (on by default for new subnets, off with
//! [`EmbeddedSettings::commit_reveal`]): the chain has its own beacon key pair, a BLS key
//! created with the chain directory whose public key stands where `Drand.BeaconConfig`
//! would be, with one beacon round per block (round `r` is published when block `r` starts).
//! Timelocked commits are held until their reveal epoch has come and their round is
//! published; then the chain signs the round with its secret key, decrypts the commit, checks
//! the hotkey, version key and uids, and applies the weights — or drops a bad commit
//! silently, exactly like subtensor.
//!
//! Files: this one holds [`EmbeddedChain`] (opening, the owner's controls, the [`Chain`]
//! calls); `settings` how it is opened ([`EmbeddedSettings`], filled by the CLI or the demo:
//! the library reads no environment); `state` the locked JSON state; `rules` the weight rules
//! a client reads and a reveal is checked against; `epochs` the stateful epoch schedule.

use crate::protocol::Block;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod epochs;
mod rules;
mod settings;
mod state;

use rules::{RulesAt, check_weights, last_update_key, rejected, reveal, stake_of, subnet_rules};
pub use settings::{EmbeddedField, EmbeddedSettingError, EmbeddedSettings};
use state::{
    MAX_REVEAL_RECORDS, State, StoredCommitment, StoredReveal, StoredTimelock, Subnet, registered, storage, subnet,
    subnet_mut,
};

use super::commit_reveal::{Beacon, DEFAULT_COMMIT_REVEAL_VERSION, MAX_COMMIT_BYTES};
use super::weight_rules::{Rule, VersionKeyPolicy, evaluate, first_failure, rate_limit_allows};
use super::{
    Chain, ChainError, Hotkey, Metagraph, MinerCommitment, NetUid, Neuron, PendingCommit, ReadCredentials,
    TimelockedCommit, Uid, WeightRules, WeightsCall,
};

/// Most neurons one embedded subnet holds (as a real subnet's max allowed uids).
pub(crate) const MAX_UIDS: usize = 256;

/// Tempo of a new embedded subnet (as on a local subtensor node; finney subnets use 360).
pub(crate) const DEFAULT_TEMPO: u16 = 10;
/// Most unrevealed commits one hotkey may hold (subtensor's `TooManyUnrevealedCommits`).
pub(crate) const MAX_UNREVEALED_COMMITS: usize = 10;

/// The weight-setting parameters of an embedded subnet (subtensor's storage of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WeightParams {
    /// `CommitRevealWeightsEnabled`.
    pub commit_reveal: bool,
    /// `Tempo`: blocks per epoch minus one.
    pub tempo: u16,
    /// `RevealPeriodEpochs`.
    pub reveal_period_epochs: u64,
    /// `WeightsSetRateLimit`, blocks (0: none).
    pub rate_limit: u64,
    /// `WeightsVersionKey`: the lowest version key accepted.
    pub version_key: u64,
    /// `MinAllowedWeights`.
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit` (65535: no limit).
    pub max_weight_limit: u16,
    /// `StakeThreshold`, alpha rao.
    pub stake_threshold: u64,
    /// `MechanismCountCurrent`.
    pub mechanism_count: u8,
    /// `SubnetEpochConsensus` = Null (only the largest-stake validator's weights count).
    pub null_consensus: bool,
    /// Report no stateful schedule to clients, as a runtime without its storage items (spec
    /// 393) would: they then fall back to the modulo formula while the chain still runs the
    /// stateful schedule (tests showing what that fallback gets wrong).
    pub hide_schedule: bool,
}

impl Default for WeightParams {
    fn default() -> Self {
        Self {
            commit_reveal: true,
            tempo: DEFAULT_TEMPO,
            reveal_period_epochs: 1,
            rate_limit: 0,
            version_key: 0,
            min_allowed_weights: 0,
            max_weight_limit: u16::MAX,
            stake_threshold: 0,
            mechanism_count: 1,
            null_consensus: false,
            hide_schedule: false,
        }
    }
}

/// A chain simulation stored in a directory shared by every process that opens it.
#[derive(Debug, Clone)]
pub struct EmbeddedChain {
    dir: PathBuf,
    block_ms: u64,
    /// Whether subnets created by this opener require commit-reveal.
    commit_reveal: bool,
}

impl EmbeddedChain {
    /// Opens (creating when needed) the embedded chain `settings` describe.
    pub fn open(settings: EmbeddedSettings) -> Result<Self, ChainError> {
        let EmbeddedSettings { dir, block_ms, commit_reveal } = settings;
        if block_ms == 0 {
            return Err(ChainError::Invalid("the embedded block time must be at least 1 ms".into()));
        }
        let chain = Self { dir, block_ms, commit_reveal };
        std::fs::create_dir_all(&chain.dir).map_err(|e| storage("cannot create", &chain.dir, e))?;
        chain.transact(|_| Ok(()))?;
        Ok(chain)
    }

    /// Whether subnets this opener creates require commit-reveal (default on).
    pub fn with_commit_reveal(mut self, enabled: bool) -> Self {
        self.commit_reveal = enabled;
        self
    }

    /// The directory holding the chain.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Milliseconds per block.
    pub fn block_ms(&self) -> u64 {
        self.block_ms
    }

    /// Wall-clock time at which `block` starts.
    pub fn timestamp_of(&self, block: u64) -> Result<DateTime<Utc>, ChainError> {
        let genesis = self.transact(|s| Ok(s.genesis_ms))?;
        let ms = genesis.saturating_add(block.saturating_mul(self.block_ms));
        DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            .ok_or_else(|| ChainError::Invalid(format!("block {block} is out of the clock's range")))
    }

    /// Registers `hotkey` on `netuid` (creating the subnet) and returns its uid; a hotkey
    /// already registered keeps its uid.
    pub fn register(&self, netuid: NetUid, hotkey: &str) -> Result<Uid, ChainError> {
        let hotkey = hotkey.trim();
        if hotkey.is_empty() {
            return Err(ChainError::Invalid("cannot register an empty hotkey".into()));
        }
        self.transact(|state| {
            let params = WeightParams { commit_reveal: self.commit_reveal, ..WeightParams::default() };
            let subnet = state.subnets.entry(netuid).or_insert_with(|| Subnet { params, ..Subnet::default() });
            if let Some(uid) = subnet.hotkeys.iter().position(|h| h == hotkey) {
                return Ok(uid as Uid);
            }
            if subnet.hotkeys.len() >= MAX_UIDS {
                return Err(ChainError::Rejected { module_error: "SubtensorModule.TooManyRegistrations".into() });
            }
            subnet.hotkeys.push(hotkey.to_string());
            Ok((subnet.hotkeys.len() - 1) as Uid)
        })
    }

    /// Moves the clock forward by `blocks` (genesis moves back in wall time) and returns
    /// the new current block. Lets tests and demos step through intervals exactly, with a
    /// long block time that keeps the chain still in between.
    pub fn advance(&self, blocks: u64) -> Result<u64, ChainError> {
        self.transact(|state| {
            state.genesis_ms = state.genesis_ms.saturating_sub(blocks.saturating_mul(self.block_ms));
            Ok(self.block_of(state))
        })
    }

    /// Turns commit-reveal weights on or off for `netuid` (tests and demos).
    pub fn set_commit_reveal(&self, netuid: NetUid, enabled: bool) -> Result<(), ChainError> {
        self.transact(|state| {
            state.subnets.entry(netuid).or_default().params.commit_reveal = enabled;
            Ok(())
        })
    }

    /// The weight-setting parameters of `netuid`.
    pub fn weight_params(&self, netuid: NetUid) -> Result<WeightParams, ChainError> {
        self.transact(|state| Ok(subnet(state, netuid)?.params))
    }

    /// Replaces the weight-setting parameters of `netuid` (tests, demos, operators).
    pub fn set_weight_params(&self, netuid: NetUid, params: WeightParams) -> Result<(), ChainError> {
        self.transact(|state| {
            subnet_mut(state, netuid)?.params = params;
            Ok(())
        })
    }

    /// Grants or withdraws `hotkey`'s validator permit on `netuid`.
    pub fn set_validator_permit(&self, netuid: NetUid, hotkey: &str, permit: bool) -> Result<(), ChainError> {
        self.transact(|state| {
            let subnet = subnet_mut(state, netuid)?;
            if permit {
                subnet.no_permit.remove(hotkey);
            } else {
                subnet.no_permit.insert(hotkey.to_string());
            }
            Ok(())
        })
    }

    /// Sets `hotkey`'s stake weight on `netuid` (alpha rao).
    pub fn set_stake(&self, netuid: NetUid, hotkey: &str, rao: u64) -> Result<(), ChainError> {
        self.transact(|state| {
            subnet_mut(state, netuid)?.stake.insert(hotkey.to_string(), rao);
            Ok(())
        })
    }

    /// Makes `hotkey` the subnet owner's hotkey (`SubnetOwnerHotkey`).
    pub fn set_owner_hotkey(&self, netuid: NetUid, hotkey: &str) -> Result<(), ChainError> {
        self.transact(|state| {
            subnet_mut(state, netuid)?.owner = Some(hotkey.to_string());
            Ok(())
        })
    }

    /// Changes `netuid`'s tempo, as the owner's `sudo_set_tempo` does: the epoch count
    /// restarts from the current block (`LastEpochBlock`), so every later epoch moves.
    pub fn set_tempo(&self, netuid: NetUid, tempo: u16) -> Result<(), ChainError> {
        self.transact(|state| {
            let block = self.block_of(state);
            let subnet = subnet_mut(state, netuid)?;
            subnet.params.tempo = tempo;
            let mut s = epochs::schedule_of(subnet, block);
            s.last_epoch_block = block;
            s.blocks_since_last_step = 0;
            subnet.epochs = Some(s);
            state.schedule_revision += 1;
            Ok(())
        })
    }

    /// Triggers an epoch of `netuid` at the next block, as the owner's `trigger_epoch` does
    /// (`PendingEpochAt`).
    pub fn trigger_epoch(&self, netuid: NetUid) -> Result<u64, ChainError> {
        self.transact(|state| {
            let block = self.block_of(state);
            let subnet = subnet_mut(state, netuid)?;
            let mut s = epochs::schedule_of(subnet, block);
            s.pending_epoch_at = block + 1;
            subnet.epochs = Some(s);
            state.schedule_revision += 1;
            Ok(block + 1)
        })
    }

    /// Caps how many subnets' epochs run in one block (`None`: no cap); due epochs beyond the
    /// cap are deferred to later blocks, as subtensor defers them.
    pub fn set_epochs_per_block(&self, cap: Option<u32>) -> Result<(), ChainError> {
        self.transact(|state| {
            state.epochs_per_block = cap;
            Ok(())
        })
    }

    /// The beacon as a client sees it: the public key, round 0 at block 0, one round per block.
    pub fn beacon(&self) -> Result<Beacon, ChainError> {
        self.transact(|state| Ok(self.beacon_of(state)))
    }

    fn beacon_of(&self, state: &State) -> Beacon {
        Beacon {
            public_key: state.beacon().map(|b| b.public_key()).unwrap_or_default(),
            genesis_ms: state.genesis_ms,
            period_ms: self.block_ms,
        }
    }
}

/// The embedded chain's hash of `block`: deterministic (`sha256("nexis-embedded-block:{n}")`),
/// so tests and demos repeat exactly; only a real chain makes it unpredictable.
pub(crate) fn embedded_block_hash(block: u64) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("nexis-embedded-block:{block}").as_bytes()))
}

#[async_trait]
impl Chain for EmbeddedChain {
    fn describe(&self) -> String {
        format!("embedded:{}", self.dir.display())
    }

    async fn current_block(&self) -> Result<u64, ChainError> {
        self.transact(|s| Ok(self.block_of(s)))
    }

    async fn block_timestamp(&self, block: u64) -> Result<Option<DateTime<Utc>>, ChainError> {
        if block > self.current_block().await? {
            return Ok(None);
        }
        self.timestamp_of(block).map(Some)
    }

    async fn block_hash(&self, block: u64) -> Result<Option<String>, ChainError> {
        if block > self.current_block().await? {
            return Ok(None);
        }
        Ok(Some(embedded_block_hash(block)))
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Metagraph, ChainError> {
        self.transact(|s| {
            let block = self.block_of(s);
            let subnet = subnet(s, netuid)?;
            let neurons = subnet
                .hotkeys
                .iter()
                .enumerate()
                .map(|(uid, hotkey)| Neuron {
                    uid: uid as Uid,
                    hotkey: hotkey.clone(),
                    stake: stake_of(subnet, hotkey),
                    validator_permit: Some(!subnet.no_permit.contains(hotkey)),
                })
                .collect();
            Ok(Metagraph { netuid, block, neurons })
        })
    }

    async fn commitments(&self, netuid: NetUid) -> Result<Vec<MinerCommitment>, ChainError> {
        let stored = self.transact(|s| Ok(subnet(s, netuid)?.commitments.clone()))?;
        Ok(stored
            .into_iter()
            .filter_map(|(hotkey, c)| match ReadCredentials::parse(&c.payload) {
                Some(credentials) => Some(MinerCommitment { hotkey, block: Some(c.block), credentials }),
                None => {
                    tracing::debug!(%hotkey, "skipping a commitment that is not valid read credentials");
                    None
                }
            })
            .collect())
    }

    async fn commit(&self, signer: &Hotkey, netuid: NetUid, payload: &str) -> Result<(), ChainError> {
        let hotkey = signer.ss58();
        self.transact(|s| {
            let block = self.block_of(s);
            let subnet = subnet_mut(s, netuid)?;
            registered(subnet, &hotkey, netuid)?;
            subnet.commitments.insert(hotkey.clone(), StoredCommitment { payload: payload.to_string(), block });
            Ok(())
        })
    }

    async fn commit_reveal_enabled(&self, netuid: NetUid) -> Result<bool, ChainError> {
        self.transact(|s| Ok(subnet(s, netuid)?.params.commit_reveal))
    }

    async fn set_weights(&self, signer: &Hotkey, call: &WeightsCall) -> Result<(), ChainError> {
        let hotkey = signer.ss58();
        self.transact(|s| {
            let block = self.block_of(s);
            let beacon = self.beacon_of(s);
            let at = RulesAt { block, block_ms: self.block_ms, beacon: &beacon };
            let subnet = subnet_mut(s, call.netuid)?;
            registered(subnet, &hotkey, call.netuid)?;
            if subnet.params.commit_reveal {
                return Err(ChainError::CommitRevealEnabled { netuid: call.netuid });
            }
            let rules = subnet_rules(subnet, call.netuid, 0, &hotkey, &at);
            let checks = evaluate(&rules, Some(call), VersionKeyPolicy::Own(call.version_key));
            match first_failure(&checks) {
                Some(broken) if broken.rule == Rule::NeuronNoValidatorPermit => {
                    return Err(ChainError::NoValidatorPermit { hotkey: hotkey.clone(), netuid: call.netuid });
                }
                Some(broken) if broken.rule == Rule::SettingWeightsTooFast => {
                    return Err(ChainError::RateLimited("SubtensorModule.SettingWeightsTooFast".into()));
                }
                Some(broken)
                    if matches!(
                        broken.rule,
                        Rule::DuplicateUids | Rule::UidVecContainInvalidOne | Rule::UidsLengthExceedUidsInSubNet
                    ) =>
                {
                    return Err(ChainError::Invalid(broken.to_string()));
                }
                Some(broken) => return Err(rejected(broken.rule.name())),
                None => {}
            }
            let weights = check_weights(subnet, call)?;
            subnet.weights.insert(hotkey.clone(), weights);
            subnet.last_update.insert(hotkey.clone(), block);
            Ok(())
        })
    }

    async fn mechanism_weight_rules(&self, netuid: NetUid, mecid: u8, hotkey: &str) -> Result<WeightRules, ChainError> {
        self.transact(|s| {
            let beacon = self.beacon_of(s);
            let at = RulesAt { block: self.block_of(s), block_ms: self.block_ms, beacon: &beacon };
            Ok(subnet_rules(subnet(s, netuid)?, netuid, mecid, hotkey, &at))
        })
    }

    async fn commit_weights(&self, signer: &Hotkey, commit: &TimelockedCommit) -> Result<(), ChainError> {
        let hotkey = signer.ss58();
        self.transact(|s| {
            let block = self.block_of(s);
            let subnet = subnet_mut(s, commit.netuid)?;
            registered(subnet, &hotkey, commit.netuid)?;
            if !subnet.params.commit_reveal {
                return Err(rejected("CommitRevealDisabled"));
            }
            if commit.version != DEFAULT_COMMIT_REVEAL_VERSION {
                return Err(rejected("IncorrectCommitRevealVersion"));
            }
            if commit.mecid >= subnet.params.mechanism_count {
                return Err(rejected("MechanismDoesNotExist"));
            }
            let key = last_update_key(&hotkey, commit.mecid);
            if commit.commit.len() > MAX_COMMIT_BYTES {
                return Err(ChainError::Invalid(format!(
                    "the commit is {} bytes, over {MAX_COMMIT_BYTES}",
                    commit.commit.len()
                )));
            }
            if rate_limit_allows(subnet.last_update.get(&key).copied(), subnet.params.rate_limit, block).is_err() {
                return Err(ChainError::RateLimited("SubtensorModule.CommittingWeightsTooFast".into()));
            }
            if subnet.pending.iter().filter(|c| c.hotkey == hotkey).count() >= MAX_UNREVEALED_COMMITS {
                return Err(rejected("TooManyUnrevealedCommits"));
            }
            let commit_epoch = epochs::commit_epoch(subnet, block);
            subnet.pending.push(StoredTimelock {
                hotkey: hotkey.clone(),
                mecid: commit.mecid,
                commit_epoch,
                commit_block: block,
                commit: hex::encode(&commit.commit),
                reveal_round: commit.reveal_round,
            });
            subnet.last_update.insert(key, block);
            Ok(())
        })
    }

    async fn pending_commits(&self, netuid: NetUid, hotkey: &str) -> Result<Vec<PendingCommit>, ChainError> {
        self.transact(|s| {
            Ok(subnet(s, netuid)?
                .pending
                .iter()
                .filter(|c| c.hotkey == hotkey)
                .map(|c| PendingCommit {
                    commit_block: c.commit_block,
                    reveal_round: c.reveal_round,
                    commit_len: c.commit.len() / 2,
                })
                .collect())
        })
    }

    async fn weight_reveals(
        &self,
        netuid: NetUid,
        mecid: u8,
        hotkey: &str,
        blocks: RangeInclusive<Block>,
    ) -> Result<Vec<u64>, ChainError> {
        let (from, to) = (blocks.start().get(), blocks.end().get());
        self.transact(|s| {
            Ok(subnet(s, netuid)?
                .reveals
                .iter()
                .filter(|r| r.hotkey == hotkey && r.mecid == mecid && (from..=to).contains(&r.block))
                .map(|r| r.block)
                .collect())
        })
    }

    async fn weights_of(&self, netuid: NetUid, hotkey: &str) -> Result<Vec<(Uid, u16)>, ChainError> {
        self.transact(|s| {
            let subnet = subnet(s, netuid)?;
            registered(subnet, hotkey, netuid)?;
            Ok(subnet.weights.get(hotkey).cloned().unwrap_or_default())
        })
    }
}
