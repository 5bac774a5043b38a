//! The production evidence store on PostgreSQL (`tokio-postgres`, no TLS: run it on
//! loopback or a private network, or put a TLS-terminating proxy in front). A small pool
//! of connections; a connection the server closed (restart, `pg_terminate_backend`) is
//! re-opened and the operation retried once. Migrations run at start and keep the Python
//! deployment's tables, adding the columns and the evidence table this server needs.

use crate::protocol::IntervalId;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use super::{
    DecisionRow, Evidence, EvidenceRef, EvidenceStore, Listing, Recorded, ResultFilter, StoreError, StoredDecision,
    StoredEvidence, Vote, bounds_of, failures_json, kind_of, last_per_miner, parse_failures, retry_answer, to_i64,
    to_u64,
};

/// Connections opened by [`super::open_store`].
pub(crate) const DEFAULT_POOL: usize = 16;

const MIGRATIONS: &str = "
CREATE TABLE IF NOT EXISTS validation_evidence (
    id BIGSERIAL PRIMARY KEY,
    validator_hotkey TEXT NOT NULL, interval_id BIGINT NOT NULL, kind TEXT NOT NULL,
    signature TEXT NOT NULL, timestamp BIGINT NOT NULL, nonce TEXT NOT NULL,
    body_sha256 TEXT NOT NULL, body TEXT NOT NULL, received_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS validation_results (
    id BIGSERIAL PRIMARY KEY,
    validator_hotkey TEXT NOT NULL, interval_id BIGINT NOT NULL, miner_hotkey TEXT NOT NULL,
    accepted BOOLEAN NOT NULL);
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS failures TEXT NOT NULL DEFAULT '[]';
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS record_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS global_overlap_pruned_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS cross_miner_overlap_pruned_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS evidence_id BIGINT REFERENCES validation_evidence(id);
CREATE UNIQUE INDEX IF NOT EXISTS validation_results_key
    ON validation_results (validator_hotkey, interval_id, miner_hotkey);
CREATE INDEX IF NOT EXISTS validation_results_interval ON validation_results (interval_id);
CREATE TABLE IF NOT EXISTS validator_request_nonces (
    validator_hotkey TEXT NOT NULL, nonce TEXT NOT NULL);
ALTER TABLE validator_request_nonces ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE UNIQUE INDEX IF NOT EXISTS validator_request_nonces_key ON validator_request_nonces (validator_hotkey, nonce);
CREATE INDEX IF NOT EXISTS validator_request_nonces_age ON validator_request_nonces (created_at);
ALTER TABLE validator_request_nonces ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT '';
ALTER TABLE validator_request_nonces ADD COLUMN IF NOT EXISTS body_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE validator_request_nonces ADD COLUMN IF NOT EXISTS stored BIGINT;
CREATE TABLE IF NOT EXISTS interval_invalid_hotkeys (
    id BIGSERIAL PRIMARY KEY, interval_id BIGINT NOT NULL, hotkey TEXT NOT NULL);
ALTER TABLE interval_invalid_hotkeys ADD COLUMN IF NOT EXISTS validator_hotkey TEXT NOT NULL DEFAULT '';
ALTER TABLE interval_invalid_hotkeys ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE interval_invalid_hotkeys ADD COLUMN IF NOT EXISTS evidence_id BIGINT REFERENCES validation_evidence(id);
CREATE UNIQUE INDEX IF NOT EXISTS interval_invalid_hotkeys_vote
    ON interval_invalid_hotkeys (interval_id, hotkey, validator_hotkey);
CREATE INDEX IF NOT EXISTS validation_results_evidence ON validation_results (evidence_id);
CREATE INDEX IF NOT EXISTS interval_invalid_hotkeys_evidence ON interval_invalid_hotkeys (evidence_id);
CREATE INDEX IF NOT EXISTS validation_evidence_received ON validation_evidence (received_at);
CREATE TABLE IF NOT EXISTS blacklisted_hotkeys (hotkey TEXT PRIMARY KEY);
ALTER TABLE blacklisted_hotkeys ADD COLUMN IF NOT EXISTS reason TEXT NOT NULL DEFAULT '';
ALTER TABLE blacklisted_hotkeys ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ NOT NULL DEFAULT now();
";

/// One post's decisions in one statement (arrays unnested; one round trip, not one per row).
const UPSERT_RESULTS: &str = "INSERT INTO validation_results (validator_hotkey, interval_id, miner_hotkey, accepted,
        failures, record_count, global_overlap_pruned_count, cross_miner_overlap_pruned_count, created_at, evidence_id)
    SELECT $1, $2, t.miner, t.accepted, t.failures, t.records, t.global_pruned, t.cross_pruned, to_timestamp($9), $10
    FROM UNNEST($3::TEXT[], $4::BOOLEAN[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[])
        AS t(miner, accepted, failures, records, global_pruned, cross_pruned)
    ON CONFLICT (validator_hotkey, interval_id, miner_hotkey) DO UPDATE SET
        accepted = excluded.accepted, failures = excluded.failures, record_count = excluded.record_count,
        global_overlap_pruned_count = excluded.global_overlap_pruned_count,
        cross_miner_overlap_pruned_count = excluded.cross_miner_overlap_pruned_count,
        created_at = excluded.created_at, evidence_id = excluded.evidence_id";

/// One post's invalid marks in one statement.
const UPSERT_INVALIDS: &str = "INSERT INTO interval_invalid_hotkeys (interval_id, hotkey, validator_hotkey,
        created_at, evidence_id)
    SELECT DISTINCT $1::BIGINT, t.hotkey, $3::TEXT, to_timestamp($4), $5::BIGINT FROM UNNEST($2::TEXT[]) AS t(hotkey)
    ON CONFLICT (interval_id, hotkey, validator_hotkey) DO UPDATE SET
        created_at = excluded.created_at, evidence_id = excluded.evidence_id";

