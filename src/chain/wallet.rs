//! Bittensor wallet files (protocol §3): the hotkey that signs commitments, weights and API
//! requests, loaded from `{BT_WALLET_PATH}/{BT_WALLET_NAME}/hotkeys/{BT_WALLET_HOTKEY}`,
//! plus public-only key files and SS58 addresses. Secret material never reaches logs or
//! `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use subxt::utils::AccountId32;
use subxt_signer::bip39::Mnemonic;
use subxt_signer::sr25519::Keypair;

pub use super::keyfile::{Password, PasswordOrigin, PasswordSettings, PasswordSource};
use super::keyfile::{Protection, decrypt_nacl, protection};

/// `BT_WALLET_PATH` when unset, as the Bittensor wallet tool has it.
pub(crate) const DEFAULT_WALLET_PATH: &str = "~/.bittensor/wallets";

/// Largest key file read (real ones are under 1 KiB).
const MAX_KEYFILE_BYTES: u64 = 64 * 1024;

/// Why a wallet file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The key file does not exist.
    #[error(
        "no key file at {path}; create one with `btcli wallet new_hotkey` or set BT_WALLET_PATH, \
         BT_WALLET_NAME and BT_WALLET_HOTKEY"
    )]
    Missing {
        /// The path looked at.
        path: PathBuf,
    },
    /// The key file is encrypted in a format nobody writes (not btwallet's `$NACL`).
    #[error("key file {path} is encrypted in an unknown format; nexis reads plain and $NACL (btcli) hotkeys")]
    Encrypted {
        /// The key file.
        path: PathBuf,
    },
    /// The key file uses an encryption btcli no longer writes.
    #[error(
        "key file {path} is encrypted with the old {format} format, which nexis does not read; \
         re-encrypt it with btcli (e.g. `btcli wallet regen-hotkey` writes the current $NACL format)"
    )]
    LegacyEncryption {
        /// The key file.
        path: PathBuf,
        /// The format found.
        format: &'static str,
    },
    /// The key file is `$NACL`-encrypted and no password is available.
    #[error(
        "key file {path} is password-encrypted ($NACL): give a password or a password_file, or run on a \
         terminal to be asked"
    )]
    NoPassword {
        /// The key file.
        path: PathBuf,
    },
    /// The password does not open the `$NACL` key file.
    #[error("wrong password for the encrypted key file {path} (password from {from})")]
    WrongPassword {
        /// The key file.
        path: PathBuf,
        /// Where the password came from.
        from: PasswordOrigin,
    },
    /// The password file cannot be read.
    #[error("password_file {path}: {reason}")]
    PasswordFile {
        /// The password file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The key file is not JSON.
    #[error("key file {path} is not valid JSON: {reason}")]
    BadJson {
        /// The key file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// The key file's JSON holds no usable key.
    #[error("key file {path}: {reason}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with the key.
        reason: String,
    },
    /// The key file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The string is not an SS58 address.
    #[error("{0:?} is not a valid SS58 address")]
    BadAddress(String),
}

/// An sr25519 hotkey able to sign.
#[derive(Clone)]
pub struct Hotkey {
    pair: Keypair,
    ss58: String,
}

impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotkey").field("ss58", &self.ss58).field("secret", &"<redacted>").finish()
    }
}

impl Hotkey {
    fn from_pair(pair: Keypair) -> Self {
        let ss58 = ss58_encode(pair.public_key().0);
        Self { pair, ss58 }
    }

