//! A miner's on-chain commitment (protocol §4): the Cloudflare R2 read credentials as one
//! 128-character payload, the reader's acceptance rules, the credential fingerprint, and
//! the bucket and endpoint they open. `Debug` never shows the keys.

use std::fmt;

use sha2::{Digest, Sha256};

/// Characters of each part of the payload.
pub(crate) const ACCOUNT_ID_LEN: usize = 32;
pub(crate) const ACCESS_KEY_LEN: usize = 32;
pub(crate) const SECRET_KEY_LEN: usize = 64;
/// Characters of the whole payload.
pub(crate) const PAYLOAD_LEN: usize = ACCOUNT_ID_LEN + ACCESS_KEY_LEN + SECRET_KEY_LEN;

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    /// A field has the wrong length.
    #[error("{field} must be {want} characters, is {got}")]
    Length {
        /// Which field.
        field: &'static str,
        /// Required length in characters.
        want: usize,
        /// Actual length in characters.
        got: usize,
    },
    /// The account id is not hexadecimal.
    #[error("the account id must be hexadecimal")]
    AccountNotHex,
    /// The named field contains whitespace.
    #[error("{0} must not contain whitespace")]
    Whitespace(&'static str),
}

/// A miner's R2 read credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ReadCredentials {
    /// Lowercase hex Cloudflare account id.
    pub account_id: String,
    /// R2 read-only access key id.
    pub read_access_key: String,
    /// R2 read-only secret access key (redacted in `Debug`).
    pub read_secret_key: String,
}

impl fmt::Debug for ReadCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadCredentials")
            .field("account_id", &self.account_id)
            .field("read_access_key", &"<redacted>")
            .field("read_secret_key", &"<redacted>")
            .finish()
    }
}

fn check(field: &'static str, value: &str, want: usize) -> Result<(), CommitmentError> {
    if value.chars().any(char::is_whitespace) {
        return Err(CommitmentError::Whitespace(field));
    }
    let got = value.chars().count();
    if got != want {
        return Err(CommitmentError::Length { field, want, got });
    }
    Ok(())
}

impl ReadCredentials {
    /// Validated credentials; the account id is lowercased.
    pub fn new(account_id: &str, read_access_key: &str, read_secret_key: &str) -> Result<Self, CommitmentError> {
        check("the account id", account_id, ACCOUNT_ID_LEN)?;
        check("the read access key", read_access_key, ACCESS_KEY_LEN)?;
        check("the read secret key", read_secret_key, SECRET_KEY_LEN)?;
        if !account_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CommitmentError::AccountNotHex);
        }
        Ok(Self {
            account_id: account_id.to_ascii_lowercase(),
            read_access_key: read_access_key.to_string(),
            read_secret_key: read_secret_key.to_string(),
        })
    }

    /// The reader's rule: exactly 128 characters, the first 32 hex (either case), no
    /// whitespace in any key; anything else is "no credentials".
    pub fn parse(payload: &str) -> Option<Self> {
        if payload.len() != PAYLOAD_LEN || !payload.is_ascii() {
            return None;
        }
        let (account, rest) = payload.split_at(ACCOUNT_ID_LEN);
        let (access, secret) = rest.split_at(ACCESS_KEY_LEN);
        Self::new(account, access, secret).ok()
    }

    /// The 128-character commitment payload.
    pub fn payload(&self) -> String {
        format!("{}{}{}", self.account_id, self.read_access_key, self.read_secret_key)
    }

    /// sha256 hex of `account:access:secret`: lets operators compare credentials without
    /// showing them.
    pub fn fingerprint(&self) -> String {
        let text = format!("{}:{}:{}", self.account_id, self.read_access_key, self.read_secret_key);
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The R2 endpoint of the account.
    pub fn endpoint(&self) -> String {
        format!("https://{}.r2.cloudflarestorage.com", self.account_id)
    }
}

/// A miner's bucket: its SS58 hotkey in lowercase.
pub fn bucket_for_hotkey(ss58: &str) -> String {
    ss58.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

    fn payload(account: &str, access: &str, secret: &str) -> String {
        format!("{account}{access}{secret}")
    }

    #[test]
    fn reader_rules() {
        let good = payload(ACCOUNT, &"A".repeat(32), &"c".repeat(64));
        assert!(ReadCredentials::parse(&good).is_some());
        let upper = payload(&ACCOUNT.to_uppercase(), &"A".repeat(32), &"c".repeat(64));
        assert_eq!(ReadCredentials::parse(&upper).map(|c| c.account_id), Some(ACCOUNT.to_string()));
        assert!(ReadCredentials::parse(&good[..127]).is_none());
        assert!(ReadCredentials::parse(&format!("{good}x")).is_none());
        let not_hex = payload(&format!("g{}", &ACCOUNT[1..]), &"A".repeat(32), &"c".repeat(64));
        assert!(ReadCredentials::parse(&not_hex).is_none());
        let spaced = payload(ACCOUNT, &format!("A{}", " ".repeat(31)), &"c".repeat(64));
        assert!(ReadCredentials::parse(&spaced).is_none());
        let spaced_secret = payload(ACCOUNT, &"A".repeat(32), &format!("{}\t", "c".repeat(63)));
        assert!(ReadCredentials::parse(&spaced_secret).is_none());
        assert!(ReadCredentials::parse(&"é".repeat(64)).is_none());
    }

    #[test]
    fn constructor_explains_refusals_and_debug_redacts() {
        let err = ReadCredentials::new(ACCOUNT, "short", &"c".repeat(64)).expect_err("short key");
        assert_eq!(err, CommitmentError::Length { field: "the read access key", want: 32, got: 5 });
        let creds = ReadCredentials::new(ACCOUNT, &"K".repeat(32), &"S".repeat(64)).expect("valid");
        let shown = format!("{creds:?}");
        assert!(!shown.contains("KKKK") && !shown.contains("SSSS"), "{shown}");
        assert_eq!(creds.payload().len(), PAYLOAD_LEN);
    }
}