/// Decisions of a range of intervals, newest first (`$1..=$2`, at most `$3` rows).
const RESULTS_OF_INTERVALS: &str = "SELECT r.validator_hotkey, r.interval_id, r.miner_hotkey, r.accepted,
        r.failures, r.record_count, r.global_overlap_pruned_count, r.cross_miner_overlap_pruned_count,
        e.id, e.signature, e.timestamp, e.nonce, e.body_sha256, e.received_at
     FROM validation_results r LEFT JOIN validation_evidence e ON e.id = r.evidence_id
     WHERE r.interval_id BETWEEN $1 AND $2
     ORDER BY r.interval_id DESC, r.miner_hotkey, r.validator_hotkey LIMIT $3";

/// The same, of one validator (`$4`): answered from the `(validator, interval, miner)` key.
const RESULTS_OF_VALIDATOR: &str = "SELECT r.validator_hotkey, r.interval_id, r.miner_hotkey, r.accepted,
        r.failures, r.record_count, r.global_overlap_pruned_count, r.cross_miner_overlap_pruned_count,
        e.id, e.signature, e.timestamp, e.nonce, e.body_sha256, e.received_at
     FROM validation_results r LEFT JOIN validation_evidence e ON e.id = r.evidence_id
     WHERE r.validator_hotkey = $4 AND r.interval_id BETWEEN $1 AND $2
     ORDER BY r.interval_id DESC, r.miner_hotkey, r.validator_hotkey LIMIT $3";

/// The PostgreSQL evidence store.
pub struct PgStore {
    url: String,
    shown: String,
    pool: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

fn db(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    let lost = e.is_closed()
        || e.code().is_some_and(|c| {
            [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(c)
        });
    if lost { StoreError::ConnectionLost(e.to_string()) } else { StoreError::Database(e.to_string()) }
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "postgres://(unparsable URL)".into(),
    }
}

async fn open(url: &str) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(db)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "evidence store: PostgreSQL connection closed");
        }
    });
    Ok(client)
}

impl PgStore {
    /// Connects `pool` connections to `url` and applies the migrations.
    pub async fn connect(url: &str, pool: usize) -> Result<Self, StoreError> {
        let first = open(url).await?;
        first.batch_execute(MIGRATIONS).await.map_err(db)?;
        let mut slots = vec![Mutex::new(Some(first))];
        for _ in 1..pool.max(1) {
            slots.push(Mutex::new(None));
        }
        Ok(Self { url: url.to_string(), shown: redact(url), pool: slots, next: AtomicUsize::new(0) })
    }

