//! How an embedded chain is opened ([`EmbeddedSettings`]): the directory, the block time and
//! whether new subnets require commit-reveal. The library reads no environment: the CLI and
//! the demo fill the settings, and the CLI names its own flags in the errors of
//! [`EmbeddedSettings::from_values`].

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// The block time when none is given: Bittensor's 12-second blocks.
pub(crate) const DEFAULT_BLOCK_MS: u64 = 12_000;

/// The settings of one opener of an embedded chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSettings {
    /// The directory holding the chain, shared by every process that opens it.
    pub dir: PathBuf,
    /// Milliseconds per block (above 0). A property of each opener: processes sharing a
    /// directory should use the same one.
    pub block_ms: u64,
    /// Whether subnets this opener creates require commit-reveal.
    pub commit_reveal: bool,
}

/// A settings field with a value it cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddedField {
    /// [`EmbeddedSettings::block_ms`].
    BlockMs,
    /// [`EmbeddedSettings::commit_reveal`].
    CommitReveal,
}

impl EmbeddedField {
    /// The field's name in [`EmbeddedSettings`].
    pub fn name(self) -> &'static str {
        match self {
            Self::BlockMs => "block_ms",
            Self::CommitReveal => "commit_reveal",
        }
    }

    /// What the field takes, for messages.
    pub fn expected(self) -> &'static str {
        match self {
            Self::BlockMs => "a whole number of milliseconds above 0",
            Self::CommitReveal => "true or false",
        }
    }
}

/// A raw setting value that does not parse; the caller names the setting by its own name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} must be {}, is {value:?}", field.name(), field.expected())]
pub struct EmbeddedSettingError {
    /// The field.
    pub field: EmbeddedField,
    /// The value given (trimmed).
    pub value: String,
}

impl EmbeddedSettingError {
    /// The same message naming the setting `name` (a flag or environment variable) instead
    /// of the field.
    pub fn naming(&self, name: &str) -> String {
        format!("{name} must be {}, is {:?}", self.field.expected(), self.value)
    }
}

impl EmbeddedSettings {
    /// `dir` with `block_ms` per block; new subnets require commit-reveal.
    pub fn new(dir: impl Into<PathBuf>, block_ms: u64) -> Self {
        Self { dir: dir.into(), block_ms, commit_reveal: true }
    }

    /// The settings from raw values, an unset or blank one meaning its default: the chain
    /// directory (default `{workdir}/embedded-chain`), the block time in milliseconds
    /// (default 12000, Bittensor's 12-second blocks) and commit-reveal (`true`/`false`, `1`/`0`,
    /// `on`/`off`, `yes`/`no`; default on).
    pub fn from_values(
        chain_dir: Option<&OsStr>,
        workdir: &Path,
        block_ms: Option<&str>,
        commit_reveal: Option<&str>,
    ) -> Result<Self, EmbeddedSettingError> {
        let dir = chain_dir.filter(|v| !v.is_empty()).map_or_else(|| workdir.join("embedded-chain"), PathBuf::from);
        let block_ms = match block_ms.map(str::trim).filter(|v| !v.is_empty()) {
            None => DEFAULT_BLOCK_MS,
            Some(v) => v
                .parse()
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| EmbeddedSettingError { field: EmbeddedField::BlockMs, value: v.to_string() })?,
        };
        let commit_reveal = match commit_reveal.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "true" | "1" | "on" | "yes") => true,
            Some("false" | "0" | "off" | "no") => false,
            Some(other) => {
                return Err(EmbeddedSettingError { field: EmbeddedField::CommitReveal, value: other.to_string() });
            }
        };
        Ok(Self { dir, block_ms, commit_reveal })
    }
}

impl fmt::Display for EmbeddedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} ms blocks)", self.dir.display(), self.block_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let w = Path::new("/w");
        let s = EmbeddedSettings::from_values(None, w, None, None).expect("defaults");
        assert_eq!(s, EmbeddedSettings::new("/w/embedded-chain", DEFAULT_BLOCK_MS));
        let s = EmbeddedSettings::from_values(Some(OsStr::new("")), w, Some(" 20 "), Some(" OFF")).expect("values");
        assert_eq!((s.dir.as_path(), s.block_ms, s.commit_reveal), (Path::new("/w/embedded-chain"), 20, false));
        let s = EmbeddedSettings::from_values(Some(OsStr::new("/c")), w, None, Some("")).expect("explicit dir");
        assert_eq!((s.dir.as_path(), s.commit_reveal), (Path::new("/c"), true));
        for bad in ["0", "-5", "12s"] {
            let err = EmbeddedSettings::from_values(None, w, Some(bad), None).expect_err(bad);
            assert_eq!(err.field, EmbeddedField::BlockMs);
            assert_eq!(err.to_string(), format!("block_ms must be a whole number of milliseconds above 0, is {bad:?}"));
            assert!(err.naming("--block-ms").starts_with("--block-ms must be a whole number"), "{err}");
        }
        let err = EmbeddedSettings::from_values(None, w, None, Some("maybe")).expect_err("maybe");
        assert_eq!(err.to_string(), "commit_reveal must be true or false, is \"maybe\"");
    }
}
