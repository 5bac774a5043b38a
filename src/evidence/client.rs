//! The evidence API client of one validator hotkey.
//!
//! The base URL may be the service root (`https://api.example`), a root with a path
//! prefix (`https://host/nexis`), or, as existing operators configure it, the full results
//! endpoint (`https://api.example/v1/validation-results`); the endpoints are placed under
//! the same prefix.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use url::Url;

use super::{PATH_BLACKLIST, PATH_INVALID_HOTKEYS, PATH_RESULTS, SignedHeaders, interval_payload};
use super::{invalid_hotkeys_payload, parse_hotkey_list};
use crate::chain::Hotkey;
use crate::model::Decision;

/// The request timeout an operator gets when they set none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply body read.
const MAX_REPLY_BYTES: usize = 4 << 20;
/// Characters of an error reply quoted in [`EvidenceError::Status`].
const DETAIL_CHARS: usize = 200;

/// A setting of [`EvidenceClient::new`] that can be refused (the CLI maps each to its
/// flag and environment variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceSetting {
    /// The base URL.
    Url,
    /// The per-request timeout.
    Timeout,
}

impl fmt::Display for EvidenceSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Url => "base URL",
            Self::Timeout => "request timeout",
        })
    }
}

/// Why an evidence API call or its configuration failed. Messages name the endpoint
/// path, never the host's credentials or the signature.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A setting of the client is malformed.
    #[error("evidence API {setting}: {reason}")]
    Config {
        /// The setting at fault.
        setting: EvidenceSetting,
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

/// The evidence API client of one validator hotkey.
#[derive(Clone)]
pub struct EvidenceClient {
    http: reqwest::Client,
    /// Scheme, authority and nothing else; each request sets its own path and query.
    origin: Url,
    /// Path prefix before `/v1/...`, without a trailing slash (usually empty).
    prefix: String,
    timeout: Duration,
    hotkey: Hotkey,
}

impl fmt::Debug for EvidenceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceClient")
            .field("endpoint", &self.display_base())
            .field("timeout", &self.timeout)
            .field("hotkey", &self.hotkey.ss58())
            .finish()
    }
}

impl EvidenceClient {
    /// A client for the service at `base_url`, with `timeout` for each whole request
    /// (connect, send, reply body), signing with `hotkey`.
    pub fn new(base_url: &str, timeout: Duration, hotkey: Hotkey) -> Result<Self, EvidenceError> {
        let config = |reason: String| EvidenceError::Config { setting: EvidenceSetting::Url, reason };
        let parsed = Url::parse(base_url.trim()).map_err(|e| config(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(config("must be an http:// or https:// URL with a host".into()));
        }
        if timeout.is_zero() {
            return Err(EvidenceError::Config {
                setting: EvidenceSetting::Timeout,
                reason: "must be greater than 0".into(),
            });
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
    pub async fn post_results(&self, interval_id: u64, decisions: &[Decision]) -> Result<(), EvidenceError> {
        if decisions.is_empty() {
            tracing::debug!(interval_id, "evidence API: no decisions to report");
            return Ok(());
        }
        let body = interval_payload(interval_id, decisions);
        self.request(Method::POST, PATH_RESULTS, None, Some(body)).await?;
        tracing::info!(interval_id, decisions = decisions.len(), "evidence API: results posted");
        Ok(())
    }

    /// Reports `hotkeys` as invalid for `interval_id` to `/v1/invalid-hotkeys` (signed).
    pub async fn post_invalid_hotkeys(&self, interval_id: u64, hotkeys: &[String]) -> Result<(), EvidenceError> {
        let body = invalid_hotkeys_payload(interval_id, hotkeys);
        self.request(Method::POST, PATH_INVALID_HOTKEYS, None, Some(body)).await?;
        tracing::info!(interval_id, hotkeys = hotkeys.len(), "evidence API: invalid hotkeys posted");
        Ok(())
    }

    /// The hotkeys the service lists as invalid for `interval_id`, or the error.
    pub async fn fetch_invalid_hotkeys(&self, interval_id: u64) -> Result<Vec<String>, EvidenceError> {
        let query = format!("interval_id={interval_id}");
        self.get_list(PATH_INVALID_HOTKEYS, Some(&query), "invalid_hotkeys").await
    }

    /// The service's blacklisted hotkeys, or the error.
    pub async fn fetch_blacklist(&self) -> Result<Vec<String>, EvidenceError> {
        self.get_list(PATH_BLACKLIST, None, "blacklist_hotkeys").await
    }

    /// The hotkeys listed as invalid for `interval_id`; empty (with a warning) when the
    /// service cannot be reached or replies with anything unusable.
    pub async fn invalid_hotkeys(&self, interval_id: u64) -> Vec<String> {
        self.fetch_invalid_hotkeys(interval_id).await.unwrap_or_else(|e| {
            tracing::warn!(interval_id, error = %e, "evidence API: invalid hotkeys unavailable; using none");
            Vec::new()
        })
    }

    /// The blacklisted hotkeys; empty (with a warning) on any failure.
    pub async fn blacklist(&self) -> Vec<String> {
        self.fetch_blacklist().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "evidence API: blacklist unavailable; using none");
            Vec::new()
        })
    }

