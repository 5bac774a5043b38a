//! The wire contract of `nexis api` against the reference server's response models: every
//! response of a scenario on both stores is parsed by `tests/api/reference_models.py`
//! (pydantic 2, the reference's own validation library).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_server::{Running, config, key, nonce, now, python_post, start};
use crate::pg_server::PgServer;
use nexis::evidence_server::store::{EvidenceStore, postgres::PgStore, sqlite::SqliteStore};

/// A Python with pydantic 2: the system one when it has it, else a venv (`None` when PyPI
/// cannot be reached).
fn pydantic(dir: &Path) -> Option<PathBuf> {
    let probe = Command::new("python3")
        .args(["-c", "import pydantic, sys; sys.exit(0 if pydantic.VERSION.startswith('2') else 1)"])
        .status();
    if probe.is_ok_and(|s| s.success()) {
        return Some(PathBuf::from("python3"));
    }
    crate::catalog::python_with(dir, &["pydantic>=2,<3"])
}

/// GETs `path`; the status and raw body.
async fn get_raw(base: &Running, path: &str) -> (StatusCode, String) {
    let reply = reqwest::get(base.url(path)).await.expect("get");
    (reply.status(), reply.text().await.expect("text"))
}

/// Every endpoint once (the reference's query forms), collecting `(model, body)` pairs.
async fn scenario(store: Arc<dyn EvidenceStore>) -> Vec<Value> {
    let base = start(store, config()).await;
    let mut out = Vec::new();
    let mut keep = |model: &str, status: StatusCode, body: String| {
        assert_eq!(status, StatusCode::OK, "{model}: {body}");
        out.push(json!({"model": model, "body": body}));
    };
    let (v1, v2) = (key(1), key(2));
    let results = br#"{"interval_id":300,"decisions":[
        {"miner_hotkey":"m1","accepted":false,"failures":["dataset_sha256_mismatch"]},
        {"miner_hotkey":"m2","accepted":true,"failures":[],"record_count":7,"global_overlap_pruned_count":2}]}"#;
    for (signer, n) in [(&v1, 1), (&v2, 2)] {
        let (s, v) = python_post(&base, signer, "/v1/validation-results", results, now(), &nonce(n)).await;
        assert_eq!(v["saved"], 2, "{v}");
        keep("IngestResponse", s, v.to_string());
    }
    let invalid = br#"{"interval_id":300,"invalid_hotkeys":["m3"]}"#;
    let (s, v) = python_post(&base, &v1, "/v1/invalid-hotkeys", invalid, now(), &nonce(3)).await;
    assert_eq!(v["saved_count"], 1, "{v}");
    keep("InvalidHotkeysIngestResponse", s, v.to_string());
    let (s, body) =
        get_raw(&base, &format!("/v1/validation-results?validator_hotkey={}&interval_id=300", v1.ss58())).await;
    let parsed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(parsed["decisions"].as_array().map(Vec::len), Some(2), "{body}");
    keep("QueryResponse", s, body);
    let (s, body) = get_raw(&base, "/v1/invalid-hotkeys?interval_id=700").await;
    let parsed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (parsed["window_start_interval_id"].as_u64(), parsed["window_end_interval_id"].as_u64()),
        (Some(200), Some(700))
    );
    assert_eq!(parsed["invalid_hotkeys"], json!(["m1"]), "V1 + V2 hold 200 of 600: the 1/3 quorum");
    keep("InvalidHotkeysWindowResponse", s, body);
    base.server.store().blacklist_add("5Bad", "test").await.expect("blacklist");
    let (s, body) = get_raw(&base, "/v1/get_blacklist").await;
    keep("BlacklistResponse", s, body);
    base.server.refresh_latest(1_000).await.expect("refresh");
    for path in ["/v1/get_latest_result", "/get_latest_result"] {
        let (s, body) = get_raw(&base, path).await;
        let parsed: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(parsed["decisions"].as_array().map(Vec::len), Some(4), "{body}");
        keep("LatestResultResponse", s, body);
    }
    let (s, body) = get_raw(&base, "/healthz").await;
    keep("Health", s, body);
    base.stop().await;
    out
}

fn check(responses: &[Value], dir: &Path) {
    let Some(python) = pydantic(dir) else { return };
    let file = dir.join("responses.json");
    std::fs::write(&file, serde_json::to_vec(responses).expect("json")).expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/reference_models.py");
    let out = Command::new(python).arg(script).arg(&file).output().expect("python");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("{0} of {0} responses parse", responses.len())), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_parse_with_the_reference_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut responses = scenario(Arc::new(SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite"))).await;
    let pg = PgServer::start();
    responses.extend(scenario(Arc::new(PgStore::connect(&pg.url(), 2).await.expect("postgres"))).await);
    assert_eq!(responses.len(), 18);
    check(&responses, dir.path());
}
