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
//! `NEXIS_EMBEDDED_COMMIT_REVEAL=false`): the chain has its own beacon key pair, a BLS key
//! created with the chain directory whose public key stands where `Drand.BeaconConfig`
//! would be, with one beacon round per block (round `r` is published when block `r` starts).
//! Timelocked commits are held until their reveal epoch has come and their round is
//! published; then the chain signs the round with its secret key, decrypts the commit, checks
//! the hotkey, version key and uids, and applies the weights — or drops a bad commit
//! silently, exactly like subtensor.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod epochs;

use super::commit_reveal::{self, Beacon, BeaconSecret, DEFAULT_COMMIT_REVEAL_VERSION, MAX_COMMIT_BYTES};
use super::schedule::EpochSchedule;
use super::wallet::ss58_decode;
use super::weight_rules::{Rule, SubnetLimits, VersionKeyPolicy, evaluate, first_failure, rate_limit_allows};
use super::{
    Chain, ChainError, Hotkey, Metagraph, MinerCommitment, NetUid, Neuron, PendingCommit, ReadCredentials,
    TimelockedCommit, Uid, WeightRules, WeightsCall,
};

/// `NEXIS_EMBEDDED_BLOCK_MS` when unset: Bittensor's 12-second blocks.
pub(crate) const DEFAULT_BLOCK_MS: u64 = 12_000;
/// Most neurons one embedded subnet holds (as a real subnet's max allowed uids).
pub(crate) const MAX_UIDS: usize = 256;

/// Tempo of a new embedded subnet (as on a local subtensor node; finney subnets use 360).
pub(crate) const DEFAULT_TEMPO: u16 = 10;
/// Most unrevealed commits one hotkey may hold (subtensor's `TooManyUnrevealedCommits`).
pub(crate) const MAX_UNREVEALED_COMMITS: usize = 10;

const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "state.lock";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Wall-clock time of block 0, milliseconds since the Unix epoch.
    genesis_ms: u64,
    subnets: BTreeMap<NetUid, Subnet>,
    /// The beacon's secret key (hex), created with the chain.
    #[serde(default)]
    beacon_secret: SecretHex,
    /// The per-block cap on subnet epochs (`None`: no cap); the rest are deferred.
    #[serde(default)]
    epochs_per_block: Option<u32>,
    /// Counts the owner's schedule changes (so that they are always written).
    #[serde(default)]
    schedule_revision: u64,
}

/// A secret kept in the state file; `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct SecretHex(String);

impl std::fmt::Debug for SecretHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl State {
    fn beacon(&self) -> Option<BeaconSecret> {
        let bytes: [u8; 32] = hex::decode(&self.beacon_secret.0).ok()?.try_into().ok()?;
        Some(BeaconSecret::from_bytes(&bytes))
    }
}

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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Subnet {
    /// Hotkey of each uid (the index).
    hotkeys: Vec<String>,
    /// Latest commitment payload per hotkey, with the block it was written at.
    commitments: BTreeMap<String, StoredCommitment>,
    /// Latest weights per hotkey.
    weights: BTreeMap<String, Vec<(Uid, u16)>>,
    params: WeightParams,
    /// Block of each hotkey's last weights or commit (`LastUpdate`).
    last_update: BTreeMap<String, u64>,
    /// Hotkeys without a validator permit.
    no_permit: BTreeSet<String>,
    /// Stake weight per hotkey (alpha rao; none: 0).
    stake: BTreeMap<String, u64>,
    /// `SubnetOwnerHotkey`.
    owner: Option<String>,
    /// Timelocked commits not revealed yet.
    pending: Vec<StoredTimelock>,
    /// The stateful epoch schedule after the last block run (`None` until first run).
    epochs: Option<EpochSchedule>,
    /// The latest reveals that applied weights, oldest first (at most
    /// [`MAX_REVEAL_RECORDS`]): what subtensor's `TimelockedWeightsRevealed` events record.
    reveals: Vec<StoredReveal>,
}

/// Most reveal records one embedded subnet keeps (older ones are forgotten, as a node
/// prunes old blocks' events).
const MAX_REVEAL_RECORDS: usize = 1024;

