//! Password-encrypted key files as the Bittensor wallet (btwallet) writes them: `$NACL`,
//! then a 24-byte nonce, then a NaCl secretbox (XSalsa20-Poly1305) of the key file's JSON,
//! keyed by argon2i (v1.3, libsodium's "sensitive" limits: 8 passes over 512 MiB, one
//! lane) of the password with btwallet's fixed salt. The password comes from a
//! [`PasswordSource`] the caller fills (the CLI: from its environment, a password or a file
//! holding one, e.g. a Docker secret), else a prompt on the terminal; it never reaches logs or
//! `Debug` output.

use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};

use super::wallet::WalletError;

/// The prefix of a `$NACL` key file.
const NACL_PREFIX: &[u8] = b"$NACL";
/// btwallet's fixed argon2i salt (`NACL_SALT` in its keyfile module).
const NACL_SALT: [u8; 16] =
    [0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1];
/// libsodium's `crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE`.
const ARGON2_PASSES: u32 = 8;
/// libsodium's `crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE` (512 MiB), in KiB.
const ARGON2_MEMORY_KIB: u32 = 512 * 1024;
/// Nonce length of the secretbox.
const NONCE_BYTES: usize = 24;
/// Largest password file read.
const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// How a key file is protected, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protection {
    /// Plain JSON.
    Plain,
    /// btwallet's current `$NACL` format, which nexis decrypts.
    Nacl,
    /// An older format nexis does not read (`$ANSIBLE_VAULT`, Fernet `gAAAAA`).
    Legacy(&'static str),
    /// Encrypted some other way.
    Unknown,
}

/// The protection of key file bytes.
pub(crate) fn protection(bytes: &[u8]) -> Protection {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).trim_start().to_string();
    if head.as_bytes().starts_with(NACL_PREFIX) {
        Protection::Nacl
    } else if head.starts_with("$ANSIBLE_VAULT") {
        Protection::Legacy("Ansible Vault")
    } else if head.starts_with("gAAAAA") {
        Protection::Legacy("Fernet")
    } else if head.starts_with('$') {
        Protection::Unknown
    } else {
        Protection::Plain
    }
}

/// A key file password; `Debug` never shows it and it is wiped on drop.
pub struct Password(zeroize::Zeroizing<String>);

impl Password {
    /// A password from its text (one trailing newline, as a file has, removed).
    pub fn new(text: impl Into<String>) -> Self {
        let mut text: String = text.into();
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Self(zeroize::Zeroizing::new(text))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where the password of an encrypted key file comes from.
#[derive(Debug)]
pub enum PasswordSource {
    /// This password.
    Given(Password),
    /// [`PasswordSettings::password`], else the file [`PasswordSettings::password_file`]
    /// names, else a prompt when stdin is a terminal.
    Settings(PasswordSettings),
}

impl Default for PasswordSource {
    /// No password and no file: a prompt when stdin is a terminal.
    fn default() -> Self {
        Self::Settings(PasswordSettings::default())
    }
}

/// The password settings of an encrypted key file, filled by the caller (the CLI maps its
/// own setting names onto these fields and onto [`PasswordOrigin`] in errors).
#[derive(Debug, Default)]
pub struct PasswordSettings {
    /// The password itself.
    pub password: Option<Password>,
    /// A file holding the password (read only when `password` is unset; empty: unset).
    pub password_file: Option<PathBuf>,
}

/// Where the password that opened (or failed to open) a key file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordOrigin {
    /// [`PasswordSource::Given`].
    Given,
    /// [`PasswordSettings::password`].
    Password,
    /// [`PasswordSettings::password_file`].
    PasswordFile,
    /// The prompt on the terminal.
    Terminal,
}

impl fmt::Display for PasswordOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Given => "the given password",
            Self::Password => "password",
            Self::PasswordFile => "password_file",
            Self::Terminal => "the terminal",
        })
    }
}

impl PasswordSource {
    /// The password for `path`, and where it came from (for error messages).
    fn password(&self, path: &Path) -> Result<(Password, PasswordOrigin), WalletError> {
        match self {
            Self::Given(p) => Ok((Password(p.0.clone()), PasswordOrigin::Given)),
            Self::Settings(settings) => from_settings(settings, path),
        }
    }
}

