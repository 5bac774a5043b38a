//! Where the evidence server keeps its state: one [`EvidenceStore`] trait with an embedded
//! SQLite store (the default) and a PostgreSQL store (production). Both keep the Python
//! deployment's tables (`validation_results`, `validator_request_nonces`,
//! `interval_invalid_hotkeys`, `blacklisted_hotkeys`) plus `validation_evidence`, the signed
//! request behind every stored row.

pub mod postgres;
pub mod sqlite;

use crate::protocol::IntervalId;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The nonce was already used by this hotkey (the request is a replay).
    #[error("nonce already used")]
    NonceReplayed,
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(String),
    /// The connection to the database server was lost (retried once on a new one).
    #[error("database connection lost: {0}")]
    ConnectionLost(String),
    /// A stored value could not be read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// What a signed request posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// `POST /v1/validation-results`.
    Results,
    /// `POST /v1/invalid-hotkeys`.
    InvalidHotkeys,
}

impl EvidenceKind {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Results => "results",
            Self::InvalidHotkeys => "invalid_hotkeys",
        }
    }
}

/// The signed request behind stored rows: enough to re-verify it offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// SS58 of the signer.
    pub validator_hotkey: String,
    /// The interval the body is about.
    pub interval_id: u64,
    /// Which endpoint received it.
    pub kind: EvidenceKind,
    /// Hex signature as sent (`0x` and `<Bytes>` forms kept verbatim).
    pub signature: String,
    /// `X-Timestamp`.
    pub timestamp: i64,
    /// `X-Nonce`.
    pub nonce: String,
    /// Lowercase hex SHA-256 of the body.
    pub body_sha256: String,
    /// The exact body (UTF-8 JSON).
    pub body: String,
    /// Unix seconds when the server accepted it (served as RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub received_at: i64,
}

/// One miner decision as posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DecisionRow {
    /// The miner's SS58 hotkey.
    pub(crate) miner_hotkey: String,
    /// Whether the package was accepted.
    pub(crate) accepted: bool,
    /// Failure codes (non-empty when rejected).
    pub(crate) failures: Vec<String>,
    /// Rows in the package.
    pub(crate) record_count: u64,
    /// Rows pruned by the global overlap check.
    pub(crate) global_overlap_pruned_count: u64,
    /// Rows pruned by the cross-miner overlap check.
    pub(crate) cross_miner_overlap_pruned_count: u64,
}

/// What a listing row says about the signed request behind it: everything but the body,
/// which `GET /v1/evidence/{id}` serves (the reference's `StoredDecision` fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRef {
    /// The evidence row (`GET /v1/evidence/{evidence_id}`).
    pub(crate) evidence_id: i64,
    /// Hex signature as sent.
    pub(crate) signature: String,
    /// `X-Timestamp`.
    pub(crate) timestamp: i64,
    /// `X-Nonce`.
    pub(crate) nonce: String,
    /// Lowercase hex SHA-256 of the body.
    pub(crate) body_sha256: String,
    /// When the server accepted it (RFC 3339, UTC), as the reference serves `received_at`.
    #[serde(serialize_with = "rfc3339")]
    pub(crate) received_at: i64,
}

/// Unix seconds as an RFC 3339 UTC date-time.
pub(crate) fn rfc3339<S: serde::Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    let t = chrono::DateTime::from_timestamp(*secs, 0).unwrap_or_default();
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A stored decision with who posted it and a reference to its evidence (never the body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredDecision {
    /// The reporting validator.
    pub(crate) validator_hotkey: String,
    /// The interval.
    pub(crate) interval_id: u64,
    /// The decision itself.
    #[serde(flatten)]
    pub(crate) decision: DecisionRow,
    /// The signed request that carried it (absent for rows written by the Python server).
    #[serde(flatten)]
    pub(crate) evidence: Option<EvidenceRef>,
}

/// One stored signed request with its body, as `GET /v1/evidence/{id}` serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredEvidence {
    /// The evidence row id.
    pub(crate) evidence_id: i64,
    /// The request.
    #[serde(flatten)]
    pub(crate) evidence: Evidence,
}

