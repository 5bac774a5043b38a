//! How intervals are evaluated, as flags shared by `validate` and `validate-source-auth`:
//! specs, category, excluded hotkeys, concurrency and the poll period; and the validation
//! API client both report to.

use std::collections::BTreeSet;
use std::time::Duration;

use super::args::{CategoryArg, EnabledSpecsArg, PollArg};
use clap::Args;
use nexis::api::ValidationApi;
use nexis::chain::Hotkey;
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

/// The validation API (protocol §12) client settings.
#[derive(Debug, Args)]
pub(crate) struct ValidationApiArgs {
    /// Validation API base URL (protocol §12); empty turns reporting and its exclusions off.
    #[arg(long, env = "NEXIS_VALIDATION_API_URL")]
    pub(crate) validation_api_url: Option<String>,
    /// Timeout of each validation API request, seconds (fractions allowed, at most 3600).
    #[arg(long, env = "NEXIS_VALIDATION_API_TIMEOUT_SEC", default_value = "10", value_parser = parse_timeout)]
    pub(crate) validation_api_timeout_sec: Duration,
}

impl ValidationApiArgs {
    /// The client signing with `hotkey`, `None` when no URL is set.
    pub(crate) fn client(&self, hotkey: &Hotkey) -> anyhow::Result<Option<ValidationApi>> {
        let Some(url) = self.validation_api_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(ValidationApi::new(url, self.validation_api_timeout_sec, hotkey.clone())?))
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
}
