//! The flag names operators know from btcli and other subnets (`--wallet.name`,
//! `--subtensor.network`, `--logging.debug`, ...): hidden aliases of nexis's own flags,
//! all defined here so every command taking chain or wallet flags answers to them.

/// Aliases of `--network` (`BT_NETWORK`): a network name or a `ws(s)://` endpoint.
pub(crate) const NETWORK: [&str; 2] = ["subtensor.network", "subtensor.chain_endpoint"];
/// Alias of `--wallet-name` (`BT_WALLET_NAME`).
pub(crate) const WALLET_NAME: &str = "wallet.name";
/// Alias of `--wallet-hotkey` (`BT_WALLET_HOTKEY`).
pub(crate) const WALLET_HOTKEY: &str = "wallet.hotkey";
/// Alias of `--wallet-path` (`BT_WALLET_PATH`).
pub(crate) const WALLET_PATH: &str = "wallet.path";
/// Alias of `--debug`.
pub(crate) const LOGGING_DEBUG: &str = "logging.debug";
/// The long name of the hidden trace switch.
pub(crate) const LOGGING_TRACE: &str = "logging.trace";

/// `nexis --version`: the release, the commit it was built from (`NEXIS_GIT_COMMIT` at
/// build time; release builds set it), the protocol and the weights version key.
pub(crate) fn long_version() -> String {
    let commit = option_env!("NEXIS_GIT_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown (local build)");
    format!(
        "{}\ncommit: {commit}\nprotocol: {}\nschema: {}\nweights version key: {} (this release's; when the chain requires more, weights stop unless NEXIS_WEIGHTS_VERSION_KEY=chain)",
        env!("CARGO_PKG_VERSION"),
        nexis::protocol::PROTOCOL_VERSION,
        nexis::protocol::SCHEMA_VERSION,
        nexis::protocol::WEIGHTS_VERSION_KEY,
    )
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    /// Every subcommand path (e.g. `["chain", "status"]`) with its command.
    fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        if cmd.has_subcommands() {
            for sub in cmd.get_subcommands() {
                let mut next = path.clone();
                next.push(sub.get_name().to_string());
                leaves(sub, next, out);
            }
        } else {
            out.push((path, cmd.clone()));
        }
    }

    #[test]
    fn every_command_with_chain_or_wallet_flags_takes_the_btcli_names() {
        let root = super::super::command();
        let mut all = Vec::new();
        leaves(&root, Vec::new(), &mut all);
        let takes = |cmd: &clap::Command, id: &str| cmd.get_arguments().any(|a| a.get_id() == id);
        let chain_commands: Vec<_> = all.iter().filter(|(_, c)| takes(c, "wallet_name")).collect();
        let names: Vec<String> = chain_commands.iter().map(|(p, _)| p.join(" ")).collect();
        for expected in ["validate", "mine", "commit-credentials", "chain status", "sync-owner-datasets"] {
            assert!(names.iter().any(|n| n == expected), "{expected} takes chain flags: {names:?}");
        }
        for (path, _) in chain_commands {
            let mut args = vec!["nexis".to_string()];
            args.extend(path.iter().cloned());
            for flag in [
                "--wallet.name=w1",
                "--wallet.hotkey=h1",
                "--wallet.path=/p1",
                "--subtensor.network=local",
                "--netuid=3",
                "--logging.debug",
                "--logging.trace",
            ] {
                args.push(flag.to_string());
            }
            match root.clone().try_get_matches_from(&args) {
                Ok(matches) => {
                    let mut m = &matches;
                    for name in path {
                        m = m.subcommand_matches(name).expect("subcommand");
                    }
                    let value = |id: &str| m.get_one::<String>(id).cloned();
                    assert_eq!(value("wallet_name").as_deref(), Some("w1"), "{path:?}");
                    assert_eq!(value("wallet_hotkey").as_deref(), Some("h1"), "{path:?}");
                    assert_eq!(value("wallet_path").as_deref(), Some("/p1"), "{path:?}");
                    assert_eq!(value("network").as_deref(), Some("local"), "{path:?}");
                    assert!(matches.get_flag("debug") && matches.get_flag("trace"), "{path:?}");
                }
                // Other required flags are missing; the btcli names were understood.
                Err(e) => assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument, "{path:?}: {e}"),
            }
            args.retain(|a| !a.starts_with("--subtensor.network"));
            args.push("--subtensor.chain_endpoint=ws://127.0.0.1:9944".into());
            if let Err(e) = root.clone().try_get_matches_from(&args) {
                assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument, "{path:?}: {e}");
            }
        }
    }

    #[test]
    fn the_long_version_names_commit_protocol_and_weights_key() {
        let text = super::long_version();
        assert!(text.starts_with(env!("CARGO_PKG_VERSION")), "{text}");
        for part in ["commit: ", "protocol: 1.0.0", "weights version key: "] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }
}
