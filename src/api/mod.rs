//! Client of the optional central validation API (protocol §12): posts this validator's
//! signed decisions and invalid hotkeys, and reads the invalid-hotkey list and blacklist
//! that zero miners at weight time (§11).
//!
//! Reporting never affects validation: the GET readers fall back to an empty list (with a
//! warning) on any failure, and POST failures come back as [`ApiError`] for the caller to
//! log. POST requests are signed (`X-Validator-Hotkey`, `X-Signature`, `X-Timestamp`,
//! `X-Nonce` over [`auth_message`]); GET requests are not, as the protocol marks only the
//! POST endpoints "(signed)" and the existing service serves the GETs without
//! authentication.
//!
//! `NEXIS_VALIDATION_API_URL` may be the service root (`https://api.example`), a root with
//! a path prefix (`https://host/nexis`), or, as existing operators configure it, the full
//! results endpoint (`https://api.example/v1/validation-results`); the endpoints are
//! placed under the same prefix.

mod auth;
mod evidence;
mod payload;
pub mod server;

pub use evidence::EvidenceApi;

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use url::Url;

use crate::chain::Hotkey;
use crate::model::Decision;

pub(crate) use auth::{HEADER_HOTKEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
pub use auth::{SignedHeaders, auth_message, body_sha256, unix_now};
pub use payload::{canonical_json, interval_payload};
pub(crate) use payload::{invalid_hotkeys_payload, parse_hotkey_list};

/// `POST`: this validator's decisions for one interval (signed).
pub(crate) const PATH_RESULTS: &str = "/v1/validation-results";
/// `GET ?interval_id=I`: hotkeys listed as invalid; `POST`: report invalid hotkeys (signed).
pub(crate) const PATH_INVALID_HOTKEYS: &str = "/v1/invalid-hotkeys";
/// `GET`: blacklisted hotkeys.
pub(crate) const PATH_BLACKLIST: &str = "/v1/get_blacklist";

/// Timeout when `NEXIS_VALIDATION_API_TIMEOUT_SEC` is unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest accepted timeout setting.
const MAX_TIMEOUT_SEC: f64 = 3600.0;
/// Largest reply body read.
const MAX_REPLY_BYTES: usize = 4 << 20;
/// Characters of an error reply quoted in [`ApiError::Status`].
const DETAIL_CHARS: usize = 200;

const URL_VAR: &str = "NEXIS_VALIDATION_API_URL";
const TIMEOUT_VAR: &str = "NEXIS_VALIDATION_API_TIMEOUT_SEC";

/// Why a validation API call or its configuration failed. Messages name the endpoint
/// path, never the host's credentials or the signature.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A `NEXIS_VALIDATION_API_*` setting is malformed.
    #[error("{var}: {reason}")]
    Config {
        /// The environment variable at fault.
        var: &'static str,
        /// Why its value is refused.
        reason: String,
    },
    /// No complete reply within the per-request timeout.
    #[error("{method} {path}: no complete reply within {timeout:?}")]
    Timeout {
        /// HTTP method of the call.
        method: Method,
        /// Endpoint path of the call.
        path: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The request could not be sent or the reply not read.
    #[error("{method} {path}: {reason}")]
    Transport {
        /// HTTP method of the call.
        method: Method,
        /// Endpoint path of the call.
        path: String,
        /// The transport error.
        reason: String,
    },
    /// The server answered with a non-success status.
    #[error("{method} {path}: HTTP {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Status {
        /// HTTP method of the call.
        method: Method,
        /// Endpoint path of the call.
        path: String,
        /// HTTP status code.
        status: u16,
        /// The server's error text, possibly empty.
        detail: String,
    },
    /// The reply arrived but is not what the protocol defines.
    #[error("{method} {path}: unusable reply: {reason}")]
    BadReply {
        /// HTTP method of the call.
        method: Method,
        /// Endpoint path of the call.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The validation API client of one validator hotkey.
#[derive(Clone)]
pub struct ValidationApi {
    http: reqwest::Client,
    /// Scheme, authority and nothing else; each request sets its own path and query.
    origin: Url,
    /// Path prefix before `/v1/...`, without a trailing slash (usually empty).
    prefix: String,
    timeout: Duration,
    hotkey: Hotkey,
}

impl fmt::Debug for ValidationApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidationApi")
            .field("endpoint", &self.display_base())
            .field("timeout", &self.timeout)
            .field("hotkey", &self.hotkey.ss58())
            .finish()
    }
}

