//! How intervals are evaluated, as flags shared by `validate` and `validate-source-auth`:
//! specs, category, excluded hotkeys, concurrency and the poll period; and the evidence
//! API client both report to.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{CategoryArg, EnabledSpecsArg, PollArg};
use clap::Args;
use nexis::chain::Hotkey;
use nexis::evidence::{EvidenceClient, EvidenceError, EvidenceSetting};
use nexis::protocol::MAX_MINERS_PER_INTERVAL;
use nexis::validator::IntervalSettings;

/// Interval evaluation settings shared by the validator and the source-auth sidecar.
#[derive(Debug, Args)]
pub(crate) struct IntervalArgs {
    #[command(flatten)]
    pub(crate) specs: EnabledSpecsArg,
    #[command(flatten)]
    pub(crate) category: CategoryArg,
    /// Miner hotkeys to leave out, comma-separated.
    #[arg(long, env = "NEXIS_EXCLUDE_HOTKEYS", value_delimiter = ',')]
    pub(crate) exclude_hotkeys: Vec<String>,
    #[command(flatten)]
    pub(crate) poll: PollArg,
    /// Miners validated at once.
    #[arg(long, env = "NEXIS_VALIDATOR_MINER_CONCURRENCY", default_value_t = 8)]
    pub(crate) miner_concurrency: usize,
}

impl IntervalArgs {
    /// The required category, `None` when empty.
    pub(crate) fn category(&self) -> Option<&str> {
        self.category.get()
    }

    /// The poll period, refusing what is not a positive number of seconds.
    pub(crate) fn poll(&self) -> anyhow::Result<Duration> {
        self.poll.period()
    }

    /// The interval settings these flags describe, with a per-miner `budget` and the
    /// `upload_grace` after the deadline block.
    pub(crate) fn settings(&self, budget: Duration, upload_grace: Duration) -> IntervalSettings {
        IntervalSettings {
            expected_category: self.category().map(str::to_string),
            enabled_specs: trimmed(&self.specs.specs).collect(),
            max_miners: MAX_MINERS_PER_INTERVAL,
            miner_concurrency: self.miner_concurrency,
            miner_budget: budget,
            upload_grace,
            excluded: trimmed(&self.exclude_hotkeys).collect::<BTreeSet<_>>(),
        }
    }
}

/// The non-empty values of a list flag, trimmed.
fn trimmed(values: &[String]) -> impl Iterator<Item = String> + '_ {
    values.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The evidence API (protocol §12) client settings.
#[derive(Debug, Args)]
pub(crate) struct EvidenceApiArgs {
    /// Evidence API base URL (protocol §12); empty turns reporting and its exclusions off.
    #[arg(long, env = "NEXIS_VALIDATION_API_URL")]
    pub(crate) validation_api_url: Option<String>,
    /// Timeout of each evidence API request, seconds (fractions allowed, at most 3600).
    #[arg(long, env = "NEXIS_VALIDATION_API_TIMEOUT_SEC", default_value = "10", value_parser = parse_timeout)]
    pub(crate) validation_api_timeout_sec: Duration,
}

impl EvidenceApiArgs {
    /// The client signing with `hotkey`, `None` when no URL is set.
    pub(crate) fn client(&self, hotkey: &Hotkey) -> anyhow::Result<Option<EvidenceClient>> {
        let Some(url) = self.validation_api_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        EvidenceClient::new(url, self.validation_api_timeout_sec, hotkey.clone()).map(Some).map_err(|e| match e {
            EvidenceError::Config { setting: EvidenceSetting::Url, reason } => {
                anyhow::anyhow!("NEXIS_VALIDATION_API_URL (--validation-api-url): {reason}")
            }
            EvidenceError::Config { setting: EvidenceSetting::Timeout, reason } => {
                anyhow::anyhow!("NEXIS_VALIDATION_API_TIMEOUT_SEC (--validation-api-timeout-sec): {reason}")
            }
            other => other.into(),
        })
    }
}

/// A request timeout: a number of seconds in (0, 3600].
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a number of seconds in (0, 3600]");
    let secs: f64 = text.trim().parse().map_err(|_| bad())?;
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_positive_seconds_up_to_an_hour() {
        assert_eq!(parse_timeout(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_timeout("3600"), Ok(Duration::from_secs(3600)));
        for bad in ["0", "-1", "3601", "NaN", "inf", "ten", ""] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_blank_url_turns_reporting_off_and_a_bad_one_names_its_variable() {
        let hotkey = Hotkey::from_seed([7; 32]);
        let args = |url: Option<&str>| EvidenceApiArgs {
            validation_api_url: url.map(str::to_string),
            validation_api_timeout_sec: Duration::from_secs(10),
        };
        assert!(args(None).client(&hotkey).expect("unset").is_none());
        assert!(args(Some("  ")).client(&hotkey).expect("blank").is_none());
        assert!(args(Some("http://127.0.0.1:9")).client(&hotkey).expect("ok").is_some());
        let err = args(Some("h:80")).client(&hotkey).expect_err("bad url").to_string();
        assert!(err.contains("NEXIS_VALIDATION_API_URL"), "{err}");
    }
}