/// One timelocked commit revealed and applied: the `TimelockedWeightsRevealed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredReveal {
    hotkey: String,
    mecid: u8,
    /// The block the reveal ran in.
    block: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredTimelock {
    hotkey: String,
    /// The mechanism (absent in older state files: 0).
    #[serde(default)]
    mecid: u8,
    /// The subnet epoch the commit belongs to (its look-ahead epoch).
    #[serde(default)]
    commit_epoch: u64,
    commit_block: u64,
    /// Hex of the encrypted commit.
    commit: String,
    reveal_round: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredCommitment {
    payload: String,
    block: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn storage(context: &str, path: &Path, e: impl std::fmt::Display) -> ChainError {
    ChainError::Storage(format!("{context} {}: {e}", path.display()))
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
    /// Opens (creating when needed) the embedded chain in `dir` with `block_ms`
    /// milliseconds per block. The block time is a property of each opener; processes
    /// sharing a directory should use the same one.
    pub fn open(dir: impl Into<PathBuf>, block_ms: u64) -> Result<Self, ChainError> {
        if block_ms == 0 {
            return Err(ChainError::Invalid("the embedded block time must be at least 1 ms".into()));
        }
        let chain = Self { dir: dir.into(), block_ms, commit_reveal: true };
        std::fs::create_dir_all(&chain.dir).map_err(|e| storage("cannot create", &chain.dir, e))?;
        chain.transact(|_| Ok(()))?;
        Ok(chain)
    }

    /// Opens the chain configured by `NEXIS_EMBEDDED_CHAIN_DIR` (default
    /// `{NEXIS_WORKDIR}/embedded-chain`, with `NEXIS_WORKDIR` defaulting to `nexis` in the
    /// system temporary directory) and `NEXIS_EMBEDDED_BLOCK_MS` (default 12000).
    pub fn from_env() -> Result<Self, ChainError> {
        let chain_dir = std::env::var_os("NEXIS_EMBEDDED_CHAIN_DIR");
        let workdir = std::env::var_os("NEXIS_WORKDIR");
        let block_ms = std::env::var("NEXIS_EMBEDDED_BLOCK_MS").ok();
        let (dir, block_ms) = settings(chain_dir.as_deref(), workdir.as_deref(), block_ms.as_deref())?;
        let commit_reveal = commit_reveal_setting(std::env::var("NEXIS_EMBEDDED_COMMIT_REVEAL").ok().as_deref())?;
        Ok(Self::open(dir, block_ms)?.with_commit_reveal(commit_reveal))
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

    /// Runs `f` on the state under the exclusive lock; a changed state is written back
    /// atomically before the lock is released.
    fn transact<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ChainError>) -> Result<T, ChainError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| storage("cannot open", &lock_path, e))?;
        lock.lock().map_err(|e| storage("cannot lock", &lock_path, e))?;
        let state_path = self.dir.join(STATE_FILE);
        let (mut state, existed) = match std::fs::read(&state_path) {
            Ok(bytes) => (
                serde_json::from_slice::<State>(&bytes).map_err(|e| storage("unreadable state in", &state_path, e))?,
                true,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (State { genesis_ms: now_ms(), ..State::default() }, false)
            }
            Err(e) => return Err(storage("cannot read", &state_path, e)),
        };
        let before = serde_json::to_vec(&state).map_err(|e| ChainError::Storage(e.to_string()))?;
        if state.beacon().is_none() {
            state.beacon_secret = SecretHex(hex::encode(BeaconSecret::generate().to_bytes()));
        }
        let stored_epochs: Vec<_> = state.subnets.values().map(|s| s.epochs).collect();
        self.run_blocks(&mut state);
        let out = f(&mut state)?;
        let after = serde_json::to_vec(&state).map_err(|e| ChainError::Storage(e.to_string()))?;
        // Epochs that only moved with the clock replay the same from the stored state, so
        // they are not worth a synced write on every call (an owner's schedule change bumps
        // `schedule_revision` and is written).
        let mut unmoved = state.clone();
        for (s, e) in unmoved.subnets.values_mut().zip(stored_epochs) {
            s.epochs = e;
        }
        let only_clock = serde_json::to_vec(&unmoved).map_err(|e| ChainError::Storage(e.to_string()))? == before;
        if !existed || (before != after && !only_clock) {
            self.write_state(&state_path, &after)?;
        }
        // Dropping `lock` closes the file and releases the lock.
        drop(lock);
        Ok(out)
    }

    fn write_state(&self, path: &Path, bytes: &[u8]) -> Result<(), ChainError> {
        let tmp = self.dir.join(format!("{STATE_FILE}.{}.tmp", std::process::id()));
        let mut file = File::create(&tmp).map_err(|e| storage("cannot create", &tmp, e))?;
        file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| storage("cannot write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| storage("cannot replace", path, e))?;
        // Make the rename itself durable; a directory that cannot be synced is not an error.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn block_of(&self, state: &State) -> u64 {
        now_ms().saturating_sub(state.genesis_ms) / self.block_ms
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

/// Where a subnet's rules are read: the block, the block time and the beacon.
struct RulesAt<'a> {
    block: u64,
    block_ms: u64,
    beacon: &'a Beacon,
}

/// `hotkey`'s [`WeightRules`] on `subnet` for mechanism `mecid`.
fn subnet_rules(subnet: &Subnet, netuid: NetUid, mecid: u8, hotkey: &str, at: &RulesAt<'_>) -> WeightRules {
    let uid = subnet.hotkeys.iter().position(|h| h == hotkey).map(|u| u as Uid);
    let p = &subnet.params;
    let owner_uid = subnet.owner.as_ref().and_then(|o| subnet.hotkeys.iter().position(|h| h == o)).map(|u| u as Uid);
    let limits = SubnetLimits {
        mecid,
        storage_index: super::weight_rules::mechanism_storage_index(netuid, mecid).unwrap_or(u16::MAX),
        mechanism_count: p.mechanism_count,
        stake_threshold: p.stake_threshold,
        stake: uid.and_then(|_| stake_of(subnet, hotkey)),
        owner_uid,
        consensus: if p.null_consensus {
            super::weight_rules::EpochConsensus::Null
        } else {
            super::weight_rules::EpochConsensus::Yuma
        },
        permit_holders: subnet.hotkeys.iter().filter(|h| !subnet.no_permit.contains(*h)).count() as u16,
    };
    WeightRules {
        block: at.block,
        now_ms: now_ms(),
        block_time_ms: at.block_ms,
        commit_reveal: p.commit_reveal,
        commit_reveal_version: DEFAULT_COMMIT_REVEAL_VERSION,
        rate_limit: p.rate_limit,
        version_key: p.version_key,
        tempo: p.tempo,
        reveal_period_epochs: p.reveal_period_epochs,
        uid,
        last_update: uid.map(|_| subnet.last_update.get(&last_update_key(hotkey, mecid)).copied().unwrap_or(0)),
        validator_permit: uid.map(|_| !subnet.no_permit.contains(hotkey)),
        beacon: at.beacon.clone(),
        epoch_schedule: (!p.hide_schedule).then(|| epochs::schedule_of(subnet, at.block)),
        min_allowed_weights: p.min_allowed_weights,
        max_weight_limit: p.max_weight_limit,
        subnet_n: u16::try_from(subnet.hotkeys.len()).unwrap_or(u16::MAX),
        limits,
    }
}

/// `hotkey`'s stake weight: `None` while no stake was ever set on the subnet (the embedded
/// chain then does not model stake), else the set value or 0.
fn stake_of(subnet: &Subnet, hotkey: &str) -> Option<u64> {
    (!subnet.stake.is_empty()).then(|| subnet.stake.get(hotkey).copied().unwrap_or(0))
}

/// The `last_update` entry of `hotkey` for mechanism `mecid` (mechanism 0: the hotkey).
fn last_update_key(hotkey: &str, mecid: u8) -> String {
    if mecid == 0 { hotkey.to_string() } else { format!("{mecid}/{hotkey}") }
}

/// Decrypts one commit with its round signature and checks it as subtensor does at reveal:
/// the payload's hotkey, then every rule of `internal_set_weights` (the rate limit aside,
/// which commit-reveal subnets apply at commit time).
fn reveal(
    subnet: &Subnet,
    netuid: NetUid,
    c: &StoredTimelock,
    signature: &[u8],
    at: &RulesAt<'_>,
) -> Result<Vec<(Uid, u16)>, String> {
    let bytes = hex::decode(&c.commit).map_err(|e| e.to_string())?;
    let payload = commit_reveal::decrypt_payload(&bytes, signature).map_err(|e| e.to_string())?;
    let committer = ss58_decode(&c.hotkey).map_err(|e| e.to_string())?;
    if payload.hotkey != committer {
        return Err("the payload's hotkey is not the committer".into());
    }
    let call = WeightsCall { netuid, uids: payload.uids, weights: payload.values, version_key: payload.version_key };
    let rules = subnet_rules(subnet, netuid, c.mecid, &c.hotkey, at);
    let checks = evaluate(&rules, Some(&call), VersionKeyPolicy::Own(call.version_key));
    let at_reveal: Vec<_> = checks.into_iter().filter(|c| c.rule != Rule::SettingWeightsTooFast).collect();
    if let Some(broken) = first_failure(&at_reveal) {
        return Err(broken.to_string());
    }
    check_weights(subnet, &call).map_err(|e| e.to_string())
}

/// Parses `NEXIS_EMBEDDED_COMMIT_REVEAL` (unset or blank: on).
pub(crate) fn commit_reveal_setting(value: Option<&str>) -> Result<bool, ChainError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("true") | Some("1") | Some("on") | Some("yes") => Ok(true),
        Some("false") | Some("0") | Some("off") | Some("no") => Ok(false),
        Some(other) => {
            Err(ChainError::Invalid(format!("NEXIS_EMBEDDED_COMMIT_REVEAL must be true or false, is {other:?}")))
        }
    }
}

