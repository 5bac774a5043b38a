//! Integration tests, one binary with a module per area (each `tests/*.rs` file would be
//! a separate binary linked against everything).

mod support;

mod api_client;
mod chain_cli;
mod chain_contract;
mod chain_encoding;
mod cli;
mod compat;
mod env_example;
mod golden;
mod hostile;
mod rules;
mod snapshot;
mod wallet;
mod weights;
