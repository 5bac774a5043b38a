//! The embedded evidence store: one SQLite file (WAL mode) behind a mutex, queried on the
//! blocking thread pool. The default when `NEXIS_API_DATABASE_URL` is unset.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    DecisionRow, Evidence, EvidenceKind, EvidenceStore, ResultFilter, StoreError, StoredDecision, Vote, failures_json,
    parse_failures, to_i64, to_u64,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS validation_evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    validator_hotkey TEXT NOT NULL, interval_id INTEGER NOT NULL, kind TEXT NOT NULL,
    signature TEXT NOT NULL, timestamp INTEGER NOT NULL, nonce TEXT NOT NULL,
    body_sha256 TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS validation_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    validator_hotkey TEXT NOT NULL, interval_id INTEGER NOT NULL, miner_hotkey TEXT NOT NULL,
    accepted INTEGER NOT NULL, failures TEXT NOT NULL DEFAULT '[]', record_count INTEGER NOT NULL DEFAULT 0,
    global_overlap_pruned_count INTEGER NOT NULL DEFAULT 0,
    cross_miner_overlap_pruned_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, evidence_id INTEGER REFERENCES validation_evidence(id),
    UNIQUE (validator_hotkey, interval_id, miner_hotkey));
CREATE INDEX IF NOT EXISTS validation_results_interval ON validation_results (interval_id);
CREATE TABLE IF NOT EXISTS validator_request_nonces (
    validator_hotkey TEXT NOT NULL, nonce TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (validator_hotkey, nonce));
CREATE TABLE IF NOT EXISTS interval_invalid_hotkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    interval_id INTEGER NOT NULL, hotkey TEXT NOT NULL, validator_hotkey TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL, evidence_id INTEGER REFERENCES validation_evidence(id),
    UNIQUE (interval_id, hotkey, validator_hotkey));
CREATE TABLE IF NOT EXISTS blacklisted_hotkeys (
    hotkey TEXT PRIMARY KEY, reason TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
";

/// The SQLite evidence store.
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    /// Opens (creating) the database at `path` and applies the schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(Self { path: path.to_path_buf(), conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Database("connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
    }
}

/// Inserts the nonce and the evidence inside `tx`; the evidence row id.
fn insert_evidence(tx: &rusqlite::Transaction<'_>, ev: &Evidence) -> Result<i64, StoreError> {
    let inserted = tx
        .execute(
            "INSERT INTO validator_request_nonces (validator_hotkey, nonce, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![ev.validator_hotkey, ev.nonce, ev.received_at],
        )
        .map_err(db)?;
    if inserted == 0 {
        return Err(StoreError::NonceReplayed);
    }
    tx.execute(
        "INSERT INTO validation_evidence (validator_hotkey, interval_id, kind, signature, timestamp, nonce,
            body_sha256, body, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            ev.validator_hotkey,
            to_i64(ev.interval_id),
            ev.kind.as_str(),
            ev.signature,
            ev.timestamp,
            ev.nonce,
            ev.body_sha256,
            ev.body,
            ev.received_at
        ],
    )
    .map_err(db)?;
    Ok(tx.last_insert_rowid())
}

fn read_decision(row: &rusqlite::Row<'_>, with_evidence: bool) -> rusqlite::Result<Result<StoredDecision, StoreError>> {
    let failures: String = row.get(4)?;
    let ints: [i64; 4] = [row.get(1)?, row.get(5)?, row.get(6)?, row.get(7)?];
    let evidence = if with_evidence && row.get::<_, Option<i64>>(8)?.is_some() {
        let kind: String = row.get(11)?;
        Some((
            kind,
            row.get::<_, String>(9)?,
            row.get::<_, i64>(10)?,
            row.get::<_, String>(12)?,
            row.get::<_, String>(13)?,
            row.get::<_, String>(14)?,
            row.get::<_, i64>(15)?,
        ))
    } else {
        None
    };
    let validator_hotkey: String = row.get(0)?;
    let miner_hotkey: String = row.get(2)?;
    let accepted: bool = row.get(3)?;
    Ok((|| {
        let interval_id = to_u64(ints[0], "interval_id")?;
        let decision = DecisionRow {
            miner_hotkey,
            accepted,
            failures: parse_failures(&failures)?,
            record_count: to_u64(ints[1], "record_count")?,
            global_overlap_pruned_count: to_u64(ints[2], "global_overlap_pruned_count")?,
            cross_miner_overlap_pruned_count: to_u64(ints[3], "cross_miner_overlap_pruned_count")?,
        };
        let evidence = evidence.map(|(kind, signature, timestamp, nonce, body_sha256, body, received_at)| Evidence {
            validator_hotkey: validator_hotkey.clone(),
            interval_id,
            kind: if kind == "invalid_hotkeys" { EvidenceKind::InvalidHotkeys } else { EvidenceKind::Results },
            signature,
            timestamp,
            nonce,
            body_sha256,
            body,
            received_at,
        });
        Ok(StoredDecision { validator_hotkey, interval_id, decision, evidence })
    })())
}

