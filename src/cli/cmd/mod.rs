//! One file (or folder) per subcommand. A subcommand builds its arguments from the flag
//! groups in [`super::args`] and never imports another subcommand.

pub(crate) mod api;
pub(crate) mod bench;
pub(crate) mod chain;
pub(crate) mod check;
pub(crate) mod commit_credentials;
pub(crate) mod dataset;
pub(crate) mod demo;
pub(crate) mod health;
pub(crate) mod mine;
pub(crate) mod sources;
pub(crate) mod sync_owner_datasets;
pub(crate) mod validate;
pub(crate) mod validate_source_auth;