/// One validator's statement that a miner is invalid at an interval: a rejected decision
/// or an explicit invalid-hotkeys post.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vote {
    /// The interval.
    pub(crate) interval_id: u64,
    /// The miner named invalid.
    pub miner_hotkey: String,
    /// The validator that said so (empty for unattributed legacy rows).
    pub(crate) reporter: String,
    /// An explicit invalid post (kept), not a rejected decision (replaced by the
    /// validator's later decision).
    pub(crate) explicit: bool,
}

/// What a POST stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Rows stored (by the first request, when replayed).
    pub stored: usize,
    /// The request had been stored already: this is its first answer again.
    pub replayed: bool,
}

/// The answer a nonce row keeps: a retry of `ev` answers `stored` again; anything else with
/// the same nonce is a replay.
pub(crate) fn retry_answer(
    ev: &Evidence,
    kind: &str,
    body_sha256: &str,
    stored: Option<i64>,
) -> Result<Recorded, StoreError> {
    match stored {
        Some(n) if kind == ev.kind.as_str() && body_sha256 == ev.body_sha256 => {
            Ok(Recorded { stored: usize::try_from(n).unwrap_or(0), replayed: true })
        }
        _ => Err(StoreError::NonceReplayed),
    }
}

/// Which decisions to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFilter {
    /// Only this validator.
    pub(crate) validator_hotkey: Option<String>,
    /// Only this interval.
    pub(crate) interval_id: Option<u64>,
    /// Only intervals in `lo..=hi`.
    pub(crate) interval_range: Option<(u64, u64)>,
    /// At most this many rows, newest interval first.
    pub(crate) limit: usize,
    /// At most this many bytes of rows (by [`StoredDecision::cost`]); 0 = no byte limit.
    pub(crate) max_bytes: usize,
}

impl ResultFilter {
    /// The interval ids to read, `lo..=hi` as stored integers: the range narrowed to the
    /// one interval when one is asked for, so that the store's indexes answer it (a
    /// miner's read touches its own rows, never the whole table).
    pub(crate) fn bounds(&self) -> (i64, i64) {
        let (mut lo, mut hi) = self.interval_range.unwrap_or((0, u64::MAX));
        if let Some(id) = self.interval_id {
            (lo, hi) = (lo.max(id), hi.min(id));
        }
        (to_i64(lo), to_i64(hi))
    }

    /// The row limit as a stored integer.
    pub(crate) fn limit_i64(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }
}

/// The decisions of one post, the last one per miner (a post naming a miner twice is
/// stored as if sent one after the other, so the last wins, like row-by-row upserts).
pub(crate) fn last_per_miner(decisions: &[DecisionRow]) -> Vec<&DecisionRow> {
    let mut seen = std::collections::HashSet::with_capacity(decisions.len());
    let mut out: Vec<&DecisionRow> = decisions.iter().rev().filter(|d| seen.insert(d.miner_hotkey.as_str())).collect();
    out.reverse();
    out
}

/// The rows a [`ResultFilter`] selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The rows, newest interval first.
    pub(crate) rows: Vec<StoredDecision>,
    /// Whether the byte limit stopped the listing before the row limit did.
    pub(crate) truncated: bool,
}

impl Listing {
    /// Adds `row` unless it would take the listing over `max_bytes` (0 = no limit); `false`
    /// (and the listing marked truncated) when it did not fit.
    pub(crate) fn push(&mut self, row: StoredDecision, bytes: &mut usize, max_bytes: usize) -> bool {
        *bytes = bytes.saturating_add(row.cost());
        if max_bytes > 0 && *bytes > max_bytes {
            self.truncated = true;
            return false;
        }
        self.rows.push(row);
        true
    }
}

impl StoredDecision {
    /// An upper bound of the row's JSON size in bytes (names, quoting and numbers included).
    pub(crate) fn cost(&self) -> usize {
        let d = &self.decision;
        let failures: usize = d.failures.iter().map(|f| 2 * f.len() + 4).sum();
        let ev = self.evidence.as_ref().map_or(0, |e| e.signature.len() + e.nonce.len() + e.body_sha256.len() + 200);
        2 * (self.validator_hotkey.len() + d.miner_hotkey.len()) + failures + ev + 300
    }
}

/// Everything the evidence server stores.
#[async_trait]
pub trait EvidenceStore: Send + Sync {
    /// A short name for logs (`sqlite:/path`, `postgres://host/db` without credentials).
    fn describe(&self) -> String;