#[async_trait]
impl EvidenceStore for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    async fn record_results(&self, evidence: &Evidence, decisions: &[DecisionRow]) -> Result<usize, StoreError> {
        let ev = evidence.clone();
        let rows = decisions.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let id = insert_evidence(&tx, &ev)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO validation_results (validator_hotkey, interval_id, miner_hotkey, accepted,
                            failures, record_count, global_overlap_pruned_count, cross_miner_overlap_pruned_count,
                            created_at, evidence_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (validator_hotkey, interval_id, miner_hotkey) DO UPDATE SET
                            accepted = excluded.accepted, failures = excluded.failures,
                            record_count = excluded.record_count,
                            global_overlap_pruned_count = excluded.global_overlap_pruned_count,
                            cross_miner_overlap_pruned_count = excluded.cross_miner_overlap_pruned_count,
                            created_at = excluded.created_at, evidence_id = excluded.evidence_id",
                    )
                    .map_err(db)?;
                for d in &rows {
                    stmt.execute(params![
                        ev.validator_hotkey,
                        to_i64(ev.interval_id),
                        d.miner_hotkey,
                        d.accepted,
                        failures_json(&d.failures),
                        to_i64(d.record_count),
                        to_i64(d.global_overlap_pruned_count),
                        to_i64(d.cross_miner_overlap_pruned_count),
                        ev.received_at,
                        id
                    ])
                    .map_err(db)?;
                }
            }
            tx.commit().map_err(db)?;
            Ok(rows.len())
        })
        .await
    }

    async fn record_invalid(&self, evidence: &Evidence, hotkeys: &[String]) -> Result<usize, StoreError> {
        let ev = evidence.clone();
        let hotkeys = hotkeys.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let id = insert_evidence(&tx, &ev)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO interval_invalid_hotkeys (interval_id, hotkey, validator_hotkey, created_at,
                            evidence_id) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (interval_id, hotkey, validator_hotkey) DO UPDATE SET
                            created_at = excluded.created_at, evidence_id = excluded.evidence_id",
                    )
                    .map_err(db)?;
                for h in &hotkeys {
                    stmt.execute(params![to_i64(ev.interval_id), h, ev.validator_hotkey, ev.received_at, id])
                        .map_err(db)?;
                }
            }
            tx.commit().map_err(db)?;
            Ok(hotkeys.len())
        })
        .await
    }

    async fn sweep_nonces(&self, before: i64) -> Result<u64, StoreError> {
        self.with(move |conn| {
            let n = conn
                .execute("DELETE FROM validator_request_nonces WHERE created_at < ?1", params![before])
                .map_err(db)?;
            Ok(n as u64)
        })
        .await
    }

    async fn results(&self, filter: &ResultFilter) -> Result<Vec<StoredDecision>, StoreError> {
        let filter = filter.clone();
        self.with(move |conn| {
            let (lo, hi) = filter.interval_range.unwrap_or((0, u64::MAX));
            let mut stmt = conn
                .prepare_cached(
                    "SELECT r.validator_hotkey, r.interval_id, r.miner_hotkey, r.accepted, r.failures,
                        r.record_count, r.global_overlap_pruned_count, r.cross_miner_overlap_pruned_count,
                        e.id, e.signature, e.timestamp, e.kind, e.nonce, e.body_sha256,
                        CASE WHEN ?5 THEN e.body ELSE '' END, e.received_at
                     FROM validation_results r LEFT JOIN validation_evidence e ON e.id = r.evidence_id
                     WHERE (?1 IS NULL OR r.validator_hotkey = ?1) AND (?2 IS NULL OR r.interval_id = ?2)
                       AND r.interval_id BETWEEN ?3 AND ?4
                     ORDER BY r.interval_id DESC, r.miner_hotkey, r.validator_hotkey LIMIT ?6",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(
                    params![
                        filter.validator_hotkey,
                        filter.interval_id.map(to_i64),
                        to_i64(lo),
                        to_i64(hi),
                        filter.with_evidence,
                        i64::try_from(filter.limit).unwrap_or(i64::MAX)
                    ],
                    |row| read_decision(row, filter.with_evidence),
                )
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(db)??);
            }
            Ok(out)
        })
        .await
    }

    async fn votes(&self, lo: u64, hi: u64) -> Result<Vec<Vote>, StoreError> {
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT interval_id, miner_hotkey, validator_hotkey FROM validation_results
                       WHERE accepted = 0 AND interval_id BETWEEN ?1 AND ?2
                     UNION
                     SELECT interval_id, hotkey, validator_hotkey FROM interval_invalid_hotkeys
                       WHERE interval_id BETWEEN ?1 AND ?2
                     ORDER BY 1, 2, 3",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![to_i64(lo), to_i64(hi)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (interval, miner_hotkey, reporter) = row.map_err(db)?;
                out.push(Vote { interval_id: to_u64(interval, "interval_id")?, miner_hotkey, reporter });
            }
            Ok(out)
        })
        .await
    }

    async fn blacklist(&self) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached("SELECT hotkey FROM blacklisted_hotkeys ORDER BY hotkey").map_err(db)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn blacklist_add(&self, hotkey: &str, reason: &str) -> Result<bool, StoreError> {
        let (hotkey, reason) = (hotkey.to_string(), reason.to_string());
        self.with(move |conn| {
            let now = crate::api::unix_now() as i64;
            let n = conn
                .execute(
                    "INSERT INTO blacklisted_hotkeys (hotkey, reason, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![hotkey, reason, now],
                )
                .map_err(db)?;
            Ok(n > 0)
        })
        .await
    }

    async fn blacklist_remove(&self, hotkey: &str) -> Result<bool, StoreError> {
        let hotkey = hotkey.to_string();
        self.with(move |conn| {
            let found = conn
                .query_row("SELECT 1 FROM blacklisted_hotkeys WHERE hotkey = ?1", params![hotkey], |_| Ok(()))
                .optional()
                .map_err(db)?;
            conn.execute("DELETE FROM blacklisted_hotkeys WHERE hotkey = ?1", params![hotkey]).map_err(db)?;
            Ok(found.is_some())
        })
        .await
    }
}