fn from_settings(settings: &PasswordSettings, path: &Path) -> Result<(Password, PasswordOrigin), WalletError> {
    if let Some(p) = &settings.password {
        return Ok((Password(p.0.clone()), PasswordOrigin::Password));
    }
    if let Some(file) = settings.password_file.as_ref().filter(|f| !f.as_os_str().is_empty()) {
        let fail = |reason: String| WalletError::PasswordFile { path: file.clone(), reason };
        let meta = std::fs::metadata(file).map_err(|e| fail(e.to_string()))?;
        if meta.len() > MAX_PASSWORD_FILE_BYTES {
            return Err(fail(format!("{} bytes; a password file is tiny", meta.len())));
        }
        let text = std::fs::read_to_string(file).map_err(|e| fail(e.to_string()))?;
        return Ok((Password::new(text), PasswordOrigin::PasswordFile));
    }
    if std::io::stdin().is_terminal() {
        return prompt(path).map(|p| (p, PasswordOrigin::Terminal));
    }
    Err(WalletError::NoPassword { path: path.into() })
}

/// Asks for the password on the terminal with echo off.
fn prompt(path: &Path) -> Result<Password, WalletError> {
    let io = |e: std::io::Error| WalletError::Io { path: path.into(), reason: format!("reading the password: {e}") };
    eprint!("Password for the encrypted hotkey {}: ", path.display());
    std::io::stderr().flush().map_err(io)?;
    let echo = EchoOff::new();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    eprintln!();
    read.map_err(io)?;
    Ok(Password::new(line))
}

/// Turns terminal echo off on stdin until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: `termios` is plain old data; tcgetattr fills it or fails without
        // touching anything else, and tcsetattr only reads it.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return Self(None);
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            quiet.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) != 0 {
                return Self(None);
            }
            Self(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
        }
    }
}

/// Decrypts a `$NACL` key file's bytes to its JSON, with the password from `source`.
pub(crate) fn decrypt_nacl(path: &Path, bytes: &[u8], source: &PasswordSource) -> Result<Vec<u8>, WalletError> {
    let bad = |reason: &str| WalletError::BadKey { path: path.into(), reason: reason.into() };
    let body = bytes.strip_prefix(NACL_PREFIX).ok_or_else(|| bad("not a $NACL key file"))?;
    if body.len() < NONCE_BYTES + 16 {
        return Err(bad("the $NACL key file is too short to hold a nonce and a sealed key"));
    }
    let (nonce, sealed) = body.split_at(NONCE_BYTES);
    let (password, from) = source.password(path)?;
    let key = derive_key(&password).map_err(|e| bad(&e))?;
    let cipher = XSalsa20Poly1305::new(key.as_slice().into());
    cipher.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| WalletError::WrongPassword { path: path.into(), from })
}

/// The secretbox key of `password`: argon2i v1.3 with btwallet's salt and limits.
fn derive_key(password: &Password) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32)).map_err(|e| e.to_string())?;
    let argon = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    argon.hash_password_into(password.0.as_bytes(), &NACL_SALT, key.as_mut()).map_err(|e| e.to_string())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart() {
        assert_eq!(protection(b"{\"secretSeed\": \"0x00\"}"), Protection::Plain);
        assert_eq!(protection(b"$NACL\x01\x02"), Protection::Nacl);
        assert_eq!(protection(b"$ANSIBLE_VAULT;1.1;AES256\n"), Protection::Legacy("Ansible Vault"));
        assert_eq!(protection(b"gAAAAABl0000"), Protection::Legacy("Fernet"));
        assert_eq!(protection(b"$ARGON2id$v=19"), Protection::Unknown);
    }

    #[test]
    fn passwords_lose_one_trailing_newline_and_never_show() {
        let p = Password::new("s3cret pass\n");
        assert_eq!(p.0.as_str(), "s3cret pass");
        assert_eq!(Password::new("a\r\n").0.as_str(), "a");
        assert_eq!(Password::new(" spaced ").0.as_str(), " spaced ");
        let shown = format!("{p:?} {:?}", PasswordSource::Given(Password::new("s3cret pass")));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
