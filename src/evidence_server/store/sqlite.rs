//! The embedded evidence store: one SQLite file in WAL mode, queried on the blocking
//! thread pool. One writer connection behind a mutex takes every change; a few read
//! connections beside it serve the listings, so a read never waits for a post being
//! written. The default when no database URL is given.

use crate::protocol::IntervalId;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    DecisionRow, Evidence, EvidenceRef, EvidenceStore, Listing, Recorded, ResultFilter, StoreError, StoredDecision,
    StoredEvidence, Vote, bounds_of, failures_json, kind_of, parse_failures, retry_answer, to_i64, to_u64,
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
CREATE INDEX IF NOT EXISTS validation_results_evidence ON validation_results (evidence_id);
CREATE INDEX IF NOT EXISTS validation_evidence_received ON validation_evidence (received_at);
CREATE TABLE IF NOT EXISTS validator_request_nonces (
    validator_hotkey TEXT NOT NULL, nonce TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (validator_hotkey, nonce));
CREATE TABLE IF NOT EXISTS interval_invalid_hotkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    interval_id INTEGER NOT NULL, hotkey TEXT NOT NULL, validator_hotkey TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL, evidence_id INTEGER REFERENCES validation_evidence(id),
    UNIQUE (interval_id, hotkey, validator_hotkey));
CREATE INDEX IF NOT EXISTS interval_invalid_hotkeys_evidence ON interval_invalid_hotkeys (evidence_id);
CREATE TABLE IF NOT EXISTS blacklisted_hotkeys (
    hotkey TEXT PRIMARY KEY, reason TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
";

/// Decisions of a range of intervals, newest first (`?1..=?2`, at most `?3` rows).
const RESULTS_OF_INTERVALS: &str = "SELECT r.validator_hotkey, r.interval_id, r.miner_hotkey, r.accepted,
        r.failures, r.record_count, r.global_overlap_pruned_count, r.cross_miner_overlap_pruned_count,
        e.id, e.signature, e.timestamp, e.nonce, e.body_sha256, e.received_at
     FROM validation_results r LEFT JOIN validation_evidence e ON e.id = r.evidence_id
     WHERE r.interval_id BETWEEN ?1 AND ?2
     ORDER BY r.interval_id DESC, r.miner_hotkey, r.validator_hotkey LIMIT ?3";

/// The same, of one validator (`?4`): answered from the `(validator, interval, miner)` key.
const RESULTS_OF_VALIDATOR: &str = "SELECT r.validator_hotkey, r.interval_id, r.miner_hotkey, r.accepted,
        r.failures, r.record_count, r.global_overlap_pruned_count, r.cross_miner_overlap_pruned_count,
        e.id, e.signature, e.timestamp, e.nonce, e.body_sha256, e.received_at
     FROM validation_results r LEFT JOIN validation_evidence e ON e.id = r.evidence_id
     WHERE r.validator_hotkey = ?4 AND r.interval_id BETWEEN ?1 AND ?2
     ORDER BY r.interval_id DESC, r.miner_hotkey, r.validator_hotkey LIMIT ?3";

/// Adds the retry answer to the nonce table of a store created before it existed.
fn migrate_nonces(conn: &Connection) -> Result<(), StoreError> {
    let has: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('validator_request_nonces') WHERE name = 'stored'",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if has == 0 {
        conn.execute_batch(
            "ALTER TABLE validator_request_nonces ADD COLUMN kind TEXT NOT NULL DEFAULT '';
             ALTER TABLE validator_request_nonces ADD COLUMN body_sha256 TEXT NOT NULL DEFAULT '';
             ALTER TABLE validator_request_nonces ADD COLUMN stored INTEGER;",
        )
        .map_err(db)?;
    }
    Ok(())
}

/// Read connections beside the writer.
const READERS: usize = 4;

/// The SQLite evidence store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
}

/// The read connections and where the next read starts looking for a free one.
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    /// Runs `f` on a free read connection (the next one in turn when all are busy).
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let free = (0..n).find_map(|i| self.conns[(start + i) % n].try_lock().ok());
        let mut guard = match free {
            Some(guard) => guard,
            None => self.conns[start % n].lock().map_err(|_| poisoned())?,
        };
        f(&mut guard)
    }
}