    /// The hotkey of a 32-byte mini secret key (`secretSeed`).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        // A 32-byte mini secret key is always valid; the error path cannot occur.
        let pair = Keypair::from_secret_key(seed).unwrap_or_else(|_| unreachable!("32-byte mini secret key"));
        Self::from_pair(pair)
    }

    /// The hotkey of a BIP-39 mnemonic (`secretPhrase`), as the Bittensor wallet derives it.
    pub(crate) fn from_phrase(phrase: &str) -> Result<Self, String> {
        let mnemonic = Mnemonic::parse(phrase.trim()).map_err(|e| format!("invalid secret phrase: {e}"))?;
        Keypair::from_phrase(&mnemonic, None).map(Self::from_pair).map_err(|e| format!("invalid secret phrase: {e}"))
    }

    /// Loads `{wallet_path}/{wallet_name}/hotkeys/{hotkey_name}`: `secretPhrase`, else
    /// `secretSeed`, else `privateKey`, as the Bittensor wallet does. A `$NACL`-encrypted
    /// file is opened with a password asked on the terminal ([`PasswordSource::default`]).
    pub fn load(wallet_path: &Path, wallet_name: &str, hotkey_name: &str) -> Result<Self, WalletError> {
        Self::load_with(wallet_path, wallet_name, hotkey_name, &PasswordSource::default())
    }

    /// [`Hotkey::load`] with the password of an encrypted file from `password`.
    pub fn load_with(
        wallet_path: &Path,
        wallet_name: &str,
        hotkey_name: &str,
        password: &PasswordSource,
    ) -> Result<Self, WalletError> {
        let path = wallet_path.join(wallet_name).join("hotkeys").join(hotkey_name);
        let json = read_keyfile(&path, Some(password))?;
        let bad = |reason: String| WalletError::BadKey { path: path.clone(), reason };
        let text = |field: &str| json.get(field).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty());
        let hotkey = if let Some(phrase) = text("secretPhrase") {
            Self::from_phrase(phrase).map_err(bad)?
        } else if let Some(seed) = text("secretSeed") {
            let bytes = decode_hex(seed).map_err(|e| bad(format!("secretSeed {e}")))?;
            let seed: [u8; 32] = bytes.try_into().map_err(|_| bad("secretSeed must be 32 bytes".into()))?;
            Self::from_seed(seed)
        } else if text("privateKey").is_some() {
            // `privateKey` is the 64-byte ed25519-expanded sr25519 secret. subxt-signer 0.51
            // builds keypairs only from a 32-byte seed or a phrase (its expanded-key
            // constructor is crate-private), and `keypair()` must return its type, so such
            // a file is refused with a way out instead of being signed with another library.
            return Err(bad(
                "only privateKey is present; nexis needs secretSeed or secretPhrase (regenerate the hotkey \
                 with `btcli wallet regen_hotkey`)"
                    .into(),
            ));
        } else {
            return Err(bad("no secretPhrase, secretSeed or privateKey".into()));
        };
        if let Some(expected) = text("ss58Address")
            && expected != hotkey.ss58
        {
            return Err(bad(format!("ss58Address {expected} does not match the key, which is {}", hotkey.ss58)));
        }
        Ok(hotkey)
    }

    /// SS58 address (prefix 42).
    pub fn ss58(&self) -> String {
        self.ss58.clone()
    }

    /// The 32-byte public key.
    pub fn public(&self) -> [u8; 32] {
        self.pair.public_key().0
    }

    /// sr25519 signature of the raw `message` bytes (substrate signing context).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message).0
    }

    /// The signing keypair (for extrinsics).
    pub fn keypair(&self) -> &Keypair {
        &self.pair
    }
}

/// Reads a key file's JSON; an encrypted one is decrypted with `password` (public-only
/// files, read with `None`, are never encrypted).
fn read_keyfile(path: &Path, password: Option<&PasswordSource>) -> Result<serde_json::Value, WalletError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(WalletError::Missing { path: path.into() }),
        Err(e) => return Err(WalletError::Io { path: path.into(), reason: e.to_string() }),
    };
    if meta.len() > MAX_KEYFILE_BYTES {
        return Err(WalletError::BadKey { path: path.into(), reason: format!("{} bytes is too large", meta.len()) });
    }
    let mut bytes = std::fs::read(path).map_err(|e| WalletError::Io { path: path.into(), reason: e.to_string() })?;
    match (protection(&bytes), password) {
        (Protection::Plain, _) => {}
        (Protection::Nacl, Some(password)) => bytes = decrypt_nacl(path, &bytes, password)?,
        (Protection::Legacy(format), _) => return Err(WalletError::LegacyEncryption { path: path.into(), format }),
        (Protection::Nacl | Protection::Unknown, _) => return Err(WalletError::Encrypted { path: path.into() }),
    }
    let bytes = zeroize::Zeroizing::new(bytes);
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| WalletError::BadJson { path: path.into(), reason: e.to_string() })?;
    if !json.is_object() {
        return Err(WalletError::BadJson { path: path.into(), reason: "expected a JSON object".into() });
    }
    Ok(json)
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|e| format!("is not hex: {e}"))
}

/// A public key read from a public-only key file; it cannot sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Reads a public-only key file (`hotkeys/{name}pub.txt`, `coldkeypub.txt`): its
    /// `ss58Address` (checksum verified), else `publicKey`, else `accountId` (0x-hex). When
    /// both an address and a hex key are present they must agree.
    pub fn load_pub(path: &Path) -> Result<Self, WalletError> {
        let json = read_keyfile(path, None)?;
        let bad = |reason: String| WalletError::BadKey { path: path.into(), reason };
        let text = |field: &str| json.get(field).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty());
        let from_hex = ["publicKey", "accountId"]
            .iter()
            .find_map(|f| text(f).map(|v| (*f, v)))
            .map(|(field, value)| {
                let bytes = decode_hex(value).map_err(|e| bad(format!("{field} {e}")))?;
                <[u8; 32]>::try_from(bytes).map_err(|_| bad(format!("{field} must be 32 bytes")))
            })
            .transpose()?;
        let from_address = text("ss58Address").map(ss58_decode).transpose()?;
        match (from_address, from_hex) {
            (Some(a), Some(h)) if a != h => Err(bad("ss58Address and publicKey name different keys".into())),
            (Some(key), _) | (None, Some(key)) => Ok(Self(key)),
            (None, None) => Err(bad("no ss58Address, publicKey or accountId".into())),
        }
    }

    /// The 32-byte public key.
    pub fn public(&self) -> [u8; 32] {
        self.0
    }

    /// SS58 address (prefix 42).
    pub fn ss58(&self) -> String {
        ss58_encode(self.0)
    }
}