    /// Runs `op` on a pooled connection; a closed connection is re-opened and `op` retried
    /// once.
    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: for<'c> Fn(&'c mut Client) -> futures::future::BoxFuture<'c, Result<T, StoreError>>,
    {
        let n = self.pool.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A free connection if there is one, else the next in turn: a slow statement on
        // one connection never holds up requests that another could serve.
        let mut guard = match (0..n).find_map(|i| self.pool[(start + i) % n].try_lock().ok()) {
            Some(guard) => guard,
            None => self.pool[start % n].lock().await,
        };
        for attempt in 0..2 {
            if guard.as_ref().is_none_or(Client::is_closed) {
                *guard = None;
                *guard = Some(open(&self.url).await.map_err(|e| match e {
                    StoreError::ConnectionLost(r) => StoreError::Database(r),
                    other => other,
                })?);
            }
            let Some(client) = guard.as_mut() else { continue };
            match op(client).await {
                Err(StoreError::ConnectionLost(reason)) if attempt == 0 => {
                    tracing::warn!(%reason, "evidence store: connection lost; reconnecting");
                    *guard = None;
                }
                other => return other,
            }
        }
        Err(StoreError::Database("PostgreSQL connection lost twice".into()))
    }
}

/// Inserts the nonce (with the answer a retry gets) and the evidence inside `tx`: the
/// evidence row id, or the first answer when this request was stored already.
async fn insert_evidence(
    tx: &tokio_postgres::Transaction<'_>,
    ev: &Evidence,
    stored: usize,
) -> Result<Result<i64, Recorded>, StoreError> {
    let n = tx
        .execute(
            "INSERT INTO validator_request_nonces (validator_hotkey, nonce, created_at, kind, body_sha256, stored)
             VALUES ($1, $2, to_timestamp($3), $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &ev.validator_hotkey,
                &ev.nonce,
                &(ev.received_at as f64),
                &ev.kind.as_str(),
                &ev.body_sha256,
                &(stored as i64),
            ],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        let row = tx
            .query_one(
                "SELECT kind, body_sha256, stored FROM validator_request_nonces WHERE validator_hotkey = $1 AND nonce = $2",
                &[&ev.validator_hotkey, &ev.nonce],
            )
            .await
            .map_err(db)?;
        return retry_answer(ev, row.get(0), row.get(1), row.get(2)).map(Err);
    }
    let row = tx
        .query_one(
            "INSERT INTO validation_evidence (validator_hotkey, interval_id, kind, signature, timestamp, nonce,
                body_sha256, body, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &ev.validator_hotkey,
                &to_i64(ev.interval_id),
                &ev.kind.as_str(),
                &ev.signature,
                &ev.timestamp,
                &ev.nonce,
                &ev.body_sha256,
                &ev.body,
                &ev.received_at,
            ],
        )
        .await
        .map_err(db)?;
    Ok(Ok(row.get(0)))
}

/// A post's decisions as one array per column (the last decision per miner).
struct DecisionColumns {
    miners: Vec<String>,
    accepted: Vec<bool>,
    failures: Vec<String>,
    records: Vec<i64>,
    global_pruned: Vec<i64>,
    cross_pruned: Vec<i64>,
}

impl DecisionColumns {
    fn of(decisions: &[DecisionRow]) -> Self {
        let rows = last_per_miner(decisions);
        Self {
            miners: rows.iter().map(|d| d.miner_hotkey.clone()).collect(),
            accepted: rows.iter().map(|d| d.accepted).collect(),
            failures: rows.iter().map(|d| failures_json(&d.failures)).collect(),
            records: rows.iter().map(|d| to_i64(d.record_count)).collect(),
            global_pruned: rows.iter().map(|d| to_i64(d.global_overlap_pruned_count)).collect(),
            cross_pruned: rows.iter().map(|d| to_i64(d.cross_miner_overlap_pruned_count)).collect(),
        }
    }
}

fn read_decision(row: &tokio_postgres::Row) -> Result<StoredDecision, StoreError> {
    let failures: String = row.get(4);
    let decision = DecisionRow {
        miner_hotkey: row.get(2),
        accepted: row.get(3),
        failures: parse_failures(&failures)?,
        record_count: to_u64(row.get(5), "record_count")?,
        global_overlap_pruned_count: to_u64(row.get(6), "global_overlap_pruned_count")?,
        cross_miner_overlap_pruned_count: to_u64(row.get(7), "cross_miner_overlap_pruned_count")?,
    };
    let evidence = row.get::<_, Option<i64>>(8).map(|evidence_id| EvidenceRef {
        evidence_id,
        signature: row.get(9),
        timestamp: row.get(10),
        nonce: row.get(11),
        body_sha256: row.get(12),
        received_at: row.get(13),
    });
    Ok(StoredDecision {
        validator_hotkey: row.get(0),
        interval_id: to_u64(row.get(1), "interval_id")?,
        decision,
        evidence,
    })
}

