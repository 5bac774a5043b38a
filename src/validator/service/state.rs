//! The validator's durable state in one sled database under the work directory: the last
//! finished interval, every decision, weight submissions and the overlap index. An
//! interval's decisions, its new index entries and the "finished" mark are written by one
//! atomic batch and flushed before the interval counts as done, so a crash at any moment
//! neither loses a finished interval nor records one twice.

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional;

use crate::index::fingerprints::FingerprintIndex;
use crate::index::overlap::OverlapIndex;
use crate::model::Decision;
use crate::protocol::{Epoch, IntervalId, PackageKey};
use crate::validator::interval::IntervalRecord;
use crate::validator::scoring::ScoredDecision;

const LAST_FINISHED: &[u8] = b"meta/last_finished_interval";
const LAST_WEIGHT_EPOCH: &[u8] = b"meta/last_weight_epoch";
const DECISION: &[u8] = b"decision/";
const WEIGHTS: &[u8] = b"weights/";
/// How far back decisions are kept, in blocks: far more than scoring reads (the score
/// window of 1,600 blocks plus a weight epoch). Older decisions are removed by the batch
/// that records each new interval, a few at a time, so the state stays bounded.
pub(super) const DECISION_RETENTION_BLOCKS: u64 = 10_000;
const WEIGHTS_INTENT: &[u8] = b"meta/weights_intent";

/// State failures.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory could not be opened (locked by another process?).
    #[error(
        "cannot open the validator state at {path}: {source} (is another nexis validator using this \
         work directory?)"
    )]
    Open {
        /// The state directory.
        path: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: sled::Error,
    },
    /// A read or write failed.
    #[error("validator state: {0}")]
    Db(#[from] sled::Error),
    /// A record does not decode.
    #[error("validator state holds an unreadable record under {key}: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it does not decode.
        reason: String,
    },
}

/// What the state keeps of one decision: the scoring fields plus the full decision JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDecision {
    /// SS58 hotkey of the miner decided on.
    pub miner_hotkey: String,
    /// The interval of the decision.
    pub interval_id: u64,
    /// Whether the package was accepted.
    pub accepted: bool,
    /// Rows kept after pruning (0 when rejected).
    pub record_count: u64,
    /// The failures in their `code:detail` string form.
    pub failures: Vec<String>,
    /// The decision exactly as logged.
    pub decision: serde_json::Value,
}