fn rejected(name: &str) -> ChainError {
    ChainError::Rejected { module_error: format!("SubtensorModule.{name}") }
}

/// The directory and block time from raw setting values (unset or blank means the
/// default): `NEXIS_EMBEDDED_CHAIN_DIR`, `NEXIS_WORKDIR`, `NEXIS_EMBEDDED_BLOCK_MS`.
pub fn settings(
    chain_dir: Option<&OsStr>,
    workdir: Option<&OsStr>,
    block_ms: Option<&str>,
) -> Result<(PathBuf, u64), ChainError> {
    let set = |v: Option<&OsStr>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = set(chain_dir)
        .unwrap_or_else(|| set(workdir).unwrap_or_else(crate::config::default_workdir).join("embedded-chain"));
    let block_ms = match block_ms.map(str::trim).filter(|v| !v.is_empty()) {
        None => DEFAULT_BLOCK_MS,
        Some(v) => v.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
            ChainError::Invalid(format!(
                "NEXIS_EMBEDDED_BLOCK_MS must be a whole number of milliseconds above 0, is {v:?}"
            ))
        })?,
    };
    Ok((dir, block_ms))
}

fn subnet(state: &State, netuid: NetUid) -> Result<&Subnet, ChainError> {
    state.subnets.get(&netuid).ok_or(ChainError::NoSuchSubnet(netuid))
}

