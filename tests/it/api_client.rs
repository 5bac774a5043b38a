//! The evidence API client (protocol §12): the conformance vectors byte for byte, and
//! the client against a local HTTP server that checks every signed request on its own
//! (sha2 for the body hash, schnorrkel for the sr25519 signature), records what it
//! received, and can fail in the ways a real service does.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use schnorrkel::{PublicKey, Signature, signing_context};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::compat::vectors;
use nexis::chain::Hotkey;
use nexis::chain::wallet::ss58_decode;
use nexis::evidence::{
    DEFAULT_TIMEOUT, EvidenceClient, EvidenceError, EvidenceSetting, SignedHeaders, auth_message, canonical_json,
    interval_payload,
};
use nexis::model::{Decision, DecisionNotes, Failure};

const SEED: [u8; 32] = [42; 32];
const INVALID: [&str; 2] = ["5BadMinerOne", "5BadMinerTwo"];
const BLACKLIST: [&str; 1] = ["5Blacklisted"];

pub(crate) fn hotkey() -> Hotkey {
    Hotkey::from_seed(SEED)
}

/// The two decisions behind the `interval_payload_bytes` vector (interval 100).
fn vector_decisions() -> Vec<Decision> {
    let rejected = Decision::load_failure("m1", 100, Failure::DatasetSha256Mismatch, DecisionNotes::default());
    let notes = DecisionNotes {
        global_overlap_pruned_count: Some(2),
        cross_miner_overlap_pruned_count: Some(1),
        ..Default::default()
    };
    let accepted = Decision::evaluated("m2", 100, vec![], 7, 3, notes);
    vec![rejected, accepted]
}

// ---------------------------------------------------------------- vectors

#[test]
fn auth_message_vector() {
    let v = vectors();
    let want = v["auth_message"].as_str().expect("auth_message");
    let got = auth_message("POST", "/v1/validation-results", &"ab".repeat(32), 1_710_000_000, &"0".repeat(32));
    assert_eq!(got, want);
}

#[test]
fn interval_payload_vectors() {
    let v = vectors();
    let want = v["interval_payload_bytes"].as_str().expect("payload");
    let body = interval_payload(100, &vector_decisions());
    assert_eq!(String::from_utf8(body.clone()).expect("utf8"), want);
    assert_eq!(hex::encode(Sha256::digest(&body)), v["interval_payload_sha256"].as_str().expect("sha"));
    // The generic writer gives the same bytes for the same document, whatever its key order.
    let parsed: Value = serde_json::from_str(want).expect("json");
    assert_eq!(canonical_json(&parsed), want.as_bytes());
}

#[test]
fn canonical_json_escapes_non_ascii_like_python() {
    // Expected text: CPython `json.dumps(v, sort_keys=True, separators=(",", ":"))`.
    let v = json!({"z": "caf\u{e9} \u{1F600}", "a": ["tab\there", "quote\"", 1.5, -3, null]});
    assert_eq!(
        String::from_utf8(canonical_json(&v)).expect("ascii"),
        r#"{"a":["tab\there","quote\"",1.5,-3,null],"z":"caf\u00e9 \ud83d\ude00"}"#
    );
    let d = Decision::load_failure(
        "5\u{e9}",
        9,
        Failure::UnsupportedCategory { category: "\u{6c34}".into() },
        DecisionNotes::default(),
    );
    let body = String::from_utf8(interval_payload(9, &[d])).expect("ascii");
    assert!(body.is_ascii());
    assert!(
        body.contains(r#""failures":["unsupported_category:\u6c34"]"#) && body.contains(r#""miner_hotkey":"5\u00e9""#),
        "{body}"
    );
}

// ---------------------------------------------------------------- configuration

#[test]
fn configuration_errors_name_the_setting() {
    let api = EvidenceClient::new("http://127.0.0.1:9", DEFAULT_TIMEOUT, hotkey()).expect("ok");
    assert_eq!(api.timeout(), DEFAULT_TIMEOUT);
    let err = EvidenceClient::new("http://h", Duration::ZERO, hotkey()).expect_err("zero timeout");
    assert!(matches!(err, EvidenceError::Config { setting: EvidenceSetting::Timeout, .. }), "{err}");
    for bad in ["h:80", "ftp://h/", "  "] {
        let err = EvidenceClient::new(bad, DEFAULT_TIMEOUT, hotkey()).expect_err(bad);
        assert!(matches!(err, EvidenceError::Config { setting: EvidenceSetting::Url, .. }), "{err}");
    }
}

// ---------------------------------------------------------------- test server

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) verdict: Result<(), String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Normal,
    Fail500,
    Sleep(Duration),
    NotJson,
}

