//! The HTTP endpoints. Errors are FastAPI-shaped: `{"detail": "..."}` with the status.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::store::{Evidence, EvidenceKind, ResultFilter, StoreError};
use super::verify::{Reject, Signed, check};
use super::votes::VoteChange;
use super::{EvidenceServer, body, quorum, status};
use crate::evidence::{PATH_BLACKLIST, PATH_INVALID_HOTKEYS, PATH_RESULTS, unix_now};

/// Default and largest row count of `GET /v1/validation-results`.
const RESULTS_DEFAULT_LIMIT: usize = 1000;
const RESULTS_MAX_LIMIT: usize = 10_000;
/// Largest listing, bytes of rows (the byte limit beside the row limit).
pub(crate) const RESULTS_MAX_BYTES: usize = 4 << 20;

type S = State<Arc<EvidenceServer>>;

/// Every route of the server.
pub(super) fn routes(state: &Arc<EvidenceServer>) -> Router<Arc<EvidenceServer>> {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(|| async { axum::Json(json!({"status": "ok"})) }))
        .route(PATH_RESULTS, get(get_results).post(post_results))
        .route(PATH_INVALID_HOTKEYS, get(get_invalid).post(post_invalid))
        .route(PATH_BLACKLIST, get(get_blacklist))
        .route("/v1/evidence/{id}", get(get_evidence))
        .route("/v1/get_latest_result", get(get_latest))
        .route("/get_latest_result", get(get_latest))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), limit_reads))
}

/// Unauthenticated reads (every GET but `/healthz`) are rate limited per client address;
/// signed POSTs have their own per-hotkey limit.
async fn limit_reads(State(server): S, request: Request, next: Next) -> Response {
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let limited = request.method() == Method::GET && request.uri().path() != "/healthz";
    if limited
        && let Some(ip) = client
        && !server.read_ok(ip)
    {
        return reject(StatusCode::TOO_MANY_REQUESTS, "Too many reads from this address; slow down").into_response();
    }
    next.run(request).await
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "detail": self.detail }))).into_response()
    }
}

fn reject(status: StatusCode, detail: impl Into<String>) -> Reject {
    Reject::new(status, detail)
}

fn store_error(e: StoreError) -> Reject {
    match e {
        StoreError::NonceReplayed => reject(StatusCode::CONFLICT, "Nonce already used by another request"),
        other => {
            tracing::warn!(error = %other, "evidence store failure");
            reject(StatusCode::SERVICE_UNAVAILABLE, "Evidence store unavailable; retry later")
        }
    }
}