fn subnet_mut(state: &mut State, netuid: NetUid) -> Result<&mut Subnet, ChainError> {
    state.subnets.get_mut(&netuid).ok_or(ChainError::NoSuchSubnet(netuid))
}

fn registered(subnet: &Subnet, hotkey: &str, netuid: NetUid) -> Result<Uid, ChainError> {
    subnet
        .hotkeys
        .iter()
        .position(|h| h == hotkey)
        .map(|uid| uid as Uid)
        .ok_or_else(|| ChainError::NotRegistered { hotkey: hotkey.to_string(), netuid })
}

fn check_weights(subnet: &Subnet, call: &WeightsCall) -> Result<Vec<(Uid, u16)>, ChainError> {
    if call.uids.len() != call.weights.len() {
        return Err(ChainError::Invalid(format!("{} uids but {} weights", call.uids.len(), call.weights.len())));
    }
    let mut seen = std::collections::BTreeSet::new();
    for &uid in &call.uids {
        if usize::from(uid) >= subnet.hotkeys.len() {
            return Err(ChainError::Invalid(format!("uid {uid} is not registered on netuid {}", call.netuid)));
        }
        if !seen.insert(uid) {
            return Err(ChainError::Invalid(format!("uid {uid} appears twice")));
        }
    }
    Ok(call.uids.iter().copied().zip(call.weights.iter().copied()).filter(|(_, w)| *w > 0).collect())
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
        from: u64,
        to: u64,
    ) -> Result<Vec<u64>, ChainError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_and_refusals() {
        let (dir, ms) = settings(None, None, None).expect("defaults");
        assert_eq!((dir, ms), (crate::config::default_workdir().join("embedded-chain"), DEFAULT_BLOCK_MS));
        let (dir, ms) = settings(Some(OsStr::new("")), Some(OsStr::new("/w")), Some(" 20 ")).expect("workdir");
        assert_eq!((dir, ms), (PathBuf::from("/w/embedded-chain"), 20));
        let (dir, _) = settings(Some(OsStr::new("/c")), Some(OsStr::new("/w")), None).expect("explicit dir");
        assert_eq!(dir, PathBuf::from("/c"));
        for bad in ["0", "-5", "12s"] {
            let err = settings(None, None, Some(bad)).expect_err(bad);
            assert!(err.to_string().contains("NEXIS_EMBEDDED_BLOCK_MS"), "{err}");
        }
    }

    #[test]
    fn a_corrupt_state_file_is_a_clear_storage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chain = EmbeddedChain::open(dir.path(), 20).expect("open");
        std::fs::write(dir.path().join(STATE_FILE), "{\"genesis_ms\": 1, \"subn").expect("write");
        let err = chain.register(1, "hotkey").expect_err("corrupt state");
        assert!(matches!(err, ChainError::Storage(_)) && err.to_string().contains(STATE_FILE), "{err}");
    }
}
