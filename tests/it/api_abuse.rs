//! `nexis api` under abuse (issue 24), on both stores: reads that cost what they return
//! (no request body inlined in a listing, limits by bytes), evidence served one body at a
//! time.

use nexis::protocol::IntervalId;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_server::{Running, config, get, key, nonce, now, python_post, start};
use crate::pg_server::PgServer;
use nexis::evidence::{DEFAULT_TIMEOUT, EvidenceClient};
use nexis::evidence_server::ServerConfig;
use nexis::evidence_server::listen::ConnLimits;
use nexis::evidence_server::store::{
    DecisionRow, Evidence, EvidenceStore, Listing, Recorded, ResultFilter, StoreError, StoredEvidence, Vote,
    postgres::PgStore, sqlite::SqliteStore,
};
use nexis::model::{Decision, DecisionNotes, Failure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESULTS: &str = "/v1/validation-results";

/// A results body with `decisions` rejected decisions (failures of `failure_len` characters
/// each, `failures` per decision), padded with trailing spaces to `pad_to` bytes.
fn results_body(interval: u64, decisions: usize, failures: usize, failure_len: usize, pad_to: usize) -> Vec<u8> {
    let rows: Vec<Value> = (0..decisions)
        .map(|i| {
            json!({
                "miner_hotkey": format!("m{i:05}"),
                "accepted": false,
                "failures": (0..failures).map(|f| format!("{f}{}", "x".repeat(failure_len.saturating_sub(4)))).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut body = serde_json::to_vec(&json!({"interval_id": interval, "decisions": rows})).expect("json");
    if body.len() < pad_to {
        body.resize(pad_to, b' ');
    }
    body
}

/// Raw GET: status and body bytes.
async fn get_bytes(base: &Running, path: &str) -> (StatusCode, Vec<u8>) {
    let reply = reqwest::get(base.url(path)).await.expect("get");
    (reply.status(), reply.bytes().await.expect("body").to_vec())
}

fn big_config() -> ServerConfig {
    ServerConfig { max_body_bytes: 1 << 20, ..config() }
}

/// Finding 1 (amplification): 200 decisions in one padded 512 KiB post used to come back as
/// 200 copies of the body (100 MiB) in one GET. Now each row is a few hundred bytes and
/// carries the evidence id; the body is served once by `GET /v1/evidence/{id}`.
async fn listing_costs_what_it_returns(store: Arc<dyn EvidenceStore>) {
    let base = start(store, big_config()).await;
    let body = results_body(300, 200, 1, 20, 512 * 1024);
    let (s, v) = python_post(&base, &key(1), RESULTS, &body, now(), &nonce(1)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, bytes) = get_bytes(&base, &format!("{RESULTS}?limit=10000")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(bytes.len() < 200 * 1024, "200 rows answered with {} bytes: bodies are inlined", bytes.len());
    let listing: Value = serde_json::from_slice(&bytes).expect("json");
    let rows = listing["decisions"].as_array().expect("decisions");
    assert_eq!(rows.len(), 200);
    assert_eq!(listing["truncated"], false);
    let ids: std::collections::BTreeSet<i64> = rows.iter().map(|r| r["evidence_id"].as_i64().expect("id")).collect();
    assert_eq!(ids.len(), 1, "one post, one evidence row");
    let id = ids.first().copied().expect("id");
    let (s, ev) = get(&base, &format!("/v1/evidence/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ev["body"].as_str().map(str::len), Some(body.len()), "the evidence endpoint serves the body");
    assert_eq!(ev["validator_hotkey"].as_str(), Some(key(1).ss58().as_str()));
    base.stop().await;
}

/// Listings are limited by bytes as well as rows: 45 rows of 64 failures of 1000
/// characters (about 64 KiB each) do not fit in one 4 MiB answer.
async fn listing_is_limited_by_bytes(store: Arc<dyn EvidenceStore>) {
    let base = start(store, big_config()).await;
    for n in 0..3u32 {
        let body = results_body(400 + u64::from(n), 15, 64, 1000, 0);
        let (s, v) = python_post(&base, &key(1), RESULTS, &body, now(), &nonce(10 + n)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, bytes) = get_bytes(&base, &format!("{RESULTS}?limit=10000")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(bytes.len() <= 4 << 20, "answer of {} bytes is over the 4 MiB limit", bytes.len());
    let listing: Value = serde_json::from_slice(&bytes).expect("json");
    let count = listing["decisions"].as_array().map_or(0, Vec::len);
    assert!(count > 0 && count < 45, "{count} rows");
    assert_eq!(listing["truncated"], true);
    assert_eq!(listing["count"].as_u64(), Some(count as u64));
    // A small page is not truncated.
    let (_, v) = get(&base, &format!("{RESULTS}?limit=5")).await;
    assert_eq!((v["count"].as_u64(), &v["truncated"]), (Some(5), &json!(false)));
    base.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cost_what_they_return_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open =
        |name: &str| -> Arc<dyn EvidenceStore> { Arc::new(SqliteStore::open(&dir.path().join(name)).expect("sqlite")) };
    listing_costs_what_it_returns(open("a.sqlite3")).await;
    listing_is_limited_by_bytes(open("b.sqlite3")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cost_what_they_return_on_postgres() {
    let (a, b) = (PgServer::start(), PgServer::start());
    listing_costs_what_it_returns(Arc::new(PgStore::connect(&a.url(), 2).await.expect("postgres"))).await;
    listing_is_limited_by_bytes(Arc::new(PgStore::connect(&b.url(), 2).await.expect("postgres"))).await;
}

/// Reads until the server closes the socket; `true` when it did (EOF or reset) before
/// `guard` (a guard against hanging forever on a server that never closes, not a timing
/// assertion).
async fn closed_by_server(sock: &mut tokio::net::TcpStream, guard: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(guard, read).await.is_ok()
}

/// Finding 3 (slowloris): a half-sent request is cut off after the header timeout, and past
/// the connection cap new connections are closed at once while the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_cannot_hold_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite"));
    let conn = ConnLimits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(600),
        max_connections: 8,
    };
    let base = start(store, ServerConfig { conn, ..config() }).await;
    // Half-sent requests: the header timeout closes every one.
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut s = tokio::net::TcpStream::connect(base.addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
        slow.push(s);
    }
    for s in &mut slow {
        assert!(closed_by_server(s, Duration::from_secs(120)).await, "a half-sent request was left open");
    }
    drop(slow);
    // The cap: 8 open connections (sending nothing yet) hold every slot; the 9th is closed
    // at once. Each slot frees when its holder finishes.
    let base = {
        base.stop().await;
        let store = Arc::new(SqliteStore::open(&dir.path().join("f.sqlite3")).expect("sqlite"));
        let conn = ConnLimits { header_timeout: Duration::from_secs(600), ..conn };
        start(store, ServerConfig { conn, ..config() }).await
    };
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = tokio::net::TcpStream::connect(base.addr).await.expect("connect");
        // One full request each, so the slot is known to be taken before the next connect.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
        held.push(s);
    }
    let mut extra = tokio::net::TcpStream::connect(base.addr).await.expect("connect");
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(closed_by_server(&mut extra, Duration::from_secs(120)).await, "the 9th connection is closed");
    held.truncate(7);
    // A slot is free again: the server answers (polling until the close is noticed).
    loop {
        match reqwest::get(base.url("/healthz")).await {
            Ok(r) if r.status() == StatusCode::OK => break,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    drop(held);
    base.stop().await;
}

/// A store that counts the vote scans.
struct CountingStore {
    inner: Arc<dyn EvidenceStore>,
    vote_scans: AtomicUsize,
}

#[async_trait::async_trait]
impl EvidenceStore for CountingStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn record_results(&self, e: &Evidence, d: &[DecisionRow]) -> Result<Recorded, StoreError> {
        self.inner.record_results(e, d).await
    }
    async fn record_invalid(&self, e: &Evidence, h: &[String]) -> Result<Recorded, StoreError> {
        self.inner.record_invalid(e, h).await
    }
    async fn prune(&self, before: u64, superseded: i64, batch: usize) -> Result<u64, StoreError> {
        self.inner.prune(before, superseded, batch).await
    }
    async fn sweep_nonces(&self, before: i64) -> Result<u64, StoreError> {
        self.inner.sweep_nonces(before).await
    }
    async fn results(&self, filter: &ResultFilter) -> Result<Listing, StoreError> {
        self.inner.results(filter).await
    }
    async fn evidence(&self, id: i64) -> Result<Option<StoredEvidence>, StoreError> {
        self.inner.evidence(id).await
    }
    async fn votes(&self, intervals: RangeInclusive<IntervalId>) -> Result<Vec<Vote>, StoreError> {
        self.vote_scans.fetch_add(1, Ordering::SeqCst);
        self.inner.votes(intervals).await
    }
    async fn reporters(
        &self,
        intervals: RangeInclusive<IntervalId>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        self.inner.reporters(intervals, limit).await
    }
    async fn blacklist(&self) -> Result<Vec<String>, StoreError> {
        self.inner.blacklist().await
    }
    async fn blacklist_add(&self, hotkey: &str, reason: &str) -> Result<bool, StoreError> {
        self.inner.blacklist_add(hotkey, reason).await
    }
    async fn blacklist_remove(&self, hotkey: &str) -> Result<bool, StoreError> {
        self.inner.blacklist_remove(hotkey).await
    }
}

async fn invalid_list(base: &Running, interval: u64) -> Value {
    let (s, v) = get(base, &format!("/v1/invalid-hotkeys?interval_id={interval}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["invalid_hotkeys"].clone()
}

/// Finding 4 (quorum recomputed per read): once the block is known, reads are answered from
/// the cache POSTs update (one scan to build it, none per read), and the answers equal the
/// store's own computation (a second server without a block, reading the same file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_reads_come_from_a_cache_that_posts_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("e.sqlite3");
    let counting = Arc::new(CountingStore {
        inner: Arc::new(SqliteStore::open(&path).expect("sqlite")),
        vote_scans: AtomicUsize::new(0),
    });
    let cached = start(counting.clone(), config()).await;
    cached.server.set_current_block(10_000);
    let reference = start(Arc::new(SqliteStore::open(&path).expect("sqlite")), config()).await;
    let client = |n: u8| EvidenceClient::new(&cached.url(""), DEFAULT_TIMEOUT, key(n)).expect("client");
    let reject =
        |m: &str, i: u64| Decision::load_failure(m, i, Failure::DatasetSha256Mismatch, DecisionNotes::default());
    let accept = |m: &str, i: u64| Decision::evaluated(m, i, vec![], 3, 0, DecisionNotes::default());
    // Before the cache exists (a vote already stored), then through it.
    client(1).post_results(9_600, &[reject("a", 9_600), reject("b", 9_600)]).await.expect("post");
    let agree = async |what: &str| {
        for i in [9_500, 9_600, 9_700, 10_000, 10_100, 10_600] {
            assert_eq!(invalid_list(&cached, i).await, invalid_list(&reference, i).await, "{what}: interval {i}");
        }
    };
    agree("one validator").await;
    client(2).post_results(9_600, &[reject("a", 9_600), accept("b", 9_600)]).await.expect("post");
    client(4).post_invalid_hotkeys(9_900, &["c".into()]).await.expect("post");
    agree("two validators and an explicit mark").await;
    assert_eq!(invalid_list(&cached, 9_950).await, json!(["a", "c"]));
    // A later acceptance clears a rejection; the explicit mark stays.
    client(1).post_results(9_600, &[accept("a", 9_600)]).await.expect("post");
    client(4).post_results(9_900, &[accept("c", 9_900)]).await.expect("post");
    agree("after later acceptances").await;
    assert_eq!(invalid_list(&cached, 9_950).await, json!(["c"]));
    let scans = counting.vote_scans.load(Ordering::SeqCst);
    for _ in 0..50 {
        invalid_list(&cached, 9_950).await;
    }
    assert_eq!(counting.vote_scans.load(Ordering::SeqCst), scans, "reads do not scan the votes");
    assert!(scans <= 2, "{scans} scans: one to build the cache (and windows below its floor)");
    cached.stop().await;
    reference.stop().await;
}

/// Unauthenticated reads are limited per client address; `/healthz` is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_rate_limited_per_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite"));
    let base = start(store, ServerConfig { read_rate_per_min: 3, ..config() }).await;
    for _ in 0..3 {
        assert_eq!(get(&base, "/v1/get_blacklist").await.0, StatusCode::OK);
    }
    assert_eq!(get(&base, "/v1/invalid-hotkeys?interval_id=5").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get(&base, "/").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get(&base, "/healthz").await.0, StatusCode::OK);
    // Signed posts have their own limit.
    let client = EvidenceClient::new(&base.url(""), DEFAULT_TIMEOUT, key(1)).expect("client");
    client.post_invalid_hotkeys(5, &["x".into()]).await.expect("a post is not a read");
    base.stop().await;
}

/// A loopback proxy in front of PostgreSQL that, once armed, forwards the next `COMMIT`,
/// waits for the server's answer (so the commit happened) and then cuts the client off
/// without passing the answer on: a connection lost mid-commit.
struct CommitCutter {
    port: u16,
    armed: Arc<std::sync::atomic::AtomicBool>,
    cuts: Arc<AtomicUsize>,
}

impl CommitCutter {
    async fn start(pg_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (a, c) = (armed.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(("127.0.0.1", pg_port)).await.expect("connect pg");
                tokio::spawn(Self::pump(client, server, a.clone(), c.clone()));
            }
        });
        Self { port, armed, cuts }
    }

    async fn pump(
        client: tokio::net::TcpStream,
        server: tokio::net::TcpStream,
        armed: Arc<std::sync::atomic::AtomicBool>,
        cuts: Arc<AtomicUsize>,
    ) {
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let (cut_tx, mut cut_rx) = tokio::sync::watch::channel(false);
        let up = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let commit = buf[..n].windows(6).any(|w| w == b"COMMIT");
                if sw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                if commit && armed.swap(false, Ordering::SeqCst) {
                    let _ = cut_tx.send(true);
                    return;
                }
            }
        });
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if *cut_rx.borrow_and_update() {
                // The server answered the COMMIT: drop the answer and the client.
                cuts.fetch_add(1, Ordering::SeqCst);
                break;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        up.abort();
    }
}

/// Finding 11: a connection lost after PostgreSQL committed a post but before the answer
/// arrived. The store retries on a new connection; the nonce row carries the first result,
/// so the retry answers 200 with it (not 409) and nothing is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_commit_answer_was_lost_answers_as_stored() {
    let pg = PgServer::start();
    let cutter = CommitCutter::start(pg.port).await;
    let url = format!("postgres://nexis@127.0.0.1:{}/postgres", cutter.port);
    let base = start(Arc::new(PgStore::connect(&url, 1).await.expect("postgres")), config()).await;
    let body = results_body(700, 3, 1, 10, 0);
    cutter.armed.store(true, Ordering::SeqCst);
    let (s, v) = python_post(&base, &key(1), RESULTS, &body, now(), &nonce(77)).await;
    assert_eq!(cutter.cuts.load(Ordering::SeqCst), 1, "the commit's answer was cut off");
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["saved"].as_u64(), v["stored"].as_u64()), (Some(3), Some(3)), "{v}");
    let (admin, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.expect("admin");
    tokio::spawn(conn);
    let count = |sql: &'static str| {
        let admin = &admin;
        async move { admin.query_one(sql, &[]).await.expect("count").get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM validation_evidence").await, 1, "stored once");
    assert_eq!(count("SELECT count(*) FROM validation_results").await, 3);
    base.stop().await;
}

/// Evidence ids of the listing rows of `interval`.
async fn evidence_ids(base: &Running, interval: u64) -> Vec<i64> {
    let (_, v) = get(base, &format!("{RESULTS}?interval_id={interval}")).await;
    v["decisions"].as_array().expect("decisions").iter().map(|r| r["evidence_id"].as_i64().expect("id")).collect()
}

/// Finding 7 (evidence never pruned): rows, marks and evidence of intervals older than the
/// retention go, in small batches; evidence a later post replaced goes after its grace.
async fn retention_prunes_in_batches(store: Arc<dyn EvidenceStore>) {
    let base = start(store.clone(), ServerConfig { retention_intervals: 1_000, ..config() }).await;
    let mut n = 100;
    let mut post = async |interval: u64, miners: usize| {
        n += 1;
        let body = results_body(interval, miners, 1, 10, 0);
        let (s, v) = python_post(&base, &key(1), RESULTS, &body, now(), &nonce(n)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    };
    post(3_000, 5).await;
    post(4_500, 5).await;
    let first = evidence_ids(&base, 4_500).await;
    post(4_500, 5).await;
    let second = evidence_ids(&base, 4_500).await;
    assert_ne!(first, second, "the later post replaced the rows");
    let client = EvidenceClient::new(&base.url(""), DEFAULT_TIMEOUT, key(2)).expect("client");
    client.post_invalid_hotkeys(3_000, &["old".into()]).await.expect("old mark");
    client.post_invalid_hotkeys(4_500, &["new".into()]).await.expect("new mark");
    let old = evidence_ids(&base, 3_000).await;
    // Block 5000 with 1000 kept: intervals below 4000 go.
    let pruned = base.server.prune(5_000).await.expect("prune");
    assert_eq!(pruned, 5 + 1 + 2, "5 decisions, 1 mark and their 2 evidence rows");
    assert!(evidence_ids(&base, 3_000).await.is_empty());
    assert_eq!(get(&base, &format!("/v1/evidence/{}", old[0])).await.0, StatusCode::NOT_FOUND);
    let votes = store.votes(IntervalId::new(0)..=IntervalId::new(10_000)).await.expect("votes");
    assert!(votes.iter().all(|v| v.miner_hotkey != "old") && votes.iter().any(|v| v.miner_hotkey == "new"));
    // The replaced evidence (still within its hour of grace above) goes once past it, two
    // rows per batch at most.
    assert_eq!(get(&base, &format!("/v1/evidence/{}", first[0])).await.0, StatusCode::OK, "grace");
    let later = now() + 10;
    assert_eq!(store.prune(0, later, 2).await.expect("batch"), 1, "one replaced evidence row");
    assert_eq!(store.prune(0, later, 2).await.expect("batch"), 0);
    assert_eq!(get(&base, &format!("/v1/evidence/{}", first[0])).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&base, &format!("/v1/evidence/{}", second[0])).await.0, StatusCode::OK, "referenced evidence stays");
    assert_eq!(evidence_ids(&base, 4_500).await.len(), 5);
    base.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    retention_prunes_in_batches(Arc::new(SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite"))).await;
    let pg = PgServer::start();
    retention_prunes_in_batches(Arc::new(PgStore::connect(&pg.url(), 2).await.expect("postgres"))).await;
}
