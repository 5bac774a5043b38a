//! `nexis api` (the evidence server) against both stores: requests built byte for byte like
//! the Python client (protocol §12 vectors) and our client; every status code; replay,
//! skew, allowlist, quorum at its boundary, the window edges, restart, a killed database
//! connection, the status page in headless Chromium.

use nexis::protocol::IntervalId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::StatusCode;
use schnorrkel::{PublicKey, Signature, signing_context};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::compat::vectors;
use crate::pg_server::PgServer;
use nexis::chain::wallet::ss58_decode;
use nexis::chain::{Hotkey, Metagraph, Neuron};
use nexis::evidence::{DEFAULT_TIMEOUT, EvidenceClient, auth_message, unix_now};
use nexis::evidence_server::quorum::Allowlist;
use nexis::evidence_server::store::{EvidenceStore, open_store, postgres::PgStore, sqlite::SqliteStore};
use nexis::evidence_server::{EvidenceServer, ServerConfig, serve};
use nexis::model::{Decision, DecisionNotes, Failure};

pub(crate) fn key(n: u8) -> Hotkey {
    Hotkey::from_seed([n; 32])
}

/// V1..V4 hold 100, 100, 100, 300 (total 600); key 9 is registered without a permit.
pub(crate) fn metagraph() -> Metagraph {
    let mut neurons: Vec<Neuron> = [(1u8, 100u64), (2, 100), (3, 100), (4, 300)]
        .iter()
        .map(|(n, s)| Neuron {
            uid: u16::from(*n),
            hotkey: key(*n).ss58(),
            stake: Some(*s),
            validator_permit: Some(true),
        })
        .collect();
    neurons.push(Neuron { uid: 9, hotkey: key(9).ss58(), stake: Some(10_000), validator_permit: Some(false) });
    Metagraph { netuid: 1, block: 77, neurons }
}