fn poisoned() -> StoreError {
    StoreError::Database("connection lock poisoned".into())
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
        migrate_nonces(&conn)?;
        let conns = (0..READERS).map(|_| open_reader(path).map(Mutex::new)).collect::<Result<_, _>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Readers { conns, next: AtomicUsize::new(0) }),
        })
    }

    /// Runs a change on the writer connection.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.writer.clone();
        blocking(move || f(&mut *conn.lock().map_err(|_| poisoned())?)).await
    }

    /// Runs a read on a read connection.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        blocking(move || readers.with(f)).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
}

/// A read-only connection to the store at `path` (which the writer created).
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
    Ok(conn)
}

/// Inserts the nonce and the evidence inside `tx`; the evidence row id.
fn insert_evidence(
    tx: &rusqlite::Transaction<'_>,
    ev: &Evidence,
    stored: usize,
) -> Result<Result<i64, Recorded>, StoreError> {
    let inserted = tx
        .execute(
            "INSERT INTO validator_request_nonces (validator_hotkey, nonce, created_at, kind, body_sha256, stored)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![ev.validator_hotkey, ev.nonce, ev.received_at, ev.kind.as_str(), ev.body_sha256, stored as i64],
        )
        .map_err(db)?;
    if inserted == 0 {
        let (kind, sha, n): (String, String, Option<i64>) = tx
            .query_row(
                "SELECT kind, body_sha256, stored FROM validator_request_nonces WHERE validator_hotkey = ?1 AND nonce = ?2",
                params![ev.validator_hotkey, ev.nonce],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db)?;
        return retry_answer(ev, &kind, &sha, n).map(Err);
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
    Ok(Ok(tx.last_insert_rowid()))
}

fn read_decision(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredDecision, StoreError>> {
    let failures: String = row.get(4)?;
    let ints: [i64; 4] = [row.get(1)?, row.get(5)?, row.get(6)?, row.get(7)?];
    let evidence = match row.get::<_, Option<i64>>(8)? {
        Some(evidence_id) => Some(EvidenceRef {
            evidence_id,
            signature: row.get(9)?,
            timestamp: row.get(10)?,
            nonce: row.get(11)?,
            body_sha256: row.get(12)?,
            received_at: row.get(13)?,
        }),
        None => None,
    };
    let validator_hotkey: String = row.get(0)?;
    let miner_hotkey: String = row.get(2)?;
    let accepted: bool = row.get(3)?;
    Ok((|| {
        let decision = DecisionRow {
            miner_hotkey,
            accepted,
            failures: parse_failures(&failures)?,
            record_count: to_u64(ints[1], "record_count")?,
            global_overlap_pruned_count: to_u64(ints[2], "global_overlap_pruned_count")?,
            cross_miner_overlap_pruned_count: to_u64(ints[3], "cross_miner_overlap_pruned_count")?,
        };
        Ok(StoredDecision { validator_hotkey, interval_id: to_u64(ints[0], "interval_id")?, decision, evidence })
    })())
}

fn read_evidence(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Evidence, i64)> {
    let kind: String = row.get(3)?;
    let interval: i64 = row.get(2)?;
    Ok((
        row.get(0)?,
        Evidence {
            validator_hotkey: row.get(1)?,
            interval_id: 0,
            kind: kind_of(&kind),
            signature: row.get(4)?,
            timestamp: row.get(5)?,
            nonce: row.get(6)?,
            body_sha256: row.get(7)?,
            body: row.get(8)?,
            received_at: row.get(9)?,
        },
        interval,
    ))
}

#[async_trait]
impl EvidenceStore for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    async fn record_results(&self, evidence: &Evidence, decisions: &[DecisionRow]) -> Result<Recorded, StoreError> {
        let ev = evidence.clone();
        let rows = decisions.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let id = match insert_evidence(&tx, &ev, rows.len())? {
                Ok(id) => id,
                Err(first) => return Ok(first),
            };
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
            Ok(Recorded { stored: rows.len(), replayed: false })
        })
        .await
    }

    async fn record_invalid(&self, evidence: &Evidence, hotkeys: &[String]) -> Result<Recorded, StoreError> {
        let ev = evidence.clone();
        let hotkeys = hotkeys.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let id = match insert_evidence(&tx, &ev, hotkeys.len())? {
                Ok(id) => id,
                Err(first) => return Ok(first),
            };
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
            Ok(Recorded { stored: hotkeys.len(), replayed: false })
        })
        .await
    }

    async fn prune(&self, before_interval: u64, superseded_before: i64, batch: usize) -> Result<u64, StoreError> {
        let (cut, limit) = (to_i64(before_interval), i64::try_from(batch).unwrap_or(i64::MAX));
        self.with(move |conn| {
            let mut n = 0;
            for sql in [
                "DELETE FROM validation_results WHERE id IN
                    (SELECT id FROM validation_results WHERE interval_id < ?1 LIMIT ?2)",
                "DELETE FROM interval_invalid_hotkeys WHERE id IN
                    (SELECT id FROM interval_invalid_hotkeys WHERE interval_id < ?1 LIMIT ?2)",
            ] {
                n += conn.execute(sql, params![cut, limit]).map_err(db)?;
            }
            n += conn
                .execute(
                    "DELETE FROM validation_evidence WHERE id IN
                        (SELECT e.id FROM validation_evidence e WHERE (e.interval_id < ?3 OR e.received_at < ?1)
                           AND NOT EXISTS (SELECT 1 FROM validation_results r WHERE r.evidence_id = e.id)
                           AND NOT EXISTS (SELECT 1 FROM interval_invalid_hotkeys i WHERE i.evidence_id = e.id)
                         LIMIT ?2)",
                    params![superseded_before, limit, cut],
                )
                .map_err(db)?;
            Ok(n as u64)
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

    async fn results(&self, filter: &ResultFilter) -> Result<Listing, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let (lo, hi) = filter.bounds();
            let limit = filter.limit_i64();
            let sql = if filter.validator_hotkey.is_some() { RESULTS_OF_VALIDATOR } else { RESULTS_OF_INTERVALS };
            let mut stmt = conn.prepare_cached(sql).map_err(db)?;
            let rows = match &filter.validator_hotkey {
                Some(hotkey) => stmt.query_map(params![lo, hi, limit, hotkey], read_decision),
                None => stmt.query_map(params![lo, hi, limit], read_decision),
            }
            .map_err(db)?;
            let (mut out, mut bytes) = (Listing::default(), 0);
            for row in rows {
                if !out.push(row.map_err(db)??, &mut bytes, filter.max_bytes) {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn evidence(&self, id: i64) -> Result<Option<StoredEvidence>, StoreError> {
        self.read(move |conn| {
            let found = conn
                .query_row(
                    "SELECT id, validator_hotkey, interval_id, kind, signature, timestamp, nonce, body_sha256, body,
                        received_at FROM validation_evidence WHERE id = ?1",
                    params![id],
                    read_evidence,
                )
                .optional()
                .map_err(db)?;
            found
                .map(|(evidence_id, mut evidence, interval)| {
                    evidence.interval_id = to_u64(interval, "interval_id")?;
                    Ok(StoredEvidence { evidence_id, evidence })
                })
                .transpose()
        })
        .await
    }

    async fn votes(&self, intervals: RangeInclusive<IntervalId>) -> Result<Vec<Vote>, StoreError> {
        let (lo, hi) = bounds_of(&intervals);
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT interval_id, miner_hotkey, validator_hotkey, 0 FROM validation_results
                       WHERE accepted = 0 AND interval_id BETWEEN ?1 AND ?2
                     UNION
                     SELECT interval_id, hotkey, validator_hotkey, 1 FROM interval_invalid_hotkeys
                       WHERE interval_id BETWEEN ?1 AND ?2
                     ORDER BY 1, 2, 3, 4",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![lo, hi], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, bool>(3)?))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (interval, miner_hotkey, reporter, explicit) = row.map_err(db)?;
                out.push(Vote { interval_id: to_u64(interval, "interval_id")?, miner_hotkey, reporter, explicit });
            }
            Ok(out)
        })
        .await
    }

    async fn reporters(
        &self,
        intervals: RangeInclusive<IntervalId>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let (lo, hi) = bounds_of(&intervals);
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT interval_id, validator_hotkey FROM validation_results
                     WHERE interval_id BETWEEN ?1 AND ?2 ORDER BY interval_id DESC, validator_hotkey LIMIT ?3",
                )
                .map_err(db)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt
                .query_map(params![lo, hi, limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (interval, validator) = row.map_err(db)?;
                out.push((to_u64(interval, "interval_id")?, validator));
            }
            Ok(out)
        })
        .await
    }

    async fn blacklist(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT hotkey FROM blacklisted_hotkeys ORDER BY hotkey").map_err(db)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn blacklist_add(&self, hotkey: &str, reason: &str) -> Result<bool, StoreError> {
        let (hotkey, reason) = (hotkey.to_string(), reason.to_string());
        self.with(move |conn| {
            let now = crate::evidence::unix_now() as i64;
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
