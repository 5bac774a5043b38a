//! Where the evidence server keeps its state: one [`EvidenceStore`] trait with an embedded
//! SQLite store (the default) and a PostgreSQL store (production). Both keep the Python
//! deployment's tables (`validation_results`, `validator_request_nonces`,
//! `interval_invalid_hotkeys`, `blacklisted_hotkeys`) plus `validation_evidence`, the signed
//! request behind every stored row.

pub mod postgres;
pub mod sqlite;

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
    /// Unix seconds when the server accepted it.
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

/// A stored decision with who posted it and the evidence.
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
    pub(crate) evidence: Option<Evidence>,
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
    /// Whether to load the evidence (with its body) of each row.
    pub(crate) with_evidence: bool,
    /// At most this many rows, newest interval first.
    pub(crate) limit: usize,
}

/// Everything the evidence server stores.
#[async_trait]
pub trait EvidenceStore: Send + Sync {
    /// A short name for logs (`sqlite:/path`, `postgres://host/db` without credentials).
    fn describe(&self) -> String;

    /// Stores a results post atomically: the nonce (replay → [`StoreError::NonceReplayed`]
    /// and nothing stored), the evidence and the decisions (one row per validator,
    /// interval and miner; a later post replaces the earlier row).
    async fn record_results(&self, evidence: &Evidence, decisions: &[DecisionRow]) -> Result<usize, StoreError>;

    /// Stores an invalid-hotkeys post atomically, like [`Self::record_results`].
    async fn record_invalid(&self, evidence: &Evidence, hotkeys: &[String]) -> Result<usize, StoreError>;

    /// Deletes nonces received before `before` (unix seconds); returns how many.
    async fn sweep_nonces(&self, before: i64) -> Result<u64, StoreError>;

    /// Stored decisions matching `filter`, newest interval first.
    async fn results(&self, filter: &ResultFilter) -> Result<Vec<StoredDecision>, StoreError>;

    /// Every invalid vote for intervals in `lo..=hi` (rejections and explicit posts,
    /// de-duplicated), sorted.
    async fn votes(&self, lo: u64, hi: u64) -> Result<Vec<Vote>, StoreError>;

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
            "NEXIS_API_DATABASE_URL must start with postgres:// or postgresql:// (unset it for the embedded store)"
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

/// Converts a stored non-negative integer.
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

/// Converts an id for a signed 64-bit column (values are validated ≤ i64::MAX on input).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Parses the stored JSON failure list.
pub(crate) fn parse_failures(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("failures {text:?}: {e}")))
}

/// The JSON text of a failure list.
pub(crate) fn failures_json(failures: &[String]) -> String {
    serde_json::to_string(failures).unwrap_or_else(|_| "[]".into())
}