struct ServerState {
    mode: Mode,
    /// The only validator key allowed to post.
    allowed: [u8; 32],
    nonces: Mutex<HashSet<String>>,
    received: Mutex<Vec<Received>>,
}

pub(crate) struct TestServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
}

impl TestServer {
    pub(crate) async fn start(mode: Mode) -> Self {
        let state = Arc::new(ServerState {
            mode,
            allowed: hotkey().public(),
            nonces: Mutex::new(HashSet::new()),
            received: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/validation-results", post(handle))
            .route("/v1/invalid-hotkeys", get(handle).post(handle))
            .route("/v1/get_blacklist", get(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn api(&self, timeout: Duration) -> EvidenceClient {
        EvidenceClient::new(&self.url(), timeout, hotkey()).expect("client")
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    headers.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| format!("missing header {name}"))
}

/// Independent check of a signed request: headers present and well formed, the signature
/// verifies over `METHOD|path|sha256(body)|ts|nonce` under the allowed key, fresh nonce.
/// `Err((status, reason))` is what the service would answer.
fn verify(
    state: &ServerState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), (StatusCode, String)> {
    let unauthorized = |reason: String| (StatusCode::UNAUTHORIZED, reason);
    let address = header(headers, "x-validator-hotkey").map_err(unauthorized)?;
    let signature = header(headers, "x-signature").map_err(unauthorized)?;
    let timestamp = header(headers, "x-timestamp").map_err(unauthorized)?;
    let nonce = header(headers, "x-nonce").map_err(unauthorized)?;

    let public = ss58_decode(address).map_err(|e| unauthorized(e.to_string()))?;
    if public != state.allowed {
        return Err((StatusCode::FORBIDDEN, format!("{address} is not an allowed validator")));
    }
    let ts: u64 = timestamp.parse().map_err(|_| unauthorized("bad timestamp".into()))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    if now.abs_diff(ts) > 300 {
        return Err(unauthorized("timestamp outside the allowed skew".into()));
    }
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unauthorized(format!("nonce {nonce:?} is not 32 hex characters")));
    }
    let sig_bytes = hex::decode(signature).map_err(|_| unauthorized("signature is not hex".into()))?;
    if sig_bytes.len() != 64 {
        return Err(unauthorized("signature is not 64 bytes".into()));
    }
    let message = format!("{}|{}|{}|{ts}|{nonce}", method.as_str(), uri.path(), hex::encode(Sha256::digest(body)));
    let key = PublicKey::from_bytes(&public).map_err(|e| unauthorized(e.to_string()))?;
    let sig = Signature::from_bytes(&sig_bytes).map_err(|e| unauthorized(e.to_string()))?;
    key.verify(signing_context(b"substrate").bytes(message.as_bytes()), &sig)
        .map_err(|_| unauthorized("bad signature".into()))?;
    if !state.nonces.lock().expect("lock").insert(nonce.to_string()) {
        return Err(unauthorized("nonce reused".into()));
    }
    Ok(())
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verdict = if method == Method::POST { verify(&state, &method, &uri, &headers, &body) } else { Ok(()) };
    state.received.lock().expect("lock").push(Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers.clone(),
        body: body.to_vec(),
        verdict: verdict.clone().map_err(|(_, reason)| reason),
    });
    match state.mode {
        Mode::Fail500 => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        Mode::NotJson => return (StatusCode::OK, "<html>maintenance</html>").into_response(),
        Mode::Sleep(d) => tokio::time::sleep(d).await,
        Mode::Normal => {}
    }
    if let Err((status, reason)) = verdict {
        return (status, axum::Json(json!({ "detail": reason }))).into_response();
    }
    let reply = match (method.as_str(), uri.path()) {
        ("GET", "/v1/invalid-hotkeys") => {
            let interval: Option<u64> =
                uri.query().and_then(|q| q.strip_prefix("interval_id=")).and_then(|i| i.parse().ok());
            json!({ "invalid_hotkeys": INVALID, "interval_id": interval, "window": [0, 0] })
        }
        ("GET", "/v1/get_blacklist") => json!({ "blacklist_hotkeys": BLACKLIST }),
        _ => json!({ "ok": true }),
    };
    axum::Json(reply).into_response()
}

// ---------------------------------------------------------------- client against the server

#[tokio::test]
async fn post_results_is_signed_and_sends_the_exact_body() {
    let server = TestServer::start(Mode::Normal).await;
    let api = server.api(Duration::from_secs(5));
    api.post_results(100, &vector_decisions()).await.expect("post results");

    let got = server.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_deref()), ("POST", "/v1/validation-results", None));
    assert_eq!(r.verdict, Ok(()), "the server must accept the signature");
    let v = vectors();
    assert_eq!(r.body, v["interval_payload_bytes"].as_str().expect("payload").as_bytes());
    assert_eq!(header(&r.headers, "x-validator-hotkey"), Ok(hotkey().ss58().as_str()));
    assert_eq!(header(&r.headers, "content-type"), Ok("application/json"));
    assert_eq!(header(&r.headers, "x-signature").map(str::len), Ok(128));