fn read_evidence(row: &tokio_postgres::Row) -> Result<StoredEvidence, StoreError> {
    let kind: String = row.get(3);
    Ok(StoredEvidence {
        evidence_id: row.get(0),
        evidence: Evidence {
            validator_hotkey: row.get(1),
            interval_id: to_u64(row.get(2), "interval_id")?,
            kind: kind_of(&kind),
            signature: row.get(4),
            timestamp: row.get(5),
            nonce: row.get(6),
            body_sha256: row.get(7),
            body: row.get(8),
            received_at: row.get(9),
        },
    })
}

#[async_trait]
impl EvidenceStore for PgStore {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    async fn record_results(&self, evidence: &Evidence, decisions: &[DecisionRow]) -> Result<Recorded, StoreError> {
        self.run(|client| {
            let (evidence, decisions) = (evidence.clone(), decisions.to_vec());
            Box::pin(async move {
                let tx = client.transaction().await.map_err(db)?;
                let id = match insert_evidence(&tx, &evidence, decisions.len()).await? {
                    Ok(id) => id,
                    Err(first) => return Ok(first),
                };
                let rows = DecisionColumns::of(&decisions);
                let at = evidence.received_at as f64;
                let (validator, interval) = (&evidence.validator_hotkey, to_i64(evidence.interval_id));
                tx.execute(
                    UPSERT_RESULTS,
                    &[
                        validator,
                        &interval,
                        &rows.miners,
                        &rows.accepted,
                        &rows.failures,
                        &rows.records,
                        &rows.global_pruned,
                        &rows.cross_pruned,
                        &at,
                        &id,
                    ],
                )
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
                Ok(Recorded { stored: decisions.len(), replayed: false })
            })
        })
        .await
    }

    async fn record_invalid(&self, evidence: &Evidence, hotkeys: &[String]) -> Result<Recorded, StoreError> {
        self.run(|client| {
            let (evidence, hotkeys) = (evidence.clone(), hotkeys.to_vec());
            Box::pin(async move {
                let tx = client.transaction().await.map_err(db)?;
                let id = match insert_evidence(&tx, &evidence, hotkeys.len()).await? {
                    Ok(id) => id,
                    Err(first) => return Ok(first),
                };
                let at = evidence.received_at as f64;
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                    [&to_i64(evidence.interval_id), &hotkeys, &evidence.validator_hotkey, &at, &id];
                tx.execute(UPSERT_INVALIDS, &params).await.map_err(db)?;
                tx.commit().await.map_err(db)?;
                Ok(Recorded { stored: hotkeys.len(), replayed: false })
            })
        })
        .await
    }

    async fn prune(&self, before_interval: u64, superseded_before: i64, batch: usize) -> Result<u64, StoreError> {
        let (cut, limit) = (to_i64(before_interval), i64::try_from(batch).unwrap_or(i64::MAX));
        self.run(|client| {
            Box::pin(async move {
                let mut n = 0;
                for sql in [
                    "DELETE FROM validation_results WHERE id IN
                        (SELECT id FROM validation_results WHERE interval_id < $1 LIMIT $2)",
                    "DELETE FROM interval_invalid_hotkeys WHERE id IN
                        (SELECT id FROM interval_invalid_hotkeys WHERE interval_id < $1 LIMIT $2)",
                ] {
                    n += client.execute(sql, &[&cut, &limit]).await.map_err(db)?;
                }
                n += client
                    .execute(
                        "DELETE FROM validation_evidence WHERE id IN
                            (SELECT e.id FROM validation_evidence e WHERE (e.interval_id < $3 OR e.received_at < $1)
                               AND NOT EXISTS (SELECT 1 FROM validation_results r WHERE r.evidence_id = e.id)
                               AND NOT EXISTS (SELECT 1 FROM interval_invalid_hotkeys i WHERE i.evidence_id = e.id)
                             LIMIT $2)",
                        &[&superseded_before, &limit, &cut],
                    )
                    .await
                    .map_err(db)?;
                Ok(n)
            })
        })
        .await
    }

    async fn sweep_nonces(&self, before: i64) -> Result<u64, StoreError> {
        self.run(|client| {
            Box::pin(async move {
                client
                    .execute(
                        "DELETE FROM validator_request_nonces WHERE created_at < to_timestamp($1)",
                        &[&(before as f64)],
                    )
                    .await
                    .map_err(db)
            })
        })
        .await
    }

