//! The signed-request check of the POST endpoints, in the reference server's order:
//! headers present (401), integer timestamp (401), |now − ts| ≤ 300 s (401), hotkey
//! allowed (403), signature valid (401). The nonce (409) is checked by the store after
//! the body is validated, so a bad body never burns a nonce.

use axum::http::{HeaderMap, StatusCode};
use subxt_signer::sr25519::{PublicKey, Signature, verify};

use super::quorum::Allowlist;
use crate::chain::wallet::ss58_decode;
use crate::evidence::{HEADER_HOTKEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, auth_message, body_sha256};

/// Largest accepted clock difference, seconds.
pub(crate) const MAX_SKEW_SEC: i64 = 300;
/// Longest accepted nonce (the reference client sends 32 hex characters).
const MAX_NONCE_LEN: usize = 128;

/// A refused request: the status and the FastAPI-style `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// Human-readable reason.
    pub(crate) detail: String,
}

impl Reject {
    /// A rejection with `status`.
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }
}

/// The verified authentication of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signer's SS58 hotkey.
    pub(crate) hotkey: String,
    /// `X-Signature` as sent.
    pub(crate) signature: String,
    /// `X-Timestamp`.
    pub(crate) timestamp: i64,
    /// `X-Nonce`.
    pub(crate) nonce: String,
    /// Hex SHA-256 of the body.
    pub(crate) body_sha256: String,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Decodes a hex signature with an optional `0x`, or `<Bytes>0x…</Bytes>`-wrapped.
fn parse_signature(text: &str) -> Option<[u8; 64]> {
    let text = text.strip_prefix("<Bytes>").and_then(|t| t.strip_suffix("</Bytes>")).unwrap_or(text);
    let text = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// Checks a signed request of `method path` with `body` at unix time `now`.
pub fn check(
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
    now: i64,
    allow: &Allowlist,
) -> Result<Signed, Reject> {
    let unauthorized = |d: &str| Reject::new(StatusCode::UNAUTHORIZED, d);
    let (Some(hotkey), Some(signature), Some(ts), Some(nonce)) = (
        header(headers, HEADER_HOTKEY),
        header(headers, HEADER_SIGNATURE),
        header(headers, HEADER_TIMESTAMP),
        header(headers, HEADER_NONCE),
    ) else {
        return Err(unauthorized("Missing authentication headers"));
    };
    let timestamp: i64 = ts.parse().map_err(|_| unauthorized("Invalid timestamp"))?;
    if now.abs_diff(timestamp) > MAX_SKEW_SEC as u64 {
        return Err(unauthorized("Request timestamp expired"));
    }
    if !allow.allows(hotkey) {
        return Err(Reject::new(StatusCode::FORBIDDEN, "Validator hotkey not allowed"));
    }
    let sha = body_sha256(body);
    let valid = nonce.len() <= MAX_NONCE_LEN
        && match (parse_signature(signature), ss58_decode(hotkey)) {
            (Some(sig), Ok(public)) => {
                let message = auth_message(method, path, &sha, timestamp.unsigned_abs(), nonce);
                let (sig, public) = (Signature(sig), PublicKey(public));
                // A negative timestamp cannot pass the skew check; `unsigned_abs` is exact here.
                verify(&sig, message.as_bytes(), &public)
                    || verify(&sig, format!("<Bytes>{message}</Bytes>").as_bytes(), &public)
            }
            _ => false,
        };
    if !valid {
        return Err(unauthorized("Invalid signature"));
    }
    Ok(Signed {
        hotkey: hotkey.to_string(),
        signature: signature.to_string(),
        timestamp,
        nonce: nonce.to_string(),
        body_sha256: sha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Hotkey;
    use crate::evidence::SignedHeaders;

    fn setup() -> (Hotkey, Allowlist) {
        let key = Hotkey::from_seed([3; 32]);
        let allow = Allowlist { stakes: [(key.ss58(), 1)].into(), ..Default::default() };
        (key, allow)
    }

    fn headers(s: &SignedHeaders) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in s.pairs() {
            h.insert(name, value.parse().expect("header"));
        }
        h
    }

    #[test]
    fn order_of_checks() {
        let (key, allow) = setup();
        let s = SignedHeaders::sign(&key, "POST", "/p", b"{}", 1000, "n".into());
        assert!(check(&headers(&s), "POST", "/p", b"{}", 1000, &allow).is_ok());
        let mut h = headers(&s);
        h.remove(HEADER_NONCE);
        assert_eq!(check(&h, "POST", "/p", b"{}", 1000, &allow).unwrap_err().status, StatusCode::UNAUTHORIZED);
        let mut h = headers(&s);
        h.insert(HEADER_TIMESTAMP, "12.5".parse().expect("v"));
        assert_eq!(check(&h, "POST", "/p", b"{}", 1000, &allow).unwrap_err().detail, "Invalid timestamp");
        // Skew is checked before the allowlist: an unknown hotkey with a stale clock is 401.
        assert_eq!(
            check(&headers(&s), "POST", "/p", b"{}", 1301, &Allowlist::default()).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert!(check(&headers(&s), "POST", "/p", b"{}", 1300, &allow).is_ok(), "300 s is still fine");
        assert_eq!(
            check(&headers(&s), "POST", "/p", b"{}", 1000, &Allowlist::default()).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(check(&headers(&s), "POST", "/p", b"{ }", 1000, &allow).unwrap_err().detail, "Invalid signature");
    }

    #[test]
    fn signature_forms() {
        let (key, allow) = setup();
        let s = SignedHeaders::sign(&key, "POST", "/p", b"", 1000, "n".into());
        let mut h = headers(&s);
        h.insert(HEADER_SIGNATURE, format!("0x{}", s.signature).parse().expect("v"));
        assert!(check(&h, "POST", "/p", b"", 1000, &allow).is_ok());
        let wrapped =
            key.sign(format!("<Bytes>{}</Bytes>", auth_message("POST", "/p", &body_sha256(b""), 1000, "n")).as_bytes());
        h.insert(HEADER_SIGNATURE, hex::encode(wrapped).parse().expect("v"));
        assert!(check(&h, "POST", "/p", b"", 1000, &allow).is_ok());
        h.insert(HEADER_SIGNATURE, "zz".parse().expect("v"));
        assert_eq!(check(&h, "POST", "/p", b"", 1000, &allow).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }
}