impl StoredDecision {
    /// The stored form of `d`.
    pub fn from_decision(d: &Decision) -> Self {
        Self {
            miner_hotkey: d.miner_hotkey.clone(),
            interval_id: d.interval_id,
            accepted: d.accepted,
            record_count: d.record_count,
            failures: d.failures.iter().map(ToString::to_string).collect(),
            decision: serde_json::to_value(d).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The fields scoring needs.
    pub fn scored(&self) -> ScoredDecision {
        ScoredDecision {
            miner_hotkey: self.miner_hotkey.clone(),
            interval_id: self.interval_id,
            accepted: self.accepted,
            record_count: self.record_count,
        }
    }
}

/// One weight submission attempt that reached the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightSubmission {
    /// The weight epoch the weights are for.
    pub epoch: Epoch,
    /// The block the submission was planned at.
    pub block: u64,
    /// Uids given weight, ascending.
    pub uids: Vec<u16>,
    /// The weight of each uid (u16-normalised).
    pub weights: Vec<u16>,
    /// Whether the whole weight went to the burn uid (nobody scored).
    pub burned: bool,
    /// When it was sent.
    pub submitted_at: DateTime<Utc>,
    /// `plain` or `commit-reveal` (absent in records made before commit-reveal).
    #[serde(default)]
    pub mode: Option<String>,
    /// The drand round a commit is encrypted for.
    #[serde(default)]
    pub reveal_round: Option<u64>,
    /// The block from which the chain is expected to have revealed the commit.
    #[serde(default)]
    pub reveal_block: Option<u64>,
}

/// The validator's sled database.
#[derive(Debug, Clone)]
pub struct ValidatorState {
    db: sled::Db,
    tree: sled::Tree,
    retention_blocks: u64,
    owner_pending: sled::Tree,
}

fn u64_value(key: &[u8], bytes: &[u8]) -> Result<u64, StateError> {
    let raw: [u8; 8] = bytes.try_into().map_err(|_| StateError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: format!("{} bytes where 8 were expected", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(raw))
}

impl ValidatorState {
    /// Opens (creating when needed) the state database at `dir`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .map_err(|source| StateError::Open { path: dir.to_path_buf(), source })?;
        let tree = db.open_tree("validator")?;
        let owner_pending = db.open_tree("owner-pending")?;
        Ok(Self { db, tree, retention_blocks: DECISION_RETENTION_BLOCKS, owner_pending })
    }

    /// Keeps decisions of the last `blocks` blocks only (at least the scoring windows).
    pub fn with_decision_retention(mut self, blocks: u64) -> Self {
        self.retention_blocks = blocks;
        self
    }

    /// Adds to `batch` the removal of decisions older than the retention window before
    /// `interval_id`.
    fn prune_decisions(&self, batch: &mut sled::Batch, interval_id: u64) -> Result<(), StateError> {
        let cutoff = interval_id.saturating_sub(self.retention_blocks);
        let mut hi = DECISION.to_vec();
        hi.extend_from_slice(&cutoff.to_be_bytes());
        for item in self.tree.range(DECISION.to_vec()..hi) {
            let (key, _) = item?;
            batch.remove(key);
        }
        Ok(())
    }

    /// The owner's pending-bundle tree, in the same database (see
    /// [`IntervalRecord::pending_bundles`]).
    pub fn owner_pending_tree(&self) -> sled::Tree {
        self.owner_pending.clone()
    }

    /// The overlap index stored alongside.
    pub fn index(&self) -> OverlapIndex {
        OverlapIndex::new(self.tree.clone())
    }

    /// The last interval whose results are recorded.
    pub fn last_finished_interval(&self) -> Result<Option<u64>, StateError> {
        self.tree.get(LAST_FINISHED)?.map(|v| u64_value(LAST_FINISHED, &v)).transpose()
    }

    /// The last weight epoch with a successful submission.
    pub fn last_weight_epoch(&self) -> Result<Option<Epoch>, StateError> {
        self.tree.get(LAST_WEIGHT_EPOCH)?.map(|v| u64_value(LAST_WEIGHT_EPOCH, &v).map(Epoch::new)).transpose()
    }

    fn decision_key(package: &PackageKey) -> Vec<u8> {
        let mut k = DECISION.to_vec();
        k.extend_from_slice(&package.interval.get().to_be_bytes());
        k.extend_from_slice(package.miner.as_str().as_bytes());
        k
    }

    /// Records a finished interval atomically and durably. Refuses an interval that is not
    /// after the last finished one, so nothing is ever counted twice.
    pub fn record_interval(&self, record: &IntervalRecord) -> Result<bool, StateError> {
        if self.last_finished_interval()?.is_some_and(|last| record.interval_id <= last) {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        for d in &record.decisions {
            let stored = StoredDecision::from_decision(d);
            let json = serde_json::to_vec(&stored)
                .map_err(|e| StateError::Corrupt { key: "decision".into(), reason: e.to_string() })?;
            batch.insert(
                Self::decision_key(&PackageKey::new(IntervalId::new(record.interval_id), d.miner_hotkey.as_str())),
                json,
            );
        }
        for (key, start) in &record.index_entries {
            OverlapIndex::insert_into(&mut batch, key, *start);
        }
        for entry in &record.fingerprint_entries {
            FingerprintIndex::insert_into(&mut batch, entry);
        }
        self.prune_decisions(&mut batch, record.interval_id)?;
        batch.insert(LAST_FINISHED, &record.interval_id.to_be_bytes());
        if record.pending_bundles.is_empty() {
            self.tree.apply_batch(batch)?;
        } else {
            let mut pending = sled::Batch::default();
            for (k, v) in &record.pending_bundles {
                pending.insert(k.as_slice(), v.as_slice());
            }
            (&self.tree, &self.owner_pending)
                .transaction(|(tree, owner)| {
                    tree.apply_batch(&batch)?;
                    owner.apply_batch(&pending)?;
                    Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                })
                .map_err(|e| match e {
                    sled::transaction::TransactionError::Storage(e) => StateError::from(e),
                    sled::transaction::TransactionError::Abort(()) => {
                        StateError::Corrupt { key: "interval".into(), reason: "transaction aborted".into() }
                    }
                })?;
        }
        self.db.flush()?;
        Ok(true)
    }

    /// Decisions of intervals in `[start, end)`.
    pub fn decisions_between(&self, intervals: Range<IntervalId>) -> Result<Vec<StoredDecision>, StateError> {
        let mut lo = DECISION.to_vec();
        lo.extend_from_slice(&intervals.start.get().to_be_bytes());
        let mut hi = DECISION.to_vec();
        hi.extend_from_slice(&intervals.end.get().to_be_bytes());
        self.tree
            .range(lo..hi)
            .map(|item| {
                let (k, v) = item?;
                serde_json::from_slice(&v).map_err(|e| StateError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Records a successful weight submission for its epoch.
    pub fn record_weights(&self, submission: &WeightSubmission) -> Result<(), StateError> {
        let mut key = WEIGHTS.to_vec();
        key.extend_from_slice(&submission.epoch.get().to_be_bytes());
        let json = serde_json::to_vec(submission)
            .map_err(|e| StateError::Corrupt { key: "weights".into(), reason: e.to_string() })?;
        let mut batch = sled::Batch::default();
        batch.insert(key, json);
        batch.insert(LAST_WEIGHT_EPOCH, &submission.epoch.get().to_be_bytes());
        batch.remove(WEIGHTS_INTENT);
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Records, durably and before anything is sent, the weights about to go to the chain, so
    /// a restart can tell whether a submission whose result was never recorded landed.
    pub fn record_weights_intent(&self, intent: &WeightSubmission) -> Result<(), StateError> {
        let json = serde_json::to_vec(intent)
            .map_err(|e| StateError::Corrupt { key: "weights intent".into(), reason: e.to_string() })?;
        self.tree.insert(WEIGHTS_INTENT, json)?;
        self.db.flush()?;
        Ok(())
    }

    /// The weights sent (or about to be) whose result is not recorded yet.
    pub fn weights_intent(&self) -> Result<Option<WeightSubmission>, StateError> {
        let Some(v) = self.tree.get(WEIGHTS_INTENT)? else { return Ok(None) };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt { key: "meta/weights_intent".into(), reason: e.to_string() })
    }

    /// The most recent weight submission.
    pub fn last_weights(&self) -> Result<Option<WeightSubmission>, StateError> {
        let Some(item) = self.tree.scan_prefix(WEIGHTS).next_back() else { return Ok(None) };
        let (k, v) = item?;
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt { key: String::from_utf8_lossy(&k).into_owned(), reason: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DecisionNotes, Failure};

    fn record(interval_id: u64, failures: usize) -> IntervalRecord {
        let list: Vec<Failure> = (0..failures).map(|i| Failure::ShortCaption { clip_id: format!("{i:064}") }).collect();
        let d = Decision::evaluated("miner", interval_id, list, 0, 0, DecisionNotes::default());
        IntervalRecord { interval_id, decisions: vec![d], ..Default::default() }
    }

    #[test]
    fn old_decisions_are_pruned_and_stored_decisions_are_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let state = ValidatorState::open(tmp.path()).unwrap().with_decision_retention(1_000);
        for interval in [0, 500, 1_000, 1_400, 2_000] {
            assert!(state.record_interval(&record(interval, 10_000)).unwrap());
        }
        let kept: Vec<u64> = state
            .decisions_between(IntervalId::new(0)..IntervalId::new(u64::MAX))
            .unwrap()
            .iter()
            .map(|d| d.interval_id)
            .collect();
        assert_eq!(kept, [1_000, 1_400, 2_000]);
        let stored = state.decisions_between(IntervalId::new(2_000)..IntervalId::new(2_001)).unwrap();
        assert_eq!(stored[0].failures.len(), crate::model::MAX_DECISION_FAILURES);
        assert_eq!(stored[0].decision["notes"]["failures_total"], 10_000);
    }
}
