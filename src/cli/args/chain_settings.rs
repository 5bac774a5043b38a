//! The chain library's settings that the CLI reads from its environment and passes in (the
//! library reads none): the embedded chain's directory, block time and commit-reveal
//! default, and the password of an encrypted hotkey. Errors from these settings are given
//! back naming the environment variables, not the library's fields.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::anyhow;
use nexis::chain::embedded::{EmbeddedField, EmbeddedSettingError, EmbeddedSettings};
use nexis::chain::wallet::{Password, PasswordOrigin, PasswordSettings, PasswordSource, WalletError};

use super::default_workdir;

/// The embedded chain directory (default `{NEXIS_WORKDIR}/embedded-chain`).
const CHAIN_DIR: &str = "NEXIS_EMBEDDED_CHAIN_DIR";
/// The work directory the default chain directory is in.
const WORKDIR: &str = "NEXIS_WORKDIR";
/// Milliseconds per embedded block (default 12000).
const BLOCK_MS: &str = "NEXIS_EMBEDDED_BLOCK_MS";
/// Whether new embedded subnets require commit-reveal (default true).
const COMMIT_REVEAL: &str = "NEXIS_EMBEDDED_COMMIT_REVEAL";
/// The hotkey password.
const PASSWORD: &str = "NEXIS_WALLET_PASSWORD";
/// A file holding the hotkey password (Docker secrets).
const PASSWORD_FILE: &str = "NEXIS_WALLET_PASSWORD_FILE";

/// The environment variable that sets `field`.
fn embedded_name(field: EmbeddedField) -> &'static str {
    match field {
        EmbeddedField::BlockMs => BLOCK_MS,
        EmbeddedField::CommitReveal => COMMIT_REVEAL,
    }
}

/// The embedded chain's settings from `NEXIS_EMBEDDED_CHAIN_DIR` (default
/// `{NEXIS_WORKDIR}/embedded-chain`, the work directory defaulting to the XDG state
/// directory), `NEXIS_EMBEDDED_BLOCK_MS` and `NEXIS_EMBEDDED_COMMIT_REVEAL`.
pub(crate) fn embedded_settings() -> anyhow::Result<EmbeddedSettings> {
    let text = |name: &str| std::env::var(name).ok();
    let workdir = std::env::var_os(WORKDIR).filter(|v| !v.is_empty()).map_or_else(default_workdir, PathBuf::from);
    let chain_dir: Option<OsString> = std::env::var_os(CHAIN_DIR);
    EmbeddedSettings::from_values(
        chain_dir.as_deref(),
        &workdir,
        text(BLOCK_MS).as_deref(),
        text(COMMIT_REVEAL).as_deref(),
    )
    .map_err(|e: EmbeddedSettingError| anyhow!(e.naming(embedded_name(e.field))))
}

/// The hotkey password settings: `NEXIS_WALLET_PASSWORD`, else the file
/// `NEXIS_WALLET_PASSWORD_FILE` names, else a prompt on a terminal.
pub(crate) fn password_source() -> PasswordSource {
    PasswordSource::Settings(PasswordSettings {
        password: std::env::var(PASSWORD).ok().map(Password::new),
        password_file: std::env::var_os(PASSWORD_FILE).map(PathBuf::from),
    })
}

/// A wallet error, the password settings named by their environment variables.
pub(crate) fn wallet_error(error: WalletError) -> anyhow::Error {
    let origin = |from: PasswordOrigin| match from {
        PasswordOrigin::Password => PASSWORD.to_string(),
        PasswordOrigin::PasswordFile => PASSWORD_FILE.to_string(),
        other => other.to_string(),
    };
    match error {
        WalletError::NoPassword { path } => anyhow!(
            "key file {} is password-encrypted ($NACL): set {PASSWORD}, or {PASSWORD_FILE} to a file holding the \
             password, or run on a terminal to be asked",
            path.display()
        ),
        WalletError::WrongPassword { path, from } => {
            anyhow!("wrong password for the encrypted key file {} (password from {})", path.display(), origin(from))
        }
        WalletError::PasswordFile { path, reason } => {
            anyhow!("cannot read {}: {PASSWORD_FILE}: {reason}", path.display())
        }
        other => other.into(),
    }
}