    // A second post signs with a fresh nonce (the server refuses reuse).
    api.post_results(150, &vector_decisions()).await.expect("second post");
    assert_eq!(server.received()[1].verdict, Ok(()));
}

#[tokio::test]
async fn post_results_with_no_decisions_sends_nothing() {
    let server = TestServer::start(Mode::Normal).await;
    server.api(Duration::from_secs(5)).post_results(100, &[]).await.expect("nothing to do");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn post_invalid_hotkeys_is_signed() {
    let server = TestServer::start(Mode::Normal).await;
    let api = server.api(Duration::from_secs(5));
    api.post_invalid_hotkeys(200, &["5b".into(), " 5a ".into(), "5b".into()]).await.expect("post invalid");
    let got = server.received();
    assert_eq!((got[0].method.as_str(), got[0].path.as_str()), ("POST", "/v1/invalid-hotkeys"));
    assert_eq!(got[0].verdict, Ok(()));
    assert_eq!(got[0].body, br#"{"interval_id":200,"invalid_hotkeys":["5a","5b"]}"#);
}

#[tokio::test]
async fn invalid_hotkeys_and_blacklist_are_read() {
    let server = TestServer::start(Mode::Normal).await;
    let api = server.api(Duration::from_secs(5));
    assert_eq!(api.invalid_hotkeys(7_756_800).await, INVALID);
    assert_eq!(api.blacklist().await, BLACKLIST);
    let got = server.received();
    assert_eq!((got[0].method.as_str(), got[0].path.as_str()), ("GET", "/v1/invalid-hotkeys"));
    assert_eq!(got[0].query.as_deref(), Some("interval_id=7756800"));
    assert_eq!(
        (got[1].method.as_str(), got[1].path.as_str(), got[1].query.as_deref()),
        ("GET", "/v1/get_blacklist", None)
    );
    // GETs are not signed (protocol §12 marks only the POSTs as signed).
    assert!(got.iter().all(|r| r.headers.get("x-signature").is_none()));
}

#[tokio::test]
async fn full_endpoint_url_as_configured_by_existing_operators() {
    let server = TestServer::start(Mode::Normal).await;
    let url = format!("{}/v1/validation-results", server.url());
    let api = EvidenceClient::new(&url, Duration::from_secs(5), hotkey()).expect("config");
    api.post_results(100, &vector_decisions()).await.expect("post");
    assert_eq!(api.blacklist().await, BLACKLIST);
    let got = server.received();
    assert_eq!(got[0].path, "/v1/validation-results");
    assert_eq!(got[0].verdict, Ok(()));
}

async fn assert_degrades(api: &EvidenceClient) {
    assert!(api.invalid_hotkeys(100).await.is_empty());
    assert!(api.blacklist().await.is_empty());
    assert!(api.fetch_blacklist().await.is_err());
    let err = api.post_results(100, &vector_decisions()).await.expect_err("post must fail");
    let text = err.to_string();
    assert!(text.contains("/v1/validation-results"), "{text}");
    assert!(api.post_invalid_hotkeys(100, &["5x".into()]).await.is_err());
}

#[tokio::test]
async fn server_error_degrades_to_empty_lists_and_post_errors() {
    let server = TestServer::start(Mode::Fail500).await;
    let api = server.api(Duration::from_secs(5));
    assert_degrades(&api).await;
    let err = api.post_results(100, &vector_decisions()).await.expect_err("500");
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR), "{err}");
    assert!(err.to_string().contains("internal error"), "{err}");
}