impl ValidationApi {
    /// A client for the service at `base_url`, with `timeout` for each whole request
    /// (connect, send, reply body), signing with `hotkey`.
    pub fn new(base_url: &str, timeout: Duration, hotkey: Hotkey) -> Result<Self, ApiError> {
        let config = |reason: String| ApiError::Config { var: URL_VAR, reason };
        let parsed = Url::parse(base_url.trim()).map_err(|e| config(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(config("must be an http:// or https:// URL with a host".into()));
        }
        if timeout.is_zero() {
            return Err(ApiError::Config { var: TIMEOUT_VAR, reason: "must be greater than 0".into() });
        }
        let mut prefix = parsed.path().trim_end_matches('/').to_string();
        if let Some(stripped) = prefix.strip_suffix(PATH_RESULTS) {
            prefix = stripped.to_string();
        }
        let mut origin = parsed;
        origin.set_path("");
        origin.set_query(None);
        origin.set_fragment(None);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would re-send (or drop) a signed request somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("nexis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, origin, prefix, timeout, hotkey })
    }

    /// The client configured by the raw values of `NEXIS_VALIDATION_API_URL` and
    /// `NEXIS_VALIDATION_API_TIMEOUT_SEC` (seconds, fractions allowed; default 10).
    /// `Ok(None)` when the URL is unset or blank: reporting is off. A malformed URL or
    /// timeout is an error naming the variable rather than silently disabling reporting.
    pub fn from_env_values(
        url: Option<&str>,
        timeout_sec: Option<&str>,
        hotkey: Hotkey,
    ) -> Result<Option<Self>, ApiError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let timeout = match timeout_sec.map(str::trim).filter(|t| !t.is_empty()) {
            None => DEFAULT_TIMEOUT,
            Some(text) => parse_timeout(text)?,
        };
        Self::new(url, timeout, hotkey).map(Some)
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The request path of an endpoint (`prefix` + `/v1/...`): what is signed.
    pub(crate) fn endpoint_path(&self, endpoint: &str) -> String {
        format!("{}{endpoint}", self.prefix)
    }

    /// Posts this validator's decisions for `interval_id` to `/v1/validation-results`
    /// (signed). Nothing is sent for an empty list (the service refuses one).
    pub async fn post_results(&self, interval_id: u64, decisions: &[Decision]) -> Result<(), ApiError> {
        if decisions.is_empty() {
            tracing::debug!(interval_id, "validation API: no decisions to report");
            return Ok(());
        }
        let body = interval_payload(interval_id, decisions);
        self.request(Method::POST, PATH_RESULTS, None, Some(body)).await?;
        tracing::info!(interval_id, decisions = decisions.len(), "validation API: results posted");
        Ok(())
    }

    /// Reports `hotkeys` as invalid for `interval_id` to `/v1/invalid-hotkeys` (signed).
    pub async fn post_invalid_hotkeys(&self, interval_id: u64, hotkeys: &[String]) -> Result<(), ApiError> {
        let body = invalid_hotkeys_payload(interval_id, hotkeys);
        self.request(Method::POST, PATH_INVALID_HOTKEYS, None, Some(body)).await?;
        tracing::info!(interval_id, hotkeys = hotkeys.len(), "validation API: invalid hotkeys posted");
        Ok(())
    }

    /// The hotkeys the service lists as invalid for `interval_id`, or the error.
    pub async fn fetch_invalid_hotkeys(&self, interval_id: u64) -> Result<Vec<String>, ApiError> {
        let query = format!("interval_id={interval_id}");
        self.get_list(PATH_INVALID_HOTKEYS, Some(&query), "invalid_hotkeys").await
    }

    /// The service's blacklisted hotkeys, or the error.
    pub async fn fetch_blacklist(&self) -> Result<Vec<String>, ApiError> {
        self.get_list(PATH_BLACKLIST, None, "blacklist_hotkeys").await
    }

    /// The hotkeys listed as invalid for `interval_id`; empty (with a warning) when the
    /// service cannot be reached or replies with anything unusable.
    pub async fn invalid_hotkeys(&self, interval_id: u64) -> Vec<String> {
        self.fetch_invalid_hotkeys(interval_id).await.unwrap_or_else(|e| {
            tracing::warn!(interval_id, error = %e, "validation API: invalid hotkeys unavailable; using none");
            Vec::new()
        })
    }

    /// The blacklisted hotkeys; empty (with a warning) on any failure.
    pub async fn blacklist(&self) -> Vec<String> {
        self.fetch_blacklist().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "validation API: blacklist unavailable; using none");
            Vec::new()
        })
    }

    async fn get_list(&self, endpoint: &str, query: Option<&str>, field: &str) -> Result<Vec<String>, ApiError> {
        let body = self.request(Method::GET, endpoint, query, None).await?;
        parse_hotkey_list(&body, field).ok_or_else(|| ApiError::BadReply {
            method: Method::GET,
            path: self.endpoint_path(endpoint),
            reason: format!("expected a JSON object with a list {field:?}"),
        })
    }

    /// Sends one request; a body means a signed JSON POST. Returns the reply body of a
    /// 2xx reply.
    async fn request(
        &self,
        method: Method,
        endpoint: &str,
        query: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ApiError> {
        let path = self.endpoint_path(endpoint);
        let mut url = self.origin.clone();
        url.set_path(&path);
        url.set_query(query);
        let mut builder = self.http.request(method.clone(), url).header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            let signed = SignedHeaders::sign_now(&self.hotkey, method.as_str(), &path, &body);
            for (name, value) in signed.pairs() {
                builder = builder.header(name, value);
            }
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let transport = |e: reqwest::Error| self.transport_error(&method, &path, e);
        let mut reply = builder.send().await.map_err(transport)?;
        let status = reply.status();
        if !status.is_success() {
            let detail = error_detail(&mut reply).await;
            return Err(ApiError::Status { method, path, status: status.as_u16(), detail });
        }
        if reply.content_length().is_some_and(|n| n > MAX_REPLY_BYTES as u64) {
            return Err(ApiError::BadReply { method, path, reason: format!("reply over {MAX_REPLY_BYTES} bytes") });
        }
        let mut out = Vec::new();
        while let Some(chunk) = reply.chunk().await.map_err(transport)? {
            if out.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(ApiError::BadReply { method, path, reason: format!("reply over {MAX_REPLY_BYTES} bytes") });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    fn transport_error(&self, method: &Method, path: &str, e: reqwest::Error) -> ApiError {
        if e.is_timeout() {
            return ApiError::Timeout { method: method.clone(), path: path.to_string(), timeout: self.timeout };
        }
        // `without_url`: the URL may carry credentials; the path is reported instead.
        let e = e.without_url();
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        ApiError::Transport { method: method.clone(), path: path.to_string(), reason }
    }

    /// The base URL without credentials, for `Debug`.
    fn display_base(&self) -> String {
        let mut shown = self.origin.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        format!("{}{}", shown.as_str().trim_end_matches('/'), self.prefix)
    }
}

fn parse_timeout(text: &str) -> Result<Duration, ApiError> {
    let bad = || ApiError::Config {
        var: TIMEOUT_VAR,
        reason: format!("{text:?} is not a number of seconds in (0, {MAX_TIMEOUT_SEC}]"),
    };
    let secs: f64 = text.parse().map_err(|_| bad())?;
    if !(secs > 0.0 && secs <= MAX_TIMEOUT_SEC) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The start of an error reply, printable characters only (the service's `detail`).
async fn error_detail(reply: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < DETAIL_CHARS * 4 {
        match reply.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    text.chars().filter(|c| !c.is_control()).take(DETAIL_CHARS).collect::<String>().trim().to_string()
}

impl ApiError {
    /// The HTTP status of a non-2xx reply.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => StatusCode::from_u16(*status).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Hotkey {
        Hotkey::from_seed([7; 32])
    }

    #[test]
    fn base_url_forms() {
        let api = |u: &str| ValidationApi::new(u, DEFAULT_TIMEOUT, key()).expect(u);
        assert_eq!(api("http://h:8080").endpoint_path(PATH_RESULTS), "/v1/validation-results");
        assert_eq!(api("http://h:8080/").endpoint_path(PATH_BLACKLIST), "/v1/get_blacklist");
        assert_eq!(api("http://h/v1/validation-results").endpoint_path(PATH_INVALID_HOTKEYS), "/v1/invalid-hotkeys");
        assert_eq!(api("https://h/nexis/?x=1").endpoint_path(PATH_RESULTS), "/nexis/v1/validation-results");
        for bad in ["", "h:8080/x", "ftp://h/", "not a url"] {
            assert!(matches!(ValidationApi::new(bad, DEFAULT_TIMEOUT, key()), Err(ApiError::Config { .. })), "{bad}");
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let api = ValidationApi::new("https://user:hunter2@h/", DEFAULT_TIMEOUT, key()).expect("api");
        let shown = format!("{api:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("user@"), "{shown}");
        assert!(shown.contains(&key().ss58()), "{shown}");
    }
}