pub(crate) struct Running {
    pub(crate) server: Arc<EvidenceServer>,
    pub(crate) addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub(crate) async fn start(store: Arc<dyn EvidenceStore>, config: ServerConfig) -> Running {
    let server = EvidenceServer::new(store, config.clone());
    server.set_allowlist(Allowlist::from_metagraph(&metagraph(), 0, &config.source_auth));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (addr, task) = serve(&server, "127.0.0.1:0".parse().expect("addr"), rx).await.expect("serve");
    Running { server, addr, stop, task }
}

/// A request exactly as the Python client builds it: the body bytes as given, hex
/// signature (no `0x`) of `METHOD|path|sha256|ts|nonce`.
pub(crate) async fn python_post(
    base: &Running,
    signer: &Hotkey,
    path: &str,
    body: &[u8],
    ts: i64,
    nonce: &str,
) -> (StatusCode, Value) {
    let sha = hex::encode(Sha256::digest(body));
    let message = format!("POST|{path}|{sha}|{ts}|{nonce}");
    let signature = hex::encode(signer.sign(message.as_bytes()));
    raw_post(
        base,
        path,
        body,
        &[
            ("X-Validator-Hotkey", signer.ss58()),
            ("X-Signature", signature),
            ("X-Timestamp", ts.to_string()),
            ("X-Nonce", nonce.to_string()),
        ],
    )
    .await
}

pub(crate) async fn raw_post(
    base: &Running,
    path: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (StatusCode, Value) {
    let mut req =
        reqwest::Client::new().post(base.url(path)).header("Content-Type", "application/json").body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let reply = req.send().await.expect("send");
    let status = reply.status();
    let value = reply.json::<Value>().await.unwrap_or(Value::Null);
    (status, value)
}

pub(crate) async fn get(base: &Running, path: &str) -> (StatusCode, Value) {
    let reply = reqwest::get(base.url(path)).await.expect("get");
    let status = reply.status();
    (status, reply.json::<Value>().await.unwrap_or(Value::Null))
}

async fn invalid_at(base: &Running, interval: u64) -> Vec<String> {
    let (status, v) = get(base, &format!("/v1/invalid-hotkeys?interval_id={interval}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    serde_json::from_value(v["invalid_hotkeys"].clone()).expect("list")
}

pub(crate) fn nonce(n: u32) -> String {
    format!("{n:032x}")
}

pub(crate) fn now() -> i64 {
    unix_now() as i64
}

/// The Python client's results request (the §12 vector bytes) and everything around it.
async fn python_client_contract(base: &Running) {
    let v = vectors();
    let body = v["interval_payload_bytes"].as_str().expect("vector").as_bytes().to_vec();
    assert_eq!(hex::encode(Sha256::digest(&body)), v["interval_payload_sha256"].as_str().expect("sha"));
    let path = "/v1/validation-results";
    let (v1, ts) = (key(1), now());
    // Missing header, non-integer timestamp, skewed clock (both ways): 401.
    let (s, e) = raw_post(base, path, &body, &[("X-Validator-Hotkey", v1.ss58())]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
    let (s, _) = raw_post(
        base,
        path,
        &body,
        &[
            ("X-Validator-Hotkey", v1.ss58()),
            ("X-Signature", "00".into()),
            ("X-Timestamp", "soon".into()),
            ("X-Nonce", nonce(1)),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(python_post(base, &v1, path, &body, ts - 400, &nonce(1)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(python_post(base, &v1, path, &body, ts + 400, &nonce(1)).await.0, StatusCode::UNAUTHORIZED);
    // Unknown hotkey, hotkey without a validator permit: 403.
    assert_eq!(python_post(base, &key(8), path, &body, ts, &nonce(1)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(python_post(base, &key(9), path, &body, ts, &nonce(1)).await.0, StatusCode::FORBIDDEN);
    // Signature over other bytes: 401.
    let sig = hex::encode(key(2).sign(b"something else"));
    let hdrs = [
        ("X-Validator-Hotkey", v1.ss58()),
        ("X-Signature", sig),
        ("X-Timestamp", ts.to_string()),
        ("X-Nonce", nonce(1)),
    ];
    assert_eq!(raw_post(base, path, &body, &hdrs).await.0, StatusCode::UNAUTHORIZED);
    // A bad body with nonce 1 is 422 and does not consume the nonce ...
    let bad = br#"{"decisions":[{"miner_hotkey":"m1","accepted":false,"failures":[]}],"interval_id":100}"#;
    let (s, e) = python_post(base, &v1, path, bad, ts, &nonce(1)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["detail"].as_str().is_some_and(|d| d.contains("failure")), "{e}");
    // ... so the vector body with the same nonce is accepted; the same request again (a
    // retry) gets the first answer, another request with that nonce is 409.
    let (s, e) = python_post(base, &v1, path, &body, ts, &nonce(1)).await;
    assert_eq!((s, e["stored"].as_u64()), (StatusCode::OK, Some(2)), "{e}");
    let (s, again) = python_post(base, &v1, path, &body, ts, &nonce(1)).await;
    assert_eq!((s, &again), (StatusCode::OK, &e), "a retry answers as the first request did");
    let other = br#"{"interval_id":100,"decisions":[{"miner_hotkey":"m9","accepted":true,"failures":[]}]}"#;
    assert_eq!(python_post(base, &v1, path, other, ts, &nonce(1)).await.0, StatusCode::CONFLICT);
    // A `0x`-prefixed signature is accepted too.
    let sha = hex::encode(Sha256::digest(&body));
    let msg = auth_message("POST", path, &sha, ts as u64, &nonce(2));
    let sig = format!("0x{}", hex::encode(v1.sign(msg.as_bytes())));
    let hdrs = [
        ("X-Validator-Hotkey", v1.ss58()),
        ("X-Signature", sig),
        ("X-Timestamp", ts.to_string()),
        ("X-Nonce", nonce(2)),
    ];
    assert_eq!(raw_post(base, path, &body, &hdrs).await.0, StatusCode::OK);
    // Over the body cap: 413.
    let huge = vec![b' '; 70_000];
    assert_eq!(python_post(base, &v1, path, &huge, ts, &nonce(3)).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // The stored evidence re-verifies offline: body hash and sr25519 signature.
    let (s, got) = get(base, &format!("/v1/validation-results?validator_hotkey={}&interval_id=100", v1.ss58())).await;
    assert_eq!(s, StatusCode::OK);
    let rows = got["decisions"].as_array().expect("decisions");
    assert_eq!(rows.len(), 2, "{got}");
    let m1 = rows.iter().find(|r| r["miner_hotkey"] == "m1").expect("m1");
    assert_eq!((m1["accepted"].as_bool(), m1["failures"][0].as_str()), (Some(false), Some("dataset_sha256_mismatch")));
    let m2 = rows.iter().find(|r| r["miner_hotkey"] == "m2").expect("m2");
    assert_eq!((m2["record_count"].as_u64(), m2["global_overlap_pruned_count"].as_u64()), (Some(7), Some(2)));
    // The listing carries a reference to the evidence, never its body.
    assert!(m1.get("body").is_none() && m1.get("evidence").is_none(), "{m1}");
    let evidence_id = m1["evidence_id"].as_i64().expect("evidence_id");
    assert_eq!(m1["body_sha256"].as_str(), Some(sha.as_str()));
    let (s, ev) = get(base, &format!("/v1/evidence/{evidence_id}")).await;
    assert_eq!(s, StatusCode::OK, "{ev}");
    assert_eq!(ev["evidence_id"].as_i64(), Some(evidence_id));
    assert_eq!(get(base, &format!("/v1/evidence/{}", evidence_id + 1000)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(base, "/v1/evidence/x").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let ev_body = ev["body"].as_str().expect("body");
    assert_eq!(ev_body.as_bytes(), &body[..]);
    assert_eq!(ev["body_sha256"].as_str(), Some(sha.as_str()));
    let msg =
        auth_message("POST", path, &sha, ev["timestamp"].as_u64().expect("ts"), ev["nonce"].as_str().expect("nonce"));
    let sig_hex = ev["signature"].as_str().expect("sig").trim_start_matches("0x");
    let sig = Signature::from_bytes(&hex::decode(sig_hex).expect("hex")).expect("sig");
    let public = PublicKey::from_bytes(&ss58_decode(&v1.ss58()).expect("ss58")).expect("pk");
    public.verify(signing_context(b"substrate").bytes(msg.as_bytes()), &sig).expect("evidence verifies offline");
}

/// Quorum and window rules through our client and explicit posts.
async fn quorum_and_window(base: &Running) {
    // V1 rejected m1 at 100 (above): 100 of 600 stake is below 1/3.
    assert!(!invalid_at(base, 100).await.contains(&"m1".to_string()), "one validator alone cannot invalidate");
    let client = |n: u8| EvidenceClient::new(&base.url("/"), DEFAULT_TIMEOUT, key(n)).expect("client");
    let rejected = Decision::load_failure("m1", 100, Failure::DatasetSha256Mismatch, DecisionNotes::default());
    client(2).post_results(100, &[rejected]).await.expect("V2 posts");
    // 200 of 600 is exactly 1/3: the boundary reaches the quorum.
    assert_eq!(client(3).fetch_invalid_hotkeys(100).await.expect("get"), vec!["m1".to_string()]);
    // Explicit posts: V1 + V2 mark "w" at 1000; the window of I is [I-500, I].
    for n in [1, 2] {
        client(n).post_invalid_hotkeys(1000, &["w".into()]).await.expect("post invalid");
    }
    for (i, listed) in [(999, false), (1000, true), (1500, true), (1501, false)] {
        assert_eq!(invalid_at(base, i).await.contains(&"w".to_string()), listed, "interval {i}");
    }
    let (_, v) = get(base, "/v1/invalid-hotkeys?interval_id=1200").await;
    assert_eq!((v["window_start"].as_u64(), v["window_end"].as_u64()), (Some(700), Some(1200)));
    assert_eq!(
        (v["window_start_interval_id"].as_u64(), v["window_end_interval_id"].as_u64()),
        (Some(700), Some(1200)),
        "the reference's field names"
    );
    assert_eq!(get(base, "/v1/invalid-hotkeys").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(get(base, "/v1/invalid-hotkeys?interval_id=x").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    // The source-auth hotkey 7 carries 0.34 on its own.
    client(7).post_invalid_hotkeys(2000, &["s".into()]).await.expect("source auth posts");
    assert_eq!(invalid_at(base, 2000).await, vec!["s".to_string()], "w (1000) is outside [1500, 2000]");
}

/// A post naming one miner twice is stored as if its decisions came one after the other:
/// the last wins (both stores write a post in one statement, so this is checked).
async fn a_miner_twice_in_one_post(base: &Running) {
    let body = br#"{"interval_id":3000,"decisions":[
        {"miner_hotkey":"d1","accepted":true,"failures":[],"record_count":4},
        {"miner_hotkey":"d2","accepted":true,"failures":[]},
        {"miner_hotkey":"d1","accepted":false,"failures":["dataset_sha256_mismatch"]}]}"#;
    let (s, e) = python_post(base, &key(3), "/v1/validation-results", body, now(), &nonce(30)).await;
    assert_eq!((s, e["stored"].as_u64()), (StatusCode::OK, Some(3)), "{e}");
    for query in [format!("validator_hotkey={}&interval_id=3000", key(3).ss58()), "interval_id=3000".to_string()] {
        let (s, got) = get(base, &format!("/v1/validation-results?{query}")).await;
        assert_eq!(s, StatusCode::OK, "{got}");
        let rows = got["decisions"].as_array().expect("decisions");
        let miners: Vec<_> = rows.iter().map(|r| r["miner_hotkey"].as_str().unwrap_or_default()).collect();
        assert_eq!(miners, ["d1", "d2"], "{query}: one row per miner, ordered by miner");
        assert_eq!((rows[0]["accepted"].as_bool(), rows[0]["record_count"].as_u64()), (Some(false), Some(0)));
    }
    let (_, other) =
        get(base, &format!("/v1/validation-results?validator_hotkey={}&interval_id=3000", key(1).ss58())).await;
    assert_eq!(other["count"].as_u64(), Some(0), "another validator's listing is empty: {other}");
}

async fn blacklist_and_latest(base: &Running) {
    assert_eq!(get(base, "/healthz").await.0, StatusCode::OK);
    base.server.store().blacklist_add("5Bad", "test").await.expect("add");
    let client = EvidenceClient::new(&base.url(""), DEFAULT_TIMEOUT, key(1)).expect("client");
    assert_eq!(client.fetch_blacklist().await.expect("blacklist"), vec!["5Bad".to_string()]);
    for path in ["/v1/get_latest_result", "/get_latest_result"] {
        let (s, _) = get(base, path).await;
        assert!(s == StatusCode::SERVICE_UNAVAILABLE || s == StatusCode::OK);
    }
    base.server.refresh_latest(30_100).await.expect("refresh");
    for path in ["/v1/get_latest_result", "/get_latest_result"] {
        let (s, v) = get(base, path).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["current_block"], 30_100);
        assert_eq!(v["start_interval_id"], 5_100);
        assert_eq!(v["end_interval_id"], 30_100);
        assert_eq!(v["refreshed_every_blocks"], 30);
        assert!(v["cached_at"].is_string());
        assert!(v["decisions"].as_array().expect("decisions").is_empty(), "interval 100 is older than block−25000");
    }
    base.server.refresh_latest(1_000).await.expect("refresh");
    let (_, v) = get(base, "/v1/get_latest_result").await;
    assert_eq!(v["decisions"].as_array().map(Vec::len), Some(2 + 1), "V1's two rows and V2's one at interval 100");
    latest_is_conditional_and_gzipped(base, &v).await;
}

/// `get_latest_result` answers pollers cheaply: gzip when accepted (the same JSON), and
/// 304 for the entity tag of the current view until the next refresh.
async fn latest_is_conditional_and_gzipped(base: &Running, plain: &serde_json::Value) {
    use std::io::Read;
    let http = reqwest::Client::new();
    let url = base.url("/v1/get_latest_result");
    let zipped = http.get(&url).header("accept-encoding", "gzip").send().await.expect("get");
    assert_eq!(zipped.status(), StatusCode::OK);
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let tag = zipped.headers()["etag"].clone();
    let mut json = Vec::new();
    let body = zipped.bytes().await.expect("body");
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut json).expect("gunzip");
    assert_eq!(&serde_json::from_slice::<serde_json::Value>(&json).expect("json"), plain);
    let again = http.get(&url).header("accept-encoding", "gzip").header("if-none-match", tag.clone()).send().await;
    let again = again.expect("get");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "same view, same tag");
    assert!(again.bytes().await.expect("body").is_empty());
    let identity = http.get(&url).send().await.expect("get");
    assert!(identity.headers().get("content-encoding").is_none(), "no gzip unless asked");
    assert_ne!(identity.headers()["etag"], tag, "each encoding has its own tag");
    base.server.refresh_latest(1_031).await.expect("refresh");
    let fresh = http.get(&url).header("accept-encoding", "gzip").header("if-none-match", tag).send().await;
    assert_eq!(fresh.expect("get").status(), StatusCode::OK, "a new view is sent in full");
}

pub(crate) fn config() -> ServerConfig {
    let mut source_auth = HashMap::new();
    source_auth.insert(key(7).ss58(), "0.34".parse().expect("fraction"));
    ServerConfig { max_body_bytes: 64 * 1024, source_auth, ..ServerConfig::default() }
}

/// The whole contract on one store, then a restart on a reopened store.
async fn contract(open: impl AsyncFn() -> Arc<dyn EvidenceStore>) {
    let base = start(open().await, config()).await;
    assert_eq!(get(&base, "/v1/get_latest_result").await.0, StatusCode::SERVICE_UNAVAILABLE, "503 until ready");
    python_client_contract(&base).await;
    quorum_and_window(&base).await;
    a_miner_twice_in_one_post(&base).await;
    blacklist_and_latest(&base).await;
    base.stop().await;
    // Restart: everything is still there, including the used nonces.
    let base = start(open().await, config()).await;
    assert_eq!(invalid_at(&base, 1000).await, vec!["w".to_string()]);
    assert_eq!(invalid_at(&base, 100).await, vec!["m1".to_string()]);
    let (_, bl) = get(&base, "/v1/get_blacklist").await;
    assert_eq!(bl, json!({"blacklist_hotkeys": ["5Bad"]}));
    let other = br#"{"interval_id":100,"decisions":[{"miner_hotkey":"m9","accepted":true,"failures":[]}]}"#;
    let (s, _) = python_post(&base, &key(1), "/v1/validation-results", other, now(), &nonce(1)).await;
    assert_eq!(s, StatusCode::CONFLICT, "nonces survive a restart");
    base.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    contract(async || -> Arc<dyn EvidenceStore> { open_store(None, &path).await.expect("sqlite") }).await;
    assert!(path.join("api/evidence.sqlite3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_postgres() {
    let pg = PgServer::start();
    let url = pg.url();
    contract(async || -> Arc<dyn EvidenceStore> {
        let store: Arc<dyn EvidenceStore> = Arc::new(PgStore::connect(&url, 2).await.expect("postgres"));
        store
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_killed_and_server_restarted_recover() {
    let pg = PgServer::start();
    let base = start(Arc::new(PgStore::connect(&pg.url(), 1).await.expect("postgres")), config()).await;
    let client = EvidenceClient::new(&base.url(""), DEFAULT_TIMEOUT, key(1)).expect("client");
    client.post_invalid_hotkeys(5, &["a".into()]).await.expect("first post");
    // Kill the store's backend from another session.
    let (admin, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.expect("admin");
    tokio::spawn(conn);
    let killed = admin
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = 'postgres'", &[])
        .await
        .expect("terminate");
    assert!(killed >= 1, "a store connection was terminated");
    client.post_invalid_hotkeys(6, &["b".into()]).await.expect("post after the kill");
    // A full server restart too.
    drop(admin);
    pg.restart();
    assert_eq!(client.fetch_blacklist().await.expect("read after restart"), Vec::<String>::new());
    client.post_invalid_hotkeys(7, &["c".into()]).await.expect("post after restart");
    let votes = base.server.store().votes(IntervalId::new(0)..=IntervalId::new(10)).await.expect("votes");
    assert_eq!(votes.iter().map(|v| v.miner_hotkey.as_str()).collect::<Vec<_>>(), vec!["a", "b", "c"]);
    base.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_per_hotkey() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite"));
    let base = start(store, ServerConfig { rate_per_min: 2, ..config() }).await;
    let c1 = EvidenceClient::new(&base.url(""), DEFAULT_TIMEOUT, key(1)).expect("client");
    c1.post_invalid_hotkeys(1, &["x".into()]).await.expect("1st");
    c1.post_invalid_hotkeys(1, &["x".into()]).await.expect("2nd");
    let err = c1.post_invalid_hotkeys(1, &["x".into()]).await.expect_err("3rd is limited");
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS), "{err}");
    let c2 = EvidenceClient::new(&base.url(""), DEFAULT_TIMEOUT, key(2)).expect("client");
    c2.post_invalid_hotkeys(1, &["x".into()]).await.expect("another hotkey is not limited");
    base.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_swept_by_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite");
    let ev = |nonce: &str, at: i64| nexis::evidence_server::store::Evidence {
        validator_hotkey: "v".into(),
        interval_id: 1,
        kind: nexis::evidence_server::store::EvidenceKind::InvalidHotkeys,
        signature: "s".into(),
        timestamp: at,
        nonce: nonce.into(),
        body_sha256: "h".into(),
        body: "{}".into(),
        received_at: at,
    };
    store.record_invalid(&ev("old", 100), &[]).await.expect("old");
    store.record_invalid(&ev("new", 1000), &[]).await.expect("new");
    assert_eq!(store.sweep_nonces(500).await.expect("sweep"), 1);
    store.record_invalid(&ev("old", 1100), &[]).await.expect("a swept nonce is free again");
    let retried = store.record_invalid(&ev("new", 1100), &[]).await.expect("the same request again");
    assert!(retried.replayed, "answered from the nonce row");
    let other = nexis::evidence_server::store::Evidence { body_sha256: "other".into(), ..ev("new", 1100) };
    assert!(matches!(
        store.record_invalid(&other, &[]).await,
        Err(nexis::evidence_server::store::StoreError::NonceReplayed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_refreshes_from_the_embedded_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = nexis::chain::embedded::EmbeddedChain::open(nexis::chain::embedded::EmbeddedSettings::new(
        dir.path().join("chain"),
        60_000,
    ))
    .expect("chain");
    chain.register(1, &key(1).ss58()).expect("register");
    let chain: Arc<dyn nexis::chain::Chain> = Arc::new(chain);
    let store = Arc::new(SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite"));
    let server =
        EvidenceServer::new(store, ServerConfig { block_poll: std::time::Duration::from_millis(20), ..config() });
    assert!(!server.allowlist().allows(&key(1).ss58()));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let upkeep = tokio::spawn(server.clone().run_upkeep(chain, rx));
    let (addr, task) = serve(&server, "127.0.0.1:0".parse().expect("addr"), stop.subscribe()).await.expect("serve");
    // Wait (by polling, no deadline) for the first upkeep pass.
    loop {
        let reply = reqwest::get(format!("http://{addr}/get_latest_result")).await.expect("get");
        if reply.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(server.allowlist().allows(&key(1).ss58()), "registered validator allowed");
    assert!(!server.allowlist().allows(&key(2).ss58()));
    let _ = stop.send(true);
    let _ = upkeep.await;
    let _ = task.await;
}