#[tokio::test]
async fn non_json_reply_degrades_to_empty_lists() {
    let server = TestServer::start(Mode::NotJson).await;
    let api = server.api(Duration::from_secs(5));
    assert!(matches!(api.fetch_invalid_hotkeys(1).await, Err(EvidenceError::BadReply { .. })));
    assert!(api.invalid_hotkeys(1).await.is_empty());
    assert!(api.blacklist().await.is_empty());
    // A 2xx POST is success whatever its body says.
    api.post_results(100, &vector_decisions()).await.expect("2xx post");
}

#[tokio::test]
async fn slow_server_times_out_without_hanging() {
    let server = TestServer::start(Mode::Sleep(Duration::from_secs(5))).await;
    let api = server.api(Duration::from_millis(300));
    let started = Instant::now();
    assert!(matches!(api.fetch_blacklist().await, Err(EvidenceError::Timeout { .. })));
    assert_degrades(&api).await;
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn unreachable_service_degrades() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let api = EvidenceClient::new(&format!("http://{addr}"), Duration::from_secs(2), hotkey()).expect("client");
    assert!(api.invalid_hotkeys(1).await.is_empty());
    assert!(api.blacklist().await.is_empty());
    assert!(matches!(api.post_results(1, &vector_decisions()).await, Err(EvidenceError::Transport { .. })));
}

#[tokio::test]
async fn wrong_key_is_refused_and_reported_as_an_error() {
    let server = TestServer::start(Mode::Normal).await;
    let stranger =
        EvidenceClient::new(&server.url(), Duration::from_secs(5), Hotkey::from_seed([9; 32])).expect("client");
    let err = stranger.post_results(100, &vector_decisions()).await.expect_err("not allowed");
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN), "{err}");
}

#[tokio::test]
async fn tampered_requests_are_rejected_by_the_verifying_server() {
    let server = TestServer::start(Mode::Normal).await;
    let url = format!("{}/v1/validation-results", server.url());
    let body = interval_payload(100, &vector_decisions());
    let http = reqwest::Client::new();
    let send = |signed: SignedHeaders, body: Vec<u8>| {
        let mut req = http.post(&url).header("content-type", "application/json").body(body);
        for (name, value) in signed.pairs() {
            req = req.header(name, value);
        }
        req.send()
    };
    let sign = || SignedHeaders::sign_now(&hotkey(), "POST", "/v1/validation-results", &body);

    // Control: an untouched request passes.
    let good = sign();
    assert_eq!(send(good.clone(), body.clone()).await.expect("send").status(), StatusCode::OK);
    // The same request again: replayed nonce.
    assert_eq!(send(good, body.clone()).await.expect("send").status(), StatusCode::UNAUTHORIZED);

    // One flipped bit in the signature.
    let mut flipped = sign();
    let mut sig = hex::decode(&flipped.signature).expect("hex");
    sig[10] ^= 0x01;
    flipped.signature = hex::encode(sig);
    assert_eq!(send(flipped, body.clone()).await.expect("send").status(), StatusCode::UNAUTHORIZED);

    // A valid signature over a different body.
    let mut other = body.clone();
    let n = other.len();
    other[n - 2] = b'1';
    assert_eq!(send(sign(), other).await.expect("send").status(), StatusCode::UNAUTHORIZED);

    // A valid signature over another path.
    let elsewhere = SignedHeaders::sign_now(&hotkey(), "POST", "/v1/invalid-hotkeys", &body);
    assert_eq!(send(elsewhere, body.clone()).await.expect("send").status(), StatusCode::UNAUTHORIZED);

    // An old timestamp.
    let stale = SignedHeaders::sign(&hotkey(), "POST", "/v1/validation-results", &body, 1_710_000_000, "0".repeat(32));
    assert_eq!(send(stale, body.clone()).await.expect("send").status(), StatusCode::UNAUTHORIZED);

    let verdicts: Vec<bool> = server.received().iter().map(|r| r.verdict.is_ok()).collect();
    assert_eq!(verdicts, [true, false, false, false, false, false]);
}
