//! Flag groups the subcommands under `cmd/` are built from. Each environment variable is
//! declared by one `#[arg]` only — here when more than one subcommand reads it, else in
//! that subcommand's file — so a setting has one name, one default and one help text
//! (`tests/it/cli_flags.rs` fails on a second declaration). Subcommands import flag
//! groups from here, never from each other.

mod blocks;
mod chain;
mod chain_settings;
mod dataset;
mod intervals;
mod llm;
mod metrics;
mod owner;
mod package;
mod r2;
mod record_info;
mod search;
mod self_check;
mod service;
mod size;
mod source_check;
mod storage;
mod validator;
mod weights;
mod workdir;
mod ytdlp;

pub(crate) use blocks::{BlockArgs, IntervalBlocksArg};
pub(crate) use chain::ChainArgs;
pub(crate) use chain_settings::embedded_settings;
pub(crate) use dataset::{CategoryArg, EnabledSpecsArg, PollArg};
pub(crate) use intervals::{EvidenceApiArgs, IntervalArgs};
pub(crate) use llm::{ContentCheckArgs, LlmArgs};
pub(crate) use metrics::serve_metrics;
pub(crate) use owner::{CatalogValidatorArg, OwnerDbArgs};
pub(crate) use package::{PackageArgs, ProbeKind, SizeCapArgs, registry_for};
pub(crate) use r2::R2Credentials;
pub(crate) use record_info::{RecordInfoArgs, RecordInfoWriteArgs};
pub(crate) use search::{SearchArgs, state_file};
pub(crate) use self_check::SelfCheckArgs;
pub(crate) use service::{ServiceArgs, StorageArgs};
pub(crate) use size::parse_bytes;
pub(crate) use source_check::SourceCheckArgs;
pub(crate) use storage::{LocalBucketsArg, S3EndpointArg};
pub(crate) use validator::{MinerBudgetArg, ModelNamesArgs};
pub(crate) use weights::{MechIdArg, VersionKeyArg};
pub(crate) use workdir::{WorkdirArg, default_workdir};
pub(crate) use ytdlp::YtDlpArgs;
