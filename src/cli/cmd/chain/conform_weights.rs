//! `nexis chain conform-weights`: float weights conformed to a subnet's rules the way the SDK
//! (and the validator) does it, for checking against the SDK's vectors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Deserialize;
use serde_json::json;

use super::reveal_round::read_json_capped;
use nexis::chain::Uid;
use nexis::chain::conform::{ConformError, ConformRules, conform};

#[derive(Debug, Args)]
#[command(after_help = "FILE is a JSON array of objects {uids, weights (floats), self_uid, \
    min_allowed_weights, max_weight_limit}; other fields are ignored. Each case prints \
    {\"uids\": [...], \"values\": [...]} or {\"error\": \"...\"} (the SDK's exception text).")]
pub(crate) struct ConformWeightsArgs {
    /// The cases to conform.
    #[arg(long)]
    pub cases: PathBuf,
    /// The subnet id named in error messages.
    #[arg(long, default_value_t = 1)]
    pub netuid: u16,
    /// Print a JSON array, one object per case, in order.
    #[arg(long)]
    pub json: bool,
}

/// One `--cases` entry.
#[derive(Debug, Deserialize)]
struct Case {
    uids: Vec<i64>,
    weights: Vec<f64>,
    self_uid: i64,
    min_allowed_weights: u64,
    max_weight_limit: u64,
}

impl Case {
    fn conform(&self, netuid: u16) -> Result<(Vec<Uid>, Vec<u16>), ConformError> {
        let uids: Vec<u32> =
            self.uids.iter().map(|&u| u32::try_from(u).map_err(|_| ConformError::BadUid)).collect::<Result<_, _>>()?;
        let rules = ConformRules {
            self_uid: u32::try_from(self.self_uid).ok(),
            min_allowed_weights: self.min_allowed_weights,
            max_weight_limit: u16::try_from(self.max_weight_limit).unwrap_or(u16::MAX),
        };
        conform(&uids, &self.weights, &rules, netuid)
    }
}

/// Runs `nexis chain conform-weights`.
pub(crate) fn run(args: ConformWeightsArgs) -> anyhow::Result<ExitCode> {
    let cases: Vec<Case> = read_json_capped(&args.cases)?;
    let results: Vec<_> = cases.iter().map(|c| c.conform(args.netuid)).collect();
    if args.json {
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|r| match r {
                Ok((uids, values)) => json!({ "uids": uids, "values": values }),
                Err(e) => json!({ "error": e.sdk_text() }),
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for r in &results {
            match r {
                Ok((uids, values)) => println!("uids: {uids:?} values: {values:?}"),
                Err(e) => println!("error: {}", e.sdk_text()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