    async fn results(&self, filter: &ResultFilter) -> Result<Listing, StoreError> {
        let (lo, hi) = filter.bounds();
        let (limit, max_bytes) = (filter.limit_i64(), filter.max_bytes);
        let sql = if filter.validator_hotkey.is_some() { RESULTS_OF_VALIDATOR } else { RESULTS_OF_INTERVALS };
        self.run(|client| {
            let hotkey = filter.validator_hotkey.clone();
            Box::pin(async move {
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&lo, &hi, &limit];
                if let Some(hotkey) = &hotkey {
                    params.push(hotkey);
                }
                let rows = client.query_raw(sql, params).await.map_err(db)?;
                // Rows are read one at a time and the rest dropped once the byte limit is met.
                let mut rows = std::pin::pin!(rows);
                let (mut out, mut bytes) = (Listing::default(), 0);
                while let Some(row) = rows.next().await {
                    if !out.push(read_decision(&row.map_err(db)?)?, &mut bytes, max_bytes) {
                        break;
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn evidence(&self, id: i64) -> Result<Option<StoredEvidence>, StoreError> {
        self.run(|client| {
            Box::pin(async move {
                let row = client
                    .query_opt(
                        "SELECT id, validator_hotkey, interval_id, kind, signature, timestamp, nonce, body_sha256,
                            body, received_at FROM validation_evidence WHERE id = $1",
                        &[&id],
                    )
                    .await
                    .map_err(db)?;
                row.as_ref().map(read_evidence).transpose()
            })
        })
        .await
    }

    async fn votes(&self, intervals: RangeInclusive<IntervalId>) -> Result<Vec<Vote>, StoreError> {
        let (lo, hi) = bounds_of(&intervals);
        self.run(|client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT interval_id, miner_hotkey, validator_hotkey, FALSE FROM validation_results
                           WHERE NOT accepted AND interval_id BETWEEN $1 AND $2
                         UNION
                         SELECT interval_id, hotkey, validator_hotkey, TRUE FROM interval_invalid_hotkeys
                           WHERE interval_id BETWEEN $1 AND $2
                         ORDER BY 1, 2, 3, 4",
                        &[&lo, &hi],
                    )
                    .await
                    .map_err(db)?;
                rows.iter()
                    .map(|r| {
                        Ok(Vote {
                            interval_id: to_u64(r.get(0), "interval_id")?,
                            miner_hotkey: r.get(1),
                            reporter: r.get(2),
                            explicit: r.get(3),
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn reporters(
        &self,
        intervals: RangeInclusive<IntervalId>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let ((lo, hi), limit) = (bounds_of(&intervals), i64::try_from(limit).unwrap_or(i64::MAX));
        self.run(|client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT DISTINCT interval_id, validator_hotkey FROM validation_results
                         WHERE interval_id BETWEEN $1 AND $2 ORDER BY interval_id DESC, validator_hotkey LIMIT $3",
                        &[&lo, &hi, &limit],
                    )
                    .await
                    .map_err(db)?;
                rows.iter().map(|r| Ok((to_u64(r.get(0), "interval_id")?, r.get(1)))).collect()
            })
        })
        .await
    }

    async fn blacklist(&self) -> Result<Vec<String>, StoreError> {
        self.run(|client| {
            Box::pin(async move {
                let rows =
                    client.query("SELECT hotkey FROM blacklisted_hotkeys ORDER BY hotkey", &[]).await.map_err(db)?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
        })
        .await
    }

    async fn blacklist_add(&self, hotkey: &str, reason: &str) -> Result<bool, StoreError> {
        self.run(|client| {
            let (hotkey, reason) = (hotkey.to_string(), reason.to_string());
            Box::pin(async move {
                let n = client
                    .execute(
                        "INSERT INTO blacklisted_hotkeys (hotkey, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&hotkey, &reason],
                    )
                    .await
                    .map_err(db)?;
                Ok(n > 0)
            })
        })
        .await
    }

    async fn blacklist_remove(&self, hotkey: &str) -> Result<bool, StoreError> {
        self.run(|client| {
            let hotkey = hotkey.to_string();
            Box::pin(async move {
                let n = client
                    .execute("DELETE FROM blacklisted_hotkeys WHERE hotkey = $1", &[&hotkey])
                    .await
                    .map_err(db)?;
                Ok(n > 0)
            })
        })
        .await
    }
}
