//! Request signing for the evidence API (protocol §12): the signed message, the body
//! hash, the nonce and the four `X-*` headers of a signed request.

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::chain::Hotkey;

/// Header carrying the validator's SS58 address.
pub(crate) const HEADER_HOTKEY: &str = "X-Validator-Hotkey";
/// Header carrying the hex of the 64-byte sr25519 signature.
pub(crate) const HEADER_SIGNATURE: &str = "X-Signature";
/// Header carrying the signing time in unix seconds.
pub(crate) const HEADER_TIMESTAMP: &str = "X-Timestamp";
/// Header carrying 32 random hex characters.
pub(crate) const HEADER_NONCE: &str = "X-Nonce";

/// Lowercase hex SHA-256 of a request body (of the empty body for a request without one).
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The signed message `"{METHOD}|{path}|{body_sha256}|{timestamp}|{nonce}"`; the method is
/// upper-cased and `path` is the request path without host or query, as the existing
/// implementation signs it.
pub fn auth_message(method: &str, path: &str, body_sha256: &str, timestamp: u64, nonce: &str) -> String {
    format!("{}|{path}|{body_sha256}|{timestamp}|{nonce}", method.to_ascii_uppercase())
}

/// 32 random lowercase hex characters (16 random bytes).
pub(crate) fn new_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Current unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The authentication headers of one signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub(crate) hotkey: String,
    /// Hex sr25519 signature over the canonical request (`X-Nexis-Signature`).
    pub signature: String,
    pub(crate) timestamp: u64,
    pub(crate) nonce: String,
}

impl SignedHeaders {
    /// Signs `method path body` with `hotkey` at `timestamp` with `nonce`.
    pub fn sign(hotkey: &Hotkey, method: &str, path: &str, body: &[u8], timestamp: u64, nonce: String) -> Self {
        let message = auth_message(method, path, &body_sha256(body), timestamp, &nonce);
        let signature = hex::encode(hotkey.sign(message.as_bytes()));
        Self { hotkey: hotkey.ss58(), signature, timestamp, nonce }
    }

    /// Signs with the current time and a fresh nonce.
    pub fn sign_now(hotkey: &Hotkey, method: &str, path: &str, body: &[u8]) -> Self {
        Self::sign(hotkey, method, path, body, unix_now(), new_nonce())
    }

    /// `(name, value)` pairs in protocol order.
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_HOTKEY, self.hotkey.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_shape() {
        let a = new_nonce();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{a}");
        assert_ne!(a, new_nonce());
    }

    #[test]
    fn message_uppercases_method_and_hashes_empty_body() {
        assert_eq!(
            auth_message("post", "/v1/x", &body_sha256(b""), 5, "n"),
            "POST|/v1/x|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855|5|n"
        );
    }
}
