//! Flag groups that several subcommands share. Each environment variable is declared by
//! one `#[arg]` only — here when more than one subcommand reads it, else in that
//! subcommand's file — so a setting has one name, one default and one help text
//! (`tests/it/cli_flags.rs` fails on a second declaration).

mod dataset;
mod owner;
mod storage;
mod validator;
mod weights;
mod workdir;
mod ytdlp;

pub(crate) use dataset::{CategoryArg, EnabledSpecsArg, PollArg};
pub(crate) use owner::{CatalogValidatorArg, OwnerDbArgs};
pub(crate) use storage::{LocalBucketsArg, S3EndpointArg};
pub(crate) use validator::{MinerBudgetArg, ModelNamesArgs};
pub(crate) use weights::{MechIdArg, VersionKeyArg};
pub(crate) use workdir::{WorkdirArg, default_workdir};
pub(crate) use ytdlp::YtDlpArgs;
