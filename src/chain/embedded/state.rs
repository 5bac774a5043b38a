//! The embedded chain's state: one JSON document (`state.json`) per chain directory, read
//! and written under an exclusive lock on `state.lock` ([`EmbeddedChain::transact`]), with
//! the subnets, their registrations, commitments, weights and pending timelocked commits.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{EmbeddedChain, WeightParams};
use crate::chain::commit_reveal::BeaconSecret;
use crate::chain::schedule::EpochSchedule;
use crate::chain::{ChainError, NetUid, Uid};

pub(super) const STATE_FILE: &str = "state.json";
pub(super) const LOCK_FILE: &str = "state.lock";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct State {
    /// Wall-clock time of block 0, milliseconds since the Unix epoch.
    pub(super) genesis_ms: u64,
    pub(super) subnets: BTreeMap<NetUid, Subnet>,
    /// The beacon's secret key (hex), created with the chain.
    #[serde(default)]
    pub(super) beacon_secret: SecretHex,
    /// The per-block cap on subnet epochs (`None`: no cap); the rest are deferred.
    #[serde(default)]
    pub(super) epochs_per_block: Option<u32>,
    /// Counts the owner's schedule changes (so that they are always written).
    #[serde(default)]
    pub(super) schedule_revision: u64,
}

/// A secret kept in the state file; `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct SecretHex(pub(super) String);

impl std::fmt::Debug for SecretHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl State {
    pub(super) fn beacon(&self) -> Option<BeaconSecret> {
        let bytes: [u8; 32] = hex::decode(&self.beacon_secret.0).ok()?.try_into().ok()?;
        Some(BeaconSecret::from_bytes(&bytes))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Subnet {
    /// Hotkey of each uid (the index).
    pub(super) hotkeys: Vec<String>,
    /// Latest commitment payload per hotkey, with the block it was written at.
    pub(super) commitments: BTreeMap<String, StoredCommitment>,
    /// Latest weights per hotkey.
    pub(super) weights: BTreeMap<String, Vec<(Uid, u16)>>,
    pub(super) params: WeightParams,
    /// Block of each hotkey's last weights or commit (`LastUpdate`).
    pub(super) last_update: BTreeMap<String, u64>,
    /// Hotkeys without a validator permit.
    pub(super) no_permit: BTreeSet<String>,
    /// Stake weight per hotkey (alpha rao; none: 0).
    pub(super) stake: BTreeMap<String, u64>,
    /// `SubnetOwnerHotkey`.
    pub(super) owner: Option<String>,
    /// Timelocked commits not revealed yet.
    pub(super) pending: Vec<StoredTimelock>,
    /// The stateful epoch schedule after the last block run (`None` until first run).
    pub(super) epochs: Option<EpochSchedule>,
    /// The latest reveals that applied weights, oldest first (at most
    /// [`MAX_REVEAL_RECORDS`]): what subtensor's `TimelockedWeightsRevealed` events record.
    pub(super) reveals: Vec<StoredReveal>,
}

/// Most reveal records one embedded subnet keeps (older ones are forgotten, as a node
/// prunes old blocks' events).
pub(super) const MAX_REVEAL_RECORDS: usize = 1024;

/// One timelocked commit revealed and applied: the `TimelockedWeightsRevealed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredReveal {
    pub(super) hotkey: String,
    pub(super) mecid: u8,
    /// The block the reveal ran in.
    pub(super) block: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredTimelock {
    pub(super) hotkey: String,
    /// The mechanism (absent in older state files: 0).
    #[serde(default)]
    pub(super) mecid: u8,
    /// The subnet epoch the commit belongs to (its look-ahead epoch).
    #[serde(default)]
    pub(super) commit_epoch: u64,
    pub(super) commit_block: u64,
    /// Hex of the encrypted commit.
    pub(super) commit: String,
    pub(super) reveal_round: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredCommitment {
    pub(super) payload: String,
    pub(super) block: u64,
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub(super) fn storage(context: &str, path: &Path, e: impl std::fmt::Display) -> ChainError {
    ChainError::Storage(format!("{context} {}: {e}", path.display()))
}

impl EmbeddedChain {
    /// Runs `f` on the state under the exclusive lock; a changed state is written back
    /// atomically before the lock is released.
    pub(super) fn transact<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ChainError>) -> Result<T, ChainError> {
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

    pub(super) fn write_state(&self, path: &Path, bytes: &[u8]) -> Result<(), ChainError> {
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

    pub(super) fn block_of(&self, state: &State) -> u64 {
        now_ms().saturating_sub(state.genesis_ms) / self.block_ms
    }
}

pub(super) fn subnet(state: &State, netuid: NetUid) -> Result<&Subnet, ChainError> {
    state.subnets.get(&netuid).ok_or(ChainError::NoSuchSubnet(netuid))
}

pub(super) fn subnet_mut(state: &mut State, netuid: NetUid) -> Result<&mut Subnet, ChainError> {
    state.subnets.get_mut(&netuid).ok_or(ChainError::NoSuchSubnet(netuid))
}

pub(super) fn registered(subnet: &Subnet, hotkey: &str, netuid: NetUid) -> Result<Uid, ChainError> {
    subnet
        .hotkeys
        .iter()
        .position(|h| h == hotkey)
        .map(|uid| uid as Uid)
        .ok_or_else(|| ChainError::NotRegistered { hotkey: hotkey.to_string(), netuid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::embedded::{EmbeddedChain, EmbeddedSettings};

    #[test]
    fn a_corrupt_state_file_is_a_clear_storage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chain = EmbeddedChain::open(EmbeddedSettings::new(dir.path(), 20)).expect("open");
        std::fs::write(dir.path().join(STATE_FILE), "{\"genesis_ms\": 1, \"subn").expect("write");
        let err = chain.register(1, "hotkey").expect_err("corrupt state");
        assert!(matches!(err, ChainError::Storage(_)) && err.to_string().contains(STATE_FILE), "{err}");
    }
}
