//! Which chain to talk to: `BT_NETWORK` (protocol §3, §15) resolved to a websocket endpoint
//! or to the embedded chain, plus the `BT_NETWORK` and `NEXIS_CHAIN_TIMEOUT_SEC` defaults.

use std::fmt;

use super::ChainError;

/// Bittensor mainnet entrypoint.
pub(crate) const FINNEY_ENDPOINT: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// Bittensor testnet entrypoint.
pub(crate) const TEST_ENDPOINT: &str = "wss://test.finney.opentensor.ai:443";
/// A subtensor node on this machine (`btcli`'s `local`).
pub(crate) const LOCAL_ENDPOINT: &str = "ws://127.0.0.1:9944";
/// `BT_NETWORK` when unset.
pub const DEFAULT_NETWORK: &str = "embedded";
/// `NEXIS_CHAIN_TIMEOUT_SEC` when unset.
pub const DEFAULT_CHAIN_TIMEOUT_SEC: u64 = 30;

/// A resolved `BT_NETWORK` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// Bittensor mainnet (`finney`).
    Finney,
    /// Bittensor testnet (`test`).
    Test,
    /// A node on this machine (`local`, `ws://127.0.0.1:9944`).
    Local,
    /// An explicit `ws://` or `wss://` endpoint.
    Endpoint(String),
    /// The local chain simulation (no node, see `chain::embedded`).
    Embedded,
}

impl Network {
    /// Parses a `BT_NETWORK` value (case-insensitive names; URLs kept as given).
    pub fn parse(value: &str) -> Result<Network, ChainError> {
        let trimmed = value.trim();
        let lower = trimmed.to_ascii_lowercase();
        match lower.as_str() {
            "finney" | "main" | "mainnet" => Ok(Network::Finney),
            "test" | "testnet" => Ok(Network::Test),
            "local" => Ok(Network::Local),
            "embedded" => Ok(Network::Embedded),
            _ if lower.starts_with("ws://") || lower.starts_with("wss://") => {
                let parsed = url::Url::parse(trimmed).map_err(|e| {
                    ChainError::Invalid(format!("BT_NETWORK endpoint {trimmed:?} is not a valid URL: {e}"))
                })?;
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(ChainError::Invalid(format!("BT_NETWORK endpoint {trimmed:?} has no host")));
                }
                Ok(Network::Endpoint(trimmed.to_string()))
            }
            _ => Err(ChainError::Invalid(format!(
                "BT_NETWORK={trimmed:?} is not a known network; use one of finney, test, local, embedded, \
                 or an explicit ws:// or wss:// endpoint URL"
            ))),
        }
    }

    /// The websocket endpoint, `None` for the embedded chain.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Network::Finney => Some(FINNEY_ENDPOINT),
            Network::Test => Some(TEST_ENDPOINT),
            Network::Local => Some(LOCAL_ENDPOINT),
            Network::Endpoint(url) => Some(url),
            Network::Embedded => None,
        }
    }

    /// Whether this is the embedded chain simulation.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Network::Embedded)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::Finney => f.write_str("finney"),
            Network::Test => f.write_str("test"),
            Network::Local => f.write_str("local"),
            Network::Endpoint(url) => f.write_str(url),
            Network::Embedded => f.write_str("embedded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_networks_resolve_to_the_bittensor_endpoints() {
        assert_eq!(
            Network::parse("finney").ok().and_then(|n| n.endpoint().map(String::from)).as_deref(),
            Some(FINNEY_ENDPOINT)
        );
        assert_eq!(Network::parse("FINNEY").ok(), Some(Network::Finney));
        assert_eq!(
            Network::parse(" test ").ok().and_then(|n| n.endpoint().map(String::from)).as_deref(),
            Some(TEST_ENDPOINT)
        );
        assert_eq!(
            Network::parse("local").ok().and_then(|n| n.endpoint().map(String::from)).as_deref(),
            Some(LOCAL_ENDPOINT)
        );
        assert_eq!(FINNEY_ENDPOINT, "wss://entrypoint-finney.opentensor.ai:443");
        assert_eq!(TEST_ENDPOINT, "wss://test.finney.opentensor.ai:443");
        assert_eq!(LOCAL_ENDPOINT, "ws://127.0.0.1:9944");
    }

    #[test]
    fn explicit_urls_are_kept() {
        for url in ["ws://10.0.0.5:9944", "wss://archive.chain.opentensor.ai:443/", "WSS://Node.Example:443"] {
            let n = Network::parse(url).expect("url");
            assert_eq!(n, Network::Endpoint(url.to_string()));
            assert_eq!(n.endpoint(), Some(url));
            assert_eq!(n.to_string(), url);
        }
    }

    #[test]
    fn embedded_is_its_own_variant() {
        let n = Network::parse("embedded").expect("embedded");
        assert!(n.is_embedded());
        assert_eq!(n.endpoint(), None);
        assert_eq!(n.to_string(), "embedded");
    }

    #[test]
    fn unknown_values_list_the_choices() {
        for bad in ["finnney", "http://127.0.0.1:9944", "", "ws://"] {
            let err = Network::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("BT_NETWORK"), "{err}");
        }
        let err = Network::parse("mars").expect_err("mars").to_string();
        for choice in ["finney", "test", "local", "embedded", "ws://", "wss://"] {
            assert!(err.contains(choice), "{err} should mention {choice}");
        }
    }

    #[test]
    fn default_network_parses() {
        assert_eq!(Network::parse(DEFAULT_NETWORK).ok(), Some(Network::Embedded));
    }
}