    async fn get_list(&self, endpoint: &str, query: Option<&str>, field: &str) -> Result<Vec<String>, EvidenceError> {
        let body = self.request(Method::GET, endpoint, query, None).await?;
        parse_hotkey_list(&body, field).ok_or_else(|| EvidenceError::BadReply {
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
    ) -> Result<Vec<u8>, EvidenceError> {
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
            return Err(EvidenceError::Status { method, path, status: status.as_u16(), detail });
        }
        if reply.content_length().is_some_and(|n| n > MAX_REPLY_BYTES as u64) {
            return Err(EvidenceError::BadReply {
                method,
                path,
                reason: format!("reply over {MAX_REPLY_BYTES} bytes"),
            });
        }
        let mut out = Vec::new();
        while let Some(chunk) = reply.chunk().await.map_err(transport)? {
            if out.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(EvidenceError::BadReply {
                    method,
                    path,
                    reason: format!("reply over {MAX_REPLY_BYTES} bytes"),
                });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    fn transport_error(&self, method: &Method, path: &str, e: reqwest::Error) -> EvidenceError {
        if e.is_timeout() {
            return EvidenceError::Timeout { method: method.clone(), path: path.to_string(), timeout: self.timeout };
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
        EvidenceError::Transport { method: method.clone(), path: path.to_string(), reason }
    }

    /// The base URL without credentials, for `Debug`.
    fn display_base(&self) -> String {
        let mut shown = self.origin.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        format!("{}{}", shown.as_str().trim_end_matches('/'), self.prefix)
    }
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

impl EvidenceError {
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
        let api = |u: &str| EvidenceClient::new(u, DEFAULT_TIMEOUT, key()).expect(u);
        assert_eq!(api("http://h:8080").endpoint_path(PATH_RESULTS), "/v1/validation-results");
        assert_eq!(api("http://h:8080/").endpoint_path(PATH_BLACKLIST), "/v1/get_blacklist");
        assert_eq!(api("http://h/v1/validation-results").endpoint_path(PATH_INVALID_HOTKEYS), "/v1/invalid-hotkeys");
        assert_eq!(api("https://h/nexis/?x=1").endpoint_path(PATH_RESULTS), "/nexis/v1/validation-results");
        for bad in ["", "h:8080/x", "ftp://h/", "not a url"] {
            assert!(
                matches!(EvidenceClient::new(bad, DEFAULT_TIMEOUT, key()), Err(EvidenceError::Config { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let api = EvidenceClient::new("https://user:hunter2@h/", DEFAULT_TIMEOUT, key()).expect("api");
        let shown = format!("{api:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("user@"), "{shown}");
        assert!(shown.contains(&key().ss58()), "{shown}");
    }
}