/// Reads the body (capped, with a timeout) and checks the signature; then the rate limit.
async fn signed_body(server: &EvidenceServer, request: Request) -> Result<(Signed, Bytes), Reject> {
    let (parts, body) = request.into_parts();
    let limit = server.config.max_body_bytes;
    let bytes = match tokio::time::timeout(server.config.body_timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => return Err(reject(StatusCode::REQUEST_TIMEOUT, "Request body not received in time")),
        Ok(Err(_)) => return Err(reject(StatusCode::PAYLOAD_TOO_LARGE, format!("Request body over {limit} bytes"))),
        Ok(Ok(b)) => b,
    };
    let allow = server.allowlist();
    let signed = check(&parts.headers, parts.method.as_str(), parts.uri.path(), &bytes, unix_now() as i64, &allow)?;
    if !server.rate_ok(&signed.hotkey) {
        return Err(reject(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded for this hotkey"));
    }
    Ok((signed, bytes))
}

fn evidence(signed: Signed, kind: EvidenceKind, interval_id: u64, bytes: &Bytes) -> Evidence {
    Evidence {
        validator_hotkey: signed.hotkey,
        interval_id,
        kind,
        signature: signed.signature,
        timestamp: signed.timestamp,
        nonce: signed.nonce,
        body_sha256: signed.body_sha256,
        body: String::from_utf8_lossy(bytes).into_owned(),
        received_at: unix_now() as i64,
    }
}

async fn post_results(State(server): S, request: Request) -> Result<Response, Reject> {
    let (signed, bytes) = signed_body(&server, request).await?;
    let (interval_id, rows) = body::parse_results(&bytes).map_err(|e| reject(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let hotkey = signed.hotkey.clone();
    let ev = evidence(signed, EvidenceKind::Results, interval_id, &bytes);
    let recorded = server.store.record_results(&ev, &rows).await.map_err(store_error)?;
    let stored = recorded.stored;
    if recorded.replayed {
        tracing::info!(validator = %hotkey, interval_id, stored, "validation results retried; first answer repeated");
    } else {
        server.note_votes(VoteChange::results(&hotkey, interval_id, &rows));
        tracing::info!(validator = %hotkey, interval_id, stored, "validation results stored");
    }
    Ok(axum::Json(json!({
        "status": "ok", "interval_id": interval_id, "validator_hotkey": hotkey, "stored": stored, "saved": stored,
    }))
    .into_response())
}

async fn post_invalid(State(server): S, request: Request) -> Result<Response, Reject> {
    let (signed, bytes) = signed_body(&server, request).await?;
    let (interval_id, hotkeys) =
        body::parse_invalid(&bytes).map_err(|e| reject(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let hotkey = signed.hotkey.clone();
    let ev = evidence(signed, EvidenceKind::InvalidHotkeys, interval_id, &bytes);
    let recorded = server.store.record_invalid(&ev, &hotkeys).await.map_err(store_error)?;
    let stored = recorded.stored;
    if recorded.replayed {
        tracing::info!(validator = %hotkey, interval_id, stored, "invalid hotkeys retried; first answer repeated");
    } else {
        server.note_votes(VoteChange::Invalid { validator: hotkey.clone(), interval_id, hotkeys });
        tracing::info!(validator = %hotkey, interval_id, stored, "invalid hotkeys stored");
    }
    Ok(axum::Json(json!({
        "status": "ok", "interval_id": interval_id, "validator_hotkey": hotkey, "stored": stored, "saved_count": stored,
    }))
    .into_response())
}

fn int_param(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, Reject> {
    match q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => {
            v.parse::<u64>().ok().filter(|n| *n <= i64::MAX as u64).map(Some).ok_or_else(|| {
                reject(StatusCode::UNPROCESSABLE_ENTITY, format!("{name} must be a non-negative integer"))
            })
        }
    }
}

async fn get_results(State(server): S, Query(q): Query<HashMap<String, String>>) -> Result<Response, Reject> {
    let interval_id = int_param(&q, "interval_id")?;
    let limit = int_param(&q, "limit")?.map_or(RESULTS_DEFAULT_LIMIT, |l| (l as usize).clamp(1, RESULTS_MAX_LIMIT));
    let validator_hotkey = q.get("validator_hotkey").map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    let filter = ResultFilter {
        validator_hotkey: validator_hotkey.clone(),
        interval_id,
        limit,
        max_bytes: RESULTS_MAX_BYTES,
        ..Default::default()
    };
    let listing = server.store.results(&filter).await.map_err(store_error)?;
    Ok(axum::Json(json!({
        "validator_hotkey": validator_hotkey,
        "interval_id": interval_id,
        "count": listing.rows.len(),
        "truncated": listing.truncated,
        "decisions": listing.rows,
    }))
    .into_response())
}

/// One stored signed request with its body: enough to re-verify it offline.
async fn get_evidence(State(server): S, Path(id): Path<String>) -> Result<Response, Reject> {
    let id: i64 = id
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| reject(StatusCode::UNPROCESSABLE_ENTITY, "evidence id must be a positive integer"))?;
    match server.store.evidence(id).await.map_err(store_error)? {
        Some(e) => Ok(axum::Json(e).into_response()),
        None => Err(reject(StatusCode::NOT_FOUND, "No evidence with this id")),
    }
}

async fn get_invalid(State(server): S, Query(q): Query<HashMap<String, String>>) -> Result<Response, Reject> {
    let Some(interval_id) = int_param(&q, "interval_id")? else {
        return Err(reject(StatusCode::UNPROCESSABLE_ENTITY, "interval_id is required"));
    };
    let hotkeys = server.invalid_window(interval_id).await.map_err(store_error)?;
    let (lo, hi) = quorum::window(interval_id);
    Ok(axum::Json(json!({
        "interval_id": interval_id,
        "window_start_interval_id": lo,
        "window_end_interval_id": hi,
        "window_start": lo,
        "window_end": hi,
        "quorum": server.config.quorum.to_string(),
        "invalid_hotkeys": hotkeys,
    }))
    .into_response())
}

async fn get_blacklist(State(server): S) -> Result<Response, Reject> {
    let list = server.store.blacklist().await.map_err(store_error)?;
    Ok(axum::Json(json!({ "blacklist_hotkeys": list })).into_response())
}

async fn get_latest(State(server): S, headers: HeaderMap) -> Result<Response, Reject> {
    let Some(cache) = server.latest() else {
        return Err(reject(StatusCode::SERVICE_UNAVAILABLE, "Latest results are not ready yet"));
    };
    Ok(cache.respond(&headers))
}

async fn status_page(State(server): S) -> Response {
    match status::render(&server).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}