/// SS58 (prefix 42) address of a public key.
pub fn ss58_encode(public: [u8; 32]) -> String {
    AccountId32(public).to_string()
}

/// The public key of an SS58 address, checksum verified.
pub fn ss58_decode(address: &str) -> Result<[u8; 32], WalletError> {
    AccountId32::from_str(address.trim()).map(|a| a.0).map_err(|_| WalletError::BadAddress(address.to_string()))
}

/// Where the hotkey lives: `BT_WALLET_PATH`, `BT_WALLET_NAME`, `BT_WALLET_HOTKEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletConfig {
    /// Wallets directory (`BT_WALLET_PATH`, `~` expanded).
    pub path: PathBuf,
    /// Wallet name (`BT_WALLET_NAME`).
    pub name: String,
    /// Hotkey name within the wallet (`BT_WALLET_HOTKEY`).
    pub hotkey: String,
}

impl WalletConfig {
    /// The configuration from raw values (unset or blank means the default).
    pub fn from_values(path: Option<&str>, name: Option<&str>, hotkey: Option<&str>, home: Option<PathBuf>) -> Self {
        let value =
            |v: Option<&str>, default: &str| v.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(default).to_string();
        Self {
            path: expand_home(&value(path, DEFAULT_WALLET_PATH), home),
            name: value(name, "default"),
            hotkey: value(hotkey, "default"),
        }
    }

    /// The hotkey's public-only file, `{path}/{name}/hotkeys/{hotkey}pub.txt`.
    pub fn hotkey_pub_path(&self) -> PathBuf {
        self.path.join(&self.name).join("hotkeys").join(format!("{}pub.txt", self.hotkey))
    }

    /// The coldkey's public-only file, `{path}/{name}/coldkeypub.txt`.
    pub fn coldkeypub_path(&self) -> PathBuf {
        self.path.join(&self.name).join("coldkeypub.txt")
    }

    /// Loads the configured hotkey (an encrypted one with a password asked on the terminal).
    pub fn load_hotkey(&self) -> Result<Hotkey, WalletError> {
        Hotkey::load(&self.path, &self.name, &self.hotkey)
    }

    /// Loads the configured hotkey, an encrypted one with the password from `password`.
    pub fn load_hotkey_with(&self, password: &PasswordSource) -> Result<Hotkey, WalletError> {
        Hotkey::load_with(&self.path, &self.name, &self.hotkey, password)
    }
}

/// Expands a leading `~` with `home`.
pub fn expand_home(path: &str, home: Option<PathBuf>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_expansion() {
        let home = Some(PathBuf::from("/home/op"));
        assert_eq!(expand_home("~/.bittensor/wallets", home.clone()), PathBuf::from("/home/op/.bittensor/wallets"));
        assert_eq!(expand_home("~", home.clone()), PathBuf::from("/home/op"));
        assert_eq!(expand_home("/abs", home.clone()), PathBuf::from("/abs"));
        assert_eq!(expand_home("~other/x", home), PathBuf::from("~other/x"));
    }

    #[test]
    fn ss58_round_trip_and_checksum() {
        let key = Hotkey::from_seed([1; 32]);
        assert_eq!(ss58_decode(&key.ss58()).expect("decode"), key.public());
        let mut broken = key.ss58();
        let last = broken.pop().map(|c| if c == 'a' { 'b' } else { 'a' }).unwrap_or('a');
        broken.push(last);
        assert!(ss58_decode(&broken).is_err());
        assert!(!format!("{key:?}").contains("secret_key"));
    }

    #[test]
    fn wallet_config_defaults_and_paths() {
        let home = Some(PathBuf::from("/home/op"));
        let c = WalletConfig::from_values(None, Some(" "), None, home.clone());
        assert_eq!(c.path, PathBuf::from("/home/op/.bittensor/wallets"));
        assert_eq!((c.name.as_str(), c.hotkey.as_str()), ("default", "default"));
        let c = WalletConfig::from_values(Some("~/w"), Some("cold"), Some("hot"), home);
        assert_eq!(c.hotkey_pub_path(), PathBuf::from("/home/op/w/cold/hotkeys/hotpub.txt"));
        assert_eq!(c.coldkeypub_path(), PathBuf::from("/home/op/w/cold/coldkeypub.txt"));
    }
}
