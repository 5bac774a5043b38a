//! A command-line secret (API key, access key, secret key): parsed like a string, shown
//! as `<redacted>` by `Debug`, so argument structs can derive `Debug` safely.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// A secret flag value; `Debug` never shows it, `Deref` gives the text to use it.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

impl Deref for Secret {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_deref_exposes() {
        let s: Secret = "sk-very-secret".parse().expect("infallible");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(&*s, "sk-very-secret");
    }

    #[test]
    fn parsed_arguments_never_show_keys_in_debug() {
        use clap::Parser;
        let runs: [&[&str]; 2] = [
            &[
                "nexis",
                "commit-credentials",
                "--account-id",
                "0123456789abcdef0123456789abcdef",
                "--read-access-key",
                "READ-ACCESS-SECRET",
                "--read-secret-key",
                "READ-SECRET-SECRET",
                "--write-access-key",
                "WRITE-ACCESS-SECRET",
                "--write-secret-key",
                "WRITE-SECRET-SECRET",
            ],
            &[
                "nexis",
                "check",
                "pkg",
                "--hotkey",
                "h",
                "--interval",
                "0",
                "--openai-api-key",
                "OPENAI-KEY-SECRET",
                "--gemini-api-key",
                "GEMINI-KEY-SECRET",
            ],
        ];
        for argv in runs {
            let cli = super::super::Cli::try_parse_from(argv).expect("parses");
            let debug = format!("{cli:?}");
            assert!(!debug.contains("-SECRET"), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }
    }
}