    /// Stores a results post atomically: the nonce with the post's result, the evidence and
    /// the decisions (one row per validator, interval and miner; a later post replaces the
    /// earlier row). The same request again (same hotkey, nonce, kind and body hash: a
    /// retry after a lost connection) stores nothing and answers the first result, marked
    /// replayed; the nonce with another request → [`StoreError::NonceReplayed`], nothing
    /// stored.
    async fn record_results(&self, evidence: &Evidence, decisions: &[DecisionRow]) -> Result<Recorded, StoreError>;

    /// Stores an invalid-hotkeys post atomically, like [`Self::record_results`].
    async fn record_invalid(&self, evidence: &Evidence, hotkeys: &[String]) -> Result<Recorded, StoreError>;

    /// Deletes one batch (at most `batch` rows of each table) of what retention drops:
    /// decisions and invalid marks of intervals below `before_interval`, and evidence no
    /// stored row refers to any more (of those intervals, or superseded by a later post of
    /// the same validator) received before `superseded_before` (unix seconds). Returns the
    /// rows deleted; fewer than `batch` means nothing is left to prune.
    async fn prune(&self, before_interval: u64, superseded_before: i64, batch: usize) -> Result<u64, StoreError>;

    /// Deletes nonces received before `before` (unix seconds); returns how many.
    async fn sweep_nonces(&self, before: i64) -> Result<u64, StoreError>;

    /// Stored decisions matching `filter`, newest interval first, with a reference to their
    /// evidence; no request body is read.
    async fn results(&self, filter: &ResultFilter) -> Result<Listing, StoreError>;

    /// One stored signed request with its body; `None` when there is no such row.
    async fn evidence(&self, id: i64) -> Result<Option<StoredEvidence>, StoreError>;

    /// Every invalid vote for `intervals` (rejections and explicit posts,
    /// de-duplicated), sorted.
    async fn votes(&self, intervals: RangeInclusive<IntervalId>) -> Result<Vec<Vote>, StoreError>;

    /// The distinct (interval, validator) pairs with a stored decision in `intervals`, newest
    /// interval first, at most `limit`.
    async fn reporters(
        &self,
        intervals: RangeInclusive<IntervalId>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError>;

    /// Blacklisted hotkeys, sorted.
    async fn blacklist(&self) -> Result<Vec<String>, StoreError>;

    /// Adds `hotkey`; `false` when it was already listed.
    async fn blacklist_add(&self, hotkey: &str, reason: &str) -> Result<bool, StoreError>;

    /// Removes `hotkey`; `false` when it was not listed.
    async fn blacklist_remove(&self, hotkey: &str) -> Result<bool, StoreError>;
}

/// Opens the store `database_url` names (`postgres://…`), or the embedded SQLite store
/// `{workdir}/api/evidence.sqlite3` when it is unset; applies migrations.
pub async fn open_store(database_url: Option<&str>, workdir: &Path) -> Result<Arc<dyn EvidenceStore>, StoreError> {
    match database_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(postgres::PgStore::connect(url, postgres::DEFAULT_POOL).await?))
        }
        Some(_) => Err(StoreError::Database(
            "the database URL must start with postgres:// or postgresql:// (leave it unset for the embedded store)"
                .into(),
        )),
        None => {
            let dir = workdir.join("api");
            std::fs::create_dir_all(&dir)
                .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", dir.display())))?;
            Ok(Arc::new(sqlite::SqliteStore::open(&dir.join("evidence.sqlite3"))?))
        }
    }
}

/// The kind stored as `text`.
pub(crate) fn kind_of(text: &str) -> EvidenceKind {
    if text == "invalid_hotkeys" { EvidenceKind::InvalidHotkeys } else { EvidenceKind::Results }
}

/// Converts a stored non-negative integer.
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

/// Converts an id for a signed 64-bit column (values are validated ≤ i64::MAX on input).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The first and last interval of `intervals` as database integers.
pub(crate) fn bounds_of(intervals: &RangeInclusive<IntervalId>) -> (i64, i64) {
    (to_i64(intervals.start().get()), to_i64(intervals.end().get()))
}

/// Parses the stored JSON failure list.
pub(crate) fn parse_failures(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("failures {text:?}: {e}")))
}

/// The JSON text of a failure list.
pub(crate) fn failures_json(failures: &[String]) -> String {
    serde_json::to_string(failures).unwrap_or_else(|_| "[]".into())
}
