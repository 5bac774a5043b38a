//! The embedded chain (`BT_NETWORK=embedded`): a local simulation of the parts of subtensor
//! nexis uses — a block clock driven by wall time, subnets with registered hotkeys,
//! commitments and weights — so a whole subnet can run on one machine with no node.
//!
//! Several processes (a validator and miners in separate terminals) share one directory.
//! An embedded database such as sled allows one process only, so the state is a single
//! JSON document: every operation takes an exclusive OS file lock on `state.lock`, reads
//! `state.json`, and a change is written to a temporary file, synced and renamed over the
//! old one, so no reader ever sees a partial state.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Chain, ChainError, Hotkey, Metagraph, MinerCommitment, NetUid, Neuron, ReadCredentials, Uid, WeightsCall};

/// `NEXIS_EMBEDDED_BLOCK_MS` when unset: Bittensor's 12-second blocks.
pub const DEFAULT_BLOCK_MS: u64 = 12_000;
/// Most neurons one embedded subnet holds (as a real subnet's max allowed uids).
pub const MAX_UIDS: usize = 256;

const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "state.lock";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Wall-clock time of block 0, milliseconds since the Unix epoch.
    genesis_ms: u64,
    subnets: BTreeMap<NetUid, Subnet>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Subnet {
    /// Hotkey of each uid (the index).
    hotkeys: Vec<String>,
    /// Latest commitment payload per hotkey, with the block it was written at.
    commitments: BTreeMap<String, StoredCommitment>,
    /// Latest weights per hotkey.
    weights: BTreeMap<String, Vec<(Uid, u16)>>,
    commit_reveal: bool,
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
}

impl EmbeddedChain {
    /// Opens (creating when needed) the embedded chain in `dir` with `block_ms`
    /// milliseconds per block. The block time is a property of each opener; processes
    /// sharing a directory should use the same one.
    pub fn open(dir: impl Into<PathBuf>, block_ms: u64) -> Result<Self, ChainError> {
        if block_ms == 0 {
            return Err(ChainError::Invalid("the embedded block time must be at least 1 ms".into()));
        }
        let chain = Self { dir: dir.into(), block_ms };
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
        Self::open(dir, block_ms)
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
        let out = f(&mut state)?;
        let after = serde_json::to_vec(&state).map_err(|e| ChainError::Storage(e.to_string()))?;
        if !existed || before != after {
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
            let subnet = state.subnets.entry(netuid).or_default();
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
            state.subnets.entry(netuid).or_default().commit_reveal = enabled;
            Ok(())
        })
    }
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
pub fn embedded_block_hash(block: u64) -> String {
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
            let neurons = subnet(s, netuid)?
                .hotkeys
                .iter()
                .enumerate()
                .map(|(uid, hotkey)| Neuron {
                    uid: uid as Uid,
                    hotkey: hotkey.clone(),
                    stake: None,
                    validator_permit: Some(true),
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
        self.transact(|s| Ok(subnet(s, netuid)?.commit_reveal))
    }

    async fn set_weights(&self, signer: &Hotkey, call: &WeightsCall) -> Result<(), ChainError> {
        let hotkey = signer.ss58();
        self.transact(|s| {
            let subnet = subnet_mut(s, call.netuid)?;
            registered(subnet, &hotkey, call.netuid)?;
            if subnet.commit_reveal {
                return Err(ChainError::CommitRevealEnabled { netuid: call.netuid });
            }
            let weights = check_weights(subnet, call)?;
            subnet.weights.insert(hotkey.clone(), weights);
            Ok(())
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
